"""`retina-tf cycle`: one scheduled training cycle (resume, validate, export if better).

Ends with one summary line; the exit status is 0 when the cycle completed.
"""

from retina_tf.commands import train
from retina_tf.serving.protocol import DEFAULT_MODEL_NAME
from retina_tf.utils import storage


def add_arguments(parser):
    train.add_experiment_arguments(parser)
    parser.add_argument("--export-base", type=storage.path, required=True, help="TF Serving's model base path")
    parser.add_argument("--model-name", default=DEFAULT_MODEL_NAME, help=f"model name (default {DEFAULT_MODEL_NAME})")


def run(args):
    from retina_tf.workflows.cycle import run_cycle  # noqa: PLC0415  TensorFlow loads when the command runs, not for --help

    train.set_logging(args)
    print(run_cycle(train.experiment_params(args), args.model_dir, args.export_base, args.model_name,
                    verbose=args.verbose))
