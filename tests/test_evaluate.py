"""`retina-tf evaluate` end to end: an untrained smoke model on the dummy data writes its report and plots."""

import json

import pytest
import tensorflow as tf
from official.core import train_utils

from retina_tf.commands import main as cli
from retina_tf.configs import SMOKE_CPU, experiment
from retina_tf.testing.serving import untrained_model_dir


def test_evaluate_writes_the_report_and_the_plots(eophtha_data_dir, tmp_path, capsys):
    untrained_model_dir([SMOKE_CPU], tmp_path / "model")   # what evaluate reads; training is tested elsewhere
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
    chosen = json.loads((out / "operating_point.json").read_text())
    assert (chosen["split"], chosen["photographs"], chosen["target_false_positives_per_find"]) == ("validation", 2, 0.5)
    assert set(chosen["lesion_types"]) == {"exudate", "microaneurysm"}
    for lesion_type, threshold in chosen["lesion_types"].items():
        assert set(threshold) == {"threshold", "chosen_by", "found", "lesions", "false_positives"}
        assert f"\n  {lesion_type}: report from score {threshold['threshold']:.4g} (" in printed


def test_evaluate_refuses_a_folder_that_is_not_a_model_dir(eophtha_data_dir, tmp_path, capsys):
    assert cli.main(["evaluate", "--model-dir", str(tmp_path), "--data-dir", str(eophtha_data_dir),
                     "--out", str(tmp_path / "out")]) == 1
    assert "not a trained model_dir" in capsys.readouterr().err


@pytest.mark.parametrize("source", ["--model-dir", "--saved-model"])
def test_evaluate_refuses_a_data_dir_without_the_dataset_and_writes_nothing(tmp_path, capsys, source):
    """Checked before the model is loaded: a model_dir's params.yaml, or an export's retina_tf.json, names the
    dataset (neither model here could be loaded)."""
    model_dir, saved_model = tmp_path / "model", tmp_path / "export" / "retina" / "1"
    train_utils.serialize_config(experiment.layered_params([SMOKE_CPU]), str(model_dir))
    tf.train.Checkpoint(step=tf.Variable(1)).save(str(model_dir / "ckpt"))
    (saved_model / "assets.extra").mkdir(parents=True)
    (saved_model / "saved_model.pb").write_bytes(b"not loaded")
    (saved_model / "assets.extra" / "retina_tf.json").write_text('{"dataset": "e_ophtha/patients_512"}')
    data_dir, out = tmp_path / "data", tmp_path / "report"
    data_dir.mkdir()
    model = model_dir if source == "--model-dir" else saved_model
    assert cli.main(["evaluate", source, str(model), "--data-dir", str(data_dir), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"retina-tf evaluate: error: e_ophtha/patients_512 is not built in {data_dir}: build it with "
                   "retina-tf build-dataset --dataset e_ophtha/patients_512 --manual-dir <the e-ophtha download> "
                   f"--data-dir {data_dir}")
    assert not out.exists() and not list(data_dir.iterdir())


def test_evaluate_refuses_a_tiling_that_cannot_work_or_that_an_export_fixed(eophtha_data_dir, tmp_path, capsys):
    untrained_model_dir([SMOKE_CPU], tmp_path / "model")
    common = ["--data-dir", str(eophtha_data_dir), "--split", "validation", "--out", str(tmp_path / "out")]
    assert cli.main(["evaluate", "--model-dir", str(tmp_path / "model"), *common,
                     "--tile-size", "64", "--tile-overlap", "64"]) == 1
    assert "task.tiling: tile_size 64, overlap 64: the overlap must be at least 0 and below the tile size" in (
        capsys.readouterr().err)
    assert cli.main(["evaluate", "--saved-model", str(tmp_path / "export"), *common, "--tile-size", "128"]) == 1
    assert "--tile-size and --tile-overlap apply to --model-dir" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
