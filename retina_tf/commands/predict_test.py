"""Tests for `retina-tf predict`: outputs per photograph, bad files named, the exit status."""

import json

import cv2
import pytest

from retina_tf.commands import main as cli

DEFAULT = "default: the paper's minimum detection confidence"


@pytest.fixture(name="photograph_files")
def fixture_photograph_files(tmp_path, photograph_bytes):
    """Five photographs: two good ones, garbage named .jpg, a good one again, and a missing file."""
    folder = tmp_path / "photographs"
    folder.mkdir()
    files = {"left.jpg": photograph_bytes[0], "right.png": photograph_bytes[1], "notes.jpg": b"see letter",
             "left again.jpg": photograph_bytes[0]}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return [folder / name for name in files] + [folder / "missing.jpg"]


def test_predict_through_the_server_writes_json_and_overlays_and_names_the_bad_files(
        served, photograph_files, photographs, tmp_path, capsys):
    out = tmp_path / "out"
    status = cli.main(["predict", "--server", served.target, *map(str, photograph_files), "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 1
    assert f"{photograph_files[2]}: not a JPEG or PNG photograph (10 bytes)" in captured.err
    assert f"{photograph_files[4]}: no such file" in captured.err
    assert "2 of 5 photographs could not be predicted" in captured.err
    assert "3 of 5 photographs predicted" in captured.out
    for path, image in zip(photograph_files[:2], photographs):
        record = json.loads((out / f"{path.stem}.json").read_text())
        assert (record["name"], record["height"], record["width"]) == (path.name, *image.shape[:2])
        assert record["lesions"] and set(record["lesions"][0]) == {"type", "score", "box", "area", "centre",
                                                                   "reported"}
        assert record["counts"]["exudate"] + record["counts"]["microaneurysm"] == len(record["lesions"])
        assert record["operating_point"] == {"exudate": 0.35, "microaneurysm": 0.35, "chosen_by": DEFAULT}
        assert all(lesion["score"] >= 0.3499 if lesion["reported"] else lesion["score"] <= 0.3501
                   for lesion in record["lesions"])   # scores in the JSON are rounded to 4 digits
        assert cv2.imread(str(out / f"{path.stem}_lesions.png")).shape == image.shape
        counts = record["reported_counts"]
        assert (f"{path.name}: {counts['exudate']} exudate" in captured.out
                and f"{counts['microaneurysm']} microaneurysm" in captured.out
                and f" reported (of {len(record['lesions'])} found) -> " in captured.out)
    assert f"reported from score exudate >= 0.35, microaneurysm >= 0.35: {DEFAULT}\n" in captured.out
    left = json.loads((out / "left.json").read_text())
    assert json.loads((out / "left again.json").read_text())["lesions"] == left["lesions"]


def test_predict_with_a_local_saved_model_matches_the_server(exported, served, photograph_files, tmp_path, capsys):
    remote, local = tmp_path / "remote", tmp_path / "local"
    assert cli.main(["predict", "--server", served.target, str(photograph_files[0]), "--out", str(remote)]) == 0
    assert cli.main(["predict", "--saved-model", str(exported.version_dir), str(photograph_files[0]),
                     "--out", str(local)]) == 0
    assert "1 of 1 photographs predicted" in capsys.readouterr().out
    assert json.loads((local / "left.json").read_text()) == json.loads((remote / "left.json").read_text())


def test_a_minimum_score_marks_and_draws_from_one_threshold_for_both_types(
        exported, photograph_files, tmp_path, capsys):
    every, none = tmp_path / "every", tmp_path / "none"
    for out, min_score in ((every, "0"), (none, "1")):
        assert cli.main(["predict", "--saved-model", str(exported.version_dir), str(photograph_files[0]),
                         "--out", str(out), "--min-score", min_score]) == 0
    printed = capsys.readouterr().out
    assert "reported from score exudate >= 0, microaneurysm >= 0: a minimum score of 0 for every type" in printed
    record, nothing = (json.loads((out / "left.json").read_text()) for out in (every, none))
    assert all(lesion["reported"] for lesion in record["lesions"])
    assert record["reported_counts"] == record["counts"]
    assert record["operating_point"]["exudate"] == record["operating_point"]["microaneurysm"] == 0
    assert nothing["lesions"] == [{**lesion, "reported": False} for lesion in record["lesions"]]
    assert cli.main(["predict", "--saved-model", str(exported.version_dir), str(photograph_files[0]),
                     "--out", str(none), "--min-score", "2"]) == 1
    assert capsys.readouterr().err == "retina-tf predict: error: --min-score 2: a score is from 0 to 1\n"


def test_two_photographs_that_would_share_outputs_are_refused(tmp_path, capsys):
    status = cli.main(["predict", "--saved-model", str(tmp_path), str(tmp_path / "a" / "eye.jpg"),
                       str(tmp_path / "b" / "eye.png"), "--out", str(tmp_path / "out")])
    assert status == 1
    assert "would both write eye.json" in capsys.readouterr().err
