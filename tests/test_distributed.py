"""Data-parallel training on the CPU: a step over two replicas is the step on one device, and two local
workers (multi_worker_mirrored over TF_CONFIG) train, checkpoint once, stop together when one of them is
preempted and resume together.

Run as a script, this file is the helper of the first test: `python tests/test_distributed.py --replicas 2
...` runs one training step in a fresh process, where two logical CPU devices can still be configured
before TensorFlow initialises.
"""

import argparse
import dataclasses
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from official.core import task_factory

from retina_tf import registry_imports  # noqa: F401  task_factory: the retina_maskrcnn task
from retina_tf.configs import SMOKE_CPU, experiment
from retina_tf.engine.errors import PREEMPTED_EXIT_STATUS
from retina_tf.testing.ports import free_ports

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Whole lines in the logs, and Model Garden's own log lines (orbit's steps and checkpoints) that the tests read.
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1", "RETINA_TF_DEBUG": "1"}

# One step of the smoke config made a deterministic function of the batch and the weights, so that two
# replicas and one device can be compared value for value:
STEP_OVERRIDES = [
    # Batch norm over the global batch: without sync BN each replica would normalise over its own single
    # image, a different (and legitimate) computation from batch norm over both images on one device.
    "task.model.norm_activation.use_sync_bn=true",
    # No augmentation; a fixed order of examples.
    "task.train_data.parser.aug_rand_hflip=false", "task.train_data.parser.aug_rand_vflip=false",
    "task.train_data.parser.aug_rand_rotate90=false", "task.train_data.parser.aug_translate_max=0.0",
    "task.train_data.parser.aug_scale_min=1.0", "task.train_data.parser.aug_scale_max=1.0",
    "task.train_data.seed=7", "task.train_data.shuffle_buffer_size=1",
    # The random samplers choose everything, so that their random permutations choose nothing: every
    # labelled anchor (16,368 anchors at 256 px, under half of 32,768) and every ROI (256 proposals + 320
    # ground-truth slots, foreground without a quota). The replicas' random ops are seeded differently
    # from the one device's, so any real random choice would make the two steps differ.
    "task.train_data.parser.rpn_batch_size_per_im=32768",
    "task.model.roi_sampler.num_sampled_rois=576", "task.model.roi_sampler.foreground_fraction=1.0",
    # Plain SGD without clipping: the update is lr x the all-reduced gradient, so the weights compare the
    # gradients themselves. Adam's first step (lr x sign(gradient)) and the config's clip to norm 5 (the
    # gradient's norm is about 35 here) would both hide a gradient off by a factor, e.g. not divided by
    # the number of replicas.
    "trainer.optimizer_config.optimizer.type=sgd", "trainer.optimizer_config.optimizer.sgd.momentum=0.0",
    "task.schedule.learning_rates=[0.01,0.001]",
]


def _unsynchronised_batch_norm(model):
    """The batch-norm layers of a model that normalise each replica's batch on its own."""
    return [layer.name for layer in model.submodules
            if isinstance(layer, tf_keras.layers.BatchNormalization) and not layer.synchronized]


def _one_step(replicas, data_dir, out):
    """One training step of the real task and input pipeline on `replicas` CPU devices, seeded; saves the
    batch, the loss and the weights before and after to out (.npz)."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    tf_keras.utils.set_random_seed(1)
    params = experiment.experiment_params([SMOKE_CPU], STEP_OVERRIDES, data_dir=data_dir)
    if replicas == 1:
        strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    else:
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == replicas
    with strategy.scope():
        task = task_factory.get_task(params.task)
        model = task.build_model()
        optimizer = task.create_optimizer(params.trainer.optimizer_config, params.runtime)
    before = model.get_weights()
    dataset = strategy.distribute_datasets_from_function(
        lambda context: task.build_inputs(params.task.train_data, context))
    images, labels = next(iter(dataset))

    @tf.function
    def step(images, labels):
        return strategy.run(task.train_step, args=((images, labels), model, optimizer))

    logs = step(images, labels)
    loss = strategy.reduce(tf.distribute.ReduceOp.MEAN, logs[task.loss], axis=None)

    def batch(value):   # the global batch, replica after replica
        return np.concatenate([v.numpy() for v in strategy.experimental_local_results(value)])

    arrays = {"loss": loss.numpy(), "images": batch(images), "gt_boxes": batch(labels["gt_boxes"]),
              "names": np.array([w.name for w in model.weights])}
    for level, targets in labels["rpn_score_targets"].items():
        arrays[f"rpn_score_targets_{level}"] = batch(targets)
    for i, (value, variable) in enumerate(zip(before, model.weights)):
        copies = [v.numpy() for v in strategy.experimental_local_results(variable)]
        arrays[f"before_{i}"], arrays[f"after_{i}"] = value, variable.numpy()
        arrays[f"spread_{i}"] = max(float(np.max(np.abs(copy - copies[0]))) for copy in copies)
    np.savez(out, **arrays)


def _start_step(replicas, data_dir, out):
    command = [sys.executable, __file__, "--replicas", str(replicas), "--data-dir", str(data_dir), "--out", str(out)]
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))   # this tree's retina_tf
    with open(f"{out}.log", "w") as log:   # a file, not a pipe that could fill up
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                env={**os.environ, **QUIET, "PYTHONPATH": path})


UPDATE_RTOL = 1.5e-2   # of an update's norm; see the tolerances below


@pytest.mark.slow   # two processes tracing a training step at once: three minutes on 2 cores
def test_a_step_over_two_replicas_is_the_step_on_one_device(eophtha_data_dir, tmp_path):
    """MirroredStrategy over two logical CPUs against one device, same weights, same global batch of 2."""
    outs = {replicas: tmp_path / f"replicas_{replicas}.npz" for replicas in (1, 2)}
    processes = {replicas: _start_step(replicas, eophtha_data_dir, out) for replicas, out in outs.items()}
    try:
        for replicas, process in processes.items():
            status = process.wait(timeout=600)
            log = pathlib.Path(f"{outs[replicas]}.log").read_text()
            assert status == 0, f"{replicas} replica(s):\n{log[-4000:]}"
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    one, two = np.load(outs[1]), np.load(outs[2])
    names = list(one["names"])
    assert list(two["names"]) == names

    # The same starting point: seeded initialisers, and the same global batch image for image (replica
    # 0 takes the first image, replica 1 the second).
    for i, name in enumerate(names):
        np.testing.assert_array_equal(one[f"before_{i}"], two[f"before_{i}"], err_msg=name)
    assert one["images"].shape[0] == 2
    for key in one.files:
        if key in ("images", "gt_boxes") or key.startswith("rpn_score_targets"):
            np.testing.assert_array_equal(one[key], two[key], err_msg=key)

    # Tolerances. Both sides do the same float32 arithmetic, summed in another order and by other oneDNN
    # kernels (batch 1 per replica against batch 2; the all-reduce adds the replicas' sums; sync batch
    # norm's variance is E[x^2] - E[x]^2 of summed moments), which is about 1e-6 of the loss and up to a
    # few 1e-4 of a gradient whose terms cancel. Model Garden's box-loss normalisers also differ by design:
    # (mean count of regression targets over the replicas + 0.01) against (count + 0.01), a relative
    # 0.01/count on each box loss: 7e-4 on the RPN's here (about 14 targets), 1e-6 of the total loss.
    # So the loss to 1e-5, and each variable's update (after - before = -lr x gradient) to 1e-2 of its
    # norm, plus one float32 ulp of its weights (the rounding of before + update on either side) and
    # 1e-6 of the whole update's norm for the variables whose true gradient is zero (biases before a batch
    # norm: their computed gradient is rounding residue of any relative error). Measured: loss 1.1e-6;
    # updates up to 8e-4 of their norm on the machine where this test was written, 3.4e-3 and 4.1e-3 on
    # two other 2-core machines (conv2d/kernel; residual_block_1's batch-norm beta: their oneDNN kernels
    # and summation order), the same on each of 10 runs there: the bound is over three times the worst
    # seen. A gradient not all-reduced or not divided by the replicas, or a batch norm per replica, is off
    # by tens of percent or more (per-replica batch norm in the mask head alone: 85% and more in the
    # backbone's batch-norm weights), several times the bound.
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-5)
    updates = {i: (one[f"after_{i}"] - one[f"before_{i}"], two[f"after_{i}"] - two[f"before_{i}"])
               for i in range(len(names))}
    whole = np.sqrt(sum(np.sum(update**2) for update, _ in updates.values()))
    assert whole > 0
    moved = 0
    for i, name in enumerate(names):
        assert two[f"spread_{i}"] == 0.0, f"{name}: the two replicas' copies differ after the step"
        update_one, update_two = updates[i]
        error = np.linalg.norm(update_two - update_one)
        allowed = (UPDATE_RTOL * np.linalg.norm(update_one)
                   + np.finfo(np.float32).eps * np.linalg.norm(one[f"before_{i}"]) + 1e-6 * whole)
        assert error <= allowed, f"{name}: the updates differ by {error:.3g} (allowed {allowed:.3g})"
        moved += bool(np.any(update_one))
    assert moved > 0.9 * len(names), f"only {moved} of {len(names)} variables moved"


def test_use_sync_bn_reaches_every_batch_norm_layer(eophtha_data_dir):
    params = experiment.experiment_params([SMOKE_CPU], ["task.model.norm_activation.use_sync_bn=true"],
                                          data_dir=eophtha_data_dir)
    model = task_factory.get_task(params.task).build_model()
    assert _unsynchronised_batch_norm(model) == []


# Two local workers of one cluster, as two VMs would run `retina-tf train` with TF_CONFIG.

@dataclasses.dataclass
class Worker:
    index: int
    pid: int
    status: int | None
    out: str   # stdout and stderr together

    def __str__(self):
        return f"worker {self.index} (status {self.status}):\n{self.out[-3000:]}"


def _train_two_workers(model_dir, data_dir, schedule, logs, signal_at_step=None, timeout=600):
    """`retina-tf train` as both workers of a local cluster on one model_dir, the chief (index 0) first;
    with signal_at_step, SIGTERM to the other worker alone once the chief has logged that step."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    logs.mkdir(parents=True, exist_ok=True)
    processes = []
    try:
        for index in range(2):
            # Model Garden's non-chief workers checkpoint into tempfile.mkdtemp(): keep those in logs/
            (logs / f"tmp_{index}").mkdir(exist_ok=True)
            env = {**os.environ, **QUIET, "TMPDIR": str(logs / f"tmp_{index}"),
                   "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
            command = [sys.executable, "-m", "retina_tf.commands.main", "train", "--config", str(SMOKE_CPU),
                       "--model-dir", str(model_dir), "--data-dir", str(data_dir), "--mode", "train",
                       "--params-override", f"runtime.distribution_strategy=multi_worker_mirrored,{schedule}"]
            with open(logs / f"worker_{index}.log", "w") as log:   # files: a full pipe would stall a worker
                processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env))
        deadline = time.monotonic() + timeout
        if signal_at_step is not None:
            logged = re.compile(rf"train \| step:\s+{signal_at_step} \| steps/sec")
            while not logged.search((logs / "worker_0.log").read_text()) and processes[0].poll() is None:
                assert time.monotonic() < deadline, f"the chief did not reach step {signal_at_step}"
                time.sleep(0.1)
            processes[1].send_signal(signal.SIGTERM)   # one VM of the cluster taken away
        for process in processes:
            try:
                process.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return [Worker(index, process.pid, process.returncode, (logs / f"worker_{index}.log").read_text())
            for index, process in enumerate(processes)]


def _checkpoint_steps(model_dir):
    return sorted(int(path.name.split("-")[1].split(".")[0]) for path in model_dir.glob("ckpt-*.index"))


def _saved_to(worker):
    """Where a worker's checkpoint manager saved (orbit logs `saved checkpoint to PATH.`)."""
    return sorted(set(re.findall(r"saved checkpoint to (\S+)\.$", worker.out, re.MULTILINE)))


def _preempted_at(worker):
    found = re.search(r"preempted: checkpoint saved at step (\d+) in (\S+);", worker.out)
    return found and (int(found.group(1)), found.group(2))


# Six steps in epochs of two (orbit loops of two steps, a checkpoint after each epoch). The other worker
# gets SIGTERM once the chief has logged step 2, so both stop after step 2 or 4, never at the end.
SCHEDULE = "task.schedule.epochs=[2,1],task.schedule.steps_per_epoch=2,task.schedule.validation_every_epochs=3"
TRAIN_STEPS = 6


@pytest.fixture(scope="module")
def preempted_and_resumed(eophtha_data_dir, tmp_path_factory):
    """Two workers preempted mid-run, then started again on the same model_dir.

    Returns (model_dir, first run's workers, checkpoint steps after it, second run's workers)."""
    base = tmp_path_factory.mktemp("two_workers")
    model_dir = base / "model"
    first = _train_two_workers(model_dir, eophtha_data_dir, SCHEDULE, base / "first", signal_at_step=2)
    saved = _checkpoint_steps(model_dir)
    second = _train_two_workers(model_dir, eophtha_data_dir, SCHEDULE, base / "second")
    return model_dir, first, saved, second


@pytest.mark.slow   # two training processes of one cluster, twice: minutes on 2 cores
def test_a_signal_to_one_worker_stops_both_at_the_same_step_with_a_checkpoint(preempted_and_resumed):
    model_dir, (chief, other), saved, _ = preempted_and_resumed
    for worker in (chief, other):
        assert worker.status == PREEMPTED_EXIT_STATUS, str(worker)
    step, where = _preempted_at(chief)
    assert _preempted_at(other) == (step, where) == (step, str(model_dir)), f"{chief}\n{other}"
    assert step in (2, 4), str(chief)
    assert saved[-1] == step, saved


@pytest.mark.slow   # two training processes of one cluster, twice: minutes on 2 cores
def test_the_chief_alone_checkpoints_and_writes_summaries_in_the_model_dir(preempted_and_resumed):
    model_dir, (chief, other), _, _ = preempted_and_resumed
    assert _saved_to(chief) and all(path.startswith(str(model_dir / "ckpt-")) for path in _saved_to(chief)), \
        str(chief)
    saved = _saved_to(other)
    assert saved and not any(path.startswith(str(model_dir)) for path in saved), str(other)
    writers = {int(path.name.split(".")[-3]) for path in model_dir.rglob("events.out.tfevents.*")}
    assert chief.pid in writers and other.pid not in writers, \
        f"event files by pids {writers}; chief {chief.pid}, other {other.pid}"


@pytest.mark.slow   # two training processes of one cluster, twice: minutes on 2 cores
def test_both_workers_resume_from_the_preemption_checkpoint_and_finish(preempted_and_resumed):
    model_dir, (chief, _), saved, second = preempted_and_resumed
    step, _ = _preempted_at(chief)
    for worker in second:
        assert worker.status == 0, str(worker)
        assert re.search(rf"train \| step:\s+{step} \| training until step {TRAIN_STEPS}", worker.out), str(worker)
        assert f"retina-tf train: done at step {TRAIN_STEPS} of {TRAIN_STEPS}" in worker.out, str(worker)
    assert _checkpoint_steps(model_dir)[-1] == TRAIN_STEPS


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="one seeded training step (the helper of the first test)")
    parser.add_argument("--replicas", type=int, choices=(1, 2), required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    arguments = parser.parse_args()
    _one_step(arguments.replicas, arguments.data_dir, arguments.out)
