"""`retina-tf normalise`: see a photograph the way the model sees it."""

import json
import pathlib
import sys

from retina_tf.errors import UserError, describe


def add_arguments(parser):
    parser.add_argument("photographs", nargs="+", type=pathlib.Path, help="JPEG or PNG fundus photographs")
    parser.add_argument("--out", type=pathlib.Path, required=True, help="folder for <stem>.png and <stem>.json")
    parser.add_argument("--size", type=int, default=1024, help="output side in pixels (default 1024)")


def run(args):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from retina_tf import fundus  # pylint: disable=import-outside-toplevel

    config = fundus.FundusNormalisation(output_size=args.size)

    @tf.function
    def normalise(data):
        return fundus.normalise_fundus(fundus.decode_fundus(data), config)

    args.out.mkdir(parents=True, exist_ok=True)
    failures = 0
    for index, path in enumerate(args.photographs, 1):
        try:
            if not path.is_file():
                raise UserError("no such file")
            image, geometry = normalise(tf.constant(path.read_bytes()))
        except Exception as error:  # pylint: disable=broad-except
            failures += 1
            print(f"[{index}/{len(args.photographs)}] {path}: {describe(error)}", file=sys.stderr)
            continue
        target = args.out / f"{path.stem}.png"
        tf.io.write_file(str(target), tf.io.encode_png(image))
        box = [float(v) for v in geometry.numpy()]
        (args.out / f"{path.stem}.json").write_text(json.dumps(
            dict(zip(fundus.GEOMETRY_FIELDS, box), output_size=args.size, source=str(path)), indent=2))
        print(f"[{index}/{len(args.photographs)}] {path} -> {target}")
    if failures:
        raise UserError(f"{failures} of {len(args.photographs)} photographs could not be normalised")
