"""What the export, the model server and its clients agree on: names, signatures, files, message sizes.

TF Serving's own conventions where it has them: `serving_default`, the
model base's numeric version folders, assets.extra/tf_serving_warmup_requests.
"""

import re

from retina_tf.utils.errors import UserError, shown

DEFAULT_MODEL_NAME = "retina"
_MODEL_NAME = re.compile(r"[A-Za-z0-9_.-]+")

DEFAULT_SIGNATURE = "serving_default"    # encoded JPEG/PNG photographs -> lesions
NORMALISED_SIGNATURE = "normalised"      # already normalised uint8 images -> lesions
SIGNATURES = (DEFAULT_SIGNATURE, NORMALISED_SIGNATURE)
PHOTOGRAPHS_INPUT = "photographs"
IMAGES_INPUT = "images"
# Output keys of both signatures. The last three are the export's operating point, in the graph because a client
# of TF Serving cannot read assets.extra: `thresholds` [batch, lesion types] (the score from which each type is
# reported, in LESION_CLASSES order), `reported` [batch, slots] (a lesion at or above its type's threshold) and
# `chosen_by` [batch] (how the thresholds were chosen).
OUTPUT_KEYS = ("num_lesions", "classes", "names", "scores", "boxes", "masks", "geometry",
               "thresholds", "reported", "chosen_by")

EXTRA_FOLDER = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"   # replayed by TF Serving at load
METADATA_FILE = "retina_tf.json"             # what was exported: checkpoint, normalisation, figures

# The pixel budget of serving_default, checked in the graph from the photographs' headers before anything is
# decoded, so TF Serving keeps it too. Memory follows the largest photograph (one is decoded and normalised at
# a time, and the crop squared for the normalisation can reach its longer side squared) and the number of
# photographs (the model runs on all of them at once); the total bounds the work of one call.
# 24 Mpx: 6000x4000, the 24-megapixel camera bodies some fundus cameras carry; IDRiD's 4288x2848 (12.2 Mpx)
# and e-ophtha's largest, 2544x1696 (4.3 Mpx), fit with room to spare.
MAX_PHOTOGRAPH_PIXELS = 24_000_000
MAX_PHOTOGRAPH_SIDE = 6000
# Four photographs a call (`retina-tf predict`'s batch, batching.config's max_batch_size) and 50 Mpx in all:
# four of IDRiD's size (48.9 Mpx) or two of the largest.
MAX_BATCH_PHOTOGRAPHS = 4
MAX_BATCH_PIXELS = 50_000_000

# A batch of full-size fundus photographs in, masks out.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
MESSAGE_OPTIONS = (("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES))


def checked_model_name(name: str) -> str:
    """A model name that is one folder of the export base, as TF Serving names models: letters, digits, -, _
    and ., not . or .. (which would leave the base).

    Raises:
      UserError: naming the name (cut short) and the rule.
    """
    if not _MODEL_NAME.fullmatch(name) or name in (".", ".."):
        raise UserError(f"model name {shown(name)}: a model name is one folder of the export base, of letters, "
                        "digits, -, _ and . (not . or ..)")
    return name


def checked_version(version: int) -> int:
    """A version folder TF Serving loads: a positive integer.

    Raises:
      UserError: naming the version.
    """
    if version < 1:
        raise UserError(f"version {version}: a version is a positive integer (TF Serving loads 1, 2, ...)")
    return version


class PhotographRejected(UserError):
    """The model refused its input (an unreadable, empty or oversized photograph).

    Raised alike by the local predictor and the gRPC client, so a caller can
    retry the rest of a batch without the bad photograph whichever way it ran.
    """
