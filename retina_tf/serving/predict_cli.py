"""`retina-tf predict`: lesions on fundus photographs, from a model server or a local SavedModel.

Writes, per photograph, <stem>.json (the lesion records) and
<stem>_lesions.png (each lesion outlined on the photograph, with a legend).
Photographs travel in batches; a photograph the model cannot read is
reported by name and the others go on, and the status is non-zero if any
failed (what cron and batch schedulers read).
"""

import pathlib
import sys

BATCH_SIZE = 4


def add_arguments(parser):
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--server", metavar="HOST:PORT",
                        help="gRPC address of TF Serving (or retina-tf serve), e.g. localhost:8500")
    source.add_argument("--saved-model", type=pathlib.Path,
                        help="an exported SavedModel (version folder or model base) run in this process")
    parser.add_argument("photographs", nargs="+", type=pathlib.Path, help="JPEG or PNG fundus photographs")
    parser.add_argument("--out", type=pathlib.Path, required=True,
                        help="folder for <stem>.json and <stem>_lesions.png")
    parser.add_argument("--model-name", default="retina", help="the served model's name (default retina)")
    parser.add_argument("--tls", action="store_true", help="connect to the server over TLS")
    parser.add_argument("--root-certificates", type=pathlib.Path,
                        help="PEM file of the CA that signed the server's certificate (implies --tls)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")


def _model(args):
    """The local predictor or a client: both answer predict(photographs, names)."""
    if args.saved_model:
        from retina_tf.serving.predictor import SavedModelPredictor  # pylint: disable=import-outside-toplevel
        return SavedModelPredictor(args.saved_model)
    from retina_tf.serving.client import RetinaClient  # pylint: disable=import-outside-toplevel
    roots = args.root_certificates.read_bytes() if args.root_certificates else None
    return RetinaClient(args.server, args.model_name, timeout=args.timeout, tls=args.tls, root_certificates=roots)


def _predict(model, batch: list[tuple[pathlib.Path, bytes]]) -> list[tuple[pathlib.Path, object]]:
    """(path, PhotographLesions or the reason it failed) per photograph.

    The model refuses a whole batch for one bad photograph, so a refused
    batch is retried one photograph at a time.
    """
    from retina_tf.serving.predictor import PhotographRejected  # pylint: disable=import-outside-toplevel

    try:
        found = model.predict([data for _, data in batch], [path.name for path, _ in batch])
    except PhotographRejected as error:
        if len(batch) == 1:
            return [(batch[0][0], str(error))]
        return [answer for item in batch for answer in _predict(model, [item])]
    return [(path, lesions) for (path, _), lesions in zip(batch, found)]


def _decode(data: bytes):
    """RGB pixels as the model read them (TensorFlow ignores EXIF orientation, so OpenCV must too); None
    if OpenCV cannot read what TensorFlow could."""
    import cv2  # pylint: disable=import-outside-toplevel
    import numpy as np  # pylint: disable=import-outside-toplevel

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def run(args):
    from retina_tf.errors import UserError  # pylint: disable=import-outside-toplevel
    from retina_tf.serving.predictor import plural, write_outputs  # pylint: disable=import-outside-toplevel

    stems = {}
    for path in args.photographs:
        if path.stem in stems and stems[path.stem] != path:
            raise UserError(f"{stems[path.stem]} and {path} would both write {path.stem}.json: rename one")
        stems[path.stem] = path
    photographs = list(stems.values())
    failures = []

    def failed(path, reason):
        failures.append(path)
        print(f"{path}: {reason}", file=sys.stderr, flush=True)

    readable = []
    for path in photographs:
        if path.is_file():
            readable.append((path, path.read_bytes()))
        else:
            failed(path, "no such file")
    model = _model(args)
    lesion_count = 0
    for start in range(0, len(readable), BATCH_SIZE):
        batch = readable[start:start + BATCH_SIZE]
        data = dict(batch)
        for path, found in _predict(model, batch):
            if isinstance(found, str):
                failed(path, found)
                continue
            image = _decode(data[path])
            if image is None:
                failed(path, "OpenCV cannot decode it for the overlay")
                continue
            json_path, png_path = write_outputs(found, image, args.out)
            lesion_count += len(found.lesions)
            counts = ", ".join(plural(count, lesion_type) for lesion_type, count in found.counts().items())
            print(f"{path.name}: {counts} -> {json_path}, {png_path}", flush=True)
    print(f"{len(photographs) - len(failures)} of {len(photographs)} photographs predicted, "
          f"{plural(lesion_count, 'lesion')} found; outputs in {args.out}")
    if failures:
        print(f"{len(failures)} of {len(photographs)} photographs could not be predicted", file=sys.stderr)
        return 1
    return 0
