"""TFDS datasets of retina-tf; importing this package registers them with TFDS.

    import tensorflow_datasets as tfds
    import retina_tf.datasets  # registers 'e_ophtha'
    ds = tfds.load('e_ophtha/patients_1024', data_dir=..., download_and_prepare_kwargs={
        'download_config': tfds.download.DownloadConfig(manual_dir=...)})
"""

import os
import pathlib

import tensorflow_datasets as tfds

from retina_tf.data import fundus
from retina_tf.datasets.e_ophtha.e_ophtha_dataset_builder import Builder as EOphtha
from retina_tf.errors import UserError

DUMMY_DATA = pathlib.Path(__file__).parent / "e_ophtha" / "dummy_data"


def build_e_ophtha(manual_dir: pathlib.Path, data_dir: pathlib.Path, config: str) -> tfds.core.DatasetBuilder:
    """Builds (or finds already built) e_ophtha/<config> from a manual download; returns the TFDS builder."""
    builder = tfds.builder(f"e_ophtha/{config}", data_dir=str(data_dir))
    # TFDS builds into <config>/incomplete.XXXXXX_<version> and renames it when done: one left there is from a
    # killed build (two builds of one config into one data_dir at once are not supported).
    for abandoned in builder.data_path.parent.glob("incomplete.*"):
        abandoned.rmtree(missing_ok=True)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
    return builder


def require_built(tfds_name: str, data_dir: str | os.PathLike | None = None):
    """Refuses a dataset that is not built in data_dir (None: TFDS's default), reading only: given one,
    TFDS would start a download_and_prepare, which cannot fetch e-ophtha, and leave folders behind."""
    builder = tfds.builder(tfds_name, data_dir=os.fspath(data_dir) if data_dir else None)
    if not (builder.data_path / "dataset_info.json").exists():
        root, config = builder.data_dir_root, builder.builder_config.name
        raise UserError(f"{tfds_name} is not built in {root}: build it with retina-tf build-dataset "
                        f"--manual-dir <the e-ophtha download> --data-dir {root} --config {config}")


def normalisation_of(tfds_name: str) -> fundus.FundusNormalisation:
    """The fundus normalisation of a dataset config, e.g. e_ophtha/patients_1024, read without building it."""
    name, _, config = tfds_name.partition("/")
    return fundus.FundusNormalisation(output_size=tfds.builder_cls(name).builder_configs[config].image_size)


__all__ = ["DUMMY_DATA", "EOphtha", "build_e_ophtha", "normalisation_of", "require_built"]
