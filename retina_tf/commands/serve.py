"""`retina-tf serve`: TF Serving's gRPC PredictionService for one exported model, in this process."""


from retina_tf import storage
from retina_tf.serving.model_base import version_folder
from retina_tf.serving.protocol import DEFAULT_MODEL_NAME


def add_arguments(parser):
    parser.description = (
        "Serve an exported model over gRPC (TF Serving's PredictionService) from this process. "
        "Production uses the tensorflow/serving container; this server is for tests, demos and "
        "machines without Docker.")
    parser.add_argument("--export-base", type=storage.path, required=True,
                        help="TF Serving's model base path (holds <model-name>/<version>/)")
    parser.add_argument("--model-name", default=DEFAULT_MODEL_NAME, help=f"model name (default {DEFAULT_MODEL_NAME})")
    parser.add_argument("--port", type=int, default=8500, help="gRPC port (default 8500, as TF Serving)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")


def run(args):
    from retina_tf.serving import grpc_server  # noqa: PLC0415  TensorFlow loads when the command runs, not for --help

    server, port = grpc_server.start_server(args.export_base, args.model_name, args.port, args.host)
    try:
        print(f"serving {version_folder(args.export_base / args.model_name)} as model '{args.model_name}' "
              f"on {args.host}:{port} (gRPC PredictionService); Ctrl-C stops", flush=True)
        server.wait_for_termination()
    except KeyboardInterrupt:
        server.stop(grace=2).wait()
        print("retina-tf serve: stopped")
