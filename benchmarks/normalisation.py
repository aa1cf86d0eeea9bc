"""Fundus normalisation throughput: retina_tf (TF ops) against the paper's OpenCV recipe.

Both start from decoded 2544x1696 RGB photographs (e-ophtha's largest size)
and produce 1024x1024; the OpenCV side finds its crop with the usual
threshold-and-bounding-box kernel. Prints photographs/s for each and the ratio.

    python benchmarks/normalisation.py [--photographs 8] [--repeats 3]
"""

import argparse
import time

import numpy as np
import tensorflow as tf

from retina_tf.data import fundus, synthetic
from retina_tf.testing import fundus_reference


def _throughput(normalise, photographs, repeats):
    normalise(photographs[0])  # warm-up (tracing for TF)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for photograph in photographs:
            normalise(photograph)
        best = min(best, time.perf_counter() - start)
    return len(photographs) / best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photographs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--width", type=int, default=2544)
    parser.add_argument("--height", type=int, default=1696)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    photographs = [synthetic.render_fundus(rng, args.width, args.height, exudates=True, microaneurysms=True).image
                   for _ in range(args.photographs)]
    tf_normalise = tf.function(fundus.normalise_fundus, reduce_retracing=True)
    ours = _throughput(lambda p: tf_normalise(tf.constant(p))[0].numpy(), photographs, args.repeats)
    reference = _throughput(fundus_reference.reference_normalise, photographs, args.repeats)
    print(f"machine: {tf.config.threading.get_intra_op_parallelism_threads() or 'default'} TF threads, "
          f"{len(tf.config.list_physical_devices('CPU'))} CPU device(s); {args.width}x{args.height} -> 1024x1024")
    print(f"retina_tf normalise_fundus (TF): {ours:6.2f} photographs/s")
    print(f"OpenCV reference recipe:         {reference:6.2f} photographs/s")
    print(f"ratio TF / OpenCV:               {ours / reference:6.2f}x  (target >= 1.0)")


if __name__ == "__main__":
    main()
