"""Training on the CPU with the smoke config: it learns, checkpoints, transfers weights (resuming is the
preemption test's, in engine/train_lib_test.py)."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from official.core import task_factory

from retina_tf import registry_imports  # noqa: F401  task_factory: the retina_maskrcnn task
from retina_tf.commands import main as cli
from retina_tf.configs import SMOKE_CPU, experiment
from retina_tf.engine import train_lib
from retina_tf.utils import checkpoints
from retina_tf.utils.errors import UserError


def _params(data_dir, *overrides):
    return experiment.experiment_params([SMOKE_CPU], list(overrides), data_dir=data_dir)


def _checkpoint_steps(model_dir):
    return sorted(int(path.name.split("-")[1].split(".")[0]) for path in model_dir.glob("ckpt-*.index"))


# One-step epochs: a loss summary and a checkpoint after every step. Seeded and without augmentation, so that
# the comparison is about learning, not luck.
STEADY = ["task.schedule.steps_per_epoch=1", "task.train_data.parser.aug_rand_rotate90=false",
          "task.train_data.parser.aug_translate_max=0.0", "task.train_data.parser.aug_scale_min=1.0",
          "task.train_data.parser.aug_scale_max=1.0"]


def test_smoke_training_learns_and_writes_checkpoints(eophtha_data_dir, tmp_path):
    tf_keras.utils.set_random_seed(1)
    params = _params(eophtha_data_dir, "task.schedule.epochs=[8,2]", *STEADY)
    model_dir = tmp_path / "model"
    result = train_lib.train(params, model_dir, mode="train")
    losses = []
    assert result.step == params.trainer.train_steps == 10
    assert _checkpoint_steps(model_dir)[-1] == 10
    assert (model_dir / "params.yaml").is_file()
    for event_file in (model_dir / "train").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            for value in event.summary.value:
                if value.tag == "total_loss":
                    losses.append((event.step, float(tf.make_ndarray(value.tensor))))
    losses = [loss for _, loss in sorted(losses)]
    assert len(losses) == 10 and all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < np.mean(losses[:3]), losses


@pytest.mark.slow   # two training runs in one process: two minutes on 2 cores
def test_training_goes_on_from_the_newest_checkpoint_that_reads(eophtha_data_dir, tmp_path, capsys):
    """A model_dir as a VM preempted mid-write leaves it: the latest checkpoint truncated, and the temporary
    folder of a checkpoint write that was killed."""
    params = _params(eophtha_data_dir, "task.schedule.epochs=[1,1]", *STEADY)   # two steps, a checkpoint each
    model_dir = tmp_path / "model"
    train_lib.train(params, model_dir, mode="train")
    [data] = model_dir.glob("ckpt-2.data-*")
    data.write_bytes(data.read_bytes()[:data.stat().st_size // 2])
    (model_dir / "ckpt-3_temp").mkdir()
    capsys.readouterr()
    result = train_lib.train(params, model_dir, mode="train")
    out, err = capsys.readouterr()
    assert err.startswith(f"{model_dir}/ckpt-2 does not read (") and err.endswith("; going on from ckpt-1\n"), err
    assert "resuming at step 1 of 2\n" in out, out
    assert result.step == 2 and checkpoints.why_unreadable(str(model_dir / "ckpt-2")) is None
    assert not (model_dir / "ckpt-3_temp").exists()


def test_transfer_learning_loads_a_backbone_checkpoint(eophtha_data_dir, tmp_path):
    params = _params(eophtha_data_dir)
    donor = task_factory.get_task(params.task).build_model()
    for variable in donor.backbone.trainable_variables:
        variable.assign(tf.fill(variable.shape, 0.125))
    saved = tf.train.Checkpoint(backbone=donor.backbone).save(str(tmp_path / "donor" / "ckpt"))

    params = experiment.experiment_params([SMOKE_CPU], [], init_checkpoint=saved, data_dir=eophtha_data_dir)
    task = task_factory.get_task(params.task)
    model = task.build_model()
    before = [v.numpy().copy() for v in model.backbone.trainable_variables]
    task.initialize(model)
    after = [v.numpy() for v in model.backbone.trainable_variables]
    assert all(np.all(a == 0.125) for a in after)
    assert any(not np.allclose(a, b) for a, b in zip(after, before))
    head = model.detection_head.trainable_variables[0].numpy()
    assert not np.all(head == 0.125), "only the backbone comes from the checkpoint"


def test_a_misspelled_override_is_one_clear_line(eophtha_data_dir, tmp_path, capsys):
    status = cli.main(["train", "--config", str(SMOKE_CPU), "--model-dir", str(tmp_path),
                       "--data-dir", str(eophtha_data_dir),
                       "--params-override", "task.model.backbone.resnet.modle_id=50"])
    err = capsys.readouterr().err.strip()
    assert status == 1 and "modle_id" in err and "\n" not in err


@pytest.mark.parametrize("override, message", [
    ("task.train_data.global_batch_size=abc",
     "--params-override task.train_data.global_batch_size: expected an integer, got 'abc'"),
    ("task.train_data.parser.aug_scale_min=big",
     "--params-override task.train_data.parser.aug_scale_min: expected a number, got 'big'"),
    ("task.train_data.parser.aug_rand_rotate90=maybe",
     "--params-override task.train_data.parser.aug_rand_rotate90: expected true or false, got 'maybe'"),
    ("task.schedule.epochs=[8,a]",
     "--params-override task.schedule.epochs: expected a list of integers, got [8, 'a']"),
    ("task.train_data=3", "--params-override task.train_data: expected a section of fields, got 3"),
    ("task.init_checkpoint=7", "--params-override task.init_checkpoint: expected a string or null, got 7"),
    ("task.model.backbone.resnet.modle_id=50",
     "--params-override task.model.backbone.resnet.modle_id: no such field (did you mean model_id?)"),
])
def test_a_wrong_override_names_the_field_the_expected_type_and_the_value(override, message):
    with pytest.raises(UserError) as raised:
        experiment.layered_params([SMOKE_CPU], [override])
    assert str(raised.value) == message


def test_overrides_of_the_right_type_are_taken(tmp_path):
    params = experiment.layered_params([SMOKE_CPU], [
        "task.train_data.global_batch_size=4,trainer.optimizer_config.learning_rate.stepwise.values=[1e-3,1e-4,1e-5]",
        "task.train_data.parser.aug_scale_min=1,task.init_checkpoint=null,task.schedule.epochs=[3,1]"])
    assert params.task.train_data.global_batch_size == 4
    assert params.trainer.optimizer_config.learning_rate.stepwise.values == [1e-3, 1e-4, 1e-5]
    assert params.task.train_data.parser.aug_scale_min == 1 and params.task.init_checkpoint is None
    assert params.task.schedule.epochs == [3, 1]


def test_an_override_as_a_nested_dict_is_taken_and_checked_as_text_is():
    params = experiment.layered_params([SMOKE_CPU], [{"task": {"train_data": {"global_batch_size": 4}}}])
    assert params.task.train_data.global_batch_size == 4
    with pytest.raises(UserError, match=r"^--params-override task.train_data.global_batch_size: expected an "
                                        r"integer, got 'abc'$"):
        experiment.layered_params([SMOKE_CPU], [{"task": {"train_data": {"global_batch_size": "abc"}}}])


def test_a_wrong_typed_field_in_a_config_file_names_the_file(tmp_path):
    config = tmp_path / "mine.yaml"
    config.write_text("task:\n  train_data:\n    global_batch_size: two\n")
    with pytest.raises(UserError, match=f"^{config}: task.train_data.global_batch_size: expected an integer, "
                                        "got 'two'$"):
        experiment.layered_params([SMOKE_CPU, config])


@pytest.mark.parametrize("steps_per_epoch", [2, 0], ids=["fixed steps", "one pass per epoch"])
def test_train_refuses_a_data_dir_without_the_dataset_and_writes_nothing(tmp_path, capsys, steps_per_epoch):
    model_dir, data_dir = tmp_path / "model", tmp_path / "data"
    data_dir.mkdir()
    status = cli.main(["train", "--config", str(SMOKE_CPU), "--model-dir", str(model_dir), "--data-dir", str(data_dir),
                       "--params-override", f"task.schedule.steps_per_epoch={steps_per_epoch}"])
    err = capsys.readouterr().err.strip()
    assert status == 1 and "\n" not in err
    assert err == (f"retina-tf train: error: e_ophtha/patients_512 is not built in {data_dir}: build it with "
                   "retina-tf build-dataset --dataset e_ophtha/patients_512 --manual-dir <the e-ophtha download> "
                   f"--data-dir {data_dir}")
    assert not model_dir.exists() and not list(data_dir.iterdir())
