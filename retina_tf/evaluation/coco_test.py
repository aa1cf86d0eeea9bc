"""Tests for COCO AP: equal to pycocotools' own COCOeval, and not capped at 100 lesions."""

import contextlib
import io

import numpy as np
import pytest
from pycocotools import mask as mask_util
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from retina_tf import EXUDATE, MICROANEURYSM
from retina_tf.evaluation import coco
from retina_tf.evaluation.records import ABSENT, ANNOTATED, UNKNOWN
from retina_tf.testing.evaluation import SHAPE, disk, photograph, rectangle

SCENES = [  # (image id, status, ground truth (label, mask), predictions (label, mask, score))
    (1, {EXUDATE: ANNOTATED, MICROANEURYSM: ANNOTATED},
     [(EXUDATE, rectangle(0, 0, 20, 20)), (EXUDATE, rectangle(30, 30, 40, 52)),
      (MICROANEURYSM, disk(50, 10, 2))],
     [(EXUDATE, rectangle(1, 0, 20, 19), 0.9), (EXUDATE, rectangle(30, 34, 40, 52), 0.6),
      (MICROANEURYSM, disk(50, 11, 2), 0.7), (MICROANEURYSM, rectangle(5, 40, 8, 43), 0.8)]),
    (2, {EXUDATE: ABSENT, MICROANEURYSM: ANNOTATED},
     [(MICROANEURYSM, disk(20, 20, 3)), (MICROANEURYSM, disk(40, 45, 2))],
     [(MICROANEURYSM, disk(20, 21, 3), 0.95), (EXUDATE, rectangle(0, 0, 9, 9), 0.5)]),
    (3, {EXUDATE: ANNOTATED}, [(EXUDATE, rectangle(10, 10, 30, 40))],
     [(EXUDATE, rectangle(12, 10, 30, 40), 0.85), (MICROANEURYSM, disk(50, 50, 2), 0.99)]),  # MA unknown
]


def results():
    return [photograph(truth, found, status, image_id) for image_id, status, truth, found in SCENES]


def pycocotools_stats(iou_type):
    """COCOeval run the ordinary way, with the unknown-type prediction left out by hand."""
    images, annotations, detections = [], [], []
    for image_id, status, truth, found in SCENES:
        images.append({"id": image_id, "height": SHAPE[0], "width": SHAPE[1]})
        for label, mask in truth:
            rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": label,
                                "segmentation": rle, "area": float(mask.sum()),
                                "bbox": mask_util.toBbox(rle).tolist(), "iscrowd": 0})
        for label, mask, score in found:
            if status.get(label, UNKNOWN) != UNKNOWN:
                rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
                box = mask_util.toBbox(rle).tolist()
                shape = {"bbox": box} if iou_type == "bbox" else {"segmentation": rle}
                detections.append({"image_id": image_id, "category_id": label, "score": score, **shape})
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = {"images": images, "annotations": annotations,
                         "categories": [{"id": 1, "name": "exudate"}, {"id": 2, "name": "microaneurysm"}]}
        truth.createIndex()
        evaluator = COCOeval(truth, truth.loadRes(detections), iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator.stats


@pytest.mark.parametrize("iou_type", coco.IOU_TYPES)
def test_stats_equal_pycocotools_own(iou_type):
    ours = coco.coco_metrics(results(), iou_type)
    # At most 10 detections per photograph, so COCOeval's AR@100 is our AR@256.
    expected = pycocotools_stats(iou_type)
    got = [-1 if value is None else value for value in ours.stats.values()]
    np.testing.assert_allclose(got, expected)
    assert 0 < ours.stats["AP"] < 1


def test_perfect_predictions_score_one():
    perfect = [photograph(truth, [(label, mask, 0.9) for label, mask in truth], status, image_id)
               for image_id, status, truth, _ in SCENES]
    for iou_type in coco.IOU_TYPES:
        metrics = coco.coco_metrics(perfect, iou_type)
        assert metrics.stats["AP"] == metrics.stats["AP50"] == metrics.stats["AP75"] == 1.0
        assert metrics.class_stats[MICROANEURYSM] == {"AP": 1.0, "AP50": 1.0}


def test_more_than_100_lesions_are_all_scored():
    # 121 microaneurysms of 2x2 pixels; COCOeval's default cap would drop 21 of the perfect detections.
    lesions = [(MICROANEURYSM, rectangle(y, x, y + 2, x + 2))
               for y in range(0, 55, 5) for x in range(0, 55, 5)]
    result = photograph(lesions, [(label, mask, 0.5 + i / 1000) for i, (label, mask) in enumerate(lesions)])
    assert coco.coco_metrics([result], "segm").stats["AP"] == 1.0


def test_no_predictions_and_no_photographs():
    silent = [photograph(truth, [], status, image_id) for image_id, status, truth, _ in SCENES]
    assert coco.coco_metrics(silent, "bbox").stats["AP"] == 0.0
    empty = coco.coco_metrics([], "segm")
    assert set(empty.stats.values()) == {None}
    assert empty.class_stats[EXUDATE] == {"AP": None, "AP50": None}


def test_boxes_become_xywh():
    np.testing.assert_array_equal(coco.coco_box([[2, 3, 7, 12]]), [[3, 2, 9, 5]])
