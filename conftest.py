"""Fixtures shared by the test suites: the dummy e_ophtha dataset, built once per session."""

import pathlib

import pytest

ROOT = pathlib.Path(__file__).parent
DUMMY_DATA = ROOT / "tfds_eophtha" / "e_ophtha" / "dummy_data"


@pytest.fixture(scope="session")
def eophtha_data_dir(tmp_path_factory):
    """A TFDS data_dir holding e_ophtha/patients_512 built from the committed dummy data."""
    import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
    import tfds_eophtha  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import

    data_dir = tmp_path_factory.mktemp("tensorflow_datasets")
    tfds.builder("e_ophtha/patients_512", data_dir=str(data_dir)).download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(DUMMY_DATA)))
    return data_dir


@pytest.fixture(scope="session")
def real_fundus_dir() -> pathlib.Path:
    """Four real photographs with exudate and microaneurysm masks (IDRiD 01-04, CC BY 4.0: README.md
    there), laid out as an e-ophtha manual_dir."""
    return ROOT / "tests" / "data" / "real_fundus"
