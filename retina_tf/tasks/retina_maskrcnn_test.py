"""The task reads e_ophtha through the lesion parser and validates with the paper's metric."""


import tensorflow as tf
from official.core import task_factory

from retina_tf import experiment
from retina_tf.configs import SMOKE_CPU


def test_validation_carries_exact_ground_truth_and_reports_the_papers_figures(eophtha_data_dir):
    params = experiment.experiment_params([SMOKE_CPU], data_dir=eophtha_data_dir)
    task = task_factory.get_task(params.task)
    model = task.build_model()
    images, labels = next(iter(task.build_inputs(params.task.validation_data)))
    assert images.shape[1:] == (256, 256, 3)
    truths = labels["groundtruths"]
    assert truths["mask_pngs"].dtype == tf.string and truths["annotation"].shape[-1] == 2
    outputs = task.validation_step((images, labels), model)
    state = task.aggregate_logs(None, tf.nest.map_structure(lambda value: (value,), outputs))
    assert len(state) == images.shape[0]
    figures = task.reduce_aggregated_logs(state)
    assert "paper_mAP50" in figures and 0.0 <= figures["paper_mAP50"] <= 1.0


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

