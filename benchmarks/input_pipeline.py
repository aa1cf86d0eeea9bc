"""Training input throughput: the lesion parser against Model Garden's Mask R-CNN parser.

Both parse one in-memory, already decoded 1024x1024 example, repeated,
through `tf.data.Dataset.map(parser, num_parallel_calls=AUTOTUNE)`, with
flips and scale jitter on, include_mask=True, max_num_instances=320 and the
paper's anchors (P2-P6, size 2); the lesion parser also turns by quarter turns
and translates. The lesion parser reads each lesion's mask as a PNG crop of
its box and passes the crops on (the model samples mask targets from them at
the ROIs); the stock parser reads full-size masks [N, 1024, 1024] (kept as
uint8 and cast to float32 in the same map, as its decoder does after decoding
PNGs) and resamples each to a 112x112 target (mask_crop_size). Lesions are
microaneurysm-like disks (7-15 px boxes) and exudate-like clusters of disks
(up to ~80 px boxes), half and half. Prints images/s of each after warm-up
(best of --rounds, as the machine may be shared) and their ratio per lesion
count; about 3 minutes on 2 cores.

    python benchmarks/input_pipeline.py [--lesions 10 100 300] [--images 40] [--stock-images 20 10 10] [--rounds 2]
"""

import argparse
import os
import platform
import time

import cv2
import numpy as np
import tensorflow as tf
from official.vision.dataloaders import maskrcnn_input

from retina_tf.dataloaders import lesion_parser

SIDE = 1024
PARSER_ARGS = dict(
    output_size=[SIDE, SIDE], min_level=2, max_level=6, num_scales=1, aspect_ratios=[0.5, 1.0, 2.0],
    anchor_size=2.0, rpn_batch_size_per_im=512, aug_rand_hflip=True, aug_rand_vflip=True,
    aug_scale_min=0.8, aug_scale_max=1.2, include_mask=True, max_num_instances=320)


def _lesion_masks(rng, count):
    """Full-size uint8 masks [count, SIDE, SIDE], each a microaneurysm or an exudate at random."""
    masks = np.zeros((count, SIDE, SIDE), np.uint8)
    for mask in masks:
        centre = rng.integers(120, SIDE - 120, 2)
        if rng.random() < 0.5:
            cv2.circle(mask, (int(centre[1]), int(centre[0])), int(rng.integers(3, 8)), 1, -1)
        else:
            for _ in range(rng.integers(2, 6)):
                spot = centre + rng.integers(-25, 26, 2)
                cv2.circle(mask, (int(spot[1]), int(spot[0])), int(rng.integers(3, 15)), 1, -1)
    return masks


def _examples(rng, count):
    """The decoded example each parser reads: PNG crops for ours, full masks for the stock one."""
    masks = _lesion_masks(rng, count)
    boxes, pngs = [], []
    for mask in masks:
        rows, columns = np.nonzero(mask)
        box = (rows.min(), columns.min(), rows.max() + 1, columns.max() + 1)
        boxes.append(box)
        pngs.append(cv2.imencode(".png", mask[box[0]:box[2], box[1]:box[3]] * 255)[1].tobytes())
    common = dict(
        source_id=tf.constant("1"),
        image=tf.constant(rng.integers(0, 256, (SIDE, SIDE, 3), np.uint8)),
        height=tf.constant(SIDE), width=tf.constant(SIDE),
        groundtruth_classes=tf.constant(rng.integers(1, 3, count), tf.int64),
        groundtruth_is_crowd=tf.zeros([count], tf.bool),
        groundtruth_area=tf.constant(masks.sum(axis=(1, 2)), tf.float32),
        groundtruth_boxes=tf.constant(np.array(boxes, np.float32).reshape(-1, 4) / SIDE))
    ours = dict(common, groundtruth_instance_mask_pngs=tf.constant(pngs, tf.string))
    stock = dict(common, groundtruth_instance_masks=tf.constant(masks))
    return ours, stock


def _throughput(parse, example, images, warmup, warmup_seconds=2.0):
    """Images/s over `images` parses, after at least `warmup` parses and `warmup_seconds`.

    The warm-up covers tracing, tf.data autotuning and what a previous pipeline still has in flight.
    """
    dataset = tf.data.Dataset.from_tensors(example).repeat().map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    batches = iter(dataset)
    start, parsed = time.perf_counter(), 0
    while parsed < warmup or time.perf_counter() - start < warmup_seconds:
        next(batches)
        parsed += 1
    start = time.perf_counter()
    for _ in range(images):
        next(batches)
    return images / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lesions", type=int, nargs="+", default=[10, 100, 300])
    parser.add_argument("--images", type=int, default=40, help="images timed for the lesion parser")
    parser.add_argument("--stock-images", type=int, nargs="+", default=[20, 10, 10],
                        help="images timed for the stock parser, one per lesion count")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="best of this many measurements (shared machines)")
    args = parser.parse_args()
    if len(args.stock_images) != len(args.lesions):
        parser.error("give one --stock-images per --lesions")

    ours = lesion_parser.Parser(**PARSER_ARGS, aug_rand_rotate90=True, aug_translate_max=0.1).parse_fn(True)
    stock_parse = maskrcnn_input.Parser(**PARSER_ARGS, mask_crop_size=112).parse_fn(True)

    def stock(example):
        masks = tf.cast(example["groundtruth_instance_masks"], tf.float32)
        return stock_parse(dict(example, groundtruth_instance_masks=masks))

    rng = np.random.default_rng(0)
    examples = {count: _examples(rng, count) for count in args.lesions}
    rates = {}
    for _ in range(args.rounds):
        for count, stock_images in zip(args.lesions, args.stock_images):
            our_example, stock_example = examples[count]
            for name, parse, example, images in (("ours", ours, our_example, args.images),
                                                 ("stock", stock, stock_example, stock_images)):
                rate = _throughput(parse, example, images, args.warmup)
                rates[count, name] = max(rate, rates.get((count, name), 0.0))

    print(f"machine: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
          f"TensorFlow {tf.__version__}; {SIDE}x{SIDE}, max_num_instances 320, stock mask_crop_size 112; "
          f"best of {args.rounds} rounds")
    print(f'{"lesions":>7}  {"lesion parser":>14}  {"stock parser":>13}  {"ratio":>6}')
    for count in args.lesions:
        ours_rate, stock_rate = rates[count, "ours"], rates[count, "stock"]
        print(f"{count:7d}  {ours_rate:9.2f} im/s  {stock_rate:8.2f} im/s  {ours_rate / stock_rate:5.1f}x")


if __name__ == "__main__":
    main()
