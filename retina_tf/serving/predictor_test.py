"""Tests for local prediction on an export, and the evaluation through its `normalised` signature."""

import numpy as np
import pytest
import tensorflow as tf

from retina_tf.serving import model_base, predictor
from retina_tf.serving.protocol import PhotographRejected
from retina_tf.utils.errors import UserError


def test_a_model_base_loads_its_highest_version(exported, tmp_path):
    assert model_base.version_folder(exported.export_base / "retina").name == max(
        path.name for path in (exported.export_base / "retina").iterdir() if path.name.isdigit())
    with pytest.raises(UserError, match="no such folder"):
        predictor.SavedModelPredictor(tmp_path / "missing")
    with pytest.raises(UserError, match="no SavedModel here"):
        predictor.SavedModelPredictor(tmp_path)
    (tmp_path / "saved_model.pb").write_bytes(b"not a graph")
    with pytest.raises(UserError, match="cannot load the SavedModel"):
        predictor.SavedModelPredictor(tmp_path)


def test_predict_gives_lesions_over_each_whole_photograph(local_predictor, photographs, photograph_bytes):
    found = local_predictor.predict(photograph_bytes, ["a.jpg", "b.png"])
    raw = local_predictor.run("serving_default", {"photographs": tf.constant(photograph_bytes)})
    for index, (record, image) in enumerate(zip(found, photographs)):
        count = int(raw["num_lesions"][index])
        assert (record.height, record.width) == image.shape[:2]
        assert len(record.lesions) == count and record.masks.shape == (count, *image.shape[:2])
        np.testing.assert_allclose([lesion.box for lesion in record.lesions], raw["boxes"][index][:count],
                                   atol=0.051)
        assert [lesion.area for lesion in record.lesions] == [int(mask.sum()) for mask in record.masks]
    with pytest.raises(PhotographRejected, match="not a JPEG or PNG photograph"):
        local_predictor.predict([b"text"])
