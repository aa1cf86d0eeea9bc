"""The options several commands share, declared once (Detectron2's `default_argument_parser`, Model Garden's
`flags.define_flags`), so that one name means one thing in every command.

`--config` is always an experiment YAML (train, cycle, demo); a TFDS builder
config is always `--dataset-config` (build-dataset, evaluate). The old
`--config` of those two still works for one release, with a one-line note.
"""

import argparse
import sys

from absl import logging

from retina_tf import configs
from retina_tf.serving import protocol
from retina_tf.utils import storage
from retina_tf.utils.errors import UserError


def _checked(check, name: str, convert=str):
    """An argparse type from a check that raises UserError: a bad value is a usage error, before TensorFlow
    loads (a value convert cannot take is argparse's own "invalid <name> value")."""
    def parse(text):
        value = convert(text)
        try:
            return check(value)
        except UserError as error:
            raise argparse.ArgumentTypeError(str(error)) from error

    parse.__name__ = name
    return parse


experiment_file = _checked(configs.experiment_file, "experiment file")   # a path or a shipped name
model_name = _checked(protocol.checked_model_name, "model name")
version = _checked(protocol.checked_version, "version", int)


def add_experiment_config(parser, required: bool, default_help: str = ""):
    parser.add_argument("--config", type=experiment_file, action="append", required=required,
                        help=f"experiment YAML: a path or a shipped name ({', '.join(configs.shipped_names())})"
                             f"{default_help}; repeat to layer files, e.g. smoke_cpu then real_cpu")


def add_experiment(parser):
    """The arguments that say which experiment runs where (train and cycle); experiment_params reads them."""
    add_experiment_config(parser, required=True)
    add_model_dir(parser, required=True,
                  help_text="checkpoints, TensorBoard summaries and params.yaml; reused to resume")
    parser.add_argument("--params-override", action="append", default=[],
                        help="comma-separated field=value overrides, e.g. task.train_data.global_batch_size=4")
    parser.add_argument("--init-checkpoint", help="transfer-learning weights (local path or gs://): what `retina-tf "
                        "pretrained` wrote, or a Model Garden classification or Mask R-CNN checkpoint")
    parser.add_argument("--init-modules", help="what to take from it: backbone (default), backbone,decoder, or all")
    add_data_dir(parser, required=False, help_text="TFDS data_dir holding the dataset (default: TFDS's own)")
    add_verbose(parser)


def experiment_params(args):
    """The locked experiment config that add_experiment's arguments describe."""
    from retina_tf.configs import experiment  # noqa: PLC0415  TensorFlow loads when the command runs, not for --help

    return experiment.experiment_params(args.config, args.params_override, args.init_checkpoint,
                                        args.init_modules, args.data_dir)


def add_verbose(parser):
    parser.add_argument("--verbose", action="store_true",
                        help="TensorFlow's and Model Garden's full logging instead of a progress line "
                             "(also RETINA_TF_DEBUG=1)")


def set_logging(args):
    """Model Garden reports through absl at INFO; the progress line replaces that unless --verbose."""
    logging.set_verbosity(logging.INFO if args.verbose else logging.WARNING)


def add_model_dir(parser, required: bool, help_text: str):
    parser.add_argument("--model-dir", type=storage.path, required=required, help=help_text)


def add_checkpoint(parser):
    parser.add_argument("--checkpoint", type=storage.path, metavar="PREFIX",
                        help="a checkpoint of --model-dir, e.g. <model_dir>/ckpt-3 (default: the latest; one "
                             "that does not read stops the command, which names the newest that does)")


def add_data_dir(parser, required: bool, help_text: str):
    parser.add_argument("--data-dir", type=storage.path, required=required, help=help_text)


def add_out(parser, help_text: str, metavar: str | None = None):
    parser.add_argument("--out", type=storage.path, required=True, metavar=metavar, help=help_text)


def add_export_base(parser, help_text: str = "TF Serving's model base path"):
    parser.add_argument("--export-base", type=storage.path, required=True, help=help_text)


def add_model_name(parser, help_text: str = "model name"):
    parser.add_argument("--model-name", type=model_name, default=protocol.DEFAULT_MODEL_NAME,
                        help=f"{help_text}: letters, digits, -, _ and . (default {protocol.DEFAULT_MODEL_NAME})")


class _RenamedTo(argparse.Action):
    """An option's old spelling: still accepted, with one line on stderr naming the new one."""

    def __init__(self, option_strings, dest, new: str, **kwargs):
        super().__init__(option_strings, dest, **kwargs)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog}: {option_string} is now {self.new}; the old spelling goes in the next release",
              file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_tiling(parser):
    parser.add_argument("--tile-size", type=int, metavar="PIXELS",
                        help="run the model over overlapping tiles of this side of the normalised photograph, "
                             "lesions merged (task.tiling.tile_size; default the model's own; 0: the whole "
                             "photograph at once)")
    parser.add_argument("--tile-overlap", type=int, metavar="PIXELS",
                        help="pixels neighbouring tiles share, at least the largest lesion's side "
                             "(task.tiling.overlap; default the model's own)")


def tiling_overrides(args) -> list[str]:
    """--tile-size and --tile-overlap as params overrides of task.tiling."""
    given = (("tile_size", args.tile_size), ("overlap", args.tile_overlap))
    return [f"task.tiling.{field}={value}" for field, value in given if value is not None]


def add_dataset_config(parser, help_text: str):
    parser.add_argument("--dataset-config", metavar="CONFIG", help=help_text)
    parser.add_argument("--config", dest="dataset_config", action=_RenamedTo, new="--dataset-config",
                        help=argparse.SUPPRESS)
