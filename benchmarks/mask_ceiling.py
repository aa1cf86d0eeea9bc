"""What the mask grid and the dataset's resolution alone cost the pixel AUPR: a perfect model scored as IDRiD scores.

Each ground-truth instance of an idrid split is "found" exactly (its own box,
score 1), but its mask goes the way a Mask R-CNN mask goes: sampled as the
training target is (one bilinear sample at each cell centre of an M x M grid
over the box, as modeling.lesion_mask_sampler does), pasted back over the box
and thresholded at 0.5 (evaluation.detections), then mapped to the
photograph's original size and scored against the annotation as drawn
(evaluation.pixel_aupr). With every score 1 the precision-recall curve is one
point: no model of that mask size, at that resolution, does better on those
pixels. "exact" skips the grid: the ceiling of the resolution alone.

    python benchmarks/mask_ceiling.py --data-dir DIR [--dataset idrid/lesions_1024] [--split validation]
        [--sizes 14 28 56]
"""

import argparse
import dataclasses
import time

import cv2
import numpy as np
import tensorflow_datasets as tfds

from retina_tf import LESION_CLASSES, STATUSES, UNKNOWN, datasets
from retina_tf.evaluation import detections, pixel_aupr
from retina_tf.evaluation.records import Lesions, PhotographResult


def through_grid(truth: Lesions, boxes: np.ndarray, crops: list[np.ndarray], size: int | None, side: int) -> Lesions:
    """The ground truth as a perfect model with size x size masks would report it (size None: the masks as they
    are)."""
    if size is None:
        return dataclasses.replace(truth, scores=np.ones(len(truth)))
    grids = np.array([cv2.resize(crop.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
                      for crop in crops]).reshape(-1, size, size)
    return detections.predicted_lesions(boxes, truth.labels, np.ones(len(truth)), grids, side, side)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="TFDS data_dir holding the built dataset")
    parser.add_argument("--dataset", default="idrid/lesions_1024", help="an idrid config (it stores the annotation)")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--sizes", type=int, nargs="+", default=[14, 28, 56],
                        help="mask grid sides (Model Garden: mask_roi_aligner.crop_size x mask_head.upsample_factor)")
    args = parser.parse_args()

    datasets.require_built(args.dataset, args.data_dir)
    builder = tfds.builder(args.dataset, data_dir=args.data_dir)
    side = builder.builder_config.image_size
    photographs = []
    for example in tfds.as_numpy(builder.as_dataset(split=args.split)):
        objects = example["objects"]
        boxes = np.round(objects["bbox"] * side)
        crops = [cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE) > 0 for png in objects["mask"]]
        truth = detections.ground_truth_lesions(boxes, objects["label"] + 1, objects["mask"], side, side)
        photographs.append((example, truth, boxes, crops))
    print(f"{args.dataset} {args.split}: {len(photographs)} photographs at {side} px, "
          f"{sum(len(truth) for _, truth, _, _ in photographs)} instances; scored at the original size")
    print("| mask grid | " + " | ".join(f"{lesion} precision / recall / AUPR" for lesion in LESION_CLASSES)
          + " |\n|---|" + "---|" * len(LESION_CLASSES))
    for size in [None, *sorted(args.sizes, reverse=True)]:
        start = time.perf_counter()
        results = [PhotographResult(
            image_id=int(example["image/id"]), height=side, width=side,
            status={label: STATUSES[int(example["annotation"][lesion])]
                    for label, lesion in enumerate(LESION_CLASSES, start=1)},
            ground_truth=truth, predictions=through_grid(truth, boxes, crops, size, side),
            lesion_pixels=detections.lesion_pixel_rles(
                [example["original_lesion_pixels"][lesion] for lesion in LESION_CLASSES]),
            geometry=example["geometry"]) for example, truth, boxes, crops in photographs]
        cells = []
        for label in range(1, len(LESION_CLASSES) + 1):
            scored = pixel_aupr.compute_pixel_aupr(results, label)
            counts = pixel_aupr.PixelCounts.pooled([pixel_aupr.photograph_counts(result, label) for result in results
                                                    if result.status_of(label) != UNKNOWN])
            thresholds, precision, recall = pixel_aupr.precision_recall(counts)
            covered = thresholds > 0   # the last threshold, 0, is every pixel no instance covers
            cells.append(f"{precision[covered][-1]:.3f} / {recall[covered][-1]:.3f} / {scored.aupr:.3f}")
        name = f"exact at {side} px" if size is None else f"{size} x {size}"
        print(f"| {name} | " + " | ".join(cells) + f" |   ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
