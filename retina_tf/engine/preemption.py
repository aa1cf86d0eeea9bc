"""Training that stops cleanly when a scheduler takes the machine away (SIGTERM, or Ctrl-C).

A spot VM gets SIGTERM and about 30 seconds. The signal only raises a flag;
after each loop of trainer.steps_per_loop steps (an orbit train action) the
workers agree through one all-reduce (a sum of flags) whether any of them was signalled,
so under multi_worker_mirrored they all stop after the same step. Each saves
a checkpoint there (the chief into the model_dir, as Model Garden does) and
training ends with `Preempted`; the next `retina-tf train` or `cycle` on the
model_dir resumes from that step. A second signal stops at once.
"""

import contextlib
import signal
import threading

import tensorflow as tf

from retina_tf.engine.errors import Preempted

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopOnSignal:
    """An orbit train action; `catching_signals()` arms it for the duration of a run."""

    def __init__(self, strategy: tf.distribute.Strategy):
        self._strategy = strategy
        self._requested = threading.Event()
        self._checkpoint_manager = None
        self._global_step = None

    def attach(self, checkpoint_manager: tf.train.CheckpointManager | None, global_step: tf.Variable):
        self._checkpoint_manager = checkpoint_manager
        self._global_step = global_step

    @contextlib.contextmanager
    def catching_signals(self):
        if threading.current_thread() is not threading.main_thread():
            yield   # signal handlers can only be set from the main thread
            return
        previous = {number: signal.getsignal(number) for number in SIGNALS}
        for number in SIGNALS:
            signal.signal(number, self._handle)
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    def _handle(self, number, frame):
        if self._requested.is_set():
            raise KeyboardInterrupt(f"second {signal.Signals(number).name}")
        self._requested.set()

    def __call__(self, train_output):
        if not self._any_worker_signalled():
            return
        step = int(self._global_step.numpy())
        if self._checkpoint_manager is not None:
            self._checkpoint_manager.save(checkpoint_number=step, check_interval=False)
        raise Preempted(step)

    def _any_worker_signalled(self) -> bool:
        """The same answer on every worker: called after the same step everywhere, it all-reduces the flags."""
        signalled = tf.constant(int(self._requested.is_set()))
        signalled_anywhere = self._strategy.reduce(
            tf.distribute.ReduceOp.SUM, self._strategy.run(lambda: tf.identity(signalled)), axis=None)
        return bool(signalled_anywhere.numpy() > 0)
