"""Scoring lesion predictions: the paper's filtered mAP, COCO AP, lesion FROC, screening and IDRiD pixel AUPR.

Pure numpy, pycocotools and matplotlib, so a notebook can score its own
predictions without TensorFlow.
"""

from retina_tf.evaluation.coco import CocoMetrics, coco_metrics
from retina_tf.evaluation.froc import FROC, lesion_froc
from retina_tf.evaluation.operating_point import LesionThreshold, OperatingPoint, choose_operating_point
from retina_tf.evaluation.paper_map import PaperMAP, compute_paper_map, match_lesions
from retina_tf.evaluation.pixel_aupr import PixelAUPR, compute_pixel_aupr
from retina_tf.evaluation.records import ABSENT, ANNOTATED, UNKNOWN, Lesions, PhotographResult, filter_to_known
from retina_tf.evaluation.report import evaluate, markdown_table, write_plots, write_report
from retina_tf.evaluation.screening import ANY_LESION, Screening, screen_photographs

__all__ = [
    "ABSENT", "ANNOTATED", "ANY_LESION", "FROC", "UNKNOWN", "CocoMetrics", "LesionThreshold", "Lesions",
    "OperatingPoint", "PaperMAP", "PhotographResult", "PixelAUPR", "choose_operating_point", "compute_pixel_aupr",
    "Screening", "coco_metrics", "compute_paper_map", "evaluate", "filter_to_known", "lesion_froc", "markdown_table",
    "match_lesions", "screen_photographs", "write_plots", "write_report",
]
