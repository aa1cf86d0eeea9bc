"""Mask targets from lesion crops against an independent numpy reference, and against Model Garden's sampler."""

import cv2
import numpy as np
import pytest
import tensorflow as tf
from official.vision.dataloaders import maskrcnn_input
from official.vision.modeling.layers import mask_sampler

from retina_tf.dataloaders import lesion_parser
from retina_tf.modeling import lesion_mask_sampler
from retina_tf.ops.geometry import Augmentation

SIZE = 28
PARSER_ARGS = dict(min_level=2, max_level=5, num_scales=1, aspect_ratios=[1.0], anchor_size=2.0, include_mask=True,
                   max_num_instances=16)


def _lesions(rng, count, shape):
    """Full-size binary masks: ellipses of 3 to 40 px at any angle, some cut by the border."""
    masks = np.zeros((count, *shape), np.uint8)
    for mask in masks:
        centre = (int(rng.integers(0, shape[1])), int(rng.integers(0, shape[0])))
        axes = (int(rng.integers(1, 20)), int(rng.integers(1, 20)))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return masks


def _example(masks):
    """The decoded example the lesion parser reads, and the one Model Garden's parser reads."""
    height, width = masks.shape[1:]
    boxes = []
    for mask in masks:
        rows, columns = np.nonzero(mask)
        boxes.append([rows.min(), columns.min(), rows.max() + 1, columns.max() + 1])
    boxes = np.array(boxes, np.float32)
    common = dict(
        source_id=tf.constant("3"), image=tf.zeros([height, width, 3], tf.uint8),
        height=tf.constant(height), width=tf.constant(width),
        groundtruth_classes=tf.ones([len(masks)], tf.int64), groundtruth_is_crowd=tf.zeros([len(masks)], tf.bool),
        groundtruth_area=tf.constant(masks.sum(axis=(1, 2)), tf.float32),
        groundtruth_boxes=tf.constant(boxes / np.float32([height, width, height, width])))
    pngs = [cv2.imencode(".png", mask[y1:y2, x1:x2] * 255)[1].tobytes()
            for mask, (y1, x1, y2, x2) in zip(masks, boxes.astype(int))]
    return (dict(common, groundtruth_instance_mask_pngs=tf.constant(pngs)),
            dict(common, groundtruth_instance_masks=tf.constant(masks, tf.float32)))


def _bilinear(array, rows, columns):
    """array sampled bilinearly at pixel-centre coordinates, zero outside."""
    padded = np.pad(array.astype(np.float64), 1)
    rows, columns = rows + 1, columns + 1
    values = np.zeros(rows.shape)
    for row in (np.floor(rows), np.floor(rows) + 1):
        for column in (np.floor(columns), np.floor(columns) + 1):
            inside = (row >= 0) & (row < padded.shape[0]) & (column >= 0) & (column < padded.shape[1])
            pixel = padded[np.clip(row, 0, padded.shape[0] - 1).astype(int),
                           np.clip(column, 0, padded.shape[1] - 1).astype(int)]
            values += np.where(inside, (1 - np.abs(rows - row)) * (1 - np.abs(columns - column)) * pixel, 0)
    return values


def _flipped_and_turned(mask, augmentation):
    moved = mask[:, ::-1] if augmentation.hflip else mask
    moved = moved[::-1] if augmentation.vflip else moved
    return np.rot90(moved, augmentation.rot90)


def _in_view(mask, augmentation):
    """Whether the lesion's box, scaled about the centre and translated, keeps an area inside the image."""
    moved = _flipped_and_turned(mask, augmentation)
    for axis in (0, 1):
        side, scale, shift = moved.shape[axis], augmentation.scale[axis], augmentation.translate[axis]
        covered = np.nonzero(moved.any(axis=1 - axis))[0]
        low, high = np.clip((np.array([covered[0], covered[-1] + 1]) - side / 2) * scale + side / 2 + shift * side,
                            0, side)
        if high <= low:
            return False
    return True


def _reference_targets(mask, augmentation, image_scale, roi):
    """The mask moved by the augmentation (numpy flips and quarter turns, then scaling about the centre and
    translation) and the resize, sampled at the centres of the ROI's SIZE x SIZE cells."""
    moved = _flipped_and_turned(mask, augmentation)
    cells = (np.arange(SIZE) + 0.5) / SIZE
    centres = []
    for axis in (0, 1):
        side, scale, shift = moved.shape[axis], augmentation.scale[axis], augmentation.translate[axis]
        edges = roi[axis] + cells * (roi[axis + 2] - roi[axis])       # in the model's image
        edges = edges / image_scale                                     # in the augmented photograph
        centres.append((edges - side / 2 - shift * side) / scale + side / 2 - 0.5)   # pixel centres before
    rows, columns = np.meshgrid(*centres, indexing="ij")
    return _bilinear(moved, rows, columns)


def _sample(labels, rois, lesions):
    sampler = lesion_mask_sampler.LesionMaskSampler(mask_target_size=SIZE, num_sampled_masks=len(lesions))
    candidates = (tf.constant(rois[None], tf.float32), tf.zeros([1, len(lesions), 4]),
                  tf.ones([1, len(lesions)], tf.int32), tf.constant(lesions[None], tf.int32))
    crops = {key: value[None] for key, value in labels["gt_masks"].items()}
    chosen_rois, _, targets = sampler(*candidates, crops)
    np.testing.assert_array_equal(chosen_rois[0], rois.astype(np.float32))
    return targets[0].numpy()


@pytest.mark.parametrize("shape, output_size, augmentation", [
    ((128, 128), 128, Augmentation()),
    ((128, 128), 128, Augmentation(hflip=True, rot90=1, scale=(1.2, 0.8), translate=(0.1, -0.05))),
    ((128, 128), 128, Augmentation(vflip=True, rot90=-1, scale=(0.9, 1.1), translate=(-0.2, 0.15))),
    ((96, 128), 64, Augmentation(hflip=True, vflip=True, rot90=1, translate=(0.05, 0.0))),
], ids=["plain", "hflip_ccw_zoom", "vflip_cw_zoom", "landscape_resized_turned"])
def test_targets_are_the_moved_full_size_mask_sampled_at_each_rois_cell_centres(shape, output_size, augmentation):
    rng = np.random.default_rng(sum(shape) + output_size)
    masks = _lesions(rng, 12, shape)
    lesion, _ = _example(masks)
    parser = lesion_parser.Parser(output_size=[output_size, output_size], **PARSER_ARGS)
    _, labels = parser.parse_train_data(lesion, augmentation)
    survivors = [index for index, mask in enumerate(masks) if _in_view(mask, augmentation)]
    count = int((labels["gt_classes"].numpy() >= 0).sum())
    assert count == len(survivors) > 6
    # ROIs around each lesion's box (shifted and resized) and one on another lesion's.
    boxes = labels["gt_boxes"].numpy()[:count]
    sides = np.tile(boxes[:, 2:] - boxes[:, :2], 2)
    rois = np.concatenate([boxes + sides * rng.uniform(-0.3, 0.3, (count, 4)), boxes[::-1]])
    lesions = np.concatenate([np.arange(count), np.arange(count)])
    targets = _sample(labels, rois, lesions)
    image_scale = float(labels["image_info"][2, 0])
    for roi, lesion_index, target in zip(rois, lesions, targets):
        expected = _reference_targets(masks[survivors[lesion_index]], augmentation, image_scale, roi)
        np.testing.assert_allclose(target, expected, atol=1e-4, err_msg=f"lesion {lesion_index} at {roi}")


def test_targets_agree_with_model_gardens_resampled_targets():
    """Model Garden resamples each mask to a 112 x 112 target at its box, then that target at the ROI: the
    one-step sampling agrees with it up to the second interpolation."""
    rng = np.random.default_rng(8)
    masks = _lesions(rng, 14, (160, 160))
    lesion, stock = _example(masks)
    args = dict(PARSER_ARGS, output_size=[160, 160], mask_crop_size=112)
    _, labels = lesion_parser.Parser(**args).parse_train_data(lesion, Augmentation())
    _, stock_labels = maskrcnn_input.Parser(**args).parse_fn(is_training=True)(stock)
    count = int((labels["gt_classes"].numpy() >= 0).sum())
    boxes = labels["gt_boxes"].numpy()[:count]
    rois = boxes + np.tile(boxes[:, 2:] - boxes[:, :2], 2) * rng.uniform(-0.2, 0.2, (count, 4))
    ours = _sample(labels, rois, np.arange(count))
    _, _, theirs = mask_sampler.MaskSampler(mask_target_size=SIZE, num_sampled_masks=count)(
        tf.constant(rois[None], tf.float32), tf.constant(boxes[None]), tf.ones([1, count], tf.int32),
        tf.range(count)[None], stock_labels["gt_masks"][None])
    theirs = theirs[0].numpy()
    assert np.abs(ours - theirs).mean() < 0.05
    # Model Garden's two samplings drift by up to a pixel: thin lesions lose the most.
    ious = [(mine & stock_target).sum() / (mine | stock_target).sum()
            for mine, stock_target in zip(ours >= 0.5, theirs >= 0.5)]
    assert min(ious) > 0.75 and np.median(ious) > 0.9, ious


def test_it_samples_the_foreground_rois_that_model_gardens_sampler_does():
    rng = np.random.default_rng(9)
    rois = tf.constant(rng.uniform(0, 50, (2, 40, 4)).cumsum(axis=-1), tf.float32)
    classes = tf.constant(rng.integers(0, 3, (2, 40)) * (rng.random((2, 40)) < 0.4), tf.int32)
    lesions = tf.where(classes > 0, tf.constant(rng.integers(0, 5, (2, 40)), tf.int32), -1)
    crops = {"pixels": tf.ones([2, 100], tf.uint8), "crops": tf.tile([[[0, 10, 10]]], [2, 5, 1]),
             "to_crop": tf.zeros([2, 5, 2, 3])}
    ours = lesion_mask_sampler.LesionMaskSampler(mask_target_size=SIZE, num_sampled_masks=24)(
        rois, tf.zeros([2, 40, 4]), classes, lesions, crops)
    stock = mask_sampler.MaskSampler(mask_target_size=SIZE, num_sampled_masks=24)(
        rois, tf.zeros([2, 40, 4]), classes, lesions, tf.zeros([2, 5, 4, 4]))
    for got, expected in zip(ours[:2], stock[:2]):
        np.testing.assert_array_equal(got, expected)
    assert ours[2].shape == stock[2].shape == (2, 24, SIZE, SIZE)
