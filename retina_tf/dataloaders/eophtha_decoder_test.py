"""The decoder maps e_ophtha examples to Model Garden's keys."""

import tensorflow_datasets as tfds

from retina_tf import LESION_CLASSES, STATUSES
from retina_tf.dataloaders import eophtha_decoder


def test_decoded_examples_have_model_gardens_keys_and_background_free_classes(eophtha_data_dir):
    dataset = tfds.builder("e_ophtha/patients_512", data_dir=str(eophtha_data_dir)).as_dataset(split="train")
    for example in dataset.take(3):
        decoded = eophtha_decoder.EophthaDecoder().decode(example)
        count = int(example["objects"]["label"].shape[0])
        assert decoded["image"].shape == (512, 512, 3)
        assert int(decoded["height"]) == int(decoded["width"]) == 512
        assert decoded["source_id"].numpy() == str(int(example["image/id"])).encode()
        assert (decoded["groundtruth_classes"].numpy() == example["objects"]["label"].numpy() + 1).all()
        assert decoded["groundtruth_boxes"].shape == (count, 4)
        assert decoded["groundtruth_instance_mask_pngs"].shape == (count,)
        statuses = [STATUSES[int(i)] for i in decoded["annotation"].numpy()]
        assert statuses == [STATUSES[int(example["annotation"][name])] for name in ("exudate", "microaneurysm")]


def test_the_annotation_as_drawn_comes_along_where_the_dataset_stores_it(eophtha_data_dir):
    dataset = tfds.builder("e_ophtha/patients_512", data_dir=str(eophtha_data_dir)).as_dataset(split="train")
    example = next(iter(dataset))
    decoded = eophtha_decoder.EophthaDecoder().decode(example)
    assert decoded["lesion_pixels"].numpy().tolist() == [
        example["lesion_pixels"][lesion].numpy() for lesion in LESION_CLASSES]
    older = {key: value for key, value in example.items() if key != "lesion_pixels"}   # a build before 1.1.0
    assert "lesion_pixels" not in eophtha_decoder.EophthaDecoder().decode(older)
