"""Tests for `retina-tf build-dataset`."""

import os
import shutil

import tensorflow_datasets as tfds

from retina_tf.commands import main as cli
from tfds_eophtha import DUMMY_DATA


def test_build_dataset_builds_what_tfds_load_then_reads(tmp_path, capsys):
    assert cli.main(["build-dataset", "--manual-dir", str(DUMMY_DATA["e_ophtha"]), "--data-dir", str(tmp_path),
                     "--dataset-config", "paper_512"]) == 0
    assert "e_ophtha/paper_512" in capsys.readouterr().out
    train = tfds.load("e_ophtha/paper_512", split="train", data_dir=str(tmp_path))
    assert sum(1 for _ in train) == 6


def test_a_missing_manual_dir_explains_how_to_get_e_ophtha(tmp_path, capsys):
    assert cli.main(["build-dataset", "--manual-dir", str(tmp_path / "none"), "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "no such folder" in err and "ADCIS" in err


def test_bad_files_are_listed_and_the_status_is_non_zero(tmp_path, capsys):
    tree = tmp_path / "tree"
    shutil.copytree(DUMMY_DATA["e_ophtha"], tree)
    mask = sorted(tree.glob("e_optha_MA/Annotation_MA/*/*.png"))[0]
    mask.unlink()
    assert cli.main(["build-dataset", "--manual-dir", str(tree), "--data-dir", str(tmp_path / "data")]) == 1
    err = capsys.readouterr().err
    assert "1 problem(s)" in err and "photograph without its mask" in err


def _rename_undecodable(path):
    """path renamed so that its name holds the byte 0xff, as an archive unpacked on another system leaves it;
    returns how a message shows the new name."""
    renamed = path.with_name(os.fsdecode(b"\xff" + os.fsencode(path.name)))
    path.rename(renamed)
    return str(path.with_name("\\xff" + path.name))


def test_a_file_name_that_is_not_utf8_is_one_listed_problem(tmp_path, capsys):
    tree = tmp_path / "tree"
    shutil.copytree(DUMMY_DATA["e_ophtha"], tree)
    mask = sorted(tree.glob("e_optha_MA/Annotation_MA/*/*.png"))[0]
    photograph = next(tree.glob(f"e_optha_MA/MA/{mask.parent.name}/{mask.stem}.*"))
    shown = [_rename_undecodable(photograph), _rename_undecodable(mask)]
    data_dir = tmp_path / "data"
    assert cli.main(["build-dataset", "--manual-dir", str(tree), "--data-dir", str(data_dir)]) == 1
    err = capsys.readouterr().err
    assert "2 problem(s)" in err, err
    for name in shown:
        assert f"  - {name}: file name is not valid UTF-8; rename it\n" in err, err
    assert not list(data_dir.glob("e_ophtha/patients_1024/*")), "a failed build left a version folder"


def test_an_idrid_file_name_that_is_not_utf8_is_one_listed_problem(tmp_path, capsys):
    download = tmp_path / "download"
    shutil.copytree(DUMMY_DATA["idrid"], download)
    mask = next(download.glob("A. Segmentation/2. All Segmentation Groundtruths/b. Testing Set/3. Hard Exudates/*"))
    shown = _rename_undecodable(mask)
    assert cli.main(["build-dataset", "--dataset", "idrid", "--manual-dir", str(download), "--data-dir",
                     str(tmp_path / "data")]) == 1
    err = capsys.readouterr().err
    assert "1 problem(s)" in err and f"  - {shown}: file name is not valid UTF-8; rename it\n" in err, err


def test_a_build_removes_what_a_killed_build_left(tmp_path, capsys):
    """TFDS builds into <config>/incomplete.XXXXXX_<version> and renames it when done; a SIGKILLed build
    leaves that folder, which nothing else would ever remove."""
    abandoned = tmp_path / "e_ophtha" / "patients_512" / "incomplete.X7K2Q9_1.1.0"
    abandoned.mkdir(parents=True)
    assert cli.main(["build-dataset", "--manual-dir", str(DUMMY_DATA["e_ophtha"]), "--data-dir", str(tmp_path),
                     "--dataset-config", "patients_512"]) == 0
    assert sorted(path.name for path in (tmp_path / "e_ophtha" / "patients_512").iterdir()) == ["1.1.0"]


def test_build_dataset_builds_idrid_from_its_download(tmp_path, capsys):
    assert cli.main(["build-dataset", "--dataset", "idrid/lesions_512", "--manual-dir", str(DUMMY_DATA["idrid"]),
                     "--data-dir", str(tmp_path)]) == 0
    assert "idrid/lesions_512 in " in capsys.readouterr().out
    assert sum(1 for _ in tfds.load("idrid/lesions_512", split="test", data_dir=str(tmp_path))) == 3


def test_unknown_datasets_and_configs_are_one_line_naming_the_choices(tmp_path, capsys):
    assert cli.main(["build-dataset", "--dataset", "drive", "--manual-dir", str(tmp_path), "--data-dir",
                     str(tmp_path)]) == 1
    assert "no such dataset (one of e_ophtha, idrid)" in capsys.readouterr().err
    assert cli.main(["build-dataset", "--dataset", "idrid/patients_512", "--manual-dir", str(tmp_path),
                     "--data-dir", str(tmp_path)]) == 1
    assert "idrid has no config 'patients_512' (one of lesions_1024, " in capsys.readouterr().err
    assert cli.main(["build-dataset", "--dataset", "idrid", "--manual-dir", str(tmp_path / "none"),
                     "--data-dir", str(tmp_path)]) == 1
    assert "no such folder. download IDRiD" in capsys.readouterr().err
