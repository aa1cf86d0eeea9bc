"""Exports and photographs for serving tests and benchmarks: given weights as a served model, a synthetic
photograph as a camera's JPEG."""

import pathlib

import cv2
import numpy as np
import tensorflow as tf
from official.core import train_utils

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


def export_weights(config_files, weights, workdir: pathlib.Path, name: str, *overrides) -> pathlib.Path:
    """These weights as a checkpoint with its params.yaml in workdir/<name>, exported to workdir/export/<name>."""
    model_dir = workdir / name
    train_utils.serialize_config(layered_params(config_files, overrides), str(model_dir))
    tf.train.Checkpoint(model=weights).save(str(model_dir / "ckpt"))
    return export.export(model_dir, workdir / "export", name)
