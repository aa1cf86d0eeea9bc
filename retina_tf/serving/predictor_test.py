"""Tests for local prediction on an export, and the evaluation through its `normalised` signature."""

import numpy as np
import pytest
import tensorflow as tf

from retina_tf.serving import model_base, predictor, protocol
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


def _saved_model_with(folder, outputs: dict, signatures=protocol.SIGNATURES):
    """A SavedModel of our signature names whose every signature answers these outputs."""
    function = tf.function(lambda photographs: {key: tf.zeros([1]) for key in outputs},
                           input_signature=[tf.TensorSpec([None], tf.string)])
    tf.saved_model.save(tf.Module(), str(folder), signatures={name: function for name in signatures})
    return folder


def test_a_saved_model_without_our_signatures_or_outputs_is_refused_naming_what_lacks(tmp_path):
    _saved_model_with(tmp_path / "1", {"boxes": None}, signatures=["serving_default"])
    with pytest.raises(UserError, match=r"/1: not a retina-tf export \(no signature normalised\)$"):
        predictor.SavedModelPredictor(tmp_path / "1")
    _saved_model_with(tmp_path / "2", {key: None for key in protocol.OUTPUT_KEYS if key != "num_lesions"})
    with pytest.raises(UserError, match=r"/2: not a retina-tf export \(signature serving_default lacks the "
                                        r"output\(s\) num_lesions\)$"):
        predictor.SavedModelPredictor(tmp_path / "2")


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
