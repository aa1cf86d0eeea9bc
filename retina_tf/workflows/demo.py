"""The whole system end to end, by default on a synthetic e-ophtha tree on a CPU (`retina-tf demo`).

Synthetic photographs -> TFDS dataset -> smoke training -> evaluation (paper's
filtered mAP, COCO AP, FROC) -> versioned SavedModel -> gRPC PredictionService
-> client predictions with JSON and overlay pictures. Each stage says what it
does and where its output went. With a manual_dir and a paper config the same
flow runs on real e-ophtha (on a GPU VM). Running it again on the same
workdir reuses the tree and the dataset and resumes training.
"""

import dataclasses
import pathlib
import time

from absl import logging

from retina_tf import datasets
from retina_tf.configs import SMOKE_CPU
from retina_tf.configs.experiment import experiment_params, layered_params
from retina_tf.data import eophtha, synthetic, visualise
from retina_tf.engine.evaluate_lib import checkpoint_results
from retina_tf.engine.train_lib import train
from retina_tf.evaluation import report
from retina_tf.serving import client, export, grpc_server, lesion_records
from retina_tf.serving.protocol import DEFAULT_MODEL_NAME
from retina_tf.utils.errors import UserError

TOTAL_STAGES = 8
HEADLINE_FIGURES = ("paper_mAP35", "paper_mAP50", "paper_mAP75", "coco_segm_AP", "froc_score/microaneurysm")


@dataclasses.dataclass
class DemoSettings:
    workdir: pathlib.Path = pathlib.Path("demo")
    photographs: int = 20               # lesion photographs per set in the synthetic tree
    steps: int = 800                    # training steps of the smoke configuration (ignored with config_files)
    manual_dir: pathlib.Path | None = None
    config_files: tuple = ()            # experiment YAML; default the smoke configuration
    predict: int = 4                    # photographs sent through the gRPC client
    verbose: bool = False               # TensorFlow's and Model Garden's full logging, no progress line


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


def run_demo(settings: DemoSettings):
    logging.set_verbosity(logging.INFO if settings.verbose else logging.WARNING)   # the demo prints its progress
    workdir = settings.workdir
    stage = _Stages()
    stage("e-ophtha photographs" + ("" if settings.manual_dir else " (synthetic)"))
    tree = _photographs(settings)
    stage(f"fundus normalisation, as the model sees the photographs -> {workdir / 'normalised'}")
    _normalisation_sheets(tree, workdir / "normalised")
    config_files, overrides = _experiment(settings)
    data_dir = workdir / "tensorflow_datasets"
    dataset_config = layered_params(config_files, overrides).task.train_data.tfds_name.split("/", 1)[1]
    stage(f"TFDS dataset e_ophtha/{dataset_config} -> {data_dir}")
    dataset_dir, splits = _dataset(tree, data_dir, dataset_config, workdir / "dataset_examples.png")
    model_dir = workdir / "model"
    params = experiment_params(config_files, overrides, data_dir=data_dir)
    stage(f"training {params.trainer.train_steps} steps (ResNet-{params.task.model.backbone.resnet.model_id} FPN, "
          f"{params.task.model.input_size[0]}x{params.task.model.input_size[1]}) -> {model_dir}")
    trained = train(params, model_dir, mode="train", verbose=settings.verbose)
    print(f"  at step {trained.step} of {trained.train_steps}; TensorBoard: tensorboard --logdir {model_dir}")
    stage(f"evaluation on the test split -> {workdir / 'report'}")
    headline, checkpoint = _evaluation(model_dir, data_dir, workdir / "report")
    export_base = workdir / "serving"
    stage(f"SavedModel for TF Serving -> {export_base}/{DEFAULT_MODEL_NAME}/<version>")
    version_dir = export.export(model_dir, export_base, figures={"paper_mAP50": headline.get("paper_mAP50")})
    print(f"  exported {version_dir} from {checkpoint}")
    stage(f"gRPC PredictionService on localhost, client predictions -> {workdir / 'predictions'}")
    overlays = _predictions(export_base, _lesion_photographs(tree, settings.predict), workdir / "predictions")
    stage("summary")
    print(f"  photographs          {tree}")
    print(f"  normalisation        {workdir / 'normalised'}")
    print(f"  dataset              {dataset_dir} ({splits})")
    print(f"  model                {model_dir} (step {trained.step})")
    print(f"  report               {workdir / 'report' / 'report.md'} and plots")
    print(f"  SavedModel           {version_dir}")
    print(f"  predictions          {workdir / 'predictions'} ({len(overlays)} JSON + overlay PNG)")
    for name in HEADLINE_FIGURES:
        value = headline.get(name)
        print(f"  test {name:24s} {'n/a' if value is None else f'{value:.4f}'}")
    stage.done()


def _photographs(settings: DemoSettings) -> pathlib.Path:
    """The e-ophtha tree: the manual download, or a synthetic one written (once) into the workdir."""
    if settings.manual_dir:
        print(f"  using {settings.manual_dir}")
        return settings.manual_dir
    tree = settings.workdir / "e-ophtha"
    if (tree / synthetic.EXUDATE_ROOT).exists():
        print(f"  {tree} already there, reused")
        return tree
    count = settings.photographs
    spec = synthetic.SyntheticEophtha(
        exudate_photographs=count, microaneurysm_photographs=count, exudate_healthy=2,
        microaneurysm_healthy=2, shared_photographs=min(2, count), sizes=((720, 480), (864, 576)))
    written = synthetic.write_synthetic_eophtha(tree, spec)
    print(f"  {len(written)} photographs written to {tree}")
    return tree


def _normalisation_sheets(tree: pathlib.Path, out: pathlib.Path):
    sheets = visualise.normalisation_sheets(tree, out, limit=3)
    if not sheets:
        raise UserError(f"no lesion photograph found under {tree}")
    print(f"  {len(sheets)} side-by-side sheets, e.g. {sheets[0]}")


def _experiment(settings: DemoSettings) -> tuple[list, list[str]]:
    """Config files and overrides: the given files as they are, or the smoke configuration trained for
    settings.steps and reporting at the paper's minimum score of 0.35."""
    if settings.config_files:
        return list(settings.config_files), []
    steps = settings.steps
    epoch = max(1, min(20, steps // 4))
    first = max(1, steps * 3 // 4 // epoch)
    return [SMOKE_CPU], [f"task.schedule.steps_per_epoch={epoch}",
                         f"task.schedule.epochs=[{first},{max(1, steps // epoch - first)}]",
                         "task.model.detection_generator.pre_nms_score_threshold=0.35"]


def _dataset(tree: pathlib.Path, data_dir: pathlib.Path, config: str, examples_png: pathlib.Path
             ) -> tuple[str, str]:
    """Builds the dataset and draws a few examples; returns its folder and its splits as text."""
    builder = datasets.build_e_ophtha(tree, data_dir, config)
    splits = ", ".join(f"{name} {split.num_examples}" for name, split in sorted(builder.info.splits.items()))
    visualise.dataset_figure(builder.as_dataset(split="train"), count=6).savefig(examples_png, dpi=90)
    print(f"  {splits}; examples with their lesions outlined: {examples_png}")
    return builder.data_dir, splits


def _evaluation(model_dir: pathlib.Path, data_dir: pathlib.Path, report_dir: pathlib.Path) -> tuple[dict, str]:
    results, checkpoint = checkpoint_results(model_dir, data_dir, "test")
    figures = report.write_report(results, report_dir)
    print(report.markdown_table(figures))
    return report.headline(figures), checkpoint


def _lesion_photographs(tree: pathlib.Path, count: int) -> list[pathlib.Path]:
    chosen = [photograph for photograph in eophtha.scan(tree, check_files=False) if photograph.has_lesions]
    return [photograph.path for photograph in chosen[:count]]


def _predictions(export_base: pathlib.Path, photographs: list[pathlib.Path], out: pathlib.Path
                 ) -> list[pathlib.Path]:
    """Serves the export over gRPC, asks the client for the photographs' lesions, writes JSON and overlays."""
    server, port = grpc_server.start_server(export_base)
    try:
        with client.RetinaClient(f"127.0.0.1:{port}") as retina:
            found = retina.predict([path.read_bytes() for path in photographs],
                                   names=[path.stem for path in photographs])
    finally:
        server.stop(grace=None)
    overlays = []
    for path, lesions in zip(photographs, found):
        json_path, png_path = lesion_records.write_outputs(lesions, eophtha.read_photograph(path), out)
        overlays.append(png_path)
        print(f"  {path.name}: {', '.join(lesions.count_texts().values())} -> {json_path.name}, {png_path.name}")
    return overlays
