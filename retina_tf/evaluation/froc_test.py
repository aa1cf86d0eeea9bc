"""Tests for the lesion FROC on a hand-built set of microaneurysms."""

import numpy as np
import pytest

from retina_tf import EXUDATE, MICROANEURYSM
from retina_tf.evaluation import froc
from retina_tf.evaluation.records import ABSENT, ANNOTATED, UNKNOWN
from retina_tf.testing.evaluation import photograph, rectangle

MA = MICROANEURYSM
SHAPE = (96, 96)


def big(*box):
    return rectangle(*box, shape=SHAPE)


def hand_built():
    """Photograph 1: L1, L2, L3; photograph 2: L4; photograph 3: microaneurysms absent."""
    first = photograph(
        [(MA, big(0, 0, 10, 10)), (MA, big(40, 40, 50, 50)), (MA, big(70, 70, 80, 80))],
        [(MA, big(0, 0, 10, 10), 0.9),     # P1 finds L1 (IoU 1)
         (MA, big(0, 0, 10, 30), 0.7),     # P3 hits L1 again (IoU 1/3): ignored
         (MA, big(60, 0, 64, 4), 0.5),     # P5 false positive
         (MA, big(40, 44, 50, 56), 0.3),   # P7 finds L2 by IoU 60/160 = 0.375; centre (45, 50) outside
         (MA, big(70, 78, 80, 90), 0.2),   # P8 near L3: IoU 20/200 = 0.1, centre (75, 84) outside: FP
         (EXUDATE, big(0, 0, 10, 10), 0.99)],  # another type: not counted
        {EXUDATE: UNKNOWN, MA: ANNOTATED}, image_id=1, shape=SHAPE)
    second = photograph(
        [(MA, big(20, 20, 23, 23))],
        [(MA, big(12, 12, 32, 32), 0.6),   # P4 finds L4 by centre (22, 22) only: IoU 9/400
         (MA, big(80, 80, 84, 84), 0.4)],  # P6 false positive
        {MA: ANNOTATED}, image_id=2, shape=SHAPE)
    healthy = photograph([], [(MA, big(50, 50, 53, 53), 0.8)],  # P2 false positive on a healthy eye
                         {EXUDATE: ANNOTATED, MA: ABSENT}, image_id=3, shape=SHAPE)
    unknown = photograph([], [(MA, big(5, 5, 8, 8), 0.95)], {EXUDATE: ANNOTATED}, image_id=4, shape=SHAPE)
    return [first, second, healthy, unknown]


def test_hand_built_sensitivities():
    result = froc.lesion_froc(hand_built(), MA)
    # 3 photographs (the 4th: type unknown), 4 lesions. Cumulative (FPs, found) by score:
    # P1 (0, 1), P2 (1, 1), P3 (1, 1), P4 (1, 2), P5 (2, 2), P6 (3, 2), P7 (3, 3), P8 (4, 3).
    # FP rate = FPs / 3; sensitivity = found / 4.
    assert (result.photographs, result.lesions) == (3, 4)
    expected = {0.125: 1 / 4,   # only FP rate 0 qualifies
                0.25: 1 / 4,
                0.5: 2 / 4,     # FP rate 1/3 reached with 2 found
                1.0: 3 / 4,     # FP rate 1 with 3 found
                2.0: 3 / 4, 4.0: 3 / 4, 8.0: 3 / 4}
    assert result.sensitivity_at == pytest.approx(expected)
    assert result.score == pytest.approx((1 / 4 + 1 / 4 + 2 / 4 + 4 * 3 / 4) / 7)  # = 4/7
    np.testing.assert_allclose(result.fp_rates, np.array([0, 0, 1, 1, 1, 2, 3, 3, 4]) / 3)
    np.testing.assert_allclose(result.sensitivities, np.array([0, 1, 1, 1, 2, 2, 2, 3, 3]) / 4)


def test_hits_by_iou_or_by_centre():
    first, second = hand_built()[:2]

    def lesions(result, hit_iou=froc.HIT_IOU):
        return froc.lesion_hits(result.predictions.of_class(MA), result.ground_truth.of_class(MA), hit_iou)

    np.testing.assert_array_equal(lesions(first), [[1, 0, 0], [1, 0, 0], [0, 0, 0], [0, 1, 0], [0, 0, 0]])
    # At hit_iou 0.5, P3 (IoU 1/3) and P7 (IoU 0.375) miss: their centres lie outside the lesions.
    np.testing.assert_array_equal(lesions(first, hit_iou=0.5), [[1, 0, 0]] + [[0, 0, 0]] * 4)
    # P4 hits L4 by its centre whatever the IoU threshold.
    np.testing.assert_array_equal(lesions(second, hit_iou=1.0), [[1], [0]])


def test_prediction_hitting_two_lesions_finds_both():
    # IoU 4/12 with each 2x2 lesion; the centre (11, 13) lies in the gap between them.
    truth = [(MA, rectangle(10, 10, 12, 12)), (MA, rectangle(10, 14, 12, 16))]
    result = froc.lesion_froc([photograph(truth, [(MA, rectangle(10, 10, 12, 16), 0.9)])], MA)
    assert result.sensitivity_at[0.125] == 1.0


def test_no_lesions_gives_none():
    result = froc.lesion_froc([hand_built()[2]], MA)
    assert (result.photographs, result.lesions, result.score) == (1, 0, None)
    assert set(result.sensitivity_at.values()) == {None}
