"""Decodes e_ophtha TFDS examples into the dict Model Garden's Mask R-CNN parsers read."""

import tensorflow as tf
from official.vision.dataloaders import decoder

from retina_tf import LESION_CLASSES


class EophthaDecoder(decoder.Decoder):
    """Maps TFDS e_ophtha features to Model Garden's groundtruth keys.

    Class ids shift by one (TFDS labels exudate 0, microaneurysm 1; Model
    Garden keeps 0 for background). Masks stay as the per-lesion PNG crops the
    dataset stores; the lesion parser passes them on for the model to sample.
    Where the dataset stores the annotation as drawn at its resolution
    (`lesion_pixels`, for validation's pixel AUPR), its PNGs come along as
    [2] strings in TFDS order, b"" where a type is not annotated; datasets
    built before lack it.
    """

    def decode(self, serialized_example):
        example = serialized_example   # TFDS hands over decoded features, not a serialized proto
        objects = example["objects"]
        image = example["image"]
        decoded = {
            "source_id": tf.strings.as_string(example["image/id"]),
            "image": image,
            "height": tf.shape(image)[0],
            "width": tf.shape(image)[1],
            "groundtruth_classes": tf.cast(objects["label"], tf.int64) + 1,
            "groundtruth_is_crowd": tf.cast(objects["is_crowd"], tf.bool),
            "groundtruth_area": tf.cast(objects["area"], tf.float32),
            "groundtruth_boxes": tf.cast(objects["bbox"], tf.float32),
            "groundtruth_instance_mask_pngs": objects["mask"],
            # Status index (retina_tf.STATUSES) per lesion type: evaluation scores known types only.
            "annotation": tf.stack([tf.cast(example["annotation"][lesion], tf.int32) for lesion in LESION_CLASSES]),
        }
        if "lesion_pixels" in example:
            decoded["lesion_pixels"] = tf.stack([example["lesion_pixels"][lesion] for lesion in LESION_CLASSES])
        return decoded
