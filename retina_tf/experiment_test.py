"""Training on the CPU with the smoke config: it learns, checkpoints, resumes, transfers weights."""


import numpy as np
import tensorflow as tf
import tf_keras
from official.core import task_factory

from retina_tf import experiment, train_lib
from retina_tf.commands import main as cli
from retina_tf.configs import SMOKE_CPU


def _params(data_dir, *overrides):
    return experiment.experiment_params([SMOKE_CPU], list(overrides), data_dir=data_dir)


def _checkpoint_steps(model_dir):
    return sorted(int(path.name.split("-")[1].split(".")[0]) for path in model_dir.glob("ckpt-*.index"))


def test_smoke_training_learns_and_writes_checkpoints(eophtha_data_dir, tmp_path):
    # One-step epochs: a loss summary and a checkpoint after every step. Seeded and
    # without augmentation, so that the comparison is about learning, not luck.
    tf_keras.utils.set_random_seed(1)
    params = _params(eophtha_data_dir, "task.schedule.epochs=[8,2]", "task.schedule.steps_per_epoch=1",
                     "task.train_data.parser.aug_rand_rotate90=false", "task.train_data.parser.aug_translate_max=0.0",
                     "task.train_data.parser.aug_scale_min=1.0", "task.train_data.parser.aug_scale_max=1.0")
    losses = []
    result = train_lib.train(params, tmp_path / "model", mode="train")
    assert result.step == params.trainer.train_steps == 10
    assert _checkpoint_steps(tmp_path / "model")[-1] == 10
    assert (tmp_path / "model" / "params.yaml").is_file()
    for event_file in (tmp_path / "model" / "train").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            for value in event.summary.value:
                if value.tag == "total_loss":
                    losses.append((event.step, float(tf.make_ndarray(value.tensor))))
    losses = [loss for _, loss in sorted(losses)]
    assert len(losses) == 10 and all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < np.mean(losses[:3]), losses


def test_a_second_run_resumes_from_the_saved_step(eophtha_data_dir, tmp_path, capsys):
    model_dir = tmp_path / "model"
    common = ["--config", str(SMOKE_CPU), "--model-dir", str(model_dir), "--data-dir", str(eophtha_data_dir),
              "--mode", "train"]
    assert cli.main(["train", *common, "--params-override", "task.schedule.epochs=[1,1]"]) == 0
    assert _checkpoint_steps(model_dir) == [2, 4]
    for path in model_dir.glob("ckpt-2.*"):
        path.unlink()   # had training started over, ckpt-2 would come back
    assert cli.main(["train", *common, "--params-override", "task.schedule.epochs=[2,1]"]) == 0
    assert _checkpoint_steps(model_dir) == [4, 6]
    assert "done at step 6 of 6" in capsys.readouterr().out


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
