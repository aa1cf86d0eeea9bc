"""Model dirs, exports and photographs for tests and benchmarks: given weights as a model_dir or a served
model, an untrained model_dir (what scoring and export need, without the minutes a training run takes), a
synthetic photograph as a camera's JPEG."""

import pathlib

import cv2
import numpy as np
import tensorflow as tf
from official.core import task_factory, train_utils

from retina_tf import registry_imports  # noqa: F401  task_factory: the retina_maskrcnn task
from retina_tf.configs.experiment import layered_params
from retina_tf.data import synthetic
from retina_tf.serving import export


def photograph(width: int, height: int, cut_off: bool = False, render_scale: int = 1) -> bytes:
    """A synthetic fundus photograph as a camera's JPEG (quality 95); rendered at 1/render_scale of the size and
    enlarged, where rendering every pixel would take long."""
    image = synthetic.render_fundus(np.random.default_rng(0), width // render_scale, height // render_scale,
                                    exudates=True, microaneurysms=True, cut_off=cut_off).image
    if render_scale != 1:
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    return cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


def save_model_dir(config_files, weights, model_dir: pathlib.Path, *overrides) -> pathlib.Path:
    """These weights as one checkpoint with its params.yaml in model_dir, as `retina-tf train` leaves them."""
    train_utils.serialize_config(layered_params(config_files, overrides), str(model_dir))
    tf.train.Checkpoint(model=weights).save(str(model_dir / "ckpt"))
    return model_dir


def untrained_model_dir(config_files, model_dir: pathlib.Path, *overrides) -> pathlib.Path:
    """A model_dir of the experiment's freshly initialised model: its lesions are arbitrary but shaped right."""
    params = layered_params(config_files, overrides)
    return save_model_dir(config_files, task_factory.get_task(params.task).build_model(), model_dir, *overrides)


def export_weights(config_files, weights, workdir: pathlib.Path, name: str, *overrides) -> pathlib.Path:
    """These weights as a checkpoint with its params.yaml in workdir/<name>, exported to workdir/export/<name>."""
    return export.export(save_model_dir(config_files, weights, workdir / name, *overrides), workdir / "export", name)
