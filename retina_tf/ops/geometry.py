"""The paper's geometric augmentation, the resize and the training window as one map, so a photograph is resampled once.

Coordinates: a pixel box (ymin, xmin, ymax, xmax) runs along pixel edges
(pixel i covers [i, i + 1)); the maps are 3x3 matrices of pixel centres
(row, column, 1).
"""

from typing import NamedTuple, Sequence, Union

import tensorflow as tf
from official.vision.ops import box_ops

TensorLike = Union[tf.Tensor, bool, int, float, Sequence[float]]


class Augmentation(NamedTuple):
    """One draw of the paper's geometric augmentation, applied in field order.

    rot90 counts quarter turns counter-clockwise, as np.rot90 and
    tf.image.rot90 do (-1 is a clockwise turn). scale and translate are
    (y, x): scale about the image centre, then shift by a fraction of the side
    (positive moves the content down / right). window (y, x) places the
    training window, when the parser cuts one, as a fraction of the room
    left around it (0 top / left, 1 bottom / right); with window_lesion in
    [0, 1) the window holds a lesion instead, the one at that fraction of the
    lesions in view, and window places the lesion's centre inside the window
    (as far as the image's edges allow). Python values force a transform
    (tests); the lesion parser's sample_augmentation draws tensors inside a
    tf.data map.
    """

    hflip: TensorLike = False
    vflip: TensorLike = False
    rot90: TensorLike = 0
    scale: TensorLike = (1.0, 1.0)
    translate: TensorLike = (0.0, 0.0)
    window: TensorLike = (0.0, 0.0)
    window_lesion: TensorLike = -1.0


def _affine(yy, yx, y0, xy, xx, x0):
    """The 3x3 matrix of (y, x) -> (yy*y + yx*x + y0, xy*y + xx*x + x0)."""
    entries = [yy, yx, y0, xy, xx, x0, 0.0, 0.0, 1.0]
    return tf.reshape(tf.stack([tf.cast(e, tf.float64) for e in entries]), [3, 3])


def photograph_to_augmented(augmentation, image_size):
    """The augmentation as one map of pixel centres from the photograph to the augmented image.

    Returns the 3x3 matrix and the augmented image's [height, width] (a
    quarter turn swaps them). Float64, so that flips and quarter turns invert
    to exact integers.
    """
    height, width = tf.unstack(tf.cast(image_size, tf.float64))
    vflip = tf.cast(augmentation.vflip, tf.float64)
    hflip = tf.cast(augmentation.hflip, tf.float64)
    flip = _affine(1 - 2 * vflip, 0, (height - 1) * vflip, 0, 1 - 2 * hflip, (width - 1) * hflip)
    # np.rot90(a, k)[i, j]: k=1 reads a[j, w-1-i], k=-1 reads a[h-1-j, i].
    quarter_turns = tf.stack([
        _affine(0, 1, 0, -1, 0, height - 1),
        _affine(1, 0, 0, 0, 1, 0),
        _affine(0, -1, width - 1, 1, 0, 0),
    ])
    turns = tf.cast(augmentation.rot90, tf.int32)
    turn = tf.gather(quarter_turns, turns + 1)
    size = tf.where(tf.equal(turns, 0), tf.stack([height, width]), tf.stack([width, height]))
    scale = tf.cast(augmentation.scale, tf.float64)
    # Scaling about the image centre keeps the point side / 2 (an edge coordinate) in place.
    offset = (size / 2 - 0.5) * (1 - scale) + tf.cast(augmentation.translate, tf.float64) * size
    zoom = _affine(scale[0], 0, offset[0], 0, scale[1], offset[1])
    return zoom @ turn @ flip, tf.cast(size, tf.int32)


def resize_info(size, output_size):
    """Model Garden's image_info for resizing `size` to fit output_size, aspect kept, and the scaled size.

    The same arithmetic as preprocess_ops.resize_and_crop_image without
    jitter, which the lesion parser folds into its one resample.
    """
    size = tf.cast(size, tf.float32)
    desired = tf.cast(output_size, tf.float32)
    scaled = tf.round(size * tf.reduce_min(desired / size))
    return tf.stack([size, desired, scaled / size, tf.zeros([2])]), tf.cast(scaled, tf.int32)


def window_info(image_info, scaled_size, window_size, place):
    """image_info and size for a window of window_size cut from the resized image at `place` of the room left.

    The window's offset goes where Model Garden keeps a random crop's
    (image_info[3]), and its size is the image the model sees (image_info[1]).
    """
    window = tf.constant(window_size, tf.int32)
    room = tf.cast(tf.maximum(scaled_size - window, 0), tf.float32)
    offset = tf.round(room * tf.cast(place, tf.float32))
    return tf.stack([image_info[0], tf.cast(window, tf.float32), image_info[2], offset]), window


def lesion_window_place(centres, scaled_size, window_size, place, pick):
    """The window's place (window_info's fraction of the room) that puts lesion `pick` of `centres` at `place`.

    centres [N, 2] are in the resized image; pick in [0, 1) chooses one;
    with no lesion, or a negative pick, `place` is returned as it is.
    """
    count = tf.shape(centres)[0]
    window = tf.constant(window_size, tf.float32)
    room = tf.maximum(tf.cast(scaled_size, tf.float32) - window, 0.0)

    def on_lesion():
        index = tf.minimum(tf.cast(tf.cast(pick, tf.float32) * tf.cast(count, tf.float32), tf.int32), count - 1)
        offset = centres[index] - tf.cast(place, tf.float32) * window
        return tf.clip_by_value(tf.math.divide_no_nan(offset, room), 0.0, 1.0)

    return tf.cond(tf.logical_and(count > 0, tf.cast(pick, tf.float32) >= 0), on_lesion,
                   lambda: tf.cast(place, tf.float32) * tf.ones([2]))


def augmented_to_image(image_info):
    """The map of pixel centres from the augmented image to the model's, from image_info's scale and offset.

    Model Garden's resize scales pixel centres i + 0.5 about 0 and then cuts
    at the offset; as a map it joins the augmentation in one resample.
    """
    scale, offset = image_info[2], image_info[3]
    return _affine(scale[0], 0, (scale[0] - 1) / 2 - offset[0], 0, scale[1], (scale[1] - 1) / 2 - offset[1])


def _is_turned(to_augmented):
    """Whether the map swaps rows and columns (an odd number of quarter turns)."""
    return tf.not_equal(to_augmented[0, 1], 0)


def warp_photograph(image, to_output, size, fill_value):
    """Resamples the uint8 photograph once, bilinearly, through an axis-aligned map onto an image of `size`.

    A quarter turn comes out first as an exact transpose; what is left scales
    and shifts each axis, which one crop_and_resize does (it weighs rows and
    columns once, unlike a general projective warp). A one-pixel frame of
    fill_value lets samples just outside the photograph blend into it, as a
    constant-fill warp does. Only the rows and columns the samples reach are
    turned, framed and made float: a 256 px training window of a 2048 px
    photograph needs a few percent of it. Returns float32 in [0, 1].
    """
    turned = _is_turned(to_output)
    to_output = tf.cond(turned, lambda: to_output @ _affine(0, 1, 0, 1, 0, 0), lambda: to_output)
    to_photograph = tf.cast(tf.linalg.inv(to_output), tf.float32)
    # crop_and_resize samples from corner to corner of a box; here in the turned photograph's pixels.
    first = to_photograph[:2, 2]
    last = first + tf.linalg.diag_part(to_photograph[:2, :2]) * (tf.cast(size, tf.float32) - 1)
    shape = tf.shape(image)[:2]
    shape = tf.where(turned, tf.reverse(shape, [0]), shape)
    # A pixel's margin either side of the samples; the frame is reached only at the photograph's edge.
    start = tf.clip_by_value(tf.cast(tf.floor(tf.minimum(first, last)), tf.int32) - 1, 0, shape)
    stop = tf.clip_by_value(tf.cast(tf.math.ceil(tf.maximum(first, last)), tf.int32) + 2, start, shape)
    region = tf.cond(turned, lambda: tf.transpose(image[start[1]:stop[1], start[0]:stop[0]], [1, 0, 2]),
                     lambda: image[start[0]:stop[0], start[1]:stop[1]])
    framed = tf.pad(region, [[1, 1], [1, 1], [0, 0]], constant_values=tf.cast(fill_value, image.dtype))
    shift = tf.cast(start, tf.float32) - 1
    box = tf.concat([first - shift, last - shift], axis=0) / tf.tile(tf.cast(tf.shape(framed)[:2] - 1, tf.float32), [2])
    warped = tf.image.crop_and_resize(
        tf.image.convert_image_dtype(framed, tf.float32)[None], box[None], [0], size,
        extrapolation_value=fill_value / 255)
    return warped[0]


def move_boxes(boxes, to_augmented, size):
    """Moves pixel boxes [N, 4] with the augmentation and clips them to the augmented image."""
    matrix = tf.cast(to_augmented, tf.float32)
    corners = tf.reshape(boxes, [-1, 2, 2]) - 0.5
    moved = tf.einsum("ij,ncj->nci", matrix[:2, :2], corners) + matrix[:2, 2] + 0.5
    moved = tf.concat([tf.reduce_min(moved, axis=1), tf.reduce_max(moved, axis=1)], axis=-1)
    return box_ops.clip_boxes(moved, tf.cast(size, tf.float32))
