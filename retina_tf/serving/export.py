"""`retina-tf export`: a trained model_dir -> a SavedModel version in TF Serving's layout.

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

WARMUP_FILE = "tf_serving_warmup_requests"
METADATA_FILE = "retina_tf.json"


def add_arguments(parser):
    parser.add_argument("--model-dir", type=pathlib.Path, required=True, help="training model_dir")
    parser.add_argument("--export-base", type=pathlib.Path, required=True, help="TF Serving's model base path")
    parser.add_argument("--model-name", default="retina", help="model name (default retina)")
    parser.add_argument("--version", type=int, help="version number (default: the next free integer)")


def versions(model_base: pathlib.Path) -> list[int]:
    """Numeric version folders, ascending (what TF Serving would load)."""
    if not model_base.is_dir():
        return []
    return sorted(int(path.name) for path in model_base.iterdir() if path.is_dir() and path.name.isdigit())


def normalisation_for(params):
    """The fundus normalisation of the dataset the model was trained on."""
    import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
    import tfds_eophtha  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    from retina_tf import fundus  # pylint: disable=import-outside-toplevel

    name, _, config = params.task.train_data.tfds_name.partition("/")
    builder_configs = tfds.builder_cls(name).builder_configs
    return fundus.FundusNormalisation(output_size=builder_configs[config].image_size)


def warmup_photograph(size: int = 1024) -> bytes:
    """A synthetic fundus photograph (JPEG) for TF Serving's warm-up requests."""
    import cv2  # pylint: disable=import-outside-toplevel
    import numpy as np  # pylint: disable=import-outside-toplevel
    from retina_tf import synthetic  # pylint: disable=import-outside-toplevel

    photo = synthetic.render_fundus(np.random.default_rng(0), size * 3 // 2, size, exudates=True,
                                    microaneurysms=True, cut_off=False)
    return cv2.imencode(".jpg", cv2.cvtColor(photo.image, cv2.COLOR_RGB2BGR))[1].tobytes()


def write_warmup(path: pathlib.Path, model_name: str, photograph: bytes, count: int = 2):
    """PredictionLog records TF Serving replays at load (assets.extra/tf_serving_warmup_requests)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2  # pylint: disable=import-outside-toplevel

    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name=model_name, signature_name="serving_default"))
    request.inputs["photographs"].CopyFrom(tf.make_tensor_proto([photograph], dtype=tf.string))
    log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for _ in range(count):
            writer.write(log.SerializeToString())


def export(model_dir: pathlib.Path, export_base: pathlib.Path, model_name: str = "retina",
           version: int | None = None, figures: dict | None = None) -> pathlib.Path:
    """Exports the latest checkpoint of model_dir; returns the new version folder."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from retina_tf import LESION_CLASSES  # pylint: disable=import-outside-toplevel
    from retina_tf.errors import UserError  # pylint: disable=import-outside-toplevel
    from retina_tf.serving.export_module import FundusDetectionModule  # pylint: disable=import-outside-toplevel
    from retina_tf.train import experiment_params  # pylint: disable=import-outside-toplevel

    checkpoint = tf.train.latest_checkpoint(str(model_dir))
    if checkpoint is None or not (model_dir / "params.yaml").is_file():
        raise UserError(f"{model_dir}: not a trained model_dir (needs params.yaml and a checkpoint)")
    model_base = export_base / model_name
    version = version if version is not None else (versions(model_base) or [0])[-1] + 1
    target = model_base / str(version)
    if target.exists():
        raise UserError(f"{target} already exists: versions are never overwritten (choose another --version)")

    params = experiment_params([model_dir / "params.yaml"], ["task.schedule.steps_per_epoch=1"])
    normalisation = normalisation_for(params)
    module = FundusDetectionModule(params, normalisation)
    tf.train.Checkpoint(model=module.model).read(checkpoint).expect_partial().assert_existing_objects_matched()

    staging = model_base / f".incomplete-{version}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        # The signatures run the frozen model: a root that does not track the
        # model's variables keeps a second copy of the weights out of variables/.
        tf.saved_model.save(tf.Module(), str(staging), signatures=module.signatures())
        write_warmup(staging / "assets.extra" / WARMUP_FILE, model_name, warmup_photograph())
        metadata = {
            "model_name": model_name, "version": version, "checkpoint": checkpoint,
            "dataset": params.task.train_data.tfds_name,
            "normalisation": dataclasses.asdict(normalisation), "classes": ["background", *LESION_CLASSES],
            "max_detections": params.task.model.detection_generator.max_num_detections,
            "min_score": params.task.model.detection_generator.pre_nms_score_threshold,
            "figures": figures or {},
        }
        (staging / "assets.extra" / METADATA_FILE).write_text(json.dumps(metadata, indent=2))
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def run(args):
    target = export(args.model_dir, args.export_base, args.model_name, args.version)
    print(f"exported {target} (signatures serving_default: photographs -> lesions; normalised: images -> lesions)")
