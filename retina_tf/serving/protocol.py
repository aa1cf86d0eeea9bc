"""What the export, the model server and its clients agree on: names, signatures, files, message sizes.

TF Serving's own conventions where it has them: `serving_default`, the
model base's numeric version folders, assets.extra/tf_serving_warmup_requests.
"""

DEFAULT_MODEL_NAME = "retina"

DEFAULT_SIGNATURE = "serving_default"    # encoded JPEG/PNG photographs -> lesions
NORMALISED_SIGNATURE = "normalised"      # already normalised uint8 images -> lesions
SIGNATURES = (DEFAULT_SIGNATURE, NORMALISED_SIGNATURE)
PHOTOGRAPHS_INPUT = "photographs"
IMAGES_INPUT = "images"
# Output keys of both signatures.
OUTPUT_KEYS = ("num_lesions", "classes", "names", "scores", "boxes", "masks", "geometry")

EXTRA_FOLDER = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"   # replayed by TF Serving at load
METADATA_FILE = "retina_tf.json"             # what was exported: checkpoint, normalisation, figures

# A batch of full-size fundus photographs in, masks out.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
MESSAGE_OPTIONS = (("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES))
