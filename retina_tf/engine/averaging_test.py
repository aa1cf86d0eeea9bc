"""Averaging the last checkpoints of a model_dir."""

import numpy as np
import pytest
import tensorflow as tf
from official.core import task_factory

from retina_tf.commands import main as cli
from retina_tf.configs import SMOKE_CPU
from retina_tf.configs.experiment import layered_params
from retina_tf.engine import averaging
from retina_tf.testing.serving import save_model_dir
from retina_tf.utils.errors import UserError


@pytest.fixture(name="model", scope="module")
def fixture_model():
    return task_factory.get_task(layered_params([SMOKE_CPU]).task).build_model()


@pytest.fixture(name="model_dir", scope="module")
def fixture_model_dir(tmp_path_factory, model):
    """ckpt-1 .. ckpt-4 of the smoke model, every weight moved by a different amount at each step."""
    model_dir = tmp_path_factory.mktemp("averaging") / "model"
    save_model_dir([SMOKE_CPU], model, model_dir)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model), str(model_dir), max_to_keep=None)
    rng = np.random.default_rng(0)
    for step in (2, 3, 4):
        for variable in model.variables:
            variable.assign_add(rng.normal(size=variable.shape).astype(np.float32))
        manager.save(checkpoint_number=step)
    return model_dir


def _weights(model, checkpoint: str) -> list[np.ndarray]:
    tf.train.Checkpoint(model=model).read(checkpoint).expect_partial().assert_existing_objects_matched()
    return [variable.numpy() for variable in model.variables]


def test_the_newest_checkpoints_are_averaged_weight_by_weight(model_dir, model):
    averaged = averaging.average_checkpoints(model_dir, 3)
    assert averaged.sources == tuple(str(model_dir / f"ckpt-{step}") for step in (2, 3, 4))
    assert averaged.checkpoint.startswith(str(model_dir / "averaged" / "ckpt-4-mean3"))
    sources = [_weights(model, source) for source in averaged.sources]
    mean = _weights(model, averaged.checkpoint)
    assert len(mean) > 100
    for values, *parts in zip(mean, *sources):
        expected = np.mean(np.array(parts, np.float64), axis=0)
        # the mean is taken in float64 and rounded once to float32: half a unit in its last place at most
        np.testing.assert_allclose(values, expected, rtol=0, atol=1e-6 * (1 + np.abs(parts).max()))
    assert not np.allclose(mean[0], sources[-1][0])


def test_a_checkpoint_that_does_not_read_is_passed_over(tmp_path, model_dir):
    broken = tmp_path / "model"
    tf.io.gfile.makedirs(str(broken))
    for path in tf.io.gfile.glob(str(model_dir / "*")):
        if not tf.io.gfile.isdir(path):
            tf.io.gfile.copy(path, str(broken / path.rsplit("/", 1)[1]))
    [data] = tf.io.gfile.glob(str(broken / "ckpt-4.data-*"))
    with open(data, "r+b") as file:
        file.truncate(1000)
    averaged = averaging.average_checkpoints(broken, 2, output=str(tmp_path / "mean"))
    assert averaged.sources == (str(broken / "ckpt-2"), str(broken / "ckpt-3"))


def test_more_checkpoints_than_were_kept_are_refused_with_how_to_keep_them(model_dir):
    with pytest.raises(UserError, match=r"4 checkpoints read there, fewer than the 5 to average .*max_to_keep"):
        averaging.average_checkpoints(model_dir, 5)
    with pytest.raises(UserError, match="at least 1"):
        averaging.average_checkpoints(model_dir, 0)


def test_the_command_names_what_it_wrote_and_refuses_a_folder_without_a_training_in_one_line(model_dir, tmp_path,
                                                                                             capsys):
    assert cli.main(["average", "--model-dir", str(model_dir), "--last", "2"]) == 0
    out = capsys.readouterr().out
    assert f"averaged 2 checkpoints, {model_dir / 'ckpt-3'} to {model_dir / 'ckpt-4'}" in out
    assert f"--checkpoint {model_dir / 'averaged' / 'ckpt-4-mean2'}" in out
    assert cli.main(["average", "--model-dir", str(tmp_path), "--last", "2"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"retina-tf average: error: {tmp_path}: not a trained model_dir (needs params.yaml and a checkpoint)"
