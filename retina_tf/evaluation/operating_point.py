"""The operating point: per lesion type, the score from which a lesion is reported to a clinician.

The model keeps every detection from a low score up (up to 256 per
photograph), which suits the metrics but buries the real lesions under weak
ones on a picture. The threshold is chosen per type on validation
photographs, pooled, with FROC's hit rule (`froc.lesion_hits`): the lowest
score at which the false positives per lesion found are at most a target
(0.5: well under one false positive per find), so that as many lesions as
possible are found at that cost. Where no score reaches the target, the one
with the fewest false positives per find; a type without lesions on those
photographs (or none found) keeps the paper's minimum detection confidence.

`retina-tf evaluate` writes the choice as operating_point.json; `retina-tf
export --operating-point` reads it back into the SavedModel.
"""

import dataclasses
import json
import os

import numpy as np
from etils import epath

from retina_tf import LESION_CLASSES
from retina_tf.evaluation.froc import LesionSweep, lesion_sweep
from retina_tf.evaluation.records import LABELS, PhotographResult, class_name
from retina_tf.utils import storage
from retina_tf.utils.errors import UserError

DEFAULT_THRESHOLD = 0.35    # the paper's minimum detection confidence
DEFAULT_CHOSEN_BY = "default: the paper's minimum detection confidence"
TARGET_FALSE_POSITIVES_PER_FIND = 0.5
FILE_NAME = "operating_point.json"


@dataclasses.dataclass(frozen=True)
class LesionThreshold:
    """One lesion type's threshold, why it was chosen, and what it gives on the photographs it was chosen on.

    Attributes:
      threshold: the score from which a lesion of the type is reported, 0 to 1.
      chosen_by: why, in words (shown in records and summary lines).
      found: lesions hit by a prediction scoring >= threshold.
      lesions: the type's ground-truth lesions on those photographs.
      false_positives: predictions scoring >= threshold that hit no lesion.
    """

    threshold: float
    chosen_by: str
    found: int             # lesions hit by a prediction scoring >= threshold
    lesions: int
    false_positives: int   # predictions scoring >= threshold that hit no lesion


@dataclasses.dataclass(frozen=True)
class OperatingPoint:
    """What an export reports: a threshold per lesion type (LESION_CLASSES) and how they were chosen.

    Attributes:
      thresholds: lesion type -> the score, 0 to 1, from which a lesion of it is reported.
      chosen_by: how they were chosen, in words.
    """

    thresholds: dict[str, float]
    chosen_by: str

    def to_json(self) -> dict:
        """{lesion type: threshold, ..., "chosen_by": ...}, as the export's metadata and the JSON records hold it.

        Returns:
          A new dict, JSON-serialisable.
        """
        return {**self.thresholds, "chosen_by": self.chosen_by}

    def describe(self) -> str:
        """"exudate >= 0.42, microaneurysm >= 0.35": for summary lines and legends.

        Returns:
          One line, thresholds to 4 significant digits.
        """
        return ", ".join(f"{lesion_type} >= {threshold:.4g}" for lesion_type, threshold in self.thresholds.items())


def default_operating_point() -> OperatingPoint:
    """The paper's minimum detection confidence for every type: what an export without a chosen one reports.

    Returns:
      DEFAULT_THRESHOLD for each of LESION_CLASSES, chosen_by DEFAULT_CHOSEN_BY.
    """
    return OperatingPoint(dict.fromkeys(LESION_CLASSES, DEFAULT_THRESHOLD), DEFAULT_CHOSEN_BY)


def uniform_operating_point(min_score: float, chosen_by: str) -> OperatingPoint:
    """One threshold for every type (`retina-tf predict --min-score`).

    Args:
      min_score: the score from which every lesion is reported.
      chosen_by: why, in words.

    Returns:
      min_score for each of LESION_CLASSES.
    """
    return OperatingPoint(dict.fromkeys(LESION_CLASSES, float(min_score)), chosen_by)


def _at(sweep: LesionSweep, threshold: float) -> tuple[int, int]:
    """(found, false positives) at a threshold: the sweep's point of the lowest swept score >= it."""
    index = np.flatnonzero(sweep.thresholds >= threshold)[-1]   # thresholds[0] is inf
    return int(sweep.found[index]), int(sweep.false_positives[index])


def false_positives_per_find(results: list[PhotographResult], label: int, threshold: float = DEFAULT_THRESHOLD
                             ) -> tuple[int, int, int]:
    """The false positives per lesion found of one type at one threshold, as its three counts.

    Args:
      results: photographs; those where the type is unknown are left out (as in FROC).
      label: the lesion type's class id.
      threshold: predictions scoring at or above it count.

    Returns:
      (false positives, lesions found, lesions): predictions that hit no lesion, lesions hit.
    """
    sweep = lesion_sweep(results, label)
    found, false_positives = _at(sweep, threshold)
    return false_positives, found, sweep.lesions


def choose_threshold(results: list[PhotographResult], label: int,
                     target: float = TARGET_FALSE_POSITIVES_PER_FIND,
                     default: float = DEFAULT_THRESHOLD) -> LesionThreshold:
    """One lesion type's threshold on validation photographs, pooled.

    Args:
      results: the validation photographs (the type's unknown ones are left out).
      label: the lesion type's class id.
      target: the most false positives per lesion found that the threshold may give.
      default: the threshold of a type without lesions, or with none found, on these photographs.

    Returns:
      The lowest score at which false positives / found <= target; else the score with the fewest false
      positives per find (the lowest of equals); else the default.
    """
    sweep = lesion_sweep(results, label)
    scores, found, false_positives = sweep.thresholds[1:], sweep.found[1:], sweep.false_positives[1:]
    finding = found > 0
    ratios = np.where(finding, false_positives / np.maximum(found, 1), np.inf)
    name = class_name(label)
    if not sweep.lesions:
        chosen_by, index = f"{DEFAULT_CHOSEN_BY} (no {name} on the photographs)", None
    elif not finding.any():
        chosen_by, index = f"{DEFAULT_CHOSEN_BY} (none of the {sweep.lesions} lesions found)", None
    elif (ratios <= target).any():
        chosen_by = f"the lowest score with at most {target:g} false positives per lesion found"
        index = np.flatnonzero(ratios <= target)[-1]
    else:
        index = np.flatnonzero(ratios == ratios.min())[-1]
        chosen_by = (f"no score reaches {target:g} false positives per lesion found: the lowest score with the "
                     f"fewest, {ratios[index]:.2f}")
    if index is None:
        lesions_found, false = _at(sweep, default)
        return LesionThreshold(float(default), chosen_by, lesions_found, sweep.lesions, false)
    return LesionThreshold(float(scores[index]), chosen_by, int(found[index]), sweep.lesions,
                           int(false_positives[index]))


def choose_operating_point(results: list[PhotographResult], target: float = TARGET_FALSE_POSITIVES_PER_FIND
                           ) -> dict[str, LesionThreshold]:
    """choose_threshold for every lesion type, by name.

    Args:
      results: the validation photographs.
      target: the most false positives per lesion found, for every type.

    Returns:
      lesion type -> its LesionThreshold, in LESION_CLASSES order.
    """
    return {class_name(label): choose_threshold(results, label, target) for label in LABELS}


def summary_line(lesion_type: str, chosen: LesionThreshold) -> str:
    """One line of `retina-tf evaluate`'s output for one type's threshold.

    Args:
      lesion_type: the type's name.
      chosen: its threshold.

    Returns:
      The threshold, why, what it finds and its false positives per find ("n/a" when it finds nothing).
    """
    ratio = f"{chosen.false_positives / chosen.found:.2f}" if chosen.found else "n/a"
    return (f"{lesion_type}: report from score {chosen.threshold:.4g} ({chosen.chosen_by}): {chosen.found} of "
            f"{chosen.lesions} lesions found, {chosen.false_positives} false positives ({ratio} per find)")


def write_operating_point(chosen: dict[str, LesionThreshold], out_dir: str | os.PathLike, split: str,
                          photographs: int, model: str,
                          target: float = TARGET_FALSE_POSITIVES_PER_FIND) -> epath.Path:
    """operating_point.json in out_dir: what `retina-tf export --operating-point` reads.

    Args:
      chosen: choose_operating_point's thresholds.
      out_dir: the evaluation's folder (local or a bucket), created when missing.
      split: the split they were chosen on (validation, for an export).
      photographs: how many photographs it holds.
      model: the model scored (checkpoint or SavedModel).
      target: the false positives per find they were chosen for.

    Returns:
      The file written.
    """
    path = storage.path(out_dir) / FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "split": split, "photographs": photographs, "model": model, "target_false_positives_per_find": target,
        "lesion_types": {lesion_type: dataclasses.asdict(threshold) for lesion_type, threshold in chosen.items()},
    }, indent=2))
    return path


def read_operating_point(path: str | os.PathLike) -> OperatingPoint:
    """The thresholds of an operating_point.json, with how they were chosen; a bad file is one UserError
    line naming it and what is wrong.

    Args:
      path: the file `retina-tf evaluate` wrote.

    Returns:
      Its thresholds per type; chosen_by names the file, the split and each type's reason.

    Raises:
      UserError: no such file, not JSON, no `lesion_types`, an unknown lesion type, or a type whose threshold
        is missing or not a number from 0 to 1.
    """
    path = storage.path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file (retina-tf evaluate --split validation --out DIR writes "
                        f"DIR/{FILE_NAME})")
    try:
        written = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: not JSON ({error})") from None
    if not isinstance(written, dict) or not isinstance(written.get("lesion_types"), dict):
        raise UserError(f"{path}: no 'lesion_types': not an {FILE_NAME} of retina-tf evaluate")
    types = written["lesion_types"]
    unknown = sorted(set(types) - set(LESION_CLASSES))
    if unknown:
        raise UserError(f"{path}: unknown lesion type(s) {', '.join(map(str, unknown))} "
                        f"(known: {', '.join(LESION_CLASSES)})")
    thresholds, reasons = {}, []
    for lesion_type in LESION_CLASSES:
        entry = types.get(lesion_type)
        threshold = entry.get("threshold") if isinstance(entry, dict) else None
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
            got = "nothing" if threshold is None else json.dumps(threshold)
            raise UserError(f"{path}: lesion_types.{lesion_type}.threshold must be a score from 0 to 1, got {got}")
        thresholds[lesion_type] = float(threshold)
        reasons.append(f"{lesion_type}: {entry.get('chosen_by', 'reason not recorded')}")
    split = written.get("split", "unrecorded")
    return OperatingPoint(thresholds, f"{path}, chosen on the {split} split; {'; '.join(reasons)}")
