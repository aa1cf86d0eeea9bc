"""A model's weights averaged over its last checkpoints (Polyak averaging, as SWA does along a low learning rate).

Trained from scratch on a few dozen photographs, the IDRiD recipe's weights
still wander from one checkpoint to the next after its learning rate drops,
and the last checkpoint is only one point of that walk (step 7000 beat step
8000 by 0.04 exudate AUPR on validation). The mean of the weights over the
last checkpoints sits nearer the middle of the region they wander in
(Izmailov et al., "Averaging Weights Leads to Wider Optima", UAI 2018), once
the run has settled: on the IDRiD recipe the mean of the last 10 checkpoints
scored about 0.01 exudate AUPR above the last one after 2000 steps at the
low rate, and below it after 1000, while the scores still climbed
(benchmarks/README.md). Batch normalisation's moving statistics are averaged
with the weights: they move slowly over the checkpoints averaged. Export and
evaluate take the result with --checkpoint.
"""

import dataclasses
import os

import numpy as np
import tensorflow as tf
from official.core import task_factory

from retina_tf import registry_imports  # noqa: F401  task_factory: the retina_maskrcnn task
from retina_tf.configs.experiment import trained_model
from retina_tf.utils import checkpoints, storage
from retina_tf.utils.errors import UserError, describe

AVERAGED_FOLDER = "averaged"   # under the model_dir, beside the checkpoints training resumes from


@dataclasses.dataclass(frozen=True)
class Averaged:
    checkpoint: str              # the prefix written: the model's weights only, no optimizer state
    sources: tuple[str, ...]     # the checkpoints averaged, oldest first


def averaged_prefix(model_dir, newest: str, count: int) -> str:
    """Where the mean of count checkpoints up to newest goes: model_dir/averaged/ckpt-<step>-mean<count>."""
    return os.fspath(storage.path(model_dir) / AVERAGED_FOLDER / f"ckpt-{checkpoints.step_of(newest)}-mean{count}")


def average_checkpoints(model_dir, count: int, output: str | None = None) -> Averaged:
    """Writes the mean of the model's weights over the newest count checkpoints of model_dir that read.

    Args:
      model_dir: a model_dir that `retina-tf train` wrote.
      count: how many checkpoints, at least 1; training keeps trainer.max_to_keep of them.
      output: the checkpoint prefix to write (default averaged_prefix).

    Returns:
      The checkpoint written and those averaged.

    Raises:
      UserError: count is below 1, fewer checkpoints read, or the output cannot be written.
    """
    if count < 1:
        raise UserError(f"the number of checkpoints to average is {count}: it must be at least 1")
    sources = checkpoints.newest(model_dir, count)
    # With none that reads, trained_model says why (not a model_dir, or its checkpoints broken).
    trained = trained_model(model_dir, checkpoint=sources[0] if sources else None)
    if len(sources) < count:
        raise UserError(f"{model_dir}: {len(sources)} checkpoints read there, fewer than the {count} to average "
                        f"(training keeps trainer.max_to_keep = {trained.params.trainer.max_to_keep}; raise it "
                        "to keep more)")
    model = task_factory.get_task(trained.params.task).build_model()
    reader = tf.train.Checkpoint(model=model)
    total = None
    for source in sources:
        reader.read(source).expect_partial().assert_existing_objects_matched()
        values = [variable.numpy().astype(np.float64) for variable in model.variables]
        total = values if total is None else [sum_ + value for sum_, value in zip(total, values)]
    for variable, sum_ in zip(model.variables, total):
        variable.assign((sum_ / len(sources)).astype(variable.dtype.as_numpy_dtype))
    prefix = output or averaged_prefix(model_dir, sources[0], count)
    try:
        written = reader.write(prefix)
    except (tf.errors.OpError, OSError) as error:
        raise UserError(f"{prefix}: cannot write the averaged checkpoint ({describe(error)})") from error
    return Averaged(written, tuple(reversed(sources)))
