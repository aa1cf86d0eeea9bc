"""`retina-tf build-dataset`: build a TFDS dataset (e_ophtha or idrid) from its manual download."""

import pathlib

from retina_tf.commands import arguments
from retina_tf.utils.errors import UserError

_HOW_TO_GET = {
    "e_ophtha": "e-ophtha cannot be downloaded by code: request it from ADCIS "
                "(https://www.adcis.net/en/third-party/e-ophtha/) and put e_optha_EX/ and e_optha_MA/, or "
                "e_optha_EX.zip and e_optha_MA.zip, in that folder",
    "idrid": "download IDRiD (CC BY 4.0, IEEE Dataport, doi:10.21227/H25W98), unpack it and name the folder "
             "holding 'A. Segmentation' (or that folder itself)",
}


def add_arguments(parser):
    parser.add_argument("--dataset", default="e_ophtha",
                        help="the TFDS dataset, alone or with its config: e_ophtha (default), "
                             "e_ophtha/paper_1024, idrid (= idrid/lesions_1024), idrid/lesions_512, "
                             "idrid/lesions_2048, idrid/dilated_1024 (the paper's dilated masks), ...")
    parser.add_argument("--manual-dir", type=pathlib.Path, required=True,
                        help="the unpacked download: for e_ophtha the folder holding e_optha_EX/ and e_optha_MA/ "
                             "(or their zip archives); for idrid the folder holding 'A. Segmentation'")
    arguments.add_data_dir(parser, required=True, help_text="TFDS data_dir to write into")
    arguments.add_dataset_config(parser, "the dataset's builder config, e.g. patients_512 (default: the "
                                         "dataset's default: e_ophtha patients_1024, idrid lesions_1024)")


def run(args):
    from retina_tf import datasets  # noqa: PLC0415  TensorFlow loads when the command runs, not for --help

    name, _, config = args.dataset.partition("/")
    if name not in datasets.dataset_names():
        raise UserError(f"--dataset {args.dataset}: no such dataset (one of {', '.join(datasets.dataset_names())})")
    if config and args.dataset_config and config != args.dataset_config:
        raise UserError(f"--dataset {args.dataset} and --dataset-config {args.dataset_config} name two configs: "
                        "give one")
    config = config or args.dataset_config or datasets.configs_of(name)[0]
    if config not in datasets.configs_of(name):
        raise UserError(f"{name} has no config {config!r} (one of {', '.join(datasets.configs_of(name))})")
    if not args.manual_dir.is_dir():
        raise UserError(f"{args.manual_dir}: no such folder. {_HOW_TO_GET[name]}")
    builder = datasets.build(f"{name}/{config}", args.manual_dir, args.data_dir)
    splits = ", ".join(f"{split} {info.num_examples}" for split, info in sorted(builder.info.splits.items()))
    print(f"{name}/{config} in {builder.data_dir}: {splits}")
