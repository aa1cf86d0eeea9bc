"""A trained model_dir -> a SavedModel version in TF Serving's layout (`retina-tf export`).

    <export-base>/<model-name>/<version>/saved_model.pb, variables/, assets.extra/

The weights are frozen into saved_model.pb (export_module says why); variables/
is empty.

The version is written under a hidden temporary name and renamed into place
when complete, because TF Serving loads any new numeric folder it sees; an
existing version is never overwritten. assets.extra holds the warm-up
requests TF Serving replays before serving, and retina_tf.json (what was
exported: checkpoint, normalisation, classes, validation figures).
"""

import dataclasses
import json
import pathlib
import shutil

import cv2
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

from retina_tf import LESION_CLASSES, datasets
from retina_tf.data import synthetic
from retina_tf.errors import UserError
from retina_tf.experiment import trained_model
from retina_tf.serving.export_module import FundusDetectionModule
from retina_tf.serving.model_base import versions
from retina_tf.serving.protocol import (
    DEFAULT_MODEL_NAME,
    DEFAULT_SIGNATURE,
    EXTRA_FOLDER,
    METADATA_FILE,
    PHOTOGRAPHS_INPUT,
    WARMUP_FILE,
)


def warmup_photograph(size: int = 1024) -> bytes:
    """A synthetic fundus photograph (JPEG) for TF Serving's warm-up requests."""
    photo = synthetic.render_fundus(np.random.default_rng(0), size * 3 // 2, size, exudates=True,
                                    microaneurysms=True, cut_off=False)
    return cv2.imencode(".jpg", cv2.cvtColor(photo.image, cv2.COLOR_RGB2BGR))[1].tobytes()


def write_warmup(path: pathlib.Path, model_name: str, photograph: bytes, count: int = 2):
    """PredictionLog records TF Serving replays at load (assets.extra/tf_serving_warmup_requests)."""
    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name=model_name, signature_name=DEFAULT_SIGNATURE))
    request.inputs[PHOTOGRAPHS_INPUT].CopyFrom(tf.make_tensor_proto([photograph], dtype=tf.string))
    log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for _ in range(count):
            writer.write(log.SerializeToString())


def export(model_dir: pathlib.Path, export_base: pathlib.Path, model_name: str = DEFAULT_MODEL_NAME,
           version: int | None = None, figures: dict | None = None) -> pathlib.Path:
    """Exports the latest checkpoint of model_dir; returns the new version folder."""
    trained = trained_model(model_dir)
    model_base = pathlib.Path(export_base) / model_name
    version = version if version is not None else (versions(model_base) or [0])[-1] + 1
    target = model_base / str(version)
    if target.exists():
        raise UserError(f"{target} already exists: versions are never overwritten (choose another --version)")

    params = trained.params
    normalisation = datasets.normalisation_of(params.task.train_data.tfds_name)
    module = FundusDetectionModule(params, normalisation)
    tf.train.Checkpoint(model=module.model).read(trained.checkpoint).expect_partial().assert_existing_objects_matched()

    staging = model_base / f".incomplete-{version}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        # The signatures run the frozen model: a root that does not track the
        # model's variables keeps a second copy of the weights out of variables/.
        tf.saved_model.save(tf.Module(), str(staging), signatures=module.signatures())
        write_warmup(staging / EXTRA_FOLDER / WARMUP_FILE, model_name, warmup_photograph())
        metadata = {
            "model_name": model_name, "version": version, "checkpoint": trained.checkpoint,
            "dataset": params.task.train_data.tfds_name,
            "normalisation": dataclasses.asdict(normalisation), "classes": ["background", *LESION_CLASSES],
            "max_detections": params.task.model.detection_generator.max_num_detections,
            "min_score": params.task.model.detection_generator.pre_nms_score_threshold,
            "figures": figures or {},
        }
        (staging / EXTRA_FOLDER / METADATA_FILE).write_text(json.dumps(metadata, indent=2))
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
