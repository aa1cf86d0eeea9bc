"""`retina-tf train`: train (or resume) the retina_maskrcnn experiment in a model_dir."""

import argparse

from absl import logging

from retina_tf import configs
from retina_tf.utils import storage
from retina_tf.utils.errors import UserError


def add_arguments(parser):
    add_experiment_arguments(parser)
    parser.add_argument("--mode", default="train_and_eval", choices=("train", "train_and_eval", "eval"))


def add_experiment_arguments(parser):
    """The arguments that say which experiment runs where (shared with `retina-tf cycle`)."""
    parser.add_argument("--config", type=experiment_file, action="append", required=True,
                        help=f"experiment YAML: a path or a shipped name ({', '.join(configs.shipped_names())}); "
                             "repeat to layer files")
    parser.add_argument("--model-dir", type=storage.path, required=True,
                        help="checkpoints, TensorBoard summaries and params.yaml; reused to resume")
    parser.add_argument("--params-override", action="append", default=[],
                        help="comma-separated field=value overrides, e.g. task.train_data.global_batch_size=4")
    parser.add_argument("--init-checkpoint", help="transfer-learning weights (local path or gs://): what `retina-tf "
                        "pretrained` wrote, or a Model Garden classification or Mask R-CNN checkpoint")
    parser.add_argument("--init-modules", help="what to take from it: backbone (default), backbone,decoder, or all")
    parser.add_argument("--data-dir", type=storage.path, help="TFDS data_dir holding e_ophtha")
    add_verbose_argument(parser)


def add_verbose_argument(parser):
    parser.add_argument("--verbose", action="store_true",
                        help="TensorFlow's and Model Garden's full logging instead of a progress line "
                             "(also RETINA_TF_DEBUG=1)")


def set_logging(args):
    """Model Garden reports through absl at INFO; the progress line replaces that unless --verbose."""
    logging.set_verbosity(logging.INFO if args.verbose else logging.WARNING)


def experiment_file(text):
    """--config's type: a path or a shipped name; anything else is a usage error, before TensorFlow loads."""
    try:
        return configs.experiment_file(text)
    except UserError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def experiment_params(args):
    """The experiment the arguments of add_experiment_arguments describe."""
    from retina_tf.configs import experiment  # noqa: PLC0415  TensorFlow loads when the command runs, not for --help

    return experiment.experiment_params(args.config, args.params_override, args.init_checkpoint,
                                        args.init_modules, args.data_dir)


def run(args):
    from retina_tf.engine.train_lib import train  # noqa: PLC0415  TensorFlow loads when the command runs, not for --help

    set_logging(args)
    result = train(experiment_params(args), args.model_dir, args.mode, verbose=args.verbose)
    print(f"retina-tf train: done at step {result.step} of {result.train_steps}; "
          f"checkpoints and TensorBoard summaries in {result.model_dir}")
