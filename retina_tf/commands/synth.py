"""`retina-tf synth`: a synthetic e-ophtha tree to try the system without the real data."""

import collections
import pathlib


def add_arguments(parser):
    parser.add_argument("--out", type=pathlib.Path, required=True,
                        help="folder to write e_optha_EX/ and e_optha_MA/ into")
    parser.add_argument("--exudates", type=int, default=8, help="photographs with exudates (default 8)")
    parser.add_argument("--microaneurysms", type=int, default=8, help="photographs with microaneurysms (default 8)")
    parser.add_argument("--healthy", type=int, default=4, help="healthy photographs per set (default 4)")
    parser.add_argument("--shared", type=int, default=2, help="photographs in both sets (default 2)")
    parser.add_argument("--size", type=_size, action="append", dest="sizes",
                        help="WIDTHxHEIGHT, repeatable (default 480x320 and 576x384; e-ophtha: 1440x960..2544x1696)")
    parser.add_argument("--seed", type=int, default=0)


def _size(text):
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


def run(args):
    from retina_tf.data import synthetic  # noqa: PLC0415  TensorFlow loads when the command runs, not for --help

    spec = synthetic.SyntheticEophtha(
        exudate_photographs=args.exudates, microaneurysm_photographs=args.microaneurysms,
        exudate_healthy=args.healthy, microaneurysm_healthy=args.healthy, shared_photographs=args.shared,
        seed=args.seed, **({"sizes": tuple(args.sizes)} if args.sizes else {}))
    written = synthetic.write_synthetic_eophtha(args.out, spec)
    folders = collections.Counter(path.rsplit("/", 2)[0] for photo in written for path in photo.paths)
    for folder, count in sorted(folders.items()):
        print(f"{args.out / folder}: {count} photographs")
    print(f"wrote {len(written)} photographs under {args.out}")
