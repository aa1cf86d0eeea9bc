"""Errors a person reads: one line that names the problem, no stack trace."""

import re


class UserError(Exception):
    """A problem the user can fix (bad path, bad input); printed whole, without a traceback."""


def shown(text: str, limit: int = 64) -> str:
    """text quoted for a message and cut to limit characters: an error must not repeat a request's megabytes
    (gRPC refuses an answer whose status details pass its metadata limit)."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


_BYTES_LITERAL = re.compile(r"^b['\"](.*)['\"]$")
_OP_NOISE = re.compile(r"\{\{function_node [^}]*\}\}\s*|\s*\[Op:\w+\].*$")


def describe(error: BaseException) -> str:
    """One line for an exception (a UserError keeps all its lines: they list problems).

    TensorFlow's failed in-graph checks (``tf.debugging.Assert`` with one
    formatted string) bury the message among node names; only it is kept.
    """
    message = (getattr(error, "message", None) or str(error)).strip()
    if isinstance(error, UserError):
        return message
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    first = next((line for line in lines if not line.startswith(
        ("Graph execution error", "Detected at node", "<stack traces unavailable>"))), "")
    for index, line in enumerate(lines):
        if "assertion failed: [" in line:          # in a graph
            first = line.split("assertion failed: [", 1)[1].rsplit("]", 1)[0]
            break
        if "Summarized data:" in line:              # eager
            data = line.split("Summarized data:", 1)[1].strip() or (lines[index + 1:] or [""])[0]
            first = _BYTES_LITERAL.sub(r"\1", data)
            break
    first = _OP_NOISE.sub("", first)
    if first and type(error).__name__.endswith("ArgumentError"):
        return first
    return f"{type(error).__name__}: {first}" if first else type(error).__name__
