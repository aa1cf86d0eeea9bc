"""`retina-tf train`: Model Garden's train_lib on the retina_maskrcnn experiment.

Restarted on the same model_dir, Model Garden's checkpoint manager restores
the latest checkpoint and training goes on from its step (scheduled and
preemptible VMs); a finished run started again does nothing. The distribution
strategy comes from `runtime` (mirrored over local GPUs, multi_worker_mirrored
across VMs through TF_CONFIG, one device on a CPU).
"""

import dataclasses
import pathlib

EXPERIMENT = "retina_maskrcnn"


def add_arguments(parser):
    add_experiment_arguments(parser)
    parser.add_argument("--mode", default="train_and_eval", choices=("train", "train_and_eval", "eval"))


def add_experiment_arguments(parser):
    """The arguments that say which experiment runs where (shared with `retina-tf cycle`)."""
    parser.add_argument("--config", type=pathlib.Path, action="append", required=True,
                        help="experiment YAML (configs/*.yaml); repeat to layer files")
    parser.add_argument("--model-dir", type=pathlib.Path, required=True,
                        help="checkpoints, TensorBoard summaries and params.yaml; reused to resume")
    parser.add_argument("--params-override", action="append", default=[],
                        help="comma-separated field=value overrides, e.g. task.train_data.global_batch_size=4")
    parser.add_argument("--init-checkpoint", help="transfer-learning weights (local path or gs://)")
    parser.add_argument("--init-modules", help="what to take from it: backbone (default), backbone,decoder, or all")
    parser.add_argument("--data-dir", type=pathlib.Path, help="TFDS data_dir holding e_ophtha")


@dataclasses.dataclass
class TrainResult:
    step: int
    train_steps: int
    model_dir: pathlib.Path


def experiment_params(config_files, params_override=(), init_checkpoint=None, init_modules=None, data_dir=None):
    """The experiment config: registered defaults, YAML files, then overrides; schedule resolved."""
    import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
    from official.core import exp_factory  # pylint: disable=import-outside-toplevel
    from official.modeling import hyperparams  # pylint: disable=import-outside-toplevel
    from retina_tf import registry_imports  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    from retina_tf.configs import retina_maskrcnn  # pylint: disable=import-outside-toplevel
    from retina_tf.errors import UserError  # pylint: disable=import-outside-toplevel

    params = exp_factory.get_exp_config(EXPERIMENT)
    for path in config_files:
        if not pathlib.Path(path).is_file():
            raise UserError(f"{path}: no such experiment file")
        params = hyperparams.override_params_dict(params, str(path), is_strict=True)
    for override in params_override:
        params = hyperparams.override_params_dict(params, override, is_strict=True)
    if init_checkpoint:
        params.task.init_checkpoint = str(init_checkpoint)
    if init_modules:
        params.task.init_checkpoint_modules = init_modules
    if data_dir:
        params.task.train_data.tfds_data_dir = str(data_dir)
        params.task.validation_data.tfds_data_dir = str(data_dir)
    train = params.task.train_data
    examples = None
    if params.task.schedule.steps_per_epoch <= 0:
        builder = tfds.builder(train.tfds_name, data_dir=train.tfds_data_dir or None)
        if train.tfds_split not in builder.info.splits:
            raise UserError(f"{train.tfds_name} has no split {train.tfds_split!r} in "
                            f"{train.tfds_data_dir or 'the default data_dir'}: build it with retina-tf build-dataset")
        examples = builder.info.splits[train.tfds_split].num_examples
    retina_maskrcnn.resolve_schedule(params, examples)
    retina_maskrcnn.check_frozen_batch_norm(params)
    params.validate()
    params.lock()
    return params


def train(params, model_dir, mode="train_and_eval") -> TrainResult:
    """Runs (or resumes) the experiment in model_dir; returns where it ended."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from official.common import distribute_utils  # pylint: disable=import-outside-toplevel
    from official.core import task_factory, train_lib, train_utils  # pylint: disable=import-outside-toplevel
    from official.modeling import performance  # pylint: disable=import-outside-toplevel

    model_dir = pathlib.Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    if "train" in mode:
        train_utils.serialize_config(params, str(model_dir))
    if params.runtime.mixed_precision_dtype:
        performance.set_mixed_precision_policy(params.runtime.mixed_precision_dtype)
    strategy = distribute_utils.get_distribution_strategy(
        distribution_strategy=params.runtime.distribution_strategy,
        all_reduce_alg=params.runtime.all_reduce_alg,
        num_gpus=params.runtime.num_gpus,
        tpu_address=params.runtime.tpu)
    with strategy.scope():
        task = task_factory.get_task(params.task, logging_dir=str(model_dir))
    train_lib.run_experiment(
        distribution_strategy=strategy, task=task, mode=mode, params=params, model_dir=str(model_dir))
    latest = tf.train.latest_checkpoint(str(model_dir))
    step = int(latest.rsplit("-", 1)[1]) if latest else 0
    return TrainResult(step=step, train_steps=params.trainer.train_steps, model_dir=model_dir)


def run(args):
    from absl import logging  # pylint: disable=import-outside-toplevel

    logging.set_verbosity(logging.INFO)   # Model Garden reports steps, losses and rates through absl
    params = experiment_params(args.config, args.params_override, args.init_checkpoint, args.init_modules,
                               args.data_dir)
    result = train(params, args.model_dir, args.mode)
    print(f"retina-tf train: done at step {result.step} of {result.train_steps}; "
          f"checkpoints and TensorBoard summaries in {result.model_dir}")
