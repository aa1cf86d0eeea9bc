"""Preemption: SIGTERM mid-run saves a checkpoint at the current step, exits 75, and the next run resumes there."""

import os
import re
import signal
import subprocess
import sys
import time

from retina_tf.configs import SMOKE_CPU
from retina_tf.errors import PREEMPTED_EXIT_STATUS

# 80 steps in epochs of 40; orbit loops of 20 steps, so a stop can fall between two epoch checkpoints.
SCHEDULE = "task.schedule.epochs=[1,1],task.schedule.steps_per_epoch=40,task.schedule.validation_every_epochs=2"


def _train(model_dir, data_dir):
    command = [sys.executable, "-m", "retina_tf.commands.main", "train", "--config", str(SMOKE_CPU),
               "--model-dir", str(model_dir), "--data-dir", str(data_dir), "--mode", "train",
               "--params-override", SCHEDULE]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


def test_sigterm_saves_the_current_step_and_the_next_run_resumes_from_it(eophtha_data_dir, tmp_path):
    model_dir = tmp_path / "model"
    process = _train(model_dir, eophtha_data_dir)
    try:
        deadline = time.monotonic() + 300
        while not list((model_dir / "train").glob("events.out.tfevents.*")) and process.poll() is None:
            assert time.monotonic() < deadline, "training did not start within 5 minutes"
            time.sleep(0.5)
        process.send_signal(signal.SIGTERM)   # as a spot VM's scheduler does
        _, err = process.communicate(timeout=300)
    finally:
        process.kill()
    assert process.returncode == PREEMPTED_EXIT_STATUS, err[-2000:]
    [line] = [line for line in err.splitlines() if "preempted" in line]
    step = int(re.search(r"checkpoint saved at step (\d+)", line).group(1))
    assert line == (f"retina-tf train: preempted: checkpoint saved at step {step} in {model_dir}; "
                    "run the same command again to resume")
    assert 0 < step < 80 and step % 20 == 0 and (model_dir / f"ckpt-{step}.index").is_file()

    process = _train(model_dir, eophtha_data_dir)
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-2000:]
    assert re.search(rf"train \| step:\s+{step} \| training until step 80", err), err[-2000:]
    assert "done at step 80 of 80" in out
