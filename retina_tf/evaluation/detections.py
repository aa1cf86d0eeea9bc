"""From Mask R-CNN outputs and e_ophtha ground truth to PhotographResults.

Model Garden's detector reports boxes in its input's pixels and each mask as
an M x M probability map over its box. Scoring happens at the dataset's
resolution, where the ground truth is exact: boxes are scaled back by the
image_info scale, each mask is resized to its box rounded to whole pixels and
thresholded, and the ground truth comes from the lesion crops the dataset
stores (not from Model Garden's M x M resampling of them). Where the dataset
stores the annotation as drawn (`lesion_pixels`), it comes along at the same
resolution, for the pixel AUPR (evaluation.pixel_aupr).
"""

import cv2
import numpy as np

from retina_tf import STATUSES
from retina_tf.evaluation.records import LABELS, Lesions, PhotographResult, encode_mask

MASK_THRESHOLD = 0.5


def box_crops(boxes: np.ndarray, probabilities: np.ndarray, threshold: float = MASK_THRESHOLD) -> list[np.ndarray]:
    """Boolean masks at each box rounded to whole pixels, from M x M probabilities over the box.

    Args:
      boxes: [N, 4] ymin, xmin, ymax, xmax in pixels.
      probabilities: [N, M, M] mask probabilities, each over its box.
      threshold: the probability from which a pixel is lesion.

    Returns:
      N bool crops, each (ymax - ymin) x (xmax - xmin) of its rounded box (empty for a box without area).
    """
    crops = []
    for (ymin, xmin, ymax, xmax), probability in zip(np.round(boxes).astype(int), probabilities):
        height, width = max(ymax - ymin, 0), max(xmax - xmin, 0)
        if height == 0 or width == 0:
            crops.append(np.zeros((height, width), bool))
            continue
        crops.append(cv2.resize(np.asarray(probability, np.float32), (width, height),
                                interpolation=cv2.INTER_LINEAR) >= threshold)
    return crops


def predicted_lesions(boxes, classes, scores, masks, height: int, width: int,
                      mask_threshold: float = MASK_THRESHOLD) -> Lesions:
    """Found detections (already cut to num_detections) in photograph pixels.

    Args:
      boxes: [N, 4] ymin, xmin, ymax, xmax in pixels of the height x width image.
      classes: [N] class ids.
      scores: [N].
      masks: [N, M, M] probabilities over each box.
      height: the image's height in pixels.
      width: its width in pixels.
      mask_threshold: the mask probability from which a pixel is lesion (the export pastes at MASK_THRESHOLD;
        benchmarks/pixel_precision.py measures others).

    Returns:
      The predictions: boxes rounded to whole pixels, masks thresholded and cut to the image.
    """
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    rounded = np.round(boxes)
    return Lesions.from_box_masks(rounded, box_crops(rounded, masks, mask_threshold), classes, height, width,
                                  scores=scores)


def ground_truth_lesions(boxes, classes, mask_pngs, height: int, width: int) -> Lesions:
    """The dataset's lesions: pixel boxes and the PNG crops stored for them.

    Args:
      boxes: [N, 4] ymin, xmin, ymax, xmax in pixels of the height x width image (rounded here).
      classes: [N] class ids.
      mask_pngs: N PNG crops (the objects' `mask` feature), each the size of its box.
      height: the image's height in pixels.
      width: its width in pixels.

    Returns:
      The ground truth (scores None).

    Raises:
      ValueError: a crop is not the size of its box.
    """
    crops = [cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE) > 0 for png in mask_pngs]
    return Lesions.from_box_masks(np.round(np.asarray(boxes, float)), crops, classes, height, width)


def lesion_pixel_rles(pngs) -> dict[int, dict]:
    """PhotographResult.lesion_pixels from the dataset's annotation as drawn.

    Args:
      pngs: one single-channel PNG per lesion type (TFDS order, nonzero on the lesion), b"" where the type is
        not annotated.

    Returns:
      class id -> RLE, for the types with a PNG.
    """
    return {label: encode_mask(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE) > 0)
            for label, png in zip(LABELS, pngs) if len(png)}


def batch_results(predictions: dict, groundtruths: dict) -> list[PhotographResult]:
    """PhotographResults of one validation batch (numpy arrays, Model Garden's keys).

    groundtruths carry, besides Model Garden's eval keys, `mask_pngs` (the
    stored crops), `annotation` (status index per lesion type, TFDS order)
    and, where the dataset has them, `lesion_pixels` (lesion_pixel_rles' PNGs,
    at the dataset's resolution).

    Args:
      predictions: num_detections [B], image_info [B, 4, 2] (its row 2 the input's y, x scale), and
        detection_boxes [B, K, 4] in input pixels, detection_classes and detection_scores [B, K],
        detection_masks [B, K, M, M].
      groundtruths: source_id, height, width, num_detections [B], boxes [B, G, 4] in pixels of the dataset's
        image, classes [B, G], mask_pngs [B, G], annotation [B, 2], and lesion_pixels [B, 2] where present.

    Returns:
      One PhotographResult per photograph, at the dataset's resolution (height x width).
    """
    drawn = groundtruths.get("lesion_pixels")
    results = []
    for i in range(len(groundtruths["source_id"])):
        height, width = int(groundtruths["height"][i]), int(groundtruths["width"][i])
        found = int(predictions["num_detections"][i])
        scale = np.tile(np.asarray(predictions["image_info"][i][2], float), 2)   # y, x scale of the input
        truths = int(groundtruths["num_detections"][i])
        results.append(PhotographResult(
            image_id=int(groundtruths["source_id"][i]),
            height=height,
            width=width,
            status={label: STATUSES[int(groundtruths["annotation"][i][label - 1])] for label in LABELS},
            ground_truth=ground_truth_lesions(groundtruths["boxes"][i][:truths], groundtruths["classes"][i][:truths],
                                              groundtruths["mask_pngs"][i][:truths], height, width),
            predictions=predicted_lesions(predictions["detection_boxes"][i][:found] / scale,
                                          predictions["detection_classes"][i][:found],
                                          predictions["detection_scores"][i][:found],
                                          predictions["detection_masks"][i][:found], height, width),
            lesion_pixels=None if drawn is None else lesion_pixel_rles(drawn[i])))
    return results
