"""Exports a trained model_dir as a SavedModel version for TF Serving.

Thin entry point, as Model Garden's export_saved_model.py scripts are; the
work is `retina_tf.serving.export` (also `retina-tf export`):

    python export/export_saved_model.py --model-dir runs/paper --export-base serving/models --model-name retina
"""

import sys

from retina_tf.commands import main as cli

if __name__ == "__main__":
    sys.exit(cli.main(["export", *sys.argv[1:]]))
