"""`retina-tf build-dataset`: build the TFDS dataset e_ophtha from a manual download."""

import pathlib

def add_arguments(parser):
    parser.add_argument("--manual-dir", type=pathlib.Path, required=True,
                        help="folder holding e_optha_EX/ and e_optha_MA/ (or their zip archives)")
    parser.add_argument("--data-dir", type=pathlib.Path, required=True, help="TFDS data_dir to write into")
    parser.add_argument("--config", default="patients_1024",
                        help="builder config: patients_1024 (default), paper_1024, patients_with_healthy_1024, "
                             "all_train_1024 (every photograph in train), or the same at 512")


def build(manual_dir: pathlib.Path, data_dir: pathlib.Path, config: str):
    """Builds (or finds already built) e_ophtha/<config>; returns the TFDS builder."""
    import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
    import tfds_eophtha  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import

    builder = tfds.builder(f"e_ophtha/{config}", data_dir=str(data_dir))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
    return builder


def run(args):
    from retina_tf.errors import UserError  # pylint: disable=import-outside-toplevel

    if not args.manual_dir.is_dir():
        raise UserError(
            f"{args.manual_dir}: no such folder. e-ophtha cannot be downloaded by code: request it from ADCIS "
            "(https://www.adcis.net/en/third-party/e-ophtha/) and put e_optha_EX/ and e_optha_MA/, or "
            "e_optha_EX.zip and e_optha_MA.zip, in that folder")
    builder = build(args.manual_dir, args.data_dir, args.config)
    splits = ", ".join(f"{name} {split.num_examples}" for name, split in sorted(builder.info.splits.items()))
    print(f"e_ophtha/{args.config} in {builder.data_dir}: {splits}")
