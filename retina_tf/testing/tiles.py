"""What a tiled inference may report, found the slow way: a detector run on each tile alone."""

import numpy as np
import tensorflow as tf

from retina_tf.modeling import tiling


def detections_in_cores(detect, image: tf.Tensor, tile_size: int, overlap: int) -> list[tuple[int, float, np.ndarray]]:
    """(class, score, box in photograph pixels) of every detection `detect` makes on one tile of an S x S image
    at a time, where the box's centre lies in that tile's core.

    Args:
      detect: a [1, tile_size, tile_size, 3] tile -> Model Garden's outputs, boxes in tile pixels.
      image: S x S x 3.
    """
    origins, cores = tiling.tile_grid(image.shape[0], tile_size, overlap)
    found = []
    for (y, x), core in zip(origins, cores):
        outputs = detect(image[tf.newaxis, y:y + tile_size, x:x + tile_size])
        for slot in range(int(outputs["num_detections"][0])):
            box = outputs["detection_boxes"][0, slot].numpy() + [y, x, y, x]
            centre = (box[:2] + box[2:]) / 2
            if core[0] <= centre[0] < core[2] and core[1] <= centre[1] < core[3]:
                found.append((int(outputs["detection_classes"][0, slot]),
                              float(outputs["detection_scores"][0, slot]), box))
    return found


def assert_each_found_on_a_tile(classes, scores, boxes, found, score_tolerance=1e-4, box_tolerance=0.05):
    """Every reported lesion (class, score, box) is one of `found`, within the tolerances of float32 kernels."""
    for label, score, box in zip(classes, scores, boxes):
        assert any(int(label) == other and abs(float(score) - other_score) < score_tolerance
                   and np.abs(np.asarray(box) - other_box).max() < box_tolerance
                   for other, other_score, other_box in found), f"not found on any tile: {label} {score} {box}"
