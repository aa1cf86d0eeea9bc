"""The checkpoints of a model_dir that read: a VM preempted mid-write can leave the newest one truncated or its
index garbage, or a `ckpt-N_temp/` folder of a write that never finished, and every later run would trip on
them."""

import dataclasses
import os
import re

import tensorflow as tf

from retina_tf.utils.errors import UserError

# tf.train.Checkpoint writes a sharded checkpoint into <prefix>_temp/ and renames the shards when done.
_TEMPORARY_SUFFIX = "_temp"


@dataclasses.dataclass(frozen=True)
class Readable:
    """The newest checkpoint of a model_dir that reads, and the newer ones that do not."""

    checkpoint: str | None                                      # None: none reads (or there is none)
    unreadable: tuple[tuple[str, str], ...] = ()                # (checkpoint, why), newest first

    def describe_fallback(self) -> str:
        """One line: which checkpoint does not read, why, and which one is used instead."""
        newest, why = self.unreadable[0]
        skipped = f" and {len(self.unreadable) - 1} more" if len(self.unreadable) > 1 else ""
        instead = os.path.basename(self.checkpoint) if self.checkpoint else "the start (no checkpoint reads)"
        return f"{newest} does not read ({why}){skipped}; going on from {instead}"


def why_unreadable(checkpoint: str) -> str | None:
    """Why a checkpoint does not read, or None when it does.

    Every tensor is read, which checks each one's CRC32C: a truncated data file shows only then.

    Args:
      checkpoint: a checkpoint prefix (model_dir/ckpt-N).

    Returns:
      One line (TensorFlow's reason), or None.
    """
    try:
        reader = tf.train.load_checkpoint(checkpoint)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except (tf.errors.OpError, ValueError, IndexError, OSError, RuntimeError) as error:
        lines = (getattr(error, "message", None) or str(error)).strip().splitlines()
        return lines[0] if lines else type(error).__name__
    return None


def newest_readable(model_dir: str | os.PathLike) -> Readable:
    """The newest checkpoint of model_dir that reads, from the one its `checkpoint` file names down.

    Args:
      model_dir: a training model_dir (local or a bucket).

    Returns:
      The newest that reads, and the newer ones that do not with why.
    """
    unreadable = []
    for checkpoint in _newest_first(os.fspath(model_dir)):
        why = why_unreadable(checkpoint)
        if why is None:
            return Readable(checkpoint, tuple(unreadable))
        unreadable.append((checkpoint, why))
    return Readable(None, tuple(unreadable))


def newest(model_dir: str | os.PathLike, count: int) -> list[str]:
    """Up to count checkpoints of model_dir that read, newest first; one that does not read is passed over.

    Args:
      model_dir: a training model_dir (local or a bucket).
      count: how many.

    Returns:
      Their prefixes.
    """
    found = []
    for checkpoint in _newest_first(os.fspath(model_dir)):
        if len(found) == count:
            break
        if why_unreadable(checkpoint) is None:
            found.append(checkpoint)
    return found


def step_of(checkpoint: str) -> int:
    """The step in a checkpoint's prefix (model_dir/ckpt-N), -1 where it has none."""
    return _numbered(checkpoint)[1]


def _newest_first(model_dir: str) -> list[str]:
    """The latest checkpoint, then every older one whose files are there (<prefix>-<number>.index), newest
    first: a `checkpoint` file may list only the latest."""
    state = tf.train.get_checkpoint_state(model_dir)
    if not state or not state.model_checkpoint_path:
        return []
    latest = state.model_checkpoint_path
    stem, number = _numbered(latest)
    older = {}
    for index in tf.io.gfile.glob(os.path.join(model_dir, "*.index")):
        other_stem, other_number = _numbered(index[:-len(".index")])
        if other_stem == stem and other_number < number:
            older[other_number] = index[:-len(".index")]
    return [latest, *(older[key] for key in sorted(older, reverse=True))]


def _numbered(checkpoint: str) -> tuple[str, int]:
    """(prefix, number) of <prefix>-<number>; number -1 for a checkpoint without one."""
    match = re.fullmatch(r"(.*)-(\d+)", checkpoint)
    return (match[1], int(match[2])) if match else (checkpoint, -1)


def heal(model_dir: str | os.PathLike, readable: Readable):
    """Points model_dir's `checkpoint` file at the newest checkpoint that reads, so that Model Garden's
    checkpoint manager restores it (the next save of a step at or under an unreadable one overwrites it).

    Args:
      model_dir: the training model_dir.
      readable: what newest_readable found there.
    """
    model_dir = os.fspath(model_dir)
    if readable.checkpoint is None:
        tf.io.gfile.remove(os.path.join(model_dir, "checkpoint"))   # the manager starts from the beginning
        return
    broken = {checkpoint for checkpoint, _ in readable.unreadable}
    listed = tf.train.get_checkpoint_state(model_dir).all_model_checkpoint_paths
    tf.compat.v1.train.update_checkpoint_state(model_dir, readable.checkpoint, all_model_checkpoint_paths=[
        checkpoint for checkpoint in listed if checkpoint not in broken])


def remove_unfinished_writes(model_dir: str | os.PathLike) -> list[str]:
    """Removes the `ckpt-N_temp/` folders of checkpoint writes that were killed; only the writer of model_dir
    (the chief) may call it, before it saves anything.

    Returns:
      The folders removed.
    """
    removed = []
    for folder in tf.io.gfile.glob(os.path.join(os.fspath(model_dir), f"*{_TEMPORARY_SUFFIX}")):
        if tf.io.gfile.isdir(folder):
            tf.io.gfile.rmtree(folder)
            removed.append(folder)
    return removed


class UnreadableCheckpoint(UserError):
    """The latest checkpoint of a model_dir does not read; the message names it and the newest one that does."""

    def __init__(self, model_dir, readable: Readable):
        newest, why = readable.unreadable[0]
        offer = (f"; the newest that reads is {readable.checkpoint}: pass it with --checkpoint"
                 if readable.checkpoint else "; no checkpoint there reads")
        super().__init__(f"{newest}: the latest checkpoint of {model_dir} does not read ({why}){offer}")
