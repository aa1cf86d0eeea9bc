"""Tiled inference: the model over overlapping tiles of a large normalised photograph, lesions merged.

A microaneurysm is a few pixels wide at 1024 px; at 2048 px it is twice that,
but a whole 2048 px photograph in one pass holds four times the pixels of a
1024 px one, and the model learnt on windows. Tiles near the training
window's size, overlapping by at least the largest lesion's side, hold every
lesion whole in one tile. Each point of the photograph belongs to the core of
exactly one tile (the tile less half its overlap with each neighbour); a tile
keeps only the lesions whose box centre lies in its core, which drops the cut
copies of a lesion that neighbouring tiles see at their edges, and NMS per
lesion type over all tiles then merges what remains (lesions larger than the
overlap, found twice). Everything here runs in the graph: `serving_default` tiles inside the
SavedModel, so that TF Serving's output contract does not change.
"""

import math

import tensorflow as tf

from retina_tf.utils.errors import UserError


def tile_origins(size: int, tile_size: int, overlap: int) -> list[int]:
    """Where tiles start along one side: evenly spaced, the first at 0 and the last at size - tile_size.

    Args:
      size: the side of the normalised photograph, in pixels.
      tile_size: the side of a tile.
      overlap: the fewest pixels two neighbouring tiles share.

    Returns:
      The tile origins, ascending; [0] when one tile covers the side.

    Raises:
      ValueError: overlap outside [0, tile_size), or tile_size below 1.
    """
    if tile_size < 1 or not 0 <= overlap < tile_size:
        raise ValueError(f"tiling needs tile_size >= 1 and 0 <= overlap < tile_size, "
                         f"got tile_size {tile_size}, overlap {overlap}")
    if tile_size >= size:
        return [0]
    count = math.ceil((size - overlap) / (tile_size - overlap))
    return [round(index * (size - tile_size) / (count - 1)) for index in range(count)]


def _core_bounds(origins: list[int], tile_size: int) -> list[tuple[float, float]]:
    """Per tile along one side, the interval of box centres it keeps: up to the middle of each overlap."""
    middles = [(left + tile_size + right) / 2 for left, right in zip(origins, origins[1:])]
    return list(zip([-math.inf] + middles, middles + [math.inf]))


def tile_grid(size: int, tile_size: int, overlap: int) -> tuple[list[tuple[int, int]], list[tuple[float, ...]]]:
    """The tiles of a size x size photograph, row by row.

    Returns:
      (origins, cores): each tile's (y, x) origin, and its core as (y0, x0, y1, x1), unbounded at the
      photograph's edges.
    """
    origins = tile_origins(size, tile_size, overlap)
    bounds = _core_bounds(origins, tile_size)
    grid = [((y, x), (y0, x0, y1, x1)) for y, (y0, y1) in zip(origins, bounds) for x, (x0, x1) in zip(origins, bounds)]
    return [origin for origin, _ in grid], [core for _, core in grid]


def cut_tiles(images: tf.Tensor, origins: list[tuple[int, int]], tile_size: int) -> tf.Tensor:
    """[B, S, S, C] -> [B * tiles, tile_size, tile_size, C], each photograph's tiles in turn."""
    tiles = tf.stack([images[:, y:y + tile_size, x:x + tile_size] for y, x in origins], axis=1)
    return tf.reshape(tiles, tf.concat([[-1, tile_size, tile_size], tf.shape(images)[3:]], 0))


def tiled(tiling_config, size: int, stride: int) -> bool:
    """Whether a photograph of side `size` runs in tiles: a tile size set, and smaller than the photograph.

    Args:
      tiling_config: retina_tf.configs.retina_maskrcnn.Tiling.
      size: the normalised photograph's side.
      stride: the coarsest feature level's stride, 2**max_level: a tile's side must be a multiple of it.

    Raises:
      UserError: a tile size that is negative or not a multiple of stride, or an overlap that is negative or
        not below the tile size.
    """
    tile_size, overlap = tiling_config.tile_size, tiling_config.overlap
    if tile_size < 0 or overlap < 0 or (tile_size and overlap >= tile_size):
        raise UserError(f"task.tiling: tile_size {tile_size}, overlap {overlap}: the overlap must be at least 0 "
                        "and below the tile size (tile_size 0 runs the whole photograph)")
    if not 0 < tile_size < size:
        return False
    if tile_size % stride:
        raise UserError(f"task.tiling: tile_size {tile_size} must be a multiple of {stride}, the stride of the "
                        "model's coarsest feature level (2 ** max_level)")
    return True


def tiled_detections(detect, images: tf.Tensor, tiling_config, max_detections: int, iou_threshold: float) -> dict:
    """Model Garden's detection outputs on whole photographs, from a detector run on their tiles.

    Args:
      detect: tiles [N, tile_size, tile_size, 3] -> Model Garden's outputs, boxes in tile pixels.
      images: [B, S, S, 3] normalised photographs, S known when the graph is built.
      tiling_config: retina_tf.configs.retina_maskrcnn.Tiling (tile_size, overlap).
      max_detections, iou_threshold: as merge_tiles.

    Returns:
      merge_tiles' outputs: boxes in photograph pixels.
    """
    origins, cores = tile_grid(images.shape[1], tiling_config.tile_size, tiling_config.overlap)
    detections = detect(cut_tiles(images, origins, tiling_config.tile_size))
    return merge_tiles(detections, origins, cores, max_detections, iou_threshold)


def merge_tiles(detections: dict, origins: list[tuple[int, int]], cores: list[tuple[float, ...]],
                max_detections: int, iou_threshold: float) -> dict:
    """One photograph's lesions from its tiles' detections.

    Args:
      detections: Model Garden's detection outputs on the tiles of cut_tiles, batch B * tiles:
        detection_boxes [B*T, D, 4] in tile pixels (ymin, xmin, ymax, xmax), detection_scores,
        detection_classes [B*T, D], num_detections [B*T], detection_masks [B*T, D, M, M].
      origins, cores: tile_grid's.
      max_detections: the lesion slots per photograph.
      iou_threshold: NMS between lesions of one type found by different tiles.

    Returns:
      The same keys for the B photographs, boxes in photograph pixels, at most max_detections lesions each,
      by descending score; empty slots have score 0 and class 0, as Model Garden's.
    """
    tiles = len(origins)
    slots = tf.shape(detections["detection_scores"])[1]
    offsets = tf.constant([[y, x, y, x] for y, x in origins], tf.float32)
    boxes = tf.reshape(detections["detection_boxes"], [-1, tiles, slots, 4]) + offsets[:, tf.newaxis]
    scores = tf.reshape(detections["detection_scores"], [-1, tiles, slots])
    classes = tf.reshape(tf.cast(detections["detection_classes"], tf.int32), [-1, tiles, slots])
    count = tf.reshape(tf.cast(detections["num_detections"], tf.int32), [-1, tiles])
    masks = detections["detection_masks"]
    mask_shape = tf.shape(masks)[2:]
    masks = tf.reshape(masks, tf.concat([[-1, tiles * slots], mask_shape], 0))

    core = tf.constant(cores, tf.float32)[:, tf.newaxis]               # [T, 1, 4]
    centre_y = (boxes[..., 0] + boxes[..., 2]) / 2
    centre_x = (boxes[..., 1] + boxes[..., 3]) / 2
    kept = ((tf.range(slots)[tf.newaxis, tf.newaxis] < count[..., tf.newaxis])
            & (centre_y >= core[..., 0]) & (centre_y < core[..., 2])
            & (centre_x >= core[..., 1]) & (centre_x < core[..., 3]))
    flat = tiles * slots
    boxes = tf.reshape(boxes, [-1, flat, 4])
    scores = tf.reshape(tf.where(kept, scores, -1.0), [-1, flat])
    classes = tf.reshape(classes, [-1, flat])

    def one_photograph(item):
        photograph_boxes, photograph_scores, photograph_classes, photograph_masks = item
        # Shifted apart per type by more than the boxes' extent, boxes of different types never overlap:
        # one NMS is NMS per type (boxes may reach past the photograph, below 0).
        extent = tf.reduce_max(photograph_boxes) - tf.reduce_min(photograph_boxes) + 1.0
        shift = tf.cast(photograph_classes, tf.float32)[:, tf.newaxis] * extent
        chosen = tf.image.non_max_suppression(photograph_boxes + shift, photograph_scores, max_detections,
                                              iou_threshold=iou_threshold, score_threshold=-0.5)
        found = tf.size(chosen)
        padding = [[0, max_detections - found]]
        return (tf.pad(tf.gather(photograph_boxes, chosen), padding + [[0, 0]]),
                tf.pad(tf.gather(photograph_scores, chosen), padding),
                tf.pad(tf.gather(photograph_classes, chosen), padding),
                found,
                tf.pad(tf.gather(photograph_masks, chosen), padding + [[0, 0], [0, 0]]))

    merged = tf.map_fn(one_photograph, (boxes, scores, classes, masks), fn_output_signature=(
        tf.TensorSpec([max_detections, 4], tf.float32), tf.TensorSpec([max_detections], tf.float32),
        tf.TensorSpec([max_detections], tf.int32), tf.TensorSpec([], tf.int32),
        tf.TensorSpec([max_detections, *detections["detection_masks"].shape[2:]], masks.dtype)))
    names = ("detection_boxes", "detection_scores", "detection_classes", "num_detections", "detection_masks")
    return dict(zip(names, merged))
