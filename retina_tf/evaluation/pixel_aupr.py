"""Pixel-level AUPR, the ISBI 2018 IDRiD segmentation challenge's measure, per lesion type.

Every pixel of every photograph of a split is pooled, at the resolution of
the annotation as drawn (PhotographResult.lesion_pixels; not the dilated
instances the model trains on). A pixel scores the highest score of a found
lesion of the type whose mask covers it, 0 where none covers it; AUPR is the
step-wise average precision over every distinct score threshold, as sklearn's
average_precision_score computes it, down to threshold 0 where every pixel
counts as found. Photographs where the type is UNKNOWN are left out; where it
is ABSENT they add negatives only.

Predictions live at the model's resolution. Where the annotation is at the
original photograph's size, the score map is carried there through the
photograph's geometry (retina_tf.data.fundus) by nearest neighbour, so that
every pixel keeps a predicted score exactly. A pixel score takes only the few
distinct predicted values, so each photograph reduces to pixel counts per
score: a split of 27 photographs of 4288x2848 is never held at once.
"""

import dataclasses

import numpy as np
from pycocotools import mask as mask_util

from retina_tf import EXUDATE, MICROANEURYSM
from retina_tf.evaluation.records import (
    ABSENT,
    ANNOTATED,
    UNKNOWN,
    Lesions,
    PhotographResult,
    class_name,
    operating_points,
)

# The IDRiD challenge's best AUPR per type (Porwal et al., Medical Image Analysis 59:101561, 2020).
IDRID_BEST_AUPR = {EXUDATE: 0.885, MICROANEURYSM: 0.502}
CURVE_POINTS = 200   # points of the precision-recall curve kept for the report; the AUPR reads them all


@dataclasses.dataclass
class PixelCounts:
    """How many lesion and background pixels score each value; a value may repeat (ties join when counted)."""

    scores: np.ndarray       # [K] float
    lesion: np.ndarray       # [K] int64
    background: np.ndarray   # [K] int64

    @classmethod
    def pooled(cls, counts: list["PixelCounts"]) -> "PixelCounts":
        """The pixels of several photographs together.

        Args:
          counts: one PixelCounts per photograph (none gives empty counts).

        Returns:
          Their entries side by side; equal scores are not merged (operating_points joins ties).
        """
        return cls(np.concatenate([np.zeros(0)] + [c.scores for c in counts]),
                   np.concatenate([np.zeros(0, np.int64)] + [c.lesion for c in counts]),
                   np.concatenate([np.zeros(0, np.int64)] + [c.background for c in counts]))


@dataclasses.dataclass
class PixelAUPR:
    """One lesion type's pixel AUPR over the photographs where it is annotated or absent, with its curve."""
    label: int
    photographs: int           # where the type is annotated or absent
    pixels: int
    lesion_pixels: int
    aupr: float | None         # None where no photograph holds a lesion pixel of the type
    precision: np.ndarray      # the curve, thresholds descending, thinned to CURVE_POINTS
    recall: np.ndarray
    thresholds: np.ndarray


def score_map(predictions: Lesions, label: int, height: int, width: int) -> np.ndarray:
    """Per pixel the highest score of the type's predictions covering it, 0 where none does.

    Args:
      predictions: found lesions, their masks at height x width.
      label: the lesion type's class id.
      height, width: the predictions' resolution.

    Returns:
      [height, width] float64.
    """
    scores = np.zeros((height, width))
    found = predictions.of_class(label)
    if not len(found):
        return scores
    for rle, (x, y, w, h), score in zip(found.masks, mask_util.toBbox(found.masks).astype(int), found.scores):
        region = scores[y:y + h, x:x + w]   # a view: only decoding reads the whole photograph
        covered = mask_util.decode(rle)[y:y + h, x:x + w].astype(bool)
        region[covered] = np.maximum(region[covered], score)
    return scores


def to_original(values: np.ndarray, geometry, fill=0) -> np.ndarray:
    """A map in prediction space carried onto the original photograph by nearest neighbour.

    The eye box receives the whole map, as in fundus.mask_to_original, and
    what falls beyond the photograph's edges is cut off. Each original pixel
    takes the map pixel its centre falls in, so values stay exactly the map's.

    Args:
      values: [h, w] map, any dtype.
      geometry: the photograph's 6 floats: eye box ymin, xmin, ymax, xmax in original pixels, then height, width.
      fill: the value outside the eye box.

    Returns:
      [height, width] of values' dtype.

    Raises:
      ValueError: the eye box is empty along an axis.
    """
    ymin, xmin, ymax, xmax, height, width = np.asarray(geometry, float).astype(int)   # truncated, as tf.cast
    top, rows = _nearest(values.shape[0], ymin, ymax, height)
    left, columns = _nearest(values.shape[1], xmin, xmax, width)
    placed = np.full((height, width), fill, values.dtype)
    placed[top:top + len(rows), left:left + len(columns)] = values[np.ix_(rows, columns)]
    return placed


def _nearest(source: int, start: int, end: int, size: int) -> tuple[int, np.ndarray]:
    """Along one axis: the first photograph pixel in the box [start, end), and for each photograph pixel in it
    the source pixel its centre falls in (integer arithmetic: no rounding at the cell edges)."""
    if end <= start:
        raise ValueError(f"eye box [{start}, {end}) is empty")
    pixels = np.arange(max(start, 0), min(end, size))
    return max(start, 0), np.minimum((2 * (pixels - start) + 1) * source // (2 * (end - start)), source - 1)


def photograph_counts(result: PhotographResult, label: int) -> PixelCounts:
    """One photograph's pixels per score of one lesion type, at its lesion_pixels' resolution.

    Args:
      result: the photograph, the type ANNOTATED (with its lesion_pixels) or ABSENT.
      label: the lesion type's class id.

    Returns:
      Lesion and background pixel counts per score.

    Raises:
      ValueError: the type is UNKNOWN on the photograph, or ANNOTATED without lesion_pixels.
    """
    status = result.status_of(label)
    if status == UNKNOWN:
        raise ValueError(f"photograph {result.image_id}: {class_name(label)} is unknown there, nothing to count")
    if status == ANNOTATED and label not in (result.lesion_pixels or {}):
        raise ValueError(f"photograph {result.image_id}: {class_name(label)} is annotated but has no lesion_pixels")
    scores = score_map(result.predictions, label, result.height, result.width)
    # Pixels travel as indices of the distinct scores: exact, and a fraction of a float map's memory.
    levels, index = np.unique(scores, return_inverse=True)
    index = index.reshape(scores.shape).astype(np.min_scalar_type(len(levels)))
    if result.geometry is not None:
        levels = np.append(levels, 0.0)
        index = to_original(index, result.geometry, fill=len(levels) - 1)
    drawn = None if status == ABSENT else mask_util.decode(result.lesion_pixels[label]).astype(bool)
    return level_counts(levels, index, drawn)


def level_counts(levels: np.ndarray, index: np.ndarray, drawn: np.ndarray | None) -> PixelCounts:
    """Lesion and background pixels per score, from each pixel's index into levels.

    Args:
      levels: [K] the distinct scores.
      index: [height, width] each pixel's index into levels.
      drawn: [height, width] bool, the lesion as drawn; None where the type is absent.

    Returns:
      The counts of the levels some pixel keeps (a score no pixel keeps, its lesions beyond the photograph's
      edge, is no threshold).
    """
    every = np.bincount(index.ravel(), minlength=len(levels))
    lesion = np.zeros_like(every) if drawn is None else np.bincount(index[drawn], minlength=len(levels))
    kept = every > 0
    return PixelCounts(levels[kept], lesion[kept], (every - lesion)[kept])


def precision_recall(counts: PixelCounts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thresholds (each distinct score, descending), and precision and recall of the pixels scoring >= each.

    Args:
      counts: pixel counts holding at least one lesion pixel.

    Returns:
      thresholds, precision, recall.
    """
    thresholds, lesion, background = operating_points(counts.scores, counts.lesion, counts.background)
    lesion, background = lesion[1:], background[1:]   # past the first threshold (inf), which finds nothing
    return thresholds[1:], lesion / (lesion + background), lesion / lesion[-1]


def average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    """sklearn's step-wise average precision: the sum over thresholds of (R_n - R_n-1) * P_n, from R_0 = 0.

    Args:
      precision: [K] at each threshold, descending.
      recall: [K] at the same thresholds, non-decreasing.

    Returns:
      The AUPR, 0 to 1.
    """
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def compute_pixel_aupr(results: list[PhotographResult], label: int) -> PixelAUPR:
    """The IDRiD pixel AUPR of one lesion type over the photographs pooled.

    Args:
      results: the photographs; those where the type is UNKNOWN are left out.
      label: the lesion type's class id.

    Returns:
      The AUPR, its curve and what was counted.

    Raises:
      ValueError: a photograph where the type is ANNOTATED carries no lesion_pixels (a dataset built without
        them cannot give this figure).
    """
    known = [result for result in results if result.status_of(label) != UNKNOWN]
    counts = PixelCounts.pooled([photograph_counts(result, label) for result in known])
    lesion_pixels = int(counts.lesion.sum())
    pixels = lesion_pixels + int(counts.background.sum())
    if not lesion_pixels:
        return PixelAUPR(label, len(known), pixels, 0, None, np.zeros(0), np.zeros(0), np.zeros(0))
    thresholds, precision, recall = precision_recall(counts)
    kept = np.unique(np.linspace(0, len(thresholds) - 1, min(len(thresholds), CURVE_POINTS)).round().astype(int))
    return PixelAUPR(label, len(known), pixels, lesion_pixels, average_precision(precision, recall),
                     precision[kept], recall[kept], thresholds[kept])
