"""The retina_maskrcnn experiment config: for a new run from YAML files, or as a trained model_dir saved it.

Defaults are the registered experiment (configs/retina_maskrcnn.py); YAML
files and field=value overrides layer on top, strictly: a misspelt field, or
a value of another type than the field's (Model Garden would take it and fail
later, far from the cause), is refused in one line. A trained model_dir's
params.yaml is already resolved, so loading it needs neither the dataset nor
a schedule.
"""

import collections.abc
import dataclasses
import difflib
import functools
import types
import typing

import tensorflow as tf
import tensorflow_datasets as tfds
import yaml
from etils import epath
from official.core import config_definitions as cfg
from official.core import exp_factory
from official.modeling import hyperparams
from official.modeling.hyperparams import params_dict

from retina_tf import datasets
from retina_tf.configs import retina_maskrcnn
from retina_tf.utils import checkpoints, storage
from retina_tf.utils.errors import UserError, describe

EXPERIMENT = "retina_maskrcnn"
PARAMS_FILE = "params.yaml"


def layered_params(config_files, params_override=()) -> cfg.ExperimentConfig:
    """Registered defaults, then each YAML file, then each override (field=value text, YAML text or a nested
    dict); unresolved and unlocked."""
    params = exp_factory.get_exp_config(EXPERIMENT)
    for path in config_files:
        if not tf.io.gfile.exists(str(path)):
            raise UserError(f"{path}: no such experiment file")
        params = _layer(params, str(path), f"{path}: ")
    for override in params_override:
        params = _layer(params, override, "--params-override ")
    return params


def _layer(params, layer: str | dict, where: str):
    """params with one YAML file or field=value override applied strictly, each field it sets checked by
    name and type (where: how a message names the layer)."""
    fields = _set_fields(params, _fields_of(layer, where), where)
    params = hyperparams.override_params_dict(params, layer, is_strict=True)
    for path in fields:
        owner = functools.reduce(getattr, path[:-1], params)
        value, hint = getattr(owner, path[-1]), _type_hints(type(owner)).get(path[-1])
        if hint is not None and not _conforms(value, hint):
            raise UserError(f"{where}{'.'.join(path)}: expected {_described(hint)}, got {value!r}")
    return params


def _fields_of(layer: str | dict, where: str) -> dict:
    """The nested mapping a layer sets, parsed as Model Garden parses it (its values are read from the
    params once Model Garden has applied them); a dict, as override_params_dict takes, is that mapping."""
    if isinstance(layer, dict):
        return layer
    try:
        text = params_dict.nested_csv_str_to_json_str(layer)
    except ValueError:   # not field=value pairs: YAML text or a YAML file
        text = layer
    try:
        found = yaml.safe_load(text)
        if not isinstance(found, dict) and tf.io.gfile.exists(layer):
            with tf.io.gfile.GFile(layer) as file:
                found = yaml.safe_load(file)
    except yaml.YAMLError as error:
        raise UserError(f"{where}not valid YAML ({describe(error)})") from error
    if not isinstance(found, dict):
        raise UserError(f"{where}expected field=value pairs or a YAML mapping of fields, got {layer!r}")
    return found


def _set_fields(config, mapping: dict, where: str, prefix: tuple = ()) -> list[tuple]:
    """The path of each field a mapping sets; a name the config lacks is refused."""
    names = [field.name for field in dataclasses.fields(config)]
    paths = []
    for name, value in mapping.items():
        path = (*prefix, str(name))
        if name not in names:
            close = [f" (did you mean {match}?)" for match in difflib.get_close_matches(str(name), names, n=1)]
            raise UserError(f"{where}{'.'.join(path)}: no such field{''.join(close)}")
        current = getattr(config, name)
        if isinstance(value, dict) and dataclasses.is_dataclass(current):
            paths.extend(_set_fields(current, value, where, path))
        else:
            paths.append(path)
    return paths


_type_hints = functools.cache(typing.get_type_hints)   # per config class; a params.yaml sets every field
_SEQUENCES = (list, tuple, collections.abc.Sequence)
_NAMES = {bool: ("true or false", "true or false values"), int: ("an integer", "integers"),
          float: ("a number", "numbers"), str: ("a string", "strings"), type(None): ("null", "nulls")}


def _conforms(value, hint) -> bool:
    """Whether a value has a field's declared type (an integer is a number); types other than these
    scalars, their lists, unions and sections are left to Model Garden."""
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, arm) for arm in arguments)
    if origin in _SEQUENCES:
        elements = [arm for arm in arguments if arm is not Ellipsis] or [typing.Any]
        return isinstance(value, (list, tuple)) and all(any(_conforms(item, arm) for arm in elements) for item in value)
    if hint in (int, float) and isinstance(value, bool):
        return False
    if hint in _NAMES:
        return isinstance(value, (int, float) if hint is float else hint)
    if isinstance(hint, type) and issubclass(hint, hyperparams.Config):
        return isinstance(value, hyperparams.ParamsDict)
    return True


def _described(hint) -> str:
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_described(arm) for arm in arguments)
    if origin in _SEQUENCES:
        elements = [_NAMES[arm][1] for arm in arguments if arm in _NAMES]
        return f"a list of {' or '.join(dict.fromkeys(elements))}" if elements else "a list"
    if hint in _NAMES:
        return _NAMES[hint][0]
    if isinstance(hint, type) and issubclass(hint, hyperparams.Config):
        return "a section of fields"
    return str(hint)


def experiment_params(config_files, params_override=(), init_checkpoint=None, init_modules=None, data_dir=None
                      ) -> cfg.ExperimentConfig:
    """The config of a run to train: layered, schedule resolved against the dataset, checked, locked."""
    params = layered_params(config_files, params_override)
    if init_checkpoint:
        params.task.init_checkpoint = str(init_checkpoint)
    if init_modules:
        params.task.init_checkpoint_modules = init_modules
    _use_data_dir(params, data_dir)
    for name, folder in sorted({(data.tfds_name, data.tfds_data_dir)
                                for data in (params.task.train_data, params.task.validation_data)}):
        datasets.require_built(name, folder)   # before anything reads the dataset or writes the model_dir
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


def trained_model(model_dir, params_override=(), data_dir=None, checkpoint=None) -> TrainedModel:
    """The params.yaml and latest checkpoint (or the one given) of a model_dir that `retina-tf train` wrote.

    Raises:
      UserError: not a model_dir; or the checkpoint does not read (its message names it and, for the latest,
        the newest one that reads).
    """
    model_dir = storage.path(model_dir)
    params_file = model_dir / PARAMS_FILE
    try:
        latest = tf.train.latest_checkpoint(str(model_dir))
        found = latest is not None and params_file.is_file()
    except (tf.errors.OpError, OSError) as error:
        raise UserError(f"{model_dir}: cannot read the model_dir ({describe(error)})") from error
    if not found:
        raise UserError(f"{model_dir}: not a trained model_dir (needs {PARAMS_FILE} and a checkpoint)")
    if checkpoint is not None:
        if why := checkpoints.why_unreadable(str(checkpoint)):
            raise UserError(f"{checkpoint}: the checkpoint does not read ({why})")
    else:
        readable = checkpoints.newest_readable(model_dir)
        if readable.unreadable:
            raise checkpoints.UnreadableCheckpoint(model_dir, readable)
        checkpoint = readable.checkpoint
    params = layered_params([params_file], params_override)
    _use_data_dir(params, data_dir)
    params.validate()
    params.lock()
    return TrainedModel(params=params, checkpoint=str(checkpoint), model_dir=model_dir)


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
