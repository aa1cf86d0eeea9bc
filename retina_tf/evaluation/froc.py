"""Lesion-level FROC, the Retinopathy Online Challenge's measure for microaneurysms.

IoU is a harsh judge of lesions a few pixels wide: a box one pixel off a
microaneurysm can have IoU well under 0.5. So a prediction hits a lesion of
its class if their mask IoU reaches hit_iou or if the prediction's box centre
lies inside the lesion's mask. A lesion is found once, by its highest-scoring
hit; a prediction that hits nothing is a false positive; one that hits only
lesions already found is ignored. Photographs where the type is ABSENT count:
every prediction there is a false positive.
"""

import dataclasses

import numpy as np
from pycocotools import mask as mask_util

from retina_tf.evaluation.records import (
    UNKNOWN,
    Lesions,
    PhotographResult,
    by_score,
    mask_iou,
    mean_or_none,
    operating_points,
)

FP_RATES = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)   # false positives per photograph (ROC challenge)
HIT_IOU = 0.2


@dataclasses.dataclass
class FROC:
    """One lesion type's FROC over the photographs where the type is annotated or absent: lesions found
    (sensitivity) against false positives per photograph.
    """
    label: int
    photographs: int                           # where the type is annotated or absent
    lesions: int
    sensitivity_at: dict[float, float | None]  # best sensitivity with FP rate <= the key
    score: float | None                        # mean of sensitivity_at
    fp_rates: np.ndarray                       # the curve, from (0, 0), one point per score threshold
    sensitivities: np.ndarray
    thresholds: np.ndarray


def lesion_hits(predictions: Lesions, ground_truth: Lesions, hit_iou: float = HIT_IOU) -> np.ndarray:
    """[P, G] whether each prediction hits each lesion (labels are not compared).

    Args:
      predictions: P lesions found.
      ground_truth: G lesions drawn, masks at the same height x width.
      hit_iou: the mask IoU from which a prediction hits a lesion even with its box centre off the mask.

    Returns:
      [P, G] bool.
    """
    hits = mask_iou(predictions, ground_truth) >= hit_iou
    centres = np.floor((predictions.boxes[:, :2] + predictions.boxes[:, 2:]) / 2).astype(int)
    for j, (rle, box) in enumerate(zip(ground_truth.masks, ground_truth.boxes)):
        inside = np.all((centres >= box[:2]) & (centres < box[2:]), axis=1)
        if inside.any():  # decode only lesions that could hold a centre
            y, x = centres[inside].T
            hits[inside, j] |= mask_util.decode(rle)[y, x].astype(bool)
    return hits


def first_finds(scores: np.ndarray, hits: np.ndarray) -> np.ndarray:
    """How many lesions each prediction is the highest-scoring hit of.

    Args:
      scores: [P] prediction scores.
      hits: [P, G] bool, from lesion_hits.

    Returns:
      [P] int; 0 for a prediction whose lesions a higher score found first (ties: the earlier prediction).
    """
    found = np.zeros(hits.shape[1], bool)
    finds = np.zeros(len(scores), int)
    for i in by_score(scores):
        new = hits[i] & ~found
        finds[i], found = new.sum(), found | new
    return finds


@dataclasses.dataclass
class LesionSweep:
    """One lesion type's predictions pooled over the photographs where it is annotated or absent, swept
    by score threshold: at thresholds[i], found[i] lesions are hit and false_positives[i] predictions hit
    nothing (thresholds: inf, then each distinct score, descending).

    Attributes:
      photographs: the photographs pooled.
      lesions: the ground-truth lesions of the type on them.
      thresholds: [K + 1] float.
      found: [K + 1] int.
      false_positives: [K + 1] int.
    """

    photographs: int
    lesions: int
    thresholds: np.ndarray
    found: np.ndarray
    false_positives: np.ndarray


def lesion_sweep(results: list[PhotographResult], label: int, hit_iou: float = HIT_IOU) -> LesionSweep:
    """Found lesions and false positives of `label` at every score threshold (FROC's hit rule).

    Args:
      results: the photographs; those where the type is UNKNOWN are left out.
      label: the lesion type's class id.
      hit_iou: as in lesion_hits.

    Returns:
      The sweep, from threshold inf (nothing found, no false positive) down to the lowest score.
    """
    scores, finds, false_positives = [np.zeros(0)], [np.zeros(0, int)], [np.zeros(0, bool)]
    photographs = lesions = 0
    for result in results:
        if result.status_of(label) == UNKNOWN:
            continue
        found, truth = result.predictions.of_class(label), result.ground_truth.of_class(label)
        hits = lesion_hits(found, truth, hit_iou)
        scores.append(found.scores)
        finds.append(first_finds(found.scores, hits))
        false_positives.append(~hits.any(axis=1))
        photographs, lesions = photographs + 1, lesions + len(truth)
    thresholds, found_lesions, false = operating_points(
        np.concatenate(scores), np.concatenate(finds), np.concatenate(false_positives))
    return LesionSweep(photographs, lesions, thresholds, found_lesions, false)


def lesion_froc(results: list[PhotographResult], label: int, hit_iou: float = HIT_IOU,
                fp_rates=FP_RATES) -> FROC:
    """The FROC of one lesion type, and its score: the mean sensitivity at the fp_rates.

    Args:
      results: the photographs; those where the type is UNKNOWN are left out.
      label: the lesion type's class id.
      hit_iou: as in lesion_hits.
      fp_rates: false positives per photograph at which sensitivity is read (the ROC challenge's seven).

    Returns:
      The FROC; sensitivity_at[rate] is the best sensitivity at no more than `rate` false positives per
      photograph. Without a ground-truth lesion of the type, sensitivities and score are None and the curve empty.
    """
    sweep = lesion_sweep(results, label, hit_iou)
    photographs, lesions, thresholds = sweep.photographs, sweep.lesions, sweep.thresholds
    rates = tuple(float(rate) for rate in fp_rates)
    if not lesions:
        return FROC(label, photographs, lesions, dict.fromkeys(rates), None,
                    np.zeros(0), np.zeros(0), np.zeros(0))
    fp_rate, sensitivity = sweep.false_positives / photographs, sweep.found / lesions
    at = {rate: float(sensitivity[fp_rate <= rate].max()) for rate in rates}
    return FROC(label, photographs, lesions, at, mean_or_none(list(at.values())),
                fp_rate, sensitivity, thresholds)
