"""Both scales at once (issue 24): the lesions of a 1024 px export and of a tiled 2048 px export together.

Scores each export on an idrid split as `retina-tf evaluate` does, then both
together as if one model had reported the lesions of both: each pixel of the
original photograph scores the higher of the two exports' pixel scores (the
challenge's rule over the union of their lesions). Pixel AUPR per type, at
the original size against the lesions as drawn. Choose on validation; score
the test split once.

    python benchmarks/both_scales.py --exports DIR1024/export/retina/1 DIR2048/export/retina/1
        --data-dirs DIR1024/data DIR2048/data [--split validation]
"""

import argparse

import numpy as np
from pycocotools import mask as mask_util

from retina_tf import LESION_CLASSES
from retina_tf.engine import evaluate_lib
from retina_tf.evaluation import pixel_aupr


def counts(scores: np.ndarray, drawn: np.ndarray) -> pixel_aupr.PixelCounts:
    levels, index = np.unique(scores, return_inverse=True)
    return pixel_aupr.level_counts(levels, index.reshape(scores.shape), drawn)


def aupr(photographs: list[pixel_aupr.PixelCounts]) -> float:
    _, precision, recall = pixel_aupr.precision_recall(pixel_aupr.PixelCounts.pooled(photographs))
    return pixel_aupr.average_precision(precision, recall)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exports", nargs=2, required=True, help="the two exported version folders")
    parser.add_argument("--data-dirs", nargs=2, required=True, help="each export's TFDS data_dir")
    parser.add_argument("--split", default="validation")
    args = parser.parse_args()

    runs = [sorted(evaluate_lib.saved_model_results(export, data_dir, args.split, None), key=lambda r: r.image_id)
            for export, data_dir in zip(args.exports, args.data_dirs)]
    print(f"| {args.split} | " + " | ".join(f"{lesion} pixel AUPR" for lesion in LESION_CLASSES) + " |")
    print("|---|" + "---|" * len(LESION_CLASSES))
    rows = {name: [] for name in (*args.exports, "both")}
    for label in range(1, len(LESION_CLASSES) + 1):
        per_run = {name: [] for name in rows}
        for pair in zip(*runs):
            if len({result.image_id for result in pair}) != 1:
                raise SystemExit("the two exports' datasets hold different photographs in this split")
            if label not in (pair[0].lesion_pixels or {}):
                continue
            drawn = mask_util.decode(pair[0].lesion_pixels[label]).astype(bool)
            maps = [pixel_aupr.to_original(pixel_aupr.score_map(result.predictions, label, result.height,
                                                                result.width), result.geometry) for result in pair]
            for name, scores in zip(rows, (*maps, np.maximum(*maps))):
                per_run[name].append(counts(scores, drawn))
        for name in rows:
            rows[name].append(f"{aupr(per_run[name]):.3f}")
    for name, cells in rows.items():
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
