"""retina-tf: lesion-level diabetic-retinopathy screening with Mask R-CNN.

Finds exudates and microaneurysms in colour fundus photographs and outlines
each one with an instance mask (TensorFlow 2, TF Model Garden).
"""

__version__ = "0.1.0"

# Class ids used everywhere (0 is background, as in Model Garden).
LESION_CLASSES = ("exudate", "microaneurysm")
EXUDATE = 1
MICROANEURYSM = 2

# What is known about a lesion type on a photograph: its mask exists
# (annotated), the photograph is in that set's healthy folder (absent), or the
# photograph is not in that set (unknown). Evaluation scores known types only.
ANNOTATED, ABSENT, UNKNOWN = "annotated", "absent", "unknown"
STATUSES = (ANNOTATED, ABSENT, UNKNOWN)
