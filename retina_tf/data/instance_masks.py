"""Instance masks as the e_ophtha dataset stores them: one PNG per lesion, cropped to its box.

N full-size masks of 1024x1024 would cost N MB per photograph on disk and in
the input pipeline; a crop costs what the lesion covers. These helpers turn
crops into full-size masks where a person or a metric needs them.
"""

import tensorflow as tf


def pixel_boxes(bbox: tf.Tensor, image_size: int) -> tf.Tensor:
    """TFDS's normalised [N, 4] boxes -> int32 pixel boxes (exact: ids are k / image_size)."""
    return tf.cast(tf.round(tf.cast(bbox, tf.float32) * image_size), tf.int32)


def decode_crop(png: tf.Tensor) -> tf.Tensor:
    """One stored lesion crop -> bool [h, w]."""
    return tf.io.decode_png(png, channels=1)[..., 0] > 0


def paste_masks(png_crops: tf.Tensor, bbox: tf.Tensor, image_size: int) -> tf.Tensor:
    """[N] PNG crops and [N, 4] normalised boxes -> bool [N, image_size, image_size]."""
    boxes = pixel_boxes(bbox, image_size)

    def paste(args):
        png, box = args
        crop = decode_crop(png)
        return tf.pad(crop, [[box[0], image_size - box[2]], [box[1], image_size - box[3]]])

    return tf.map_fn(paste, (png_crops, boxes),
                     fn_output_signature=tf.TensorSpec([image_size, image_size], tf.bool))
