"""Scoring a model on a split of a TFDS dataset (e_ophtha, idrid): a training checkpoint, or an exported SavedModel.

Both loops give `PhotographResult`s at the dataset's resolution against its
exact stored lesion masks, for retina_tf.evaluation's figures. A checkpoint
is scored through the training task's own validation pipeline and step; an
export through its `normalised` signature. Where the dataset stores the
annotation as drawn, both carry it at the photograph's original size
(`original_lesion_pixels`) with the `geometry` that maps the predictions
there, so that the IDRiD pixel AUPR is scored as the challenge scores it,
not at the dataset's resolution as training's validation does. This module
needs TensorFlow, so the package's __init__ leaves it out.
"""

import dataclasses
import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from official.core import task_factory

from retina_tf import (
    LESION_CLASSES,
    STATUSES,
    datasets,
    registry_imports,  # noqa: F401  task_factory: the retina_maskrcnn task
)
from retina_tf.configs.experiment import trained_model
from retina_tf.evaluation import detections
from retina_tf.evaluation.records import Lesions, PhotographResult
from retina_tf.serving import model_base, protocol
from retina_tf.serving.predictor import SavedModelPredictor
from retina_tf.utils.errors import UserError


def checkpoint_results(model_dir, data_dir=None, split: str = "test", config: str | None = None, progress=None,
                       checkpoint=None, params_override=()) -> tuple[list[PhotographResult], str]:
    """PhotographResults of a split scored with the latest checkpoint in model_dir (or the one given), and that
    checkpoint.

    data_dir None keeps the one the model was trained on (its params.yaml); config None its dataset config,
    a bare config name that dataset at another config, a full TFDS name (idrid/lesions_1024) another dataset;
    params_override: more field=value overrides of its params.yaml, such as task.tiling.tile_size=512.
    """
    overrides = [f"task.validation_data.tfds_split={split}", *params_override]
    if config:
        recorded = trained_model(model_dir, data_dir=data_dir, checkpoint=checkpoint).params.task.validation_data
        overrides.append(f"task.validation_data.tfds_name={dataset_name(config, recorded.tfds_name)}")
    trained = trained_model(model_dir, overrides, data_dir=data_dir, checkpoint=checkpoint)
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
    builder = tfds.builder(validation.tfds_name, data_dir=validation.tfds_data_dir or None)
    return _at_original_size(list(state or []), builder, validation.tfds_split), trained.checkpoint


def _at_original_size(results: list[PhotographResult], builder, split: str) -> list[PhotographResult]:
    """The results with the split's annotation as drawn at the original size, matched by image id, where the
    dataset stores it (as they are where it does not); the validation pipeline carries it at the dataset's."""
    if "original_lesion_pixels" not in builder.info.features:
        return results
    drawn = builder.as_dataset(split=split, decoders=tfds.decode.PartialDecoding(
        {"image/id": True, "geometry": True, "original_lesion_pixels": True}))
    originals = {int(example["image/id"]): _drawn_at_original_size(example) for example in tfds.as_numpy(drawn)}
    return [dataclasses.replace(result, **originals[result.image_id]) for result in results]


def saved_model_results(saved_model: str | os.PathLike, data_dir: str | os.PathLike, split: str, config: str | None,
                        progress=None, mask_threshold: float = detections.MASK_THRESHOLD) -> list[PhotographResult]:
    """PhotographResults of a TFDS e_ophtha split scored through the SavedModel's `normalised` signature.

    The dataset's images are already normalised, so scoring happens at the
    dataset's resolution against its exact stored lesion masks, as for a
    checkpoint (checkpoint_results); the annotation as drawn, where stored,
    comes at the original size. mask_threshold: where the M x M mask
    probabilities are cut (detections.predicted_lesions).
    """
    version = model_base.version_folder(saved_model)
    metadata = model_base.export_metadata(version)   # read before the SavedModel loads, as is the dataset
    if not config and not metadata.get("dataset"):
        raise UserError(f"{version}: the export does not record its dataset: pass --dataset-config "
                        "(a dataset and config such as idrid/lesions_1024 or e_ophtha/patients_1024)")
    name = dataset_name(config, metadata.get("dataset"))
    datasets.require_built(name, data_dir)
    predictor = SavedModelPredictor(version)
    builder = tfds.builder(name, data_dir=str(data_dir))
    if split not in builder.info.splits:
        raise UserError(f"{name} has no split {split!r} in {data_dir}: build it with retina-tf build-dataset")
    size = builder.builder_config.image_size
    expected = metadata.get("normalisation", {}).get("output_size", size)
    if expected != size:
        raise UserError(f"{version} takes {expected}x{expected} images but {name} holds "
                        f"{size}x{size}: choose a config of the model's size")
    results = []
    for example in tfds.as_numpy(builder.as_dataset(split=split)):
        objects = example["objects"]
        results.append(PhotographResult(
            image_id=int(example["image/id"]),
            height=size,
            width=size,
            status={label: STATUSES[int(example["annotation"][lesion])]
                    for label, lesion in enumerate(LESION_CLASSES, start=1)},
            ground_truth=detections.ground_truth_lesions(objects["bbox"] * size, objects["label"] + 1,
                                                         objects["mask"], size, size),
            predictions=normalised_predictions(predictor, example["image"], mask_threshold),
            **(_drawn_at_original_size(example) if "original_lesion_pixels" in example else {})))
        if progress:
            progress(len(results))
    return results


def normalised_predictions(predictor: SavedModelPredictor, image: np.ndarray,
                           mask_threshold: float = detections.MASK_THRESHOLD) -> Lesions:
    """The lesions an export finds on one normalised S x S image (its `normalised` signature), at S x S.

    Args:
      predictor: the export.
      image: S x S x 3 uint8, normalised as the dataset's images are.
      mask_threshold: the mask probability from which a pixel is lesion.

    Returns:
      The predictions, as PhotographResult holds them.
    """
    outputs = predictor.run(protocol.NORMALISED_SIGNATURE, {protocol.IMAGES_INPUT: tf.constant(image[np.newaxis])})
    count = int(outputs["num_lesions"][0])
    size = image.shape[0]
    return detections.predicted_lesions(outputs["boxes"][0][:count], outputs["classes"][0][:count],
                                        outputs["scores"][0][:count], outputs["masks"][0][:count], size, size,
                                        mask_threshold)


def dataset_name(config: str | None, recorded: str | None) -> str:
    """The TFDS name to score on: config as a full name (idrid/lesions_1024), a bare config of the recorded
    dataset (patients_512 of e_ophtha/patients_1024), or the recorded name itself."""
    if not config:
        return recorded
    if "/" in config:
        return config
    return f"{(recorded or 'e_ophtha').partition('/')[0]}/{config}"


def _drawn_at_original_size(example) -> dict:
    """PhotographResult's lesion_pixels at the photograph's original size and the geometry that maps the
    dataset's resolution there, from a TFDS example in numpy."""
    return {"lesion_pixels": detections.lesion_pixel_rles(
                [example["original_lesion_pixels"][lesion] for lesion in LESION_CLASSES]),
            "geometry": example["geometry"]}
