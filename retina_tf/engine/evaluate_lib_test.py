"""Scoring a checkpoint and an export on a split (through the command line: tests/test_evaluate.py)."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from retina_tf.engine import evaluate_lib


def test_the_dataset_is_the_recorded_one_another_config_of_it_or_another_dataset():
    assert evaluate_lib.dataset_name(None, "idrid/lesions_1024") == "idrid/lesions_1024"
    assert evaluate_lib.dataset_name("lesions_512", "idrid/lesions_1024") == "idrid/lesions_512"
    assert evaluate_lib.dataset_name("idrid/dilated_1024", "e_ophtha/patients_1024") == "idrid/dilated_1024"
    assert evaluate_lib.dataset_name("patients_512", None) == "e_ophtha/patients_512"   # exports before the record


@pytest.fixture(name="data_dir")
def fixture_data_dir(eophtha_data_dir):
    return eophtha_data_dir


def test_a_split_is_scored_through_the_normalised_signature(exported, data_dir):
    seen = []
    # Without --config, the dataset recorded at export (the smoke model's e_ophtha/patients_512).
    results = evaluate_lib.saved_model_results(exported.version_dir, data_dir, "test", None, seen.append)
    examples = list(tfds.as_numpy(tfds.builder("e_ophtha/patients_512", data_dir=str(data_dir))
                                  .as_dataset(split="test")))
    assert seen == list(range(1, len(examples) + 1))
    for result, example in zip(results, examples):
        assert result.image_id == example["image/id"] and (result.height, result.width) == (512, 512)
        assert len(result.ground_truth) == len(example["objects"]["label"]) > 0
        assert len(result.predictions) > 0
        assert set(result.status.values()) <= {"annotated", "absent", "unknown"}


def test_the_export_scores_what_its_checkpoint_scores(exported, data_dir):
    from_checkpoint, _ = evaluate_lib.checkpoint_results(exported.model_dir, data_dir, "test", "patients_512")
    from_export = evaluate_lib.saved_model_results(exported.version_dir, data_dir, "test", "patients_512")
    for one, other in zip(sorted(from_checkpoint, key=lambda r: r.image_id),
                          sorted(from_export, key=lambda r: r.image_id)):
        assert one.image_id == other.image_id and one.status == other.status
        np.testing.assert_array_equal(one.predictions.labels, other.predictions.labels)
        np.testing.assert_allclose(one.predictions.scores, other.predictions.scores, atol=1e-4)
        np.testing.assert_allclose(one.predictions.boxes, other.predictions.boxes, atol=1.0)
