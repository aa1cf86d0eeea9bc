"""`retina-tf evaluate` end to end: a smoke model on the dummy data writes its report and plots."""

import json

from retina_tf import experiment, train_lib
from retina_tf.commands import main as cli
from retina_tf.configs import SMOKE_CPU


def test_evaluate_writes_the_report_and_the_plots(eophtha_data_dir, tmp_path, capsys):
    params = experiment.experiment_params(
        [SMOKE_CPU], ["task.schedule.epochs=[1,1]", "task.schedule.steps_per_epoch=1"], data_dir=eophtha_data_dir)
    train_lib.train(params, tmp_path / "model", mode="train")
    out = tmp_path / "report"
    assert cli.main(["evaluate", "--model-dir", str(tmp_path / "model"), "--data-dir", str(eophtha_data_dir),
                     "--split", "validation", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "### Paper's mAP" in printed and "mAP@0.35" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["photographs"] == 2
    assert set(report["paper_map"]["mean_ap"]) == {"0.35", "0.5", "0.75"}
    assert (out / "report.md").read_text().startswith("Photographs: 2")
    for plot in ("precision_recall.png", "froc.png"):
        assert (out / plot).stat().st_size > 5_000, plot


def test_evaluate_refuses_a_folder_that_is_not_a_model_dir(eophtha_data_dir, tmp_path, capsys):
    assert cli.main(["evaluate", "--model-dir", str(tmp_path), "--data-dir", str(eophtha_data_dir),
                     "--out", str(tmp_path / "out")]) == 1
    assert "not a trained model_dir" in capsys.readouterr().err
