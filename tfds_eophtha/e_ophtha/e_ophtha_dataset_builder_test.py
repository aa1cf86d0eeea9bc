"""Tests for the e_ophtha dataset builder."""

import collections
import pathlib
import shutil

import matplotlib
import numpy as np
import pytest
import tensorflow_datasets as tfds

from retina_tf import ANNOTATED, LESION_CLASSES, STATUSES
from retina_tf.data import eophtha, instance_masks, synthetic
from tfds_eophtha.e_ophtha import e_ophtha_dataset_builder

matplotlib.use("Agg")


class EophthaPatientsConfigTest(tfds.testing.DatasetBuilderTestCase):
    """The committed dummy data: 8 lesion photographs (2 in both sets), 4 healthy, 2 per patient."""

    DATASET_CLASS = e_ophtha_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["patients_1024"]
    SPLITS = {"train": 4, "validation": 2, "test": 2}   # whole patients of 2 photographs


class EophthaPaperConfigTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = e_ophtha_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["paper_512"]
    SPLITS = {"train": 6, "validation": 1, "test": 1}   # 155:20:20 of 8 photographs


class EophthaHealthyConfigTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = e_ophtha_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["patients_with_healthy_512"]
    SPLITS = {"train": 8, "validation": 2, "test": 2}


class EophthaAllTrainConfigTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = e_ophtha_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["all_train_512"]
    SPLITS = {"train": 8}   # every lesion photograph, however few


def _small(name="small", split_by="patient", include_healthy=False, size=96):
    return e_ophtha_dataset_builder.EophthaConfig(
        name=name, split_by=split_by, include_healthy=include_healthy, image_size=size)


def _build(manual_dir, data_dir, config):
    builder = e_ophtha_dataset_builder.Builder(config=config, data_dir=str(data_dir))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
    return builder


def _examples(builder, split):
    return list(tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds")
    return _build(pathlib.Path(__file__).parent / "dummy_data", data_dir,
                  _small(include_healthy=True, size=256))


def test_every_mask_lies_in_its_box_and_every_box_is_tight(built):
    size = 256
    count = 0
    for split in ("train", "validation", "test"):
        for example in _examples(built, split):
            objects = example["objects"]
            boxes = instance_masks.pixel_boxes(objects["bbox"], size).numpy()
            np.testing.assert_allclose(boxes / size, objects["bbox"], atol=1e-6)   # pixel-exact boxes
            full = instance_masks.paste_masks(objects["mask"], objects["bbox"], size).numpy()
            for box, mask, area in zip(boxes, full, objects["area"]):
                ymin, xmin, ymax, xmax = box
                inside = mask[ymin:ymax, xmin:xmax]
                assert mask.sum() == inside.sum() == area > 0
                assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()
                count += 1
            known = {k: v for k, v in example["annotation"].items()}
            labels = set(objects["label"].tolist())
            for label in labels:   # lesions only of annotated types
                assert known[LESION_CLASSES[label]] == STATUSES.index(ANNOTATED)
    assert count > 20


def test_photographs_in_both_sets_are_one_example_with_both_lesion_types(built):
    examples = [e for split in ("train", "validation", "test") for e in _examples(built, split)]
    both = [e for e in examples if set(e["objects"]["label"].tolist()) == {0, 1}]
    assert len(both) == 2
    assert len({e["image/id"] for e in examples}) == len(examples) == 12
    assert all(e["image/filename"].decode().startswith("e_optha_EX/EX/") for e in both)


def test_show_examples_draws_boxes_on_photographs(built):
    figure = tfds.show_examples(built.as_dataset(split="train"), built.info, rows=1, cols=2)
    assert len(figure.axes) == 2


@pytest.fixture(scope="module")
def paper_sized_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("paper")
    spec = synthetic.SyntheticEophtha(exudate_photographs=47, microaneurysm_photographs=148, exudate_healthy=0,
                                      microaneurysm_healthy=0, shared_photographs=0, photographs_per_patient=3,
                                      sizes=((96, 64),), seed=7)
    synthetic.write_synthetic_eophtha(root, spec)
    return root


def test_paper_config_splits_195_photographs_155_20_20(paper_sized_tree, tmp_path):
    builder = _build(paper_sized_tree, tmp_path, _small("paper_small", split_by="photograph", size=64))
    assert {name: split.num_examples for name, split in builder.info.splits.items()} == {
        "train": 155, "validation": 20, "test": 20}


def test_patient_config_never_puts_a_patient_in_two_splits(paper_sized_tree, tmp_path):
    builder = _build(paper_sized_tree, tmp_path, _small("patients_small", size=64))
    owners = collections.defaultdict(set)
    sizes = {}
    for split in ("train", "validation", "test"):
        examples = _examples(builder, split)
        sizes[split] = len(examples)
        for example in examples:
            owners[example["patient"]].add(split)
    assert all(len(splits) == 1 for splits in owners.values())
    assert sum(sizes.values()) == 195
    for split, paper in (("train", 155), ("validation", 20), ("test", 20)):
        assert abs(sizes[split] - paper) <= 3   # whole patients of 3 photographs


def test_building_twice_gives_identical_examples(tmp_path):
    dummy = pathlib.Path(__file__).parent / "dummy_data"
    first = _build(dummy, tmp_path / "a", _small())
    second = _build(dummy, tmp_path / "b", _small())
    for split in ("train", "validation", "test"):
        a, b = _examples(first, split), _examples(second, split)
        assert [e["image/id"] for e in a] == [e["image/id"] for e in b]
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x["image"], y["image"])
            assert list(x["objects"]["mask"]) == list(y["objects"]["mask"])


def test_builds_from_the_zip_archives_as_distributed(tmp_path):
    dummy = pathlib.Path(__file__).parent / "dummy_data"
    archives = tmp_path / "archives"
    archives.mkdir()
    for name in ("e_optha_EX", "e_optha_MA"):
        shutil.make_archive(str(archives / name), "zip", root_dir=dummy, base_dir=name)
    from_zip = _build(archives, tmp_path / "zip", _small())
    from_folders = _build(dummy, tmp_path / "folders", _small())
    assert [e["image/id"] for e in _examples(from_zip, "train")] == [
        e["image/id"] for e in _examples(from_folders, "train")]


def test_bad_files_fail_the_build_listing_each_and_leave_no_dataset(tmp_path):
    root = tmp_path / "bad"
    shutil.copytree(pathlib.Path(__file__).parent / "dummy_data", root)
    exudate_masks = sorted((root / "e_optha_EX" / "Annotation_EX").glob("*/*.png"))
    microaneurysm_masks = sorted((root / "e_optha_MA" / "Annotation_MA").glob("*/*.png"))
    orphan = exudate_masks[-1]
    next((root / "e_optha_EX" / "EX" / orphan.parent.name).glob(orphan.stem[:-3] + ".*")).unlink()
    empty = microaneurysm_masks[-1]
    empty.write_bytes((root / "e_optha_EX" / "Annotation_EX").joinpath(
        exudate_masks[0].relative_to(root / "e_optha_EX" / "Annotation_EX")).read_bytes()[:10])
    data_dir = tmp_path / "data"
    with pytest.raises(eophtha.EophthaError) as raised:
        _build(root, data_dir, _small())
    assert f"{orphan}: mask without its photograph" in str(raised.value)
    assert f"{empty}: corrupt mask" in str(raised.value)
    assert len(raised.value.problems) == 2
    version = str(e_ophtha_dataset_builder.Builder.VERSION)
    left = [p for p in data_dir.rglob("*") if p.is_dir() and (p.name == version or "incomplete" in p.name)]
    assert not left, f"a failed build left {left}"
    unbuilt = e_ophtha_dataset_builder.Builder(config=_small(), data_dir=str(data_dir))
    with pytest.raises(AssertionError, match="could not find data"):   # nothing for tfds.load to pick up
        unbuilt.as_dataset(split="train")


def test_a_missing_or_wrong_manual_dir_says_how_to_get_e_ophtha(tmp_path):
    with pytest.raises(Exception, match="ADCIS"):
        _build(tmp_path / "nowhere", tmp_path / "data", _small())
    (tmp_path / "wrong").mkdir()
    (tmp_path / "wrong" / "photo.jpg").write_bytes(b"x")
    with pytest.raises(eophtha.EophthaError, match="neither e_optha_EX/ nor e_optha_MA/ found"):
        _build(tmp_path / "wrong", tmp_path / "data", _small())
