"""The task reads e_ophtha through the lesion parser and validates with the paper's metric."""


import functools
import shutil

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from official.core import task_factory

from retina_tf import registry_imports  # noqa: F401  task_factory: the retina_maskrcnn task
from retina_tf.configs import SMOKE_CPU, experiment
from retina_tf.dataloaders import eophtha_decoder
from retina_tf.ops import geometry
from retina_tf.tasks import retina_maskrcnn
from retina_tf.testing import tiles


def test_validation_carries_exact_ground_truth_and_reports_the_papers_figures(eophtha_data_dir):
    params = experiment.experiment_params([SMOKE_CPU], data_dir=eophtha_data_dir)
    task = task_factory.get_task(params.task)
    model = task.build_model()
    images, labels = next(iter(task.build_inputs(params.task.validation_data)))
    assert images.shape[1:] == (256, 256, 3)
    truths = labels["groundtruths"]
    assert truths["mask_pngs"].dtype == tf.string and truths["annotation"].shape[-1] == 2
    assert truths["lesion_pixels"].dtype == tf.string and truths["lesion_pixels"].shape[-1] == 2
    outputs = task.validation_step((images, labels), model)
    state = task.aggregate_logs(None, tf.nest.map_structure(lambda value: (value,), outputs))
    assert len(state) == images.shape[0]
    # The annotation as drawn, at the dataset's resolution, for the pixel AUPR.
    assert all(result.lesion_pixels is not None and result.geometry is None for result in state)
    figures = task.reduce_aggregated_logs(state)
    assert "paper_mAP50" in figures and 0.0 <= figures["paper_mAP50"] <= 1.0
    assert all(0.0 <= value <= 1.0 for name, value in figures.items() if name.startswith("pixel_aupr/"))


def test_training_on_windows_validates_on_whole_photographs(eophtha_data_dir):
    """parser.aug_window_size: training steps see 64x64 windows, validation the whole 256 px photograph."""
    params = experiment.experiment_params(
        [SMOKE_CPU], ["task.train_data.parser.aug_window_size=[64,64]"], data_dir=eophtha_data_dir)
    task = task_factory.get_task(params.task)
    model = task.build_model()
    optimizer = task.create_optimizer(params.trainer.optimizer_config)
    images, labels = next(iter(task.build_inputs(params.task.train_data)))
    assert images.shape[1:] == (64, 64, 3) and labels["image_info"][0, 1].numpy().tolist() == [64, 64]
    logs = task.train_step((images, labels), model, optimizer)
    assert all(bool(tf.math.is_finite(value)) for value in logs.values())
    images, labels = next(iter(task.build_inputs(params.task.validation_data)))
    assert images.shape[1:] == (256, 256, 3)
    boxes = task.validation_step((images, labels), model)["lesions"][0]["detection_boxes"]
    assert boxes.shape[1:] == (params.task.model.detection_generator.max_num_detections, 4)


def test_tiled_validation_reports_what_the_model_finds_on_each_tile(eophtha_data_dir):
    """task.tiling: validation runs the model on 128 px tiles of the 256 px photograph, each lesion once."""
    tile, overlap = 128, 32
    params = experiment.experiment_params(
        [SMOKE_CPU], [f"task.tiling.tile_size={tile}", f"task.tiling.overlap={overlap}"], data_dir=eophtha_data_dir)
    task = task_factory.get_task(params.task)
    model = task.build_model()
    images, labels = next(iter(task.build_inputs(params.task.validation_data)))
    predictions = task.validation_step((images, labels), model)["lesions"][0]
    found = tiles.detections_in_cores(
        lambda one: model(one, image_shape=tf.constant([[tile, tile]], tf.float32), training=False),
        images[0], tile, overlap)
    count = int(predictions["num_detections"][0])
    assert 0 < count <= len(found)
    tiles.assert_each_found_on_a_tile(predictions["detection_classes"][0, :count],
                                      predictions["detection_scores"][0, :count],
                                      predictions["detection_boxes"][0, :count], found)


def test_randaug_changes_the_photograph_and_leaves_its_lesions_in_place(eophtha_data_dir):
    """parser.aug_type reaches the lesion parser: pixels change, boxes and mask targets stay where they were."""
    plain = experiment.experiment_params([SMOKE_CPU], data_dir=eophtha_data_dir)
    augmented = experiment.experiment_params(
        [SMOKE_CPU], ["task.train_data.parser.aug_type.type=randaug",
                      "task.train_data.parser.aug_type.randaug.magnitude=20"],
        data_dir=eophtha_data_dir)
    builder = tfds.builder(plain.task.train_data.tfds_name, data_dir=str(eophtha_data_dir))
    example = eophtha_decoder.EophthaDecoder().decode(next(iter(builder.as_dataset(split="train"))))
    unchanged = geometry.Augmentation()   # no geometric transform: only aug_type can change the image
    plain_parser, augmented_parser = (task_factory.get_task(params.task).build_parser(params.task.train_data)
                                      for params in (plain, augmented))
    plain_image, plain_labels = plain_parser.parse_train_data(example, unchanged)
    # RandAugment draws its operations at random, and a draw can leave this photograph as it was (it did
    # once the tests before it changed): seeded, and five draws, so that no test order decides it.
    tf.random.set_seed(0)
    changes = []
    for _ in range(5):
        augmented_image, augmented_labels = augmented_parser.parse_train_data(example, unchanged)
        changes.append(float(tf.reduce_mean(tf.abs(plain_image - augmented_image))))
        np.testing.assert_array_equal(plain_labels["gt_boxes"], augmented_labels["gt_boxes"])
        np.testing.assert_array_equal(plain_labels["gt_classes"], augmented_labels["gt_classes"])
    assert max(changes) > 0.01, changes


def test_channel_contrast_reaches_the_training_parser_only(eophtha_data_dir):
    params = experiment.experiment_params([SMOKE_CPU], ["task.train_data.parser.aug_channel_contrast=[0.7,0.7]"],
                                          data_dir=eophtha_data_dir)
    task = task_factory.get_task(params.task)
    np.testing.assert_allclose(task.build_parser(params.task.train_data).sample_contrast(), [0.7] * 3, rtol=1e-6)
    assert task.build_parser(params.task.validation_data).sample_contrast() is None


def test_validation_under_a_summary_writer_draws_its_first_photographs_into_tensorboard(eophtha_data_dir, tmp_path):
    params = experiment.experiment_params([SMOKE_CPU], data_dir=eophtha_data_dir)
    task = task_factory.get_task(params.task)
    model = task.build_model()
    state = None
    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        for images, labels in task.build_inputs(params.task.validation_data).take(2):
            outputs = task.validation_step((images, labels), model)
            state = task.aggregate_logs(state, tf.nest.map_structure(lambda value: (value,), outputs))
        task.reduce_aggregated_logs(state, global_step=tf.constant(7, tf.int64))
    pictures = {}
    for path in tmp_path.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                pictures[value.tag] = (event.step, tf.io.decode_png(tf.make_ndarray(value.tensor)[2]).numpy())
    assert sorted(pictures) == sorted(f"validation_photographs/{result.image_id}" for result in state)
    builder = tfds.builder(params.task.validation_data.tfds_name, data_dir=str(eophtha_data_dir))
    photograph = next(iter(tfds.as_numpy(builder.as_dataset(split="validation"))))["image"]
    step, picture = pictures[f"validation_photographs/{state[0].image_id}"]
    size = photograph.shape[0]
    assert step == 7 and picture.shape[0] == size and picture.shape[1] > 2 * size   # annotated | found
    # the photograph itself, back from the normalised model input: close to the dataset's pixels away from the legend
    difference = np.abs(picture[size // 2:, :size].astype(int) - photograph[size // 2:].astype(int))
    assert np.median(difference) < 8
    state = task.aggregate_logs(None, tf.nest.map_structure(lambda value: (value,), outputs))
    assert not task._pictures   # no summary writer (engine.evaluate_lib): nothing drawn


def test_training_split_is_read_whole_once_per_pass_and_repeated(eophtha_data_dir):
    """Training repeats the split without TFDS's repeat_filenames (which leaked): each pass holds every
    photograph once, and the parsed input goes on past the first pass."""
    params = experiment.experiment_params([SMOKE_CPU], data_dir=eophtha_data_dir)
    train = params.task.train_data
    count = tfds.builder(train.tfds_name, data_dir=str(eophtha_data_dir)).info.splits[train.tfds_split].num_examples
    split = retina_maskrcnn._repeated_training_split(train, None)
    ids = [int(example["image/id"]) for example in split.take(3 * count)]
    expected = sorted(ids[:count])
    assert len(set(expected)) == count
    assert all(sorted(ids[start:start + count]) == expected for start in (count, 2 * count))
    assert retina_maskrcnn._repeated_training_split(params.task.validation_data, None) is None
    batches = 2 * count // train.global_batch_size + 1
    task = task_factory.get_task(params.task)
    assert sum(1 for _ in task.build_inputs(train).take(batches)) == batches


def test_cached_photographs_are_read_from_the_files_once(eophtha_data_dir, tmp_path, monkeypatch):
    """cache_photographs: once a pass is read, later passes come from memory, so the files can go. (TFDS
    caches a dataset this small by itself, as it does idrid/lesions_1024, but not idrid/lesions_2048.)"""
    monkeypatch.setattr(tfds, "ReadConfig", functools.partial(tfds.ReadConfig, try_autocache=False))
    data_dir = tmp_path / "data"
    shutil.copytree(eophtha_data_dir, data_dir)
    for cached in (False, True):
        params = experiment.experiment_params(
            [SMOKE_CPU], [f"task.train_data.cache_photographs={cached}"], data_dir=data_dir)
        train = params.task.train_data
        count = tfds.builder(train.tfds_name, data_dir=str(data_dir)).info.splits[train.tfds_split].num_examples
        passes = iter(retina_maskrcnn._repeated_training_split(train, None))
        first = sorted(int(next(passes)["image/id"]) for _ in range(count))
        records = {record: record.read_bytes() for record in data_dir.rglob("*.tfrecord*")}
        for record in records:
            record.unlink()
        try:
            # Two more passes: a pass the pipeline began reading ahead before the files went can still come
            # (one came so, once, under a loaded make test); the one after it must open the files again.
            later = [sorted(int(next(passes)["image/id"]) for _ in range(count)) for _ in range(2)]
            assert cached and later == [first, first]
        except tf.errors.NotFoundError:
            assert not cached
        for record, data in records.items():
            record.write_bytes(data)
