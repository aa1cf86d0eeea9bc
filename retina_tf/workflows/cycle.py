"""One scheduled training cycle, for cron, a systemd timer or a batch job (`retina-tf cycle`).

Resume training up to the configured steps, score the latest checkpoint on
the validation split with the paper's filtered mAP50, and export a new
SavedModel version only if it beats the latest exported version's figure
(kept beside that version in assets.extra/retina_tf.json). Every step is safe
to repeat after a crash: training restarts from its last checkpoint,
evaluation only reads, and an export appears atomically or not at all.
"""

import json
import os

from official.core import config_definitions as cfg

from retina_tf.engine.evaluate_lib import checkpoint_results
from retina_tf.engine.train_lib import train
from retina_tf.evaluation import report
from retina_tf.serving.export import export
from retina_tf.serving.model_base import latest_export
from retina_tf.serving.protocol import DEFAULT_MODEL_NAME
from retina_tf.utils import locks, storage

METRIC = "paper_mAP50"


def run_cycle(params: cfg.ExperimentConfig, model_dir: str | os.PathLike, export_base: str | os.PathLike,
              model_name: str = DEFAULT_MODEL_NAME, verbose: bool = False) -> str:
    """Runs one cycle and returns its summary line (verbose: orbit's output instead of a progress line).

    A cycle holds a lock file in model_dir, one per worker of a cluster: a second cycle started while one
    runs (a scheduler without flock) does nothing and says so.
    """
    model_dir = storage.path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    try:
        with locks.held(model_dir / _lock_name()):
            return _cycle(params, model_dir, export_base, model_name, verbose)
    except locks.LockHeld as held:
        return f"cycle: another cycle is running on this model_dir: {held}; nothing done"


def _lock_name() -> str:
    """cycle.lock; under a cluster (TF_CONFIG) one per task, since every worker runs the cycle."""
    task = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task")
    return f"cycle-{task['type']}-{task['index']}.lock" if task else "cycle.lock"


def _cycle(params, model_dir, export_base, model_name, verbose) -> str:
    trained = train(params, model_dir, mode="train", verbose=verbose)
    if not trained.is_chief:   # multi-worker: one worker validates and exports
        return f"cycle: step {trained.step}/{trained.train_steps}; the chief validates and exports"
    # params.yaml in model_dir names the data_dir training used (TFDS's default when none was given).
    results, checkpoint = checkpoint_results(model_dir, split=params.task.validation_data.tfds_split)
    figure = report.headline(report.evaluate(results)).get(METRIC, 0.0)
    progress = f"step {trained.step}/{trained.train_steps}, validation {METRIC} {figure:.4f}"

    version, metadata = latest_export(storage.path(export_base) / model_name)
    if version is not None and metadata.get("checkpoint") == checkpoint:
        return f"cycle: {progress}; v{version} already holds this checkpoint, nothing exported"
    previous = metadata.get("figures", {}).get(METRIC)
    if version is not None and previous is not None and figure <= previous:
        return f"cycle: {progress}; kept v{version} ({METRIC} {previous:.4f})"
    target = export(model_dir, export_base, model_name, figures={METRIC: figure, "step": trained.step})
    beaten = "" if previous is None else f", beats v{version} ({previous:.4f})"
    return f"cycle: {progress}{beaten}; exported {target}"
