"""`retina-tf build-dataset`: build the TFDS dataset e_ophtha from a manual download."""

import pathlib

from retina_tf import storage
from retina_tf.errors import UserError


def add_arguments(parser):
    parser.add_argument("--manual-dir", type=pathlib.Path, required=True,
                        help="folder holding e_optha_EX/ and e_optha_MA/ (or their zip archives)")
    parser.add_argument("--data-dir", type=storage.path, required=True, help="TFDS data_dir to write into")
    parser.add_argument("--config", default="patients_1024",
                        help="builder config: patients_1024 (default), paper_1024, patients_with_healthy_1024, "
                             "all_train_1024 (every photograph in train), or the same at 512")


def run(args):
    from retina_tf import datasets  # noqa: PLC0415  TensorFlow loads when the command runs, not for --help

    if not args.manual_dir.is_dir():
        raise UserError(
            f"{args.manual_dir}: no such folder. e-ophtha cannot be downloaded by code: request it from ADCIS "
            "(https://www.adcis.net/en/third-party/e-ophtha/) and put e_optha_EX/ and e_optha_MA/, or "
            "e_optha_EX.zip and e_optha_MA.zip, in that folder")
    builder = datasets.build_e_ophtha(args.manual_dir, args.data_dir, args.config)
    splits = ", ".join(f"{name} {split.num_examples}" for name, split in sorted(builder.info.splits.items()))
    print(f"e_ophtha/{args.config} in {builder.data_dir}: {splits}")
