"""Checkpoints as a preempted VM leaves them: the newest truncated, an index of garbage, a write never finished."""

import pytest
import tensorflow as tf

from retina_tf.utils import checkpoints


def _saved(model_dir, count):
    """count checkpoints ckpt-1 .. ckpt-count of a few variables, as Model Garden's manager writes them."""
    weights = tf.Variable(tf.zeros([256, 256]))
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(weights=weights), str(model_dir), max_to_keep=None)
    for step in range(1, count + 1):
        weights.assign_add(tf.ones_like(weights))
        manager.save(checkpoint_number=step)
    return [str(model_dir / f"ckpt-{step}") for step in range(1, count + 1)]


def _truncate(checkpoint):
    [data] = tf.io.gfile.glob(checkpoint + ".data-*")
    with open(data, "r+b") as file:
        file.truncate(1000)


def test_an_intact_model_dir_reads_its_latest(tmp_path):
    saved = _saved(tmp_path, 2)
    assert checkpoints.newest_readable(tmp_path) == checkpoints.Readable(saved[-1])
    assert checkpoints.newest_readable(tmp_path / "empty") == checkpoints.Readable(None)


def test_the_newest_that_reads_is_found_under_a_truncated_and_a_garbage_one(tmp_path):
    saved = _saved(tmp_path, 4)
    _truncate(saved[3])
    (tmp_path / "ckpt-3.index").write_bytes(b"not an sstable")
    readable = checkpoints.newest_readable(tmp_path)
    assert readable.checkpoint == saved[1]
    assert [checkpoint for checkpoint, _ in readable.unreadable] == [saved[3], saved[2]]
    assert all(why and "\n" not in why for _, why in readable.unreadable), readable.unreadable
    assert readable.describe_fallback().startswith(f"{saved[3]} does not read (")
    assert readable.describe_fallback().endswith(") and 1 more; going on from ckpt-2")

    checkpoints.heal(tmp_path, readable)
    assert tf.train.latest_checkpoint(str(tmp_path)) == saved[1]
    assert list(tf.train.get_checkpoint_state(str(tmp_path)).all_model_checkpoint_paths) == saved[:2]
    restored = tf.Variable(tf.zeros([256, 256]))
    tf.train.Checkpoint(weights=restored).read(saved[1]).assert_existing_objects_matched()
    assert float(restored[0, 0]) == 2.0


def test_when_no_checkpoint_reads_training_starts_over(tmp_path):
    [saved] = _saved(tmp_path, 1)
    _truncate(saved)
    readable = checkpoints.newest_readable(tmp_path)
    assert readable.checkpoint is None and readable.describe_fallback().endswith(
        "; going on from the start (no checkpoint reads)")
    checkpoints.heal(tmp_path, readable)
    assert tf.train.latest_checkpoint(str(tmp_path)) is None


def test_an_unreadable_latest_is_refused_naming_it_and_the_newest_that_reads(tmp_path):
    saved = _saved(tmp_path, 2)
    _truncate(saved[1])
    error = checkpoints.UnreadableCheckpoint(tmp_path, checkpoints.newest_readable(tmp_path))
    message = str(error)
    assert message.startswith(f"{saved[1]}: the latest checkpoint of {tmp_path} does not read (")
    assert message.endswith(f"; the newest that reads is {saved[0]}: pass it with --checkpoint")
    assert "\n" not in message


def test_what_killed_checkpoint_writes_left_is_removed(tmp_path):
    saved = _saved(tmp_path, 1)
    unfinished = tmp_path / "ckpt-2_temp"
    unfinished.mkdir()
    (unfinished / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"\0" * 1000)
    assert checkpoints.remove_unfinished_writes(tmp_path) == [str(unfinished)]
    assert not unfinished.exists() and checkpoints.newest_readable(tmp_path).checkpoint == saved[0]


@pytest.mark.parametrize("damage", ["truncated", "garbage index", "missing data"])
def test_why_unreadable_is_one_line_for_each_damage(tmp_path, damage):
    [saved] = _saved(tmp_path, 1)
    if damage == "truncated":
        _truncate(saved)
    elif damage == "garbage index":
        (tmp_path / "ckpt-1.index").write_bytes(b"\x89PNG garbage")
    else:
        for data in tf.io.gfile.glob(saved + ".data-*"):
            tf.io.gfile.remove(data)
    why = checkpoints.why_unreadable(saved)
    assert why and "\n" not in why, why
    why.encode("utf-8")


def test_the_newest_few_that_read_come_newest_first_and_say_their_step(tmp_path):
    saved = _saved(tmp_path, 4)
    _truncate(saved[2])
    assert checkpoints.newest(tmp_path, 2) == [saved[3], saved[1]]
    assert checkpoints.newest(tmp_path, 9) == [saved[3], saved[1], saved[0]]
    assert [checkpoints.step_of(checkpoint) for checkpoint in saved] == [1, 2, 3, 4]
    assert checkpoints.step_of(str(tmp_path / "averaged")) == -1
