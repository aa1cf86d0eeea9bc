"""`retina-tf cycle` as a scheduler runs it: killed mid-training, run again, nothing lost."""

import os
import signal
import subprocess
import sys
import time

import pytest

from retina_tf.commands import main as cli
from retina_tf.configs import SMOKE_CPU

# 8 epochs of 2 steps: a checkpoint every 2 steps, 16 steps in all.
SCHEDULE = "task.schedule.epochs=[6,2],task.schedule.steps_per_epoch=2,task.schedule.validation_every_epochs=8"


def _checkpoint_steps(model_dir):
    return sorted(int(path.name.split("-")[1].split(".")[0]) for path in model_dir.glob("ckpt-*.index"))


@pytest.mark.slow   # a cycle killed in a fresh process, then two whole cycles: minutes on 2 cores
def test_a_cycle_killed_mid_training_resumes_and_exports(eophtha_data_dir, tmp_path, capsys):
    model_dir, export_base = tmp_path / "model", tmp_path / "export"
    args = ["cycle", "--config", str(SMOKE_CPU), "--model-dir", str(model_dir), "--data-dir", str(eophtha_data_dir),
            "--export-base", str(export_base), "--params-override", SCHEDULE]
    process = subprocess.Popen([sys.executable, "-m", "retina_tf.commands.main", *args], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    try:
        deadline = time.monotonic() + 240
        while not [s for s in _checkpoint_steps(model_dir) if s >= 4] and process.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint within 4 minutes"
            time.sleep(0.5)
        process.send_signal(signal.SIGKILL)   # as a preempted VM would
    finally:
        process.wait(timeout=60)
    saved = _checkpoint_steps(model_dir)
    assert saved and saved[-1] < 16, f"the cycle was meant to die mid-training, got {saved}"
    assert not (export_base / "retina").exists()
    for path in model_dir.glob("ckpt-2.*"):
        path.unlink()   # had the next cycle started over, ckpt-2 would come back

    assert cli.main(args) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith("cycle: step 16/16, validation paper_mAP50 ") and "exported" in summary
    assert 2 not in _checkpoint_steps(model_dir) and _checkpoint_steps(model_dir)[-1] == 16
    assert (export_base / "retina" / "1" / "saved_model.pb").is_file()

    assert cli.main(args) == 0   # the next scheduled run finds nothing new to do
    assert "v1 already holds this checkpoint" in capsys.readouterr().out
    assert sorted(p.name for p in (export_base / "retina").iterdir()) == ["1"]


def test_a_cycle_refuses_a_data_dir_without_the_dataset_and_writes_nothing(tmp_path, capsys):
    model_dir, data_dir, export_base = tmp_path / "model", tmp_path / "data", tmp_path / "export"
    data_dir.mkdir()
    assert cli.main(["cycle", "--config", str(SMOKE_CPU), "--model-dir", str(model_dir), "--data-dir", str(data_dir),
                     "--export-base", str(export_base), "--params-override", SCHEDULE]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"retina-tf cycle: error: e_ophtha/patients_512 is not built in {data_dir}: build it with "
                   "retina-tf build-dataset --dataset e_ophtha/patients_512 --manual-dir <the e-ophtha download> "
                   f"--data-dir {data_dir}")
    assert not model_dir.exists() and not export_base.exists() and not list(data_dir.iterdir())
