"""Tests for the IDRiD pixel AUPR against a brute-force reference on hand-made photographs."""

import numpy as np
import pytest

from retina_tf import EXUDATE, MICROANEURYSM
from retina_tf.data import fundus
from retina_tf.evaluation import pixel_aupr
from retina_tf.evaluation.records import ABSENT, ANNOTATED
from retina_tf.testing.evaluation import SHAPE, photograph, rectangle

EX = EXUDATE
ONLY_EXUDATES = {EX: ANNOTATED}
EXACT = 1e-12   # relative: both sides divide and sum the same integer counts, in at most a few roundings each


def reference_aupr(score_maps, drawn_masks) -> float:
    """Every pixel of every photograph at once: precision and recall at each distinct score, step-wise."""
    scores = np.concatenate([np.ravel(s) for s in score_maps])
    truth = np.concatenate([np.ravel(m) for m in drawn_masks]).astype(bool)
    order = np.argsort(-scores, kind="stable")
    scores, truth = scores[order], truth[order]
    average, last_recall = 0.0, 0.0
    for threshold in sorted(set(scores.tolist()), reverse=True):
        found = scores >= threshold
        hits = int(np.sum(truth & found))
        recall, precision = hits / int(truth.sum()), hits / int(found.sum())
        average += (recall - last_recall) * precision
        last_recall = recall
    return average


def score_maps(results, label=EX):
    return [pixel_aupr.score_map(r.predictions, label, r.height, r.width) for r in results]


def test_overlapping_masks_score_their_highest_prediction():
    result = photograph(predictions=[(EX, rectangle(0, 0, 10, 10), 0.4), (EX, rectangle(5, 5, 15, 15), 0.9),
                                     (EX, rectangle(0, 0, 3, 3), 0.2), (MICROANEURYSM, rectangle(20, 20, 30, 30), 1.0)])
    scores = pixel_aupr.score_map(result.predictions, EX, *SHAPE)
    assert (scores[7, 7], scores[2, 2], scores[12, 12], scores[25, 25]) == (0.9, 0.4, 0.9, 0.0)
    assert set(np.unique(scores)) == {0.0, 0.4, 0.9}


def test_ties_enter_together_and_overlaps_take_the_maximum():
    lesion = rectangle(10, 10, 20, 20)
    results = [
        photograph(predictions=[(EX, rectangle(10, 10, 15, 20), 0.6), (EX, rectangle(40, 40, 50, 50), 0.6),
                                (EX, rectangle(12, 12, 30, 30), 0.8), (EX, rectangle(15, 10, 20, 20), 0.3)],
                   status=ONLY_EXUDATES, drawn={EX: lesion}, image_id=1),
        photograph(predictions=[(EX, rectangle(0, 0, 8, 8), 0.6)], status=ONLY_EXUDATES,
                   drawn={EX: rectangle(0, 0, 4, 4)}, image_id=2),
    ]
    got = pixel_aupr.compute_pixel_aupr(results, EX)
    expected = reference_aupr(score_maps(results), [lesion, rectangle(0, 0, 4, 4)])
    assert got.aupr == pytest.approx(expected, rel=EXACT)
    np.testing.assert_array_equal(got.thresholds, [0.8, 0.6, 0.3, 0.0])
    assert (got.photographs, got.pixels, got.lesion_pixels) == (2, 2 * 64 * 64, 100 + 16)
    assert got.recall[-1] == 1.0 and got.precision[-1] == pytest.approx(116 / (2 * 64 * 64), rel=EXACT)


def test_matches_sklearn_average_precision():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    found = [(EX, rectangle(*rng.integers(0, 32, 2), *rng.integers(32, 64, 2)), float(s))
             for s in rng.choice([0.2, 0.5, 0.7, 0.9], 12)]
    drawn = rectangle(20, 20, 40, 44) | rectangle(0, 50, 6, 64)
    result = photograph(predictions=found, status=ONLY_EXUDATES, drawn={EX: drawn})
    expected = metrics.average_precision_score(drawn.ravel(), score_maps([result])[0].ravel())
    assert pixel_aupr.compute_pixel_aupr([result], EX).aupr == pytest.approx(expected, rel=EXACT)


def test_no_predictions_give_the_prevalence():
    result = photograph(status=ONLY_EXUDATES, drawn={EX: rectangle(0, 0, 8, 8)})
    got = pixel_aupr.compute_pixel_aupr([result], EX)
    assert got.aupr == pytest.approx(64 / 4096, rel=EXACT)
    np.testing.assert_array_equal(got.thresholds, [0.0])


def test_no_lesion_pixels_give_none():
    healthy = photograph(predictions=[(EX, rectangle(0, 0, 8, 8), 0.9)], status={EX: ABSENT}, drawn={})
    blank = photograph(status=ONLY_EXUDATES, drawn={EX: np.zeros(SHAPE, bool)}, image_id=2)
    got = pixel_aupr.compute_pixel_aupr([healthy, blank], EX)
    assert (got.aupr, got.photographs, got.pixels, got.lesion_pixels) == (None, 2, 2 * 4096, 0)
    assert len(got.precision) == len(got.recall) == len(got.thresholds) == 0
    assert pixel_aupr.compute_pixel_aupr([], EX).aupr is None


def test_absent_photographs_add_negatives_and_unknown_ones_are_left_out():
    lesion = rectangle(10, 10, 20, 20)
    annotated = photograph(predictions=[(EX, rectangle(10, 10, 20, 15), 0.5)], status=ONLY_EXUDATES,
                           drawn={EX: lesion}, image_id=1)
    absent = photograph(predictions=[(EX, rectangle(0, 0, 30, 30), 0.7)], status={EX: ABSENT}, drawn={}, image_id=2)
    unknown = photograph(predictions=[(EX, rectangle(0, 0, 64, 64), 0.99)],
                         status={MICROANEURYSM: ANNOTATED}, drawn={MICROANEURYSM: lesion}, image_id=3)
    got = pixel_aupr.compute_pixel_aupr([annotated, absent, unknown], EX)
    assert got.aupr == pytest.approx(reference_aupr(score_maps([annotated, absent]), [lesion, np.zeros(SHAPE)]),
                                     rel=EXACT)
    assert (got.photographs, got.pixels, got.lesion_pixels) == (2, 2 * 4096, 100)
    # Threshold 0.7 finds only the absent photograph's 900 pixels: precision 0 at recall 0.
    assert got.precision[0] == 0.0 and got.recall[0] == 0.0


def test_photographs_without_what_a_type_needs_are_refused():
    unknown = photograph(status={MICROANEURYSM: ANNOTATED})
    with pytest.raises(ValueError, match="unknown"):
        pixel_aupr.photograph_counts(unknown, EX)
    with pytest.raises(ValueError, match="no lesion_pixels"):
        pixel_aupr.compute_pixel_aupr([photograph(status=ONLY_EXUDATES)], EX)


def test_pooling_equals_one_photograph_of_them_side_by_side():
    left = ([(EX, rectangle(0, 0, 10, 10), 0.9), (EX, rectangle(30, 30, 40, 40), 0.4)], rectangle(0, 0, 12, 12))
    right = ([(EX, rectangle(5, 5, 15, 25), 0.4), (EX, rectangle(50, 0, 64, 20), 0.7)], rectangle(50, 0, 60, 10))
    apart = [photograph(predictions=found, status=ONLY_EXUDATES, drawn={EX: drawn}, image_id=i)
             for i, (found, drawn) in enumerate((left, right))]

    def beside(mask, side):   # the mask in the left or right half of a 64 x 128 photograph
        return np.hstack([mask, np.zeros(SHAPE, bool)][::1 if side == 0 else -1])

    joined = photograph(
        predictions=[(label, beside(mask, side), score)
                     for side, (found, _) in enumerate((left, right)) for label, mask, score in found],
        status=ONLY_EXUDATES, drawn={EX: beside(left[1], 0) | beside(right[1], 1)}, shape=(64, 128))
    pooled, whole = pixel_aupr.compute_pixel_aupr(apart, EX), pixel_aupr.compute_pixel_aupr([joined], EX)
    assert pooled.aupr == pytest.approx(whole.aupr, rel=EXACT)
    assert (pooled.pixels, pooled.lesion_pixels) == (whole.pixels, whole.lesion_pixels)
    np.testing.assert_array_equal(pooled.thresholds, whole.thresholds)


def test_the_curve_is_thinned_but_the_aupr_reads_all_of_it(monkeypatch):
    found = [(EX, rectangle(0, 0, 8, 8 * (i + 1)), score) for i, score in enumerate((0.9, 0.8, 0.6, 0.5, 0.3))]
    result = photograph(predictions=found, status=ONLY_EXUDATES, drawn={EX: rectangle(0, 0, 16, 16)})
    full = pixel_aupr.compute_pixel_aupr([result], EX)
    monkeypatch.setattr(pixel_aupr, "CURVE_POINTS", 3)
    thinned = pixel_aupr.compute_pixel_aupr([result], EX)
    assert len(full.thresholds) == 6 and thinned.aupr == full.aupr
    np.testing.assert_array_equal(thinned.thresholds, full.thresholds[[0, 2, 5]])   # both ends kept


def test_to_original_places_nearest_neighbours_in_the_eye_box_cut_at_the_edges():
    # Eye box rows -2..6 (8 rows for 2) and columns 1..5 (4 for 2) on a 5 x 6 photograph.
    placed = pixel_aupr.to_original(np.array([[1, 2], [3, 4]]), [-2, 1, 6, 5, 5, 6])
    np.testing.assert_array_equal(placed, [[0, 1, 1, 2, 2, 0],
                                           [0, 1, 1, 2, 2, 0],
                                           [0, 3, 3, 4, 4, 0],
                                           [0, 3, 3, 4, 4, 0],
                                           [0, 3, 3, 4, 4, 0]])
    # Beyond the bottom and right edges: rows 2..8 (2 each) and columns 3..9 (3 each) of a 4 x 6 photograph.
    placed = pixel_aupr.to_original(np.array([[1, 2], [3, 4], [5, 6]]), [2, 3, 8, 9, 4, 6], fill=-1)
    np.testing.assert_array_equal(placed, [[-1] * 6, [-1] * 6, [-1, -1, -1, 1, 1, 1], [-1, -1, -1, 1, 1, 1]])


@pytest.mark.parametrize("geometry", [[-2, 3, 4, 8, 3, 6], [1, -2, 7, 3, 5, 4], [-1, -1, 7, 6, 5, 4]])
def test_to_original_follows_fundus_mask_to_original(geometry):
    ymin, xmin, ymax, xmax = geometry[:4]
    # At scale 1 bilinear sampling is exact: the two maps agree value for value.
    values = np.arange((ymax - ymin) * (xmax - xmin), dtype=np.float32).reshape(ymax - ymin, xmax - xmin) + 1
    np.testing.assert_array_equal(pixel_aupr.to_original(values, geometry),
                                  fundus.mask_to_original(values, np.float32(geometry)).numpy())
    # Scaled, they cover the same pixels.
    ones = np.ones((3, 2), np.float32)
    np.testing.assert_array_equal(pixel_aupr.to_original(ones, geometry) > 0,
                                  fundus.mask_to_original(ones, np.float32(geometry)).numpy() > 0)


def test_scores_at_the_original_size_keep_the_predicted_values():
    # A 4 x 4 prediction space; eye box rows -2..6, columns 1..9 of a 5 x 10 photograph (2 x 2 pixels per cell).
    geometry = [-2, 1, 6, 9, 5, 10]
    drawn = rectangle(0, 3, 2, 6, shape=(5, 10))
    result = photograph(predictions=[(EX, rectangle(0, 0, 2, 2, shape=(4, 4)), 0.9),
                                     (EX, rectangle(1, 1, 4, 4, shape=(4, 4)), 0.5)],
                        status=ONLY_EXUDATES, shape=(4, 4), drawn={EX: drawn}, geometry=geometry)
    placed = pixel_aupr.to_original(score_maps([result])[0], geometry)
    assert set(np.unique(placed)) == {0.0, 0.5, 0.9}
    np.testing.assert_array_equal(placed[0], [0, 0.9, 0.9, 0.9, 0.9, 0.5, 0.5, 0.5, 0.5, 0])
    counts = pixel_aupr.photograph_counts(result, EX)
    assert counts.lesion.sum() == 6 and counts.lesion.sum() + counts.background.sum() == 50
    got = pixel_aupr.compute_pixel_aupr([result], EX)
    assert (got.pixels, got.lesion_pixels) == (50, 6)
    assert got.aupr == pytest.approx(reference_aupr([placed], [drawn]), rel=EXACT)


def test_lesions_found_beyond_the_photograph_s_edge_set_no_threshold():
    # Eye box rows -4..4 of a 4 x 4 photograph: prediction rows 0..1 fall above its top edge.
    geometry = [-4, 0, 4, 4, 4, 4]
    result = photograph(predictions=[(EX, rectangle(0, 0, 2, 4, shape=(4, 4)), 0.9),
                                     (EX, rectangle(2, 0, 3, 2, shape=(4, 4)), 0.4)],
                        status=ONLY_EXUDATES, shape=(4, 4), drawn={EX: rectangle(0, 0, 2, 2, shape=(4, 4))},
                        geometry=geometry)
    got = pixel_aupr.compute_pixel_aupr([result], EX)
    np.testing.assert_array_equal(got.thresholds, [0.4, 0.0])
    placed = pixel_aupr.to_original(score_maps([result])[0], geometry)
    assert got.aupr == pytest.approx(reference_aupr([placed], [rectangle(0, 0, 2, 2, shape=(4, 4))]), rel=EXACT)

