"""The augmentation's maps against numpy's flips and turns, and the resize and window against Model Garden's
image_info (retina_tf/dataloaders/lesion_parser_test.py checks the whole parse against an OpenCV reference)."""

import itertools

import numpy as np
import pytest
import tensorflow as tf
from official.vision.ops import preprocess_ops

from retina_tf.ops import geometry
from retina_tf.ops.geometry import Augmentation

SIDE = 128
FLIPS_AND_TURNS = [Augmentation(hflip=hflip, vflip=vflip, rot90=turns)
                   for hflip, vflip, turns in itertools.product((False, True), (False, True), (-1, 0, 1))]


@pytest.mark.parametrize("augmentation", FLIPS_AND_TURNS,
                         ids=lambda a: f"hflip{a.hflip:d}-vflip{a.vflip:d}-rot90{a.rot90:+d}")
def test_flips_and_quarter_turns_move_pixels_exactly_as_numpy(augmentation):
    photograph = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    expected = photograph[:, ::-1] if augmentation.hflip else photograph
    expected = np.rot90(expected[::-1] if augmentation.vflip else expected, augmentation.rot90)
    to_augmented, size = geometry.photograph_to_augmented(augmentation, photograph.shape[:2])
    np.testing.assert_array_equal(size, expected.shape[:2])
    rows, columns = np.mgrid[0:5, 0:7]
    centres = np.stack([rows.ravel(), columns.ravel(), np.ones(rows.size)])
    moved = (to_augmented.numpy() @ centres)[:2].astype(int)
    np.testing.assert_array_equal(expected[moved[0], moved[1]], photograph[rows.ravel(), columns.ravel()])
    warped = geometry.warp_photograph(tf.constant(photograph), to_augmented, size, 128)
    np.testing.assert_allclose(warped * 255, expected, atol=1e-3)


@pytest.mark.parametrize("augmentation", [
    Augmentation(hflip=True, rot90=1, scale=(1.1, 0.9), translate=(0.05, -0.1)),
    Augmentation(vflip=True, rot90=-1, scale=(0.85, 1.2), translate=(-0.2, 0.3)),
    Augmentation(scale=(0.8, 0.8))], ids=["turned-left", "turned-right", "shrunk"])
def test_a_window_resamples_only_its_part_yet_equals_that_part_of_the_whole_warp(augmentation):
    """warp_photograph reads only the rows and columns its samples reach; cut windows, fill at the edges
    included, must match the whole augmented image."""
    photograph = np.random.default_rng(3).integers(0, 256, (60, 90, 3), dtype=np.uint8)
    to_augmented, size = geometry.photograph_to_augmented(augmentation, photograph.shape[:2])
    whole = geometry.warp_photograph(tf.constant(photograph), to_augmented, size, 128).numpy()
    side = 16
    for top, left in ((0, 0), (7, 13), (int(size[0]) - side, int(size[1]) - side)):
        to_window = geometry._affine(1, 0, -top, 0, 1, -left) @ to_augmented
        window = geometry.warp_photograph(tf.constant(photograph), to_window, (side, side), 128)
        np.testing.assert_allclose(window, whole[top:top + side, left:left + side], atol=1e-5)


def test_a_shift_brings_in_the_fill_value_and_clips_the_boxes():
    to_augmented, size = geometry.photograph_to_augmented(Augmentation(translate=(0.0, 0.5)), [4, 8])
    warped = geometry.warp_photograph(tf.fill([4, 8, 3], tf.constant(200, tf.uint8)), to_augmented, size, 128)
    np.testing.assert_allclose(warped[:, :4] * 255, 128, atol=1e-3)
    np.testing.assert_allclose(warped[:, 4:] * 255, 200, atol=1e-3)
    np.testing.assert_allclose(geometry.move_boxes(tf.constant([[0.0, 0.0, 4.0, 8.0]]), to_augmented, size),
                               [[0, 4, 4, 8]])


def test_counter_clockwise_quarter_turn_brings_the_top_right_corner_to_the_top_left():
    box = tf.constant([[2, SIDE - 20, 10, SIDE - 4]], tf.float32)
    to_augmented, size = geometry.photograph_to_augmented(Augmentation(rot90=1), [SIDE, SIDE])
    np.testing.assert_allclose(geometry.move_boxes(box, to_augmented, size)[0], [4, 2, 20, 10])
    to_augmented, size = geometry.photograph_to_augmented(Augmentation(rot90=-1), [SIDE, SIDE])
    np.testing.assert_allclose(geometry.move_boxes(box, to_augmented, size)[0],
                               [SIDE - 20, SIDE - 10, SIDE - 4, SIDE - 2])


def test_resize_and_window_keep_model_gardens_image_info_and_map_pixel_centres_as_it_resizes():
    image_info, scaled_size = geometry.resize_info([96, 128], [64, 64])
    _, stock_info = preprocess_ops.resize_and_crop_image(tf.zeros([96, 128, 3]), [64, 64], [64, 64])
    np.testing.assert_array_equal(image_info, stock_info)
    np.testing.assert_array_equal(scaled_size, [48, 64])
    window_info, window = geometry.window_info(image_info, scaled_size, (32, 48), (0.5, 1.0))
    np.testing.assert_array_equal(window_info, [[96, 128], [32, 48], [0.5, 0.5], [8, 16]])
    np.testing.assert_array_equal(window, [32, 48])
    # Pixel centre (0, 0) sits at 0.5 before the resize, at 0.25 after, then the window's offset.
    np.testing.assert_allclose(geometry.augmented_to_image(window_info).numpy() @ [0, 0, 1], [-8.25, -16.25, 1])
