"""A trained model_dir -> a SavedModel version in TF Serving's layout (`retina-tf export`).

    <export-base>/<model-name>/<version>/saved_model.pb, variables/, assets.extra/

The weights are frozen into saved_model.pb (export_module says why); variables/
is empty.

The version is written under a staging folder of its own,
.incomplete-<host>-<pid>-<random> (TF Serving loads any new numeric folder it
sees, and ignores others), and published when complete. Two exports to one
model base at once (a scheduled `retina-tf cycle` and a manual export) each
claim a number: on a local or network file system the staging folder is
renamed onto the version folder, which is atomic and fails if another export
has just published that number, so the export takes the next one. On object
storage (gs://, s3://) there is no rename of a folder and no create-if-absent
through tf.io.gfile, so the version is copied file by file, with
saved_model.pb last (loadable from the moment it exists; a TF Serving poll
that sees the folder earlier fails that load and retries it), after checking
the number is free: two exports there must not run at once (a scheduler's
lock, README). An existing version is never overwritten. The next export
removes the staging folder of a killed one on this host. assets.extra holds
the warm-up requests TF Serving replays before serving, and retina_tf.json
(what was exported: checkpoint, normalisation, classes, validation figures,
the operating point, which the signatures answer with too).
"""

import dataclasses
import errno
import json
import os
import re
import socket
import uuid

import cv2
import numpy as np
import tensorflow as tf
from etils import epath
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

from retina_tf import LESION_CLASSES, datasets
from retina_tf.configs.experiment import trained_model
from retina_tf.data import synthetic
from retina_tf.evaluation.operating_point import OperatingPoint, default_operating_point
from retina_tf.serving.export_module import FundusDetectionModule
from retina_tf.serving.model_base import versions
from retina_tf.serving.protocol import (
    DEFAULT_MODEL_NAME,
    DEFAULT_SIGNATURE,
    EXTRA_FOLDER,
    METADATA_FILE,
    PHOTOGRAPHS_INPUT,
    WARMUP_FILE,
    checked_model_name,
    checked_version,
)
from retina_tf.utils import console, storage
from retina_tf.utils.errors import UserError
from retina_tf.utils.locks import process_running


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


STAGING_PREFIX = ".incomplete-"
# How many numbers an export tries when others keep publishing the one it picked.
CLAIM_ATTEMPTS = 100


def export(model_dir: str | os.PathLike, export_base: str | os.PathLike, model_name: str = DEFAULT_MODEL_NAME,
           version: int | None = None, figures: dict | None = None,
           operating_point: OperatingPoint | None = None, checkpoint: str | os.PathLike | None = None,
           params_override=()) -> epath.Path:
    """Exports the latest checkpoint of model_dir (or the one given).

    Args:
        model_dir: the training model_dir.
        export_base: TF Serving's model base path (holding <model_name>/<version>).
        model_name: the served model's name.
        version: the version number; default the next free one.
        figures: validation figures kept in the metadata (retina-tf cycle compares them).
        operating_point: the thresholds lesions are reported from (operating_point.read_operating_point);
            default the paper's 0.35 for every type.
        checkpoint: a checkpoint prefix of model_dir; default the latest, which must read (UserError naming it
            and the newest that reads otherwise).
        params_override: field=value overrides of the model_dir's params.yaml for inference, such as
            task.tiling.tile_size=512.

    Returns:
        The new version folder.
    """
    checked_model_name(model_name)   # before anything is read: the export must stay in its base
    if version is not None:
        checked_version(version)
    operating_point = operating_point or default_operating_point()
    trained = trained_model(model_dir, params_override, checkpoint=checkpoint)
    model_base = storage.path(export_base) / model_name
    if version is not None:
        _refuse_existing(model_base / str(version))

    params = trained.params
    normalisation = datasets.normalisation_of(params.task.train_data.tfds_name)
    module = FundusDetectionModule(params, normalisation, operating_point)
    tf.train.Checkpoint(model=module.model).read(trained.checkpoint).expect_partial().assert_existing_objects_matched()

    _remove_abandoned_staging(model_base)
    staging = model_base / f"{STAGING_PREFIX}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        console.absl_follows_tf_cpp()   # freezing starts grappler, which logs through absl
        # The signatures run the frozen model: a root that does not track the
        # model's variables keeps a second copy of the weights out of variables/.
        tf.saved_model.save(tf.Module(), str(staging), signatures=module.signatures())
        write_warmup(staging / EXTRA_FOLDER / WARMUP_FILE, model_name, warmup_photograph())
        metadata = {
            "model_name": model_name, "checkpoint": trained.checkpoint,
            "dataset": params.task.train_data.tfds_name,
            "normalisation": dataclasses.asdict(normalisation), "classes": ["background", *LESION_CLASSES],
            "max_detections": params.task.model.detection_generator.max_num_detections,
            "min_score": params.task.model.detection_generator.pre_nms_score_threshold,
            "tiling": params.task.tiling.as_dict(),
            "figures": figures or {},
            "operating_point": operating_point.to_json(),
        }
        return _claim_version(staging, model_base, metadata, version)
    finally:
        staging.rmtree(missing_ok=True)


def _claim_version(staging: epath.Path, model_base: epath.Path, metadata: dict, version: int | None) -> epath.Path:
    """Publishes staging as the given version, or as the next free one: another export may publish the
    number picked first, and then this one takes the next."""
    chosen = version is not None
    if not chosen:
        version = (versions(model_base) or [0])[-1] + 1
    for _ in range(CLAIM_ATTEMPTS):
        target = model_base / str(version)
        (staging / EXTRA_FOLDER / METADATA_FILE).write_text(json.dumps({**metadata, "version": version}, indent=2))
        try:
            publish(staging, target)
            return target
        except FileExistsError:
            if chosen:
                raise UserError(_EXISTS.format(target)) from None
        version = max(version + 1, (versions(model_base) or [0])[-1] + 1)
    raise UserError(f"{model_base}: other exports took {CLAIM_ATTEMPTS} version numbers in a row; try again")


_EXISTS = "{} already exists: versions are never overwritten (choose another --version)"


def _refuse_existing(target: epath.Path):
    if target.exists():
        raise UserError(_EXISTS.format(target))


def _remove_abandoned_staging(model_base: epath.Path):
    """Removes the staging folders of exports on this host whose process is gone (killed mid-export)."""
    ours = re.compile(re.escape(f"{STAGING_PREFIX}{socket.gethostname()}-") + r"(\d+)-[0-9a-f]{8}")
    for folder in model_base.glob(f"{STAGING_PREFIX}*") if model_base.is_dir() else ():
        found = ours.fullmatch(folder.name)
        if found and not process_running(int(found[1])):
            folder.rmtree(missing_ok=True)


def publish(staging: epath.Path, target: epath.Path, copy: bool | None = None):
    """Moves a complete version from staging into place: a rename where that is atomic, else a copy
    (copy None: on object storage) with saved_model.pb the last file to appear. Raises FileExistsError,
    leaving target alone, when target already holds a version (another export published it)."""
    if not (storage.is_object_storage(target) if copy is None else copy):
        try:
            staging.rename(target)   # os.rename: fails if target appeared with files since epath checked
        except OSError as error:
            if target.exists():
                raise _taken(target) from error
            raise
        return
    if target.exists():
        raise _taken(target)
    files = []
    for folder, _, names in tf.io.gfile.walk(str(staging)):   # gfile's glob has no recursive **
        relative = os.path.relpath(folder, str(staging))
        (target / relative).mkdir(parents=True, exist_ok=True)
        files.extend(os.path.normpath(os.path.join(relative, name)) for name in names)
    for relative in sorted(files, key=lambda name: (os.path.basename(name) == "saved_model.pb", name)):
        (staging / relative).copy(target / relative)


def _taken(target: epath.Path) -> FileExistsError:
    return FileExistsError(errno.EEXIST, "another export published this version", str(target))
