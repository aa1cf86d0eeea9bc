"""Tests for turning Mask R-CNN outputs and e_ophtha ground truth into PhotographResults."""

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_util

from retina_tf import EXUDATE
from retina_tf.evaluation import detections, paper_map, pixel_aupr
from retina_tf.testing.evaluation import rectangle


def _png(crop):
    return cv2.imencode(".png", crop.astype(np.uint8) * 255)[1].tobytes()


def _batch():
    """One 64x64 photograph seen by the model at 32x32 (scale 0.5): an exudate at rows 10..20, cols 30..40."""
    crop = np.ones((10, 10), bool)
    groundtruths = {
        "source_id": np.array([7]), "height": np.array([64]), "width": np.array([64]),
        "num_detections": np.array([1]),
        "boxes": np.array([[[10, 30, 20, 40], [-1, -1, -1, -1]]], float),
        "classes": np.array([[1, -1]]),
        "mask_pngs": np.array([[_png(crop), b""]], object),
        "annotation": np.array([[0, 2]]),   # exudate annotated, microaneurysm unknown
    }
    predictions = {
        "num_detections": np.array([2]),
        "image_info": np.array([[[64, 64], [32, 32], [0.5, 0.5], [0, 0]]], float),
        "detection_boxes": np.array([[[5, 15, 10, 20], [0, 0, 4, 4], [0, 0, 0, 0]]], float),
        "detection_classes": np.array([[1, 2, 0]]),
        "detection_scores": np.array([[0.9, 0.8, 0.0]]),
        "detection_masks": np.stack([np.ones((1, 3, 28, 28)) * 0.9])[0],
    }
    return predictions, groundtruths


def test_a_batch_becomes_photographs_at_the_dataset_resolution():
    [result] = detections.batch_results(*_batch())
    assert (result.image_id, result.height, result.width) == (7, 64, 64)
    assert result.status == {1: "annotated", 2: "unknown"}
    np.testing.assert_array_equal(result.predictions.boxes[0], [10, 30, 20, 40])
    assert mask_util.area(result.predictions.masks[0]) == 100
    assert mask_util.area(result.ground_truth.masks[0]) == 100 and len(result.ground_truth) == 1
    # The unknown-type microaneurysm prediction is filtered; the exudate matches exactly.
    assert paper_map.compute_paper_map([result]).mean_ap[0.5] == 1.0
    assert result.lesion_pixels is None and result.geometry is None   # no annotation as drawn in the batch


def test_the_annotation_as_drawn_comes_along_at_the_dataset_resolution():
    predictions, groundtruths = _batch()
    drawn = rectangle(10, 30, 20, 36) | rectangle(50, 0, 52, 2)   # not the dilated instance of the crops
    groundtruths["lesion_pixels"] = np.array([[_png(drawn), b""]], object)   # microaneurysms not annotated
    [result] = detections.batch_results(predictions, groundtruths)
    assert list(result.lesion_pixels) == [EXUDATE] and result.geometry is None
    np.testing.assert_array_equal(mask_util.decode(result.lesion_pixels[EXUDATE]), drawn)
    # The 0.9 exudate (100 pixels) covers 60 of the 64 drawn: precision 0.6 at recall 60/64, then all pixels.
    expected = 60 / 64 * 0.6 + 4 / 64 * 64 / 4096
    assert pixel_aupr.compute_pixel_aupr([result], EXUDATE).aupr == pytest.approx(expected, rel=1e-12)


def test_masks_below_the_threshold_are_empty_and_boxes_clip_to_the_photograph():
    crops = detections.box_crops(np.array([[0, 0, 4, 8], [2, 2, 2, 6]]), np.array([np.full((28, 28), 0.4)] * 2))
    assert crops[0].shape == (4, 8) and not crops[0].any()
    assert crops[1].shape == (0, 4)
    lesions = detections.predicted_lesions([[-2, -2, 4, 4]], [1], [0.5], [np.ones((28, 28))], 16, 16)
    assert mask_util.area(lesions.masks[0]) == 16


def test_a_lower_mask_threshold_covers_the_less_certain_pixels():
    probabilities = np.full((28, 28), 0.45)
    probabilities[:, 14:] = 0.55   # the right half of the box more certain
    at_half = detections.predicted_lesions([[0, 0, 8, 8]], [1], [0.9], [probabilities], 16, 16)
    at_040 = detections.predicted_lesions([[0, 0, 8, 8]], [1], [0.9], [probabilities], 16, 16, mask_threshold=0.4)
    assert mask_util.area(at_half.masks[0]) == 32
    assert mask_util.area(at_040.masks[0]) == 64
