"""Tests for `retina-tf serve`: TF Serving's PredictionService protocol, spoken by raw stubs."""

import pathlib
import shutil
import socket
import subprocess
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    model_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from retina_tf.commands import main as cli
from retina_tf.serving import grpc_server
from retina_tf.serving.client import RetinaClient
from retina_tf.serving.export_test import BAD_REQUESTS
from retina_tf.serving.predictor import SavedModelPredictor
from retina_tf.serving.protocol import OUTPUT_KEYS
from retina_tf.utils.errors import UserError


@pytest.fixture(name="stub", scope="module")
def fixture_stub(served):
    with grpc.insecure_channel(served.target) as channel:
        yield prediction_service_pb2_grpc.PredictionServiceStub(channel)


def _request(photographs, model_name="retina", signature_name="", **inputs):
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=model_name,
                                                                        signature_name=signature_name))
    if photographs is not None:
        request.inputs["photographs"].CopyFrom(tf.make_tensor_proto(photographs, dtype=tf.string))
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    return request


def _refusal(stub, request, timeout: float = 60) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        stub.Predict(request, timeout=timeout)
    return raised.value


def test_predict_answers_what_the_local_model_answers(stub, served, local_predictor, photograph_bytes):
    response = stub.Predict(_request(photograph_bytes), timeout=60)
    spec = response.model_spec
    assert (spec.name, spec.version.value, spec.signature_name) == ("retina", served.version, "serving_default")
    assert set(response.outputs) == set(OUTPUT_KEYS)
    local = local_predictor.run("serving_default", {"photographs": tf.constant(photograph_bytes)})
    for key, value in local.items():
        remote = tf.make_ndarray(response.outputs[key])
        if value.dtype == object:
            np.testing.assert_array_equal(remote, value)
        else:
            np.testing.assert_allclose(remote, value, atol=1e-4, err_msg=key)


def test_the_normalised_signature_and_an_output_filter(stub):
    request = _request(None, signature_name="normalised", images=np.full((1, 512, 512, 3), 128, np.uint8))
    request.output_filter.extend(["geometry", "num_lesions"])
    response = stub.Predict(request, timeout=60)
    assert set(response.outputs) == {"geometry", "num_lesions"}
    np.testing.assert_array_equal(tf.make_ndarray(response.outputs["geometry"]), [[0, 0, 512, 512, 512, 512]])


@pytest.mark.parametrize("case", BAD_REQUESTS)
def test_a_bad_photograph_is_invalid_argument_and_the_server_goes_on(stub, photograph_bytes, case):
    photographs, reason = BAD_REQUESTS[case]
    error = _refusal(stub, _request(photographs(photograph_bytes[0])))
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, reason)
    assert stub.Predict(_request(photograph_bytes[:1]), timeout=60).outputs["num_lesions"]


@pytest.mark.parametrize("request_kwargs, code, message", [
    ({"model_name": "glaucoma"}, grpc.StatusCode.NOT_FOUND, "model 'glaucoma' not found"),
    ({"signature_name": "classify"}, grpc.StatusCode.INVALID_ARGUMENT,
     "signature 'classify' not found; the model has normalised, serving_default"),
    ({"images": np.zeros((1, 8, 8, 3), np.uint8)}, grpc.StatusCode.INVALID_ARGUMENT,
     "signature 'serving_default' takes input(s) ['photographs'], got ['images', 'photographs']"),
])
def test_requests_for_what_is_not_served_are_refused(stub, photograph_bytes, request_kwargs, code, message):
    error = _refusal(stub, _request(photograph_bytes[:1], **request_kwargs))
    assert (error.code(), error.details()) == (code, message)


def test_a_wrong_input_type_is_invalid_argument(stub):
    request = _request(None)
    request.inputs["photographs"].CopyFrom(tf.make_tensor_proto(np.zeros((1, 4), np.float32)))
    error = _refusal(stub, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "input 'photographs' must be string of shape (None,), got float32 of shape [1, 4]"


@pytest.mark.parametrize("request_kwargs, code, echoed", [
    ({"model_name": "x" * 100_000}, grpc.StatusCode.NOT_FOUND, "model 'xxxx"),
    ({"signature_name": "y" * 100_000}, grpc.StatusCode.INVALID_ARGUMENT, "signature 'yyyy"),
])
def test_a_refusal_repeats_only_the_start_of_a_huge_name(stub, photograph_bytes, request_kwargs, code, echoed):
    """Echoed whole, a 100 kB name would pass gRPC's metadata limit: RESOURCE_EXHAUSTED instead of the reason."""
    error = _refusal(stub, _request(photograph_bytes[:1], **request_kwargs))
    assert error.code() == code and error.details().startswith(echoed), error.details()[:200]
    assert "(100000 characters)" in error.details() and len(error.details()) < 300


def test_a_wrong_version_is_not_found(stub, served, photograph_bytes):
    request = _request(photograph_bytes[:1])
    request.model_spec.version.value = served.version + 40
    error = _refusal(stub, request)
    assert error.code() == grpc.StatusCode.NOT_FOUND and f"version {served.version + 40} not found" in error.details()


def test_model_metadata_lists_the_signatures(stub, served):
    request = get_model_metadata_pb2.GetModelMetadataRequest(
        model_spec=model_pb2.ModelSpec(name="retina"), metadata_field=["signature_def"])
    response = stub.GetModelMetadata(request, timeout=30)
    assert (response.model_spec.name, response.model_spec.version.value) == ("retina", served.version)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    assert set(signatures.signature_def) == {"serving_default", "normalised"}
    assert set(signatures.signature_def["serving_default"].inputs) == {"photographs"}
    assert set(signatures.signature_def["normalised"].outputs) == set(OUTPUT_KEYS)


def test_classify_is_unimplemented(stub):
    with pytest.raises(grpc.RpcError) as raised:
        stub.Classify(classification_pb2.ClassificationRequest(model_spec=model_pb2.ModelSpec(name="retina")),
                      timeout=30)
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_serve_help_points_production_to_tf_serving(capsys):
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    assert "tensorflow/serving container" in " ".join(capsys.readouterr().out.split())


def test_a_taken_port_is_named(exported):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=f"cannot listen on 127.0.0.1:{port}: the port is taken"):
            grpc_server.start_server(exported.export_base, "retina", port=port)


def test_a_port_another_model_server_listens_on_is_refused(served):
    # gRPC binds with SO_REUSEPORT by default: a second server would share the port and split the requests.
    port = int(served.target.rsplit(":", 1)[1])
    with pytest.raises(UserError, match=f"^cannot listen on 127.0.0.1:{port}: the port is taken"):
        grpc_server.start_server("/nonexistent-export-base", "retina", port=port)


@pytest.fixture(name="blocked_predictions")
def fixture_blocked_predictions(monkeypatch):
    """Predictions wait for `release` once they have set `entered`: requests stay in flight while a test looks."""
    entered, release = threading.Event(), threading.Event()
    run = SavedModelPredictor.run

    def blocked_run(self, *args, **kwargs):
        entered.set()
        assert release.wait(60)
        return run(self, *args, **kwargs)

    monkeypatch.setattr(SavedModelPredictor, "run", blocked_run)
    yield entered, release
    release.set()


def test_requests_over_the_concurrency_limit_are_resource_exhausted(exported, photograph_bytes, blocked_predictions):
    entered, release = blocked_predictions
    release.set()
    server, port = grpc_server.start_server(exported.export_base, workers=1, max_requests=1)   # warms up unblocked
    release.clear()
    entered.clear()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            first = stub.Predict.future(_request(photograph_bytes[:1]), timeout=60)
            assert entered.wait(60)
            error = _refusal(stub, _request(photograph_bytes[:1]))
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            with RetinaClient(f"127.0.0.1:{port}", retries=0) as client:
                with pytest.raises(UserError, match=r" is busy \(RESOURCE_EXHAUSTED\) after 1 try$"):
                    client.predict(photograph_bytes[:1])
            with RetinaClient(f"127.0.0.1:{port}", retries=8, backoff=0.1) as client:   # up to 25.5 s of retries
                threading.Timer(0.5, release.set).start()
                assert client.predict(photograph_bytes[:1])[0].width == 480   # once the first is done
            assert first.result().outputs["num_lesions"]
    finally:
        server.stop(None)


def self_signed_certificate(folder: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """(certificate, private key) PEM files for localhost and 127.0.0.1, made by the openssl binary."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl binary makes the test certificate")
    certificate, key = folder / "server.crt", folder / "server.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(certificate)], check=True, capture_output=True)
    return certificate, key


def test_tls_serves_the_client_that_trusts_the_certificate(exported, photograph_bytes, tmp_path, capsys):
    certificate, key = self_signed_certificate(tmp_path)
    photograph = tmp_path / "photograph.jpg"
    photograph.write_bytes(photograph_bytes[0])
    server, port = grpc_server.start_server(exported.export_base, certificate_chain=certificate.read_bytes(),
                                            private_key=key.read_bytes())
    try:
        assert cli.main(["predict", "--server", f"localhost:{port}", "--root-certificates", str(certificate),
                         str(photograph), "--out", str(tmp_path / "out")]) == 0
        assert "1 of 1 photographs predicted" in capsys.readouterr().out
        with RetinaClient(f"localhost:{port}", retries=0, timeout=10) as plaintext:
            with pytest.raises(UserError, match="UNAVAILABLE"):
                plaintext.predict(photograph_bytes[:1])
    finally:
        server.stop(None)


def test_requests_abandoned_in_the_queue_never_run_and_give_their_place_back(
        exported, photograph_bytes, blocked_predictions, monkeypatch):
    entered, release = blocked_predictions
    release.set()
    server, port = grpc_server.start_server(exported.export_base, workers=1, max_requests=3)   # warms up unblocked
    release.clear()
    entered.clear()
    runs = []
    blocked_run = SavedModelPredictor.run
    monkeypatch.setattr(SavedModelPredictor, "run", lambda self, *args: runs.append(1) or blocked_run(self, *args))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            first = stub.Predict.future(_request(photograph_bytes[:1]), timeout=60)
            assert entered.wait(60)   # the one worker is busy: what follows waits in the queue
            abandoned = [stub.Predict.future(_request(photograph_bytes[:1]), timeout=0.5) for _ in range(2)]
            for future in abandoned:
                assert future.exception(10).code() == grpc.StatusCode.DEADLINE_EXCEEDED
            # Their places are given back while the worker is still busy: a new request is queued, not refused.
            deadline, code = time.monotonic() + 10, None
            while code != grpc.StatusCode.DEADLINE_EXCEEDED and time.monotonic() < deadline:
                code = _refusal(stub, _request(photograph_bytes[:1]), timeout=0.3).code()
                assert code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED), code
            assert code == grpc.StatusCode.DEADLINE_EXCEEDED, "the abandoned requests still hold the queue"
            release.set()
            assert first.result(60).outputs["num_lesions"]
            time.sleep(0.5)   # what would have run after the first has had its chance
            assert len(runs) == 1, f"{len(runs)} requests ran; only the first was still awaited"
    finally:
        server.stop(None)
