"""Hand-drawn photographs for the evaluation tests: lesions as rectangles and disks."""

import numpy as np

from retina_tf.evaluation.records import ANNOTATED, LABELS, Lesions, PhotographResult, encode_mask

SHAPE = (64, 64)


def rectangle(ymin, xmin, ymax, xmax, shape=SHAPE) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[ymin:ymax, xmin:xmax] = True
    return mask


def disk(cy, cx, radius, shape=SHAPE) -> np.ndarray:
    y, x = np.ogrid[:shape[0], :shape[1]]
    return (y - cy) ** 2 + (x - cx) ** 2 <= radius ** 2


def photograph(ground_truth=(), predictions=(), status=None, image_id=1, shape=SHAPE, drawn=None,
               geometry=None) -> PhotographResult:
    """ground_truth: (label, mask) pairs; predictions: (label, mask, score) triples;
    status defaults to every lesion type annotated; drawn: label -> the annotation as drawn (lesion_pixels),
    at shape or, with a geometry, at the original size."""
    def lesions(masks, labels, scores=None):
        return Lesions.from_masks(np.reshape(masks, (-1, *shape)), labels, scores)

    truth = lesions([m for _, m in ground_truth], [label for label, _ in ground_truth])
    found = lesions([m for _, m, _ in predictions], [label for label, _, _ in predictions],
                    [s for _, _, s in predictions])
    status = {label: ANNOTATED for label in LABELS} if status is None else status
    lesion_pixels = None if drawn is None else {label: encode_mask(mask) for label, mask in drawn.items()}
    return PhotographResult(image_id, shape[0], shape[1], status, truth, found, lesion_pixels, geometry)
