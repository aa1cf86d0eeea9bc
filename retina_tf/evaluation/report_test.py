"""Tests for the report: JSON without NaN, the Markdown tables, the plots, the pixel AUPR where drawn."""

import json

from retina_tf import EXUDATE, MICROANEURYSM
from retina_tf.evaluation import report
from retina_tf.evaluation.records import ABSENT, ANNOTATED
from retina_tf.testing.evaluation import disk, photograph, rectangle

BOTH = {EXUDATE: ANNOTATED, MICROANEURYSM: ANNOTATED}


def results(drawn=False):
    """Three photographs; drawn: each carries its annotation as drawn (lesion_pixels), for the pixel AUPR."""
    def as_drawn(masks):
        return masks if drawn else None

    return [
        photograph([(EXUDATE, rectangle(0, 0, 10, 10)), (MICROANEURYSM, disk(40, 40, 2))],
                   [(EXUDATE, rectangle(0, 0, 10, 10), 0.9), (MICROANEURYSM, disk(40, 40, 2), 0.8),
                    (EXUDATE, rectangle(50, 50, 55, 55), 0.4)], BOTH, image_id=1,
                   drawn=as_drawn({EXUDATE: rectangle(0, 0, 10, 10), MICROANEURYSM: disk(40, 40, 2)})),
        photograph([(EXUDATE, rectangle(20, 20, 30, 28))],
                   [(EXUDATE, rectangle(20, 20, 30, 30), 0.7)], {EXUDATE: ANNOTATED}, image_id=2,
                   drawn=as_drawn({EXUDATE: rectangle(20, 20, 30, 28)})),
        photograph([], [(MICROANEURYSM, disk(10, 10, 2), 0.6)],
                   {EXUDATE: ABSENT, MICROANEURYSM: ABSENT}, image_id=3, drawn=as_drawn({})),
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
    assert "pixel_aupr" not in got   # no photograph carries its annotation as drawn


def test_photographs_drawn_as_annotated_add_the_pixel_aupr():
    got = report.evaluate(results(drawn=True))["pixel_aupr"]
    # Exudates over photographs 1-3 (3 x 4096 pixels, 100 + 80 lesion): 0.9 finds 100 of 100, then 0.7 adds
    # 80 lesion and 20 background (precision 180 / 200); 0.4 and 0 add background only.
    assert got["exudate"]["aupr"] == round(100 / 180 + 80 / 180 * 0.9, 4)
    assert (got["exudate"]["photographs"], got["exudate"]["pixels"], got["exudate"]["lesion_pixels"]) == (
        3, 3 * 4096, 180)
    # Microaneurysms: photograph 2 is unknown; the 13-pixel disk is found whole at 0.8, above the absent one's 0.6.
    assert got["microaneurysm"]["aupr"] == 1.0 and got["microaneurysm"]["photographs"] == 2
    assert got["microaneurysm"]["thresholds"] == [0.8, 0.6, 0.0]


def test_markdown_holds_the_numbers():
    table = report.markdown_table(report.evaluate(results()))
    assert "| all | 1.0000 | 1.0000 | 1.0000 | 2 |" in table
    assert "| 1/8 | 1/4 | 1/2 | 1 | 2 | 4 | 8 |" in table
    # Microaneurysm screening: positive 0.8 referred, negative 0.6 referred too, but ranked below.
    assert "| microaneurysm | 1.0000 | 0.0000 | 1.0000 | 1 | 1 |" in table
    assert "Pixel AUPR" not in table


def test_markdown_sets_the_pixel_aupr_beside_the_idrid_challenges_best():
    table = report.markdown_table(report.evaluate(results(drawn=True)))
    assert "|  | AUPR | IDRiD best | AUPR / best | lesion pixels | pixels | photographs |" in table
    assert f"| exudate | 0.9556 | 0.8850 | {0.9556 / 0.885:.4f} | 180 | 12288 | 3 |" in table
    assert f"| microaneurysm | 1.0000 | 0.5020 | {1 / 0.502:.4f} | 13 | 8192 | 2 |" in table


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
    assert not (tmp_path / "pixel_precision_recall.png").exists()


def test_write_report_plots_the_pixel_precision_recall_where_drawn(tmp_path):
    got = report.write_report(results(drawn=True), tmp_path)
    assert json.loads((tmp_path / "report.json").read_text()) == got
    assert (tmp_path / "pixel_precision_recall.png").stat().st_size > 1000


def test_headline_flattens_the_key_figures_and_leaves_out_undefined_ones():
    figures = {
        "paper_map": {"mean_ap": {"0.35": 0.5, "0.5": 0.25},
                      "class_mean_ap": {"exudate": {"0.35": 0.5, "0.5": None}}},
        "coco": {"segm": {"stats": {"AP": 0.1, "AP50": None, "AP75": 0.0}}},
        "froc": {"microaneurysm": {"score": 0.75}},
    }
    assert report.headline(figures) == {"paper_mAP35": 0.5, "paper_mAP50": 0.25, "paper_mAP35/exudate": 0.5,
                                "coco_segm_AP": 0.1, "coco_segm_AP75": 0.0, "froc_score/microaneurysm": 0.75}
    figures["pixel_aupr"] = {"exudate": {"aupr": 0.625}, "microaneurysm": {"aupr": None}}
    assert report.headline(figures)["pixel_aupr/exudate"] == 0.625
    assert "pixel_aupr/microaneurysm" not in report.headline(figures)
