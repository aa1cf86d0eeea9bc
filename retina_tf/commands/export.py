"""`retina-tf export`: a trained model_dir -> a SavedModel version in TF Serving's layout."""

from retina_tf.commands import arguments
from retina_tf.utils import storage


def add_arguments(parser):
    arguments.add_model_dir(parser, required=True, help_text="training model_dir")
    arguments.add_checkpoint(parser)
    arguments.add_export_base(parser)
    arguments.add_model_name(parser)
    parser.add_argument("--version", type=arguments.version,
                        help="version number, from 1 (default: the next free one)")
    parser.add_argument("--operating-point", type=storage.path, metavar="FILE",
                        help="operating_point.json of retina-tf evaluate --split validation: the score per lesion "
                             "type from which lesions are reported (default: the paper's 0.35 for both)")
    arguments.add_tiling(parser)


def run(args):
    from retina_tf.evaluation import operating_point  # noqa: PLC0415  TensorFlow loads when the command runs, not for --help
    from retina_tf.serving.export import export  # noqa: PLC0415  TensorFlow loads when the command runs, not for --help

    # Read first: a bad file fails before minutes of tracing.
    point = (operating_point.read_operating_point(args.operating_point) if args.operating_point
             else operating_point.default_operating_point())
    target = export(args.model_dir, args.export_base, args.model_name, args.version, operating_point=point,
                    checkpoint=args.checkpoint, params_override=arguments.tiling_overrides(args))
    print(f"exported {target} (signatures serving_default: photographs -> lesions; normalised: images -> lesions)")
    print(f"lesions reported from {point.describe()} ({point.chosen_by})")
