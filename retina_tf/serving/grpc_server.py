"""TF Serving's gRPC PredictionService for one exported model, in this process (`retina-tf serve`).

Production serves the export with the tensorflow/serving container. This
small server speaks the same protocol (`tensorflow.serving.PredictionService`:
Predict and GetModelMetadata) for tests, demos and machines without Docker,
and answers as TF Serving does: the model name must match (else NOT_FOUND),
the signature defaults to serving_default, inputs and outputs travel as
TensorProtos, a photograph the model refuses is INVALID_ARGUMENT with its
one-line reason, anything else INTERNAL, and no failed request stops the
server. Like TF Serving it loads the highest version and replays the
export's warm-up requests before it answers. Unlike gRPC's default it owns
its port alone; it runs WORKERS requests at once and queues up to
MAX_REQUESTS (beyond: RESOURCE_EXHAUSTED), dropping a queued request whose
client has given up (cancelled, or past its deadline) before it runs; TLS
is optional.
"""

import logging
import os
import threading
from concurrent import futures

import grpc
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_log_pb2, prediction_service_pb2_grpc

from retina_tf.serving.predictor import SavedModelPredictor
from retina_tf.serving.protocol import (
    DEFAULT_MODEL_NAME,
    DEFAULT_SIGNATURE,
    EXTRA_FOLDER,
    MESSAGE_OPTIONS,
    WARMUP_FILE,
    PhotographRejected,
    checked_model_name,
)
from retina_tf.utils import storage
from retina_tf.utils.errors import UserError, describe, shown

_LOG = logging.getLogger(__name__)
_MAX_DETAILS = 1000   # characters; gRPC drops a status whose metadata passes its 16 kB hard limit


class _Refusal(Exception):
    """A request the server answers with a status other than OK."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _details(message: str) -> str:
    """A status's details cut to what gRPC carries: what an error repeats from a request can be megabytes."""
    return message if len(message) <= _MAX_DETAILS else f"{message[:_MAX_DETAILS]}..."


class ModelService:
    """PredictionService for one loaded model.

    Classify, Regress and MultiInference answer UNIMPLEMENTED: the export has
    no tf.Example signatures for them.
    """

    def __init__(self, predictor, model_name: str, workers: int):
        self._predictor = predictor
        self._name = model_name
        self._workers = threading.Semaphore(workers)   # the model runs this many requests at once

    # gRPC's method names.
    def Predict(self, request, context):
        if not self._wait_for_a_worker(context):
            return predict_pb2.PredictResponse()   # nobody is left to read it
        try:
            return self._answer(self._predict, request, context)
        finally:
            self._workers.release()

    def GetModelMetadata(self, request, context):
        return self._answer(self._metadata, request, context)

    def _wait_for_a_worker(self, context) -> bool:
        """Holds a queued request until a worker is free; False, with no worker taken, once its client has gone
        (cancelled, or its deadline passed): an abandoned request never runs, and its place in the queue is
        given back at once."""
        while not self._workers.acquire(timeout=_QUEUE_POLL_SECONDS):
            if not context.is_active():
                return False
        if context.is_active():
            return True
        self._workers.release()
        return False

    def _unimplemented(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "only Predict and GetModelMetadata are served")

    Classify = Regress = MultiInference = _unimplemented

    def warm_up(self) -> int:
        """Replays the export's assets.extra warm-up requests, as TF Serving does at load, so the
        first client does not wait for graph optimisation; returns how many ran."""

        path = self._predictor.path / EXTRA_FOLDER / WARMUP_FILE
        if not path.is_file():
            return 0
        count = 0
        for record in tf.data.TFRecordDataset(str(path)):
            request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
            self._run(request.model_spec.signature_name or DEFAULT_SIGNATURE, request.inputs)
            count += 1
        return count

    def _answer(self, handler, request, context):
        """Every failure becomes a status; the server carries on."""
        try:
            return handler(request)
        except _Refusal as refusal:
            context.abort(refusal.code, _details(refusal.message))
        except Exception as error:
            _LOG.exception("request failed")
            context.abort(grpc.StatusCode.INTERNAL, _details(describe(error)))

    def _check_model(self, spec):
        if spec.name != self._name:
            raise _Refusal(grpc.StatusCode.NOT_FOUND, f"model {shown(spec.name)} not found")
        if spec.HasField("version") and spec.version.value != self._predictor.version:
            raise _Refusal(grpc.StatusCode.NOT_FOUND, f"model {shown(spec.name)} version {spec.version.value} not "
                                                      f"found (serving version {self._predictor.version})")

    def _fill_spec(self, spec, signature_name: str = ""):
        spec.name = self._name
        spec.version.value = self._predictor.version
        spec.signature_name = signature_name

    def _run(self, signature_name: str, input_protos) -> dict:
        """Checks the inputs against the signature as TF Serving does, then runs it."""

        signatures = self._predictor.signatures
        if signature_name not in signatures:
            raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT, f"signature {shown(signature_name)} not found; the "
                                                             f"model has {', '.join(sorted(signatures))}")
        specs = signatures[signature_name].structured_input_signature[1]
        if set(input_protos) != set(specs):
            raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT, f"signature {shown(signature_name)} takes input(s) "
                                                             f"{sorted(specs)}, got {sorted(input_protos)}")
        tensors = {}
        for key, spec in specs.items():
            try:
                array = tf.make_ndarray(input_protos[key])
                dtype = tf.as_dtype(input_protos[key].dtype)
            except (TypeError, ValueError) as error:
                raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT, f"input '{key}': {error}") from error
            if dtype != spec.dtype or not spec.shape.is_compatible_with(array.shape):
                raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT,
                               f"input '{key}' must be {spec.dtype.name} of shape {spec.shape}, "
                               f"got {dtype.name} of shape {list(array.shape)}")
            tensors[key] = tf.constant(array, spec.dtype)
        try:
            return self._predictor.run(signature_name, tensors)
        except PhotographRejected as error:
            raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT, str(error)) from error

    def _predict(self, request):

        self._check_model(request.model_spec)
        signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        outputs = self._run(signature_name, request.inputs)
        keys = list(request.output_filter) or sorted(outputs)
        unknown = sorted(set(keys) - set(outputs))
        if unknown:
            raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT,
                           f"output(s) {unknown} not in signature '{signature_name}'")
        response = predict_pb2.PredictResponse()
        self._fill_spec(response.model_spec, signature_name)
        for key in keys:
            response.outputs[key].CopyFrom(tf.make_tensor_proto(outputs[key]))
        return response

    def _metadata(self, request):

        self._check_model(request.model_spec)
        if list(request.metadata_field) != ["signature_def"]:
            raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT, "metadata_field must be ['signature_def'], "
                                                             f"got {list(request.metadata_field)}")
        saved_model = saved_model_pb2.SavedModel.FromString((self._predictor.path / "saved_model.pb").read_bytes())
        signature_defs = get_model_metadata_pb2.SignatureDefMap()
        for name, signature_def in saved_model.meta_graphs[0].signature_def.items():
            if not name.startswith("__"):   # TF Serving hides __saved_model_init_op
                signature_defs.signature_def[name].CopyFrom(signature_def)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        self._fill_spec(response.model_spec)
        response.metadata["signature_def"].Pack(signature_defs)
        return response


# WORKERS requests run the model at once: TensorFlow already spreads one across the cores, and memory grows
# with every request running at once (benchmarks/serving_memory.py). Each of the others admitted waits in a
# thread of its own, holding at most MAX_MESSAGE_BYTES, and leaves the queue as soon as its client gives up;
# beyond MAX_REQUESTS, RESOURCE_EXHAUSTED.
WORKERS = 2
MAX_REQUESTS = 8   # running and queued
_QUEUE_POLL_SECONDS = 0.05   # how soon a queued request sees that its client has gone


def start_server(export_base: str | os.PathLike, model_name: str = DEFAULT_MODEL_NAME, port: int = 0,
                 host: str = "127.0.0.1", workers: int = WORKERS, max_requests: int = MAX_REQUESTS,
                 certificate_chain: bytes | None = None, private_key: bytes | None = None
                 ) -> tuple[grpc.Server, int]:
    """Listens on host:port (0 picks a free one), then loads the highest version of <export_base>/<model_name>,
    warms it up and serves it; over TLS with the PEM certificate chain and private key where given.

    The port is taken first, so a port in use is refused before the model loads: gRPC's SO_REUSEPORT,
    which would let a second server share it and split the requests, is off.
    """
    checked_model_name(model_name)   # one folder of the export base, nothing outside it
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_requests), maximum_concurrent_rpcs=max_requests,
                         options=(*MESSAGE_OPTIONS, ("grpc.so_reuseport", 0)))
    address = f"{host}:{port}"
    try:
        if certificate_chain or private_key:
            bound = server.add_secure_port(address, grpc.ssl_server_credentials([(private_key, certificate_chain)]))
        else:
            bound = server.add_insecure_port(address)
    except RuntimeError as error:
        tls = ", or the TLS certificate and key are not a PEM pair" if certificate_chain or private_key else ""
        raise UserError(f"cannot listen on {address}: the port is taken or the address is not "
                        f"this machine's{tls}") from error
    try:
        service = ModelService(SavedModelPredictor(storage.path(export_base) / model_name), model_name, workers)
        service.warm_up()
    except BaseException:
        server.stop(None)   # gives the port back
        raise
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(service, server)
    server.start()
    return server, bound
