"""`retina-tf demo`: the whole system end to end, by default on synthetic data on a CPU."""

import pathlib

from retina_tf.commands.train import add_verbose_argument, experiment_file


def add_arguments(parser):
    parser.add_argument("--workdir", type=pathlib.Path, default=pathlib.Path("demo"),
                        help="where every artefact goes (default ./demo)")
    parser.add_argument("--photographs", type=int, default=20,
                        help="lesion photographs per set in the synthetic tree (default 20)")
    parser.add_argument("--steps", type=int, default=800,
                        help="training steps of the smoke configuration (default 800, about 7 minutes on "
                             "2 CPU cores; ignored with --config)")
    parser.add_argument("--manual-dir", type=pathlib.Path, help="a real e-ophtha download instead of synthetic data")
    parser.add_argument("--config", type=experiment_file, action="append",
                        help="experiment YAML, a path or a shipped name (default smoke_cpu); repeat to layer "
                             "files, e.g. smoke_cpu then real_cpu")
    parser.add_argument("--predict", type=int, default=4, help="photographs sent through the gRPC client")
    add_verbose_argument(parser)


def run(args):
    from retina_tf.workflows import demo  # noqa: PLC0415  TensorFlow loads when the command runs, not for --help

    demo.run_demo(demo.DemoSettings(workdir=args.workdir, photographs=args.photographs, steps=args.steps,
                                    manual_dir=args.manual_dir, config_files=tuple(args.config or ()),
                                    predict=args.predict, verbose=args.verbose))
