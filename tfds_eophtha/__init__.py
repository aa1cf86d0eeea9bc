"""TFDS datasets of retina-tf; importing this package registers them with TFDS.

    import tensorflow_datasets as tfds
    import tfds_eophtha  # registers 'e_ophtha'
    ds = tfds.load('e_ophtha', data_dir=..., download_and_prepare_kwargs={
        'download_config': tfds.download.DownloadConfig(manual_dir=...)})
"""

from tfds_eophtha.e_ophtha.e_ophtha_dataset_builder import Builder as EOphtha  # noqa: F401  (registers)
