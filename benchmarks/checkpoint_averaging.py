"""What averaging the last checkpoints buys: a model_dir's validation figures from single checkpoints and means.

Scores, on one split (default validation: the choice is made there), the
newest checkpoints one by one and the mean of the newest K for each K
(retina_tf.engine.averaging, the weights averaged as `retina-tf average`
does): pixel AUPR per type at the original size, lesion FROC and the paper's
mAP50. The training must have kept the checkpoints (trainer.max_to_keep at
least the largest K).

    python benchmarks/checkpoint_averaging.py --model-dir DIR --data-dir DIR [--split validation]
        [--means 2 5 10 20] [--singles 5]
"""

import argparse
import pathlib
import tempfile
import time

from retina_tf import LESION_CLASSES
from retina_tf.engine import averaging, evaluate_lib
from retina_tf.evaluation import report
from retina_tf.utils import checkpoints


def row(name: str, results, seconds: float) -> str:
    figures = report.evaluate(results)
    cells = [f"{figures['pixel_aupr'][lesion]['aupr']:.3f}" for lesion in LESION_CLASSES]
    cells += [" / ".join(f"{figures['froc'][lesion]['score']:.3f}" for lesion in LESION_CLASSES),
              f"{figures['paper_map']['mean_ap']['0.5']:.3f}"]
    return f"| {name} | " + " | ".join(cells) + f" |   ({seconds:.0f} s)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=pathlib.Path, required=True)
    parser.add_argument("--data-dir", type=pathlib.Path, required=True)
    parser.add_argument("--split", default="validation")
    parser.add_argument("--means", type=int, nargs="+", default=[2, 5, 10, 20], help="K of the means of the newest K")
    parser.add_argument("--singles", type=int, default=5, help="how many of the newest checkpoints to score alone")
    args = parser.parse_args()

    print(f"{args.model_dir}, {args.split} split, pixel AUPR at the original size")
    print("| checkpoint | " + " | ".join(f"{lesion} pixel AUPR" for lesion in LESION_CLASSES)
          + " | FROC " + " / ".join(LESION_CLASSES) + " | paper mAP50 |\n|---|---|---|---|---|")
    for single in checkpoints.newest(args.model_dir, args.singles):
        start = time.perf_counter()
        results, _ = evaluate_lib.checkpoint_results(args.model_dir, args.data_dir, args.split, checkpoint=single)
        print(row(f"step {checkpoints.step_of(single)}", results, time.perf_counter() - start), flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        for count in args.means:
            start = time.perf_counter()
            averaged = averaging.average_checkpoints(args.model_dir, count, str(pathlib.Path(scratch) / f"mean{count}"))
            results, _ = evaluate_lib.checkpoint_results(args.model_dir, args.data_dir, args.split,
                                                         checkpoint=averaged.checkpoint)
            first, last = (checkpoints.step_of(averaged.sources[end]) for end in (0, -1))
            print(row(f"mean of {count} (steps {first}-{last})", results, time.perf_counter() - start), flush=True)


if __name__ == "__main__":
    main()
