"""The console policy: progress in place only on a terminal, and no library noise in a log."""

import io
import logging
import os
import subprocess
import sys
import textwrap

from absl import logging as absl_logging

from retina_tf.utils import console
from tfds_eophtha import DUMMY_DATA


class Terminal(io.StringIO):
    def isatty(self):
        return True


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_only_a_tty_is_a_terminal(tmp_path):
    closed = open(tmp_path / "log", "w")   # noqa: SIM115  closed at once: isatty would raise ValueError
    closed.close()
    assert console.is_terminal(Terminal())
    assert not any(console.is_terminal(stream) for stream in (io.StringIO(), closed, None, object()))


def test_off_a_terminal_the_status_is_plain_lines_spaced_by_the_interval_and_the_final_one():
    clock, stream = Clock(), io.StringIO()
    status = console.StatusLine(stream, interval_s=60, clock=clock)
    for count in range(1, 11):
        clock.now += 25
        status.update(f"scored {count}")
    status.update("scored 10", final=True)   # already written at 250 s: not twice
    status.update("scored 10 of 10", final=True)
    status.end()
    assert stream.getvalue() == "scored 1\nscored 4\nscored 7\nscored 10\nscored 10 of 10\n"


def test_on_a_terminal_the_status_is_rewritten_in_place_and_ended_before_a_line_of_its_own():
    stream = Terminal()
    status = console.StatusLine(stream)
    status.update("scored 1")
    status.update("scored 2")
    status.write_line("validation")
    status.update("scored 3")
    status.end()
    status.end()
    lines = stream.getvalue().split("\n")
    assert [[part.rstrip() for part in line.split("\r")] for line in lines] == [
        ["", "scored 1", "scored 2"], ["validation"], ["", "scored 3"], [""]]


def test_quiet_libraries_keeps_a_chosen_tf_log_level_and_drops_only_tfds_own_deprecation(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "")
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    console.quiet_libraries()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    console.quiet_libraries()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"

    seen = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    logger = logging.getLogger("absl")
    logger.addHandler(handler)
    try:
        absl_logging.warning("`FeatureConnector.dtype` is deprecated. Please change your code to use NumPy with "
                             "the field `FeatureConnector.np_dtype`")
        absl_logging.warning("a warning a person must see")
    finally:
        logger.removeHandler(handler)
        logger.removeFilter(console._not_tfds_dtype_deprecation)
    assert seen == ["a warning a person must see"]


def test_a_manual_build_under_a_pipe_prints_no_bar_and_no_download_lines(tmp_path, capfd):
    from retina_tf import datasets  # noqa: PLC0415  TensorFlow: only for the tests that need it

    builder = datasets.build("e_ophtha/patients_512", DUMMY_DATA["e_ophtha"], tmp_path)
    out, err = capfd.readouterr()
    assert builder.info.splits["train"].num_examples
    assert "Downloading and preparing" not in out and "downloaded and prepared" not in out
    assert "\r" not in out + err and "\x1b[" not in out + err


def test_freezing_a_model_under_a_pipe_prints_no_absl_lines():
    """Grappler's absl lines, which TF_CPP_MIN_LOG_LEVEL alone does not stop (TensorFlow 2.20)."""
    script = textwrap.dedent("""
        import tensorflow as tf
        from tensorflow.python.framework import convert_to_constants
        from retina_tf.utils import console

        console.absl_follows_tf_cpp()
        weight = tf.Variable([3.0])
        double = tf.function(lambda x: x * weight).get_concrete_function(tf.TensorSpec([None], tf.float32))
        convert_to_constants.convert_variables_to_constants_v2(double)
        print("frozen")
        """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.stdout == "frozen\n"
    assert done.stderr == ""
