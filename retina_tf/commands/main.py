"""The `retina-tf` command.

Each subcommand is a module of retina_tf.commands, registered here through
`COMMANDS`; TensorFlow is imported only when a command runs, so
`retina-tf --help` answers at once. Failures end with one line on stderr and
a non-zero status, which is what cron, systemd and batch schedulers read
(75, EX_TEMPFAIL, when training was preempted and saved a checkpoint to resume from);
set RETINA_TF_DEBUG=1 for the full traceback and TensorFlow's and Model Garden's full logging
(as `--verbose` does for train, cycle and demo).
"""

import argparse
import importlib
import os
import sys

from retina_tf.engine.errors import PREEMPTED_EXIT_STATUS, Preempted
from retina_tf.utils import console
from retina_tf.utils.errors import describe

# name -> (module of retina_tf.commands, one-line help). Each module has add_arguments(parser) and run(args), and
# may have a DESCRIPTION (paragraphs, kept as written) for its --help instead of the one line.
COMMANDS = {
    "synth": ("synth", "write a synthetic e-ophtha tree (for trying things out)"),
    "normalise": ("normalise", "normalise fundus photographs as the model sees them"),
    "build-dataset": ("build_dataset", "build a TFDS dataset (e_ophtha or idrid) from its download"),
    "pretrained": ("pretrained", "ImageNet ResNet weights (Model Garden checkpoint, Keras .h5) -> --init-checkpoint"),
    "train": ("train", "train (or resume) the Mask R-CNN experiment in a model_dir"),
    "evaluate": ("evaluate", "score a model on a TFDS split: paper mAP, COCO AP, FROC, screening, pixel AUPR"),
    "cycle": ("cycle", "one scheduled cycle: resume training, validate, export if better"),
    "average": ("average", "average a model_dir's last checkpoints into one (for export and evaluate --checkpoint)"),
    "export": ("export", "export a trained model as a SavedModel version for TF Serving"),
    "serve": ("serve", "serve an export over gRPC from this process (tests, demos; production: tensorflow/serving)"),
    "predict": ("predict", "find lesions on photographs via a model server or a SavedModel; JSON and overlay PNGs"),
    "demo": ("demo", "run the whole system end to end on synthetic data"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="retina-tf",
        description="Find exudates and microaneurysms in colour fundus photographs (Mask R-CNN).")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(f"retina_tf.commands.{module_name}")
        sub = subparsers.add_parser(name, help=help_text, description=getattr(module, "DESCRIPTION", help_text),
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.set_defaults(run=module.run)
        module.add_arguments(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    args.verbose = getattr(args, "verbose", False) or bool(os.environ.get("RETINA_TF_DEBUG"))
    if not args.verbose:
        console.quiet_libraries()
    try:
        return args.run(args) or 0
    except Preempted as stop:
        print(f"retina-tf {args.command}: {stop}", file=sys.stderr)
        return PREEMPTED_EXIT_STATUS
    except KeyboardInterrupt:
        print("retina-tf: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if os.environ.get("RETINA_TF_DEBUG"):
            raise
        print(f"retina-tf {args.command}: error: {describe(error)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
