"""Tests for what the export, the model server and its clients agree on: TF Serving's names, the serving
folder's configs, the pixel budget as the graph checks it, and gRPC message sizes on a loopback echo server."""

import pathlib
import re
from concurrent import futures

import grpc
import pytest
import tensorflow as tf

from retina_tf.data import fundus
from retina_tf.serving import photograph_files, protocol
from retina_tf.utils.errors import UserError, describe

SERVING = pathlib.Path(__file__).resolve().parents[2] / "serving"   # TF Serving's configs for docker-compose


def _setting(config: str, name: str) -> int:
    [value] = re.findall(rf"^{name} {{ value: (\d+) }}", config, re.M)
    return int(value)


def test_names_are_tf_serving_s_own():
    """TF Serving calls serving_default when a request names no signature, and replays warm-up requests
    only from assets.extra."""
    assert protocol.DEFAULT_SIGNATURE == tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
    assert protocol.EXTRA_FOLDER == f"{tf.saved_model.ASSETS_DIRECTORY}.extra"
    assert len(set(protocol.SIGNATURES)) == 2 and protocol.DEFAULT_SIGNATURE in protocol.SIGNATURES
    assert len(set(protocol.OUTPUT_KEYS)) == len(protocol.OUTPUT_KEYS)


def test_the_model_server_s_config_serves_the_model_clients_ask_for():
    config = (SERVING / "models.config").read_text()
    [name] = re.findall(r'^\s*name: "([^"]+)"', config, re.M)
    [base_path] = re.findall(r'^\s*base_path: "([^"]+)"', config, re.M)
    assert name == protocol.DEFAULT_MODEL_NAME and base_path.endswith(f"/{protocol.DEFAULT_MODEL_NAME}")


def test_server_side_batching_keeps_each_call_of_the_model_within_the_pixel_budget():
    config = (SERVING / "batching.config").read_text()
    assert _setting(config, "max_batch_size") == protocol.MAX_BATCH_PHOTOGRAPHS == photograph_files.BATCH_SIZE
    # merged requests of photographs at the per-photograph limit still fit one call's total
    assert _setting(config, "max_execution_batch_size") * protocol.MAX_PHOTOGRAPH_PIXELS <= protocol.MAX_BATCH_PIXELS
    assert protocol.MAX_PHOTOGRAPH_SIDE ** 2 >= protocol.MAX_PHOTOGRAPH_PIXELS   # the pixel limit is reachable


@pytest.mark.parametrize("width, height", [(6000, 4000), (4000, 6000), (4288, 2848), (2544, 1696)],
                         ids=["24-megapixel body", "portrait", "IDRiD", "e-ophtha's largest"])
def test_the_cameras_named_fit_the_budget_as_the_graph_checks_it(width, height):
    fundus.check_size(tf.constant([height, width]), "", protocol.MAX_PHOTOGRAPH_SIDE, protocol.MAX_PHOTOGRAPH_PIXELS)


def test_a_full_request_of_idrid_photographs_or_two_at_the_limit_fits_the_request_budget():
    assert protocol.MAX_BATCH_PHOTOGRAPHS * 4288 * 2848 <= protocol.MAX_BATCH_PIXELS
    assert 2 * protocol.MAX_PHOTOGRAPH_PIXELS <= protocol.MAX_BATCH_PIXELS < 3 * protocol.MAX_PHOTOGRAPH_PIXELS


@pytest.mark.parametrize("width, height, refusal", [
    (6001, 100, "photograph is 6001 x 100 pixels; the largest accepted side is 6000"),
    (5000, 5000, "photograph is 5000 x 5000 pixels (25000000 in all); at most 24000000 pixels are accepted"),
], ids=["side", "pixels"])
def test_a_photograph_beyond_the_budget_is_refused_in_one_line(width, height, refusal):
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        fundus.check_size(tf.constant([height, width]), "", protocol.MAX_PHOTOGRAPH_SIDE,
                          protocol.MAX_PHOTOGRAPH_PIXELS)
    assert describe(raised.value) == refusal


def test_a_rejected_photograph_is_a_user_error_told_in_its_own_words():
    """Callers that catch UserError (the command line) print it whole, without a traceback."""
    error = protocol.PhotographRejected("photographs[2]: grayscale photograph (1 channel(s))")
    assert isinstance(error, UserError)
    assert describe(error) == "photographs[2]: grayscale photograph (1 channel(s))"


@pytest.fixture(scope="module")
def echo_target():
    """A loopback gRPC server with the protocol's message options that answers each request with itself."""
    echo = grpc.method_handlers_generic_handler("retina.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(
        lambda request, context: request)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1), options=protocol.MESSAGE_OPTIONS)
    server.add_generic_rpc_handlers((echo,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(None)


def _echo(target, payload: bytes, options=()) -> bytes:
    with grpc.insecure_channel(target, options=options) as channel:
        return channel.unary_unary("/retina.Echo/Echo")(payload, timeout=30)


def test_a_message_larger_than_grpc_s_default_travels_both_ways(echo_target):
    payload = bytes(range(256)) * (5 * 1024 * 1024 // 256)   # 5 MiB: a large PNG photograph, or many masks
    assert len(payload) < protocol.MAX_MESSAGE_BYTES
    assert _echo(echo_target, payload, protocol.MESSAGE_OPTIONS) == payload
    with pytest.raises(grpc.RpcError) as raised:   # gRPC's default: 4 MiB received
        _echo(echo_target, payload)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_a_message_beyond_the_limit_is_refused(echo_target):
    payload = b"\0" * (protocol.MAX_MESSAGE_BYTES + 1)
    with pytest.raises(grpc.RpcError) as raised:
        _echo(echo_target, payload, protocol.MESSAGE_OPTIONS)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.mark.parametrize("name", ["retina", "retina-v2.1_EX", "a"])
def test_a_model_name_of_tf_servings_characters_is_taken(name):
    assert protocol.checked_model_name(name) == name


@pytest.mark.parametrize("name", ["", ".", "..", "../escaped", "a/b", "/etc", "retina model", "rétine", "a\\b"])
def test_a_model_name_that_is_not_one_folder_of_the_base_is_refused(name):
    with pytest.raises(UserError, match="a model name is one folder of the export base"):
        protocol.checked_model_name(name)


def test_a_refused_model_name_is_shown_cut_short():
    with pytest.raises(UserError) as raised:
        protocol.checked_model_name("/" * 100_000)
    assert len(str(raised.value)) < 300 and "(100000 characters)" in str(raised.value)


@pytest.mark.parametrize("version, taken", [(1, True), (7, True), (0, False), (-3, False)])
def test_versions_are_positive_integers(version, taken):
    if taken:
        assert protocol.checked_version(version) == version
    else:
        with pytest.raises(UserError, match=f"^version {version}: a version is a positive integer"):
            protocol.checked_version(version)
