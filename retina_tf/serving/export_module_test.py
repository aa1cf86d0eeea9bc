"""The serving graph's budget: photographs and requests refused from their headers, before any decoding, and a
refused batch names its bad photograph."""

import cv2
import numpy as np
import pytest
import tensorflow as tf

from retina_tf.serving.export_test import png_claiming
from retina_tf.serving.protocol import PhotographRejected
from retina_tf.utils.errors import describe


def jpeg_claiming(width: int, height: int) -> bytes:
    """A tiny JPEG whose frame header (SOF0) claims another size: never decoded if refused from its header."""
    jpeg = cv2.imencode(".jpg", np.full((8, 8, 3), 128, np.uint8))[1].tobytes()
    frame = jpeg.index(b"\xff\xc0")
    return jpeg[:frame + 5] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + jpeg[frame + 9:]


def _refusal(local_predictor, photographs) -> str:
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        local_predictor.signatures["serving_default"](photographs=tf.constant(photographs, tf.string))
    return describe(raised.value)


@pytest.mark.parametrize("claiming", [png_claiming, jpeg_claiming])
def test_a_photograph_over_the_pixel_budget_is_refused_from_its_header(local_predictor, claiming):
    assert _refusal(local_predictor, [claiming(5000, 4801)]) == (
        "photograph is 5000 x 4801 pixels (24005000 in all); at most 24000000 pixels are accepted")
    assert _refusal(local_predictor, [claiming(6001, 100)]) == (
        "photograph is 6001 x 100 pixels; the largest accepted side is 6000")


def test_the_largest_accepted_photograph_passes_its_header_checks(local_predictor):
    # Claimed 6000 x 4000 over 8 x 8 pixels: past the budget, the decoder is the one that refuses it.
    assert "photograph is" not in _refusal(local_predictor, [png_claiming(6000, 4000)])


def test_a_request_over_the_total_or_the_count_is_refused_before_decoding(local_predictor, photograph_bytes):
    # Each within the per-photograph budget; together 3 x 24 Mpx, and none of them could be decoded.
    assert _refusal(local_predictor, [png_claiming(6000, 4000)] * 3) == (
        "request holds 3 photographs of 72000000 pixels in all; at most 50000000 pixels per request")
    assert _refusal(local_predictor, [photograph_bytes[0]] * 5) == (
        "request holds 5 photographs; at most 4 per request")


@pytest.mark.parametrize("bad, reason", [
    (b"GIF89a\x01\x00\x01\x00", "not a JPEG or PNG photograph (10 bytes)"),
    (png_claiming(20000, 300), "photograph is 20000 x 300 pixels; the largest accepted side is 6000"),
    (cv2.imencode(".png", np.zeros((64, 64, 3), np.uint8))[1].tobytes(),
     "fundus photograph is blank (all pixels nearly black): no field of view"),
])
def test_a_refused_batch_names_its_bad_photograph(local_predictor, photograph_bytes, bad, reason):
    assert _refusal(local_predictor, [photograph_bytes[0], bad, photograph_bytes[1]]) == f"photographs[1]: {reason}"


def test_a_corrupt_photograph_in_a_batch_is_named_by_the_predictor(local_predictor, photograph_bytes):
    # The decoder's own error cannot carry the index in the graph; the predictor (and `retina-tf serve`) finds it.
    corrupt = photograph_bytes[0][:len(photograph_bytes[0]) // 2]
    with pytest.raises(PhotographRejected) as raised:
        local_predictor.predict([photograph_bytes[1], corrupt])
    assert str(raised.value) == "photographs[1]: jpeg::Uncompress failed. Invalid JPEG data or crop window."


def test_a_one_pixel_photograph_names_the_smallest_side(local_predictor):
    one_pixel = cv2.imencode(".png", np.full((1, 1, 3), 200, np.uint8))[1].tobytes()
    assert _refusal(local_predictor, [one_pixel]) == "photograph is 1 x 1 pixels; the smallest accepted side is 32"
