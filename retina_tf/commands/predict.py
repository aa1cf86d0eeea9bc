"""`retina-tf predict`: lesions on fundus photographs, from a model server or a local SavedModel.

Writes, per photograph, <stem>.json (every lesion the model kept, with its
score, those at or above the threshold marked reported) and
<stem>_lesions.png (each reported lesion outlined on the photograph, with a
legend). The threshold per lesion type is the export's operating point,
which the model answers with, unless --min-score gives one for both.
Photographs travel in batches; a photograph the model cannot read is
reported by name and the others go on, and the status is non-zero if any
failed (what cron and batch schedulers read).
"""

import pathlib
import sys

from retina_tf.commands import arguments
from retina_tf.utils import storage
from retina_tf.utils.errors import UserError


def add_arguments(parser):
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--server", metavar="HOST:PORT",
                        help="gRPC address of TF Serving (or retina-tf serve), e.g. localhost:8500")
    source.add_argument("--saved-model", type=storage.path,
                        help="an exported SavedModel (version folder or model base) run in this process")
    parser.add_argument("photographs", nargs="+", type=pathlib.Path, help="JPEG or PNG fundus photographs")
    arguments.add_out(parser, "folder for <stem>.json and <stem>_lesions.png")
    arguments.add_model_name(parser, "the served model's name")
    parser.add_argument("--tls", action="store_true", help="connect to the server over TLS")
    parser.add_argument("--root-certificates", type=pathlib.Path,
                        help="PEM file of the CA that signed the server's certificate (implies --tls)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    parser.add_argument("--min-score", type=float, metavar="X",
                        help="report (mark and draw) the lesions scoring at least X, whatever their type, instead of "
                             "those the export's operating point reports")


def run(args):
    from retina_tf.data import visualise  # noqa: PLC0415  TensorFlow loads when the command runs, not for --help
    from retina_tf.serving import client, photograph_files, predictor  # noqa: PLC0415  TensorFlow loads when the command runs, not for --help

    if args.min_score is not None and not 0 <= args.min_score <= 1:
        raise UserError(f"--min-score {args.min_score:g}: a score is from 0 to 1")
    photographs = photograph_files.distinct_photographs(args.photographs)
    if args.saved_model:
        model = predictor.SavedModelPredictor(args.saved_model)
    else:
        roots = args.root_certificates.read_bytes() if args.root_certificates else None
        model = client.RetinaClient(args.server, args.model_name, timeout=args.timeout, tls=args.tls,
                                    root_certificates=roots)
    failures, lesion_count, reported_count, point = 0, 0, 0, None
    for done in photograph_files.predict_files(model, photographs, args.out, min_score=args.min_score):
        if done.failure:
            failures += 1
            print(f"{done.path}: {done.failure}", file=sys.stderr, flush=True)
            continue
        found, point = done.lesions, done.lesions.operating_point
        reported = sum(found.reported_counts().values())
        lesion_count, reported_count = lesion_count + len(found.lesions), reported_count + reported
        counts = ", ".join(found.count_texts().values())
        print(f"{done.path.name}: {counts} reported (of {len(found.lesions)} found) -> {done.json_path}, "
              f"{done.png_path}", flush=True)
    print(f"{len(photographs) - failures} of {len(photographs)} photographs predicted, "
          f"{visualise.plural(reported_count, 'lesion')} reported of {lesion_count} found; outputs in {args.out}")
    if point:
        print(f"reported from score {point.describe()}: {point.chosen_by}")
    if failures:
        print(f"{failures} of {len(photographs)} photographs could not be predicted", file=sys.stderr)
        return 1
    return 0
