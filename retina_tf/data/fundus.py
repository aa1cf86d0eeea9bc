"""Fundus normalisation: the seed paper's preprocessing, written in TensorFlow ops.

One implementation serves both the dataset build and the exported SavedModel,
so a photograph sent to the server is seen exactly as the training data was.

The recipe (paper, section 3.2): crop the blank border around the field of
view (FOV), morph the eye into a circle and crop the margin again, apply Ben
Graham's normalisation ``4*img - 4*GaussianBlur(img, sigma=20) + 128`` and
resize to 1024x1024.

Where the blur runs: the paper blurs the squared crop (about 1800 px across
for a 2544x1696 e-ophtha photograph), so sigma=20 is measured in those pixels.
A 121-tap blur at that size is the costly part of OpenCV's recipe. The blur is
a low-pass of width ~20 px, so we compute it on a copy of the crop shrunk to
at most 512x512 (area average, c crop pixels per coarse pixel), blur there
with ``sqrt(sigma^2 - c^2/4) / c`` (the area average adds variance c^2/12 and
the bilinear upsampling back to the crop c^2/6) and upsample. The formula
itself runs at the crop's resolution, saturates, and only then is the result
resized to S x S, in the paper's order. Tests bound the difference from
OpenCV's full-resolution recipe.

Geometry: the eye box ``(y0, x0, y1, x1)`` in original-photograph
pixels (it may reach beyond the photograph where the disc is cut off; the
outside is filled with black) and the original ``(height, width)``, as one
float32 vector of six numbers. It maps points, boxes and masks both ways.
"""

import dataclasses

import tensorflow as tf

# Layout of the geometry vector.
GEOMETRY_FIELDS = ("box_ymin", "box_xmin", "box_ymax", "box_xmax", "height", "width")

_MIN_FOV_FRACTION = 0.05   # a disc smaller than this share of the photograph is not an eye
_BLANK_LEVEL = 12.0        # brightness (0-255) below which a photograph counts as black
_CUT_CHORD = 0.25          # a disc edge row longer than this share of the diameter is a cut
MIN_SIDE = 32              # pixels: the shorter side of the smallest photograph accepted (check_size)


@dataclasses.dataclass(frozen=True)
class FundusNormalisation:
    """How photographs are normalised; stored with the dataset and the export.

    Attributes:
      output_size: the side S of the square normalised image, in pixels.
      blur_sigma: the Gaussian's sigma, in pixels of the squared crop, as in the paper.
      blur_weight: w in w*img - w*blur + offset.
      offset: the grey level (0-255) a region without detail lands on.
    """

    output_size: int = 1024
    blur_sigma: float = 20.0   # in pixels of the squared crop, as in the paper
    blur_weight: float = 4.0   # 4*img - 4*blur + 128
    offset: float = 128.0


def decode_fundus(data: tf.Tensor, max_side: int = 8192, max_pixels: int | None = None,
                  label: str | tf.Tensor = "") -> tf.Tensor:
    """Decodes JPEG or PNG bytes to an RGB uint8 photograph, with clear errors.

    A 4-channel PNG loses its alpha channel (documented fallback); a grayscale
    (red-free) photograph is refused because the model learnt colour. Sizes are
    read from the header first so that a huge image is refused before it is
    decoded into memory. `label` starts every refusal's message (the serving
    graph names a photograph's place in its batch with it).

    Args:
      data: scalar string, the file's bytes.
      max_side: the longest side accepted, in pixels.
      max_pixels: the most pixels (height x width) accepted; None for no limit.
      label: scalar string put before each refusal's message; "" for none.

    Returns:
      [H, W, 3] uint8 RGB at the photograph's own size.

    Raises:
      tf.errors.InvalidArgumentError: not a JPEG or PNG, a size out of bounds (check_size), or grayscale; the
        failed assertion carries one line, which utils.errors.describe extracts.
    """
    data = tf.convert_to_tensor(data, tf.string)
    size = photograph_size(data, max_side, max_pixels, label)
    with tf.control_dependencies([size]):
        image = tf.io.decode_image(data, channels=0, expand_animations=False)
    channels = tf.shape(image)[-1]
    checks = [check_in_order([(channels >= 3, "grayscale photograph ({} channel(s)); a colour RGB fundus "
                                              "photograph is required", (channels,))], label)]
    with tf.control_dependencies(checks):
        image = tf.identity(image[..., :3])
    image.set_shape([None, None, 3])
    return image


def photograph_size(data: tf.Tensor, max_side: int = 8192, max_pixels: int | None = None,
                    label: str | tf.Tensor = "") -> tf.Tensor:
    """(height, width) int64 of JPEG or PNG bytes, read from the header and refused there when out of bounds.

    Args:
      data: scalar string, the file's bytes.
      max_side: the longest side accepted, in pixels.
      max_pixels: the most pixels accepted; None for no limit.
      label: scalar string put before each refusal's message.

    Returns:
      [2] int64: height, width in pixels.

    Raises:
      tf.errors.InvalidArgumentError: not a JPEG or PNG, a PNG cut short before its size, or a size out of
        bounds (check_size).
    """
    data = tf.convert_to_tensor(data, tf.string)
    head = tf.strings.substr(data, 0, 8)
    is_jpeg = tf.equal(tf.strings.substr(head, 0, 3), b"\xff\xd8\xff")
    is_png = tf.equal(head, b"\x89PNG\r\n\x1a\n")
    length = tf.strings.length(data)
    # A PNG's size is in its IHDR chunk, bytes 16..24; cut short, reading there would fail with an error that
    # quotes the bytes, which Python cannot decode as text.
    checks = [check_in_order([(tf.logical_or(is_jpeg, is_png), "not a JPEG or PNG photograph ({} bytes)", (length,)),
                              (tf.logical_or(is_jpeg, length >= _PNG_HEADER_BYTES),
                               "not a complete PNG photograph ({} bytes)", (length,))], label)]
    with tf.control_dependencies(checks):
        size = tf.cond(is_jpeg, lambda: _jpeg_size(data), lambda: _png_size(data))
    with tf.control_dependencies([check_size(size, label, max_side, max_pixels)]):
        return tf.identity(size)


def check_size(size: tf.Tensor, label: str | tf.Tensor = "", max_side: int | None = None,
               max_pixels: int | None = None) -> tf.Operation:
    """Refuses a (height, width) below MIN_SIDE or above the limits given, naming the first limit broken.

    MIN_SIDE: a smaller image holds no lesion a model trained on 1440-2544 px
    photographs could see, and the normalisation's blur needs 2 pixels a side.

    Args:
      size: [2] integer tensor, height then width in pixels.
      label: scalar string put before the refusal's message.
      max_side: the longest side accepted; None for no limit.
      max_pixels: the most pixels accepted; None for no limit.

    Returns:
      The check, for control dependencies (None eagerly, where it has already run). Messages say width x
      height.

    Raises:
      tf.errors.InvalidArgumentError: when the check runs and a limit is broken.
    """
    height, width = tf.cast(size[0], tf.int64), tf.cast(size[1], tf.int64)
    limits = [(tf.minimum(height, width) >= MIN_SIDE, "photograph is {} x {} pixels; the smallest accepted side is {}",
               (width, height, MIN_SIDE))]
    if max_side is not None:
        limits.append((tf.maximum(height, width) <= max_side,
                       "photograph is {} x {} pixels; the largest accepted side is {}", (width, height, max_side)))
    if max_pixels is not None:
        limits.append((height * width <= max_pixels, "photograph is {} x {} pixels ({} in all); at most {} pixels "
                       "are accepted", (width, height, height * width, max_pixels)))
    return check_in_order(limits, label)


def check_in_order(checks, label: str | tf.Tensor = "") -> tf.Operation:
    """In-graph checks, (condition, message template, values) each, run in order: a refusal names the first
    broken one in one line, `label` then the template filled with the values.

    Args:
      checks: (condition, template, values) triples: a scalar bool tensor, a tf.strings.format template with
        one {} per value, and a tuple of tensors (() for a template without {}).
      label: scalar string put before the message.

    Returns:
      The last check, which depends on each before it, for control dependencies (None eagerly, where they
      have all run).

    Raises:
      tf.errors.InvalidArgumentError: when a condition is False, with that check's message alone.
    """
    check = tf.no_op()
    for holds, template, values in checks:
        with tf.control_dependencies([check]):
            message = tf.strings.format(template, values) if values else tf.constant(template)
            check = tf.debugging.Assert(holds, [tf.strings.join([label, message])])
    return check


def _jpeg_size(data):
    return tf.cast(tf.image.extract_jpeg_shape(data)[:2], tf.int64)


_PNG_HEADER_BYTES = 24   # signature, IHDR length and type, width, height


def _png_size(data):
    # IHDR: width and height as big-endian uint32 at bytes 16..24.
    raw = tf.cast(tf.io.decode_raw(tf.strings.substr(data, 16, 8), tf.uint8), tf.int64)
    width = raw[0] * 2**24 + raw[1] * 2**16 + raw[2] * 2**8 + raw[3]
    height = raw[4] * 2**24 + raw[5] * 2**16 + raw[6] * 2**8 + raw[7]
    return tf.stack([height, width])


def _run_around(profile: tf.Tensor, fraction: float) -> tuple[tf.Tensor, tf.Tensor]:
    """[start, end) of the contiguous run, around the profile's peak, above fraction*peak.

    Taking only the run through the peak ignores light leaks and reflections
    that are separated from the disc by dark pixels.
    """
    profile = tf.cast(profile, tf.float32)
    peak = tf.argmax(profile, output_type=tf.int32)
    inside = profile >= fraction * tf.reduce_max(profile)
    run_id = tf.cumsum(tf.cast(tf.logical_not(inside), tf.int32))
    in_run = tf.logical_and(inside, tf.equal(run_id, run_id[peak]))
    where = tf.cast(tf.where(in_run)[:, 0], tf.int32)
    return where[0], where[-1] + 1


def _circle_extent(start, end, length, first, last, diameter):
    """Extent of a disc cut off by the photograph's edges along one axis.

    first/last are the chord lengths on the photograph's first and last line;
    a long chord means the disc continues beyond the photograph, so the extent
    is rebuilt from the disc's known diameter (the other axis) and the chords.
    """
    length = tf.cast(length, tf.float32)
    start, end = tf.cast(start, tf.float32), tf.cast(end, tf.float32)
    radius = diameter / 2.0
    cut_first = tf.logical_and(start <= 0.0, first >= _CUT_CHORD * diameter)
    cut_last = tf.logical_and(end >= length, last >= _CUT_CHORD * diameter)
    # Distance from the centre to a cut edge, from that edge's chord.
    to_first = tf.sqrt(tf.maximum(radius**2 - (first / 2.0) ** 2, 0.0))
    to_last = tf.sqrt(tf.maximum(radius**2 - (last / 2.0) ** 2, 0.0))
    centre = tf.where(
        tf.logical_and(cut_first, cut_last), (to_first + length - to_last) / 2.0,
        tf.where(cut_first, end - radius, start + radius))
    cut = tf.logical_or(cut_first, cut_last)
    return (tf.where(cut, centre - radius, start), tf.where(cut, centre + radius, end), cut)


def find_field_of_view(image: tf.Tensor, label: str | tf.Tensor = "") -> tf.Tensor:
    """The eye box [y0, x0, y1, x1] (int32, original pixels, end exclusive), stretched to a square later.

    The disc is what is brighter than a threshold relative to the photograph's
    bright level; its extent comes from row and column profiles, so JPEG noise
    in the border and leaks at the edge (off the disc's run) do not count.
    A disc cut off at the top and bottom (common in e-ophtha) keeps its
    circular shape: the missing part is rebuilt from the horizontal diameter.

    Args:
      image: [H, W, C] uint8 photograph; a pixel's brightness is its brightest channel.
      label: scalar string put before each refusal's message.

    Returns:
      [4] int32 (y0, x0, y1, x1) in pixels of the photograph; beyond it (below 0, past H or W) where the disc is
      cut off.

    Raises:
      tf.errors.InvalidArgumentError: a blank photograph, or a bright disc under 5% of it.
    """
    image = tf.convert_to_tensor(image)
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    brightness = tf.cast(tf.reduce_max(image, axis=-1), tf.float32)
    cumulative = tf.cumsum(tf.histogram_fixed_width(brightness[::4, ::4], [0.0, 256.0], nbins=256))

    def level(quantile):
        total = tf.cast(cumulative[-1], tf.float32)
        return tf.cast(tf.argmax(tf.cast(cumulative, tf.float32) >= quantile * total), tf.float32)

    blank = check_in_order([(level(0.999) >= _BLANK_LEVEL,
                             "fundus photograph is blank (all pixels nearly black): no field of view", ())], label)
    with tf.control_dependencies([blank]):
        threshold = tf.clip_by_value(0.15 * level(0.95), 8.0, 60.0)
    disc = tf.cast(brightness > threshold, tf.int32)

    x0, x1 = _run_around(tf.reduce_sum(disc, axis=0), 0.02)
    rows = tf.reduce_sum(disc[:, x0:x1], axis=1)
    y0, y1 = _run_around(rows, 0.02)
    columns = tf.reduce_sum(disc[y0:y1], axis=0)
    area = tf.reduce_sum(rows[y0:y1])
    found = check_in_order([(
        tf.cast(area, tf.float32) >= _MIN_FOV_FRACTION * tf.cast(height * width, tf.float32),
        f"no field of view found: the bright disc covers less than {_MIN_FOV_FRACTION:.0%} of the photograph", ())],
        label)

    rows_f, columns_f = tf.cast(rows, tf.float32), tf.cast(columns, tf.float32)
    top, bottom, cut_v = _circle_extent(
        y0, y1, height, rows_f[0], rows_f[-1], tf.cast(x1 - x0, tf.float32))
    left, right, cut_h = _circle_extent(
        x0, x1, width, columns_f[0], columns_f[-1], tf.cast(y1 - y0, tf.float32))
    # A disc cut on both axes carries no circle information: keep what is seen.
    both = tf.logical_and(cut_v, cut_h)
    top = tf.where(both, tf.cast(y0, tf.float32), top)
    bottom = tf.where(both, tf.cast(y1, tf.float32), bottom)
    left = tf.where(both, tf.cast(x0, tf.float32), left)
    right = tf.where(both, tf.cast(x1, tf.float32), right)
    with tf.control_dependencies([found]):
        return tf.cast(tf.round(tf.stack([top, left, bottom, right])), tf.int32)


def _crop_box(image: tf.Tensor, box: tf.Tensor) -> tf.Tensor:
    """The box's pixels; outside the photograph is filled with zeros (black)."""
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    pad_top, pad_left = tf.maximum(-box[0], 0), tf.maximum(-box[1], 0)
    pad_bottom, pad_right = tf.maximum(box[2] - height, 0), tf.maximum(box[3] - width, 0)
    inside = image[tf.maximum(box[0], 0):tf.minimum(box[2], height),
                   tf.maximum(box[1], 0):tf.minimum(box[3], width)]
    return tf.pad(inside, [[pad_top, pad_bottom], [pad_left, pad_right], [0, 0]])


def gaussian_blur(image: tf.Tensor, sigma: tf.Tensor) -> tf.Tensor:
    """Separable Gaussian blur of an HxWxC float image, mirrored borders (OpenCV's default).

    Args:
      image: [H, W, C] float32.
      sigma: scalar, in pixels of image; the kernel reaches ceil(3 sigma) pixels either side (fewer in an
        image smaller than that).

    Returns:
      [H, W, C] float32.
    """
    sigma = tf.cast(sigma, tf.float32)
    # Mirrored padding cannot exceed the image: tiny photographs get a truncated kernel.
    radius = tf.minimum(tf.cast(tf.math.ceil(3.0 * sigma), tf.int32), tf.reduce_min(tf.shape(image)[:2]) - 1)
    taps = tf.cast(tf.range(-radius, radius + 1), tf.float32)
    kernel = tf.exp(-0.5 * tf.square(taps / sigma))
    kernel /= tf.reduce_sum(kernel)
    batch = tf.transpose(image, [2, 0, 1])[..., tf.newaxis]  # channels as batch
    batch = tf.pad(batch, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    batch = tf.nn.conv2d(batch, tf.reshape(kernel, [-1, 1, 1, 1]), 1, "VALID")
    batch = tf.nn.conv2d(batch, tf.reshape(kernel, [1, -1, 1, 1]), 1, "VALID")
    return tf.transpose(batch[..., 0], [1, 2, 0])


def _ben_graham_blur(crop: tf.Tensor, sigma: float) -> tf.Tensor:
    """GaussianBlur(square, sigma) of the squared crop, brought back to the crop's pixels.

    Computed on a copy of at most 512x512 (see the module doc): the area
    average and the bilinear upsampling add variance (c^2/12 + c^2/6 for c
    squared-crop pixels per coarse pixel), so the coarse Gaussian gets the rest.
    """
    shape = tf.shape(crop)[:2]
    side = tf.cast(tf.reduce_max(shape), tf.float32)
    coarse_side = tf.minimum(512, tf.reduce_max(shape) // 2)
    coarse = tf.image.resize(crop, [coarse_side, coarse_side], method="area")
    cell = side / tf.cast(coarse_side, tf.float32)
    coarse_sigma = tf.sqrt(tf.maximum(sigma**2 - cell**2 / 4.0, 0.25)) / cell
    return tf.image.resize(gaussian_blur(coarse, coarse_sigma), shape, method="bilinear")


def _geometry_vector(box: tf.Tensor, image: tf.Tensor) -> tf.Tensor:
    shape = tf.shape(image)[:2]
    return tf.cast(tf.concat([box, shape], axis=0), tf.float32)


def _resize_square(image: tf.Tensor, size: int) -> tf.Tensor:
    """Resize to size x size: area when shrinking (as cv2.INTER_AREA), bilinear when growing."""
    shrinking = tf.reduce_max(tf.shape(image)[:2]) >= size
    return tf.cond(
        shrinking,
        lambda: tf.image.resize(image, [size, size], method="area"),
        lambda: tf.image.resize(image, [size, size], method="bilinear"))


def normalise_fundus(image: tf.Tensor, config: FundusNormalisation = FundusNormalisation(),
                     label: str | tf.Tensor = "") -> tuple[tf.Tensor, tf.Tensor]:
    """Normalises an RGB uint8 photograph; returns (S x S x 3 uint8, geometry [6]).

    Ben Graham's formula runs at the crop's resolution and saturates before
    the final resize, in the paper's order: bright exudate edges saturate
    there, and swapping the two steps would change them by tens of levels.
    The blur is rounded like OpenCV's uint8 blur that the paper's data saw.
    `label` starts every refusal's message, as in decode_fundus.

    Args:
      image: [H, W, 3] uint8 RGB photograph.
      config: the normalisation; S is config.output_size.
      label: scalar string put before each refusal's message.

    Returns:
      The normalised image, [S, S, 3] uint8, and its geometry, [6] float32 in GEOMETRY_FIELDS order: the eye box
      (y0, x0, y1, x1) in photograph pixels, then the photograph's height and width.

    Raises:
      tf.errors.InvalidArgumentError: not 3 channels, a side under MIN_SIDE, a blank photograph or no field of
        view found.
    """
    image = tf.convert_to_tensor(image)
    tf.debugging.assert_equal(tf.shape(image)[-1], 3, message="fundus photograph must be RGB (3 channels)")
    with tf.control_dependencies([check_size(tf.shape(image)[:2], label)]):
        box = find_field_of_view(image, label)
    crop = tf.cast(_crop_box(image, box), tf.float32)
    blurred = tf.round(_ben_graham_blur(crop, config.blur_sigma))
    enhanced = tf.clip_by_value(
        tf.round(config.blur_weight * (crop - blurred) + config.offset), 0.0, 255.0)
    normalised = tf.round(_resize_square(enhanced, config.output_size))
    size = config.output_size
    return tf.ensure_shape(tf.cast(normalised, tf.uint8), [size, size, 3]), _geometry_vector(box, image)


def photograph_normaliser(config: FundusNormalisation = FundusNormalisation()):
    """normalise_fundus as one tf.function for photographs of every size: traced once, where a plain
    tf.function retraces (and warns) for each new size.

    Args:
      config: the normalisation.

    Returns:
      A function of one [H, W, 3] uint8 photograph, any H and W, returning normalise_fundus's pair.
    """
    return tf.function(lambda image: normalise_fundus(image, config),
                       input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)])


def normalise_lesion_mask(mask: tf.Tensor, geometry: tf.Tensor, output_size: int = 1024) -> tf.Tensor:
    """Maps a binary HxW mask with the photograph's geometry to S x S uint8 {0, 1}.

    An output pixel is lesion if any lesion pixel covers part of it (area
    resize, then > 0): nearest-neighbour sampling would drop microaneurysms of
    one or two original pixels when shrinking 1700 px to 1024.

    Args:
      mask: [H, W] over the original photograph, lesion pixels True or non-zero.
      geometry: [6], the photograph's (normalise_fundus).
      output_size: the side S of the normalised image, in pixels.

    Returns:
      [S, S] uint8, 1 on lesion pixels, aligned with the normalised image.
    """
    box = tf.cast(geometry[:4], tf.int32)
    mask = tf.cast(tf.cast(mask, tf.bool), tf.float32)[..., tf.newaxis]
    resized = _resize_square(_crop_box(mask, box), output_size)
    return tf.cast(resized[..., 0] > 0.0, tf.uint8)


def _scales(geometry: tf.Tensor, output_size: int) -> tuple[tf.Tensor, tf.Tensor]:
    geometry = tf.cast(geometry, tf.float32)
    scale = tf.stack([geometry[..., 2] - geometry[..., 0], geometry[..., 3] - geometry[..., 1]], -1)
    return geometry[..., :2], scale / float(output_size)


def boxes_to_original(boxes: tf.Tensor, geometry: tf.Tensor, output_size: int = 1024) -> tf.Tensor:
    """Boxes [..., 4] (ymin, xmin, ymax, xmax) in output pixels -> original-photograph pixels.

    Args:
      boxes: [..., 4] in pixels of the S x S normalised image.
      geometry: [6], or [..., 6] broadcasting against boxes (add an axis for the boxes of each photograph).
      output_size: S, in pixels.

    Returns:
      [..., 4] float32 in pixels of the photograph; a box may reach past its edges where the eye box does.
    """
    origin, scale = _scales(geometry, output_size)
    origin, scale = tf.concat([origin, origin], -1), tf.concat([scale, scale], -1)
    return tf.cast(boxes, tf.float32) * scale + origin


def boxes_to_output(boxes: tf.Tensor, geometry: tf.Tensor, output_size: int = 1024) -> tf.Tensor:
    """Boxes [..., 4] in original-photograph pixels -> output pixels.

    Args:
      boxes: [..., 4] (ymin, xmin, ymax, xmax) in pixels of the photograph.
      geometry: [6], or [..., 6] broadcasting against boxes.
      output_size: S, in pixels.

    Returns:
      [..., 4] float32 in pixels of the S x S normalised image.
    """
    origin, scale = _scales(geometry, output_size)
    origin, scale = tf.concat([origin, origin], -1), tf.concat([scale, scale], -1)
    return (tf.cast(boxes, tf.float32) - origin) / scale


def mask_to_original(mask: tf.Tensor, geometry: tf.Tensor) -> tf.Tensor:
    """An S x S mask (or score map) in output space -> HxW over the original photograph.

    Args:
      mask: [S, S] mask or score map, over the normalised image.
      geometry: [6], the photograph's (normalise_fundus).

    Returns:
      [H, W] float32 (H, W from the geometry): the map resized bilinearly onto the eye box, 0 outside it.
    """
    geometry = tf.cast(geometry, tf.int32)
    box, height, width = geometry[:4], geometry[4], geometry[5]
    mask = tf.convert_to_tensor(mask)
    resized = tf.image.resize(tf.cast(mask, tf.float32)[..., tf.newaxis],
                              [box[2] - box[0], box[3] - box[1]], method="bilinear")
    resized = resized[tf.maximum(-box[0], 0):, tf.maximum(-box[1], 0):]
    resized = resized[:height - tf.maximum(box[0], 0), :width - tf.maximum(box[1], 0)]
    paddings = [[tf.maximum(box[0], 0), height - tf.maximum(box[0], 0) - tf.shape(resized)[0]],
                [tf.maximum(box[1], 0), width - tf.maximum(box[1], 0) - tf.shape(resized)[1]], [0, 0]]
    return tf.pad(resized, paddings)[..., 0]
