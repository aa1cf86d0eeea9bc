"""Training from the command line: what a person reads, what TensorBoard gets, and preemption (SIGTERM mid-run
saves a checkpoint at the current step, exits 75, and the next run resumes there)."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from retina_tf.configs import SMOKE_CPU
from retina_tf.engine.errors import PREEMPTED_EXIT_STATUS

# One epoch of 21 steps in orbit loops of 7, so that a stop falls before the epoch's checkpoint.
SCHEDULE = "task.schedule.epochs=[1],task.schedule.learning_rates=[1e-3],task.schedule.steps_per_epoch=21"
TRAIN_STEPS, LOOP = 21, 7


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
    assert 0 < step < TRAIN_STEPS and step % LOOP == 0 and (model_dir / f"ckpt-{step}.index").is_file()
    written = (model_dir / f"ckpt-{step}.index").stat().st_mtime_ns

    process = _train(model_dir, eophtha_data_dir)
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-2000:]
    assert f"resuming at step {step} of {TRAIN_STEPS}\n" in out, out[-2000:]
    assert f"done at step {TRAIN_STEPS} of {TRAIN_STEPS}" in out
    assert (model_dir / f"ckpt-{TRAIN_STEPS}.index").is_file()
    assert (model_dir / f"ckpt-{step}.index").stat().st_mtime_ns == written   # a run started over rewrites it


# Two steps, one per epoch, then a validation.
TWO_STEPS = "task.schedule.epochs=[1,1],task.schedule.steps_per_epoch=1,task.schedule.validation_every_epochs=2"
NOISE = ("{'frcnn_box_loss'", "INFO:absl", "I0000", "cuInit", "cpu_feature_guard", "oneDNN", "retracing",
         "train | step:")


def _run_train(model_dir, data_dir, *arguments):
    environment = {name: value for name, value in os.environ.items()
                   if name not in ("TF_CPP_MIN_LOG_LEVEL", "RETINA_TF_DEBUG")}   # as a user's shell has it
    command = [sys.executable, "-m", "retina_tf.commands.main", "train", "--config", str(SMOKE_CPU),
               "--model-dir", str(model_dir), "--data-dir", str(data_dir), *arguments]
    done = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.mark.slow   # two training processes: several minutes on 2 shared cores
def test_train_shows_a_progress_line_a_validation_table_and_tensorboard_pictures(eophtha_data_dir, tmp_path):
    model_dir = tmp_path / "model"
    quiet = _run_train(model_dir, eophtha_data_dir, "--mode", "train_and_eval", "--params-override", TWO_STEPS)
    assert re.search(r"^step 2/2 \(100%\) \| epoch 2/2 \| loss [-+.e\d]+ \| lr [-+.e\d]+ \| [.\d]+ images/s \| "
                     r"\d+:\d\d elapsed, 0:00 left \| frcnn_box [-+.e\d]+, ", quiet.stdout, re.M), quiet.stdout
    assert "validation at step 2:" in quiet.stdout and re.search(r"^  all +\d\.\d{4} ", quiet.stdout, re.M)
    for noise in NOISE:
        assert noise not in quiet.stdout + quiet.stderr, noise
    assert len((quiet.stdout + quiet.stderr).splitlines()) < 15, quiet.stdout + quiet.stderr

    pictures = [value.tag for path in (model_dir / "validation").glob("events.out.tfevents.*")
                for event in tf.compat.v1.train.summary_iterator(str(path)) for value in event.summary.value
                if value.metadata.plugin_data.plugin_name == "images"]
    assert pictures and all(tag.startswith("validation_photographs/") for tag in pictures), pictures

    verbose = _run_train(model_dir, eophtha_data_dir, "--mode", "train", "--verbose", "--params-override",
                         TWO_STEPS.replace("[1,1]", "[2,1]"))   # one more step
    assert "{'frcnn_box_loss'" in verbose.stdout and "train | step:" in verbose.stdout
    assert "Saving experiment configuration" in verbose.stdout + verbose.stderr   # absl INFO
    assert "resuming at step" not in verbose.stdout
