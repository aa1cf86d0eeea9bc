"""`retina-tf cycle`: one scheduled training cycle (resume, validate, export if better).

Ends with one summary line; the exit status is 0 when the cycle completed.
"""

from retina_tf.commands import arguments


def add_arguments(parser):
    arguments.add_experiment(parser)
    arguments.add_export_base(parser)
    arguments.add_model_name(parser)


def run(args):
    from retina_tf.workflows.cycle import run_cycle  # noqa: PLC0415  TensorFlow loads when the command runs, not for --help

    arguments.set_logging(args)
    print(run_cycle(arguments.experiment_params(args), args.model_dir, args.export_base, args.model_name,
                    verbose=args.verbose))
