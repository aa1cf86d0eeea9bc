"""TFDS datasets of retina-tf; importing this package registers them with TFDS.

    import tensorflow_datasets as tfds
    import tfds_eophtha  # registers 'e_ophtha' and 'idrid'
    ds = tfds.load('idrid/lesions_1024', data_dir=..., download_and_prepare_kwargs={
        'download_config': tfds.download.DownloadConfig(manual_dir=...)})

Each dataset folder is laid out as TFDS lays out its own (builder, test over
dummy data, README, CITATIONS.bib, TAGS.txt, checksums.tsv) and depends on
retina_tf.data only.
"""

import pathlib

from tfds_eophtha.e_ophtha.e_ophtha_dataset_builder import Builder as EOphtha
from tfds_eophtha.idrid.idrid_dataset_builder import Builder as Idrid

ROOT = pathlib.Path(__file__).parent
DUMMY_DATA = {"e_ophtha": ROOT / "e_ophtha" / "dummy_data", "idrid": ROOT / "idrid" / "dummy_data"}

__all__ = ["DUMMY_DATA", "EOphtha", "Idrid"]
