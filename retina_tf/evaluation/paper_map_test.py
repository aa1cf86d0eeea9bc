"""Tests for the paper's per-photograph mAP, against hand arithmetic and an independent VOC AP."""

import numpy as np
import pytest

from retina_tf import EXUDATE, MICROANEURYSM
from retina_tf.evaluation import paper_map as pm
from retina_tf.evaluation.records import ABSENT, ANNOTATED, UNKNOWN
from retina_tf.testing.evaluation import disk, photograph, rectangle

A, B, C = rectangle(0, 0, 10, 10), rectangle(20, 20, 30, 30), rectangle(40, 40, 50, 50)
LESIONS = [(EXUDATE, A), (EXUDATE, B), (EXUDATE, C)]
PERFECT = [(EXUDATE, A, 0.9), (EXUDATE, B, 0.8), (EXUDATE, C, 0.7)]
FALSE_POSITIVE = rectangle(55, 0, 60, 5)
BOTH_KNOWN = {EXUDATE: ANNOTATED, MICROANEURYSM: ABSENT}


def ap_of(predictions, status=None, ground_truth=LESIONS):
    return pm.compute_paper_map([photograph(ground_truth, predictions, status)]).mean_ap


def test_perfect_predictions_score_one_at_every_threshold():
    assert ap_of(PERFECT) == {0.35: 1.0, 0.5: 1.0, 0.75: 1.0}


@pytest.mark.parametrize("predictions, expected", [
    # Lowest-scoring FP: ranks TP TP TP FP; every recall step has precision 1 -> AP 1.
    (PERFECT + [(EXUDATE, FALSE_POSITIVE, 0.1)], 1.0),
    # Highest-scoring FP: FP TP TP TP, precision 0, 1/2, 2/3, 3/4 at recall 0, 1/3, 2/3, 1;
    # interpolated precision is 3/4 on every step -> AP = 3 * 1/3 * 3/4 = 0.75.
    (PERFECT + [(EXUDATE, FALSE_POSITIVE, 0.95)], 0.75),
    # C missed: TP TP, recall reaches 2/3 at precision 1 -> AP = 2/3.
    (PERFECT[:2], 2 / 3),
    # Duplicate of A at 0.85: TP FP TP TP, precision 1, 1/2, 2/3, 3/4 at recall 1/3, 1/3, 2/3, 1;
    # steps: 1/3 * 1 + 1/3 * 3/4 + 1/3 * 3/4 = 2.5 / 3 = 0.8333.
    (PERFECT + [(EXUDATE, A, 0.85)], 2.5 / 3),
    # C called a microaneurysm at 0.95 (type known absent, so not filtered): FP TP TP,
    # precision 0, 1/2, 2/3 at recall 0, 1/3, 2/3 -> AP = 1/3 * 2/3 + 1/3 * 2/3 = 4/9.
    (PERFECT[:2] + [(MICROANEURYSM, C, 0.95)], 4 / 9),
])
def test_one_error_moves_ap_by_the_hand_computed_amount(predictions, expected):
    assert ap_of(predictions, BOTH_KNOWN)[0.5] == pytest.approx(expected)


def test_a_duplicate_of_the_top_match_is_a_false_positive_unlike_matterport():
    result = photograph(LESIONS, PERFECT + [(EXUDATE, A, 0.85)])
    # matterport tests gt_match[j] > 0: A, matched by prediction 0, looks unmatched, so the
    # duplicate matches it again ([0, 1, 2, 0]) and recall reaches 4/3. Here it matches nothing.
    matches = pm.match_lesions(result.predictions, result.ground_truth, 0.5)
    np.testing.assert_array_equal(matches, [0, 1, 2, -1])


def test_iou_threshold_decides_a_loose_outline():
    # 10x7 of the 10x10 lesion: IoU 0.7 -> a match at 0.35 and 0.5, a miss at 0.75.
    result = ap_of([(EXUDATE, rectangle(0, 0, 10, 7), 0.9)], ground_truth=[(EXUDATE, A)])
    assert result == {0.35: 1.0, 0.5: 1.0, 0.75: 0.0}


def test_prediction_of_an_unknown_type_is_ignored():
    top_microaneurysm = [(MICROANEURYSM, FALSE_POSITIVE, 0.99)]
    assert ap_of(PERFECT + top_microaneurysm, {EXUDATE: ANNOTATED, MICROANEURYSM: UNKNOWN})[0.5] == 1.0
    assert ap_of(PERFECT + top_microaneurysm, BOTH_KNOWN)[0.5] == 0.75


def test_photograph_without_lesions_is_counted_not_averaged():
    lesion = photograph(LESIONS, PERFECT[:2], image_id=1)
    healthy = photograph([], [(EXUDATE, FALSE_POSITIVE, 0.95)], BOTH_KNOWN, image_id=2)
    alone, together = pm.compute_paper_map([lesion]), pm.compute_paper_map([lesion, healthy])
    assert together.mean_ap == alone.mean_ap == pytest.approx({0.35: 2 / 3, 0.5: 2 / 3, 0.75: 2 / 3})
    assert (together.photographs, together.photographs_without_lesions) == (1, 1)
    # The pooled curve does charge the healthy photograph's false positive: FP (0.95), TP, TP.
    curve = together.curves[EXUDATE][0.5]
    np.testing.assert_allclose(curve.precision, [0, 1 / 2, 2 / 3])


def test_per_class_ap_averages_only_photographs_with_that_class():
    both = photograph([(EXUDATE, A), (MICROANEURYSM, C)],
                      [(EXUDATE, A, 0.9), (MICROANEURYSM, B, 0.8)], image_id=1)
    exudates = photograph([(EXUDATE, B)], [(EXUDATE, B, 0.9)], image_id=2)
    result = pm.compute_paper_map([both, exudates])
    # both: TP FP over 2 lesions -> AP 1/2; exudates: 1 -> mean 3/4.
    assert result.mean_ap[0.5] == pytest.approx(0.75)
    assert result.class_mean_ap[EXUDATE][0.5] == 1.0
    assert result.class_mean_ap[MICROANEURYSM][0.5] == 0.0
    assert result.class_photographs == {EXUDATE: 2, MICROANEURYSM: 1}


def test_no_photographs_give_none_not_nan():
    result = pm.compute_paper_map([])
    assert result.mean_ap == {0.35: None, 0.5: None, 0.75: None}
    assert result.class_mean_ap[EXUDATE][0.5] is None
    assert result.curves[EXUDATE][0.5].average_precision is None


def independent_voc_ap(labels_truth, masks_truth, labels_found, masks_found, scores, threshold):
    """Dense-mask IoU; each prediction, best score first, takes the best unmatched lesion of
    its class; AP = (1/G) * sum over true positives of the best precision at that rank or later."""
    truth = np.reshape(masks_truth, (len(masks_truth), -1)).astype(float)
    found = np.reshape(masks_found, (len(masks_found), -1)).astype(float)
    inter = found @ truth.T
    iou = inter / (found.sum(1)[:, None] + truth.sum(1)[None, :] - inter)
    taken, hits = set(), []
    for i in np.argsort(-np.asarray(scores)):
        options = [(iou[i, j], -j) for j in range(len(truth))
                   if j not in taken and labels_truth[j] == labels_found[i] and iou[i, j] >= threshold]
        if options:
            taken.add(-max(options)[1])
        hits.append(bool(options))
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return sum(precision[k:].max() for k in range(len(hits)) if hits[k]) / len(truth)


def random_lesion(rng):
    if rng.random() < 0.5:
        y, x = rng.integers(0, 56, 2)
        return rectangle(y, x, y + rng.integers(2, 9), x + rng.integers(2, 9))
    return disk(*rng.integers(4, 60, 2), rng.integers(1, 5))


def test_agrees_with_an_independent_voc_all_point_ap_on_random_photographs():
    rng = np.random.default_rng(7)
    for case in range(30):
        truth = [(int(rng.integers(1, 3)), random_lesion(rng)) for _ in range(rng.integers(1, 7))]
        found = [(label if rng.random() < 0.9 else 3 - label, np.roll(mask, rng.integers(-1, 2, 2), (0, 1)),
                  float(rng.random())) for label, mask in truth if rng.random() < 0.8]
        found += [(int(rng.integers(1, 3)), random_lesion(rng), float(rng.random()))
                  for _ in range(rng.integers(0, 5))]
        found += [(label, mask, float(rng.random())) for label, mask, _ in found[:rng.integers(0, 2)]]
        if not found:
            continue
        got = pm.compute_paper_map([photograph(truth, found)], (0.5,)).mean_ap[0.5]
        expected = independent_voc_ap(*zip(*truth), *zip(*found), 0.5)
        assert got == pytest.approx(expected), f"case {case}"
