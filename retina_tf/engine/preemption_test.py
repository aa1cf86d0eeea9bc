"""Tests for stopping on SIGTERM or SIGINT: real signals sent to this process inside `catching_signals()`, a
real CheckpointManager in a tmp_path, under the default and the one-device strategies."""

import os
import signal
import threading

import pytest
import tensorflow as tf

from retina_tf.engine.errors import Preempted
from retina_tf.engine.preemption import SIGNALS, StopOnSignal


@pytest.fixture(params=["default", "one_device"])
def strategy(request):
    if request.param == "default":
        return tf.distribute.get_strategy()
    return tf.distribute.OneDeviceStrategy("/cpu:0")


@pytest.fixture
def training(tmp_path, strategy):
    """A StopOnSignal attached to a global step at 40 and a CheckpointManager saving it into tmp_path."""
    global_step = tf.Variable(40, dtype=tf.int64)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(global_step=global_step), str(tmp_path), max_to_keep=3)
    stop = StopOnSignal(strategy)
    stop.attach(manager, global_step)
    return stop, manager, global_step


def test_without_a_signal_the_action_lets_training_go_on_and_saves_nothing(training, tmp_path):
    stop, manager, _ = training
    with stop.catching_signals():
        for _ in range(3):   # one call per loop of steps_per_loop steps
            assert stop({"total_loss": 1.0}) is None
    assert manager.latest_checkpoint is None and not list(tmp_path.iterdir())


@pytest.mark.parametrize("number", SIGNALS, ids=lambda number: signal.Signals(number).name)
def test_a_signal_saves_a_checkpoint_at_the_current_step_and_stops(training, number):
    stop, manager, global_step = training
    with stop.catching_signals():
        signal.raise_signal(number)   # the handler has run when this returns: it only raises a flag
        global_step.assign(60)        # the loop in progress finishes before the action runs
        with pytest.raises(Preempted) as raised:
            stop({})
    assert raised.value.step == 60
    assert str(raised.value) == "preempted: checkpoint saved at step 60; run the same command again to resume"
    assert manager.latest_checkpoint == os.path.join(manager.directory, "ckpt-60")
    restored = tf.Variable(0, dtype=tf.int64)
    tf.train.Checkpoint(global_step=restored).restore(manager.latest_checkpoint).assert_consumed()
    assert int(restored.numpy()) == 60


def test_a_worker_without_a_checkpoint_manager_stops_at_the_same_step(strategy):
    """attach(None, ...): nothing to save, but the run still ends with Preempted at the agreed step."""
    stop = StopOnSignal(strategy)
    stop.attach(None, tf.Variable(7, dtype=tf.int64))
    with stop.catching_signals():
        signal.raise_signal(signal.SIGTERM)
    with pytest.raises(Preempted) as raised:   # the flag outlives the handlers
        stop({})
    assert raised.value.step == 7


def test_a_second_signal_stops_at_once(training):
    stop, manager, _ = training
    with stop.catching_signals():
        signal.raise_signal(signal.SIGTERM)
        with pytest.raises(KeyboardInterrupt, match="^second SIGINT$"):
            signal.raise_signal(signal.SIGINT)
    assert manager.latest_checkpoint is None   # nothing saved: the person asked twice


def test_the_previous_handlers_come_back_even_when_training_fails(training):
    stop, _, _ = training
    before = {number: signal.getsignal(number) for number in SIGNALS}
    with pytest.raises(RuntimeError, match="out of memory"):
        with stop.catching_signals():
            assert all(signal.getsignal(number) == stop._handle for number in SIGNALS)
            raise RuntimeError("out of memory")
    assert {number: signal.getsignal(number) for number in SIGNALS} == before


def test_outside_the_main_thread_no_handler_is_installed_and_the_body_still_runs(training):
    stop, _, _ = training
    before = {number: signal.getsignal(number) for number in SIGNALS}
    seen = []

    def run():
        with stop.catching_signals():
            seen.append({number: signal.getsignal(number) for number in SIGNALS})

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=10)
    assert seen == [before]
    assert stop({}) is None   # and no flag was raised on the way
