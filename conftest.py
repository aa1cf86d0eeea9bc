"""Fixtures shared by the test suites: the dummy e_ophtha dataset, built once per session."""

import pathlib

import pytest
import tensorflow_datasets as tfds

from tfds_eophtha import DUMMY_DATA

ROOT = pathlib.Path(__file__).parent


@pytest.fixture(scope="session")
def eophtha_data_dir(tmp_path_factory):
    """A TFDS data_dir holding e_ophtha/patients_512 built from the committed dummy data."""
    data_dir = tmp_path_factory.mktemp("tensorflow_datasets")
    tfds.builder("e_ophtha/patients_512", data_dir=str(data_dir)).download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(DUMMY_DATA["e_ophtha"])))
    return data_dir


@pytest.fixture(scope="session")
def real_fundus_dir() -> pathlib.Path:
    """Four real photographs with exudate and microaneurysm masks (IDRiD 01-04, CC BY 4.0: README.md
    there), laid out as an e-ophtha manual_dir."""
    return ROOT / "tests" / "data" / "real_fundus"
