"""Does the tiny-anchor setup learn small lesions? Train the smoke setup on the CPU and score it.

Writes a synthetic e-ophtha tree (exudate clusters and microaneurysm dots a
few pixels wide), builds e_ophtha/patients_512, trains configs/smoke_cpu.yaml
(ResNet-18 FPN at 256x256, from scratch) for a fixed number of steps sized to
stay under 20 minutes on 2 cores, and prints the validation split's paper
metric (mAP at mask IoU 0.5) per lesion type, with COCO AP and the FROC score.

    python benchmarks/learn_synthetic.py [--steps 1500] [--photographs 40] [--workdir DIR]
"""

import argparse
import os
import pathlib
import tempfile
import time

from retina_tf.configs import SMOKE_CPU
from retina_tf.configs.experiment import experiment_params
from retina_tf.data import synthetic
from retina_tf.datasets import build_e_ophtha
from retina_tf.engine import train_lib
from retina_tf.engine.evaluate_lib import checkpoint_results
from retina_tf.evaluation import report


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500, help="training steps (batch 2)")
    parser.add_argument("--photographs", type=int, default=40, help="lesion photographs per set")
    parser.add_argument("--workdir", type=pathlib.Path, help="keep the tree, dataset and model here")
    args = parser.parse_args()

    workdir = args.workdir or pathlib.Path(tempfile.mkdtemp(prefix="learn_synthetic_"))
    spec = synthetic.SyntheticEophtha(
        exudate_photographs=args.photographs, microaneurysm_photographs=args.photographs, exudate_healthy=0,
        microaneurysm_healthy=0, shared_photographs=args.photographs // 4, photographs_per_patient=2,
        sizes=((720, 480), (864, 576)), seed=11)
    if not (workdir / "tree" / "e_optha_EX").exists():
        synthetic.write_synthetic_eophtha(workdir / "tree", spec)
    builder = build_e_ophtha(workdir / "tree", workdir / "data", "patients_512")
    splits = {name: split.num_examples for name, split in builder.info.splits.items()}

    epoch = 100
    first = max(1, (args.steps * 3 // 4) // epoch)
    second = max(1, args.steps // epoch - first)
    params = experiment_params(
        [SMOKE_CPU],
        [f"task.schedule.steps_per_epoch={epoch}", f"task.schedule.epochs=[{first},{second}]",
         "task.schedule.learning_rates=[0.001,0.0001]",
         "task.model.detection_generator.pre_nms_score_threshold=0.05",
         "task.model.detection_generator.max_num_detections=64"],
        data_dir=workdir / "data")
    start = time.perf_counter()
    result = train_lib.train(params, workdir / "model", mode="train")
    minutes = (time.perf_counter() - start) / 60
    figures = report.headline(report.evaluate(checkpoint_results(workdir / "model", workdir / "data", "validation")[0]))
    print(f"machine: {os.cpu_count()} CPU cores; dataset {splits}; {result.step} steps of batch 2 at 256x256 "
          f"in {minutes:.1f} min of training")
    for name in ("paper_mAP50/exudate", "paper_mAP50/microaneurysm", "paper_mAP50", "paper_mAP35",
                 "coco_segm_AP50", "froc_score/exudate", "froc_score/microaneurysm"):
        value = figures.get(name)
        print(f"validation {name:28s} {'n/a' if value is None else f'{value:.3f}'}")


if __name__ == "__main__":
    main()
