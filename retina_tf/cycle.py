"""`retina-tf cycle`: one scheduled training cycle for cron, a systemd timer or a batch job.

Resume training up to the configured steps, score the latest checkpoint on
the validation split with the paper's filtered mAP50, and export a new
SavedModel version only if it beats the latest exported version's figure
(kept beside that version in assets.extra/retina_tf.json). Every step is safe
to repeat after a crash: training restarts from its last checkpoint,
evaluation only reads, and an export appears atomically or not at all.
Ends with one summary line; the exit status is 0 when the cycle completed.
"""

import json
import pathlib

from retina_tf import train

METRIC = "paper_mAP50"


def add_arguments(parser):
    train.add_experiment_arguments(parser)
    parser.add_argument("--export-base", type=pathlib.Path, required=True, help="TF Serving's model base path")
    parser.add_argument("--model-name", default="retina", help="model name (default retina)")


def exported_figures(model_base: pathlib.Path) -> tuple[int | None, dict]:
    """The latest exported version and the metadata it was exported with."""
    from retina_tf.serving.export import METADATA_FILE, versions  # pylint: disable=import-outside-toplevel

    found = versions(model_base)
    if not found:
        return None, {}
    metadata = model_base / str(found[-1]) / "assets.extra" / METADATA_FILE
    return found[-1], json.loads(metadata.read_text()) if metadata.is_file() else {}


def cycle(args) -> str:
    """Runs one cycle and returns its summary line."""
    from retina_tf.evaluate import checkpoint_results  # pylint: disable=import-outside-toplevel
    from retina_tf.evaluation import report  # pylint: disable=import-outside-toplevel
    from retina_tf.serving.export import export  # pylint: disable=import-outside-toplevel

    params = train.experiment_params(args.config, args.params_override, args.init_checkpoint, args.init_modules,
                                     args.data_dir)
    trained = train.train(params, args.model_dir, mode="train")
    # params.yaml in model_dir already names the data_dir training used (TFDS's default when none was given).
    results, checkpoint = checkpoint_results(args.model_dir, args.data_dir, params.task.validation_data.tfds_split)
    figure = report.headline(report.evaluate(results)).get(METRIC, 0.0)
    progress = f"step {trained.step}/{trained.train_steps}, validation {METRIC} {figure:.4f}"

    model_base = args.export_base / args.model_name
    version, metadata = exported_figures(model_base)
    if version is not None and metadata.get("checkpoint") == checkpoint:
        return f"cycle: {progress}; v{version} already holds this checkpoint, nothing exported"
    previous = metadata.get("figures", {}).get(METRIC)
    if version is not None and previous is not None and figure <= previous:
        return f"cycle: {progress}; kept v{version} ({METRIC} {previous:.4f})"
    target = export(args.model_dir, args.export_base, args.model_name, figures={METRIC: figure, "step": trained.step})
    beaten = "" if previous is None else f", beats v{version} ({previous:.4f})"
    return f"cycle: {progress}{beaten}; exported {target}"


def run(args):
    from absl import logging  # pylint: disable=import-outside-toplevel

    logging.set_verbosity(logging.INFO)
    print(cycle(args))
