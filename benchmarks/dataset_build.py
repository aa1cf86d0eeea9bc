"""Build throughput and size of the TFDS dataset e_ophtha at e-ophtha resolutions.

Writes a synthetic e-ophtha tree with photographs at e-ophtha's sizes (1440x960
to 2544x1696), builds `patients_with_healthy_1024` (every photograph, healthy
ones included; `--config patients_with_healthy_2048` at 2048 px) and prints
photographs/s, bytes per photograph, and what all 463 e-ophtha photographs
would take on this machine (target: under 10 minutes).

    python benchmarks/dataset_build.py [--photographs 24] [--config patients_with_healthy_1024]
"""

import argparse
import os
import pathlib
import tempfile
import time

import tensorflow_datasets as tfds

import tfds_eophtha  # noqa: F401  registers e_ophtha and idrid with TFDS
from retina_tf.data import synthetic

E_OPHTHA_PHOTOGRAPHS = 463   # 47 + 35 EX, 148 + 233 MA


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photographs", type=int, default=24, help="total photographs (about a third healthy)")
    parser.add_argument("--config", default="patients_with_healthy_1024",
                        help="the e_ophtha config built: one that keeps the healthy photographs")
    args = parser.parse_args()
    lesion = max(2, args.photographs // 3)
    healthy = max(1, (args.photographs - 2 * lesion) // 2)
    spec = synthetic.SyntheticEophtha(
        exudate_photographs=lesion, microaneurysm_photographs=lesion, exudate_healthy=healthy,
        microaneurysm_healthy=healthy, shared_photographs=0,
        sizes=((2544, 1696), (2048, 1360), (1440, 960)), seed=1)
    with tempfile.TemporaryDirectory() as work:
        work = pathlib.Path(work)
        written = synthetic.write_synthetic_eophtha(work / "tree", spec)
        builder = tfds.builder(f"e_ophtha/{args.config}", data_dir=str(work / "data"))
        start = time.perf_counter()
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=str(work / "tree")))
        seconds = time.perf_counter() - start
        size = sum(f.stat().st_size for f in pathlib.Path(builder.data_dir).rglob("*") if f.is_file())
    rate = len(written) / seconds
    print(f"machine: {os.cpu_count()} CPU cores")
    side = builder.builder_config.image_size
    print(f"built {len(written)} photographs (1440x960..2544x1696 -> {side}x{side}) in {seconds:.1f} s: "
          f"{rate:.2f} photographs/s")
    print(f"dataset size: {size / len(written) / 1e6:.2f} MB per photograph")
    print(f"all {E_OPHTHA_PHOTOGRAPHS} e-ophtha photographs: about {E_OPHTHA_PHOTOGRAPHS / rate / 60:.1f} min "
          f"(target < 10 min), about {size / len(written) * E_OPHTHA_PHOTOGRAPHS / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
