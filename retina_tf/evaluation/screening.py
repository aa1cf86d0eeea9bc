"""Photograph-level screening: does this photograph show exudates, microaneurysms, any lesion?

A clinic acts on the referral, not on the outlines, so a photograph's score for
a lesion type is the highest score the model gives any lesion of that type (0
if none). It is positive for a type if that type's lesions are drawn on it,
negative if the type is ABSENT (or ANNOTATED with nothing drawn), and left out
where the type is UNKNOWN. "Any lesion" looks at the known types only.
"""

import dataclasses

import numpy as np

from retina_tf.evaluation.records import LABELS, PhotographResult, class_name, operating_points

ANY_LESION = "any lesion"
OPERATING_THRESHOLD = 0.5


@dataclasses.dataclass
class Screening:
    """Screening figures of one lesion type (or any lesion) over the photographs where it is known."""
    name: str                  # lesion type, or ANY_LESION
    positives: int
    negatives: int
    threshold: float           # operating threshold: positive if score >= threshold
    sensitivity: float | None
    specificity: float | None
    auc: float | None
    note: str | None           # why a figure is undefined
    false_positive_rates: np.ndarray   # ROC curve, from (0, 0) to (1, 1)
    true_positive_rates: np.ndarray
    thresholds: np.ndarray


def photograph_score(result: PhotographResult, label: int) -> float:
    """A photograph's screening score for one type: the highest score of its predictions of that type.

    Args:
      result: the photograph.
      label: the lesion type's class id.

    Returns:
      The score, 0 to 1; 0.0 where it has no prediction of the type.
    """
    found = result.predictions
    return float(found.scores[found.labels == label].max(initial=0.0))


def screening_figures(name: str, truths, scores, threshold: float = OPERATING_THRESHOLD) -> Screening:
    """Sensitivity and specificity at the threshold, and the ROC curve.

    Args:
      name: the lesion type, or ANY_LESION.
      truths: [N] bool, each photograph positive (lesions drawn) or negative.
      scores: [N] each photograph's score.
      threshold: the score from which a photograph is referred.

    Returns:
      The figures; where positives or negatives are missing, those that need them are None, the curve is empty
      and `note` says why.
    """
    truths, scores = np.asarray(truths, bool), np.asarray(scores, float)
    positives, negatives = int(truths.sum()), int((~truths).sum())
    referred = scores >= threshold
    thresholds, true_positives, false_positives = operating_points(scores, truths, ~truths)
    defined = positives and negatives
    fpr = false_positives / negatives if defined else np.zeros(0)
    tpr = true_positives / positives if defined else np.zeros(0)
    return Screening(
        name, positives, negatives, float(threshold),
        sensitivity=float(referred[truths].mean()) if positives else None,
        specificity=float((~referred[~truths]).mean()) if negatives else None,
        auc=float(np.trapezoid(tpr, fpr)) if defined else None,
        note=_undefined(positives, negatives),
        false_positive_rates=fpr, true_positive_rates=tpr,
        thresholds=thresholds if defined else np.zeros(0))


def screen_photographs(results: list[PhotographResult],
                       threshold: float = OPERATING_THRESHOLD) -> dict[str, Screening]:
    """Per lesion type and for any lesion.

    Args:
      results: the photographs; a type is left out where UNKNOWN, any lesion where no type is known.
      threshold: the score from which a photograph is referred, for every type.

    Returns:
      lesion type or ANY_LESION -> its Screening.
    """
    truths = {label: [] for label in (*LABELS, ANY_LESION)}
    scores = {label: [] for label in truths}
    for result in results:
        known = result.known_labels
        for label in known:
            truths[label].append(bool(np.any(result.ground_truth.labels == label)))
            scores[label].append(photograph_score(result, label))
        if known:
            truths[ANY_LESION].append(any(truths[label][-1] for label in known))
            scores[ANY_LESION].append(max(scores[label][-1] for label in known))
    names = {**{label: class_name(label) for label in LABELS}, ANY_LESION: ANY_LESION}
    return {names[key]: screening_figures(names[key], truths[key], scores[key], threshold) for key in truths}


def _undefined(positives: int, negatives: int) -> str | None:
    if not positives and not negatives:
        return "no photographs where this type is known"
    if not negatives:
        return "no negative photographs: specificity and AUC undefined"
    if not positives:
        return "no positive photographs: sensitivity and AUC undefined"
    return None
