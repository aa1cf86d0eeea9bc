"""Tests for the gRPC client: same lesions as local prediction, clear errors, retries, concurrency."""

import socket
import threading
import time

import pytest

from retina_tf.serving.client import RetinaClient
from retina_tf.serving.predictor import PhotographRejected
from retina_tf.utils.errors import UserError


def _closed_port() -> int:
    """A port nothing listens on: bound, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_client_gets_what_local_prediction_gives(served, local_predictor, photograph_bytes,
                                                      assert_same_lesions):
    with RetinaClient(served.target) as client:
        found = client.predict(photograph_bytes, ["a.jpg", "b.png"])
    expected = local_predictor.predict(photograph_bytes, ["a.jpg", "b.png"])
    assert_same_lesions(found, expected)
    assert all(record.lesions for record in found)
    # The operating point travels in the answer: TF Serving's clients cannot read the export's assets.extra.
    assert [record.operating_point for record in found] == [record.operating_point for record in expected]
    assert found[0].operating_point.chosen_by == "default: the paper's minimum detection confidence"
    assert [[lesion.reported for lesion in record.lesions] for record in found] == [
        [lesion.reported for lesion in record.lesions] for record in expected]


def test_a_minimum_score_replaces_the_served_operating_point(served, photograph_bytes):
    with RetinaClient(served.target) as client:
        [every] = client.predict(photograph_bytes[:1], min_score=0.0)
    assert every.lesions and all(lesion.reported for lesion in every.lesions)
    assert every.operating_point.thresholds == {"exudate": 0.0, "microaneurysm": 0.0}
    assert every.reported_counts() == every.counts()


def test_a_refused_photograph_carries_the_servers_reason(served, photograph_bytes):
    with RetinaClient(served.target) as client:
        with pytest.raises(PhotographRejected, match=r"^photographs\[1\]: not a JPEG or PNG photograph \(4 bytes\)$"):
            client.predict([photograph_bytes[0], b"%PDF"])


def test_an_unknown_model_is_named(served, photograph_bytes):
    with RetinaClient(served.target, model_name="glaucoma") as client:
        with pytest.raises(UserError, match=f"^model 'glaucoma' not found on {served.target}$"):
            client.predict(photograph_bytes[:1])


def test_a_server_that_is_down_is_retried_then_named(photograph_bytes):
    target = f"127.0.0.1:{_closed_port()}"
    start = time.perf_counter()
    with RetinaClient(target, timeout=5, retries=2, backoff=0.05) as client:
        with pytest.raises(UserError) as raised:
            client.predict(photograph_bytes[:1])
    assert str(raised.value) == f"cannot reach the model server at {target} (UNAVAILABLE) after 3 tries"
    assert 0.15 <= time.perf_counter() - start < 5   # backoff 0.05 s, then 0.1 s


def test_a_slow_answer_is_a_deadline(served, photograph_bytes):
    with RetinaClient(served.target, timeout=0.001) as client:
        with pytest.raises(UserError, match="did not answer within 0.001 s"):
            client.predict(photograph_bytes[:1])


def test_tls_is_required_of_the_server_when_asked(served, photograph_bytes):
    # The test server speaks plaintext: the TLS handshake fails, as against a misconfigured endpoint.
    with RetinaClient(served.target, tls=True, retries=0, timeout=10) as client:
        with pytest.raises(UserError, match="UNAVAILABLE"):
            client.predict(photograph_bytes[:1])


def test_eight_clients_at_once_get_every_answer(served, local_predictor, photograph_bytes):
    photograph = photograph_bytes[1]
    expected = [lesion.type for lesion in local_predictor.predict([photograph])[0].lesions]
    errors, answers = [], []

    def client_thread():
        with RetinaClient(served.target, timeout=60) as client:
            for _ in range(20):
                try:
                    answers.append([lesion.type for lesion in client.predict([photograph])[0].lesions])
                except Exception as error:
                    errors.append(error)

    threads = [threading.Thread(target=client_thread) for _ in range(8)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors and len(answers) == 160 and all(answer == expected for answer in answers)
    assert time.perf_counter() - start < 180
