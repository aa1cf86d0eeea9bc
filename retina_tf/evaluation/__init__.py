"""Scoring lesion predictions: the paper's filtered mAP, COCO AP, lesion FROC and screening.

Pure numpy, pycocotools and matplotlib, so a notebook can score its own
predictions without TensorFlow.
"""

from retina_tf.evaluation.coco import CocoMetrics, coco_metrics
from retina_tf.evaluation.froc import FROC, lesion_froc
from retina_tf.evaluation.paper_map import PaperMAP, compute_paper_map, match_lesions
from retina_tf.evaluation.records import ABSENT, ANNOTATED, UNKNOWN, Lesions, PhotographResult, filter_to_known
from retina_tf.evaluation.report import evaluate, markdown_table, write_plots, write_report
from retina_tf.evaluation.screening import ANY_LESION, Screening, screen_photographs

__all__ = [
    "ABSENT", "ANNOTATED", "ANY_LESION", "FROC", "UNKNOWN", "CocoMetrics", "Lesions", "PaperMAP", "PhotographResult",
    "Screening", "coco_metrics", "compute_paper_map", "evaluate", "filter_to_known", "lesion_froc", "markdown_table",
    "match_lesions", "screen_photographs", "write_plots", "write_report",
]
