"""How long abandoned requests keep `retina-tf serve` refusing new ones.

Eight clients each send a large request (four 4288x2848 photographs, IDRiD's size) and give up after 0.5 s,
as impatient clients or a load balancer's timeout do. The server (the untrained smoke model,
configs/smoke_cpu.yaml, exported here; WORKERS 2, MAX_REQUESTS 8) has two of them running by then and the
others queued. From the moment the last one gave up, a probe request is sent every 0.1 s with a 0.2 s
deadline: the figure is the time until the server admits one (its deadline passes in the queue, or it is
answered) instead of answering RESOURCE_EXHAUSTED, and then how many of the eight requests the model ran.

    python benchmarks/abandoned_requests.py
"""

import os
import pathlib
import tempfile
import time

import grpc
import tensorflow as tf
from official.core import task_factory
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_service_pb2_grpc

from retina_tf import registry_imports  # noqa: F401  task_factory: the retina_maskrcnn task
from retina_tf.configs import SMOKE_CPU
from retina_tf.configs.experiment import layered_params
from retina_tf.serving import grpc_server
from retina_tf.serving.predictor import SavedModelPredictor
from retina_tf.testing.serving import export_weights, photograph


def _request(photographs):
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name="retina"))
    request.inputs["photographs"].CopyFrom(tf.make_tensor_proto(photographs, dtype=tf.string))
    return request


def main():
    runs = []
    run = SavedModelPredictor.run
    def counted(self, signature, inputs):   # the photographs of each call the model runs
        runs.append(len(inputs["photographs"]))
        return run(self, signature, inputs)

    SavedModelPredictor.run = counted
    large = _request([photograph(4288, 2848, render_scale=2)] * 4)
    probe = _request([photograph(640, 480)])
    with tempfile.TemporaryDirectory() as workdir:
        params = layered_params([SMOKE_CPU])
        export_weights([SMOKE_CPU], task_factory.get_task(params.task).build_model(), pathlib.Path(workdir), "retina")
        server, port = grpc_server.start_server(pathlib.Path(workdir) / "export")
        runs.clear()   # the warm-up's
        try:
            with grpc.insecure_channel(f"127.0.0.1:{port}", options=grpc_server.MESSAGE_OPTIONS) as channel:
                stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
                abandoned = [stub.Predict.future(large, timeout=0.5) for _ in range(8)]
                codes = [future.exception().code().name for future in abandoned]
                gave_up = time.monotonic()
                refused = 0
                while True:
                    try:
                        stub.Predict(probe, timeout=0.2)
                        break
                    except grpc.RpcError as error:
                        if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                            break
                        refused += 1
                    time.sleep(0.1)
                admitted = time.monotonic() - gave_up
                time.sleep(max(0.0, 15 - admitted))   # what would still run after them has had its chance
        finally:
            server.stop(None)
    large_runs = runs.count(4)
    print(f"machine: {os.cpu_count()} CPUs; TF {tf.__version__}; smoke model, untrained")
    print(f"8 large requests given up after 0.5 s: {', '.join(sorted(set(codes)))}")
    print(f"a new request admitted {admitted:.2f} s after they gave up ({refused} probes refused RESOURCE_EXHAUSTED "
          f"before); the model ran {large_runs} of the 8 abandoned requests")


if __name__ == "__main__":
    main()
