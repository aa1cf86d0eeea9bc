"""Tests for choosing the dataset a model is scored on (the scoring loops run in tests/test_evaluate.py)."""

from retina_tf.engine import evaluate_lib


def test_the_dataset_is_the_recorded_one_another_config_of_it_or_another_dataset():
    assert evaluate_lib.dataset_name(None, "idrid/lesions_1024") == "idrid/lesions_1024"
    assert evaluate_lib.dataset_name("lesions_512", "idrid/lesions_1024") == "idrid/lesions_512"
    assert evaluate_lib.dataset_name("idrid/dilated_1024", "e_ophtha/patients_1024") == "idrid/dilated_1024"
    assert evaluate_lib.dataset_name("patients_512", None) == "e_ophtha/patients_512"   # exports before the record
