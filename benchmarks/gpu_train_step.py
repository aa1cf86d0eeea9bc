"""Training images/s of the paper's configuration (ResNet-101 FPN, 1024x1024) on a GPU.

Builds the registered `retina_maskrcnn` task (the paper's settings), feeds it
through the real lesion parser from a synthetic in-memory photograph with
realistic lesion counts, and times `task.train_step` under the configured
strategy in float32 and in mixed float16. The paper trained 65 epochs of 155
photographs in about 15 hours on one RTX 2080 Ti (about 0.19 images/s).

    python benchmarks/gpu_train_step.py [--steps 20] [--batch 2] [--precisions float32 float16]
    python benchmarks/gpu_train_step.py --smoke      # tiny CPU run that checks the script itself
"""

import argparse
import os
import time

import cv2
import numpy as np
import tensorflow as tf
from official.common import distribute_utils
from official.core import task_factory
from official.modeling import performance

from retina_tf import registry_imports  # noqa: F401  task_factory: the retina_maskrcnn task
from retina_tf.configs import SMOKE_CPU
from retina_tf.configs import retina_maskrcnn as config_lib
from retina_tf.configs.experiment import layered_params
from retina_tf.dataloaders import lesion_parser


def _example(size: int, lesions: int, seed: int = 0) -> dict:
    """One decoded e_ophtha-like example: a photograph and lesion crops at random places."""
    rng = np.random.default_rng(seed)
    image = rng.integers(90, 170, (size, size, 3), dtype=np.uint8)
    boxes, pngs = [], []
    for _ in range(lesions):
        side = int(rng.integers(6, 40))
        y, x = (int(v) for v in rng.integers(0, size - side, 2))
        crop = np.zeros((side, side), np.uint8)
        cv2.circle(crop, (side // 2, side // 2), side // 2, 255, -1)
        boxes.append([y / size, x / size, (y + side) / size, (x + side) / size])
        pngs.append(cv2.imencode(".png", crop)[1].tobytes())
    return {
        "source_id": tf.constant("1"),
        "image": tf.constant(image),
        "height": tf.constant(size),
        "width": tf.constant(size),
        "groundtruth_classes": tf.constant(rng.integers(1, 3, lesions), tf.int64),
        "groundtruth_is_crowd": tf.zeros([lesions], tf.bool),
        "groundtruth_area": tf.constant([np.pi * 0.25 * ((b[2] - b[0]) * size) ** 2 for b in boxes], tf.float32),
        "groundtruth_boxes": tf.constant(boxes, tf.float32),
        "groundtruth_instance_mask_pngs": tf.constant(pngs),
    }


def _measure(params, steps: int, lesions: int) -> float:
    performance.set_mixed_precision_policy(params.runtime.mixed_precision_dtype or "float32")
    strategy = distribute_utils.get_distribution_strategy(
        distribution_strategy=params.runtime.distribution_strategy, num_gpus=params.runtime.num_gpus)
    model_config, data = params.task.model, params.task.train_data
    parser = lesion_parser.Parser(
        output_size=model_config.input_size[:2], min_level=model_config.min_level,
        max_level=model_config.max_level, num_scales=model_config.anchor.num_scales,
        aspect_ratios=model_config.anchor.aspect_ratios, anchor_size=model_config.anchor.anchor_size,
        rpn_batch_size_per_im=data.parser.rpn_batch_size_per_im, aug_rand_hflip=True, aug_rand_vflip=True,
        aug_rand_rotate90=True, aug_translate_max=0.1, aug_scale_min=0.8, aug_scale_max=1.2,
        max_num_instances=data.parser.max_num_instances, include_mask=True,
        max_lesion_mask_pixels=data.parser.max_lesion_mask_pixels,
        dtype=params.runtime.mixed_precision_dtype or "float32")
    example = _example(model_config.input_size[0], lesions)
    dataset = (tf.data.Dataset.from_tensors(example).repeat()
               .map(parser.parse_fn(True), num_parallel_calls=tf.data.AUTOTUNE)
               .batch(data.global_batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE))
    with strategy.scope():
        task = task_factory.get_task(params.task)
        model = task.build_model()
        optimizer = task.create_optimizer(params.trainer.optimizer_config, params.runtime)
        iterator = iter(strategy.experimental_distribute_dataset(dataset))

        @tf.function
        def step():
            strategy.run(task.train_step, args=(next(iterator), model, optimizer))

        step()  # trace and warm up
        step()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        seconds = time.perf_counter() - start
    return steps * data.global_batch_size / seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=2, help="global batch (the paper's GPU held 1-2)")
    parser.add_argument("--lesions", type=int, default=60, help="lesions per photograph")
    parser.add_argument("--precisions", nargs="+", default=["float32", "float16"])
    parser.add_argument("--smoke", action="store_true", help="ResNet-18 at 256 on the CPU, to check the script")
    args = parser.parse_args()

    gpus = tf.config.list_physical_devices("GPU")
    names = [tf.config.experimental.get_device_details(gpu).get("device_name") for gpu in gpus]
    print(f"TF {tf.__version__}; GPUs: {names}; CPU cores: {os.cpu_count()}")
    for precision in args.precisions:
        params = layered_params([SMOKE_CPU] if args.smoke else [])
        params.runtime.distribution_strategy = "one_device"
        params.runtime.num_gpus = 1 if gpus else 0
        params.runtime.mixed_precision_dtype = None if precision == "float32" else precision
        params.task.train_data.global_batch_size = args.batch
        config_lib.resolve_schedule(params, 155)
        rate = _measure(params, args.steps, args.lesions)
        size = params.task.model.input_size[0]
        print(f"{precision:8s} ResNet-{params.task.model.backbone.resnet.model_id} FPN {size}x{size}, batch "
              f"{args.batch}, {args.lesions} lesions: {rate:.2f} training images/s "
              f"(65 epochs of 155 photographs: {65 * 155 / rate / 3600:.1f} h; paper: about 15 h on an RTX 2080 Ti)")


if __name__ == "__main__":
    main()
