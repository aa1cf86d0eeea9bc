"""The gRPC client of the model server (TF Serving, or `retina-tf serve`), on tensorflow-serving-api's stubs.

Encoded JPEG/PNG photographs go out; `PhotographLesions` come back, the same
records the local predictor makes, each lesion marked reported or not by the
operating point the served model answers with. Each call has a deadline. Only
UNAVAILABLE (the server down, restarting or not listening yet) and
RESOURCE_EXHAUSTED (its queue full for now; gRPC also counts a request
answered a moment ago until its thread is done) are retried, with
exponential backoff: every other failure would fail again the same way.
Failures end as UserErrors that say what to fix.
"""

import time
from collections.abc import Sequence

import grpc
import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_service_pb2_grpc

from retina_tf.serving import lesion_records
from retina_tf.serving.protocol import (
    DEFAULT_MODEL_NAME,
    DEFAULT_SIGNATURE,
    MESSAGE_OPTIONS,
    PHOTOGRAPHS_INPUT,
    PhotographRejected,
)
from retina_tf.utils.errors import UserError

# Answers that time may change: retried, then named this way once the retries are spent.
_PASSING = {grpc.StatusCode.UNAVAILABLE: "cannot reach the model server at {target}",
            grpc.StatusCode.RESOURCE_EXHAUSTED: "the model server at {target} is busy"}


class RetinaClient:
    """One model server, one channel; share it between threads (gRPC channels are thread-safe).

    Args:
      target: the server's host:port.
      model_name: the served model's name (TF Serving's model_config name).
      timeout: each call's deadline, in seconds.
      retries: further tries after an UNAVAILABLE or RESOURCE_EXHAUSTED answer, `backoff` seconds before the
        first and twice as long before each next one.
      tls: talk TLS, trusting the system's roots.
      root_certificates: PEM bytes for a server with a private CA (TLS; the system's roots otherwise).
      backoff: seconds before the first retry.
    """

    def __init__(self, target: str, model_name: str = DEFAULT_MODEL_NAME, timeout: float = 60.0, retries: int = 3,
                 tls: bool = False, root_certificates: bytes | None = None, backoff: float = 0.5):
        self.target = target
        self.model_name = model_name
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        if tls or root_certificates:
            credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self._channel = grpc.secure_channel(target, credentials, options=MESSAGE_OPTIONS)
        else:
            self._channel = grpc.insecure_channel(target, options=MESSAGE_OPTIONS)
        self._stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)

    def __enter__(self) -> "RetinaClient":
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        """Closes the channel; calls after it fail."""
        self._channel.close()

    def predict(self, photographs: Sequence[bytes], names: Sequence[str] | None = None,
                min_score: float | None = None) -> list[lesion_records.PhotographLesions]:
        """Lesions on encoded JPEG/PNG photographs (one request), in original-photograph pixels.

        Args:
          photographs: the encoded photographs (within protocol's budget: at most MAX_BATCH_PHOTOGRAPHS).
          names: their names in the records (default: numbered).
          min_score: report lesions from this score, whatever their type, instead of the served
            model's operating point.

        Returns:
          One record per photograph, every lesion the model kept, the reported ones marked.

        Raises:
          PhotographRejected: the model refused a photograph (unreadable, too small or too large, grayscale, no
            field of view) or the request (too many photographs or pixels); one line, naming the photograph's
            place in a request of more than one.
          UserError: the server unreachable after the retries, the model not found, the deadline passed, any other
            failure of the server, or (without min_score) a model exported without an operating point.
          ValueError: names and photographs differ in number.
        """
        request = predict_pb2.PredictRequest(
            model_spec=model_pb2.ModelSpec(name=self.model_name, signature_name=DEFAULT_SIGNATURE))
        request.inputs[PHOTOGRAPHS_INPUT].CopyFrom(tf.make_tensor_proto(list(photographs), dtype=tf.string))
        response = self._call(request)
        return lesion_records.batch_lesions({key: tf.make_ndarray(proto) for key, proto in response.outputs.items()},
                                            names, min_score)

    def _call(self, request):
        tries = self.retries + 1
        for attempt in range(tries):
            try:
                return self._stub.Predict(request, timeout=self.timeout)
            except grpc.RpcError as error:
                code = error.code()
                if code not in _PASSING:
                    raise self._user_error(error) from error
            if attempt + 1 < tries:
                time.sleep(self.backoff * 2**attempt)
        raise UserError(f"{_PASSING[code].format(target=self.target)} ({code.name}) after {tries} "
                        f"{'try' if tries == 1 else 'tries'}")

    def _user_error(self, error: grpc.RpcError) -> UserError:
        code, details = error.code(), error.details()
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            return PhotographRejected(details)
        if code == grpc.StatusCode.NOT_FOUND:
            return UserError(f"model '{self.model_name}' not found on {self.target}")
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return UserError(f"the model server at {self.target} did not answer within {self.timeout:g} s "
                             "(DEADLINE_EXCEEDED)")
        return UserError(f"the model server at {self.target} failed: {details} ({code.name})")
