"""`retina-tf evaluate`: the paper's filtered mAP, COCO AP, lesion FROC and screening on a TFDS split.

With --model-dir the latest checkpoint is scored through the training task's
own validation pipeline and validation step; with --saved-model an exported
model is scored through its `normalised` signature
(retina_tf.engine.evaluate_lib). Either way the figures come from
retina_tf.evaluation against the exact stored lesion masks, and the IDRiD
pixel AUPR, where the dataset stores the annotation as drawn, at the
photographs' original size. Beside the report
it writes operating_point.json, per lesion type the score lesions are
reported from (retina_tf.evaluation.operating_point), for `retina-tf export
--operating-point`: choose it on the validation split, never the test split.
"""

import sys

from retina_tf.commands import arguments
from retina_tf.utils import console, storage
from retina_tf.utils.errors import UserError


def add_arguments(parser):
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model-dir", type=storage.path, help="a training model_dir (params.yaml, checkpoints)")
    source.add_argument("--saved-model", type=storage.path, help="an exported SavedModel version folder")
    arguments.add_checkpoint(parser)
    arguments.add_data_dir(parser, required=True, help_text="TFDS data_dir holding the dataset (e_ophtha or idrid)")
    arguments.add_dataset_config(parser, "the dataset to score on (default: the one the model was trained on, "
                                         "as recorded in params.yaml or the export's retina_tf.json): a config of "
                                         "that dataset (patients_512) or a full name (idrid/lesions_1024)")
    parser.add_argument("--split", default="test", help="train, validation or test (default test); choose the "
                                                          "operating point for an export with --split validation")
    arguments.add_out(parser, "folder for report.json, report.md, plots and operating_point.json")
    parser.add_argument("--operating-threshold", type=float, default=0.5,
                        help="score threshold for the screening sensitivity/specificity (default 0.5)")
    parser.add_argument("--max-false-positives-per-find", type=float, default=0.5, metavar="F",
                        help="the operating point (operating_point.json in --out, for retina-tf export "
                             "--operating-point): per lesion type, the lowest score with at most this many false "
                             "positives per lesion found (default 0.5); choose it on --split validation")
    arguments.add_tiling(parser)


def run(args):
    from retina_tf.engine import evaluate_lib  # noqa: PLC0415  TensorFlow loads when the command runs, not for --help
    from retina_tf.evaluation import operating_point, report  # noqa: PLC0415

    status = console.StatusLine(sys.stderr)

    def progress(count):
        status.update(f"  scored {count} photographs")

    tiling = arguments.tiling_overrides(args)
    if args.saved_model and tiling:
        raise UserError("--tile-size and --tile-overlap apply to --model-dir: an export runs the tiling it was "
                        "exported with (retina-tf export --tile-size)")
    if args.saved_model:
        results = evaluate_lib.saved_model_results(args.saved_model, args.data_dir, args.split, args.dataset_config,
                                                   progress)
        source = args.saved_model
    else:
        results, source = evaluate_lib.checkpoint_results(args.model_dir, args.data_dir, args.split,
                                                          args.dataset_config, progress, args.checkpoint, tiling)
    status.update(f"  scored {len(results)} photographs", final=True)
    status.end()
    if not results:
        raise UserError(f"split {args.split!r} has no photographs")
    figures = report.write_report(results, args.out, operating_threshold=args.operating_threshold)
    print(f"# {args.split} split, {len(results)} photographs, model {source}\n")
    print(report.markdown_table(figures))
    print(f"\nreport.json, report.md and plots in {args.out}")
    chosen = operating_point.choose_operating_point(results, args.max_false_positives_per_find)
    path = operating_point.write_operating_point(chosen, args.out, args.split, len(results), str(source),
                                                 args.max_false_positives_per_find)
    advice = "" if args.split == "validation" else " (for an export, choose it on --split validation)"
    print(f"operating point on the {args.split} split, {path}{advice}:")
    for lesion_type, threshold in chosen.items():
        print(f"  {operating_point.summary_line(lesion_type, threshold)}")
