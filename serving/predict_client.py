"""Sends fundus photographs to TF Serving over gRPC and writes lesion JSON and overlays.

Thin entry point for machines that only serve; the client is
`retina_tf.serving.client.RetinaClient` (also `retina-tf predict`):

    python serving/predict_client.py --server localhost:8500 photo.jpg --out predictions/
"""

import sys

from retina_tf.commands import main as cli

if __name__ == "__main__":
    sys.exit(cli.main(["predict", *sys.argv[1:]]))
