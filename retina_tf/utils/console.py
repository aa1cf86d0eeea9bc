"""What retina-tf and the libraries under it print, so that a log read from a pipe or cron reads cleanly.

Progress is rewritten in place (a carriage return) only on a terminal: in a log
file each rewrite would be a line of its own, with the terminal's escapes.
TensorFlow's C++ logging, TFDS's bars and its download lines, and TFDS's
warnings about its own deprecated API are for their developers, not for the
person reading a retina-tf log; warnings and errors of retina-tf itself, and
the exceptions the libraries raise, still appear.
"""

import ctypes
import logging
import os
import shutil
import sys
import time

# absl::SetMinLogLevel of the absl that TensorFlow 2.20 links (its LTS inline namespace; see absl_follows_tf_cpp).
_ABSL_SET_MIN_LOG_LEVEL = "_ZN4absl12lts_2025012714SetMinLogLevelENS0_18LogSeverityAtLeastE"


def is_terminal(stream) -> bool:
    """Whether a person watches the stream live (False for a pipe, a file, a closed or absent stream)."""
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):   # no isatty; a closed file
        return False


class StatusLine:
    """One line of progress: rewritten in place on a terminal; elsewhere written as a plain line the first
    time, then at most every `interval_s` seconds, and when it is final, so a log stays short."""

    def __init__(self, stream, interval_s: float = 30.0, interactive: bool | None = None, clock=time.monotonic):
        self.stream = stream
        self.interactive = is_terminal(stream) if interactive is None else interactive
        self.interval_s, self.clock = interval_s, clock
        self._written_at = self._written = None   # off a terminal: when the last line went out, and what
        self._open = False   # on a terminal: the line is written without its newline

    def update(self, text: str, final: bool = False):
        if self.interactive:
            width = shutil.get_terminal_size().columns - 1
            self.stream.write("\r" + text[:width].ljust(width))
            self.stream.flush()
            self._open = True
            return
        now = self.clock()
        due = final or self._written_at is None or now - self._written_at >= self.interval_s
        if due and text != self._written:
            self.write_line(text)
            self._written_at, self._written = now, text

    def write_line(self, text: str):
        """A line of its own (a message, a table row) below the progress line."""
        self.end()
        self.stream.write(text + "\n")
        self.stream.flush()

    def end(self):
        """Ends the line rewritten in place, if any."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False


def quiet_libraries():
    """Stops, for a command run without --verbose, TensorFlow's C++ lines (cuInit, oneDNN, cpu_feature_guard: the
    setting is read at TensorFlow's import, so call it before) and TFDS's warning that its own PartialDecoding
    uses its deprecated `.dtype`."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.getLogger("absl").addFilter(_not_tfds_dtype_deprecation)


def _not_tfds_dtype_deprecation(record: logging.LogRecord) -> bool:
    return ".dtype` is deprecated. Please change your code to use NumPy" not in record.getMessage()


def absl_follows_tf_cpp():
    """Gives TF_CPP_MIN_LOG_LEVEL to the C++ absl logging TensorFlow also logs through, which reads no setting.

    Grappler (freezing a model for export) logs through absl: `WARNING: All log messages before
    absl::InitializeLog() ...` and `I0000 ... devices.cc` / `single_machine.cc` lines. Call it once TensorFlow
    is imported; with another TensorFlow than 2.20 the symbol may be missing and nothing changes.
    """
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "")
    if not level.isdigit():
        return
    import tensorflow as tf  # noqa: PLC0415  its library is loaded already; the import finds where

    try:
        set_min_log_level = getattr(ctypes.CDLL(os.path.join(tf.sysconfig.get_lib(), "libtensorflow_framework.so.2")),
                                    _ABSL_SET_MIN_LOG_LEVEL)
    except (OSError, AttributeError):
        return
    set_min_log_level.argtypes = [ctypes.c_int]
    set_min_log_level(min(int(level), 3))   # absl's INFO, WARNING, ERROR, FATAL are TF's 0..3


def quiet_tfds_build(builder):
    """Before builder.download_and_prepare: TFDS's bars only where stderr is a terminal, and for a manual dataset
    no `Downloading and preparing dataset ...` nor `... downloaded and prepared` (nothing is downloaded; the
    caller says where the dataset went)."""
    import tensorflow_datasets as tfds  # noqa: PLC0415  not loaded for --help

    if not is_terminal(sys.stderr):
        tfds.disable_progress_bar()
    if builder.MANUAL_DOWNLOAD_INSTRUCTIONS:
        builder._log_download_bytes = builder._log_download_done = lambda: None
