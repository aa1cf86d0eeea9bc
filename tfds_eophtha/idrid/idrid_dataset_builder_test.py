"""Tests for the idrid dataset builder."""

import pathlib
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds

from retina_tf import ABSENT, ANNOTATED, LESION_CLASSES, STATUSES
from retina_tf.data import idrid, instance_masks
from tfds_eophtha.idrid import dummy_data_generation, idrid_dataset_builder

DUMMY = pathlib.Path(__file__).parent / "dummy_data"


class IdridLesionsConfigTest(tfds.testing.DatasetBuilderTestCase):
    """The committed dummy data: 8 training photographs (one in six is validation) and 3 test photographs."""

    DATASET_CLASS = idrid_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["lesions_512"]
    SPLITS = {"train": 7, "validation": 1, "test": 3}


class IdridDilatedConfigTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = idrid_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["dilated_512"]
    SPLITS = {"train": 7, "validation": 1, "test": 3}


def _config(name="small", size=128, **kwargs):
    return idrid_dataset_builder.IdridConfig(name=name, image_size=size, **kwargs)


def _build(manual_dir, data_dir, config):
    builder = idrid_dataset_builder.Builder(config=config, data_dir=str(data_dir))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
    return builder


def _examples(builder, split):
    return list(tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)))


def _decode(png):
    return tfds.core.lazy_imports.cv2.imdecode(np.frombuffer(png, np.uint8), 0) > 0


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return _build(DUMMY, tmp_path_factory.mktemp("tfds"), _config())


def test_test_split_is_the_authors_and_validation_comes_from_training(built):
    numbers = {split: sorted(int(e["image/id"]) for e in _examples(built, split))
               for split in ("train", "validation", "test")}
    assert numbers["test"] == [9, 10, 11]
    assert len(numbers["validation"]) == 1 and not set(numbers["validation"]) & set(numbers["train"])
    assert sorted(numbers["train"] + numbers["validation"]) == list(range(1, 9))


def test_masks_are_the_drawn_lesion_pixels_inside_dilated_boxes(built):
    size = 128
    for example in _examples(built, "train"):
        objects = example["objects"]
        full = instance_masks.paste_masks(objects["mask"], objects["bbox"], size).numpy()
        drawn = {lesion: _decode(example["lesion_pixels"][lesion]) for lesion in LESION_CLASSES}
        for label, mask, area in zip(objects["label"], full, objects["area"]):
            assert mask.sum() == area > 0
            assert not (mask & ~drawn[LESION_CLASSES[label]]).any(), "a mask pixel outside the drawn lesion"
        for label, lesion in enumerate(LESION_CLASSES):   # every drawn pixel belongs to one instance
            union = full[objects["label"] == label].any(axis=0) if len(full) else np.zeros((size, size), bool)
            np.testing.assert_array_equal(union, drawn[lesion])


def test_original_lesion_pixels_are_the_download_masks_as_drawn(built):
    example = next(e for e in _examples(built, "test") if e["image/id"] == 11)
    height, width = example["original_size"]
    exudates = _decode(example["original_lesion_pixels"]["exudate"])
    truth = idrid.read_mask(DUMMY / idrid.SEGMENTATION / idrid.GROUND_TRUTHS / idrid.PARTS["test"] /
                            "3. Hard Exudates" / "IDRiD_11_EX.tif")   # the RGBA one
    assert exudates.shape == (height, width) and 0 < exudates.sum() < exudates.size / 4
    np.testing.assert_array_equal(exudates, truth)
    # IDRiD_11 has no microaneurysm mask: known absent, no pixels, no instances.
    assert example["annotation"]["microaneurysm"] == STATUSES.index(ABSENT)
    assert example["annotation"]["exudate"] == STATUSES.index(ANNOTATED)
    assert example["original_lesion_pixels"]["microaneurysm"] == b""
    assert set(example["objects"]["label"].tolist()) == {0}


def test_dilated_config_keeps_the_papers_masks(tmp_path):
    dilated = _build(DUMMY, tmp_path, _config("dilated_small", dilation=idrid_dataset_builder.lesions.Dilation()))
    for example in _examples(dilated, "validation"):
        drawn = _decode(example["lesion_pixels"]["exudate"])
        full = instance_masks.paste_masks(example["objects"]["mask"], example["objects"]["bbox"], 128).numpy()
        assert full.any(axis=0).sum() > drawn.sum()   # the dilation grows the masks past the lesions


def test_the_2048_config_groups_lesions_as_the_1024_one_does():
    dilation = {config.name: config.dilation for config in idrid_dataset_builder.BUILDER_CONFIGS}
    at_1024 = np.zeros((128, 128), bool)
    at_1024[20, [20, 26]] = True   # 6 px apart: one instance at 1024 px
    at_1024[60, [20, 34]] = True   # 14 px apart: two
    at_2048 = np.kron(at_1024, np.ones((2, 2), bool))

    def count(mask, config):
        return len(idrid_dataset_builder.lesions.split_lesions(mask, 0, dilation[config]))

    assert count(at_1024, "lesions_1024") == count(at_2048, "lesions_2048") == 3
    assert count(at_2048, "lesions_1024") == 4   # the paper's 2 dilations at 2048 px would split the close pair


def test_the_folder_above_or_a_segmentation_folder_both_build(tmp_path):
    inner = _build(DUMMY / idrid.SEGMENTATION, tmp_path / "inner", _config())
    outer = _build(DUMMY, tmp_path / "outer", _config())
    assert [e["image/id"] for e in _examples(inner, "train")] == [e["image/id"] for e in _examples(outer, "train")]


def test_bad_files_fail_the_build_listing_each_and_leave_no_dataset(tmp_path):
    root = tmp_path / "download"
    shutil.copytree(DUMMY, root)
    truths = root / idrid.SEGMENTATION / idrid.GROUND_TRUTHS / idrid.PARTS["train"]
    orphan = truths / "3. Hard Exudates" / "IDRiD_99_EX.tif"
    shutil.copy(truths / "3. Hard Exudates" / "IDRiD_01_EX.tif", orphan)
    corrupt = truths / "1. Microaneurysms" / "IDRiD_02_MA.tif"
    corrupt.write_bytes(corrupt.read_bytes()[:40])
    small = truths / "1. Microaneurysms" / "IDRiD_03_MA.tif"
    dummy_data_generation.write_mask(small, np.zeros((10, 10), np.uint8))
    empty = root / idrid.SEGMENTATION / idrid.PHOTOGRAPHS / idrid.PARTS["test"]
    for photograph in empty.glob("*.jpg"):
        photograph.unlink()
    data_dir = tmp_path / "data"
    with pytest.raises(idrid.IdridError) as raised:
        _build(root, data_dir, _config())
    message = str(raised.value)
    assert f"{orphan}: mask without its photograph IDRiD_99.jpg" in message
    assert f"{corrupt}: corrupt mask" in message
    assert f"{small}: mask is 10x10 but its photograph IDRiD_03.jpg is 288x192" in message
    assert f"{empty}: no photograph" in message
    assert f"{len(raised.value.problems)} problem(s)" in message
    version = str(idrid_dataset_builder.Builder.VERSION)
    left = [p for p in data_dir.rglob("*") if p.is_dir() and (p.name == version or "incomplete" in p.name)]
    assert not left, f"a failed build left {left}"


def test_a_folder_that_is_not_idrid_says_what_to_point_at(tmp_path):
    with pytest.raises(idrid.IdridError, match="point --manual-dir at the unpacked IDRiD download"):
        _build(tmp_path, tmp_path / "data", _config())
