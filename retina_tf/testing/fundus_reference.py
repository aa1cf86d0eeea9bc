"""The paper's preprocessing as plain OpenCV, the yardstick for `fundus`.

Tests compare `retina_tf.data.fundus.normalise_fundus` with this rendering and the
normalisation benchmark times both; nothing in the product calls it.
"""

import cv2
import numpy as np

# The stated bound on the 99th percentile of |TF - OpenCV|, in grey levels.
P99_BOUND = 4


def plain_crop_box(image: np.ndarray, tolerance: int = 7) -> tuple[int, int, int, int]:
    """The usual Ben Graham kernel crop: rows and columns with any pixel above tolerance."""
    bright = image.max(axis=-1) > tolerance
    rows, columns = np.flatnonzero(bright.any(axis=1)), np.flatnonzero(bright.any(axis=0))
    return rows[0], columns[0], rows[-1] + 1, columns[-1] + 1


def reference_normalise(image: np.ndarray, box=None, output_size: int = 1024,
                        sigma: float = 20.0) -> np.ndarray:
    """Crop (zero padding outside), square, 4*img - 4*blur + 128 at the square size, resize.

    Without a box, the field of view is the plain crop; the squared side is the
    crop's longer side, so sigma is measured in near-original pixels.
    """
    y0, x0, y1, x1 = (int(v) for v in (box if box is not None else plain_crop_box(image)))
    height, width = image.shape[:2]
    padded = cv2.copyMakeBorder(
        image, max(-y0, 0), max(y1 - height, 0), max(-x0, 0), max(x1 - width, 0),
        cv2.BORDER_CONSTANT, value=0)
    oy, ox = max(-y0, 0), max(-x0, 0)
    crop = padded[y0 + oy:y1 + oy, x0 + ox:x1 + ox]
    side = max(crop.shape[:2])
    square = cv2.resize(crop, (side, side), interpolation=cv2.INTER_LINEAR)
    enhanced = cv2.addWeighted(square, 4, cv2.GaussianBlur(square, (0, 0), sigma), -4, 128)
    interpolation = cv2.INTER_AREA if side >= output_size else cv2.INTER_LINEAR
    return cv2.resize(enhanced, (output_size, output_size), interpolation=interpolation)
