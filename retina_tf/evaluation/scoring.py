"""Scoring a model on a TFDS e_ophtha split: a training checkpoint, or an exported SavedModel.

Both loops give `PhotographResult`s at the dataset's resolution against its
exact stored lesion masks, for retina_tf.evaluation's figures. A checkpoint
is scored through the training task's own validation pipeline and step; an
export through its `normalised` signature. This module needs TensorFlow, so
the package's __init__ leaves it out.
"""

import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from official.core import task_factory

from retina_tf import LESION_CLASSES, STATUSES, datasets
from retina_tf.errors import UserError
from retina_tf.evaluation import detections
from retina_tf.evaluation.records import PhotographResult
from retina_tf.experiment import trained_model
from retina_tf.serving import model_base, protocol
from retina_tf.serving.predictor import SavedModelPredictor


def checkpoint_results(model_dir, data_dir=None, split: str = "test", config: str | None = None, progress=None
                       ) -> tuple[list[PhotographResult], str]:
    """PhotographResults of a split scored with the latest checkpoint in model_dir, and that checkpoint.

    data_dir None keeps the one the model was trained on (its params.yaml).
    """
    overrides = [f"task.validation_data.tfds_split={split}"]
    if config:
        overrides.append(f"task.validation_data.tfds_name=e_ophtha/{config}")
    trained = trained_model(model_dir, overrides, data_dir=data_dir)
    validation = trained.params.task.validation_data
    datasets.require_built(validation.tfds_name, validation.tfds_data_dir)
    task = task_factory.get_task(trained.params.task)
    model = task.build_model()
    tf.train.Checkpoint(model=model).read(trained.checkpoint).expect_partial()
    dataset = task.build_inputs(trained.params.task.validation_data)
    step = tf.function(lambda inputs: task.validation_step(inputs, model))
    state = None
    for inputs in dataset:
        outputs = step(inputs)
        outputs = {key: tf.nest.map_structure(lambda value: (value,), item) for key, item in outputs.items()}
        state = task.aggregate_logs(state, outputs)
        if progress:
            progress(len(state))
    return list(state or []), trained.checkpoint


def saved_model_results(saved_model: str | os.PathLike, data_dir: str | os.PathLike, split: str, config: str | None,
                        progress=None) -> list[PhotographResult]:
    """PhotographResults of a TFDS e_ophtha split scored through the SavedModel's `normalised` signature.

    The dataset's images are already normalised, so scoring happens at the
    dataset's resolution against its exact stored lesion masks, as for a
    checkpoint (checkpoint_results).
    """
    version = model_base.version_folder(saved_model)
    metadata = model_base.export_metadata(version)   # read before the SavedModel loads, as is the dataset
    config = config or metadata.get("dataset", "").partition("e_ophtha/")[2]
    if not config:
        raise UserError(f"{version}: the export does not record its dataset: pass --config "
                        "(an e_ophtha config such as patients_1024)")
    datasets.require_built(f"e_ophtha/{config}", data_dir)
    predictor = SavedModelPredictor(version)
    builder = tfds.builder(f"e_ophtha/{config}", data_dir=str(data_dir))
    if split not in builder.info.splits:
        raise UserError(f"e_ophtha/{config} has no split {split!r} in {data_dir}: "
                        "build it with retina-tf build-dataset")
    size = builder.builder_config.image_size
    expected = metadata.get("normalisation", {}).get("output_size", size)
    if expected != size:
        raise UserError(f"{version} takes {expected}x{expected} images but e_ophtha/{config} holds "
                        f"{size}x{size}: choose a config of the model's size")
    results = []
    for example in tfds.as_numpy(builder.as_dataset(split=split)):
        image = tf.constant(example["image"][np.newaxis])
        outputs = predictor.run(protocol.NORMALISED_SIGNATURE, {protocol.IMAGES_INPUT: image})
        count = int(outputs["num_lesions"][0])
        objects = example["objects"]
        results.append(PhotographResult(
            image_id=int(example["image/id"]),
            height=size,
            width=size,
            status={label: STATUSES[int(example["annotation"][lesion])]
                    for label, lesion in enumerate(LESION_CLASSES, start=1)},
            ground_truth=detections.ground_truth_lesions(objects["bbox"] * size, objects["label"] + 1,
                                                         objects["mask"], size, size),
            predictions=detections.predicted_lesions(outputs["boxes"][0][:count], outputs["classes"][0][:count],
                                                     outputs["scores"][0][:count], outputs["masks"][0][:count],
                                                     size, size)))
        if progress:
            progress(len(results))
    return results


