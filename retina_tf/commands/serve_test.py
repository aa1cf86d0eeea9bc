"""`retina-tf serve` as an operator runs it: one server per port, and SIGTERM drains the requests in flight."""

import os
import signal
import threading
import time

import grpc
from tensorflow_serving.apis import get_model_metadata_pb2, model_pb2, prediction_service_pb2_grpc

from retina_tf.commands import main as cli
from retina_tf.serving.grpc_server_test import _request, fixture_blocked_predictions  # noqa: F401  the fixture
from retina_tf.testing.ports import free_ports


def test_a_port_in_use_is_one_line_naming_it(served, capsys):
    port = served.target.rsplit(":", 1)[1]
    assert cli.main(["serve", "--export-base", "/nonexistent-export-base", "--port", port]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("retina-tf serve: ") and line.endswith(
        f"cannot listen on 127.0.0.1:{port}: the port is taken or the address is not this machine's")


def test_sigterm_drains_the_requests_in_flight_then_exits_0(exported, photograph_bytes, blocked_predictions, capsys):
    entered, release = blocked_predictions
    release.set()   # the warm-up runs unblocked
    [port] = free_ports(1)
    answers, refusals = [], []

    def operator():
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=120)
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            release.clear()
            entered.clear()
            in_flight = stub.Predict.future(_request(photograph_bytes[:1]), timeout=60)
            assert entered.wait(60)
            os.kill(os.getpid(), signal.SIGTERM)
            metadata = get_model_metadata_pb2.GetModelMetadataRequest(
                model_spec=model_pb2.ModelSpec(name="retina"), metadata_field=["signature_def"])
            for _ in range(600):   # until the server stops taking new requests
                try:
                    stub.GetModelMetadata(metadata, timeout=10)
                except grpc.RpcError as error:
                    refusals.append(error.code())
                    break
                time.sleep(0.1)
            else:
                os.kill(os.getpid(), signal.SIGINT)   # a server deaf to SIGTERM: stop it, let the test fail
            release.set()
            answers.append(in_flight.result())

    thread = threading.Thread(target=operator)
    thread.start()
    unhandled = signal.signal(signal.SIGTERM, lambda number, frame: None)   # never this test process's end
    try:
        status = cli.main(["serve", "--export-base", str(exported.export_base), "--port", str(port)])
    finally:
        signal.signal(signal.SIGTERM, unhandled)
    thread.join(60)
    assert status == 0 and not thread.is_alive()
    assert len(answers) == 1 and answers[0].outputs["num_lesions"]
    # Refused (as UNAVAILABLE or CANCELLED, as gRPC's shutdown finds it) while the first was still in flight.
    assert len(refusals) == 1 and refusals[0] in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
    assert capsys.readouterr().out.splitlines()[-1] == (
        "retina-tf serve: SIGTERM: stopped, requests in flight given up to 25 s")


def test_a_tls_key_other_users_can_read_is_named_in_a_warning(tmp_path, capsys):
    certificate, key = tmp_path / "server.crt", tmp_path / "server.key"
    certificate.write_text("not a PEM certificate")
    key.write_text("not a PEM key")
    arguments = ["serve", "--export-base", str(tmp_path / "base"), "--port", "0", "--tls-cert", str(certificate),
                 "--tls-key", str(key)]
    for mode, warned in ((0o666, True), (0o640, True), (0o600, False)):
        key.chmod(mode)
        assert cli.main(arguments) == 1   # the pair is no PEM: refused after the warning
        lines = capsys.readouterr().err.splitlines()
        warning = (f"retina-tf serve: warning: {key}: the TLS private key is open to other users (mode {mode:04o}); "
                   "chmod 600 it")
        assert (lines[0] == warning) == warned and len(lines) == 1 + warned, lines
