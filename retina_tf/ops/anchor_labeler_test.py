"""The overlap RPN labeler against Model Garden's stock labeler, on boxes chosen to tie."""

import numpy as np
import pytest
import tensorflow as tf
from official.vision.ops import anchor

from retina_tf.ops import anchor_labeler


def _hard_boxes(rng, count, side):
    """Boxes with ties: some copy anchors' corners or each other, some touch the border, some are tiny."""
    boxes = []
    for _ in range(count):
        kind = rng.integers(4)
        y, x = rng.integers(0, side - 8, 2)
        if kind == 0:       # on the anchor grid: many equal IoUs
            y, x, size = 4 * (y // 4), 4 * (x // 4), 4 * rng.integers(1, 12)
            boxes.append([y, x, y + size, x + size])
        elif kind == 1:     # a duplicate: every anchor ties between the two
            boxes.append(boxes[-1] if boxes else [0, 0, 5, 5])
        elif kind == 2:     # on the border
            boxes.append([0, x, rng.integers(1, 40), min(side, x + rng.integers(1, 90))])
        else:
            height, width = rng.uniform(0.5, 120, 2)
            boxes.append([y + rng.random(), x + rng.random(), min(side, y + height), min(side, x + width)])
    return tf.constant(np.array(boxes, np.float32).reshape(-1, 4))


@pytest.mark.parametrize("count,num_scales,side", [(0, 1, 256), (1, 1, 256), (9, 2, 200), (70, 1, 256)])
def test_overlap_rpn_labeler_gives_the_stock_labelers_targets_exactly(count, num_scales, side):
    anchor_boxes = anchor.build_anchor_generator(
        min_level=2, max_level=6, num_scales=num_scales, aspect_ratios=[0.5, 1.0, 2.0], anchor_size=2.0,
    )(image_size=(side, side))
    boxes = _hard_boxes(np.random.default_rng(count), count, side)
    labels = tf.ones([count, 1])
    stock = anchor.RpnAnchorLabeler(0.7, 0.3, 10**7, 0.5)
    ours = anchor_labeler.OverlapRpnAnchorLabeler(anchor_boxes, 0.7, 0.3, 10**7, 0.5)
    flat = tf.concat([tf.reshape(level, [-1, 4]) for level in anchor_boxes.values()], axis=0)
    expected_boxes, expected_indicators = stock.matcher(stock.similarity_calc(flat, boxes))
    got_boxes, got_indicators = ours.matcher(ours.similarity_calc(flat, boxes))
    np.testing.assert_array_equal(got_indicators, expected_indicators)
    # Only positive anchors carry their box into the targets; which box a negative one "matched" is unused.
    positive = expected_indicators.numpy() == 1
    np.testing.assert_array_equal(got_boxes.numpy()[positive], expected_boxes.numpy()[positive])
    for got_part, expected_part in zip(tf.nest.flatten(ours.label_anchors(anchor_boxes, boxes, labels)),
                                       tf.nest.flatten(stock.label_anchors(anchor_boxes, boxes, labels))):
        np.testing.assert_array_equal(got_part, expected_part)
