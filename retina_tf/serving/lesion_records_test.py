"""Tests for the lesion records: masks pasted into the photograph, records in its pixels, the files written."""

import json

import cv2
import numpy as np
import pytest

from retina_tf.data import visualise
from retina_tf.serving import lesion_records
from retina_tf.utils.errors import UserError

CHOSEN_BY = b"operating_point.json, chosen on the validation split"


def _outputs(boxes, classes, scores, masks, height=40, width=60, slots=4, thresholds=(0.35, 0.35)):
    """One photograph's SavedModel outputs, padded to `slots` as the model pads them, with the operating
    point the export answers with."""
    count = len(boxes)
    padded = lambda values, shape, dtype: np.concatenate(   # noqa: E731
        [np.reshape(np.asarray(values, dtype), (count, *shape)), np.zeros((slots - count, *shape), dtype)])
    thresholds = np.asarray(thresholds, np.float32)
    return {
        "num_lesions": np.int32(count),
        "classes": padded(classes, (), np.int32),
        "scores": padded(scores, (), np.float32),
        "boxes": padded(boxes, (4,), np.float32),
        "masks": padded(masks, (28, 28), np.float32),
        "geometry": np.array([0, 10, 40, 50, height, width], np.float32),
        "thresholds": thresholds,
        "reported": padded(np.asarray(scores, np.float32) >= thresholds[np.asarray(classes, int) - 1], (), bool),
        "chosen_by": CHOSEN_BY,
    }


def test_lesion_masks_fill_each_box_and_clip_to_the_photograph():
    masks = lesion_records.lesion_masks([[2, 3, 6, 9], [-4, 55, 4, 64], [10, 10, 20, 20]],
                                   [np.ones((28, 28)), np.ones((28, 28)), np.full((28, 28), 0.4)], 40, 60)
    assert masks.shape == (3, 40, 60) and masks.dtype == bool
    expected = np.zeros((40, 60), bool)
    expected[2:6, 3:9] = True
    np.testing.assert_array_equal(masks[0], expected)
    assert masks[1].sum() == 4 * 5 and masks[1][:4, 55:].all()   # the part beyond the edges is dropped
    assert not masks[2].any()                                     # below the 0.5 threshold


def test_photograph_lesions_are_records_in_original_pixels():
    outputs = _outputs([[2.04, 3.0, 6.0, 9.0], [10, 20, 14, 24]], [1, 2], [0.91234, 0.5],
                       [np.ones((28, 28)), np.ones((28, 28))])
    found = lesion_records.photograph_lesions(outputs, "eye.jpg")
    assert (found.name, found.height, found.width) == ("eye.jpg", 40, 60)
    assert found.lesions[0] == lesion_records.Lesion("exudate", 0.9123, (2.0, 3.0, 6.0, 9.0), 24, (4.0, 6.0), True)
    assert found.lesions[1].type == "microaneurysm" and found.lesions[1].area == 16
    assert found.masks.shape == (2, 40, 60) and found.counts() == {"exudate": 1, "microaneurysm": 1}
    record = json.loads(json.dumps(found.to_json()))
    assert set(record) == {"name", "height", "width", "geometry", "operating_point", "counts", "reported_counts",
                           "lesions"}
    assert record["geometry"]["box_xmin"] == 10 and record["lesions"][1]["centre"] == [12.0, 22.0]
    assert record["operating_point"] == {"exudate": 0.35, "microaneurysm": 0.35, "chosen_by": CHOSEN_BY.decode()}
    assert "masks" not in repr(found)


def test_every_lesion_is_kept_and_those_at_their_types_threshold_are_reported():
    # Thresholds as an export answers them (float32); the 0.4272 microaneurysm is exactly at its threshold.
    outputs = _outputs([[2, 3, 6, 9], [10, 20, 14, 24], [20, 30, 24, 34], [30, 40, 34, 44]], [1, 1, 2, 2],
                       [0.9, 0.3, 0.4272, 0.4271], [np.ones((28, 28))] * 4, thresholds=(0.35, 0.4272))
    found = lesion_records.photograph_lesions(outputs, "eye.jpg")
    assert [lesion.reported for lesion in found.lesions] == [True, False, True, False]
    assert found.counts() == {"exudate": 2, "microaneurysm": 2}
    assert found.reported_counts() == {"exudate": 1, "microaneurysm": 1}
    assert found.count_texts() == {"exudate": "1 exudate", "microaneurysm": "1 microaneurysm"}
    assert found.operating_point.thresholds == {"exudate": 0.35, "microaneurysm": 0.4272}   # shortest decimals
    assert found.operating_point.chosen_by == CHOSEN_BY.decode()
    record = found.to_json()
    assert record["reported_counts"] == {"exudate": 1, "microaneurysm": 1}
    assert [lesion["reported"] for lesion in record["lesions"]] == [True, False, True, False]


def test_a_minimum_score_overrides_the_operating_point_for_every_type():
    outputs = _outputs([[2, 3, 6, 9], [10, 20, 14, 24], [20, 30, 24, 34]], [1, 2, 2], [0.9, 0.35, 0.2],
                       [np.ones((28, 28))] * 3, thresholds=(0.95, 0.95))
    found = lesion_records.photograph_lesions(outputs, "eye.jpg", min_score=0.35)
    assert [lesion.reported for lesion in found.lesions] == [True, True, False]   # 0.35 in float32, as the graph
    assert found.operating_point.thresholds == {"exudate": 0.35, "microaneurysm": 0.35}
    assert found.operating_point.chosen_by.startswith("a minimum score of 0.35 for every type")
    assert [lesion.reported for lesion in lesion_records.photograph_lesions(outputs, "eye.jpg").lesions] == [
        False, False, False]


def test_an_export_without_an_operating_point_needs_a_minimum_score():
    outputs = _outputs([[2, 3, 6, 9]], [1], [0.9], [np.ones((28, 28))])
    for key in ("thresholds", "reported", "chosen_by"):
        del outputs[key]
    with pytest.raises(UserError, match=r"exported before retina-tf had them; export it again, or give a minimum "
                                        r"score \(--min-score\)$"):
        lesion_records.photograph_lesions(outputs, "old.jpg")
    assert lesion_records.photograph_lesions(outputs, "old.jpg", min_score=0.5).lesions[0].reported


def test_lesion_records_keep_to_the_photograph_where_a_box_reaches_the_rebuilt_disc():
    """A cut-off disc is rebuilt beyond the photograph's edge; boxes reaching there are clipped, and a
    lesion wholly there (nothing on the photograph) is left out."""
    outputs = _outputs([[-6, 3, 4, 9], [-9, 20, -1, 30], [36, 50, 44, 66]], [1, 2, 1], [0.9, 0.8, 0.7],
                       [np.ones((28, 28))] * 3)
    found = lesion_records.photograph_lesions(outputs, "cut.jpg")
    assert [lesion.box for lesion in found.lesions] == [(0.0, 3.0, 4.0, 9.0), (36.0, 50.0, 40.0, 60.0)]
    assert [lesion.area for lesion in found.lesions] == [4 * 6, 4 * 10] and len(found.masks) == 2
    assert found.lesions[1].centre == (38.0, 55.0) and found.lesions[1].score == 0.7


def test_batch_lesions_number_unnamed_photographs():
    outputs = {key: np.stack([value, value]) for key, value in _outputs([], [], [], []).items()}
    assert [p.name for p in lesion_records.batch_lesions(outputs)] == ["photograph-1", "photograph-2"]
    with pytest.raises(ValueError, match="1 names for 2 photographs"):
        lesion_records.batch_lesions(outputs, ["one"])


def test_the_overlay_draws_only_the_reported_lesions(tmp_path):
    outputs = _outputs([[80, 20, 100, 40], [80, 120, 100, 140]], [1, 2], [0.9, 0.2], [np.ones((28, 28))] * 2,
                       height=120, width=200)
    found = lesion_records.photograph_lesions(outputs, "eye.jpg")
    _, png_path = lesion_records.write_outputs(found, np.zeros((120, 200, 3), np.uint8), tmp_path)
    below_the_legend = cv2.cvtColor(cv2.imread(str(png_path)), cv2.COLOR_BGR2RGB)[70:]
    drawn = {lesion_type: bool((below_the_legend == colour).all(axis=-1).any())
             for lesion_type, colour in visualise.LESION_COLOURS.items()}
    assert drawn == {"exudate": True, "microaneurysm": False}


def test_write_outputs_draws_each_lesion_and_a_legend(local_predictor, photographs, photograph_bytes, tmp_path):
    [found] = local_predictor.predict(photograph_bytes[:1], ["left eye.jpg"], min_score=0.0)   # all reported
    json_path, png_path = lesion_records.write_outputs(found, photographs[0], tmp_path)
    assert (json_path.name, png_path.name) == ("left eye.json", "left eye_lesions.png")
    assert json.loads(json_path.read_text()) == json.loads(json.dumps(found.to_json()))
    overlay = cv2.cvtColor(cv2.imread(str(png_path)), cv2.COLOR_BGR2RGB)
    assert overlay.shape == photographs[0].shape
    for lesion_type, count in found.reported_counts().items():
        if count:
            assert (overlay == visualise.LESION_COLOURS[lesion_type]).all(axis=-1).any(), lesion_type
    with pytest.raises(ValueError, match="the lesions are for 480x320"):
        lesion_records.write_outputs(found, photographs[1], tmp_path)
