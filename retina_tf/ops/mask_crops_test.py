"""The training `gt_masks` layout against crops written by hand (modeling/lesion_mask_sampler_test.py samples
targets from it, retina_tf/dataloaders/lesion_parser_test.py checks the refusals through the parser)."""

import cv2
import numpy as np
import pytest
import tensorflow as tf

from retina_tf.ops import mask_crops


@pytest.mark.parametrize("count", [0, 3, 10], ids=["none", "one_step", "two_steps_padded"])
def test_crops_come_one_after_another_with_the_map_from_the_image_to_each(count):
    rng = np.random.default_rng(count)
    shapes = rng.integers(1, 9, (count, 2))
    crops = [rng.choice([0, 7, 255], tuple(shape)).astype(np.uint8) for shape in shapes]
    origins = rng.integers(0, 90, (count, 2))
    crop_boxes = np.concatenate([origins, origins + shapes], axis=1).reshape(-1, 4)
    pngs = tf.constant([cv2.imencode(".png", crop)[1].tobytes() for crop in crops], tf.string)
    # The model's image is the photograph scaled by 2 and shifted by (3, -1).
    photograph_to_image = tf.constant([[2, 0, 3], [0, 2, -1], [0, 0, 1]], tf.float64)
    total = int(sum(crop.size for crop in crops))
    masks = mask_crops.lesion_mask_crops(pngs, tf.constant(crop_boxes, tf.int32), photograph_to_image, 12,
                                         total + 5, tf.constant("7"))

    stored = np.concatenate([crop.ravel() > 0 for crop in crops] + [np.zeros(5, bool)])
    np.testing.assert_array_equal(masks["pixels"], stored)
    starts = np.cumsum([0] + [crop.size for crop in crops])[:count]
    expected_crops = np.zeros((12, 3), np.int32)
    expected_crops[:count] = np.concatenate([starts[:, None], shapes], axis=1).reshape(-1, 3)
    np.testing.assert_array_equal(masks["crops"], expected_crops)
    # Image pixel centre (5, 9) is photograph pixel centre (1, 5), seen from each crop's origin.
    to_crop = masks["to_crop"].numpy()
    np.testing.assert_allclose(to_crop[:count] @ [5, 9, 1], [1, 5] - origins.reshape(-1, 2), atol=1e-5)
    assert (to_crop[count:] == 0).all()
