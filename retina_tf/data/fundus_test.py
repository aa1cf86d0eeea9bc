"""Tests for fundus normalisation against the paper's OpenCV recipe."""

import cv2
import numpy as np
import pytest
import tensorflow as tf

from retina_tf.data import fundus, lesions, synthetic
from retina_tf.testing import fundus_reference
from retina_tf.utils.errors import describe

_normalise = tf.function(fundus.normalise_fundus, reduce_retracing=True)


def _render(width, height, seed=0, **kwargs):
    kwargs.setdefault("exudates", True)
    kwargs.setdefault("microaneurysms", True)
    return synthetic.render_fundus(np.random.default_rng(seed), width, height, **kwargs)


def _encode(image, ext=".png"):
    ok, data = cv2.imencode(ext, image[..., ::-1] if image.ndim == 3 and image.shape[-1] == 3 else image)
    assert ok
    return data.tobytes()


@pytest.mark.parametrize("size", [(2544, 1696), (1440, 960)])
@pytest.mark.parametrize("cut_off", [False, True])
def test_matches_the_opencv_recipe_at_e_ophtha_sizes(size, cut_off):
    photo = _render(*size, seed=size[0] + cut_off, cut_off=cut_off)
    normalised, geometry = _normalise(tf.constant(photo.image))
    reference = fundus_reference.reference_normalise(photo.image, geometry.numpy()[:4].astype(int))
    difference = np.abs(normalised.numpy().astype(int) - reference.astype(int))
    assert difference.mean() <= 1.0
    assert np.percentile(difference, 99) <= fundus_reference.P99_BOUND


@pytest.mark.parametrize("cut_off,dim", [(False, False), (True, False), (False, True), (True, True)])
def test_field_of_view_is_the_disc_even_when_cut_off_or_dim(cut_off, dim):
    photo = _render(1440, 960, seed=3, cut_off=cut_off, dim=dim)
    cy, cx, radius = photo.disc
    box = fundus.find_field_of_view(tf.constant(photo.image)).numpy()
    expected = np.array([cy - radius, cx - radius, cy + radius, cx + radius])
    np.testing.assert_allclose(box, expected, atol=0.015 * 2 * radius + 2)
    if cut_off:
        assert box[0] < 0 and box[2] > 960, "a cut-off disc keeps its circular extent"


def test_light_leak_at_the_edge_is_ignored():
    photo = _render(1440, 960, seed=4, cut_off=False)
    clean = fundus.find_field_of_view(tf.constant(photo.image)).numpy()
    leaky = photo.image.copy()
    cv2.ellipse(leaky, (1440, 480), (40, 300), 0, 0, 360, (255, 255, 200), -1)   # glare on the right edge
    leaky[:12, 100:400] = 230                                                   # a bright strip at the top
    np.testing.assert_array_equal(fundus.find_field_of_view(tf.constant(leaky)).numpy(), clean)


def test_boxes_round_trip_within_one_original_pixel():
    photo = _render(2544, 1696, seed=5, cut_off=True)
    _, geometry = _normalise(tf.constant(photo.image))
    boxes = tf.constant([[100.0, 200.0, 140.0, 260.0], [0.0, 0.0, 1696.0, 2544.0], [811.3, 5.5, 812.7, 9.1]])
    back = fundus.boxes_to_original(fundus.boxes_to_output(boxes, geometry), geometry)
    np.testing.assert_allclose(back.numpy(), boxes.numpy(), atol=1.0)


def test_lesions_land_where_they_are_and_microaneurysms_survive():
    photo = _render(2544, 1696, seed=6, exudates=False)
    _, geometry = _normalise(tf.constant(photo.image))
    mask = np.zeros((1696, 2544), np.uint8)
    mask[photo.microaneurysm_mask > 0] = 1
    # One single-pixel lesion as well: the smallest thing an annotator can draw.
    y, x = int(photo.disc[0]), int(photo.disc[1] + photo.disc[2] / 2)
    mask[y, x] = 1
    small = fundus.normalise_lesion_mask(tf.constant(mask), geometry).numpy()
    assert set(np.unique(small)) <= {0, 1}
    original = lesions.split_lesions(mask, 2, lesions.Dilation(iterations=0))
    assert len(original) >= 2
    for lesion in original:
        ymin, xmin, ymax, xmax = lesion.box
        out = fundus.boxes_to_output(tf.constant([float(v) for v in lesion.box]), geometry).numpy()
        y0, x0 = int(np.floor(out[0])), int(np.floor(out[1]))
        y1, x1 = int(np.ceil(out[2])), int(np.ceil(out[3]))
        assert small[y0:y1, x0:x1].any(), f"lesion at {lesion.box} vanished"
    # Every output lesion pixel maps back onto (or next to) an original lesion pixel.
    back = fundus.mask_to_original(tf.constant(small, tf.float32), geometry).numpy() > 0.5
    grown = lesions.dilate(mask, lesions.Dilation(kernel_size=5, iterations=1)) > 0
    assert back.any() and not (back & ~grown).any()


def _png_with_size(width, height):
    """A tiny PNG whose header claims another size (never decoded: refused first)."""
    data = bytearray(_encode(np.zeros((4, 4, 3), np.uint8)))
    data[16:24] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    return bytes(data)


@pytest.mark.parametrize("data,message", [
    (b"hello, not a photograph", "not a JPEG or PNG photograph"),
    (b"\xff\xd8\xff\xe0 truncated jpeg", "JPEG"),
    (_png_with_size(20000, 20000), "photograph is 20000 x 20000 pixels; the largest accepted side is 8192"),
    (_encode(np.full((200, 300), 128, np.uint8)), "grayscale photograph (1 channel(s))"),
    (b"\x89PNG\r\n\x1a\n", "not a complete PNG photograph (8 bytes)"),   # the signature alone
    (_png_with_size(640, 480)[:23], "not a complete PNG photograph (23 bytes)"),   # cut inside its size
])
def test_bad_bytes_are_refused_with_a_clear_message(data, message):
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        fundus.decode_fundus(tf.constant(data))
    assert message in describe(raised.value)
    assert "\n" not in describe(raised.value)


def test_four_channel_png_drops_its_alpha():
    rgb = _render(480, 320, seed=7).image
    rgba = np.dstack([rgb[..., ::-1], np.full(rgb.shape[:2], 255, np.uint8)])   # BGRA for OpenCV
    ok, data = cv2.imencode(".png", rgba)
    decoded = fundus.decode_fundus(tf.constant(data.tobytes())).numpy()
    np.testing.assert_array_equal(decoded, rgb)


@pytest.mark.parametrize("image,message", [
    (np.zeros((300, 400, 3), np.uint8), "fundus photograph is blank"),
    (np.random.default_rng(0).integers(0, 6, (300, 400, 3)).astype(np.uint8), "fundus photograph is blank"),
    (cv2.circle(np.full((300, 400, 3), 3, np.uint8), (200, 150), 20, (200, 90, 30), -1),
     "no field of view found"),
])
def test_photographs_without_a_field_of_view_are_refused(image, message):
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        _normalise(tf.constant(image))
    assert message in describe(raised.value)


def test_small_output_sizes_and_photographs_smaller_than_the_output():
    photo = _render(320, 240, seed=8)
    config = fundus.FundusNormalisation(output_size=512)
    normalised, geometry = fundus.normalise_fundus(tf.constant(photo.image), config)
    assert normalised.shape == (512, 512, 3) and normalised.dtype == tf.uint8
    reference = fundus_reference.reference_normalise(photo.image, geometry.numpy()[:4].astype(int), 512)
    assert np.abs(normalised.numpy().astype(int) - reference.astype(int)).mean() <= 1.5


def test_a_photograph_too_small_to_normalise_names_the_smallest_side():
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        _normalise(tf.constant(np.full((1, 1, 3), 200, np.uint8)))
    assert describe(raised.value) == "photograph is 1 x 1 pixels; the smallest accepted side is 32"
