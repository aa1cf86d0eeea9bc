"""IDRiD, the field's public benchmark: build idrid, train the CPU recipe on its training photographs, score its 27.

Data: the IDRiD segmentation download (default ../shared/idrid, laid out as
the download; CC BY 4.0). Builds `idrid/lesions_1024` (45 train, 9 validation
photographs from IDRiD's 54 training ones, its 27 test photographs; with
`--masks dilated` `idrid/dilated_1024`, the paper's dilated masks; with
`--resolution 2048` `idrid/lesions_2048`), trains configs smoke_cpu + real_cpu
+ idrid_cpu (ResNet-18 FPN with slim heads, from scratch, random windows of
the photographs; at 2048 also idrid_2048_cpu: the same windows, and tiles of
1088 px wherever whole photographs are scored), then:

1. scores the validation photographs with the last checkpoint (with
   `--average K` the mean of the last K, retina_tf.engine.averaging) and
   chooses the operating point there (retina_tf.evaluation.operating_point);
2. exports the model with that operating point and scores the 27 test
   photographs once, through the export: the challenge's pixel AUPR per type
   at the original size (beside the challenge's best), lesion FROC, the
   paper's mAP at 0.35/0.5/0.75, false positives per lesion found at the
   paper's 0.35 and at the operating point;
3. writes overlays (annotated | reported) of three test photographs, IDRiD_75
   (the most microaneurysms) among them;
4. alters the validation photographs as another camera and clinic would
   (gamma, a colour cast, JPEG quality 70, a smaller field of view) and
   reports the pixel AUPR of each beside the unaltered one.

With `--resolution 2048 --warm-start STEPS` the first STEPS train at 1024 px
and the rest at 2048 px from those weights (progressive resizing).

    python benchmarks/idrid.py [--steps 8000] [--masks lesions|dilated] [--resolution 1024|2048]
                               [--warm-start STEPS] [--average K] [--manual-dir ../shared/idrid] [--workdir DIR]
"""

import argparse
import os
import pathlib
import subprocess
import tempfile
import time

import cv2
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from retina_tf import LESION_CLASSES, datasets
from retina_tf.configs import CONFIG_DIR, SMOKE_CPU
from retina_tf.configs.experiment import experiment_params, layered_params
from retina_tf.data import eophtha, fundus, idrid, visualise
from retina_tf.engine import averaging, train_lib
from retina_tf.engine.evaluate_lib import checkpoint_results, normalised_predictions, saved_model_results
from retina_tf.evaluation import operating_point, pixel_aupr, report
from retina_tf.evaluation.records import LABELS, Lesions, PhotographResult, encode_mask
from retina_tf.serving import export
from retina_tf.serving.predictor import SavedModelPredictor

ROOT = pathlib.Path(__file__).resolve().parents[1]
# (--masks, --resolution): the dataset trained on, and the experiment files layered on smoke_cpu + real_cpu
RECIPES = {("lesions", 1024): ("idrid/lesions_1024", ["idrid_cpu.yaml"]),
           ("dilated", 1024): ("idrid/dilated_1024", ["idrid_cpu.yaml"]),
           ("lesions", 2048): ("idrid/lesions_2048", ["idrid_cpu.yaml", "idrid_2048_cpu.yaml"])}
PAPER_THRESHOLD = 0.35   # the paper's minimum detection confidence
OVERLAID = (75, 79, 81)   # the most microaneurysms, the most exudates, the RGBA-masked photograph
EPOCH = 100   # steps: the recipe's checkpoint interval, and the unit of its schedule


def _du(path: pathlib.Path) -> str:
    return subprocess.run(["du", "-sh", str(path)], capture_output=True, text=True).stdout.split()[0]


def build(dataset: str, manual_dir: pathlib.Path, data_dir: pathlib.Path):
    start = time.perf_counter()
    builder = datasets.build(dataset, manual_dir, data_dir)
    splits = ", ".join(f"{name} {split.num_examples}" for name, split in sorted(builder.info.splits.items()))
    print(f"{dataset}: {splits}; built (or found) in {(time.perf_counter() - start) / 60:.1f} min, "
          f"{_du(pathlib.Path(builder.data_dir))} on disk")
    return builder


def _config_files(files) -> list:
    return [SMOKE_CPU, CONFIG_DIR / "real_cpu.yaml", *(CONFIG_DIR / name for name in files)]


def _stage_epochs(steps: int) -> tuple[int, int]:
    """The recipe's schedule in epochs of EPOCH steps: 3/4 of the steps at the first learning rate, then the rest."""
    first = max(1, (steps * 3 // 4) // EPOCH)
    return first, max(1, steps // EPOCH - first)


def train(dataset: str, files, data_dir: pathlib.Path, model_dir: pathlib.Path, steps: int, window: int,
          overrides, warm_start=None) -> int:
    """Trains to `steps` (or resumes there); returns the model's detection cap.

    warm_start (a model folder, the steps it holds): that model's weights, every module, start this training
    (task.init_checkpoint, modules all), which then runs only the rest of the schedule's first stage.
    """
    first, second = _stage_epochs(steps)
    epochs = f"[{first},{second}]"
    if warm_start:
        warm_dir, warm_steps = warm_start
        epochs = f"[{first - warm_steps // EPOCH},{second}]"
        overrides = [f"task.init_checkpoint={warm_dir}", "task.init_checkpoint_modules=all", *overrides]
    params = experiment_params(
        _config_files(files),
        [f"task.train_data.parser.aug_window_size=[{window},{window}]", f"task.schedule.steps_per_epoch={EPOCH}",
         f"task.schedule.epochs={epochs}", "task.schedule.validation_every_epochs=10",
         f"task.train_data.tfds_name={dataset}", f"task.validation_data.tfds_name={dataset}", *overrides],
        data_dir=data_dir)
    start = time.perf_counter()
    result = train_lib.train(params, model_dir, mode="train_and_eval")   # validation every 1000 steps
    minutes = (time.perf_counter() - start) / 60
    size = params.task.model.input_size[0]
    print(f"machine: {os.cpu_count()} CPU cores; trained to step {result.step} (batch 2, {window}x{window} "
          f"windows of the {size} px photographs) in {minutes:.1f} min this run")
    return params.task.model.detection_generator.max_num_detections


def warm_start_at_1024(steps: int, total_steps: int, manual_dir: pathlib.Path, data_dir: pathlib.Path,
                       workdir: pathlib.Path, window: int, overrides):
    """Progressive resizing: the first `steps` of a 2048 px training run, on windows of the 1024 px photographs
    (each holds about three times the lesions: training_windows.py) at the first learning rate."""
    first_stage = _stage_epochs(total_steps)[0] * EPOCH
    if not 0 < steps < first_stage or steps % EPOCH:
        raise SystemExit(f"--warm-start {steps}: give a multiple of 100 below the first learning rate's "
                         f"{first_stage} steps")
    dataset, files = RECIPES["lesions", 1024]
    build(dataset, manual_dir, data_dir)
    rate = layered_params(_config_files(files), overrides).task.schedule.learning_rates[0]
    model_dir = workdir / "model-1024"
    train(dataset, files, data_dir, model_dir, steps, window,
          [*overrides, f"task.schedule.epochs=[{steps // EPOCH}]", f"task.schedule.learning_rates=[{rate}]"])
    return model_dir, steps


def print_figures(name: str, results, thresholds: dict[str, float]):
    figures = report.evaluate(results)
    print(f"\n{name}: {len(results)} photographs")
    for label, lesion in enumerate(LESION_CLASSES, start=1):
        aupr = figures["pixel_aupr"][lesion]["aupr"]
        best = pixel_aupr.IDRID_BEST_AUPR[label]
        print(f"  {lesion:14s} pixel AUPR {aupr:.3f} ({aupr / best:.2f}x the challenge's best {best}), "
              f"FROC {figures['froc'][lesion]['score']:.3f} over {figures['froc'][lesion]['lesions']} lesions")
    paper = figures["paper_map"]
    per_type = ", ".join(f"{lesion} {values['0.5']:.3f}" for lesion, values in paper["class_mean_ap"].items())
    print("  paper mAP35 / 50 / 75: " + " / ".join(f"{value:.3f}" for value in paper["mean_ap"].values())
          + f"; mAP50 {per_type}")
    for label, lesion in enumerate(LESION_CLASSES, start=1):
        for at, threshold in (("0.35", PAPER_THRESHOLD), ("the operating point", thresholds[lesion])):
            false_positives, found, lesions = operating_point.false_positives_per_find(results, label, threshold)
            ratio = f"{false_positives / found:.2f} per lesion found" if found else "none found"
            print(f"  {lesion} at {at} ({threshold:.3f}): {found} of {lesions} found, "
                  f"{false_positives} false positives ({ratio})")
    return figures


def diagnose(results, cap: int):
    """Where pixel AUPR is lost: lesion pixels no prediction covers (recall that no threshold brings back), the
    precision of the covered pixels at the lowest score, lesions never found, photographs at the detection cap."""
    print(f"\nwhere it falls short, on these {len(results)} photographs:")
    capped = sum(len(result.predictions) >= cap for result in results)
    print(f"  photographs whose predictions fill all {cap} detection slots: {capped}")
    for label, lesion in enumerate(LESION_CLASSES, start=1):
        counts = pixel_aupr.PixelCounts.pooled([pixel_aupr.photograph_counts(result, label) for result in results])
        thresholds, precision, recall = pixel_aupr.precision_recall(counts)
        covered = thresholds > 0
        reach, at = (recall[covered][-1], precision[covered][-1]) if covered.any() else (0.0, 0.0)
        _, found, lesions = operating_point.false_positives_per_find(results, label, 0.0)
        print(f"  {lesion}: {reach:.1%} of the lesion pixels covered by a prediction of any score (precision "
              f"{at:.3f} there); {found} of {lesions} lesions hit by any prediction")


def write_overlays(dataset: str, results, data_dir: pathlib.Path, out: pathlib.Path, thresholds: dict[str, float]):
    by_id = {result.image_id: result for result in results}
    for example in tfds.as_numpy(tfds.load(dataset, split="test", data_dir=str(data_dir))):
        number = int(example["image/id"])
        if number in OVERLAID:
            sheet = visualise.result_sheet(example["image"], by_id[number], thresholds)
            print(f"  overlay {visualise.write_png(out / f'IDRiD_{number}.png', sheet)}")


# Another camera and clinic: photometric changes keep the geometry; the smaller field of view shrinks the
# photograph into a black frame of the same size (its masks with it).
ALTERATIONS = {
    "as taken": lambda image: image,
    "gamma 0.7": lambda image: _gamma(image, 0.7),
    "gamma 1.4": lambda image: _gamma(image, 1.4),
    "colour cast (R x1.1, B x0.8)": lambda image: np.clip(image * np.array([1.1, 1.0, 0.8]), 0, 255).astype(np.uint8),
    "JPEG quality 70": lambda image: cv2.cvtColor(cv2.imdecode(cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 70])[1], cv2.IMREAD_COLOR),
        cv2.COLOR_BGR2RGB),
    "field of view 0.7x": lambda image: _shrink(image, 0.7, cv2.INTER_AREA),
}


def _gamma(image, gamma):
    return np.round(255 * (image / 255.0) ** gamma).astype(np.uint8)


def _shrink(image, factor, interpolation):
    height, width = image.shape[:2]
    small = cv2.resize(image, (round(width * factor), round(height * factor)), interpolation=interpolation)
    framed = np.zeros_like(image)
    top, left = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
    framed[top:top + small.shape[0], left:left + small.shape[1]] = small
    return framed


def camera_table(dataset: str, version: pathlib.Path, manual_dir: pathlib.Path, data_dir: pathlib.Path):
    """Pixel AUPR per type of the validation photographs under each alteration."""
    predictor = SavedModelPredictor(version)
    size = tfds.builder(dataset, data_dir=str(data_dir)).builder_config.image_size
    normalise = fundus.photograph_normaliser(fundus.FundusNormalisation(output_size=size))
    validation = idrid.split_photographs(idrid.scan(manual_dir))["validation"]
    print(f"\nAnother camera: the {len(validation)} validation photographs altered, pixel AUPR at the original size")
    print("| alteration | exudate AUPR | change | microaneurysm AUPR | change |\n|---|---|---|---|---|")
    baseline = None
    for name, alter in ALTERATIONS.items():
        results = []
        for photograph in validation:
            image = alter(eophtha.read_photograph(photograph.path))
            masks = {lesion: idrid.read_mask(path) for lesion, path in photograph.masks.items()}
            if name.startswith("field of view"):
                masks = {lesion: _shrink(mask.astype(np.uint8), 0.7, cv2.INTER_NEAREST) > 0
                         for lesion, mask in masks.items()}
            normalised, geometry = normalise(tf.constant(image))
            results.append(PhotographResult(
                image_id=photograph.number, height=size, width=size,
                status={label: photograph.status[lesion] for label, lesion in enumerate(LESION_CLASSES, start=1)},
                ground_truth=Lesions.empty(size, size),
                predictions=normalised_predictions(predictor, normalised.numpy()),
                lesion_pixels={label: encode_mask(masks[lesion]) for label, lesion in
                               enumerate(LESION_CLASSES, start=1) if lesion in masks},
                geometry=geometry.numpy()))
        auprs = [pixel_aupr.compute_pixel_aupr(results, label).aupr for label in LABELS]
        baseline = baseline or auprs
        print(f"| {name} | " + " | ".join(f"{aupr:.3f} | {aupr / base - 1:+.0%}" for aupr, base in zip(auprs, baseline))
              + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manual-dir", type=pathlib.Path, default=ROOT.parent / "shared" / "idrid",
                        help="the IDRiD download (the folder holding 'A. Segmentation')")
    parser.add_argument("--steps", type=int, default=8000,
                        help="training steps of batch 2 (8000: about 40 min on 2 cores)")
    parser.add_argument("--window", type=int, default=256, help="side of the training windows")
    parser.add_argument("--workdir", type=pathlib.Path, help="keep the dataset, model, export and pictures here "
                                                             "(a second run resumes or reuses them)")
    parser.add_argument("--masks", choices=["lesions", "dilated"], default="lesions",
                        help="train on masks the size of the lesions, or on the paper's dilated ones; pixel AUPR is "
                             "scored against the lesions as drawn either way")
    parser.add_argument("--resolution", type=int, choices=[1024, 2048], default=1024,
                        help="the photographs' side: 2048 trains on windows of idrid/lesions_2048 and runs "
                             "validation, the export and scoring over tiles (configs/idrid_2048_cpu.yaml)")
    parser.add_argument("--average", type=int, metavar="K",
                        help="score and export the mean of the last K checkpoints (retina-tf average) instead of the "
                             "last one; its figures and pictures go to DIR/*-meanK (the training must keep K: "
                             "--override trainer.max_to_keep=K)")
    parser.add_argument("--warm-start", type=int, metavar="STEPS",
                        help="with --resolution 2048: train the first STEPS (a multiple of 100, at the first "
                             "learning rate) on windows of idrid/lesions_1024 in DIR/model-1024, then the rest at "
                             "2048 px from those weights")
    parser.add_argument("--override", action="append", default=[], help="extra field=value config overrides")
    args = parser.parse_args()

    workdir = args.workdir or pathlib.Path(tempfile.mkdtemp(prefix="idrid_"))
    data_dir, model_dir = workdir / "data", workdir / "model"
    if (args.masks, args.resolution) not in RECIPES:
        parser.error(f"--masks {args.masks} has no dataset at --resolution {args.resolution}")
    dataset, files = RECIPES[args.masks, args.resolution]
    warm_start = None
    if args.warm_start:
        if args.resolution == 1024:
            parser.error("--warm-start trains its first steps at 1024 px: give it with --resolution 2048")
        warm_start = warm_start_at_1024(args.warm_start, args.steps, args.manual_dir, data_dir, workdir,
                                        args.window, args.override)
    build(dataset, args.manual_dir, data_dir)
    cap = train(dataset, files, data_dir, model_dir, args.steps, args.window, args.override, warm_start)

    scored, suffix = None, ""
    if args.average:
        averaged = averaging.average_checkpoints(model_dir, args.average)
        scored, suffix = averaged.checkpoint, f"-mean{args.average}"
        print(f"\nscoring the mean of {len(averaged.sources)} checkpoints, {averaged.sources[0]} to "
              f"{averaged.sources[-1]}")
    validation, checkpoint = checkpoint_results(model_dir, data_dir, "validation", checkpoint=scored)
    chosen = operating_point.choose_operating_point(validation)
    for lesion, threshold in chosen.items():
        print(operating_point.summary_line(lesion, threshold))
    chosen_file = operating_point.write_operating_point(chosen, workdir / f"validation{suffix}", "validation",
                                                        len(validation), checkpoint)
    point = operating_point.read_operating_point(chosen_file)
    print_figures("validation (checkpoint)", validation, point.thresholds)
    diagnose(validation, cap)

    version = export.export(model_dir, workdir / "export", operating_point=point, checkpoint=scored)
    start = time.perf_counter()
    test = saved_model_results(version, data_dir, "test", None)
    print(f"\nscored the test photographs through {version} in {(time.perf_counter() - start) / 60:.1f} min")
    report.write_report(test, workdir / f"test{suffix}")
    print_figures("test (export, scored once)", test, point.thresholds)
    write_overlays(dataset, test, data_dir, workdir / f"overlays{suffix}", point.thresholds)
    camera_table(dataset, version, args.manual_dir, data_dir)


if __name__ == "__main__":
    main()
