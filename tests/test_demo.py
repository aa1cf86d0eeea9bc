"""The main job end to end: `retina-tf demo` in a small workdir, fewest steps."""

import json
import re

import pytest

from retina_tf.commands import main as cli

# The whole job in fresh processes: minutes on 2 cores. Each stage has its own faster tests in the default run.
pytestmark = pytest.mark.slow


def test_demo_runs_every_stage_and_leaves_its_artefacts(tmp_path, capsys):
    workdir = tmp_path / "demo"
    assert cli.main(["demo", "--workdir", str(workdir), "--photographs", "4", "--steps", "20", "--predict", "2"]) == 0
    out = capsys.readouterr().out
    assert "[8/8] summary" in out
    # training shows its progress, rate and time left, and none of Model Garden's loss dictionaries
    assert re.search(r"^step 20/20 \(100%\) \| epoch 4/4 \| loss .* images/s \| \d+:\d\d elapsed, 0:00 left", out, re.M)
    assert "{'frcnn_box_loss'" not in out and "train | step:" not in out
    assert len(out.splitlines()) < 120
    assert (workdir / "e-ophtha" / "e_optha_EX" / "EX").is_dir()
    assert list((workdir / "normalised").glob("*.png"))
    assert (workdir / "dataset_examples.png").stat().st_size > 10_000
    assert sorted(p.name for p in (workdir / "model").glob("ckpt-*.index"))[-1] == "ckpt-20.index"
    report = json.loads((workdir / "report" / "report.json").read_text())
    assert report["photographs"] >= 1 and set(report) >= {"paper_map", "coco", "froc", "screening"}
    assert (workdir / "report" / "report.md").is_file()
    assert (workdir / "serving" / "retina" / "1" / "saved_model.pb").is_file()
    predictions = sorted((workdir / "predictions").glob("*.json"))
    assert len(predictions) == 2 and len(list((workdir / "predictions").glob("*_lesions.png"))) == 2
    assert "lesions" in json.loads(predictions[0].read_text())
