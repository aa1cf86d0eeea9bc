"""Where an export's pixel precision goes on IDRiD: the mask threshold, and how far its false pixels lie from a lesion.

Scores an export on a split (default validation, where choices are made) as
`retina-tf evaluate` does, at the original size against the lesions as
drawn, once per mask threshold (where the M x M mask probabilities are cut;
the export pastes its served masks at 0.5). Then, at 0.5, splits the
predicted pixels that are not lesion by their distance to the nearest drawn
lesion of the type, in original pixels, at a few score thresholds: a false
pixel within a few pixels of a lesion is a loose outline (the model's
resolution: one 1024 px pixel is about 3.3 original pixels of IDRiD), one far
from every lesion a false find or the background inside a large mask.

    python benchmarks/pixel_precision.py --export DIR/export/retina/1 --data-dir DIR/data
        [--split validation] [--mask-thresholds 0.3 0.4 0.5 0.6 0.7] [--scores 0 0.4 0.7]
"""

import argparse
import time

import cv2
import numpy as np
from pycocotools import mask as mask_util

from retina_tf import LESION_CLASSES
from retina_tf.engine import evaluate_lib
from retina_tf.evaluation import detections, pixel_aupr

BANDS = (3, 10, 30)   # original pixels from the nearest drawn lesion


def distance_row(results, label: int, score: float) -> str:
    """Recall, precision and where the false pixels lie, of the pixels scoring above `score`."""
    lesion_total = found = 0
    false = np.zeros(len(BANDS) + 1, np.int64)
    for result in results:
        if label not in (result.lesion_pixels or {}):
            continue
        scores = pixel_aupr.to_original(pixel_aupr.score_map(result.predictions, label, result.height,
                                                             result.width), result.geometry)
        drawn = mask_util.decode(result.lesion_pixels[label]).astype(bool)
        predicted = scores > score
        lesion_total += drawn.sum()
        found += (predicted & drawn).sum()
        distance = cv2.distanceTransform((~drawn).astype(np.uint8), cv2.DIST_L2, 5)[predicted & ~drawn]
        false += np.bincount(np.searchsorted(BANDS, distance), minlength=len(BANDS) + 1)
    shares = " | ".join(f"{count / max(false.sum(), 1):.1%}" for count in false)
    return (f"| {LESION_CLASSES[label - 1]} | > {score:g} | {found / lesion_total:.3f} | "
            f"{found / max(found + false.sum(), 1):.3f} | {shares} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", required=True, help="an exported version folder (DIR/export/retina/1)")
    parser.add_argument("--data-dir", required=True, help="TFDS data_dir holding the export's idrid dataset")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--mask-thresholds", type=float, nargs="+", default=[0.3, 0.4, 0.5, 0.6, 0.7])
    parser.add_argument("--scores", type=float, nargs="+", default=[0.0, 0.4, 0.7],
                        help="score thresholds at which the false pixels are placed")
    args = parser.parse_args()

    print("| mask threshold | " + " | ".join(f"{lesion} pixel AUPR" for lesion in LESION_CLASSES) + " |")
    print("|---|" + "---|" * len(LESION_CLASSES))
    at_default = None
    for threshold in sorted(set(args.mask_thresholds) | {detections.MASK_THRESHOLD}):
        start = time.perf_counter()
        results = evaluate_lib.saved_model_results(args.export, args.data_dir, args.split, None,
                                                   mask_threshold=threshold)
        cells = [f"{pixel_aupr.compute_pixel_aupr(results, label).aupr:.3f}"
                 for label in range(1, len(LESION_CLASSES) + 1)]
        print(f"| {threshold:g} | " + " | ".join(cells) + f" |   ({len(results)} photographs, "
              f"{time.perf_counter() - start:.0f} s)", flush=True)
        if threshold == detections.MASK_THRESHOLD:
            at_default = results

    print(f"\nmask threshold {detections.MASK_THRESHOLD}: pixels scoring above a threshold, and where the false ones "
          "lie (original pixels from the nearest drawn lesion)")
    bands = [f"within {BANDS[0]} px"] + [f"{a}-{b} px" for a, b in zip(BANDS, BANDS[1:])] + [f"beyond {BANDS[-1]} px"]
    print("| type | score | recall | precision | " + " | ".join(bands) + " |")
    print("|---|---|---|---|" + "---|" * len(bands))
    for label in range(1, len(LESION_CLASSES) + 1):
        for score in args.scores:
            print(distance_row(at_default, label, score), flush=True)


if __name__ == "__main__":
    main()
