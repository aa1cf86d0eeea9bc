"""Can the pipeline learn real lesions? Train a CPU-sized model on three real photographs, score them and a fourth.

Data: tests/data/real_fundus (IDRiD 01-04, CC BY 4.0: four 4288x2848
photographs with exudate and microaneurysm masks). Builds
e_ophtha/all_train_1024 twice, from the three training photographs ("fit":
can the pipeline fit real lesions?) and from the held-out one ("held out":
does anything generalise?); the all_train config puts every photograph
in `train`: four are too few for a validation and a test split.
Trains configs/smoke_cpu.yaml (ResNet-18 FPN from scratch) at the dataset's
1024 px on random 256x256 windows, then scores whole 1024 px photographs:
the paper's mAP at mask IoU 0.35/0.5/0.75, COCO segm AP, the lesion FROC per
type, and the false positives per lesion found at the paper's 0.35 score
threshold; and writes one overlay per photograph (annotations left, the
lesions found at 0.35 right) for a person to look at.

    python benchmarks/learn_real.py [--steps 1800] [--held-out IDRiD_04] [--workdir DIR]
"""

import argparse
import os
import pathlib
import shutil
import tempfile
import time

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
import tf_keras
from official.core import task_factory
from official.vision.ops import preprocess_ops

from retina_tf import (
    LESION_CLASSES,
    registry_imports,  # noqa: F401  task_factory: the retina_maskrcnn task
)
from retina_tf.configs import CONFIG_DIR, SMOKE_CPU
from retina_tf.configs.experiment import experiment_params, trained_model
from retina_tf.data import visualise
from retina_tf.datasets import build_e_ophtha
from retina_tf.engine import train_lib
from retina_tf.engine.evaluate_lib import checkpoint_results
from retina_tf.evaluation import report
from retina_tf.evaluation.operating_point import DEFAULT_THRESHOLD, false_positives_per_find

ROOT = pathlib.Path(__file__).resolve().parents[1]
REAL_FUNDUS = ROOT / "tests" / "data" / "real_fundus"
DATASET = "e_ophtha/all_train_1024"


def _subtree(stems, out: pathlib.Path) -> pathlib.Path:
    """An e-ophtha manual_dir holding only the photographs (and their masks) named by stem."""
    for path in REAL_FUNDUS.rglob("*"):
        if path.is_file() and path.name.split(".")[0].removesuffix("_EX") in stems:
            target = out / path.relative_to(REAL_FUNDUS)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    return out


def _build(stems, workdir: pathlib.Path) -> pathlib.Path:
    data_dir = workdir / "data"
    tree = _subtree(stems, workdir / "tree")
    build_e_ophtha(tree, data_dir, DATASET.partition("/")[2])
    return data_dir


def write_overlays(results, data_dir: pathlib.Path, out: pathlib.Path, threshold: float = DEFAULT_THRESHOLD):
    """Per photograph: annotated lesions outlined (left) | lesions found at threshold (right), 1024 px."""
    by_id = {result.image_id: result for result in results}
    written = []
    for example in tfds.as_numpy(tfds.load(DATASET, split="train", data_dir=str(data_dir))):
        result = by_id[int(example["image/id"])]
        sheet = visualise.result_sheet(example["image"], result, threshold)
        stem = pathlib.PurePath(example["image/filename"].decode()).stem
        written.append(visualise.write_png(out / f"{stem}.png", sheet))
    return written


def batch_norm_drift(model_dir: pathlib.Path, data_dir: pathlib.Path):
    """Per backbone batch-norm layer, the variance of its input on a training photograph over its moving variance.

    Near 1 the moving statistics describe what inference sees; far below 1
    each layer shrinks what the next one gets and the heads see nearly
    constant features (what a momentum too slow for the run does).
    """
    trained = trained_model(model_dir)
    model = task_factory.get_task(trained.params.task).build_model()
    tf.train.Checkpoint(model=model).read(trained.checkpoint).expect_partial()
    norms = [layer for layer in model.backbone.submodules if isinstance(layer, tf_keras.layers.BatchNormalization)]
    ratios = []

    def recording(layer):
        def call(inputs, training=None):
            variance = tf.math.reduce_variance(inputs, axis=[0, 1, 2]) / layer.moving_variance
            ratios.append(float(tf.reduce_mean(variance)))
            return type(layer).call(layer, inputs, training=training)
        return call

    for layer in norms:
        layer.call = recording(layer)   # eager: each layer's input as the backbone runs in inference mode
    example = next(iter(tfds.load(DATASET, split="train", data_dir=str(data_dir))))
    image = preprocess_ops.normalize_image(tf.image.convert_image_dtype(example["image"], tf.float32))
    model.backbone(image[None], training=False)
    return np.array(ratios)   # in the order the layers run


def score(model_dir: pathlib.Path, data_dir: pathlib.Path, name: str, out: pathlib.Path):
    """Prints the figures of one set and writes its overlays."""
    results, _ = checkpoint_results(model_dir, data_dir, "train")
    figures = report.headline(report.evaluate(results))
    print(f"\n{name} ({len(results)} photographs, scored whole at 1024 px)")
    for key in ("paper_mAP35", "paper_mAP50", "paper_mAP75", "paper_mAP50/exudate", "paper_mAP50/microaneurysm",
                "paper_mAP35/exudate", "paper_mAP35/microaneurysm", "coco_segm_AP", "coco_segm_AP50",
                "froc_score/exudate", "froc_score/microaneurysm"):
        value = figures.get(key)
        print(f"  {key:28s} {'n/a' if value is None else f'{value:.3f}'}")
    for label, lesion in enumerate(LESION_CLASSES, start=1):
        false_positives, found, lesions = false_positives_per_find(results, label)
        ratio = f"{false_positives / found:.2f} per lesion found" if found else "none found"
        print(f"  {lesion} at score >= {DEFAULT_THRESHOLD}: {found} of {lesions} lesions found, "
              f"{false_positives} false positives ({ratio})")
    for path in write_overlays(results, data_dir, out / name):
        print(f"  overlay {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1800,
                        help="training steps of batch 2 (1800: about 25 min on 2 cores)")
    parser.add_argument("--window", type=int, default=256, help="side of the training windows at 1024 px")
    parser.add_argument("--held-out", default="IDRiD_04", help="the photograph left out of training")
    parser.add_argument("--workdir", type=pathlib.Path, help="keep the datasets, model and overlays here")
    parser.add_argument("--override", action="append", default=[], help="extra field=value config overrides")
    args = parser.parse_args()

    workdir = args.workdir or pathlib.Path(tempfile.mkdtemp(prefix="learn_real_"))
    stems = sorted(path.stem for path in (REAL_FUNDUS / "e_optha_EX" / "EX").glob("*/*.jpg"))
    if args.held_out not in stems:
        parser.error(f"--held-out {args.held_out}: not one of {stems}")
    fit = _build([stem for stem in stems if stem != args.held_out], workdir / "fit")
    held_out = _build([args.held_out], workdir / "held_out")

    epoch = 100
    first = max(1, (args.steps * 3 // 4) // epoch)
    second = max(1, args.steps // epoch - first)
    params = experiment_params(
        [SMOKE_CPU, CONFIG_DIR / "real_cpu.yaml"],
        [f"task.train_data.tfds_name={DATASET}", f"task.validation_data.tfds_name={DATASET}",
         f"task.train_data.parser.aug_window_size=[{args.window},{args.window}]",
         f"task.schedule.steps_per_epoch={epoch}", f"task.schedule.epochs=[{first},{second}]", *args.override],
        data_dir=fit)
    start = time.perf_counter()
    result = train_lib.train(params, workdir / "model", mode="train")
    minutes = (time.perf_counter() - start) / 60
    print(f"machine: {os.cpu_count()} CPU cores; trained {result.step} steps of batch 2 on {args.window}x"
          f"{args.window} windows of {len(stems) - 1} photographs at 1024 px in {minutes:.1f} min")
    ratios = batch_norm_drift(workdir / "model", fit)
    print(f"backbone batch norm, input variance / moving variance on a training photograph: first layer "
          f"{ratios[0]:.2f}, median {np.median(ratios):.2f}, last layer {ratios[-1]:.2f}, lowest {ratios.min():.2f} "
          f"({len(ratios)} layers; near 1: the moving statistics fit)")
    score(workdir / "model", fit, "fit", workdir / "overlays")
    score(workdir / "model", held_out, "held_out", workdir / "overlays")


if __name__ == "__main__":
    main()
