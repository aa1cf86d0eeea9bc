"""Tests for `retina-tf build-dataset`."""

import pathlib

import tensorflow_datasets as tfds

from retina_tf import cli

DUMMY = pathlib.Path(__file__).parents[1] / "tfds_eophtha" / "e_ophtha" / "dummy_data"


def test_build_dataset_builds_what_tfds_load_then_reads(tmp_path, capsys):
    assert cli.main(["build-dataset", "--manual-dir", str(DUMMY), "--data-dir", str(tmp_path),
                     "--config", "paper_512"]) == 0
    assert "e_ophtha/paper_512" in capsys.readouterr().out
    import tfds_eophtha  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    train = tfds.load("e_ophtha/paper_512", split="train", data_dir=str(tmp_path))
    assert sum(1 for _ in train) == 6


def test_a_missing_manual_dir_explains_how_to_get_e_ophtha(tmp_path, capsys):
    assert cli.main(["build-dataset", "--manual-dir", str(tmp_path / "none"), "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "no such folder" in err and "ADCIS" in err


def test_bad_files_are_listed_and_the_status_is_non_zero(tmp_path, capsys):
    import shutil  # pylint: disable=import-outside-toplevel
    tree = tmp_path / "tree"
    shutil.copytree(DUMMY, tree)
    mask = sorted(tree.glob("e_optha_MA/Annotation_MA/*/*.png"))[0]
    mask.unlink()
    assert cli.main(["build-dataset", "--manual-dir", str(tree), "--data-dir", str(tmp_path / "data")]) == 1
    err = capsys.readouterr().err
    assert "1 problem(s)" in err and "photograph without its mask" in err
