"""Serving latency: the exported SavedModel (raw JPEG bytes in) against the stock Model Garden forward pass.

Side by side in one run, on this CPU, at batch 1 and 4:

- stock: `official.vision.modeling.factory.build_maskrcnn` of the same
  configuration with Model Garden's default box head (4 convolutions + 1 FC)
  and 256 detection slots, called on an already normalised image (mean/std
  scaled): the bare forward pass, no preprocessing, no decoding;
- exported: `retina-tf export`'s SavedModel, `serving_default` signature,
  fed the encoded JPEG photograph: decoding, fundus normalisation, the
  paper's 2-FC box head and masks for found lesions only, boxes mapped back.

Random weights decide how many detection slots fill, so the export is run
in two variants of one checkpoint:

- "few lesions": score threshold 0.35 (the paper's) and the box head's
  background bias raised until exactly --lesions (ROI, class) pairs of the
  benchmark photograph score >= 0.35 before NMS. The bias comes from the
  classifier's logits on that photograph: a pair passes when
  exp(l_c) / (exp(l_0 + d) + exp(l_1) + exp(l_2)) >= 0.35, i.e. when
  d <= log(exp(l_c) / 0.35 - exp(l_1) - exp(l_2)) - l_0; d is set between
  the --lesions-th and the next largest of those bounds;
- "all slots": the same weights with score threshold 0.0, so every one of
  the 256 slots holds a detection (the count found is printed).

Prints latency per photograph (p50, p95; a batch call counts as its time
over its photographs), photographs/s and the exported/stock ratios. Targets:
"few lesions" <= 0.6x the stock forward time, "all slots" <= 1.0x. The
stock trunk alone (backbone, FPN, RPN head) is timed too: no head change
touches it, and the export runs it with its weights frozen into the graph. The
default (the paper's ResNet-101 FPN 1024) takes about 6 minutes on 2 cores;
--smoke uses configs/smoke_cpu.yaml (about a minute). Each model gets one
warm-up call per batch size, then the models take turns for --repeats
timed calls each (fair on a shared machine).

    python benchmarks/serving.py [--smoke] [--repeats 3] [--lesions 8] [--size 2544x1696] [--workdir DIR]
"""

import argparse
import os
import pathlib
import platform
import tempfile
import time
from importlib import metadata

import numpy as np
import tensorflow as tf
import tf_keras
from official.vision.configs import maskrcnn as maskrcnn_config
from official.vision.modeling import factory
from official.vision.ops import preprocess_ops

from retina_tf.configs import SMOKE_CPU
from retina_tf.configs.experiment import layered_params
from retina_tf.data import fundus
from retina_tf.datasets import normalisation_of
from retina_tf.serving.export_module import FundusDetectionModule
from retina_tf.serving.predictor import SavedModelPredictor
from retina_tf.serving.protocol import DEFAULT_SIGNATURE, PHOTOGRAPHS_INPUT
from retina_tf.testing.serving import export_weights, photograph
from retina_tf.testing.timing import in_turns

MIN_SCORE = 0.35
BATCHES = (1, 4)


def _cpu() -> str:
    names = [line.split(":", 1)[1].strip() for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines()
             if line.startswith("model name")] if pathlib.Path("/proc/cpuinfo").exists() else []
    return names[0] if names else platform.processor() or platform.machine()


def background_shift(logits: np.ndarray, lesions: int, threshold: float = MIN_SCORE) -> float:
    """The background-logit shift d after which exactly `lesions` (ROI, class) pairs score >= threshold."""
    logits = np.asarray(logits, np.float64)
    logits = logits - logits.max(axis=1, keepdims=True)
    exps = np.exp(logits)
    room = exps[:, 1:] / threshold - exps[:, 1:].sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        bounds = np.where(room > 0, np.log(np.maximum(room, 1e-300)), -np.inf) - logits[:, :1]
    ranked = np.sort(bounds.ravel())[::-1]
    return float((ranked[lesions - 1] + ranked[lesions]) / 2)


def few_lesion_model(params, normalisation, normalised: tf.Tensor, lesions: int):
    """Random weights whose box head lets `lesions` pairs of this photograph reach 0.35; returns (model, d)."""
    module = FundusDetectionModule(params, normalisation)
    images, anchors, image_info = module.preprocess(normalised[tf.newaxis])
    outputs = module.model.call(images=images, image_shape=image_info[:, 1, :], anchor_boxes=anchors,
                                training=False)
    shift = background_shift(outputs["cls_outputs"][0].numpy(), lesions)
    bias = module.model.detection_head[0]._classifier.bias
    bias.assign(bias + tf.one_hot(0, bias.shape[0]) * shift)
    return module.model, shift


def stock_forward(config_files):
    """Model Garden's Mask R-CNN of the same configuration, default box head, as traced functions: the
    whole forward pass, and its trunk (backbone, FPN, RPN head), which the export runs with frozen weights."""
    default_head = {"task": {"model": {"detection_head": maskrcnn_config.DetectionHead().as_dict()}}}
    stock = layered_params(config_files, [default_head])
    height, width = stock.task.model.input_size[:2]
    model = factory.build_maskrcnn(tf_keras.layers.InputSpec(shape=[None, height, width, 3]), stock.task.model)
    head = stock.task.model.detection_head

    @tf.function(input_signature=[tf.TensorSpec([None, height, width, 3], tf.float32)])
    def forward(images):
        shape = tf.tile(tf.constant([[height, width]], tf.float32), [tf.shape(images)[0], 1])
        outputs = model(images, image_shape=shape, training=False)
        return {key: outputs[key] for key in ("num_detections", "detection_boxes", "detection_scores",
                                              "detection_classes", "detection_masks")}

    @tf.function(input_signature=[tf.TensorSpec([None, height, width, 3], tf.float32)])
    def trunk(images):
        return model.rpn_head(model.decoder(model.backbone(images)))

    description = (f"{head.num_convs} conv + {head.num_fcs} FC box head, "
                   f"{stock.task.model.detection_generator.max_num_detections} slots")
    return forward, trunk, (height, width), description


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="configs/smoke_cpu.yaml instead of the paper's")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per model and batch (default 3)")
    parser.add_argument("--lesions", type=int, default=8, help="(ROI, class) pairs let through in 'few lesions'")
    parser.add_argument("--size", default="2544x1696", help="photograph WxH (default 2544x1696, e-ophtha's largest)")
    parser.add_argument("--workdir", type=pathlib.Path, help="keep the exports here (default: a temporary folder)")
    args = parser.parse_args()

    started = time.perf_counter()
    tf_keras.utils.set_random_seed(0)   # the random weights, hence the lesions found, repeat run to run
    config_files = [SMOKE_CPU] if args.smoke else []
    params = layered_params(config_files)
    normalisation = normalisation_of(params.task.train_data.tfds_name)
    width, height = (int(v) for v in args.size.split("x"))
    jpeg = photograph(width, height)
    normalised, _ = fundus.normalise_fundus(fundus.decode_fundus(tf.constant(jpeg)), normalisation)
    model = params.task.model
    print(f"machine: {os.cpu_count()} CPUs ({_cpu()}), {platform.system()} {platform.release()}; "
          f"TF {tf.__version__}, tf-models-official {metadata.version('tf-models-official')}")
    print(f"configuration: {'smoke_cpu.yaml' if args.smoke else 'paper (retina_maskrcnn)'}: ResNet-"
          f"{model.backbone.resnet.model_id} FPN {model.input_size[0]}x{model.input_size[1]}, "
          f"{model.detection_generator.max_num_detections} detection slots, random weights; photograph: "
          f"synthetic {width}x{height} JPEG ({len(jpeg) // 1024} KB), normalised to "
          f"{normalisation.output_size}x{normalisation.output_size}", flush=True)

    with tempfile.TemporaryDirectory() as temporary:
        workdir = args.workdir or pathlib.Path(temporary)
        weights, shift = few_lesion_model(params, normalisation, normalised, args.lesions)
        exports = {}
        for variant, threshold in (("few lesions, threshold 0.35", MIN_SCORE), ("all slots, threshold 0.0", 0.0)):
            exports[variant] = SavedModelPredictor(export_weights(
                config_files, weights, workdir, "few" if threshold else "all",
                f"task.model.detection_generator.pre_nms_score_threshold={threshold}"))
        del weights
        print(f"exported both variants ({time.perf_counter() - started:.0f} s so far); background bias "
              f"{shift:+.3f} lets {args.lesions} (ROI, class) pairs reach {MIN_SCORE} before NMS", flush=True)

        forward, trunk, input_size, stock_head = stock_forward(config_files)
        stock_input = tf.image.resize(preprocess_ops.normalize_image(
            tf.cast(normalised, tf.float32), offset=preprocess_ops.MEAN_RGB, scale=preprocess_ops.STDDEV_RGB),
            input_size)

        def call_stock(batch):
            outputs = tf.nest.map_structure(lambda tensor: tensor.numpy(), forward(tf.stack([stock_input] * batch)))
            return outputs["num_detections"].mean()

        def call_export(predictor):
            def call(batch):
                outputs = predictor.run(DEFAULT_SIGNATURE, {PHOTOGRAPHS_INPUT: tf.constant([jpeg] * batch)})
                return outputs["num_lesions"].mean()
            return call

        def call_trunk(batch):
            tf.nest.map_structure(lambda tensor: tensor.numpy(), trunk(tf.stack([stock_input] * batch)))

        runs = {f"stock Model Garden forward ({stock_head})": call_stock}
        runs.update({f"exported, {variant}": call_export(predictor) for variant, predictor in exports.items()})
        runs["stock trunk only: backbone + FPN + RPN head"] = call_trunk
        rows = {}
        print(f"\n{'model':62s} {'batch':>5s} {'p50 s/photo':>12s} {'p95 s/photo':>12s} {'photos/s':>9s} "
              f"{'found':>6s}")
        for batch in BATCHES:
            for label, (seconds, found) in in_turns(runs, batch, args.repeats).items():
                rows[label, batch] = np.median(seconds)
                print(f"{label:62s} {batch:5d} {np.median(seconds):12.2f} {np.percentile(seconds, 95):12.2f} "
                      f"{1 / np.mean(seconds):9.3f} {found:>6s}", flush=True)

    stock_label, few_label, all_label, trunk_label = runs
    print()
    for batch in BATCHES:
        for label, target in ((few_label, 0.6), (all_label, 1.0)):
            ratio = rows[label, batch] / rows[stock_label, batch]
            verdict = ("(targets are for the paper's configuration)" if args.smoke else
                       f"(target <= {target}x{'' if ratio <= target else ': MISSED'})")
            print(f"batch {batch}: {label} / stock = {ratio:.2f}x {verdict}")
        print(f"batch {batch}: {trunk_label} / stock = {rows[trunk_label, batch] / rows[stock_label, batch]:.2f}x "
              "(no head change touches it; the export runs it with its weights frozen)")
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
