"""Input pipelines: TFDS e_ophtha to Model Garden Mask R-CNN inputs."""
