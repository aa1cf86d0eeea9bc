"""`retina-tf evaluate`: the paper's filtered mAP, COCO AP, lesion FROC and screening on a TFDS split.

With --model-dir the latest checkpoint is scored through the training task's
own validation pipeline and validation step; with --saved-model an exported
model is scored through its `normalised` signature. Either way the figures
come from retina_tf.evaluation against the exact stored lesion masks.
"""

import pathlib
import sys


def add_arguments(parser):
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model-dir", type=pathlib.Path, help="a training model_dir (params.yaml, checkpoints)")
    source.add_argument("--saved-model", type=pathlib.Path, help="an exported SavedModel version folder")
    parser.add_argument("--data-dir", type=pathlib.Path, required=True, help="TFDS data_dir holding e_ophtha")
    parser.add_argument("--config", help="e_ophtha config (default: the one the model was trained on, "
                                         "as recorded in params.yaml or the export's retina_tf.json)")
    parser.add_argument("--split", default="test", help="train, validation or test (default test)")
    parser.add_argument("--out", type=pathlib.Path, required=True, help="folder for report.json, report.md, plots")
    parser.add_argument("--operating-threshold", type=float, default=0.5,
                        help="score threshold for the screening sensitivity/specificity (default 0.5)")


def checkpoint_results(model_dir: pathlib.Path, data_dir: pathlib.Path | None, split: str,
                       config: str | None = None, progress=None):
    """PhotographResults of a split, scored with the latest checkpoint in model_dir.

    data_dir None keeps the one the model was trained on (its params.yaml).
    """
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from official.core import task_factory  # pylint: disable=import-outside-toplevel
    from retina_tf import registry_imports  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    from retina_tf.errors import UserError  # pylint: disable=import-outside-toplevel
    from retina_tf.train import experiment_params  # pylint: disable=import-outside-toplevel

    params_file = model_dir / "params.yaml"
    checkpoint = tf.train.latest_checkpoint(str(model_dir))
    if not params_file.is_file() or checkpoint is None:
        raise UserError(f"{model_dir}: not a trained model_dir (needs params.yaml and a checkpoint)")
    overrides = [f"task.validation_data.tfds_split={split}", "task.schedule.steps_per_epoch=1"]
    if config:
        overrides.append(f"task.validation_data.tfds_name=e_ophtha/{config}")
    params = experiment_params([params_file], overrides, data_dir=data_dir)
    task = task_factory.get_task(params.task)
    model = task.build_model()
    tf.train.Checkpoint(model=model).read(checkpoint).expect_partial()
    dataset = task.build_inputs(params.task.validation_data)
    step = tf.function(lambda inputs: task.validation_step(inputs, model))
    state = None
    for inputs in dataset:
        outputs = step(inputs)
        outputs = {key: tf.nest.map_structure(lambda value: (value,), item) for key, item in outputs.items()}
        state = task.aggregate_logs(state, outputs)
        if progress:
            progress(len(state))
    return list(state or []), checkpoint


def run(args):
    from retina_tf.errors import UserError  # pylint: disable=import-outside-toplevel
    from retina_tf.evaluation import report  # pylint: disable=import-outside-toplevel

    def progress(count):
        print(f"\r  scored {count} photographs", end="", file=sys.stderr, flush=True)

    if args.saved_model:
        from retina_tf.serving.predictor import saved_model_results  # pylint: disable=import-outside-toplevel
        results = saved_model_results(args.saved_model, args.data_dir, args.split, args.config, progress)
        source = args.saved_model
    else:
        results, source = checkpoint_results(args.model_dir, args.data_dir, args.split, args.config, progress)
    print(file=sys.stderr)
    if not results:
        raise UserError(f"split {args.split!r} has no photographs")
    figures = report.write_report(results, args.out, operating_threshold=args.operating_threshold)
    print(f"# {args.split} split, {len(results)} photographs, model {source}\n")
    print(report.markdown_table(figures))
    print(f"\nreport.json, report.md and plots in {args.out}")
