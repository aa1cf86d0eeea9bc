"""`retina-tf demo`: the whole system end to end, by default on a synthetic e-ophtha tree on a CPU.

Synthetic photographs -> TFDS dataset -> smoke training -> evaluation (paper's
filtered mAP, COCO AP, FROC) -> versioned SavedModel -> gRPC PredictionService
-> client predictions with JSON and overlay pictures. Each stage says what it
does and where its output went. With --manual-dir and a paper config the same
flow runs on real e-ophtha (on a GPU VM). Running it again on the same
workdir reuses the tree and the dataset and resumes training.
"""

import pathlib
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
SMOKE_CONFIG = ROOT / "configs" / "smoke_cpu.yaml"
TOTAL_STAGES = 8


def add_arguments(parser):
    parser.add_argument("--workdir", type=pathlib.Path, default=pathlib.Path("demo"),
                        help="where every artefact goes (default ./demo)")
    parser.add_argument("--photographs", type=int, default=20,
                        help="lesion photographs per set in the synthetic tree (default 20)")
    parser.add_argument("--steps", type=int, default=800,
                        help="training steps of the smoke configuration (default 800, about 7 minutes on "
                             "2 CPU cores; ignored with --config)")
    parser.add_argument("--manual-dir", type=pathlib.Path, help="a real e-ophtha download instead of synthetic data")
    parser.add_argument("--config", type=pathlib.Path, action="append",
                        help="experiment YAML (default configs/smoke_cpu.yaml); repeat to layer files, e.g. "
                             "configs/smoke_cpu.yaml then configs/real_cpu.yaml")
    parser.add_argument("--predict", type=int, default=4, help="photographs sent through the gRPC client")


class _Stages:
    """Numbered stage headers with their duration, so progress is visible."""

    def __init__(self):
        self.number, self.started = 0, None

    def __call__(self, title):
        self.done()
        self.number += 1
        self.started = time.perf_counter()
        print(f"\n[{self.number}/{TOTAL_STAGES}] {title}", flush=True)

    def done(self):
        if self.started is not None:
            print(f"  ({time.perf_counter() - self.started:.1f} s)", flush=True)


def _synthetic_tree(tree: pathlib.Path, photographs: int):
    from retina_tf import synthetic  # pylint: disable=import-outside-toplevel

    if (tree / synthetic.EXUDATE_ROOT).exists():
        print(f"  {tree} already there, reused")
        return
    spec = synthetic.SyntheticEophtha(
        exudate_photographs=photographs, microaneurysm_photographs=photographs, exudate_healthy=2,
        microaneurysm_healthy=2, shared_photographs=min(2, photographs), sizes=((720, 480), (864, 576)))
    written = synthetic.write_synthetic_eophtha(tree, spec)
    print(f"  {len(written)} photographs written to {tree}")


def _lesion_photographs(tree: pathlib.Path, count: int) -> list[pathlib.Path]:
    from retina_tf import eophtha  # pylint: disable=import-outside-toplevel

    chosen = [p for p in eophtha.scan(tree, check_files=False) if p.has_lesions]
    return [p.path for p in chosen[:count]]


def run(args):
    from absl import logging  # pylint: disable=import-outside-toplevel
    from retina_tf import dataset_cli, eophtha, train, visualise  # pylint: disable=import-outside-toplevel
    from retina_tf.errors import UserError  # pylint: disable=import-outside-toplevel
    from retina_tf.evaluate import checkpoint_results  # pylint: disable=import-outside-toplevel
    from retina_tf.evaluation import report  # pylint: disable=import-outside-toplevel
    from retina_tf.serving import client, export, grpc_server, predictor  # pylint: disable=import-outside-toplevel

    logging.set_verbosity(logging.WARNING)   # the demo prints its own progress
    workdir = args.workdir
    stage = _Stages()

    stage("e-ophtha photographs" + ("" if args.manual_dir else " (synthetic)"))
    tree = args.manual_dir or workdir / "e-ophtha"
    if args.manual_dir:
        print(f"  using {tree}")
    else:
        _synthetic_tree(tree, args.photographs)

    stage(f"fundus normalisation, as the model sees the photographs -> {workdir / 'normalised'}")
    sheets = visualise.normalisation_sheets(tree, workdir / "normalised", limit=3)
    if not sheets:
        raise UserError(f"no lesion photograph found under {tree}")
    print(f"  {len(sheets)} side-by-side sheets, e.g. {sheets[0]}")

    config_files = args.config or [SMOKE_CONFIG]
    # The smoke configuration, trained longer, reporting at the paper's minimum score of 0.35.
    epoch = max(1, min(20, args.steps // 4))
    first = max(1, args.steps * 3 // 4 // epoch)
    overrides = [] if args.config else [
        f"task.schedule.steps_per_epoch={epoch}", f"task.schedule.epochs=[{first},{max(1, args.steps // epoch - first)}]",
        "task.model.detection_generator.pre_nms_score_threshold=0.35"]
    data_dir = workdir / "tensorflow_datasets"
    probe = train.experiment_params(config_files, overrides + ["task.schedule.steps_per_epoch=1"], data_dir=None)
    dataset_config = probe.task.train_data.tfds_name.split("/", 1)[1]
    stage(f"TFDS dataset e_ophtha/{dataset_config} -> {data_dir}")
    builder = dataset_cli.build(tree, data_dir, dataset_config)
    splits = ", ".join(f"{name} {split.num_examples}" for name, split in sorted(builder.info.splits.items()))
    examples_png = workdir / "dataset_examples.png"
    visualise.dataset_figure(builder.as_dataset(split="train"), count=6).savefig(examples_png, dpi=90)
    print(f"  {splits}; examples with their lesions outlined: {examples_png}")

    model_dir = workdir / "model"
    params = train.experiment_params(config_files, overrides, data_dir=data_dir)
    stage(f"training {params.trainer.train_steps} steps (ResNet-{params.task.model.backbone.resnet.model_id} FPN, "
          f"{params.task.model.input_size[0]}x{params.task.model.input_size[1]}) -> {model_dir}")
    trained = train.train(params, model_dir, mode="train")
    print(f"  at step {trained.step} of {trained.train_steps}; TensorBoard: tensorboard --logdir {model_dir}")

    report_dir = workdir / "report"
    stage(f"evaluation on the test split -> {report_dir}")
    results, checkpoint = checkpoint_results(model_dir, data_dir, "test")
    figures = report.write_report(results, report_dir)
    headline = report.headline(figures)
    print(report.markdown_table(figures))

    export_base = workdir / "serving"
    stage(f"SavedModel for TF Serving -> {export_base}/retina/<version>")
    version_dir = export.export(model_dir, export_base, "retina", figures={"paper_mAP50": headline.get("paper_mAP50")})
    print(f"  exported {version_dir} from {checkpoint}")

    predictions_dir = workdir / "predictions"
    stage(f"gRPC PredictionService on localhost, client predictions -> {predictions_dir}")
    server, port = grpc_server.start_server(export_base, "retina")
    try:
        photographs = _lesion_photographs(tree, args.predict)
        with client.RetinaClient(f"127.0.0.1:{port}", model_name="retina") as retina:
            found = retina.predict([path.read_bytes() for path in photographs],
                                   names=[path.stem for path in photographs])
    finally:
        server.stop(grace=None)
    overlays = []
    for path, lesions in zip(photographs, found):
        image = eophtha.read_photograph(path)
        json_path, png_path = predictor.write_outputs(lesions, image, predictions_dir)
        overlays.append(png_path)
        counts = lesions.counts()
        print(f"  {path.name}: {counts['exudate']} exudates, {counts['microaneurysm']} microaneurysms "
              f"-> {json_path.name}, {png_path.name}")

    stage("summary")
    print(f"  photographs          {tree}")
    print(f"  normalisation        {workdir / 'normalised'}")
    print(f"  dataset              {builder.data_dir} ({splits})")
    print(f"  model                {model_dir} (step {trained.step})")
    print(f"  report               {report_dir / 'report.md'} and plots")
    print(f"  SavedModel           {version_dir}")
    print(f"  predictions          {predictions_dir} ({len(overlays)} JSON + overlay PNG)")
    for name in ("paper_mAP35", "paper_mAP50", "paper_mAP75", "coco_segm_AP", "froc_score/microaneurysm"):
        value = headline.get(name)
        print(f"  test {name:24s} {'n/a' if value is None else f'{value:.4f}'}")
    stage.done()
