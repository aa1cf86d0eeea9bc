"""The loops over a model: training (resumable, distributed, preemptible), its progress line, and scoring a
checkpoint or an export on a dataset split (Detectron2's `engine/`, Model Garden's `core/train_lib`)."""
