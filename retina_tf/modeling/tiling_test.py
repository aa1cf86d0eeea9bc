"""Tests for tiled inference's tiles and merge."""

import numpy as np
import pytest
import tensorflow as tf

from retina_tf import EXUDATE, MICROANEURYSM
from retina_tf.configs.retina_maskrcnn import Tiling
from retina_tf.modeling import tiling
from retina_tf.utils.errors import UserError

MASK_SIDE = 4
LABEL = {EXUDATE: 1, MICROANEURYSM: 2}   # Model Garden's classes: 0 is the background


@pytest.mark.parametrize("size,tile,overlap", [(2048, 1024, 128), (2048, 512, 64), (1000, 256, 37), (256, 256, 32),
                                               (300, 256, 255), (128, 512, 64)])
def test_tiles_cover_the_photograph_overlapping_by_at_least_the_overlap(size, tile, overlap):
    origins = tiling.tile_origins(size, tile, overlap)
    assert origins[0] == 0 and origins == sorted(origins)
    assert origins[-1] + tile >= size and (len(origins) == 1 or origins[-1] + tile == size)
    assert all(left + tile - right >= overlap for left, right in zip(origins, origins[1:]))


def test_a_tiling_that_cannot_advance_is_refused():
    with pytest.raises(ValueError, match="overlap < tile_size"):
        tiling.tile_origins(1024, 256, 256)


def test_every_point_lies_in_one_core_at_least_half_the_overlap_from_an_inner_tile_edge():
    size, tile, overlap = 300, 128, 40
    origins, cores = tiling.tile_grid(size, tile, overlap)
    assert len(origins) == len(cores) == len(tiling.tile_origins(size, tile, overlap)) ** 2
    centres = np.arange(size) + 0.5
    for axis in (0, 1):
        inside = np.array([(centres >= core[axis]) & (centres < core[axis + 2]) for core in cores])
        # along one axis each centre is in the cores of one row (or column) of tiles
        assert (inside.sum(axis=0) == len(tiling.tile_origins(size, tile, overlap))).all()
        for origin, core in zip(origins, cores):
            start, end = origin[axis], origin[axis] + tile
            assert core[axis] == -np.inf or core[axis] >= start + overlap / 2
            assert core[axis + 2] == np.inf or core[axis + 2] <= end - overlap / 2


def test_cut_tiles_are_the_photographs_slices_in_order():
    images = tf.reshape(tf.range(2 * 10 * 10 * 1), [2, 10, 10, 1])
    origins, _ = tiling.tile_grid(10, 6, 2)
    tiles = tiling.cut_tiles(images, origins, 6).numpy()
    assert tiles.shape == (2 * len(origins), 6, 6, 1)
    for photograph in range(2):
        for index, (y, x) in enumerate(origins):
            np.testing.assert_array_equal(tiles[photograph * len(origins) + index],
                                          images[photograph, y:y + 6, x:x + 6].numpy())


def _detections(per_tile, tiles, slots=4):
    """Model Garden-shaped outputs; per_tile[i] lists (box in tile pixels, score, label, mask value)."""
    boxes = np.zeros((tiles, slots, 4), np.float32)
    scores = np.zeros((tiles, slots), np.float32)
    classes = np.zeros((tiles, slots), np.float32)
    masks = np.zeros((tiles, slots, MASK_SIDE, MASK_SIDE), np.float32)
    counts = np.zeros(tiles, np.int32)
    for tile, found in per_tile.items():
        for slot, (box, score, label, value) in enumerate(found):
            boxes[tile, slot], scores[tile, slot], classes[tile, slot] = box, score, LABEL[label]
            masks[tile, slot] = value
        counts[tile] = len(found)
    return {"detection_boxes": tf.constant(boxes), "detection_scores": tf.constant(scores),
            "detection_classes": tf.constant(classes), "num_detections": tf.constant(counts),
            "detection_masks": tf.constant(masks)}


def _merge(per_tile, size=200, tile=128, overlap=56, max_detections=6):
    origins, cores = tiling.tile_grid(size, tile, overlap)
    assert origins == [(0, 0), (0, 72), (72, 0), (72, 72)]   # cores split at 100 both ways
    merged = tiling.merge_tiles(_detections(per_tile, len(origins)), origins, cores, max_detections, 0.5)
    count = int(merged["num_detections"][0])
    return count, {key: value[0].numpy() for key, value in merged.items() if key != "num_detections"}


def test_a_lesion_cut_by_a_tile_edge_is_counted_once_from_the_tile_that_holds_it_whole():
    # A 20 px exudate at x 110..130 of the photograph: whole in the right tiles (x from 72), cut at
    # x 128 in the left ones, which see only 110..128; one microaneurysm deep inside the left tile.
    count, merged = _merge({
        0: [((10, 110, 30, 128), 0.9, EXUDATE, 0.1), ((50, 40, 54, 44), 0.6, MICROANEURYSM, 0.2)],
        1: [((10, 38, 30, 58), 0.8, EXUDATE, 0.3)],
    })
    assert count == 2
    np.testing.assert_allclose(merged["detection_boxes"][:2], [(10, 110, 30, 130), (50, 40, 54, 44)])
    np.testing.assert_allclose(merged["detection_scores"][:2], [0.8, 0.6])
    np.testing.assert_array_equal(merged["detection_classes"][:2], [LABEL[EXUDATE], LABEL[MICROANEURYSM]])
    np.testing.assert_allclose(merged["detection_masks"][:2, 0, 0], [0.3, 0.2])   # each mask goes with its box


def test_a_lesion_found_twice_is_merged_by_nms_but_two_types_at_one_place_are_kept():
    # A large exudate field around the cores' split at y 100, found by the top and the bottom tile with
    # centres either side; an exudate and a microaneurysm on the same pixels in the bottom-left tile.
    count, merged = _merge({
        0: [((60, 10, 138, 50), 0.7, EXUDATE, 0.1)],
        2: [((-10, 10, 68, 50), 0.9, EXUDATE, 0.2), ((80, 60, 86, 66), 0.5, EXUDATE, 0.3),
            ((80, 60, 86, 66), 0.4, MICROANEURYSM, 0.4)],
    })
    assert count == 3
    np.testing.assert_allclose(merged["detection_scores"][:3], [0.9, 0.5, 0.4])
    np.testing.assert_allclose(merged["detection_boxes"][0], (62, 10, 140, 50))
    np.testing.assert_array_equal(merged["detection_classes"][:3],
                                  [LABEL[EXUDATE], LABEL[EXUDATE], LABEL[MICROANEURYSM]])


def test_types_stay_apart_in_nms_when_boxes_reach_past_the_photograph():
    # A box past the photograph's corner (below 0): types shifted apart by the largest coordinate alone
    # (72 here, +1) would put this microaneurysm exactly onto the exudate, and NMS would drop one of them.
    count, merged = _merge({0: [((28, 28, 68, 68), 0.9, EXUDATE, 0.1), ((-45, -45, -5, -5), 0.8, MICROANEURYSM, 0.2)]})
    assert count == 2
    np.testing.assert_array_equal(merged["detection_classes"][:2], [LABEL[EXUDATE], LABEL[MICROANEURYSM]])


def test_empty_tiles_give_empty_slots_and_the_cap_keeps_the_best():
    count, merged = _merge({})
    assert count == 0 and not merged["detection_scores"].any() and not merged["detection_classes"].any()
    scores = (0.1, 0.2, 0.3, 0.4)
    top_left = [((10 * i, 10, 10 * i + 4, 14), score, MICROANEURYSM, 0.5) for i, score in enumerate(scores)]
    bottom_right = [((40 + 10 * i, 40, 44 + 10 * i, 44), score, MICROANEURYSM, 0.5) for i, score in enumerate(scores)]
    count, merged = _merge({0: top_left, 3: bottom_right}, max_detections=6)
    assert count == 6
    np.testing.assert_allclose(merged["detection_scores"], [0.4, 0.4, 0.3, 0.3, 0.2, 0.2])


def _brightest_spot(tiles):
    """A stand-in detector: one microaneurysm, a 6 px box, around each tile's brightest pixel if it is lit."""
    flat = tf.reshape(tiles[..., 0], [tf.shape(tiles)[0], -1])
    where = tf.argmax(flat, axis=1, output_type=tf.int32)
    y, x = tf.cast(where // tiles.shape[2], tf.float32), tf.cast(where % tiles.shape[2], tf.float32)
    lit = tf.reduce_max(flat, axis=1) > 0
    boxes = tf.stack([y - 2.5, x - 2.5, y + 3.5, x + 3.5], axis=-1)[:, tf.newaxis]
    return {"detection_boxes": boxes, "detection_scores": tf.where(lit, 0.9, 0.0)[:, tf.newaxis],
            "detection_classes": tf.fill([tf.shape(tiles)[0], 1], float(LABEL[MICROANEURYSM])),
            "num_detections": tf.cast(lit, tf.int32), "detection_masks": tf.ones([tf.shape(tiles)[0], 1, 2, 2])}


@pytest.mark.parametrize("spot", [(20, 30), (100, 100), (60, 90), (180, 5)])
def test_tiled_detections_find_a_spot_once_in_photograph_pixels_wherever_the_tiles_overlap(spot):
    images = np.zeros((1, 200, 200, 3), np.uint8)
    images[0, spot[0], spot[1]] = 255
    merged = tiling.tiled_detections(_brightest_spot, tf.constant(images), Tiling(tile_size=128, overlap=56), 4, 0.5)
    assert int(merged["num_detections"][0]) == 1
    np.testing.assert_allclose(merged["detection_boxes"][0, 0], [spot[0] - 2.5, spot[1] - 2.5, spot[0] + 3.5,
                                                                 spot[1] + 3.5])


def test_a_tile_as_large_as_the_photograph_is_no_tiling():
    assert tiling.tiled(Tiling(tile_size=128, overlap=32), 256, 64)
    assert not tiling.tiled(Tiling(tile_size=256, overlap=32), 256, 64)
    assert not tiling.tiled(Tiling(tile_size=0, overlap=32), 256, 64)


@pytest.mark.parametrize("tile,overlap", [(128, 128), (128, -1), (-5, 0)])
def test_a_tiling_that_cannot_work_is_refused_naming_its_fields(tile, overlap):
    with pytest.raises(UserError, match=f"task.tiling: tile_size {tile}, overlap {overlap}: the overlap must be"):
        tiling.tiled(Tiling(tile_size=tile, overlap=overlap), 256, 64)


def test_a_tile_the_feature_pyramid_cannot_halve_evenly_is_refused():
    with pytest.raises(UserError, match="tile_size 100 must be a multiple of 64, the stride of the model's"):
        tiling.tiled(Tiling(tile_size=100, overlap=32), 256, 64)
