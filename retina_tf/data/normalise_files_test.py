"""Tests for `retina-tf normalise`'s library: each photograph file becomes <stem>.png as the model sees it and
<stem>.json with the geometry that maps back; a file that cannot be normalised is named with its reason and
the others go on."""

import json

import cv2
import numpy as np
import pytest
import tensorflow as tf

from retina_tf.data import fundus, synthetic
from retina_tf.data.normalise_files import normalise_files
from retina_tf.utils import storage

SIZE = 128


@pytest.fixture(scope="module")
def photograph():
    """A small uncut synthetic fundus photograph, RGB."""
    return synthetic.render_fundus(np.random.default_rng(5), 240, 160, exudates=True, microaneurysms=True,
                                   cut_off=False)


def _write(path, image):
    cv2.imwrite(str(path), image[..., ::-1] if image.ndim == 3 else image)
    return path


def test_a_photograph_becomes_the_normalised_png_and_its_geometry(photograph, tmp_path):
    source = _write(tmp_path / "IDRiD_01.png", photograph.image)   # lossless: the decoded pixels are the drawn ones
    out = tmp_path / "out" / "normalised"                            # made, parents included
    [done] = normalise_files([source], out, SIZE)
    assert done.failure is None and done.path == source
    assert done.target == storage.path(out) / "IDRiD_01.png"

    expected, geometry = fundus.normalise_fundus(tf.constant(photograph.image), fundus.FundusNormalisation(SIZE))
    written = cv2.imread(str(done.target))[..., ::-1]
    assert written.shape == (SIZE, SIZE, 3)
    # the same ops, once in a graph and once eagerly: a rounding may land one level apart
    difference = np.abs(written.astype(int) - expected.numpy().astype(int))
    assert difference.max() <= 1 and np.mean(difference > 0) < 1e-3

    record = json.loads((out / "IDRiD_01.json").read_text())
    assert record == {**dict(zip(fundus.GEOMETRY_FIELDS, geometry.numpy().tolist())),
                      "output_size": SIZE, "source": str(source)}
    assert (record["height"], record["width"]) == (160, 240)
    cy, cx, radius = photograph.disc   # the eye box is the disc, to the tolerance fundus_test allows
    np.testing.assert_allclose([record[name] for name in fundus.GEOMETRY_FIELDS[:4]],
                               [cy - radius, cx - radius, cy + radius, cx + radius], atol=0.015 * 2 * radius + 2)


def test_files_that_are_not_colour_fundus_photographs_are_refused_in_one_line(photograph, tmp_path):
    files = {"notes.jpg": b"not a photograph",
             "red_free.png": cv2.cvtColor(photograph.image, cv2.COLOR_RGB2GRAY),
             "thumbnail.png": photograph.image[:20, :30],
             "lens_cap.png": np.zeros((64, 96, 3), np.uint8)}
    for name, content in files.items():
        if isinstance(content, bytes):
            (tmp_path / name).write_bytes(content)
        else:
            _write(tmp_path / name, content)
    done = normalise_files([tmp_path / name for name in files], tmp_path / "out", SIZE)
    assert {item.path.name: item.failure for item in done} == {
        "notes.jpg": "not a JPEG or PNG photograph (16 bytes)",
        "red_free.png": "grayscale photograph (1 channel(s)); a colour RGB fundus photograph is required",
        "thumbnail.png": "photograph is 30 x 20 pixels; the smallest accepted side is 32",
        "lens_cap.png": "fundus photograph is blank (all pixels nearly black): no field of view",
    }
    assert not list((tmp_path / "out").iterdir())   # nothing half-written


def test_a_failure_is_named_and_the_next_photographs_go_on(photograph, tmp_path):
    good = _write(tmp_path / "good.jpg", photograph.image)
    missing = tmp_path / "gone.jpg"
    done = list(normalise_files([missing, good], tmp_path / "out", SIZE))
    assert [item.path for item in done] == [missing, good]   # in the order given
    assert done[0].failure == "no such file" and done[0].target is None
    assert done[1].failure is None and done[1].target.is_file()
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["good.json", "good.png"]


def test_two_photographs_of_the_same_name_do_not_overwrite_each_other(photograph, tmp_path):
    """IDRiD's and e-ophtha's folders both hold a 01.jpg; the second must not replace the first's output."""
    for folder in ("idrid", "eophtha"):
        (tmp_path / folder).mkdir()
    first = _write(tmp_path / "idrid" / "01.jpg", photograph.image)
    second = _write(tmp_path / "eophtha" / "01.jpg", np.ascontiguousarray(photograph.image[:, ::-1]))
    done = list(normalise_files([first, second, first], tmp_path / "out", SIZE))
    assert done[0].failure is None
    assert done[1].target is None and done[1].failure == f"{first} already writes 01.png: rename one"
    assert done[2].failure is None   # the same file again rewrites its own output
    assert json.loads((tmp_path / "out" / "01.json").read_text())["source"] == str(first)
