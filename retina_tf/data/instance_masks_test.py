"""Tests for pasting box-cropped lesion masks back into full-size masks."""

import cv2
import numpy as np
import tensorflow as tf

from retina_tf.data import instance_masks


def test_crops_paste_back_where_their_boxes_say():
    size = 32
    crops = [np.array([[1, 0], [1, 1]], np.uint8) * 255, np.ones((3, 1), np.uint8) * 255]
    boxes = np.array([[4, 6, 6, 8], [10, 0, 13, 1]], np.float32)
    pngs = tf.constant([cv2.imencode(".png", crop)[1].tobytes() for crop in crops])
    full = instance_masks.paste_masks(pngs, tf.constant(boxes / size), size).numpy()
    assert full.shape == (2, size, size) and full.dtype == bool
    np.testing.assert_array_equal(full[0, 4:6, 6:8], crops[0] > 0)
    assert full[0].sum() == 3 and full[1].sum() == 3 and full[1, 10:13, 0].all()
    np.testing.assert_array_equal(instance_masks.pixel_boxes(tf.constant(boxes / size), size).numpy(), boxes)
