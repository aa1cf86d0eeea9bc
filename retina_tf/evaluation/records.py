"""Ground truth and predictions of one photograph, in the form every metric reads.

Masks are pycocotools RLEs: 256 predictions on a 1024x1024 photograph cost
kilobytes instead of 256 MB, and COCOeval reads them unchanged.

e-ophtha draws exudates and microaneurysms in two separate sets, so for each
photograph and lesion type we record what is known: ANNOTATED (the type's
mask exists), ABSENT (the photograph is in that set's healthy folder) or
UNKNOWN (the photograph is not in that set at all).
"""

import dataclasses

import numpy as np
from pycocotools import mask as mask_util

from retina_tf import ABSENT, ANNOTATED, LESION_CLASSES, STATUSES, UNKNOWN  # noqa: F401  (re-exported)

LABELS = tuple(range(1, len(LESION_CLASSES) + 1))


def class_name(label: int) -> str:
    """The lesion type of a class id.

    Args:
      label: 1 (exudate) or 2 (microaneurysm); 0, the background, has no name.

    Returns:
      Its name in LESION_CLASSES.
    """
    return LESION_CLASSES[label - 1]


def encode_mask(mask: np.ndarray) -> dict:
    """RLE of one HxW mask (pycocotools wants Fortran-ordered uint8).

    Args:
      mask: H x W, non-zero (or True) on the mask.

    Returns:
      A pycocotools RLE: {"size": [H, W], "counts": bytes}.
    """
    return mask_util.encode(np.asfortranarray(mask[:, :, None], dtype=np.uint8))[0]


def by_score(scores: np.ndarray) -> np.ndarray:
    """Indices from the highest score down; stable, so ties keep their input order.

    Args:
      scores: [N].

    Returns:
      [N] int indices into scores.
    """
    return np.argsort(-np.asarray(scores, float), kind="stable")


def operating_points(scores, *counts):
    """Thresholds (inf, then each distinct score, descending) and each count's sum over
    predictions scoring >= the threshold. Tied scores enter together: no threshold parts them.

    Args:
      scores: [N] prediction scores.
      *counts: [N] each, a number per prediction (1 for a true positive, say).

    Returns:
      (thresholds, *sums): [K + 1] each for K distinct scores; the first threshold is inf, where every sum is 0.
    """
    order = by_score(scores)
    ranked = np.asarray(scores, float)[order]
    ends = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True)[:len(ranked)])
    cumulative = [np.concatenate([[0], np.cumsum(np.asarray(count)[order])[ends]]) for count in counts]
    return (np.concatenate([[np.inf], ranked[ends]]), *cumulative)


def mean_or_none(values) -> float | None:
    """Means over nothing are undefined: None, never NaN.

    Args:
      values: a sequence of numbers.

    Returns:
      Their mean as a float, or None when there are none.
    """
    return float(np.mean(values)) if len(values) else None


@dataclasses.dataclass
class Lesions:
    """Lesions on one photograph: ground truth (scores None) or predictions.

    Raises:
      ValueError: boxes, labels, masks and scores (where given) differ in length.
    """

    boxes: np.ndarray                  # [N, 4] float ymin, xmin, ymax, xmax pixels, end exclusive
    labels: np.ndarray                 # [N] int class ids
    masks: list                        # N pycocotools RLE dicts
    scores: np.ndarray | None = None   # [N] float for predictions

    def __post_init__(self):
        self.boxes = np.asarray(self.boxes, float).reshape(-1, 4)
        self.labels = np.asarray(self.labels, np.int64).reshape(-1)
        self.masks = list(self.masks)
        if self.scores is not None:
            self.scores = np.asarray(self.scores, float).reshape(-1)
        sizes = {len(self.boxes), len(self.labels), len(self.masks)}
        if self.scores is not None:
            sizes.add(len(self.scores))
        if len(sizes) > 1:
            raise ValueError(f"boxes, labels, masks and scores differ in length: {sorted(sizes)}")

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def from_masks(cls, masks, labels, scores=None) -> "Lesions":
        """From full-size [N, H, W] masks; boxes are drawn tight around them.

        Args:
          masks: [N, H, W], non-zero on each lesion.
          labels: [N] class ids.
          scores: [N] for predictions; None for ground truth.

        Returns:
          The lesions, each box (ymin, xmin, ymax, xmax, end exclusive) the bounds of its mask (zeros for an
          empty one).
        """
        rles = [encode_mask(mask) for mask in np.asarray(masks, bool)]
        x, y, w, h = mask_util.toBbox(rles).reshape(-1, 4).T if rles else np.zeros((4, 0))
        return cls(np.stack([y, x, y + h, x + w], axis=1), labels, rles, scores)

    @classmethod
    def from_box_masks(cls, boxes, box_masks, labels, height, width, scores=None) -> "Lesions":
        """From masks cropped to each box rounded to whole pixels (retina_tf.data.lesions.Lesion,
        or a model's pasted mask crops); the parts outside the photograph are dropped.

        Args:
          boxes: [N, 4] ymin, xmin, ymax, xmax in pixels of the photograph, kept as given.
          box_masks: N bool crops, each the size of its box rounded to whole pixels.
          labels: [N] class ids.
          height: the photograph's height in pixels.
          width: its width in pixels.
          scores: [N] for predictions; None for ground truth.

        Returns:
          The lesions, their masks RLEs at height x width.

        Raises:
          ValueError: a crop is not the size of its rounded box.
        """
        boxes = np.asarray(boxes, float).reshape(-1, 4)
        canvas = np.zeros((height, width), bool)
        rles = []
        for (ymin, xmin, ymax, xmax), crop in zip(np.round(boxes).astype(int), box_masks):
            if np.shape(crop) != (ymax - ymin, xmax - xmin):
                raise ValueError(f"mask crop {np.shape(crop)} does not fit box {(ymin, xmin, ymax, xmax)}")
            top, left = max(ymin, 0), max(xmin, 0)
            bottom, right = min(ymax, height), min(xmax, width)
            canvas[:] = False
            if bottom > top and right > left:
                canvas[top:bottom, left:right] = crop[top - ymin:bottom - ymin, left - xmin:right - xmin]
            rles.append(encode_mask(canvas))
        return cls(boxes, labels, rles, scores)

    @classmethod
    def empty(cls, height, width) -> "Lesions":
        """No lesions, as the ground truth of a photograph of height x width pixels (scores None).

        Args:
          height: pixels.
          width: pixels.

        Returns:
          Lesions of length 0.
        """
        return cls.from_masks(np.zeros((0, height, width), bool), [])

    def select(self, keep) -> "Lesions":
        """The lesions picked by a boolean mask or an index array.

        Args:
          keep: [N] bool, or indices (in the order wanted).

        Returns:
          New Lesions; these are not changed.
        """
        index = np.arange(len(self))[keep]
        scores = None if self.scores is None else self.scores[index]
        return Lesions(self.boxes[index], self.labels[index], [self.masks[i] for i in index], scores)

    def of_class(self, label: int) -> "Lesions":
        """The lesions of one type.

        Args:
          label: a class id.

        Returns:
          New Lesions holding those whose label is `label`.
        """
        return self.select(self.labels == label)


@dataclasses.dataclass
class PhotographResult:
    """One photograph: what is known about it, what is drawn on it, what the model found.

    Attributes:
      image_id: the dataset's `image/id`.
      height: pixels of the image the boxes and masks are in (the dataset's resolution, or the photograph's).
      width: the same, across.
      ground_truth: the lesions drawn, as instances; scores None.
      predictions: the lesions found; given without scores only when there are none.
      status, lesion_pixels and geometry are described where they are declared.

    Raises:
      ValueError: an unknown status, ground truth of a type marked absent, predictions without scores, or
        lesion_pixels not of the annotated types or not at pixel_size.
    """

    image_id: int
    height: int
    width: int
    status: dict[int, str]     # class id -> ANNOTATED | ABSENT | UNKNOWN (missing: UNKNOWN)
    ground_truth: Lesions
    predictions: Lesions
    # For the pixel AUPR (evaluation.pixel_aupr): class id -> RLE of the annotation as drawn (not split into
    # dilated instances), for each ANNOTATED type; None where the photograph carries none.
    lesion_pixels: dict[int, dict] | None = None
    # The 6-value geometry (retina_tf.data.fundus) from height x width to lesion_pixels' resolution, the
    # original photograph's; None where lesion_pixels are at height x width.
    geometry: np.ndarray | None = None

    def __post_init__(self):
        if set(self.status.values()) - set(STATUSES):
            raise ValueError(f"status must be one of {STATUSES}, got {self.status}")
        if any(self.status_of(label) == ABSENT for label in self.ground_truth.labels):
            raise ValueError(f"photograph {self.image_id}: ground truth drawn for a type marked absent")
        if self.predictions.scores is None:
            if len(self.predictions):
                raise ValueError(f"photograph {self.image_id}: predictions need scores")
            self.predictions = dataclasses.replace(self.predictions, scores=np.zeros(0))
        if self.geometry is not None:
            self.geometry = np.asarray(self.geometry, float).reshape(6)
        if self.lesion_pixels is not None:
            annotated = [label for label in LABELS if self.status_of(label) == ANNOTATED]
            if sorted(self.lesion_pixels) != annotated:
                raise ValueError(f"photograph {self.image_id}: lesion_pixels of types {sorted(self.lesion_pixels)} "
                                 f"where {annotated} are annotated")
            sizes = {tuple(int(side) for side in rle["size"]) for rle in self.lesion_pixels.values()}
            if sizes - {self.pixel_size}:
                raise ValueError(f"photograph {self.image_id}: lesion_pixels of size {sorted(sizes)} where the "
                                 f"{'geometry' if self.geometry is not None else 'photograph'} gives "
                                 f"{self.pixel_size}")

    @property
    def pixel_size(self) -> tuple[int, int]:
        """(height, width) of lesion_pixels: the original photograph's where a geometry maps there."""
        if self.geometry is None:
            return self.height, self.width
        return int(self.geometry[4]), int(self.geometry[5])

    def status_of(self, label: int) -> str:
        """What is known about one lesion type here.

        Args:
          label: a class id.

        Returns:
          ANNOTATED, ABSENT or UNKNOWN (a type missing from status is UNKNOWN).
        """
        return self.status.get(label, UNKNOWN)

    @property
    def known_labels(self) -> tuple[int, ...]:
        """The class ids annotated or known absent here: the types a metric can score on this photograph."""
        return tuple(label for label in LABELS if self.status_of(label) != UNKNOWN)


def filter_to_known(result: PhotographResult) -> PhotographResult:
    """The paper's annotated-type filter: a type nobody looked for on this photograph
    can be neither found nor missed, so its predictions (and ground truth) are dropped.

    Args:
      result: one photograph.

    Returns:
      A copy without the lesions of its UNKNOWN types.
    """
    known = result.known_labels
    return dataclasses.replace(
        result,
        ground_truth=result.ground_truth.select(np.isin(result.ground_truth.labels, known)),
        predictions=result.predictions.select(np.isin(result.predictions.labels, known)))


def mask_iou(predictions: Lesions, ground_truth: Lesions) -> np.ndarray:
    """[P, G] mask IoU.

    Args:
      predictions: P lesions.
      ground_truth: G lesions, masks at the same height x width.

    Returns:
      [P, G] float in [0, 1], every ground truth counted as a plain (not crowd) object.
    """
    if not len(predictions) or not len(ground_truth):
        return np.zeros((len(predictions), len(ground_truth)))
    return np.asarray(mask_util.iou(predictions.masks, ground_truth.masks, [0] * len(ground_truth)), float)
