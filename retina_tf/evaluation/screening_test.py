"""Tests for photograph-level screening on a hand-built set."""

import numpy as np
import pytest

from retina_tf import EXUDATE, MICROANEURYSM
from retina_tf.evaluation import screening
from retina_tf.evaluation.records import ABSENT, ANNOTATED, UNKNOWN
from retina_tf.testing.evaluation import photograph, rectangle

LESION, ELSEWHERE = rectangle(0, 0, 5, 5), rectangle(30, 30, 33, 33)


def scene(image_id, exudate, microaneurysm, exudate_score, microaneurysm_score):
    """exudate/microaneurysm: a status, or "lesion" for annotated with a lesion drawn."""
    status, truth, found = {}, [], []
    for label, known, score in ((EXUDATE, exudate, exudate_score), (MICROANEURYSM, microaneurysm,
                                                                     microaneurysm_score)):
        status[label] = ANNOTATED if known == "lesion" else known
        truth += [(label, LESION)] if known == "lesion" else []
        found += [(label, ELSEWHERE, score)] if score else []
    return photograph(truth, found, status, image_id)


PHOTOGRAPHS = [
    scene(1, "lesion", ABSENT, 0.9, 0.8),
    scene(2, "lesion", UNKNOWN, 0.4, 0.99),   # the microaneurysm score is not looked at
    scene(3, ABSENT, "lesion", None, 0.7),    # no exudate predicted: score 0
    scene(4, ABSENT, ABSENT, 0.3, 0.55),
    scene(5, UNKNOWN, ANNOTATED, None, 0.2),  # annotated, nothing drawn: negative
]


def test_hand_built_sensitivity_specificity_and_auc():
    result = screening.screen_photographs(PHOTOGRAPHS, threshold=0.5)
    exudate, microaneurysm, any_lesion = (result[name] for name in ("exudate", "microaneurysm", "any lesion"))
    # Exudate: positives 0.9, 0.4; negatives 0, 0.3. At 0.5: sensitivity 1/2, specificity 2/2;
    # every positive outranks every negative: AUC 1.
    assert (exudate.positives, exudate.negatives) == (2, 2)
    assert (exudate.sensitivity, exudate.specificity, exudate.auc) == (0.5, 1.0, 1.0)
    # Microaneurysm: positive 0.7; negatives 0.8 (absent type, predicted: raises the score), 0.55, 0.2.
    # Sensitivity 1/1, specificity 1/3 (only 0.2 < 0.5); the positive outranks 2 of 3 negatives: AUC 2/3.
    assert (microaneurysm.positives, microaneurysm.negatives) == (1, 3)
    assert microaneurysm.sensitivity == 1.0
    assert microaneurysm.specificity == pytest.approx(1 / 3)
    assert microaneurysm.auc == pytest.approx(2 / 3)
    # Any lesion, max over known types: positives 0.9, 0.4 (not 0.99: unknown), 0.7; negatives 0.55, 0.2.
    # Sensitivity 2/3, specificity 1/2; pairs won: 2 + 1 + 2 of 6 -> AUC 5/6.
    assert (any_lesion.positives, any_lesion.negatives) == (3, 2)
    assert any_lesion.sensitivity == pytest.approx(2 / 3)
    assert any_lesion.specificity == 0.5
    assert any_lesion.auc == pytest.approx(5 / 6)


def test_roc_curve_runs_from_origin_to_one():
    curve = screening.screen_photographs(PHOTOGRAPHS)["microaneurysm"]
    np.testing.assert_allclose(curve.false_positive_rates, [0, 1 / 3, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(curve.true_positive_rates, [0, 0, 1, 1, 1])


def test_without_negatives_specificity_and_auc_are_none():
    result = screening.screen_photographs(PHOTOGRAPHS[:2])["exudate"]
    assert result.sensitivity == 0.5
    assert result.specificity is None and result.auc is None
    assert "no negative" in result.note


def test_perfect_ranking_has_auc_one():
    result = screening.screening_figures("test", [True, False, True, False], [0.9, 0.1, 0.6, 0.5])
    assert result.auc == 1.0 and result.note is None
