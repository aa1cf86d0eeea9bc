"""Tests for the report: JSON without NaN, the Markdown tables, the plots."""

import json

from retina_tf import EXUDATE, MICROANEURYSM
from retina_tf.evaluation import report
from retina_tf.evaluation.records import ABSENT, ANNOTATED
from retina_tf.evaluation.testing import disk, photograph, rectangle

BOTH = {EXUDATE: ANNOTATED, MICROANEURYSM: ANNOTATED}


def results():
    return [
        photograph([(EXUDATE, rectangle(0, 0, 10, 10)), (MICROANEURYSM, disk(40, 40, 2))],
                   [(EXUDATE, rectangle(0, 0, 10, 10), 0.9), (MICROANEURYSM, disk(40, 40, 2), 0.8),
                    (EXUDATE, rectangle(50, 50, 55, 55), 0.4)], BOTH, image_id=1),
        photograph([(EXUDATE, rectangle(20, 20, 30, 28))],
                   [(EXUDATE, rectangle(20, 20, 30, 30), 0.7)], {EXUDATE: ANNOTATED}, image_id=2),
        photograph([], [(MICROANEURYSM, disk(10, 10, 2), 0.6)],
                   {EXUDATE: ABSENT, MICROANEURYSM: ABSENT}, image_id=3),
    ]


def test_evaluate_collects_every_metric():
    got = report.evaluate(results())
    paper = got["paper_map"]
    # Photograph 1: TP TP FP over 2 lesions -> AP 1. Photograph 2's outline has IoU 80/100 = 0.8,
    # a match at every threshold -> AP 1. Photograph 3 has no lesion: counted, not averaged.
    assert paper["photographs"] == 2 and paper["photographs_without_lesions"] == 1
    assert paper["mean_ap"] == {"0.35": 1.0, "0.5": 1.0, "0.75": 1.0}
    assert got["froc"]["microaneurysm"]["sensitivity_at"]["1"] == 1.0
    # Microaneurysm screening: positive 0.8; negatives 0 (photograph 2 is unknown, left out) and 0.6.
    assert got["screening"]["microaneurysm"]["specificity"] == 0.0
    assert got["coco"]["segm"]["class_stats"]["exudate"]["AP50"] == 1.0


def test_markdown_holds_the_numbers():
    table = report.markdown_table(report.evaluate(results()))
    assert "| all | 1.0000 | 1.0000 | 1.0000 | 2 |" in table
    assert "| 1/8 | 1/4 | 1/2 | 1 | 2 | 4 | 8 |" in table
    # Microaneurysm screening: positive 0.8 referred, negative 0.6 referred too, but ranked below.
    assert "| microaneurysm | 1.0000 | 0.0000 | 1.0000 | 1 | 1 |" in table


def test_empty_results_give_none_and_n_a(tmp_path):
    got = report.write_report([], tmp_path)
    assert got["paper_map"]["mean_ap"]["0.5"] is None
    assert got["screening"]["any lesion"]["auc"] is None
    assert "n/a" in (tmp_path / "report.md").read_text()
    assert report.write_plots(got, tmp_path / "plots") == []


def test_write_report_writes_json_markdown_and_plots(tmp_path):
    got = report.write_report(results(), tmp_path)
    text = (tmp_path / "report.json").read_text()
    assert json.loads(text) == got and "NaN" not in text and "Infinity" not in text
    assert (tmp_path / "report.md").read_text().startswith("Photographs: 3")
    for name in ("precision_recall.png", "froc.png", "screening_roc.png"):
        assert (tmp_path / name).stat().st_size > 1000


def test_headline_flattens_the_key_figures_and_leaves_out_undefined_ones():
    figures = {
        "paper_map": {"mean_ap": {"0.35": 0.5, "0.5": 0.25},
                      "class_mean_ap": {"exudate": {"0.35": 0.5, "0.5": None}}},
        "coco": {"segm": {"stats": {"AP": 0.1, "AP50": None, "AP75": 0.0}}},
        "froc": {"microaneurysm": {"score": 0.75}},
    }
    assert report.headline(figures) == {"paper_mAP35": 0.5, "paper_mAP50": 0.25, "paper_mAP35/exudate": 0.5,
                                "coco_segm_AP": 0.1, "coco_segm_AP75": 0.0, "froc_score/microaneurysm": 0.75}
