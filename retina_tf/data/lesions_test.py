"""Tests for lesion instance splitting."""

import numpy as np
import pytest

from retina_tf import EXUDATE, MICROANEURYSM
from retina_tf.data import lesions


def _blobs():
    mask = np.zeros((64, 80), np.uint8)
    mask[10:14, 10:16] = 255          # exudate-like patch
    mask[40, 60] = 255                # one-pixel microaneurysm
    mask[50:53, 5:7] = 255
    return mask


def test_dilation_grows_a_single_pixel_to_a_9x9_square():
    mask = np.zeros((30, 30), np.uint8)
    mask[15, 15] = 1
    grown = lesions.dilate(mask)
    # Two iterations of a 5x5 kernel reach 4 pixels in every direction.
    assert grown.sum() == 81
    assert grown[11:20, 11:20].all()


def test_split_gives_one_tight_instance_per_component():
    found = lesions.split_lesions(_blobs(), MICROANEURYSM, lesions.Dilation(iterations=0))
    assert len(found) == 3
    for lesion in found:
        ymin, xmin, ymax, xmax = lesion.box
        assert lesion.label == MICROANEURYSM
        assert lesion.mask.shape == (ymax - ymin, xmax - xmin)
        # Tight box: every border row and column of the crop holds lesion pixels.
        assert lesion.mask[0].any() and lesion.mask[-1].any()
        assert lesion.mask[:, 0].any() and lesion.mask[:, -1].any()
        assert lesion.area == lesion.mask.sum()
    union = np.zeros((64, 80), bool)
    for lesion in found:
        full = lesion.full_mask(union.shape)
        assert not (union & full).any(), "instances must not overlap"
        union |= full
    np.testing.assert_array_equal(union, _blobs() > 0)


def test_dilation_merges_near_lesions_and_keeps_far_ones_apart():
    mask = np.zeros((60, 60), np.uint8)
    mask[10, 10] = mask[10, 16] = 255      # 6 px apart: the grown squares touch
    mask[40, 40] = 255                      # far away
    found = lesions.split_lesions(mask, EXUDATE)
    assert sorted(lesion.area for lesion in found) == [81, 9 * 15]
    assert all(lesion.label == EXUDATE for lesion in found)


def test_empty_mask_has_no_lesion_and_bad_shapes_are_refused():
    assert lesions.split_lesions(np.zeros((8, 8), np.uint8), EXUDATE) == []
    with pytest.raises(ValueError, match="2-D"):
        lesions.split_lesions(np.zeros((8, 8, 3), np.uint8), EXUDATE)
    with pytest.raises(ValueError, match="kernel_size"):
        lesions.Dilation(kernel_size=0)


def test_annotated_mask_target_keeps_the_dilated_box_and_only_drawn_pixels():
    mask = np.zeros((60, 60), np.uint8)
    mask[10, 10] = mask[10, 16] = 255      # merged by the dilation into one instance
    mask[40, 40:42] = 255
    dilated = lesions.split_lesions(mask, EXUDATE)
    drawn = lesions.split_lesions(mask, EXUDATE, lesions.LESION_SIZED)
    assert [lesion.box for lesion in drawn] == [lesion.box for lesion in dilated]
    assert [lesion.area for lesion in drawn] == [2, 2]
    union = np.zeros(mask.shape, bool)
    for lesion in drawn:
        assert lesion.area == lesion.mask.sum()
        union |= lesion.full_mask(mask.shape)
    np.testing.assert_array_equal(union, mask > 0)
    with pytest.raises(ValueError, match="mask_target"):
        lesions.Dilation(mask_target="convex")
