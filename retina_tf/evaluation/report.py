"""All metrics of a set of photographs as one JSON-ready dict, a Markdown summary and plots.

The dict is the single source for the table and the plots, so a report read
back from report.json plots and prints the same as a fresh one. The IDRiD
pixel AUPR joins in where the photographs carry their annotation as drawn
(PhotographResult.lesion_pixels).
"""

import dataclasses
import fractions
import json

import numpy as np
from etils import epath
from matplotlib.figure import Figure  # no pyplot: Agg canvas, no global backend switch

from retina_tf.evaluation.coco import IOU_TYPES, coco_metrics
from retina_tf.evaluation.froc import HIT_IOU, lesion_froc
from retina_tf.evaluation.paper_map import IOU_THRESHOLDS, compute_paper_map
from retina_tf.evaluation.pixel_aupr import IDRID_BEST_AUPR, compute_pixel_aupr
from retina_tf.evaluation.records import LABELS, PhotographResult, class_name
from retina_tf.evaluation.screening import OPERATING_THRESHOLD, screen_photographs
from retina_tf.utils import storage

DIGITS = 4
_IDRID_BEST = {class_name(label): aupr for label, aupr in IDRID_BEST_AUPR.items()}


def evaluate(results: list[PhotographResult], iou_thresholds=IOU_THRESHOLDS,
             operating_threshold: float = OPERATING_THRESHOLD, hit_iou: float = HIT_IOU) -> dict:
    """Every metric of the same photographs, as plain JSON (see _jsonable); pixel_aupr where any carries
    lesion_pixels.

    Args:
      results: the photographs scored.
      iou_thresholds: the paper's mAP thresholds (mask IoU).
      operating_threshold: the score from which screening refers a photograph.
      hit_iou: FROC's hit rule, as in froc.lesion_hits.

    Returns:
      {"photographs", "paper_map", "coco", "froc", "screening"[, "pixel_aupr"]}: class ids become names,
      float keys short strings, floats rounded to DIGITS, undefined figures (and inf, NaN) None.

    Raises:
      ValueError: a photograph of a type ANNOTATED lacks the lesion_pixels others carry.
    """
    report = {
        "photographs": len(results),
        "paper_map": dataclasses.asdict(compute_paper_map(results, iou_thresholds)),
        "coco": {iou_type: dataclasses.asdict(coco_metrics(results, iou_type)) for iou_type in IOU_TYPES},
        "froc": {label: dataclasses.asdict(lesion_froc(results, label, hit_iou)) for label in LABELS},
        "screening": {name: dataclasses.asdict(result)
                      for name, result in screen_photographs(results, operating_threshold).items()},
    }
    if any(result.lesion_pixels is not None for result in results):
        report["pixel_aupr"] = {label: dataclasses.asdict(compute_pixel_aupr(results, label)) for label in LABELS}
    return _jsonable(report)


def _jsonable(value):
    """Plain JSON: int keys are class ids and become class names, float keys (thresholds,
    FP rates) short strings; floats are rounded; inf and NaN become None."""
    if isinstance(value, dict):
        return {_key(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(item) for item in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return round(float(value), DIGITS) if np.isfinite(value) else None
    return value


def _key(key) -> str:
    if isinstance(key, (int, np.integer)):
        return class_name(int(key))
    if isinstance(key, float):
        return f"{key:g}"
    return key


def _cell(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.{DIGITS}f}" if isinstance(value, float) else str(value)


def _table(header: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(_cell(v) if i else str(v) for i, v in enumerate(row)) + " |" for row in rows)]


def _fraction(rate) -> str:
    """FP rates as the ROC challenge writes them: 1/8, 1/4, ..., 8."""
    return str(fractions.Fraction(float(rate)).limit_denominator(64))


def markdown_table(report: dict) -> str:
    """The headline figures of an evaluate() report; undefined ones read n/a.

    Args:
      report: evaluate()'s dict, fresh or read back from report.json.

    Returns:
      Markdown: a heading and a table per metric, ending in a newline.
    """
    paper, froc, screen = report["paper_map"], report["froc"], report["screening"]
    ious = list(paper["mean_ap"])
    lines = [f"Photographs: {report['photographs']}", "",
             "### Paper's mAP (mask IoU, annotated-type filter, per-photograph AP averaged)", ""]
    lines += _table(["", *(f"mAP@{t}" for t in ious), "photographs"],
                    [["all", *paper["mean_ap"].values(), paper["photographs"]],
                     *([name, *paper["class_mean_ap"][name].values(), paper["class_photographs"][name]]
                       for name in paper["class_mean_ap"])])
    lines += ["", f"Photographs without lesions (not averaged): {paper['photographs_without_lesions']}",
              "", "### COCO AP (maxDets 256)", ""]
    names = [class_name(label) for label in LABELS]
    lines += _table(["", "AP", "AP50", "AP75", *(f"{n} {s}" for n in names for s in ("AP", "AP50"))],
                    [[iou_type, *(coco["stats"][s] for s in ("AP", "AP50", "AP75")),
                      *(coco["class_stats"][n][s] for n in names for s in ("AP", "AP50"))]
                     for iou_type, coco in report["coco"].items()])
    rates = list(next(iter(froc.values()))["sensitivity_at"])
    lines += ["", "### Lesion FROC (sensitivity at false positives per photograph)", ""]
    lines += _table(["", *map(_fraction, rates), "score", "lesions", "photographs"],
                    [[name, *f["sensitivity_at"].values(), f["score"], f["lesions"], f["photographs"]]
                     for name, f in froc.items()])
    threshold = next(iter(screen.values()))["threshold"]
    lines += ["", f"### Photograph screening (referred if score >= {threshold})", ""]
    lines += _table(["", "sensitivity", "specificity", "AUC", "positives", "negatives", "note"],
                    [[name, s["sensitivity"], s["specificity"], s["auc"], s["positives"], s["negatives"],
                      s["note"] or ""] for name, s in screen.items()])
    if "pixel_aupr" in report:
        lines += ["", "### Pixel AUPR (IDRiD 2018 segmentation challenge: every pixel of the photographs pooled)",
                  ""]
        lines += _table(["", "AUPR", "IDRiD best", "AUPR / best", "lesion pixels", "pixels", "photographs"],
                        [[name, p["aupr"], _IDRID_BEST[name],
                          None if p["aupr"] is None else round(p["aupr"] / _IDRID_BEST[name], DIGITS),
                          p["lesion_pixels"], p["pixels"], p["photographs"]]
                         for name, p in report["pixel_aupr"].items()])
        lines += ["", "IDRiD best: the challenge's top entries (Porwal et al., Medical Image Analysis 59:101561, "
                  "2020)."]
    return "\n".join(lines) + "\n"


def write_plots(report: dict, out_dir) -> list[epath.Path]:
    """Precision-recall, FROC, ROC and pixel precision-recall figures, each only where it has a curve.

    Args:
      report: evaluate()'s dict.
      out_dir: the folder (local or a bucket), created when missing.

    Returns:
      The PNG files written.
    """
    out_dir = storage.path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, plot in (("precision_recall.png", _precision_recall_figure), ("froc.png", _froc_figure),
                       ("screening_roc.png", _screening_roc_figure),
                       ("pixel_precision_recall.png", _pixel_precision_recall_figure)):
        figure = plot(report)
        if figure is not None:
            with (out_dir / name).open("wb") as file:   # a bucket too: matplotlib writes local files only
                figure.savefig(file, format="png", dpi=100, bbox_inches="tight")
            written.append(out_dir / name)
    return written


def _precision_recall_figure(report: dict) -> Figure | None:
    curves = report["paper_map"]["curves"]
    if not any(c["recall"] for by_iou in curves.values() for c in by_iou.values()):
        return None
    figure = Figure(figsize=(5 * len(curves), 4.5))
    figure.suptitle("Precision-recall, mask IoU, all photographs pooled")
    for ax, (name, by_iou) in zip(figure.subplots(1, len(curves), squeeze=False)[0], curves.items()):
        for iou, curve in by_iou.items():
            if curve["recall"]:
                ax.plot(curve["recall"], curve["precision"],
                        label=f"IoU {iou} (pooled AP {_cell(curve['average_precision'])})")
        ax.set(title=name, xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
        if ax.get_lines():
            ax.legend()
        else:
            ax.text(0.5, 0.5, "no lesions", ha="center", transform=ax.transAxes)
    return figure


def _froc_figure(report: dict) -> Figure | None:
    froc = {name: f for name, f in report["froc"].items() if f["fp_rates"]}
    if not froc:
        return None
    rates = [float(r) for r in next(iter(froc.values()))["sensitivity_at"]]
    figure = Figure(figsize=(6, 4.5))
    ax = figure.subplots()
    for name, f in froc.items():
        # Read step-wise: below 1/8 FPs the curve shows at 1/8; past its last point it stays flat.
        fp_rates = np.clip([*f["fp_rates"], rates[-1]], rates[0], None)
        ax.step(fp_rates, [*f["sensitivities"], f["sensitivities"][-1]], where="post",
                label=f"{name} (score {_cell(f['score'])}, lesions: {f['lesions']})")
    ax.set_xscale("log", base=2)
    ax.set_xticks(rates, [_fraction(r) for r in rates])
    ax.set(title="Lesion FROC", xlabel="false positives per photograph", ylabel="sensitivity",
           xlim=(rates[0], rates[-1]), ylim=(0, 1.02))
    ax.legend(loc="lower right")
    return figure


def _screening_roc_figure(report: dict) -> Figure | None:
    roc = {name: s for name, s in report["screening"].items() if s["auc"] is not None}
    if not roc:
        return None
    figure = Figure(figsize=(5, 5))
    ax = figure.subplots()
    for name, s in roc.items():
        ax.plot(s["false_positive_rates"], s["true_positive_rates"], label=f"{name} (AUC {_cell(s['auc'])})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(title="Photograph screening ROC", xlabel="1 - specificity", ylabel="sensitivity",
           xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="lower right")
    return figure


def _pixel_precision_recall_figure(report: dict) -> Figure | None:
    curves = report.get("pixel_aupr", {})
    if not any(curve["recall"] for curve in curves.values()):
        return None
    figure = Figure(figsize=(5 * len(curves), 4.5))
    figure.suptitle("Pixel precision-recall (IDRiD), every pixel of the photographs pooled")
    for ax, (name, curve) in zip(figure.subplots(1, len(curves), squeeze=False)[0], curves.items()):
        if curve["recall"]:
            # Drawn as the AUPR sums it: each threshold's precision over the recall that threshold adds.
            ax.step([0.0, *curve["recall"]], [curve["precision"][0], *curve["precision"]], where="pre",
                    label=f"AUPR {_cell(curve['aupr'])} (IDRiD best {_cell(_IDRID_BEST[name])})")
            ax.legend(loc="lower left")
        else:
            ax.text(0.5, 0.5, "no lesion pixels", ha="center", transform=ax.transAxes)
        ax.set(title=name, xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
    return figure


def write_report(results: list[PhotographResult], out_dir, **options) -> dict:
    """report.json, report.md and the plots in out_dir; options go to evaluate().

    Args:
      results: the photographs scored.
      out_dir: the folder (local or a bucket), created when missing.
      **options: iou_thresholds, operating_threshold, hit_iou.

    Returns:
      The report, as written to report.json.
    """
    report = evaluate(results, **options)
    out_dir = storage.path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=1, allow_nan=False))
    (out_dir / "report.md").write_text(markdown_table(report))
    write_plots(report, out_dir)
    return report


def headline(report: dict) -> dict[str, float]:
    """The key figures as flat name -> number (undefined ones left out), for TensorBoard and schedulers.

    Args:
      report: evaluate()'s dict.

    Returns:
      paper_mAP50, paper_mAP50/exudate, coco_segm_AP, froc_score/microaneurysm, pixel_aupr/exudate, ... -> float.
    """
    figures = {}
    paper = report["paper_map"]
    for iou, value in paper["mean_ap"].items():
        figures[f"paper_mAP{round(float(iou) * 100)}"] = value
        for lesion, per_class in paper["class_mean_ap"].items():
            figures[f"paper_mAP{round(float(iou) * 100)}/{lesion}"] = per_class[iou]
    for iou_type, coco in report["coco"].items():
        for name in ("AP", "AP50", "AP75"):
            figures[f"coco_{iou_type}_{name}"] = coco["stats"][name]
    for lesion, froc in report["froc"].items():
        figures[f"froc_score/{lesion}"] = froc["score"]
    for lesion, pixel in report.get("pixel_aupr", {}).items():
        figures[f"pixel_aupr/{lesion}"] = pixel["aupr"]
    return {name: float(value) for name, value in figures.items() if value is not None}
