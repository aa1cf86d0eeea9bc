"""A trained model_dir -> a SavedModel version in TF Serving's layout (`retina-tf export`).

    <export-base>/<model-name>/<version>/saved_model.pb, variables/, assets.extra/

The weights are frozen into saved_model.pb (export_module says why); variables/
is empty.

The version is written under a hidden temporary name (TF Serving loads any
new numeric folder it sees, and ignores others) and published when
complete: renamed into place on a local or network file system, where a
rename is atomic; copied file by file on object storage (gs://, s3://),
where there is no rename of a folder, with saved_model.pb last, so the
version is loadable from the moment its saved_model.pb exists (a TF Serving
poll that sees the folder earlier fails that load and retries it). An
existing version is never overwritten. assets.extra holds the warm-up
requests TF Serving replays before serving, and retina_tf.json (what was
exported: checkpoint, normalisation, classes, validation figures).
"""

import dataclasses
import json
import os

import cv2
import numpy as np
import tensorflow as tf
from etils import epath
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

from retina_tf import LESION_CLASSES, datasets, storage
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


def write_warmup(path: epath.Path, model_name: str, photograph: bytes, count: int = 2):
    """PredictionLog records TF Serving replays at load (assets.extra/tf_serving_warmup_requests)."""
    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name=model_name, signature_name=DEFAULT_SIGNATURE))
    request.inputs[PHOTOGRAPHS_INPUT].CopyFrom(tf.make_tensor_proto([photograph], dtype=tf.string))
    log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for _ in range(count):
            writer.write(log.SerializeToString())


def export(model_dir: str | os.PathLike, export_base: str | os.PathLike, model_name: str = DEFAULT_MODEL_NAME,
           version: int | None = None, figures: dict | None = None) -> epath.Path:
    """Exports the latest checkpoint of model_dir; returns the new version folder."""
    trained = trained_model(model_dir)
    model_base = storage.path(export_base) / model_name
    version = version if version is not None else (versions(model_base) or [0])[-1] + 1
    target = model_base / str(version)
    if target.exists():
        raise UserError(f"{target} already exists: versions are never overwritten (choose another --version)")

    params = trained.params
    normalisation = datasets.normalisation_of(params.task.train_data.tfds_name)
    module = FundusDetectionModule(params, normalisation)
    tf.train.Checkpoint(model=module.model).read(trained.checkpoint).expect_partial().assert_existing_objects_matched()

    staging = model_base / f".incomplete-{version}"
    staging.rmtree(missing_ok=True)
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
        publish(staging, target)
    finally:
        staging.rmtree(missing_ok=True)
    return target


def publish(staging: epath.Path, target: epath.Path, copy: bool | None = None):
    """Moves a complete version from staging into place: a rename where that is atomic, else a copy
    (copy None: on object storage) with saved_model.pb the last file to appear."""
    if not (storage.is_object_storage(target) if copy is None else copy):
        staging.rename(target)
        return
    files = []
    for folder, _, names in tf.io.gfile.walk(str(staging)):   # gfile's glob has no recursive **
        relative = os.path.relpath(folder, str(staging))
        (target / relative).mkdir(parents=True, exist_ok=True)
        files.extend(os.path.normpath(os.path.join(relative, name)) for name in names)
    for relative in sorted(files, key=lambda name: (os.path.basename(name) == "saved_model.pb", name)):
        (staging / relative).copy(target / relative)
