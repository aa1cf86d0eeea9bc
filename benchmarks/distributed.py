"""Training images/s of the CPU smoke configuration on one worker and on two local workers.

One worker trains `configs/smoke_cpu.yaml` as it is (one_device); two workers
form a local cluster through TF_CONFIG on 127.0.0.1 (multi_worker_mirrored,
all-reduce over gRPC) at the same global batch, so each takes half of it.
Both time `task.train_step` of the registered task through the real input
pipeline on the e_ophtha dummy dataset, each in fresh processes, after
warm-up steps (the first one traces). On one machine the two workers share
its cores, so no speed-up is to be expected: the ratio shows what the
synchronisation costs.

    python benchmarks/distributed.py [--steps 10] [--warmup 2] [--batch 2] [--data-dir DIR]
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import tensorflow as tf
from official.common import distribute_utils
from official.core import task_factory

from retina_tf import registry_imports  # noqa: F401  task_factory: the retina_maskrcnn task
from retina_tf.configs import (
    SMOKE_CPU,
    experiment,
)
from retina_tf.datasets import build_e_ophtha
from retina_tf.testing.ports import free_ports
from tfds_eophtha import DUMMY_DATA

RESULT = "RESULT "


def _worker(args):
    """One worker's measurement (TF_CONFIG, if any, names the cluster); prints one RESULT line."""
    overrides = [f"task.train_data.global_batch_size={args.batch}"]
    if args.workers > 1:
        overrides.append("runtime.distribution_strategy=multi_worker_mirrored")
    params = experiment.experiment_params([SMOKE_CPU], overrides, data_dir=args.data_dir)
    strategy = distribute_utils.get_distribution_strategy(
        distribution_strategy=params.runtime.distribution_strategy, all_reduce_alg=params.runtime.all_reduce_alg,
        num_gpus=params.runtime.num_gpus)
    with strategy.scope():
        task = task_factory.get_task(params.task)
        model = task.build_model()
        optimizer = task.create_optimizer(params.trainer.optimizer_config, params.runtime)
    dataset = strategy.distribute_datasets_from_function(
        lambda context: task.build_inputs(params.task.train_data, context))
    iterator = iter(dataset)

    @tf.function
    def step():
        logs = strategy.run(task.train_step, args=(next(iterator), model, optimizer))
        return strategy.reduce(tf.distribute.ReduceOp.MEAN, logs[task.loss], axis=None)

    for _ in range(args.warmup):
        step().numpy()
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    loss = float(loss.numpy())
    seconds = time.perf_counter() - start
    print(RESULT + json.dumps({"replicas": strategy.num_replicas_in_sync, "seconds": seconds, "loss": loss,
                               "images_per_s": args.steps * args.batch / seconds}), flush=True)


def _run(workers, args, logs: pathlib.Path, timeout=1800):
    """Starts `workers` worker processes (a TF_CONFIG cluster when more than one); their RESULTs, chief first."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(workers)]}
    processes = []
    try:
        for index in range(workers):
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
            if workers > 1:
                env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
            command = [sys.executable, __file__, "--worker", "--workers", str(workers), "--steps", str(args.steps),
                       "--warmup", str(args.warmup), "--batch", str(args.batch), "--data-dir", str(args.data_dir)]
            with open(logs / f"{workers}_workers_{index}.log", "w") as log:
                processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env))
        deadline = time.monotonic() + timeout
        for process in processes:
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    results = []
    for index, process in enumerate(processes):
        text = (logs / f"{workers}_workers_{index}.log").read_text()
        lines = [line for line in text.splitlines() if line.startswith(RESULT)]
        if process.returncode != 0 or not lines:
            sys.exit(f"worker {index} of {workers} failed (status {process.returncode}):\n{text[-3000:]}")
        results.append(json.loads(lines[-1][len(RESULT):]))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (the first one traces)")
    parser.add_argument("--batch", type=int, default=2, help="global batch, split across the workers")
    parser.add_argument("--data-dir", type=pathlib.Path,
                        help="TFDS data_dir for e_ophtha/patients_512, built from the dummy data (default: temporary)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return

    with tempfile.TemporaryDirectory() as work:
        work = pathlib.Path(work)
        args.data_dir = args.data_dir or work / "tensorflow_datasets"
        build_e_ophtha(DUMMY_DATA["e_ophtha"], args.data_dir, "patients_512")
        print(f"TF {tf.__version__}; CPU cores: {os.cpu_count()}; {SMOKE_CPU.name} (ResNet-18 FPN, 256x256), "
              f"global batch {args.batch}, {args.steps} timed steps after {args.warmup} warm-up steps")
        [one] = _run(1, args, work)
        print(f"one worker (one_device):                     {one['images_per_s']:.2f} training images/s")
        chief, other = _run(2, args, work)
        print(f"two local workers (multi_worker_mirrored):   {chief['images_per_s']:.2f} training images/s "
              f"(the other worker timed {other['images_per_s']:.2f}; each takes {args.batch / 2:g} of the {args.batch} "
              "images of a step)")
        print(f"two workers / one worker: {chief['images_per_s'] / one['images_per_s']:.2f}x")


if __name__ == "__main__":
    main()
