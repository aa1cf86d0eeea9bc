"""Lesion masks stored as box-sized PNG crops, decoded into the training `gt_masks`.

Model Garden's parser resamples every full-size mask at its box; here the
parser only decodes each lesion's crop and pairs it with the map to it from
the model's image (pixel centres, as in ops.geometry), and
modeling.lesion_mask_sampler samples the targets from the crops at the ROIs.
"""

import tensorflow as tf
from official.vision.ops import preprocess_ops

# Crops decoded per loop step: a step costs about as much as decoding a microaneurysm's crop.
_DECODES_PER_STEP = 8


def _decode_crops(mask_pngs):
    """Every crop decoded: their pixels one crop after another, row by row ([sum of areas] uint8, 0 or 1),
    and each crop's [height, width]. The one loop over lesions, kept to what cannot be batched."""
    count = tf.size(mask_pngs)
    steps = (count + _DECODES_PER_STEP - 1) // _DECODES_PER_STEP
    # One-pixel PNGs fill the last step; their pixels come last and are cut off.
    pngs = tf.concat([mask_pngs, tf.fill([steps * _DECODES_PER_STEP - count],
                                         tf.io.encode_png(tf.zeros([1, 1, 1], tf.uint8)))], axis=0)

    def decode(step, pixels, shapes):
        crops = [tf.io.decode_png(pngs[step * _DECODES_PER_STEP + i], channels=1) for i in range(_DECODES_PER_STEP)]
        return (step + 1, pixels.write(step, tf.concat([tf.reshape(crop, [-1]) for crop in crops], axis=0)),
                shapes.write(step, tf.stack([tf.shape(crop)[:2] for crop in crops])))

    _, pixels, shapes = tf.while_loop(
        lambda step, *_: step < steps, decode,
        (0, tf.TensorArray(tf.uint8, size=steps, infer_shape=False, element_shape=[None]),
         tf.TensorArray(tf.int32, size=steps, element_shape=[_DECODES_PER_STEP, 2])),
        parallel_iterations=16)
    shapes = tf.reshape(shapes.stack(), [-1, 2])[:count]
    pixels = tf.cond(steps > 0, pixels.concat, lambda: tf.zeros([0], tf.uint8))   # concat needs a step
    pixels = pixels[:tf.reduce_sum(tf.reduce_prod(shapes, axis=1))]
    return tf.cast(pixels > 0, tf.uint8), shapes


def lesion_mask_crops(mask_pngs, crop_boxes, photograph_to_image, num_lesions: int, max_pixels: int, source_id):
    """The training `gt_masks` that modeling.lesion_mask_sampler samples at the ROIs: each lesion's crop as
    stored, and the map to it from the model's image.

    The parser's only work per lesion is decoding its crop; the targets are
    sampled on the accelerator for the ROIs that need them. Outputs have
    fixed shapes so that photographs batch: `pixels` [max_pixels] uint8 (the
    crops' pixels, 0 or 1, one crop after another, zero-padded), `crops`
    [num_lesions, 3] int32 (start in pixels, height, width; zero rows pad)
    and `to_crop` [num_lesions, 2, 3] float32 (the model's image pixel
    centres (row, column, 1) to the crop's).

    Args:
      mask_pngs: [K] single-channel PNGs, nonzero on the lesion, each the size of its crop box.
      crop_boxes: [K, 4] int32 pixel boxes of the crops in the photograph.
      photograph_to_image: 3x3 float64 map of pixel centres from the photograph to the model's image.
      num_lesions, max_pixels: the fixed sizes (K <= num_lesions).
      source_id: names the photograph when its crops hold more than max_pixels.
    """
    extents = crop_boxes[:, 2:] - crop_boxes[:, :2]
    pixels, shapes = _decode_crops(mask_pngs)
    total = tf.size(pixels)
    checks = [
        tf.debugging.assert_equal(shapes, extents, message="a mask PNG differs from its box"),
        tf.debugging.Assert(total <= max_pixels, [
            f"lesion masks above parser.max_lesion_mask_pixels ({max_pixels}), raise it; photograph",
            source_id, "has", total]),
    ]
    with tf.control_dependencies(checks):
        pixels = tf.pad(pixels, [[0, max_pixels - total]])
    starts = tf.cumsum(extents[:, 0] * extents[:, 1], exclusive=True)
    crops = tf.concat([starts[:, None], extents], axis=1)
    image_to_photograph = tf.linalg.inv(photograph_to_image)[:2]
    origins = tf.pad(tf.cast(crop_boxes[:, :2, None], tf.float64), [[0, 0], [0, 0], [2, 0]])
    to_crop = tf.cast(image_to_photograph[None] - origins, tf.float32)
    return {
        "pixels": tf.ensure_shape(pixels, [max_pixels]),
        "crops": preprocess_ops.clip_or_pad_to_fixed_size(crops, num_lesions, 0),
        "to_crop": preprocess_ops.clip_or_pad_to_fixed_size(to_crop, num_lesions, 0),
    }
