"""Tests for the lesion parser: its augmentation against an independent numpy/OpenCV reference, and parity
with Model Garden's Mask R-CNN parser fed full-size masks (all labels but the training masks, which
modeling/lesion_mask_sampler_test.py checks)."""

import cv2
import numpy as np
import pytest
import tensorflow as tf
from official.vision.dataloaders import maskrcnn_input
from official.vision.ops import preprocess_ops

from retina_tf.dataloaders import lesion_parser
from retina_tf.modeling import lesion_mask_sampler
from retina_tf.ops.geometry import Augmentation

SIDE = 128
FILL = 128
PARSER_ARGS = dict(
    output_size=[SIDE, SIDE], min_level=2, max_level=5, num_scales=1, aspect_ratios=[0.5, 1.0, 2.0],
    anchor_size=2.0, include_mask=True, max_num_instances=24,
    # Above the anchor count, so the RPN sampler keeps every anchor and its targets are deterministic.
    rpn_batch_size_per_im=10**6)


def _random_masks(rng, count, shape=(SIDE, SIDE)):
    """Full-size binary lesion masks: disks, rectangles and irregular unions of overlapping ones, some cut by
    the border."""
    masks = np.zeros((count, *shape), np.uint8)
    for mask in masks:
        y, x = rng.integers(0, shape).tolist()
        for _ in range(1 if rng.random() < 0.5 else rng.integers(2, 4)):
            radius = int(rng.integers(2, 12))
            if rng.random() < 0.5:
                cv2.circle(mask, (x, y), radius, 1, -1)
            else:
                height, width = rng.integers(2, 2 * radius + 2, 2).tolist()
                cv2.rectangle(mask, (x - width // 2, y - height // 2), (x + (width - 1) // 2, y + (height - 1) // 2),
                              1, -1)
            rows, columns = np.nonzero(mask)
            y, x = rng.choice(np.stack([rows, columns], axis=1)).tolist()   # the next part overlaps this one
    return masks


def _tight_box(mask):
    rows, columns = np.nonzero(mask)
    return np.array([rows.min(), columns.min(), rows.max() + 1, columns.max() + 1], np.float32)


def _image(masks, rng):
    """Noise, with the lesions painted into the red channel."""
    image = rng.integers(0, 256, (*masks.shape[1:], 3)).astype(np.uint8)
    image[..., 0] = np.where(masks.any(axis=0), 230, 20)
    return image


def _examples(masks, image, crowd=None):
    """The decoded example: PNG crops for the lesion parser, full float masks for the stock parser."""
    count, (height, width) = len(masks), image.shape[:2]
    boxes = np.array([_tight_box(mask) for mask in masks], np.float32).reshape(-1, 4)
    pngs = [cv2.imencode(".png", mask[y1:y2, x1:x2] * 255)[1].tobytes()
            for mask, (y1, x1, y2, x2) in zip(masks, boxes.astype(int))]
    common = dict(
        source_id=tf.constant("7"), image=tf.constant(image),
        height=tf.constant(height, tf.int32), width=tf.constant(width, tf.int32),
        groundtruth_classes=tf.constant(np.arange(count) % 2 + 1, tf.int64),
        groundtruth_is_crowd=tf.constant(np.zeros(count, bool) if crowd is None else crowd),
        groundtruth_area=tf.constant(masks.sum(axis=(1, 2)), tf.float32),
        groundtruth_boxes=tf.constant(boxes / np.float32([height, width, height, width])))
    lesion = dict(common, groundtruth_instance_mask_pngs=tf.constant(pngs, tf.string))
    stock = dict(common, groundtruth_instance_masks=tf.constant(masks, tf.float32))
    return lesion, stock


def _reference_warp(array, augmentation, fill=0):
    """The augmentation on a full-size array: numpy flips and quarter turns, then OpenCV bilinear scaling
    about the image centre and translation, fill outside."""
    out = array
    if augmentation.hflip:
        out = out[:, ::-1]
    if augmentation.vflip:
        out = out[::-1]
    out = np.ascontiguousarray(np.rot90(out, augmentation.rot90))
    height, width = out.shape[:2]
    (scale_y, scale_x), (shift_y, shift_x) = augmentation.scale, augmentation.translate
    # Pixel centres sit at i + 0.5 on [0, side]; the centre side / 2 stays put.
    matrix = np.array([
        [scale_x, 0, (width / 2) * (1 - scale_x) + 0.5 * scale_x - 0.5 + shift_x * width],
        [0, scale_y, (height / 2) * (1 - scale_y) + 0.5 * scale_y - 0.5 + shift_y * height]])
    return cv2.warpAffine(out, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=(fill, fill, fill))


def _reference_mask(mask, augmentation):
    """A full-size mask under the augmentation, resampled bilinearly and thresholded at 0.5."""
    return _reference_warp(mask.astype(np.float32), augmentation) >= 0.5


def _reference_box(box, augmentation, side, clip=True):
    """A pixel box moved edge by edge, then clipped to the image."""
    y1, x1, y2, x2 = box
    if augmentation.hflip:
        x1, x2 = side - x2, side - x1
    if augmentation.vflip:
        y1, y2 = side - y2, side - y1
    if augmentation.rot90 == 1:      # counter-clockwise: the right side comes to the top
        y1, x1, y2, x2 = side - x2, y1, side - x1, y2
    elif augmentation.rot90 == -1:
        y1, x1, y2, x2 = x1, side - y2, x2, side - y1
    (scale_y, scale_x), (shift_y, shift_x) = augmentation.scale, augmentation.translate
    y1, y2 = (side / 2 + scale_y * (np.array([y1, y2]) - side / 2) + shift_y * side).tolist()
    x1, x2 = (side / 2 + scale_x * (np.array([x1, x2]) - side / 2) + shift_x * side).tolist()
    return np.clip([y1, x1, y2, x2], 0, side) if clip else np.array([y1, x1, y2, x2])


def _targets(labels, size=28):
    """Each labelled lesion's mask target sampled at its own box, as the model's mask sampler does."""
    count = int((labels["gt_classes"].numpy() >= 0).sum())
    crops = {key: value[None] for key, value in labels["gt_masks"].items()}
    return lesion_mask_sampler.sample_lesion_masks(
        labels["gt_boxes"][None, :count], tf.range(count)[None], crops, size)[0].numpy()


def _paste(target, box, side):
    """A mask target pasted back into a full-size mask, thresholded at 0.5 (target cells are sampled at
    their centres)."""
    cells = target.shape[0]
    rows, columns = np.mgrid[0:side, 0:side].astype(np.float32) + 0.5
    height, width = max(box[2] - box[0], 1e-6), max(box[3] - box[1], 1e-6)
    return cv2.remap(target, (columns - box[1]) / width * cells - 0.5, (rows - box[0]) / height * cells - 0.5,
                     cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0) >= 0.5


def _sides(mask):
    """Height and width of a mask's tight box (0, 0 if empty)."""
    return np.diff(_tight_box(mask).reshape(2, 2), axis=0)[0] if mask.any() else np.zeros(2)


def _assert_inside(pasted, box):
    """Nothing of the lesion lies outside its box (a pixel of slack)."""
    if pasted.any():
        tight = _tight_box(pasted)
        assert (tight[:2] >= box[:2] - 1).all() and (tight[2:] <= box[2:] + 1).all(), (tight, box)


def _iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


def _photograph_pixels(image):
    """The parser's normalised image back in 0..255."""
    return (image.numpy() * preprocess_ops.STDDEV_NORM + preprocess_ops.MEAN_NORM) * 255


def _check_against_reference(masks, image, augmentation, out_image, labels):
    """The parse of full-size masks' crops under an augmentation against the reference's boxes, masks and
    image: same survivors in order, boxes to float precision, each target pasted back where the reference
    puts its lesion, the photograph to within interpolation rounding."""
    side = masks.shape[1]
    expected = np.array([_reference_box(_tight_box(mask), augmentation, side) for mask in masks])
    survivors = [i for i, box in enumerate(expected) if box[2] > box[0] and box[3] > box[1]]
    warped = [_reference_mask(mask, augmentation) for mask in masks]
    assert all(i in survivors for i, mask in enumerate(warped) if mask.any()), "a lesion in view was dropped"

    classes = labels["gt_classes"].numpy()
    count = int((classes >= 0).sum())
    assert count == len(survivors)
    np.testing.assert_array_equal(classes[:count], np.arange(len(masks))[survivors] % 2 + 1)
    boxes = labels["gt_boxes"].numpy()[:count]
    np.testing.assert_allclose(boxes, expected[survivors], atol=1e-3)
    crops = labels["gt_masks"]
    assert set(np.unique(crops["pixels"])) <= {0, 1}, "masks stay binary"
    assert (crops["crops"].numpy()[count:] == 0).all()
    targets = _targets(labels)
    assert targets.min() >= 0 and targets.max() <= 1 + 1e-6
    whole = [_reference_box(_tight_box(mask), augmentation, side, clip=False) for mask in masks]
    for box, target, index in zip(boxes, targets, survivors):
        pasted, reference = _paste(target, box, side), warped[index]
        _assert_inside(pasted, box)
        if min(_sides(reference)) >= 3:
            # Where the reference puts the lesion (part of it, if its box was clipped), within a pixel.
            assert np.abs(_tight_box(pasted) - _tight_box(reference)).max() <= 1, f"lesion {index}"
            if np.array_equal(whole[index], box) and augmentation.scale == (1.0, 1.0):
                assert np.abs(_tight_box(pasted) - box).max() <= 1 + 1e-3, f"lesion {index}"
        if min(_sides(reference)) >= 8:
            assert _iou(pasted, reference) > 0.8, f"lesion {index}"

    # The photograph moved with the masks, with grey brought in from outside.
    reference_image = _reference_warp(image.astype(np.float32), augmentation, FILL)
    np.testing.assert_allclose(_photograph_pixels(out_image), reference_image, atol=0.05)


FORCED = {
    "identity": Augmentation(),
    "hflip": Augmentation(hflip=True),
    "vflip": Augmentation(vflip=True),
    "rot90_ccw": Augmentation(rot90=1),
    "rot90_cw": Augmentation(rot90=-1),
    "translate_x": Augmentation(translate=(0.0, 0.23)),
    "translate_y": Augmentation(translate=(-0.17, 0.0)),
    "scale_x": Augmentation(scale=(1.0, 1.3)),
    "scale_y": Augmentation(scale=(0.75, 1.0)),
    "combined": Augmentation(hflip=True, vflip=True, rot90=-1, scale=(1.15, 0.85), translate=(0.08, -0.12)),
}


@pytest.mark.parametrize("name", FORCED)
def test_each_transform_moves_masks_boxes_and_image_like_the_reference(name):
    rng = np.random.default_rng(len(name))
    masks = _random_masks(rng, 18)
    image = _image(masks, rng)
    lesion, _ = _examples(masks, image)
    parser = lesion_parser.Parser(**PARSER_ARGS, fill_value=FILL)
    out_image, labels = parser.parse_train_data(lesion, FORCED[name])
    _check_against_reference(masks, image, FORCED[name], out_image, labels)


@pytest.mark.parametrize("seed", range(4))
def test_random_transforms_move_masks_boxes_and_image_like_the_reference(seed):
    rng = np.random.default_rng(100 + seed)
    augmentation = Augmentation(
        hflip=bool(rng.random() < 0.5), vflip=bool(rng.random() < 0.5), rot90=int(rng.integers(-1, 2)),
        scale=tuple(rng.uniform(0.7, 1.3, 2)), translate=tuple(rng.uniform(-0.25, 0.25, 2)))
    masks = _random_masks(rng, 20)
    image = _image(masks, rng)
    lesion, _ = _examples(masks, image)
    out_image, labels = lesion_parser.Parser(**PARSER_ARGS, fill_value=FILL).parse_train_data(lesion, augmentation)
    _check_against_reference(masks, image, augmentation, out_image, labels)


@pytest.mark.parametrize("place", [(0.0, 0.0), (0.5, 1.0), (0.3, 0.7)])
def test_a_training_window_is_the_augmented_image_cut_at_its_place(place):
    """A window's image, boxes and mask targets are those of the whole augmented image, cut where it lies."""
    rng = np.random.default_rng(int(10 * sum(place)))
    masks = _random_masks(rng, 24)
    image = _image(masks, rng)
    lesion, _ = _examples(masks, image)
    augmentation = Augmentation(hflip=True, rot90=1, scale=(1.1, 0.9), translate=(0.05, -0.05), window=place)
    height, width = 64, 96
    out_image, labels = lesion_parser.Parser(**PARSER_ARGS, fill_value=FILL, aug_window_size=(height, width)
                                             ).parse_train_data(lesion, augmentation)
    top, left = round((SIDE - height) * place[0]), round((SIDE - width) * place[1])
    np.testing.assert_array_equal(labels["image_info"].numpy()[1:], [[height, width], [1, 1], [top, left]])
    assert out_image.shape == (height, width, 3)
    assert labels["anchor_boxes"]["2"].shape[:2] == (height // 4, width // 4)

    reference_image = _reference_warp(image.astype(np.float32), augmentation, FILL)
    np.testing.assert_allclose(_photograph_pixels(out_image), reference_image[top:top + height, left:left + width],
                               atol=0.05)
    warped = [_reference_mask(mask, augmentation)[top:top + height, left:left + width] for mask in masks]
    expected = np.array([_reference_box(_tight_box(mask), augmentation, SIDE) for mask in masks])
    expected = np.clip(expected - [top, left, top, left], 0, [height, width, height, width])
    survivors = [i for i, box in enumerate(expected) if box[2] > box[0] and box[3] > box[1]]
    assert all(i in survivors for i, mask in enumerate(warped) if mask.any()), "a lesion in the window was dropped"
    assert 0 < len(survivors) < len(masks), "the window should cut some lesions out and keep others"
    count = int((labels["gt_classes"].numpy() >= 0).sum())
    assert count == len(survivors)
    boxes = labels["gt_boxes"].numpy()[:count]
    np.testing.assert_allclose(boxes, expected[survivors], atol=1e-3)
    for box, target, index in zip(boxes, _targets(labels), survivors):
        pasted = _paste(target, box, max(height, width))[:height, :width]
        _assert_inside(pasted, box)
        if min(_sides(warped[index])) >= 3:
            assert np.abs(_tight_box(pasted) - _tight_box(warped[index])).max() <= 1, f"lesion {index}"
        if min(_sides(warped[index])) >= 8:
            assert _iou(pasted, warped[index]) > 0.8, f"lesion {index}"


@pytest.mark.parametrize("pick, place", [(0.0, (0.5, 0.5)), (0.6, (0.2, 0.9)), (0.99, (0.8, 0.1))])
def test_a_window_on_a_lesion_holds_it_at_its_place_within_the_edges(pick, place):
    """The chosen lesion's centre lies at `place` of the window, unless the image's edge stops the window."""
    rng = np.random.default_rng(11)
    masks = _random_masks(rng, 6)
    lesion, _ = _examples(masks, _image(masks, rng))
    height, width = 32, 48
    augmentation = Augmentation(window=place, window_lesion=pick)
    _, labels = lesion_parser.Parser(**PARSER_ARGS, aug_window_size=(height, width)).parse_train_data(
        lesion, augmentation)
    box = _tight_box(masks[int(pick * len(masks))])
    centre = (box[:2] + box[2:]) / 2
    wanted = centre - np.array(place) * [height, width]
    top, left = labels["image_info"].numpy()[3]
    np.testing.assert_allclose([top, left], np.clip(np.round(wanted), 0, [SIDE - height, SIDE - width]), atol=1)


def test_windows_placed_on_lesions_find_a_lesion_in_a_corner_that_windows_placed_anywhere_mostly_miss():
    masks = np.zeros((1, SIDE, SIDE), np.uint8)
    masks[0, 4:10, 6:11] = 1
    lesion, _ = _examples(masks, _image(masks, np.random.default_rng(2)))
    args = dict(PARSER_ARGS, aug_window_size=(32, 32))

    def lesions_in_view(fraction):
        parser = lesion_parser.Parser(**args, aug_window_lesion_fraction=fraction)
        return [int((parser.parse_train_data(lesion, parser.sample_augmentation())[1]["gt_classes"] > 0).numpy().sum())
                for _ in range(40)]

    assert min(lesions_in_view(1.0)) == 1
    # A 32 px window placed anywhere in 128 px holds the corner's lesion with chance (24/96)^2 = 1/16.
    assert sum(lesions_in_view(0.0)) < 15
    halves = lesions_in_view(0.5)
    assert 5 < sum(halves) < 40


def _without_masks(parsed):
    """A parse without the masks, where the two parsers differ: lesion crops stand in for the stock parser's
    training targets, and eval ground truth leaves the stock targets out."""
    image, labels = parsed
    labels = {key: value for key, value in labels.items() if key != "gt_masks"}
    if "groundtruths" in labels:
        labels["groundtruths"] = {key: value for key, value in labels["groundtruths"].items() if key != "masks"}
    return image, labels


def _assert_same_structure(ours, stock):
    ours, stock = _without_masks(ours), _without_masks(stock)
    tf.nest.assert_same_structure(ours, stock)
    for got, expected in zip(tf.nest.flatten(ours), tf.nest.flatten(stock)):
        assert got.shape == expected.shape and got.dtype == expected.dtype


def _assert_same_labels(ours, stock):
    for key in ("anchor_boxes", "image_info", "rpn_score_targets", "rpn_box_targets", "gt_boxes", "gt_classes",
                "gt_outer_boxes"):
        for got, expected in zip(tf.nest.flatten(ours[key]), tf.nest.flatten(stock[key])):
            np.testing.assert_array_equal(got, expected, err_msg=key)


@pytest.mark.parametrize("outer_boxes_scale", [1.0, 1.5])
def test_without_augmentation_it_matches_the_stock_parser_on_full_masks(outer_boxes_scale):
    rng = np.random.default_rng(1)
    masks = _random_masks(rng, 16)
    crowd = np.zeros(16, bool)
    crowd[[3, 10]] = True
    lesion, stock = _examples(masks, _image(masks, rng), crowd)
    args = dict(PARSER_ARGS, outer_boxes_scale=outer_boxes_scale)
    image, labels = lesion_parser.Parser(**args).parse_fn(is_training=True)(lesion)
    stock_image, stock_labels = maskrcnn_input.Parser(**args).parse_fn(is_training=True)(stock)
    _assert_same_structure((image, labels), (stock_image, stock_labels))
    np.testing.assert_allclose(image, stock_image, atol=1e-5)
    _assert_same_labels(labels, stock_labels)
    assert (labels["gt_classes"].numpy() >= 0).sum() == 14


@pytest.mark.parametrize("augmentation", [
    Augmentation(hflip=True), Augmentation(vflip=True), Augmentation(rot90=1),
    Augmentation(hflip=True, vflip=True, rot90=-1)], ids=["hflip", "vflip", "rot90_ccw", "flips_rot90_cw"])
@pytest.mark.parametrize("shape", [(SIDE, SIDE), (96, SIDE)], ids=["square", "landscape"])
def test_flips_and_quarter_turns_match_the_stock_parser_on_turned_full_masks(augmentation, shape):
    rng = np.random.default_rng(2)
    masks = _random_masks(rng, 14, shape)
    image = _image(masks, rng)
    lesion, _ = _examples(masks, image)
    _, turned = _examples(np.stack([_reference_warp(mask, augmentation) for mask in masks]),
                          _reference_warp(image, augmentation))
    out_image, labels = lesion_parser.Parser(**PARSER_ARGS).parse_train_data(lesion, augmentation)
    stock_image, stock_labels = maskrcnn_input.Parser(**PARSER_ARGS).parse_fn(is_training=True)(turned)
    np.testing.assert_allclose(out_image, stock_image, atol=1e-5)
    _assert_same_labels(labels, stock_labels)


def test_resizing_a_landscape_photograph_into_the_output_size_matches_the_stock_parser():
    rng = np.random.default_rng(7)
    masks = _random_masks(rng, 15, (96, SIDE))
    lesion, stock = _examples(masks, _image(masks, rng))
    args = dict(PARSER_ARGS, output_size=[64, 64])   # scaled to 48 x 64, then padded to 64 x 64
    image, labels = lesion_parser.Parser(**args).parse_fn(is_training=True)(lesion)
    stock_image, stock_labels = maskrcnn_input.Parser(**args).parse_fn(is_training=True)(stock)
    _assert_same_structure((image, labels), (stock_image, stock_labels))
    np.testing.assert_allclose(image, stock_image, atol=1e-4)
    _assert_same_labels(labels, stock_labels)


def test_eval_parse_matches_the_stock_parser():
    rng = np.random.default_rng(3)
    masks = _random_masks(rng, 30)
    lesion, stock = _examples(masks, _image(masks, rng))
    image, labels = lesion_parser.Parser(**PARSER_ARGS).parse_fn(is_training=False)(lesion)
    stock_image, stock_labels = maskrcnn_input.Parser(**PARSER_ARGS).parse_fn(is_training=False)(stock)
    _assert_same_structure((image, labels), (stock_image, stock_labels))
    np.testing.assert_array_equal(image, stock_image)
    truth, stock_truth = labels["groundtruths"], stock_labels["groundtruths"]
    assert "masks" not in truth
    for key in truth:
        np.testing.assert_array_equal(truth[key], stock_truth[key], err_msg=key)


@pytest.mark.parametrize("is_training", [True, False])
def test_no_lesions_and_more_lesions_than_slots_match_the_stock_parser(is_training):
    rng = np.random.default_rng(4)
    for count in (0, 40):   # 40 > max_num_instances: clipped to the first 24
        masks = _random_masks(rng, count)
        lesion, stock = _examples(masks, _image(masks, rng))
        image, labels = lesion_parser.Parser(**PARSER_ARGS).parse_fn(is_training)(lesion)
        stock_image, stock_labels = maskrcnn_input.Parser(**PARSER_ARGS).parse_fn(is_training)(stock)
        _assert_same_structure((image, labels), (stock_image, stock_labels))
        if is_training:
            _assert_same_labels(labels, stock_labels)
            assert (labels["gt_masks"]["crops"].numpy()[:, 1:] > 0).all(axis=1).sum() == min(count, 24)
    if is_training:
        _, labels = lesion_parser.Parser(**PARSER_ARGS).parse_train_data(
            lesion, Augmentation(rot90=1, scale=(0.8, 1.2), translate=(0.1, -0.1)))
        assert (labels["gt_classes"].numpy() >= 0).sum() == 24
        assert _targets(labels).max() > 0.5


def test_it_runs_in_a_parallel_tf_data_map_with_random_augmentation():
    rng = np.random.default_rng(5)
    masks = _random_masks(rng, 12)
    lesion, _ = _examples(masks, _image(masks, rng))
    parser = lesion_parser.Parser(**dict(PARSER_ARGS, aug_rand_hflip=True, aug_rand_vflip=True, aug_scale_min=0.8,
                                         aug_scale_max=1.25), aug_rand_rotate90=True, aug_translate_max=0.15)
    dataset = tf.data.Dataset.from_tensors(lesion).repeat(8).map(
        parser.parse_fn(is_training=True), num_parallel_calls=tf.data.AUTOTUNE)
    assert dataset.element_spec[0].shape == (SIDE, SIDE, 3)
    all_boxes = []
    for _, labels in dataset:
        count = int((labels["gt_classes"].numpy() >= 0).sum())
        assert 0 < count <= 12
        for box, target in zip(labels["gt_boxes"].numpy()[:count], _targets(labels)):
            _assert_inside(_paste(target, box, SIDE), box)
        all_boxes.append(labels["gt_boxes"].numpy())
    assert len({boxes.tobytes() for boxes in all_boxes}) > 1, "every element got the same augmentation"


def test_sampled_augmentation_draws_every_switched_on_transform_independently_per_axis():
    parser = lesion_parser.Parser(**dict(PARSER_ARGS, aug_rand_hflip=True, aug_rand_vflip=True, aug_scale_min=0.8,
                                         aug_scale_max=1.2), aug_rand_rotate90=True, aug_translate_max=0.1)
    draws = [parser.sample_augmentation() for _ in range(150)]
    assert {int(draw.rot90) for draw in draws} == {-1, 0, 1}
    assert {bool(draw.hflip) for draw in draws} == {bool(draw.vflip) for draw in draws} == {False, True}
    scales = np.array([draw.scale for draw in draws])
    shifts = np.array([draw.translate for draw in draws])
    assert scales.min() >= 0.8 and scales.max() <= 1.2 and np.abs(shifts).max() <= 0.1
    assert abs(np.corrcoef(scales.T)[0, 1]) < 0.3 and abs(np.corrcoef(shifts.T)[0, 1]) < 0.3
    plain = lesion_parser.Parser(**PARSER_ARGS).sample_augmentation()
    assert not plain.hflip and not plain.vflip and plain.rot90 == 0
    np.testing.assert_array_equal(plain.scale, [1, 1])
    np.testing.assert_array_equal(plain.translate, [0, 0])


def test_channel_contrast_scales_each_channel_about_the_grey_and_leaves_the_lesions_in_place():
    """What another camera's gamma or colour cast does to a normalised photograph: each channel's departure
    from the neutral grey times its own factor, clipped at black and white; labels untouched."""
    rng = np.random.default_rng(11)
    masks = _random_masks(rng, 6)
    lesion, _ = _examples(masks, _image(masks, rng))
    parser = lesion_parser.Parser(**PARSER_ARGS, fill_value=FILL, aug_channel_contrast=(0.5, 2.0))
    augmentation = Augmentation(hflip=True, scale=(0.9, 1.1))
    plain_image, plain_labels = parser.parse_train_data(lesion, augmentation)
    factors = np.float32([2.0, 1.0, 0.5])
    image, labels = parser.parse_train_data(lesion, augmentation, tf.constant(factors))
    plain = _photograph_pixels(plain_image)
    expected = np.clip(FILL + factors * (plain - FILL), 0, 255)
    # float32 arithmetic on values below 256, through the parser's mean/std normalisation and back
    np.testing.assert_allclose(_photograph_pixels(image), expected, atol=1e-3)
    assert (expected[..., 0] == 255).any() and (expected[..., 0] == 0).any()   # the red lesions clip both ways
    for key in ("gt_boxes", "gt_classes", "rpn_score_targets"):
        tf.nest.map_structure(np.testing.assert_array_equal, plain_labels[key], labels[key])


def test_sampled_channel_contrast_spans_its_range_per_channel_and_is_off_by_default():
    assert lesion_parser.Parser(**PARSER_ARGS).sample_contrast() is None
    parser = lesion_parser.Parser(**PARSER_ARGS, aug_channel_contrast=(0.6, 1.7))
    tf.random.set_seed(3)
    draws = np.array([parser.sample_contrast().numpy() for _ in range(300)])
    assert draws.shape == (300, 3) and draws.min() >= 0.6 and draws.max() <= 1.7
    # log-uniform: half the draws either side of the range's geometric middle, per channel, within sampling error
    below = (draws < np.sqrt(0.6 * 1.7)).mean(axis=0)
    assert (np.abs(below - 0.5) < 0.12).all(), below
    assert np.abs(np.corrcoef(draws.T)[np.triu_indices(3, 1)]).max() < 0.3


def test_a_png_that_differs_from_its_box_is_refused():
    rng = np.random.default_rng(6)
    masks = _random_masks(rng, 3)
    lesion, _ = _examples(masks, _image(masks, rng))
    pngs = lesion["groundtruth_instance_mask_pngs"].numpy().tolist()
    pngs[1] = cv2.imencode(".png", np.full((50, 3), 255, np.uint8))[1].tobytes()
    with pytest.raises(tf.errors.InvalidArgumentError, match="differs from its box"):
        lesion_parser.Parser(**PARSER_ARGS).parse_train_data(
            dict(lesion, groundtruth_instance_mask_pngs=tf.constant(pngs)), Augmentation())


def test_lesion_crops_above_their_fixed_size_are_refused_naming_the_photograph():
    rng = np.random.default_rng(6)
    masks = _random_masks(rng, 3)
    lesion, _ = _examples(masks, _image(masks, rng))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"(?s)max_lesion_mask_pixels \(20\).*photograph'\s+b'7'"):
        lesion_parser.Parser(**PARSER_ARGS, max_lesion_mask_pixels=20).parse_train_data(lesion, Augmentation())


def test_bad_augmentation_ranges_are_refused():
    with pytest.raises(ValueError, match="aug_scale_min"):
        lesion_parser.Parser(**dict(PARSER_ARGS, aug_scale_min=1.2, aug_scale_max=0.8))
    with pytest.raises(ValueError, match="aug_translate_max"):
        lesion_parser.Parser(**PARSER_ARGS, aug_translate_max=1.5)
    with pytest.raises(ValueError, match="aug_window_size"):
        lesion_parser.Parser(**PARSER_ARGS, aug_window_size=(64, 2 * SIDE))
    with pytest.raises(ValueError, match="aug_window_lesion_fraction"):
        lesion_parser.Parser(**PARSER_ARGS, aug_window_size=(64, 64), aug_window_lesion_fraction=1.5)
    for contrast in ((0.0, 1.5), (1.5, 0.8), (1.2,)):
        with pytest.raises(ValueError, match="aug_channel_contrast"):
            lesion_parser.Parser(**PARSER_ARGS, aug_channel_contrast=contrast)

