"""The seed paper's metric: per-photograph mask AP at IoU 0.35, 0.50 and 0.75, averaged.

The paper scored with matterport Mask R-CNN's utils.compute_matches and
utils.compute_ap after its annotated-type filter. This is the same arithmetic
without matterport's bug: it tests gt_match > 0 instead of > -1 for "already
matched", so a duplicate of the lesion matched by the top-scoring prediction
counted as a second true positive.

A photograph with no lesion (after the filter) has no AP (nothing to find);
it is counted, and its false positives are charged by FROC and screening.
"""

import dataclasses

import numpy as np

from retina_tf.evaluation.records import (
    LABELS,
    Lesions,
    PhotographResult,
    by_score,
    filter_to_known,
    mask_iou,
    mean_or_none,
)

IOU_THRESHOLDS = (0.35, 0.5, 0.75)


def match_lesions(predictions: Lesions, ground_truth: Lesions, iou_threshold: float,
                  overlaps: np.ndarray | None = None) -> np.ndarray:
    """Index of the lesion each prediction matches, or -1.

    Greedy from the highest score: a prediction takes the unmatched lesion of its own
    class with the highest mask IoU, if that IoU reaches the threshold.

    Args:
      predictions: P lesions found, with scores.
      ground_truth: G lesions drawn, masks at the same height x width.
      iou_threshold: the mask IoU from which a prediction matches a lesion.
      overlaps: [P, G] mask IoU when already computed (one matrix for every threshold); None computes it.

    Returns:
      [P] int: an index into ground_truth, or -1.
    """
    if overlaps is None:
        overlaps = mask_iou(predictions, ground_truth)
    matches = np.full(len(predictions), -1)
    matched = np.zeros(len(ground_truth), bool)
    for i in by_score(predictions.scores):
        for j in np.argsort(-overlaps[i], kind="stable"):
            if overlaps[i, j] < iou_threshold:
                break
            if not matched[j] and ground_truth.labels[j] == predictions.labels[i]:
                matched[j], matches[i] = True, j
                break
    return matches


def precision_recall(scores, hits, lesions: int) -> tuple[np.ndarray, np.ndarray]:
    """Recall and precision after each prediction, ranked by score.

    Args:
      scores: [P].
      hits: [P] bool, whether each prediction matched a lesion.
      lesions: the lesions to find, at least 1.

    Returns:
      (recall, precision): [P] float each, in score order (highest first).
    """
    true_positives = np.cumsum(np.asarray(hits, bool)[by_score(scores)])
    return true_positives / lesions, true_positives / np.arange(1, len(true_positives) + 1)


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC all-point interpolated area under the curve (matterport's compute_ap).

    Args:
      recall: [P], non-decreasing.
      precision: [P].

    Returns:
      The AP, 0 to 1 (0 without predictions).
    """
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.maximum.accumulate(np.concatenate([[0.0], precision, [0.0]])[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


@dataclasses.dataclass
class PrecisionRecall:
    """One class's predictions of all photographs ranked together: a curve to plot.

    Attributes:
      recall: [P] after each prediction, highest score first.
      precision: [P] likewise.
      average_precision: the curve's AP; None (and the curve empty) where the class has no lesion.
    """

    recall: np.ndarray
    precision: np.ndarray
    average_precision: float | None


@dataclasses.dataclass
class PaperMAP:
    """The paper's metric at each IoU threshold, overall and per class id, with pooled curves to plot.

    class_photographs counts the photographs averaged into class_mean_ap; curves[label][iou] pools one
    class's predictions over all photographs.
    """
    iou_thresholds: tuple[float, ...]
    mean_ap: dict[float, float | None]                  # over photographs with lesions
    class_mean_ap: dict[int, dict[float, float | None]]  # over photographs with that class's lesions
    photographs: int                                    # averaged into mean_ap
    class_photographs: dict[int, int]
    photographs_without_lesions: int                    # counted, not averaged
    curves: dict[int, dict[float, PrecisionRecall]]


def compute_paper_map(results: list[PhotographResult], iou_thresholds=IOU_THRESHOLDS) -> PaperMAP:
    """The paper's mean of per-photograph mask AP at each IoU threshold, after its annotated-type filter.

    Args:
      results: the photographs scored.
      iou_thresholds: mask IoUs from which a prediction matches a lesion.

    Returns:
      The metric; a mean is None where no photograph has a lesion to average.
    """
    thresholds = tuple(float(t) for t in iou_thresholds)
    photograph_ap = {t: [] for t in thresholds}
    class_ap = {label: {t: [] for t in thresholds} for label in LABELS}
    pooled = {label: {t: ([], []) for t in thresholds} for label in LABELS}
    class_lesions = dict.fromkeys(LABELS, 0)
    class_photographs = dict.fromkeys(LABELS, 0)
    without_lesions = 0
    for result in map(filter_to_known, results):
        truth, found = result.ground_truth, result.predictions
        without_lesions += not len(truth)
        overlaps = mask_iou(found, truth)
        for t in thresholds:
            hits = match_lesions(found, truth, t, overlaps) > -1
            if len(truth):
                photograph_ap[t].append(average_precision(*precision_recall(found.scores, hits, len(truth))))
            # Matching never crosses classes, so one class's hits are those of its own matching.
            for label in LABELS:
                mine, lesions = found.labels == label, int(np.sum(truth.labels == label))
                if lesions:
                    class_ap[label][t].append(
                        average_precision(*precision_recall(found.scores[mine], hits[mine], lesions)))
                pooled[label][t][0].append(found.scores[mine])
                pooled[label][t][1].append(hits[mine])
        for label in LABELS:
            class_lesions[label] += int(np.sum(truth.labels == label))
            class_photographs[label] += bool(np.any(truth.labels == label))
    return PaperMAP(
        iou_thresholds=thresholds,
        mean_ap={t: mean_or_none(photograph_ap[t]) for t in thresholds},
        class_mean_ap={label: {t: mean_or_none(class_ap[label][t]) for t in thresholds} for label in LABELS},
        photographs=len(results) - without_lesions,
        class_photographs=class_photographs,
        photographs_without_lesions=without_lesions,
        curves={label: {t: _pooled_curve(*pooled[label][t], class_lesions[label]) for t in thresholds}
                for label in LABELS})


def _pooled_curve(scores: list, hits: list, lesions: int) -> PrecisionRecall:
    if not lesions:
        return PrecisionRecall(np.zeros(0), np.zeros(0), None)
    recall, precision = precision_recall(np.concatenate(scores), np.concatenate(hits), lesions)
    return PrecisionRecall(recall, precision, average_precision(recall, precision))
