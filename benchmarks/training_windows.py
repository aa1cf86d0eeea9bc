"""What the IDRiD recipe's training windows hold, and what they cost to read, at 1024 and at 2048 px.

A 256 px window holds a sixteenth of a 1024 px photograph and a sixty-fourth
of a 2048 px one: placed anywhere it mostly holds no lesion.
`parser.aug_window_lesion_fraction` places that share of the windows on a
lesion (one of those in view, each as likely, anywhere in the window) and the
rest anywhere, so that vessels, reflections and the optic disc still come as
negatives. For each dataset and lesion fraction this reads --batches batches
of the training input (configs smoke_cpu + real_cpu + idrid_cpu, and
idrid_2048_cpu at 2048) and prints the share of windows holding an exudate, a
microaneurysm, or none, and the lesions per window. It then times the input
alone (batches/s after one pass over the split, so that a cache is full), at
2048 with and without `cache_photographs` (in memory, the decoded
photographs) and their ratio.

    python benchmarks/training_windows.py [--data-1024 DIR] [--data-2048 DIR] [--manual-dir ../shared/idrid]
                                          [--fractions 0 0.5 0.75] [--batches 300]

Builds idrid/lesions_1024 and idrid/lesions_2048 into the data dirs if they
lack them (about 2 and 4 minutes). About 5 minutes on 2 cores once built.
"""

import argparse
import itertools
import os
import pathlib
import tempfile
import time

import numpy as np
from official.core import task_factory

from retina_tf import LESION_CLASSES, datasets, registry_imports  # noqa: F401  the retina_maskrcnn task
from retina_tf.configs import CONFIG_DIR, SMOKE_CPU
from retina_tf.configs.experiment import experiment_params

ROOT = pathlib.Path(__file__).resolve().parents[1]
RECIPES = {1024: ("idrid/lesions_1024", ["idrid_cpu.yaml"]),
           2048: ("idrid/lesions_2048", ["idrid_cpu.yaml", "idrid_2048_cpu.yaml"])}


def training_input(size: int, data_dir: pathlib.Path, overrides):
    files = [SMOKE_CPU, CONFIG_DIR / "real_cpu.yaml", *(CONFIG_DIR / name for name in RECIPES[size][1])]
    params = experiment_params(files, list(overrides), data_dir=data_dir)
    train = params.task.train_data
    return task_factory.get_task(params.task).build_inputs(train), train.global_batch_size


def window_contents(size: int, data_dir: pathlib.Path, fraction: float, batches: int):
    """Shares of windows holding each lesion type, none, and the mean lesions per window."""
    read, _ = training_input(size, data_dir, [f"task.train_data.parser.aug_window_lesion_fraction={fraction}"])
    counts = []
    for _, labels in itertools.islice(read, batches):
        classes = labels["gt_classes"].numpy()
        counts += [[(row == label).sum() for label in range(1, len(LESION_CLASSES) + 1)] for row in classes]
    counts = np.array(counts)
    return (counts > 0).mean(axis=0), (counts.sum(axis=1) == 0).mean(), counts.sum(axis=1).mean()


def batches_per_second(size: int, data_dir: pathlib.Path, cached: bool, batches: int, examples: int) -> float:
    read, batch = training_input(size, data_dir, [f"task.train_data.cache_photographs={cached}"])
    read = iter(read)
    for _ in range(-(-examples // batch) + 5):   # a pass and a few more: a cache is full
        next(read)
    start = time.perf_counter()
    for _ in range(batches):
        next(read)
    return batches / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-1024", type=pathlib.Path, help="a TFDS data_dir holding (or to hold) "
                                                                "idrid/lesions_1024")
    parser.add_argument("--data-2048", type=pathlib.Path, help="the same for idrid/lesions_2048")
    parser.add_argument("--manual-dir", type=pathlib.Path, default=ROOT.parent / "shared" / "idrid",
                        help="the IDRiD download, to build what a data dir lacks")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.0, 0.5, 0.75],
                        help="aug_window_lesion_fraction values to read")
    parser.add_argument("--batches", type=int, default=300, help="batches of 2 windows read per setting")
    args = parser.parse_args()
    data_dirs = {1024: args.data_1024, 2048: args.data_2048}
    examples = {}
    for size, (dataset, _) in RECIPES.items():
        data_dirs[size] = data_dirs[size] or pathlib.Path(tempfile.mkdtemp(prefix=f"windows_{size}_"))
        examples[size] = datasets.build(dataset, args.manual_dir, data_dirs[size]).info.splits["train"].num_examples

    print(f"machine: {os.cpu_count()} CPU cores; IDRiD's {examples[1024]} training photographs, 256 px windows, "
          f"{args.batches} batches of 2 per row\n")
    print("| photographs | lesion fraction | windows with an exudate | with a microaneurysm | with none | "
          "lesions per window |\n|---|---|---|---|---|---|")
    for size, fraction in itertools.product(RECIPES, args.fractions):
        (exudate, microaneurysm), none, mean = window_contents(size, data_dirs[size], fraction, args.batches)
        print(f"| {size} px | {fraction:g} | {exudate:.0%} | {microaneurysm:.0%} | {none:.0%} | {mean:.1f} |")

    print("\n| training input | batches/s | ratio |\n|---|---|---|")
    base = batches_per_second(1024, data_dirs[1024], False, args.batches, examples[1024])
    print(f"| 1024 px | {base:.1f} | 1.00x |")
    for cached in (False, True):
        rate = batches_per_second(2048, data_dirs[2048], cached, args.batches, examples[2048])
        print(f"| 2048 px{', cache_photographs' if cached else ''} | {rate:.1f} | {rate / base:.2f}x |")


if __name__ == "__main__":
    main()
