"""COCO AP of the lesions, computed by pycocotools' own COCOeval.

Two departures from COCO's defaults, both forced by the model: it keeps up to
256 lesions per photograph, so maxDets is (1, 10, 256) instead of COCOeval's
(1, 10, 100); and the summary is read from eval['precision'] and
eval['recall'] directly, because COCOeval.summarize() looks the headline AP up
at maxDets=100 and reports -1 for any other cap. Predictions pass the paper's
annotated-type filter first, as for the paper's metric.
"""

import contextlib
import dataclasses
import io

import numpy as np
from pycocotools import mask as mask_util
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from retina_tf.evaluation.records import LABELS, PhotographResult, class_name, filter_to_known

MAX_DETECTIONS = (1, 10, 256)
IOU_TYPES = ("bbox", "segm")
# name -> (precision or recall, IoU threshold (None: 0.50:0.95), area range, max detections)
STATS = {
    "AP": (True, None, "all", MAX_DETECTIONS[-1]),
    "AP50": (True, 0.5, "all", MAX_DETECTIONS[-1]),
    "AP75": (True, 0.75, "all", MAX_DETECTIONS[-1]),
    "APs": (True, None, "small", MAX_DETECTIONS[-1]),
    "APm": (True, None, "medium", MAX_DETECTIONS[-1]),
    "APl": (True, None, "large", MAX_DETECTIONS[-1]),
    **{f"AR{cap}": (False, None, "all", cap) for cap in MAX_DETECTIONS},
    "ARs": (False, None, "small", MAX_DETECTIONS[-1]),
    "ARm": (False, None, "medium", MAX_DETECTIONS[-1]),
    "ARl": (False, None, "large", MAX_DETECTIONS[-1]),
}
CLASS_STATS = ("AP", "AP50")


@dataclasses.dataclass
class CocoMetrics:
    """COCOeval's summary of one IoU type, overall and per lesion type, at MAX_DETECTIONS."""
    iou_type: str                                       # "bbox" or "segm"
    stats: dict[str, float | None]                      # STATS names; None where COCOeval has -1
    class_stats: dict[int, dict[str, float | None]]     # class id -> AP, AP50


def coco_box(boxes: np.ndarray) -> np.ndarray:
    """(ymin, xmin, ymax, xmax) -> COCO (x, y, width, height).

    Args:
      boxes: [N, 4] in pixels (reshaped, so one box of 4 values also goes).

    Returns:
      [N, 4] float.
    """
    ymin, xmin, ymax, xmax = np.asarray(boxes, float).reshape(-1, 4).T
    return np.stack([xmin, ymin, xmax - xmin, ymax - ymin], axis=1)


def coco_ground_truth(results: list[PhotographResult]) -> dict:
    """A COCO dataset dict of the photographs and their lesions (areas are mask areas).

    Args:
      results: the photographs, their image ids unique.

    Returns:
      {"images", "categories", "annotations"} as pycocotools' COCO reads them: annotation ids from 1, RLE
      segmentations, nothing crowd.

    Raises:
      ValueError: two photographs share an image id.
    """
    ids = [result.image_id for result in results]
    if len(set(ids)) != len(ids):
        raise ValueError("image ids must be unique")
    annotations = []
    for result in results:
        truth = result.ground_truth
        for box, label, rle in zip(coco_box(truth.boxes), truth.labels, truth.masks):
            annotations.append({
                "id": len(annotations) + 1, "image_id": result.image_id, "category_id": int(label),
                "bbox": box.tolist(), "area": float(mask_util.area(rle)), "segmentation": rle,
                "iscrowd": 0})
    return {
        "images": [{"id": r.image_id, "height": r.height, "width": r.width} for r in results],
        "categories": [{"id": label, "name": class_name(label)} for label in LABELS],
        "annotations": annotations,
    }


def coco_detections(results: list[PhotographResult], iou_type: str) -> list[dict]:
    """COCO result entries; boxes only for bbox, masks only for segm, so that
    COCO.loadRes takes each detection's area from what is being scored.

    Args:
      results: the photographs, with their predictions.
      iou_type: "bbox" or "segm".

    Returns:
      One dict per prediction: image_id, category_id, score, and bbox or segmentation.
    """
    detections = []
    for result in results:
        found = result.predictions
        for box, label, rle, score in zip(coco_box(found.boxes), found.labels, found.masks, found.scores):
            shape = {"bbox": box.tolist()} if iou_type == "bbox" else {"segmentation": rle}
            detections.append({"image_id": result.image_id, "category_id": int(label),
                               "score": float(score), **shape})
    return detections


def coco_metrics(results: list[PhotographResult], iou_type: str) -> CocoMetrics:
    """COCO AP and AR of the lesions by box or by mask, after the paper's annotated-type filter.

    Args:
      results: the photographs scored; their image ids unique.
      iou_type: "bbox" or "segm".

    Returns:
      The summary; a value is None where COCOeval has nothing to average (no results, or no lesion of a type
      or an area range).

    Raises:
      ValueError: iou_type is neither, or two photographs share an image id.
    """
    if iou_type not in IOU_TYPES:
        raise ValueError(f"iou_type must be one of {IOU_TYPES}, got {iou_type!r}")
    if not results:
        return CocoMetrics(iou_type, dict.fromkeys(STATS), {label: dict.fromkeys(CLASS_STATS) for label in LABELS})
    results = [filter_to_known(result) for result in results]
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        ground_truth = COCO()
        ground_truth.dataset = coco_ground_truth(results)
        ground_truth.createIndex()
        detections = coco_detections(results, iou_type)
        if detections:
            predicted = ground_truth.loadRes(detections)
        else:
            predicted = COCO()
            predicted.dataset = {**ground_truth.dataset, "annotations": []}
            predicted.createIndex()
        evaluator = COCOeval(ground_truth, predicted, iou_type)
        evaluator.params.maxDets = list(MAX_DETECTIONS)
        evaluator.evaluate()
        evaluator.accumulate()
    return CocoMetrics(
        iou_type,
        {name: _summary(evaluator, *spec) for name, spec in STATS.items()},
        {label: {name: _summary(evaluator, *STATS[name], label=label) for name in CLASS_STATS}
         for label in LABELS})


def _summary(evaluator: COCOeval, precision: bool, iou: float | None, area: str, cap: int,
             label: int | None = None) -> float | None:
    """COCOeval.summarize()'s mean over the valid (> -1) entries, at any maxDets."""
    params = evaluator.params
    values = evaluator.eval["precision" if precision else "recall"]
    # precision is [IoU, recall, class, area, cap], recall [IoU, class, area, cap]
    values = values[..., params.areaRngLbl.index(area), params.maxDets.index(cap)]
    if iou is not None:
        values = values[np.isclose(params.iouThrs, iou)]
    if label is not None:
        values = values[..., params.catIds.index(label)]
    valid = values[values > -1]
    return float(valid.mean()) if valid.size else None
