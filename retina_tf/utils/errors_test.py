"""Tests for one-line error messages."""

import pytest
import tensorflow as tf

from retina_tf.utils.errors import UserError, describe


def _failing_check(message):
    tf.debugging.Assert(tf.constant(False), [tf.strings.format(message, tf.constant(7))])


def test_an_in_graph_check_becomes_its_message_in_eager_and_graph_mode():
    with pytest.raises(tf.errors.InvalidArgumentError) as eager:
        _failing_check("bad photograph ({} bytes)")
    with pytest.raises(tf.errors.InvalidArgumentError) as graph:
        tf.function(lambda: _failing_check("bad photograph ({} bytes)"))()
    assert describe(eager.value) == "bad photograph (7 bytes)"
    assert describe(graph.value) == "bad photograph (7 bytes)"


def test_other_errors_keep_their_type_and_first_line():
    assert describe(UserError("no such file")) == "no such file"
    assert describe(KeyError("x")) == "KeyError: 'x'"
    assert describe(RuntimeError("first\nsecond")) == "RuntimeError: first"


def test_op_errors_lose_their_node_names():
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        tf.io.decode_jpeg(b"\xff\xd8\xff\xe0 truncated")
    assert describe(raised.value).startswith("jpeg::Uncompress failed")
    assert "function_node" not in describe(raised.value) and "[Op:" not in describe(raised.value)


def test_user_errors_keep_every_line_they_list():
    assert describe(UserError("2 problems:\n  - a.png: empty\n  - b.jpg: corrupt")).count("\n") == 2
