"""Instance masks as the e_ophtha dataset stores them: one PNG per lesion, cropped to its box.

N full-size masks of 1024x1024 would cost N MB per photograph on disk and in
the input pipeline; a crop costs what the lesion covers. These helpers turn
crops into full-size masks where a person or a metric needs them.
"""

import tensorflow as tf


def pixel_boxes(bbox: tf.Tensor, image_size: int) -> tf.Tensor:
    """TFDS's normalised [N, 4] boxes -> int32 pixel boxes (exact: ids are k / image_size).

    Args:
      bbox: [N, 4] (ymin, xmin, ymax, xmax) as fractions of the image side, as the dataset stores them.
      image_size: the dataset's image side S, in pixels.

    Returns:
      [N, 4] int32 boxes in pixels of the S x S image, end exclusive.
    """
    return tf.cast(tf.round(tf.cast(bbox, tf.float32) * image_size), tf.int32)


def decode_crop(png: tf.Tensor) -> tf.Tensor:
    """One stored lesion crop -> bool [h, w].

    Args:
      png: scalar string, one object's `mask` feature (a 0/255 PNG).

    Returns:
      bool [h, w], h x w the size of the lesion's box.
    """
    return tf.io.decode_png(png, channels=1)[..., 0] > 0


def paste_masks(png_crops: tf.Tensor, bbox: tf.Tensor, image_size: int) -> tf.Tensor:
    """[N] PNG crops and [N, 4] normalised boxes -> bool [N, image_size, image_size].

    Args:
      png_crops: [N] string, the objects' `mask` features.
      bbox: [N, 4] float, the objects' `bbox` features; each crop is its box's size.
      image_size: the dataset's image side S, in pixels.

    Returns:
      bool [N, S, S], each crop at its box and False elsewhere.
    """
    boxes = pixel_boxes(bbox, image_size)

    def paste(args):
        png, box = args
        crop = decode_crop(png)
        return tf.pad(crop, [[box[0], image_size - box[2]], [box[1], image_size - box[3]]])

    return tf.map_fn(paste, (png_crops, boxes),
                     fn_output_signature=tf.TensorSpec([image_size, image_size], tf.bool))
