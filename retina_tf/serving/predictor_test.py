"""Tests for local prediction on an export, and the evaluation through its `normalised` signature."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from retina_tf.engine.evaluate_lib import checkpoint_results, saved_model_results
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


@pytest.fixture(name="data_dir")
def fixture_data_dir(eophtha_data_dir):
    return eophtha_data_dir


def test_a_split_is_scored_through_the_normalised_signature(exported, data_dir):
    seen = []
    # Without --config, the dataset recorded at export (the smoke model's e_ophtha/patients_512).
    results = saved_model_results(exported.version_dir, data_dir, "test", None, seen.append)
    examples = list(tfds.as_numpy(tfds.builder("e_ophtha/patients_512", data_dir=str(data_dir))
                                  .as_dataset(split="test")))
    assert seen == list(range(1, len(examples) + 1))
    for result, example in zip(results, examples):
        assert result.image_id == example["image/id"] and (result.height, result.width) == (512, 512)
        assert len(result.ground_truth) == len(example["objects"]["label"]) > 0
        assert len(result.predictions) > 0
        assert set(result.status.values()) <= {"annotated", "absent", "unknown"}


def test_the_export_scores_what_its_checkpoint_scores(exported, data_dir):
    from_checkpoint, _ = checkpoint_results(exported.model_dir, data_dir, "test", "patients_512")
    from_export = saved_model_results(exported.version_dir, data_dir, "test", "patients_512")
    for one, other in zip(sorted(from_checkpoint, key=lambda r: r.image_id),
                          sorted(from_export, key=lambda r: r.image_id)):
        assert one.image_id == other.image_id and one.status == other.status
        np.testing.assert_array_equal(one.predictions.labels, other.predictions.labels)
        np.testing.assert_allclose(one.predictions.scores, other.predictions.scores, atol=1e-4)
        np.testing.assert_allclose(one.predictions.boxes, other.predictions.boxes, atol=1.0)
