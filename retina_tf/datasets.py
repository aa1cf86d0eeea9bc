"""Building and finding the TFDS datasets of retina-tf (tfds_eophtha: e_ophtha, idrid) by name.

    from retina_tf import datasets
    builder = datasets.build("idrid/lesions_1024", manual_dir, data_dir)
"""

import os
import pathlib

import tensorflow_datasets as tfds

import tfds_eophtha
from retina_tf.data import fundus
from retina_tf.utils import console
from retina_tf.utils.errors import UserError

DOWNLOADS = {"e_ophtha": "the e-ophtha download", "idrid": "the IDRiD download"}


def dataset_names() -> tuple[str, ...]:
    """The datasets retina-tf builds: 'e_ophtha', 'idrid'."""
    return tuple(tfds_eophtha.DUMMY_DATA)


def configs_of(name: str) -> tuple[str, ...]:
    """A dataset's builder config names, the default first."""
    builder = tfds.builder_cls(name)
    names = [config.name for config in builder.BUILDER_CONFIGS]
    names.remove(builder.DEFAULT_BUILDER_CONFIG_NAME)
    return (builder.DEFAULT_BUILDER_CONFIG_NAME, *names)


def build(tfds_name: str, manual_dir: pathlib.Path, data_dir: pathlib.Path) -> tfds.core.DatasetBuilder:
    """Builds (or finds already built) a dataset such as idrid/lesions_1024 from its manual download.

    Args:
      tfds_name: `<dataset>/<config>`, e.g. e_ophtha/patients_1024 or idrid/lesions_1024.
      manual_dir: the unpacked download (TFDS's manual_dir).
      data_dir: the TFDS data_dir to build into.

    Returns:
      The TFDS builder, prepared.
    """
    builder = tfds.builder(tfds_name, data_dir=str(data_dir))
    # TFDS builds into <config>/incomplete.XXXXXX_<version> and renames it when done: one left there is from a
    # killed build (two builds of one config into one data_dir at once are not supported).
    for abandoned in builder.data_path.parent.glob("incomplete.*"):
        abandoned.rmtree(missing_ok=True)
    console.quiet_tfds_build(builder)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
    return builder


def build_e_ophtha(manual_dir: pathlib.Path, data_dir: pathlib.Path, config: str) -> tfds.core.DatasetBuilder:
    """build() of e_ophtha/<config>."""
    return build(f"e_ophtha/{config}", manual_dir, data_dir)


def require_built(tfds_name: str, data_dir: str | os.PathLike | None = None):
    """Refuses a dataset that is not built in data_dir (None: TFDS's default), reading only: given one,
    TFDS would start a download_and_prepare, which cannot fetch the data, and leave folders behind."""
    builder = tfds.builder(tfds_name, data_dir=os.fspath(data_dir) if data_dir else None)
    if not (builder.data_path / "dataset_info.json").exists():
        root, dataset = builder.data_dir_root, tfds_name.partition("/")[0]
        name = f"{dataset}/{builder.builder_config.name}"
        raise UserError(f"{name} is not built in {root}: build it with retina-tf build-dataset --dataset {name} "
                        f"--manual-dir <{DOWNLOADS.get(dataset, 'the download')}> --data-dir {root}")


def normalisation_of(tfds_name: str) -> fundus.FundusNormalisation:
    """The fundus normalisation of a dataset config, e.g. e_ophtha/patients_1024, read without building it."""
    name, _, config = tfds_name.partition("/")
    return fundus.FundusNormalisation(output_size=tfds.builder_cls(name).builder_configs[config].image_size)


__all__ = ["build", "build_e_ophtha", "configs_of", "dataset_names", "normalisation_of", "require_built"]
