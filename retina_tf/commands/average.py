"""`retina-tf average`: the mean of a model_dir's last checkpoints, for export and evaluate --checkpoint."""

from retina_tf.commands import arguments


def add_arguments(parser):
    arguments.add_model_dir(parser, required=True, help_text="training model_dir")
    parser.add_argument("--last", type=int, required=True, metavar="K",
                        help="average the newest K checkpoints that read (training keeps trainer.max_to_keep)")


def run(args):
    from retina_tf.engine import averaging  # noqa: PLC0415  TensorFlow loads when the command runs, not for --help

    averaged = averaging.average_checkpoints(args.model_dir, args.last)
    print(f"averaged {len(averaged.sources)} checkpoints, {averaged.sources[0]} to {averaged.sources[-1]}, "
          f"into {averaged.checkpoint}")
    print(f"export it with: retina-tf export --model-dir {args.model_dir} --checkpoint {averaged.checkpoint} ...")
