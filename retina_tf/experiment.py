"""The retina_maskrcnn experiment config: for a new run from YAML files, or as a trained model_dir saved it.

Defaults are the registered experiment (configs/retina_maskrcnn.py); YAML
files and field=value overrides layer on top, strictly (a misspelt field is
an error). A trained model_dir's params.yaml is already resolved, so loading
it needs neither the dataset nor a schedule.
"""

import dataclasses

import tensorflow as tf
import tensorflow_datasets as tfds
from etils import epath
from official.core import config_definitions as cfg
from official.core import exp_factory
from official.modeling import hyperparams

from retina_tf import (
    registry_imports,  # noqa: F401  registers the experiment, the task and e_ophtha
    storage,
)
from retina_tf.configs import retina_maskrcnn
from retina_tf.errors import UserError, describe

EXPERIMENT = "retina_maskrcnn"
PARAMS_FILE = "params.yaml"


def layered_params(config_files, params_override=()) -> cfg.ExperimentConfig:
    """Registered defaults, then each YAML file, then each override; unresolved and unlocked."""
    params = exp_factory.get_exp_config(EXPERIMENT)
    for path in config_files:
        if not tf.io.gfile.exists(str(path)):
            raise UserError(f"{path}: no such experiment file")
        params = hyperparams.override_params_dict(params, str(path), is_strict=True)
    for override in params_override:
        params = hyperparams.override_params_dict(params, override, is_strict=True)
    return params


def experiment_params(config_files, params_override=(), init_checkpoint=None, init_modules=None, data_dir=None
                      ) -> cfg.ExperimentConfig:
    """The config of a run to train: layered, schedule resolved against the dataset, checked, locked."""
    params = layered_params(config_files, params_override)
    if init_checkpoint:
        params.task.init_checkpoint = str(init_checkpoint)
    if init_modules:
        params.task.init_checkpoint_modules = init_modules
    _use_data_dir(params, data_dir)
    retina_maskrcnn.resolve_schedule(params, _training_examples(params))
    retina_maskrcnn.check_frozen_batch_norm(params)
    retina_maskrcnn.photometric_augmentation(params.task.train_data.parser)   # refuses what it cannot apply
    params.validate()
    params.lock()
    return params


@dataclasses.dataclass
class TrainedModel:
    """What a training run left in its model_dir: its config and latest checkpoint."""

    params: cfg.ExperimentConfig
    checkpoint: str
    model_dir: epath.Path


def trained_model(model_dir, params_override=(), data_dir=None) -> TrainedModel:
    """The params.yaml and latest checkpoint of a model_dir that `retina-tf train` wrote."""
    model_dir = storage.path(model_dir)
    params_file = model_dir / PARAMS_FILE
    try:
        checkpoint = tf.train.latest_checkpoint(str(model_dir))
        found = checkpoint is not None and params_file.is_file()
    except (tf.errors.OpError, OSError) as error:
        raise UserError(f"{model_dir}: cannot read the model_dir ({describe(error)})") from error
    if not found:
        raise UserError(f"{model_dir}: not a trained model_dir (needs {PARAMS_FILE} and a checkpoint)")
    params = layered_params([params_file], params_override)
    _use_data_dir(params, data_dir)
    params.validate()
    params.lock()
    return TrainedModel(params=params, checkpoint=checkpoint, model_dir=model_dir)


def _use_data_dir(params, data_dir):
    if data_dir:
        params.task.train_data.tfds_data_dir = str(data_dir)
        params.task.validation_data.tfds_data_dir = str(data_dir)


def _training_examples(params) -> int | None:
    """The training split's size, read only when an epoch is one pass over it (steps_per_epoch 0)."""
    if params.task.schedule.steps_per_epoch > 0:
        return None
    train = params.task.train_data
    builder = tfds.builder(train.tfds_name, data_dir=train.tfds_data_dir or None)
    if train.tfds_split not in builder.info.splits:
        raise UserError(f"{train.tfds_name} has no split {train.tfds_split!r} in "
                        f"{train.tfds_data_dir or 'the default data_dir'}: build it with retina-tf build-dataset")
    return builder.info.splits[train.tfds_split].num_examples
