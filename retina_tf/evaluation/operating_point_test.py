"""Tests for the operating point: thresholds chosen per lesion type on hand-built photographs, and its file."""

import json

import pytest

from retina_tf import EXUDATE, MICROANEURYSM
from retina_tf.evaluation import operating_point
from retina_tf.evaluation.records import ABSENT, ANNOTATED, UNKNOWN
from retina_tf.testing.evaluation import photograph, rectangle
from retina_tf.utils.errors import UserError

MA = MICROANEURYSM


def lesion(index: int):
    """The index-th 4x4 lesion of a row along the top of the photograph."""
    return rectangle(0, 8 * index, 4, 8 * index + 4)


def nowhere(index: int):
    """A 2x2 prediction far from every lesion: a false positive."""
    return rectangle(50, 8 * index, 52, 8 * index + 2)


def microaneurysms(finds, false_positives, status=None, image_id=1, lesions=None):
    """A photograph whose microaneurysm lesions are found at the scores `finds` (one lesion each) and whose
    false positives score `false_positives`; `lesions` (default: one per find) may add missed ones."""
    truth = [(MA, lesion(index)) for index in range(len(finds) if lesions is None else lesions)]
    predictions = ([(MA, lesion(index), score) for index, score in enumerate(finds)]
                   + [(MA, nowhere(index), score) for index, score in enumerate(false_positives)])
    return photograph(truth, predictions, {EXUDATE: ANNOTATED, MA: ANNOTATED} if status is None else status,
                      image_id)


def test_the_lowest_score_within_the_target_over_photographs_pooled():
    # Pooled by score: 0.9 find (0 FP / 1), 0.8 FP (1/1), 0.6 find (1/2), 0.5 FP (2/2), 0.4 find (2/3),
    # 0.3 FP (3/3). At most 0.5 false positives per find: 0.9 and 0.6; 0.4 gives 0.67.
    results = [microaneurysms([0.9, 0.4], [0.8, 0.3], lesions=3), microaneurysms([0.6], [0.5], image_id=2)]
    chosen = operating_point.choose_threshold(results, MA)
    assert chosen == operating_point.LesionThreshold(
        0.6, "the lowest score with at most 0.5 false positives per lesion found", 2, 4, 1)
    assert operating_point.choose_threshold(results, MA, target=0.0).threshold == 0.9
    assert operating_point.choose_threshold(results, MA, target=1.0).threshold == 0.3


def test_tied_scores_enter_together():
    # A find and a false positive both at 0.8 give 1 per find; no threshold parts them. 0.6 adds a find: 1/2.
    results = [microaneurysms([0.8, 0.6], [0.8])]
    assert [operating_point.choose_threshold(results, MA, target).threshold for target in (0.5, 0.99, 1.0)] == [
        0.6, 0.6, 0.6]
    chosen = operating_point.choose_threshold(results, MA, target=0.4)
    assert chosen.threshold == 0.6 and chosen.chosen_by.startswith("no score reaches 0.4")


def test_an_unreachable_target_takes_the_fewest_false_positives_per_find_and_the_lowest_of_equals():
    # 0.9: 1 FP / 1 find; 0.8: 2/1; 0.7: 2/2 (equal to 0.9, more found); 0.6: 3/2.
    results = [microaneurysms([0.9, 0.7], [0.9, 0.8, 0.6])]
    chosen = operating_point.choose_threshold(results, MA)
    assert (chosen.threshold, chosen.found, chosen.lesions, chosen.false_positives) == (0.7, 2, 2, 2)
    assert chosen.chosen_by == ("no score reaches 0.5 false positives per lesion found: the lowest score with the "
                                "fewest, 1.00")


def test_a_type_without_lesions_or_without_finds_keeps_the_default():
    healthy = microaneurysms([], [0.9, 0.2], status={MA: ABSENT})
    chosen = operating_point.choose_threshold([healthy], MA)
    assert (chosen.threshold, chosen.found, chosen.lesions, chosen.false_positives) == (0.35, 0, 0, 1)
    assert chosen.chosen_by == "default: the paper's minimum detection confidence (no microaneurysm on the photographs)"
    missed = microaneurysms([], [0.9], lesions=2)
    chosen = operating_point.choose_threshold([missed], MA)
    assert (chosen.threshold, chosen.lesions, chosen.false_positives) == (0.35, 2, 1)
    assert chosen.chosen_by.endswith("(none of the 2 lesions found)")
    assert operating_point.choose_threshold([], MA).threshold == operating_point.DEFAULT_THRESHOLD


def test_every_type_is_chosen_on_its_own_predictions():
    results = [microaneurysms([0.7], [0.2])]
    chosen = operating_point.choose_operating_point(results)
    assert list(chosen) == ["exudate", "microaneurysm"]
    assert chosen["exudate"].threshold == 0.35 and chosen["microaneurysm"].threshold == 0.7


def test_false_positives_per_find_at_a_threshold_leave_out_photographs_where_the_type_is_unknown():
    results = [microaneurysms([0.9, 0.4], [0.8, 0.3], lesions=3),
               microaneurysms([], [0.99], status={EXUDATE: ANNOTATED, MA: UNKNOWN}, image_id=2)]
    assert operating_point.false_positives_per_find(results, MA) == (1, 2, 3)       # at 0.35
    assert operating_point.false_positives_per_find(results, MA, 0.85) == (0, 1, 3)
    assert operating_point.false_positives_per_find(results, MA, 0.95) == (0, 0, 3)


def test_the_file_evaluate_writes_is_what_export_reads(tmp_path):
    chosen = operating_point.choose_operating_point([microaneurysms([0.7123456789], [0.2])])
    path = operating_point.write_operating_point(chosen, tmp_path / "report", "validation", 1, "runs/m/ckpt-5")
    written = json.loads(path.read_text())
    assert path.name == "operating_point.json" and written["split"] == "validation"
    assert written["lesion_types"]["microaneurysm"] == {
        "threshold": 0.7123456789, "chosen_by": "the lowest score with at most 0.5 false positives per lesion found",
        "found": 1, "lesions": 1, "false_positives": 0}
    point = operating_point.read_operating_point(path)
    assert point.thresholds == {"exudate": 0.35, "microaneurysm": 0.7123456789}   # exact: no rounding
    assert point.chosen_by.startswith(f"{path}, chosen on the validation split; exudate: default")
    assert point.to_json() == {"exudate": 0.35, "microaneurysm": 0.7123456789, "chosen_by": point.chosen_by}
    assert point.describe() == "exudate >= 0.35, microaneurysm >= 0.7123"


@pytest.mark.parametrize("content, reason", [
    (None, "no such file"),
    ("{not json", "not JSON"),
    ('{"exudate": 0.4}', "no 'lesion_types': not an operating_point.json of retina-tf evaluate"),
    ('{"lesion_types": {"exudate": {"threshold": 0.4}}}',
     "lesion_types.microaneurysm.threshold must be a score from 0 to 1, got nothing"),
    ('{"lesion_types": {"exudate": {"threshold": "high"}, "microaneurysm": {"threshold": 0.3}}}',
     'lesion_types.exudate.threshold must be a score from 0 to 1, got "high"'),
    ('{"lesion_types": {"exudate": {"threshold": 1.5}, "microaneurysm": {"threshold": 0.3}}}',
     "must be a score from 0 to 1, got 1.5"),
    ('{"lesion_types": {"haemorrhage": {"threshold": 0.5}}}', "unknown lesion type(s) haemorrhage"),
])
def test_a_bad_file_is_one_line_naming_it(tmp_path, content, reason):
    path = tmp_path / "operating_point.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UserError) as raised:
        operating_point.read_operating_point(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: ") and reason in message and "\n" not in message
