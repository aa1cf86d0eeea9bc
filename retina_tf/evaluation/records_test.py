"""Tests for the evaluation records: RLE masks, boxes, the annotated-type filter."""

import numpy as np
import pytest
from pycocotools import mask as mask_util

from retina_tf import EXUDATE, MICROANEURYSM
from retina_tf.evaluation import records
from retina_tf.testing.evaluation import photograph, rectangle


def test_from_masks_draws_tight_end_exclusive_boxes():
    lesions = records.Lesions.from_masks([rectangle(2, 3, 7, 12), rectangle(40, 50, 41, 51)],
                                         [EXUDATE, MICROANEURYSM])
    np.testing.assert_array_equal(lesions.boxes, [[2, 3, 7, 12], [40, 50, 41, 51]])
    np.testing.assert_array_equal(mask_util.decode(lesions.masks[0]), rectangle(2, 3, 7, 12))
    assert lesions.scores is None and len(lesions) == 2


def test_from_box_masks_pastes_crops_and_drops_what_falls_outside():
    crop = np.ones((4, 6), bool)
    lesions = records.Lesions.from_box_masks([[10, 20, 14, 26], [-2, 60, 2, 66]], [crop, crop],
                                             [EXUDATE, EXUDATE], 64, 64, scores=[0.9, 0.8])
    np.testing.assert_array_equal(mask_util.decode(lesions.masks[0]), rectangle(10, 20, 14, 26))
    np.testing.assert_array_equal(mask_util.decode(lesions.masks[1]), rectangle(0, 60, 2, 64))
    with pytest.raises(ValueError, match="does not fit"):
        records.Lesions.from_box_masks([[0, 0, 3, 3]], [crop], [EXUDATE], 64, 64)


def test_empty_and_mismatched_lengths():
    empty = records.Lesions.empty(64, 64)
    assert len(empty) == 0 and empty.boxes.shape == (0, 4)
    with pytest.raises(ValueError, match="differ in length"):
        records.Lesions(np.zeros((2, 4)), [1], [{}, {}])


def test_filter_to_known_drops_unknown_types_only():
    result = photograph(
        ground_truth=[(EXUDATE, rectangle(0, 0, 5, 5))],
        predictions=[(EXUDATE, rectangle(0, 0, 5, 5), 0.9), (MICROANEURYSM, rectangle(9, 9, 11, 11), 0.8)],
        status={EXUDATE: records.ANNOTATED})
    filtered = records.filter_to_known(result)
    assert filtered.known_labels == (EXUDATE,)
    np.testing.assert_array_equal(filtered.predictions.labels, [EXUDATE])
    np.testing.assert_array_equal(filtered.predictions.scores, [0.9])
    absent = photograph(predictions=[(MICROANEURYSM, rectangle(9, 9, 11, 11), 0.8)],
                        status={EXUDATE: records.ANNOTATED, MICROANEURYSM: records.ABSENT})
    assert len(records.filter_to_known(absent).predictions) == 1


def test_ground_truth_of_an_absent_type_is_rejected():
    with pytest.raises(ValueError, match="absent"):
        photograph(ground_truth=[(EXUDATE, rectangle(0, 0, 5, 5))], status={EXUDATE: records.ABSENT})


def test_mask_iou_and_operating_points():
    truth = records.Lesions.from_masks([rectangle(0, 0, 10, 10)], [EXUDATE])
    found = records.Lesions.from_masks([rectangle(0, 0, 10, 5), rectangle(20, 20, 30, 30)], [EXUDATE] * 2)
    np.testing.assert_allclose(records.mask_iou(found, truth), [[0.5], [0.0]])
    assert records.mask_iou(found, records.Lesions.empty(64, 64)).shape == (2, 0)
    # Tied scores 0.5 enter together: counts jump from 1 to 3 at threshold 0.5.
    thresholds, counts = records.operating_points([0.5, 0.9, 0.5], [1, 1, 1])
    np.testing.assert_array_equal(thresholds, [np.inf, 0.9, 0.5])
    np.testing.assert_array_equal(counts, [0, 1, 3])


def test_lesion_pixels_hold_the_annotated_types_at_the_geometry_s_size():
    drawn = {EXUDATE: rectangle(0, 0, 5, 5, shape=(6, 8))}
    result = photograph(status={EXUDATE: records.ANNOTATED}, drawn=drawn, geometry=[-1, 0, 7, 8, 6, 8])
    assert result.pixel_size == (6, 8) and photograph().pixel_size == (64, 64)
    with pytest.raises(ValueError, match="annotated"):
        photograph(status={EXUDATE: records.ANNOTATED, MICROANEURYSM: records.ANNOTATED}, drawn={})
    with pytest.raises(ValueError, match="size"):   # without a geometry: at the photograph's 64 x 64
        photograph(status={EXUDATE: records.ANNOTATED}, drawn=drawn)
