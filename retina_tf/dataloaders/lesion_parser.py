"""Mask R-CNN inputs from lesion masks stored as box-sized PNG crops.

Model Garden's Mask R-CNN parser (`maskrcnn_input.Parser`) takes one
full-size mask per instance and resamples each at its box, and its RPN
labeler scores every anchor against every box: both grow with lesions x
photograph area (benchmarks/input_pipeline.py measures it). e_ophtha stores
each lesion's mask cropped to its box. This parser resamples the photograph
once for the whole augmentation, scores only the anchors that could change a
lesion's match, and in training passes each lesion's crop on as stored, with
the map from the augmented image to it, for the model's mask sampler
(modeling.lesion_mask_sampler) to sample targets at the ROIs: what grows per
lesion is decoding its crop (benchmarks/README.md). Its outputs have the
stock parser's keys, shapes and dtypes except the training `gt_masks`, which
the model of modeling.lesion_maskrcnn reads.

Coordinates: a pixel box (ymin, xmin, ymax, xmax) runs along pixel edges
(pixel i covers [i, i + 1)); the augmentation matrices map pixel centres
(row, column, 1).
"""

from typing import NamedTuple, Sequence, Union

import tensorflow as tf
from official.vision.dataloaders import maskrcnn_input
from official.vision.ops import anchor, box_matcher, box_ops, preprocess_ops

TensorLike = Union[tf.Tensor, bool, int, float, Sequence[float]]


class Augmentation(NamedTuple):
    """One draw of the paper's geometric augmentation, applied in field order.

    rot90 counts quarter turns counter-clockwise, as np.rot90 and
    tf.image.rot90 do (-1 is a clockwise turn). scale and translate are
    (y, x): scale about the image centre, then shift by a fraction of the side
    (positive moves the content down / right). window (y, x) places the
    training window, when the parser cuts one, as a fraction of the room
    left around it (0 top / left, 1 bottom / right). Python values force a
    transform (tests); Parser.sample_augmentation draws tensors inside a
    tf.data map.
    """

    hflip: TensorLike = False
    vflip: TensorLike = False
    rot90: TensorLike = 0
    scale: TensorLike = (1.0, 1.0)
    translate: TensorLike = (0.0, 0.0)
    window: TensorLike = (0.0, 0.0)


def _affine(yy, yx, y0, xy, xx, x0):
    """The 3x3 matrix of (y, x) -> (yy*y + yx*x + y0, xy*y + xx*x + x0)."""
    entries = [yy, yx, y0, xy, xx, x0, 0.0, 0.0, 1.0]
    return tf.reshape(tf.stack([tf.cast(e, tf.float64) for e in entries]), [3, 3])


def photograph_to_augmented(augmentation, image_size):
    """The augmentation as one map of pixel centres from the photograph to the augmented image.

    Returns the 3x3 matrix and the augmented image's [height, width] (a
    quarter turn swaps them). Float64, so that flips and quarter turns invert
    to exact integers.
    """
    height, width = tf.unstack(tf.cast(image_size, tf.float64))
    vflip = tf.cast(augmentation.vflip, tf.float64)
    hflip = tf.cast(augmentation.hflip, tf.float64)
    flip = _affine(1 - 2 * vflip, 0, (height - 1) * vflip, 0, 1 - 2 * hflip, (width - 1) * hflip)
    # np.rot90(a, k)[i, j]: k=1 reads a[j, w-1-i], k=-1 reads a[h-1-j, i].
    quarter_turns = tf.stack([
        _affine(0, 1, 0, -1, 0, height - 1),
        _affine(1, 0, 0, 0, 1, 0),
        _affine(0, -1, width - 1, 1, 0, 0),
    ])
    turns = tf.cast(augmentation.rot90, tf.int32)
    turn = tf.gather(quarter_turns, turns + 1)
    size = tf.where(tf.equal(turns, 0), tf.stack([height, width]), tf.stack([width, height]))
    scale = tf.cast(augmentation.scale, tf.float64)
    # Scaling about the image centre keeps the point side / 2 (an edge coordinate) in place.
    offset = (size / 2 - 0.5) * (1 - scale) + tf.cast(augmentation.translate, tf.float64) * size
    zoom = _affine(scale[0], 0, offset[0], 0, scale[1], offset[1])
    return zoom @ turn @ flip, tf.cast(size, tf.int32)


def _is_turned(to_augmented):
    """Whether the map swaps rows and columns (an odd number of quarter turns)."""
    return tf.not_equal(to_augmented[0, 1], 0)


def warp_photograph(image, to_output, size, fill_value):
    """Resamples the uint8 photograph once, bilinearly, through an axis-aligned map onto an image of `size`.

    A quarter turn comes out first as an exact transpose; what is left scales
    and shifts each axis, which one crop_and_resize does (it weighs rows and
    columns once, unlike a general projective warp). A one-pixel frame of
    fill_value lets samples just outside the photograph blend into it, as a
    constant-fill warp does. Returns float32 in [0, 1].
    """
    turned = _is_turned(to_output)
    image = tf.cond(turned, lambda: tf.transpose(image, [1, 0, 2]), lambda: image)
    to_output = tf.cond(turned, lambda: to_output @ _affine(0, 1, 0, 1, 0, 0), lambda: to_output)
    framed = tf.pad(image, [[1, 1], [1, 1], [0, 0]], constant_values=tf.cast(fill_value, image.dtype))
    to_photograph = tf.cast(tf.linalg.inv(to_output), tf.float32)
    # crop_and_resize samples from corner to corner of a box normalised by side - 1.
    first = to_photograph[:2, 2] + 1
    last = first + tf.linalg.diag_part(to_photograph[:2, :2]) * (tf.cast(size, tf.float32) - 1)
    box = tf.concat([first, last], axis=0) / tf.tile(tf.cast(tf.shape(framed)[:2] - 1, tf.float32), [2])
    warped = tf.image.crop_and_resize(
        tf.image.convert_image_dtype(framed, tf.float32)[None], box[None], [0], size,
        extrapolation_value=fill_value / 255)
    return warped[0]


def _resize_info(size, output_size):
    """Model Garden's image_info for resizing `size` to fit output_size, aspect kept, and the scaled size.

    The same arithmetic as preprocess_ops.resize_and_crop_image without
    jitter, which this parser folds into its one resample.
    """
    size = tf.cast(size, tf.float32)
    desired = tf.cast(output_size, tf.float32)
    scaled = tf.round(size * tf.reduce_min(desired / size))
    return tf.stack([size, desired, scaled / size, tf.zeros([2])]), tf.cast(scaled, tf.int32)


def _window_info(image_info, scaled_size, window_size, place):
    """image_info and size for a window of window_size cut from the resized image at `place` of the room left.

    The window's offset goes where Model Garden keeps a random crop's
    (image_info[3]), and its size is the image the model sees (image_info[1]).
    """
    window = tf.constant(window_size, tf.int32)
    room = tf.cast(tf.maximum(scaled_size - window, 0), tf.float32)
    offset = tf.round(room * tf.cast(place, tf.float32))
    return tf.stack([image_info[0], tf.cast(window, tf.float32), image_info[2], offset]), window


def move_boxes(boxes, to_augmented, size):
    """Moves pixel boxes [N, 4] with the augmentation and clips them to the augmented image."""
    matrix = tf.cast(to_augmented, tf.float32)
    corners = tf.reshape(boxes, [-1, 2, 2]) - 0.5
    moved = tf.einsum("ij,ncj->nci", matrix[:2, :2], corners) + matrix[:2, 2] + 0.5
    moved = tf.concat([tf.reduce_min(moved, axis=1), tf.reduce_max(moved, axis=1)], axis=-1)
    return box_ops.clip_boxes(moved, tf.cast(size, tf.float32))


# Crops decoded per loop step: a step costs about as much as decoding a microaneurysm's crop.
_DECODES_PER_STEP = 8


def _decode_crops(mask_pngs):
    """Every crop decoded: their pixels one crop after another, row by row ([sum of areas] uint8, 0 or 1),
    and each crop's [height, width]. The one loop over lesions, kept to what cannot be batched."""
    count = tf.size(mask_pngs)
    steps = (count + _DECODES_PER_STEP - 1) // _DECODES_PER_STEP
    # One-pixel PNGs fill the last step; their pixels come last and are cut off.
    pngs = tf.concat([mask_pngs, tf.fill([steps * _DECODES_PER_STEP - count],
                                         tf.io.encode_png(tf.zeros([1, 1, 1], tf.uint8)))], axis=0)

    def decode(step, pixels, shapes):
        crops = [tf.io.decode_png(pngs[step * _DECODES_PER_STEP + i], channels=1) for i in range(_DECODES_PER_STEP)]
        return (step + 1, pixels.write(step, tf.concat([tf.reshape(crop, [-1]) for crop in crops], axis=0)),
                shapes.write(step, tf.stack([tf.shape(crop)[:2] for crop in crops])))

    _, pixels, shapes = tf.while_loop(
        lambda step, *_: step < steps, decode,
        (0, tf.TensorArray(tf.uint8, size=steps, infer_shape=False, element_shape=[None]),
         tf.TensorArray(tf.int32, size=steps, element_shape=[_DECODES_PER_STEP, 2])),
        parallel_iterations=16)
    shapes = tf.reshape(shapes.stack(), [-1, 2])[:count]
    pixels = tf.cond(steps > 0, pixels.concat, lambda: tf.zeros([0], tf.uint8))   # concat needs a step
    pixels = pixels[:tf.reduce_sum(tf.reduce_prod(shapes, axis=1))]
    return tf.cast(pixels > 0, tf.uint8), shapes


def lesion_mask_crops(mask_pngs, crop_boxes, photograph_to_image, num_lesions: int, max_pixels: int, source_id):
    """The training `gt_masks` that modeling.lesion_mask_sampler samples at the ROIs: each lesion's crop as
    stored, and the map to it from the model's image.

    The parser's only work per lesion is decoding its crop; the targets are
    sampled on the accelerator for the ROIs that need them. Outputs have
    fixed shapes so that photographs batch: `pixels` [max_pixels] uint8 (the
    crops' pixels, 0 or 1, one crop after another, zero-padded), `crops`
    [num_lesions, 3] int32 (start in pixels, height, width; zero rows pad)
    and `to_crop` [num_lesions, 2, 3] float32 (the model's image pixel
    centres (row, column, 1) to the crop's).

    Args:
      mask_pngs: [K] single-channel PNGs, nonzero on the lesion, each the size of its crop box.
      crop_boxes: [K, 4] int32 pixel boxes of the crops in the photograph.
      photograph_to_image: 3x3 float64 map of pixel centres from the photograph to the model's image.
      num_lesions, max_pixels: the fixed sizes (K <= num_lesions).
      source_id: names the photograph when its crops hold more than max_pixels.
    """
    extents = crop_boxes[:, 2:] - crop_boxes[:, :2]
    pixels, shapes = _decode_crops(mask_pngs)
    total = tf.size(pixels)
    checks = [
        tf.debugging.assert_equal(shapes, extents, message="a mask PNG differs from its box"),
        tf.debugging.Assert(total <= max_pixels, [
            f"lesion masks above parser.max_lesion_mask_pixels ({max_pixels}), raise it; photograph",
            source_id, "has", total]),
    ]
    with tf.control_dependencies(checks):
        pixels = tf.pad(pixels, [[0, max_pixels - total]])
    starts = tf.cumsum(extents[:, 0] * extents[:, 1], exclusive=True)
    crops = tf.concat([starts[:, None], extents], axis=1)
    image_to_photograph = tf.linalg.inv(photograph_to_image)[:2]
    origins = tf.pad(tf.cast(crop_boxes[:, :2, None], tf.float64), [[0, 0], [0, 0], [2, 0]])
    to_crop = tf.cast(image_to_photograph[None] - origins, tf.float32)
    return {
        "pixels": tf.ensure_shape(pixels, [max_pixels]),
        "crops": preprocess_ops.clip_or_pad_to_fixed_size(crops, num_lesions, 0),
        "to_crop": preprocess_ops.clip_or_pad_to_fixed_size(to_crop, num_lesions, 0),
    }


class _OverlappingPairs:
    """IoU of the (anchor, box) pairs that can change the match, found by window per pyramid level and anchor shape.

    A pair can change the match when its IoU reaches min_iou (below it an
    anchor is negative whichever box it meets) or when it could be its box's
    best (the forced match). The best IoU an anchor shape can reach with a
    box (one inside the other along each axis) bounds both, so a box's window
    of anchors of one shape is left out when that bound is below min_iou and
    below the IoU of one anchor near the box's centre (a real IoU, so never
    above the box's best). That leaves out most pairs: small anchors inside
    large exudates.
    """

    # Anchor corners come from float32 centres +- half sizes: widen windows by more than their rounding.
    _SLACK = 0.01
    # Keep windows whose bound falls short by this fraction, well above the rounding of anchor sizes.
    _BOUND_MARGIN = 1e-3

    def __init__(self, anchor_boxes, min_iou: float):
        self._min_iou = min_iou
        self._shapes = []
        first = 0
        for boxes in anchor_boxes.values():
            rows, columns, coordinates = boxes.shape.as_list()
            per_location = coordinates // 4
            boxes = tf.reshape(boxes, [rows, columns, per_location, 4])
            for shape in range(per_location):
                size = boxes[0, 0, shape, 2:] - boxes[0, 0, shape, :2]
                self._shapes.append(dict(
                    first=first + shape, row_stride=columns * per_location, column_stride=per_location,
                    row_centres=(boxes[:, 0, shape, 0] + boxes[:, 0, shape, 2]) / 2,
                    column_centres=(boxes[0, :, shape, 1] + boxes[0, :, shape, 3]) / 2,
                    size=size, half_size=size / 2 + self._SLACK))
            first += rows * columns * per_location
        self.num_anchors = first

    def __call__(self, anchors, gt_boxes):
        """Returns (anchor index, box index, IoU > 0) of the pairs that can change the match, and the box count."""
        num_boxes = tf.shape(gt_boxes)[0]
        floor = tf.minimum(self._min_iou, self._known_iou(anchors, gt_boxes)) * (1 - self._BOUND_MARGIN)
        first, rows, columns, row_stride, column_stride = (
            tf.concat(parts, axis=0)
            for parts in zip(*(self._windows(shape, gt_boxes, floor) for shape in self._shapes)))
        counts = rows * columns
        window = tf.repeat(tf.range(tf.size(counts)), counts)
        cell = tf.range(tf.reduce_sum(counts)) - tf.gather(tf.cumsum(counts, exclusive=True), window)
        window_columns = tf.gather(columns, window)
        anchor_index = (tf.gather(first, window) + cell // window_columns * tf.gather(row_stride, window)
                        + cell % window_columns * tf.gather(column_stride, window))
        box_index = window % tf.maximum(num_boxes, 1)
        iou = self._iou(tf.gather(anchors, anchor_index), tf.gather(gt_boxes, box_index))
        overlapping = iou > 0
        return (tf.boolean_mask(anchor_index, overlapping), tf.boolean_mask(box_index, overlapping),
                tf.boolean_mask(iou, overlapping), num_boxes)

    def _known_iou(self, anchors, gt_boxes):
        """Per box, the best IoU among the anchors (one per shape) at or next to its centre."""
        def nearest(centres_of_shape, values):
            return tf.minimum(tf.searchsorted(centres_of_shape, values), tf.size(centres_of_shape) - 1)

        centres = (gt_boxes[:, :2] + gt_boxes[:, 2:]) / 2
        ious = []
        for shape in self._shapes:
            index = (shape["first"] + nearest(shape["row_centres"], centres[:, 0]) * shape["row_stride"]
                     + nearest(shape["column_centres"], centres[:, 1]) * shape["column_stride"])
            ious.append(self._iou(tf.gather(anchors, index), gt_boxes))
        return tf.reduce_max(tf.stack(ious), axis=0)

    @staticmethod
    def _windows(shape, gt_boxes, floor):
        """Per box, the first anchor and the rows x columns of anchors of this shape that can reach IoU floor
        with it (none where the shape's best IoU with the box is below floor)."""
        def span(centres, low, high):
            begin = tf.searchsorted(centres, low, side="right")
            return begin, tf.maximum(tf.searchsorted(centres, high, side="left") - begin, 0)

        box_size = gt_boxes[:, 2:] - gt_boxes[:, :2]
        smaller = tf.minimum(shape["size"], box_size)
        areas = tf.reduce_prod(shape["size"]) + tf.reduce_prod(box_size, axis=1)
        # IoU = overlap_y * overlap_x / (areas - overlap_y * overlap_x) reaches floor only where the overlap along
        # each axis reaches floor * areas / (1 + floor) over the most the other axis can overlap.
        need = tf.math.divide_no_nan((floor * areas / (1 + floor))[:, None], tf.reverse(smaller, [1]))
        half = shape["half_size"] - need
        row0, rows = span(shape["row_centres"], gt_boxes[:, 0] - half[:, 0], gt_boxes[:, 2] + half[:, 0])
        column0, columns = span(shape["column_centres"], gt_boxes[:, 1] - half[:, 1], gt_boxes[:, 3] + half[:, 1])
        inner = tf.reduce_prod(smaller, axis=1)
        best = inner / (areas - inner)
        rows = tf.where(best >= floor, rows, 0)
        first = shape["first"] + row0 * shape["row_stride"] + column0 * shape["column_stride"]
        like = tf.ones_like(rows)
        return first, rows, columns, like * shape["row_stride"], like * shape["column_stride"]

    @staticmethod
    def _iou(anchors, boxes):
        """Model Garden's iou_similarity arithmetic, pair by pair, so that ties break the same way."""
        heights = tf.maximum(0.0, tf.minimum(anchors[:, 2], boxes[:, 2]) - tf.maximum(anchors[:, 0], boxes[:, 0]))
        widths = tf.maximum(0.0, tf.minimum(anchors[:, 3], boxes[:, 3]) - tf.maximum(anchors[:, 1], boxes[:, 1]))
        intersections = heights * widths
        anchor_areas = (anchors[:, 2] - anchors[:, 0]) * (anchors[:, 3] - anchors[:, 1])
        box_areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        unions = anchor_areas + box_areas - intersections
        return tf.where(tf.equal(intersections, 0.0), tf.zeros_like(intersections), intersections / unions)


class _OverlapMatcher(box_matcher.BoxMatcher):
    """BoxMatcher's match (argmax per anchor, thresholds, force match per box) from overlapping pairs.

    Pairs left out have IoU 0; argmax over an all-zero row or column picks
    index 0, as tf.argmax does.
    """

    def __init__(self, stock, num_anchors):
        super().__init__(stock.thresholds[1:-1], stock.indicators, force_match_for_each_col=True)
        self._num_anchors = num_anchors

    def __call__(self, pairs):
        anchor_index, box_index, iou, num_boxes = pairs
        none = tf.int32.max
        best_iou = tf.maximum(tf.math.unsorted_segment_max(iou, anchor_index, self._num_anchors), 0.0)
        is_best = tf.equal(iou, tf.gather(best_iou, anchor_index))
        best_box = tf.math.unsorted_segment_min(tf.where(is_best, box_index, none), anchor_index, self._num_anchors)
        matched_columns = tf.where(best_iou > 0, best_box, 0)
        match_indicators = tf.zeros([self._num_anchors], tf.int32)
        for indicator, low, high in zip(self.indicators, self.thresholds[:-1], self.thresholds[1:]):
            in_band = tf.logical_and(best_iou >= low, best_iou < high)
            match_indicators = self._set_values_using_indicator(match_indicators, in_band, indicator)

        box_best = tf.math.unsorted_segment_max(iou, box_index, num_boxes)
        is_box_best = tf.equal(iou, tf.gather(box_best, box_index))
        best_anchor = tf.math.unsorted_segment_min(tf.where(is_box_best, anchor_index, none), box_index, num_boxes)
        best_anchor = tf.where(box_best > 0, best_anchor, 0)
        forcing_box = tf.math.unsorted_segment_min(tf.range(num_boxes), best_anchor, self._num_anchors)
        forced = forcing_box < none
        return (tf.where(forced, forcing_box, matched_columns),
                tf.where(forced, self.indicators[-1], match_indicators))


class OverlapRpnAnchorLabeler(anchor.RpnAnchorLabeler):
    """Model Garden's RPN anchor labeler that scores only the anchors a box overlaps.

    The stock labeler fills an IoU matrix of every anchor against every box
    (262k anchors at 1024 px on P2-P6) and its matcher a one-hot as big:
    about 1 s per photograph at 300 lesions, more than the rest of the parse.
    A lesion overlaps a few hundred anchors, of which a few dozen can change
    its match; scoring only those, with the stock arithmetic and tie breaks,
    gives the stock targets.
    """

    def __init__(self, anchor_boxes, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # thresholds are [-inf, unmatched_threshold, match_threshold, inf].
        self.similarity_calc = _OverlappingPairs(anchor_boxes, min_iou=self.matcher.thresholds[1])
        self.matcher = _OverlapMatcher(self.matcher, self.similarity_calc.num_anchors)


class Parser(maskrcnn_input.Parser):
    """Model Garden's Mask R-CNN parser for lesion masks stored as box-sized PNG crops.

    Reads `groundtruth_instance_mask_pngs` ([N] PNGs, each a lesion's mask
    cropped to its box) where the stock parser reads full-size masks.
    Training augmentation follows the paper: random horizontal and vertical
    flips (aug_rand_hflip, aug_rand_vflip); a quarter turn clockwise or
    counter-clockwise or none (aug_rand_rotate90); translation along y and
    along x independently, each uniform in +-aug_translate_max of the side;
    and scaling along y and along x independently, each by a factor uniform
    in [aug_scale_min, aug_scale_max] about the image centre (the stock
    parser scales both axes by one factor and crops at a random offset).
    The photograph is resampled once, bilinearly, for the augmentation and
    the stock resize to output_size together; pixels brought in from outside
    it get fill_value, the normalised photographs' neutral grey. Boxes move
    exactly and are clipped; lesions whose box leaves the image are dropped,
    all others kept.

    With aug_window_size (height, width) the model trains on a window of
    that size cut at random from the augmented image of output_size, at the
    dataset's full resolution: small lesions keep their pixels, a step costs
    what the window costs, and validation, evaluation and serving still see
    whole photographs at output_size (the network is convolutional up to the
    ROI heads). Lesions cut by the window edge keep their visible part.

    Training labels differ from the stock parser's in one key: `gt_masks`
    holds the lesions' crops and where they lie (lesion_mask_crops), for
    modeling.lesion_mask_sampler to sample the targets at the ROIs;
    max_lesion_mask_pixels bounds one photograph's crops together. Eval
    ground truth leaves out the stock parser's mask targets: the paper's
    metric scores against the stored crops.
    """

    def __init__(self, *args, aug_rand_rotate90: bool = False, aug_translate_max: float = 0.0,
                 aug_window_size: Sequence[int] = (), fill_value: int = 128, max_lesion_mask_pixels: int = 2**20,
                 **kwargs):
        super().__init__(*args, **kwargs)
        aug_window_size = tuple(aug_window_size or ())
        if aug_window_size and (len(aug_window_size) != 2 or not all(
                0 < side <= limit for side, limit in zip(aug_window_size, self._output_size))):
            raise ValueError(f"aug_window_size is (height, width) within the output size {list(self._output_size)}, "
                             f"or empty for whole images; got {list(aug_window_size)}")
        if not 0 < self._aug_scale_min <= self._aug_scale_max:
            raise ValueError(f"need 0 < aug_scale_min <= aug_scale_max, got "
                             f"{self._aug_scale_min}, {self._aug_scale_max}")
        if not 0 <= aug_translate_max <= 1:
            raise ValueError(f"aug_translate_max is a fraction of the side in [0, 1], got {aug_translate_max}")
        self._aug_rand_rotate90 = aug_rand_rotate90
        self._aug_translate_max = aug_translate_max
        self._aug_window_size = aug_window_size
        self._fill_value = fill_value
        self._max_lesion_mask_pixels = max_lesion_mask_pixels

    def sample_augmentation(self) -> Augmentation:
        """Draws the switched-on transforms with tf.random ops, so each element of a tf.data map gets its own."""
        def coin(enabled):
            return tf.random.uniform([]) < 0.5 if enabled else False

        shift = self._aug_translate_max
        return Augmentation(
            hflip=coin(self._aug_rand_hflip),
            vflip=coin(self._aug_rand_vflip),
            rot90=tf.random.uniform([], -1, 2, tf.int32) if self._aug_rand_rotate90 else 0,
            scale=tf.random.uniform([2], self._aug_scale_min, self._aug_scale_max),
            translate=tf.random.uniform([2], -shift, shift),
            window=tf.random.uniform([2]) if self._aug_window_size else (0.0, 0.0))

    def _parse_train_data(self, data):
        return self.parse_train_data(data, self.sample_augmentation())

    def parse_train_data(self, data, augmentation: Augmentation):
        """The training parse under a given augmentation (tests force one); outputs as the stock parser's."""
        classes = data["groundtruth_classes"]
        boxes = data["groundtruth_boxes"]
        mask_pngs = data["groundtruth_instance_mask_pngs"] if self._include_mask else None
        if self._skip_crowd_during_training:
            not_crowd = tf.where(tf.logical_not(data["groundtruth_is_crowd"]))[:, 0]
            classes = tf.gather(classes, not_crowd)
            boxes = tf.gather(boxes, not_crowd)
            if self._include_mask:
                mask_pngs = tf.gather(mask_pngs, not_crowd)

        image = data["image"]
        if self._augmenter is not None:
            image = self._augmenter.distort(image)
        photograph_size = tf.shape(image)[:2]
        to_augmented, augmented_size = photograph_to_augmented(augmentation, photograph_size)
        image_info, scaled_size = _resize_info(augmented_size, self._output_size)
        output_size = self._output_size
        if self._aug_window_size:
            image_info, scaled_size = _window_info(image_info, scaled_size, self._aug_window_size,
                                                   augmentation.window)
            output_size = self._aug_window_size
        image_scale, offset = image_info[2, :], image_info[3, :]
        # Model Garden's resize (pixel centres i + 0.5 scale about 0) and the window's offset join the
        # augmentation in one resample.
        resize = _affine(image_scale[0], 0, (image_scale[0] - 1) / 2 - offset[0],
                         0, image_scale[1], (image_scale[1] - 1) / 2 - offset[1])
        photograph_to_image = resize @ to_augmented
        image = warp_photograph(image, photograph_to_image, scaled_size, self._fill_value)
        image = preprocess_ops.normalize_image(image)
        image_height, image_width = preprocess_ops.compute_padded_size(output_size, 2**self._max_level)
        image = tf.image.pad_to_bounding_box(image, 0, 0, image_height, image_width)

        crop_boxes = box_ops.denormalize_boxes(boxes, photograph_size)
        boxes = move_boxes(crop_boxes, to_augmented, augmented_size)
        boxes = preprocess_ops.resize_and_crop_boxes(boxes, image_scale, image_info[1, :], offset)
        kept = box_ops.get_non_empty_box_indices(boxes)
        boxes = tf.gather(boxes, kept)
        classes = tf.gather(classes, kept)
        if self._include_mask:
            outer_boxes = box_ops.compute_outer_boxes(boxes, image_info[1, :], self._outer_boxes_scale)
            # Only the lesions that fit in the padded labels need their crop.
            labelled = kept[:self._max_num_instances]
            masks = lesion_mask_crops(
                tf.gather(mask_pngs, labelled), tf.cast(tf.round(tf.gather(crop_boxes, labelled)), tf.int32),
                photograph_to_image, self._max_num_instances, self._max_lesion_mask_pixels, data["source_id"])

        anchor_boxes = anchor.build_anchor_generator(
            min_level=self._min_level, max_level=self._max_level, num_scales=self._num_scales,
            aspect_ratios=self._aspect_ratios, anchor_size=self._anchor_size,
        )(image_size=(image_height, image_width))
        anchor_labeler = OverlapRpnAnchorLabeler(
            anchor_boxes, self._rpn_match_threshold, self._rpn_unmatched_threshold,
            self._rpn_batch_size_per_im, self._rpn_fg_fraction)
        rpn_score_targets, rpn_box_targets = anchor_labeler.label_anchors(
            anchor_boxes, boxes, tf.cast(tf.expand_dims(classes, axis=-1), tf.float32))

        labels = {
            "anchor_boxes": anchor_boxes,
            "image_info": image_info,
            "rpn_score_targets": rpn_score_targets,
            "rpn_box_targets": rpn_box_targets,
            "gt_boxes": preprocess_ops.clip_or_pad_to_fixed_size(boxes, self._max_num_instances, -1),
            "gt_classes": preprocess_ops.clip_or_pad_to_fixed_size(classes, self._max_num_instances, -1),
        }
        if self._include_mask:
            labels["gt_outer_boxes"] = preprocess_ops.clip_or_pad_to_fixed_size(
                outer_boxes, self._max_num_instances, -1)
            labels["gt_masks"] = masks
        return tf.cast(image, self._dtype), labels

    def _parse_eval_data(self, data):
        if not self._include_mask:
            return super()._parse_eval_data(data)
        # The stock parse resamples full-size masks to targets that the
        # paper's metric does not read (it scores against the stored crops):
        # hand it empty ones and leave its targets out.
        count = tf.shape(data["groundtruth_classes"])[0]
        image, labels = super()._parse_eval_data(dict(data, groundtruth_instance_masks=tf.zeros([count, 1, 1])))
        del labels["groundtruths"]["masks"]
        return image, labels
