"""`retina-tf serve`: TF Serving's gRPC PredictionService for one exported model, in this process.

SIGTERM or Ctrl-C stops it taking requests, lets those in flight finish
within the grace period, and exits 0 (a second signal stops it at once).
"""

import pathlib
import signal
import sys
import threading

from retina_tf.commands import arguments
from retina_tf.serving.model_base import version_folder
from retina_tf.utils.errors import UserError

GRACE_SECONDS = 25.0
SIGNALS = (signal.SIGTERM, signal.SIGINT)
DESCRIPTION = """\
Serve an exported model over gRPC (TF Serving's PredictionService) from this
process. Production uses the tensorflow/serving container; this server is for
tests, demos and machines without Docker."""


def add_arguments(parser):
    arguments.add_export_base(parser, "TF Serving's model base path (holds <model-name>/<version>/)")
    arguments.add_model_name(parser)
    parser.add_argument("--port", type=int, default=8500, help="gRPC port (default 8500, as TF Serving)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    parser.add_argument("--tls-cert", type=pathlib.Path,
                        help="PEM certificate chain: serve over TLS (with --tls-key; clients pass the CA as "
                             "`retina-tf predict --root-certificates`)")
    parser.add_argument("--tls-key", type=pathlib.Path, help="PEM private key of --tls-cert")
    parser.add_argument("--grace-period", type=float, default=GRACE_SECONDS,
                        help=f"seconds that requests in flight get to finish on SIGTERM or Ctrl-C (default "
                             f"{GRACE_SECONDS:g}, under Kubernetes' 30 s before SIGKILL)")


def run(args):
    from retina_tf.serving import grpc_server  # noqa: PLC0415  TensorFlow loads when the command runs, not for --help

    certificate_chain, private_key = _tls_files(args)
    stopping = threading.Event()
    signalled = []

    def stop(number, frame):
        if stopping.is_set():
            raise KeyboardInterrupt(f"second {signal.Signals(number).name}")
        signalled.append(signal.Signals(number).name)
        stopping.set()

    previous = {number: signal.signal(number, stop) for number in SIGNALS}
    try:
        server, port = grpc_server.start_server(args.export_base, args.model_name, args.port, args.host,
                                                certificate_chain=certificate_chain, private_key=private_key)
        print(f"serving {version_folder(args.export_base / args.model_name)} as model '{args.model_name}' "
              f"on {args.host}:{port} (gRPC PredictionService{', TLS' if certificate_chain else ''}); "
              "SIGTERM or Ctrl-C stops", flush=True)
        while not stopping.wait(1.0):   # wakes for signals, which the main thread handles
            pass
        try:
            server.stop(grace=args.grace_period).wait()
        except KeyboardInterrupt:
            server.stop(None)
            raise
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    print(f"retina-tf serve: {signalled[0]}: stopped, requests in flight given up to {args.grace_period:g} s",
          flush=True)
    return 0


def _tls_files(args) -> tuple[bytes | None, bytes | None]:
    if bool(args.tls_cert) != bool(args.tls_key):
        raise UserError("--tls-cert and --tls-key go together")
    if not args.tls_cert:
        return None, None
    for path in (args.tls_cert, args.tls_key):
        if not path.is_file():
            raise UserError(f"{path}: no such file")
    mode = args.tls_key.stat().st_mode & 0o777
    if mode & 0o077:   # as ssh says of a private key others can read
        print(f"retina-tf serve: warning: {args.tls_key}: the TLS private key is open to other users (mode "
              f"{mode:04o}); chmod 600 it", file=sys.stderr, flush=True)
    return args.tls_cert.read_bytes(), args.tls_key.read_bytes()
