"""`retina-tf normalise`: see a photograph the way the model sees it."""

import pathlib
import sys

from retina_tf.commands import arguments
from retina_tf.utils.errors import UserError


def add_arguments(parser):
    parser.add_argument("photographs", nargs="+", type=pathlib.Path, help="JPEG or PNG fundus photographs")
    arguments.add_out(parser, "folder for <stem>.png and <stem>.json")
    parser.add_argument("--size", type=int, default=1024, help="output side in pixels (default 1024)")


def run(args):
    from retina_tf.data.normalise_files import normalise_files  # noqa: PLC0415  TensorFlow loads when the command runs

    total, failures = len(args.photographs), 0
    for index, done in enumerate(normalise_files(args.photographs, args.out, args.size), 1):
        if done.failure:
            failures += 1
            print(f"[{index}/{total}] {done.path}: {done.failure}", file=sys.stderr)
        else:
            print(f"[{index}/{total}] {done.path} -> {done.target}")
    if failures:
        raise UserError(f"{failures} of {total} photographs could not be normalised")
