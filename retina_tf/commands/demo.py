"""`retina-tf demo`: the whole system end to end, by default on synthetic data on a CPU."""

import pathlib

from retina_tf.commands import arguments


def add_arguments(parser):
    parser.add_argument("--workdir", type=pathlib.Path, default=pathlib.Path("demo"),
                        help="where every artefact goes (default ./demo)")
    parser.add_argument("--photographs", type=int, default=20,
                        help="lesion photographs per set in the synthetic tree (default 20)")
    parser.add_argument("--steps", type=int, default=800,
                        help="training steps of the smoke configuration (default 800, about 7 minutes on "
                             "2 CPU cores; ignored with --config)")
    parser.add_argument("--manual-dir", type=pathlib.Path, help="a real e-ophtha download instead of synthetic data")
    arguments.add_experiment_config(parser, required=False, default_help=", default smoke_cpu")
    parser.add_argument("--predict", type=int, default=4, help="photographs sent through the gRPC client")
    arguments.add_verbose(parser)


def run(args):
    from retina_tf.workflows import demo  # noqa: PLC0415  TensorFlow loads when the command runs, not for --help

    demo.run_demo(demo.DemoSettings(workdir=args.workdir, photographs=args.photographs, steps=args.steps,
                                    manual_dir=args.manual_dir, config_files=tuple(args.config or ()),
                                    predict=args.predict, verbose=args.verbose))
