"""Tests for the example both datasets build from one photograph."""

import cv2
import numpy as np

from retina_tf import ABSENT, ANNOTATED, UNKNOWN
from retina_tf.data import examples, lesions, synthetic


def _decode(png: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)


def test_masks_are_one_bit_pngs_that_decode_to_0_and_255_again():
    mask = (np.random.default_rng(0).random((40, 30)) > 0.7).astype(np.uint8) * 255
    np.testing.assert_array_equal(_decode(examples.png(mask)), mask)


def test_an_example_keeps_the_drawn_pixels_at_both_sizes_and_nothing_for_other_types():
    fundus = synthetic.render_fundus(np.random.default_rng(3), 288, 192, exudates=True, microaneurysms=False,
                                     cut_off=True)
    record = examples.FundusRecord(
        key="P/1", image_id=1, filename="P/1.jpg", patient="P", photograph=fundus.image,
        masks={"exudate": fundus.exudate_mask > 0},
        status={"exudate": ANNOTATED, "microaneurysm": ABSENT})
    example = examples.FundusExamples(64, lesions.LESION_SIZED).example(record)
    np.testing.assert_array_equal(_decode(example["original_lesion_pixels"]["exudate"]) > 0, fundus.exudate_mask > 0)
    drawn = _decode(example["lesion_pixels"]["exudate"]) > 0
    assert drawn.shape == (64, 64) and drawn.any()
    assert example["lesion_pixels"]["microaneurysm"] == example["original_lesion_pixels"]["microaneurysm"] == b""
    assert sum(obj["area"] for obj in example["objects"]) == drawn.sum()   # lesion-sized masks: drawn pixels only
    unknown = examples.FundusExamples(64, lesions.Dilation()).example(
        examples.FundusRecord(**{**record.__dict__, "status": {"exudate": UNKNOWN, "microaneurysm": ABSENT}}))
    assert unknown["objects"] == [] and unknown["lesion_pixels"]["exudate"] == b""
