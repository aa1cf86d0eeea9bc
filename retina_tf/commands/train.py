"""`retina-tf train`: train (or resume) the retina_maskrcnn experiment in a model_dir."""

from retina_tf.commands import arguments


def add_arguments(parser):
    arguments.add_experiment(parser)
    parser.add_argument("--mode", default="train_and_eval", choices=("train", "train_and_eval", "eval"))


def run(args):
    from retina_tf.engine.train_lib import train  # noqa: PLC0415  TensorFlow loads when the command runs, not for --help

    arguments.set_logging(args)
    result = train(arguments.experiment_params(args), args.model_dir, args.mode, verbose=args.verbose)
    print(f"retina-tf train: done at step {result.step} of {result.train_steps}; "
          f"checkpoints and TensorBoard summaries in {result.model_dir}")
