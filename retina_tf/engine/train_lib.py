"""Training and resuming the experiment in a model_dir, with Model Garden's train_lib.

Restarted on the same model_dir, Model Garden's checkpoint manager restores
the latest checkpoint and training goes on from its step (scheduled and
preemptible VMs); a finished run started again does nothing. SIGTERM or
Ctrl-C saves a checkpoint at the current step first (retina_tf.engine.preemption). The distribution
strategy comes from `runtime` (mirrored over local GPUs, multi_worker_mirrored
across VMs through TF_CONFIG, one device on a CPU). Unless verbose, a progress
line (retina_tf.engine.progress) replaces what orbit's controller prints.
"""

import contextlib
import dataclasses
import os
import shutil
import sys

import tensorflow as tf
from etils import epath
from official.common import distribute_utils
from official.core import config_definitions as cfg
from official.core import task_factory, train_lib, train_utils
from official.modeling import performance

from retina_tf import registry_imports  # noqa: F401  task_factory: the retina_maskrcnn task
from retina_tf.engine import preemption, progress
from retina_tf.engine.errors import Preempted
from retina_tf.utils import checkpoints, storage
from retina_tf.utils.errors import UserError, describe


@dataclasses.dataclass
class TrainResult:
    step: int
    train_steps: int
    model_dir: epath.Path
    is_chief: bool = True   # the worker that writes checkpoints and summaries (every worker but under multi-worker)


def train(params: cfg.ExperimentConfig, model_dir, mode: str = "train_and_eval", verbose: bool = False
          ) -> TrainResult:
    """Runs (or resumes) the experiment in model_dir; returns where it ended.

    verbose keeps orbit's own output (each loop's dict of losses) instead of the progress line.
    """
    model_dir = storage.path(model_dir)
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
    except (tf.errors.OpError, OSError) as error:
        raise UserError(f"{model_dir}: cannot create the model_dir ({describe(error)})") from error
    if "train" in mode:
        train_utils.serialize_config(params, str(model_dir))
    if params.runtime.mixed_precision_dtype:
        performance.set_mixed_precision_policy(params.runtime.mixed_precision_dtype)
    strategy = distribute_utils.get_distribution_strategy(
        distribution_strategy=params.runtime.distribution_strategy,
        all_reduce_alg=params.runtime.all_reduce_alg,
        num_gpus=params.runtime.num_gpus,
        tpu_address=params.runtime.tpu)
    with strategy.scope():
        task = task_factory.get_task(params.task, logging_dir=str(model_dir))
    stop = preemption.StopOnSignal(strategy)
    is_chief = strategy.extended.should_checkpoint
    resume_from = _readable_checkpoint(model_dir, is_chief)
    reporter = None if verbose else progress.TrainingProgress(   # an epoch is the checkpoint interval
        params.trainer.train_steps, params.trainer.checkpoint_interval, params.task.train_data.global_batch_size)
    with _orbit_output(verbose):
        runner = _Runner(
            resume_from=resume_from, distribution_strategy=strategy, task=task, mode=mode, params=params,
            model_dir=str(model_dir),
            train_actions=[stop] if reporter is None else [reporter.train_action, stop],
            eval_actions=[] if reporter is None else [reporter.eval_action], save_summary=is_chief)
        stop.attach(runner.checkpoint_manager, runner.trainer.global_step)
        try:
            with stop.catching_signals():
                if reporter is not None:
                    reporter.attach(runner.trainer.global_step)
                    if "train" in mode:
                        reporter.start()
                runner.run()
        except Preempted as preempted:   # every worker names the model_dir (a non-chief saved into a temporary one)
            raise Preempted(preempted.step, model_dir) from None
        finally:
            if reporter is not None:
                reporter.finish()
            if not is_chief and runner.checkpoint_manager is not None:
                shutil.rmtree(runner.checkpoint_manager.directory, ignore_errors=True)
    step = int(runner.trainer.global_step.numpy())   # a non-chief reading model_dir would race the chief
    return TrainResult(step=step, train_steps=params.trainer.train_steps, model_dir=model_dir,
                       is_chief=is_chief)


def _readable_checkpoint(model_dir: epath.Path, is_chief: bool) -> str | None:
    """The newest checkpoint that reads, said in one line when newer ones do not; the chief points the
    model_dir's checkpoint file at it and removes what killed checkpoint writes left."""
    readable = checkpoints.newest_readable(model_dir)
    if readable.unreadable:
        print(readable.describe_fallback(), file=sys.stderr, flush=True)
    if is_chief:
        if readable.unreadable:
            checkpoints.heal(model_dir, readable)
        checkpoints.remove_unfinished_writes(model_dir)
    return readable.checkpoint


@contextlib.contextmanager
def _orbit_output(verbose: bool):
    """Unless verbose, what orbit's controller prints (each loop's outputs, which it also logs) goes nowhere;
    the progress reporter keeps the stdout it was made with."""
    if verbose:
        yield
        return
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        yield


class _Runner(train_lib.OrbitExperimentRunner):
    """Model Garden's runner, except that a non-chief worker resumes from the chief's latest checkpoint.

    Model Garden gives a non-chief worker a checkpoint manager on an empty temporary directory (every
    worker must save, since reading some variables is a collective; only the chief's files count), so it
    would never restore: started again, it would begin at step 0 while the chief resumed. Copying the
    chief's latest checkpoint there first lets the manager restore it as the chief's does (same step,
    same next checkpoint step, so the same collectives).
    """

    def __init__(self, *, resume_from: str | None, **kwargs):
        self._resume_from = resume_from   # the chief's newest checkpoint that reads
        super().__init__(**kwargs)

    def _maybe_build_checkpoint_manager(self):
        manager = super()._maybe_build_checkpoint_manager()
        if manager is None or self.strategy.extended.should_checkpoint:
            return manager
        latest = self._resume_from
        if latest is None:
            return manager
        for source in tf.io.gfile.glob(latest + ".*"):
            tf.io.gfile.copy(source, os.path.join(manager.directory, os.path.basename(source)), overwrite=True)
        tf.compat.v1.train.update_checkpoint_state(manager.directory, os.path.basename(latest))
        return tf.train.CheckpointManager(
            self.trainer.checkpoint, directory=manager.directory, max_to_keep=1,
            step_counter=self.trainer.global_step, checkpoint_interval=self.params.trainer.checkpoint_interval,
            init_fn=self.trainer.initialize)
