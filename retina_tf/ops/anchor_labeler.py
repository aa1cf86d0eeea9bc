"""Model Garden's RPN anchor labeler made to score only the anchors that could change a lesion's match.

The stock labeler's cost grows with anchors x boxes; a photograph's lesions
overlap few anchors each, so this one gives the stock targets at a fraction
of the cost (benchmarks/input_pipeline.py measures it).
"""

import tensorflow as tf
from official.vision.ops import anchor, box_matcher


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
