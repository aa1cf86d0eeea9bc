"""Resident memory of the training input over a long read: the task's read against Model Garden's.

The IDRiD benchmark's training was killed at 24 GB after about 6000 photographs read. The cause was the
read: Model Garden repeats a TFDS training split with `ReadConfig(repeat_filenames=True)`, and that read
grows by megabytes per example. The task now reads the split through once per pass and repeats it
(`retina_tf.tasks.retina_maskrcnn._repeated_training_split`). This script runs the IDRiD benchmark's
training input (configs smoke_cpu + real_cpu + idrid_cpu, 256 px windows of idrid/lesions_1024, batch 2)
both ways, each in a fresh process: after --warmup batches it reads the resident set size (VmRSS), then
reads --batches more and reads it again. Prints the growth per 100 photographs read for each, and their
ratio (Model Garden's over the task's, the task's floored at 1 MB per 100 as allocator noise). Builds
idrid/lesions_1024 into --data-dir from --manual-dir if it is not there (about 2 minutes). Linux only
(/proc). About a minute on 2 cores once the dataset is built.

    python benchmarks/input_memory.py [--data-dir DIR] [--manual-dir ../shared/idrid] [--batches 400]
"""

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile

from official.core import task_factory

from retina_tf import datasets, registry_imports  # noqa: F401  registry_imports: the retina_maskrcnn task
from retina_tf.configs import CONFIG_DIR, SMOKE_CPU
from retina_tf.configs.experiment import experiment_params
from retina_tf.tasks import retina_maskrcnn

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATASET = "idrid/lesions_1024"
READS = {"task": "the task's read (one pass, repeated)", "model_garden": "Model Garden's read (repeat_filenames)"}


def _rss_gb() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 2 ** 20


def measure(read: str, data_dir: pathlib.Path, warmup: int, batches: int):
    """One read's growth, in this process: prints 'RSS before after photographs'."""
    if read == "model_garden":
        retina_maskrcnn._repeated_training_split = lambda params, input_context: None   # pylint: disable=protected-access
    params = experiment_params([SMOKE_CPU, CONFIG_DIR / "real_cpu.yaml", CONFIG_DIR / "idrid_cpu.yaml"],
                               ["task.train_data.parser.aug_window_size=[256,256]"], data_dir=data_dir)
    train = params.task.train_data
    batches_read = iter(task_factory.get_task(params.task).build_inputs(train))
    for _ in range(warmup):
        next(batches_read)
    before = _rss_gb()
    for _ in range(batches):
        next(batches_read)
    print(f"RSS {before:.3f} {_rss_gb():.3f} {batches * train.global_batch_size}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=pathlib.Path, help="a TFDS data_dir holding (or to hold) " + DATASET)
    parser.add_argument("--manual-dir", type=pathlib.Path, default=ROOT.parent / "shared" / "idrid",
                        help="the IDRiD download, to build the dataset if --data-dir lacks it")
    parser.add_argument("--warmup", type=int, default=50, help="batches read before the first measure")
    parser.add_argument("--batches", type=int, default=400, help="batches read between the two measures")
    parser.add_argument("--measure", choices=sorted(READS), help=argparse.SUPPRESS)   # the child process
    args = parser.parse_args()
    if args.measure:
        measure(args.measure, args.data_dir, args.warmup, args.batches)
        return
    data_dir = args.data_dir or pathlib.Path(tempfile.mkdtemp(prefix="input_memory_"))
    builder = datasets.build(DATASET, args.manual_dir, data_dir)
    print(f"machine: {os.cpu_count()} CPU cores; {DATASET} train split: {builder.info.splits['train'].num_examples} "
          f"photographs; {args.warmup} batches read before the first measure, {args.batches} between")
    growth = {}
    for read, label in READS.items():
        child = subprocess.run(
            [sys.executable, __file__, "--measure", read, "--data-dir", str(data_dir),
             "--warmup", str(args.warmup), "--batches", str(args.batches)],
            capture_output=True, text=True)
        lines = [line for line in child.stdout.splitlines() if line.startswith("RSS ")]
        if child.returncode or not lines:
            sys.exit(f"{label} failed (exit {child.returncode}):\n{child.stderr[-3000:]}")
        before, after, photographs = (float(value) for value in lines[-1].split()[1:])
        growth[read] = (after - before) * 1024 / photographs * 100
        print(f"{label}: RSS {before:.2f} -> {after:.2f} GB over {photographs:.0f} photographs, "
              f"{growth[read]:+.0f} MB per 100 photographs")
    floor = 1.0   # MB per 100 photographs: below it, allocator noise rather than growth
    print(f"ratio (Model Garden's growth / the task's, the task's floored at {floor:.0f} MB per 100): "
          f"{growth['model_garden'] / max(growth['task'], floor):.0f}x")


if __name__ == "__main__":
    main()
