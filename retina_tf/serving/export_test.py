"""The export's contract: TF Serving's version layout, warm-up records, signatures, the in-graph
normalisation equal to the library's, and one-line reasons for photographs it refuses."""

import json
import os
import pathlib
import re
import socket
import struct
import subprocess
import sys

import cv2
import numpy as np
import pytest
import tensorflow as tf
from official.core import train_utils
from tensorflow_serving.apis import prediction_log_pb2

from retina_tf import datasets
from retina_tf.commands import main as cli
from retina_tf.configs import SMOKE_CPU
from retina_tf.configs.experiment import layered_params, trained_model
from retina_tf.data import fundus
from retina_tf.evaluation import operating_point
from retina_tf.modeling import tiling
from retina_tf.serving import export, model_base
from retina_tf.serving.export_module import FundusDetectionModule
from retina_tf.serving.predictor import SavedModelPredictor
from retina_tf.serving.protocol import METADATA_FILE, OUTPUT_KEYS, WARMUP_FILE
from retina_tf.testing import tiles
from retina_tf.utils import storage
from retina_tf.utils.errors import UserError, describe

SIZE = 512   # the smoke model's dataset, e_ophtha/patients_512
SLOTS = 32   # its max_num_detections


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims another size: the size must be refused before decoding."""
    png = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes()
    return png[:16] + struct.pack(">II", width, height) + png[24:]


# name -> (photographs given one good photograph, the reason the model gives)
BAD_REQUESTS = {
    "not a photograph": (lambda good: [b"Dear colleague, the photograph follows"],
                         "not a JPEG or PNG photograph (38 bytes)"),
    "empty request": (lambda good: [], "empty request: no photograph"),
    "huge photograph": (lambda good: [png_claiming(20000, 20000)],
                        "photograph is 20000 x 20000 pixels; the largest accepted side is 6000"),
    "grayscale": (lambda good: [cv2.imencode(".png", np.full((64, 64), 90, np.uint8))[1].tobytes()],
                  "grayscale photograph (1 channel(s)); a colour RGB fundus photograph is required"),
    "good and bad in one batch": (lambda good: [good, b"GIF89a\x01\x00\x01\x00"],
                                  "photographs[1]: not a JPEG or PNG photograph (10 bytes)"),
    "PNG signature alone": (lambda good: [b"\x89PNG\r\n\x1a\n"], "not a complete PNG photograph (8 bytes)"),
    "corrupt JPEG": (lambda good: [good[:len(good) // 2]],   # an interrupted upload
                     "jpeg::Uncompress failed. Invalid JPEG data or crop window."),
}


def test_versions_count_up_and_are_never_overwritten(exported):
    base = exported.export_base / "retina"
    assert exported.version_dir == base / "1"
    second = export.export(exported.model_dir, exported.export_base, "retina")
    assert second == base / "2" and model_base.versions(base) == [1, 2]
    assert (second / "saved_model.pb").is_file() and (second / "variables").is_dir()
    with pytest.raises(UserError, match="already exists"):
        export.export(exported.model_dir, exported.export_base, "retina", version=1)
    assert not list(base.glob(".incomplete-*"))


def test_assets_extra_hold_the_metadata_and_warm_up_requests(exported):
    extra = exported.version_dir / "assets.extra"
    metadata = json.loads((extra / METADATA_FILE).read_text())
    assert metadata["normalisation"]["output_size"] == SIZE
    assert metadata["classes"] == ["background", "exudate", "microaneurysm"]
    assert metadata["max_detections"] == SLOTS
    assert metadata["operating_point"] == {"exudate": 0.35, "microaneurysm": 0.35,
                                           "chosen_by": "default: the paper's minimum detection confidence"}
    logs = [prediction_log_pb2.PredictionLog.FromString(record.numpy())
            for record in tf.data.TFRecordDataset(str(extra / WARMUP_FILE))]
    assert logs
    for log in logs:
        request = log.predict_log.request
        assert (request.model_spec.name, request.model_spec.signature_name) == ("retina", "serving_default")
        [photograph] = tf.make_ndarray(request.inputs["photographs"])
        assert cv2.imdecode(np.frombuffer(photograph, np.uint8), cv2.IMREAD_COLOR).shape[2] == 3


def test_signatures_take_photographs_or_normalised_images_and_return_lesions(local_predictor):
    signatures = local_predictor.signatures
    assert set(signatures) == {"serving_default", "normalised"}
    assert signatures["serving_default"].structured_input_signature[1] == {
        "photographs": tf.TensorSpec([None], tf.string, name="photographs")}
    assert signatures["normalised"].structured_input_signature[1] == {
        "images": tf.TensorSpec([None, SIZE, SIZE, 3], tf.uint8, name="images")}
    expected = {
        "num_lesions": (tf.int32, [None]), "classes": (tf.int32, [None, SLOTS]),
        "names": (tf.string, [None, SLOTS]), "scores": (tf.float32, [None, SLOTS]),
        "boxes": (tf.float32, [None, SLOTS, 4]), "masks": (tf.float32, [None, None, 28, 28]),
        "geometry": (tf.float32, [None, 6]), "thresholds": (tf.float32, [None, 2]),
        "reported": (tf.bool, [None, SLOTS]), "chosen_by": (tf.string, [None]),
    }
    assert set(expected) == set(OUTPUT_KEYS)
    for name, signature in signatures.items():
        outputs = signature.structured_outputs
        assert {key: (spec.dtype, spec.shape.as_list()) for key, spec in outputs.items()} == expected, name


def test_the_export_answers_with_the_checkpoint_weights_frozen_into_its_graph(
        exported, local_predictor, photograph_bytes):
    trained = trained_model(exported.model_dir)
    normalisation = datasets.normalisation_of(trained.params.task.train_data.tfds_name)
    module = FundusDetectionModule(trained.params, normalisation)
    tf.train.Checkpoint(model=module.model).read(trained.checkpoint).expect_partial()
    image, _ = fundus.normalise_fundus(fundus.decode_fundus(tf.constant(photograph_bytes[0])), normalisation)
    expected = tf.function(module.serve)(image[tf.newaxis])   # the Keras model, weights in variables
    answered = local_predictor.run("normalised", {"images": image[tf.newaxis]})
    assert not local_predictor.signatures["normalised"].variables
    count = int(expected["num_detections"][0])
    assert count > 0 and answered["num_lesions"][0] == count
    np.testing.assert_allclose(answered["scores"][0, :count], expected["detection_scores"][0, :count], atol=1e-4)
    np.testing.assert_allclose(answered["masks"][0, :count], expected["detection_masks"][0, :count], atol=1e-3)


def _reported(outputs: dict, thresholds) -> np.ndarray:
    """What `reported` must be: a lesion in a filled slot, scoring at least its type's threshold (float32)."""
    filled = np.arange(SLOTS)[np.newaxis] < outputs["num_lesions"][:, np.newaxis]
    at_least = outputs["scores"] >= np.float32(thresholds)[np.maximum(outputs["classes"] - 1, 0)]
    return filled & at_least


def test_without_an_operating_point_the_graph_reports_from_the_papers_confidence(local_predictor, photograph_bytes):
    outputs = local_predictor.run("serving_default", {"photographs": tf.constant(photograph_bytes)})
    np.testing.assert_array_equal(outputs["thresholds"], np.full((2, 2), 0.35, np.float32))
    np.testing.assert_array_equal(outputs["reported"], _reported(outputs, [0.35, 0.35]))
    assert list(outputs["chosen_by"]) == [b"default: the paper's minimum detection confidence"] * 2


def test_an_operating_point_file_reaches_the_metadata_and_the_graph(
        exported, local_predictor, photograph_bytes, tmp_path, capsys):
    """`retina-tf export --operating-point`: thresholds that part the lesions found, one exactly at a score."""
    found = local_predictor.run("serving_default", {"photographs": tf.constant(photograph_bytes)})
    scores = np.sort(found["scores"][np.arange(SLOTS)[np.newaxis] < found["num_lesions"][:, np.newaxis]])
    thresholds = {"exudate": float(scores[len(scores) // 2]), "microaneurysm": float(scores[len(scores) // 4])}
    chosen = {lesion_type: operating_point.LesionThreshold(threshold, f"{lesion_type} by hand", 1, 2, 1)
              for lesion_type, threshold in thresholds.items()}
    path = operating_point.write_operating_point(chosen, tmp_path / "validation", "validation", 3, "ckpt-1")
    assert cli.main(["export", "--model-dir", str(exported.model_dir), "--export-base", str(tmp_path / "export"),
                     "--operating-point", str(path)]) == 0
    chosen_by = (f"{path}, chosen on the validation split; exudate: exudate by hand; "
                 "microaneurysm: microaneurysm by hand")
    assert f"lesions reported from exudate >= {thresholds['exudate']:.4g}, microaneurysm >= " in capsys.readouterr().out
    version = tmp_path / "export" / "retina" / "1"
    metadata = json.loads((version / "assets.extra" / METADATA_FILE).read_text())
    assert metadata["operating_point"] == {**thresholds, "chosen_by": chosen_by}
    outputs = SavedModelPredictor(version).run("serving_default", {"photographs": tf.constant(photograph_bytes)})
    np.testing.assert_allclose(outputs["scores"], found["scores"], atol=1e-6)
    np.testing.assert_array_equal(outputs["thresholds"], np.float32([list(thresholds.values())] * 2))
    reported = _reported(outputs, list(thresholds.values()))
    assert reported.any() and (~reported & (outputs["num_lesions"][:, np.newaxis] > np.arange(SLOTS))).any()
    np.testing.assert_array_equal(outputs["reported"], reported)
    assert list(outputs["chosen_by"]) == [chosen_by.encode()] * 2


def test_a_bad_operating_point_file_is_refused_before_anything_is_exported(exported, tmp_path, capsys):
    bad = tmp_path / "operating_point.json"
    bad.write_text('{"lesion_types": {"exudate": {"threshold": 0.4}}}')
    assert cli.main(["export", "--model-dir", str(exported.model_dir), "--export-base", str(tmp_path / "export"),
                     "--operating-point", str(bad)]) == 1
    assert capsys.readouterr().err == (f"retina-tf export: error: {bad}: lesion_types.microaneurysm.threshold must be "
                                       "a score from 0 to 1, got nothing\n")
    assert not (tmp_path / "export").exists()


def test_raw_photographs_give_what_normalising_outside_the_graph_gives(local_predictor, photograph_bytes):
    normalisation = fundus.FundusNormalisation(output_size=SIZE)
    for data in photograph_bytes:
        direct = local_predictor.run("serving_default", {"photographs": tf.constant([data])})
        image, geometry = fundus.normalise_fundus(fundus.decode_fundus(tf.constant(data)), normalisation)
        normalised = local_predictor.run("normalised", {"images": image[tf.newaxis]})
        np.testing.assert_array_equal(direct["geometry"][0], geometry.numpy())
        np.testing.assert_array_equal(normalised["num_lesions"], direct["num_lesions"])
        np.testing.assert_array_equal(normalised["classes"], direct["classes"])
        np.testing.assert_array_equal(normalised["names"], direct["names"])
        np.testing.assert_allclose(normalised["scores"], direct["scores"], atol=1e-5)
        np.testing.assert_allclose(normalised["masks"], direct["masks"], atol=1e-5)
        found = np.arange(SLOTS) < direct["num_lesions"][0]
        assert found.any()
        boxes = fundus.boxes_to_original(normalised["boxes"][0], geometry, SIZE).numpy()
        np.testing.assert_allclose(boxes[found], direct["boxes"][0][found], atol=1e-3)
        assert (direct["boxes"][0][~found] == 0).all() and (direct["classes"][0][~found] == 0).all()


def test_a_photograph_batch_answers_each_photograph_as_alone(local_predictor, photograph_bytes):
    batch = local_predictor.run("serving_default", {"photographs": tf.constant(photograph_bytes)})
    for index, data in enumerate(photograph_bytes):
        alone = local_predictor.run("serving_default", {"photographs": tf.constant([data])})
        np.testing.assert_allclose(batch["scores"][index], alone["scores"][0], atol=1e-5)
        np.testing.assert_allclose(batch["boxes"][index], alone["boxes"][0], atol=1e-3)


@pytest.mark.parametrize("case", BAD_REQUESTS)
def test_bad_photographs_are_refused_with_the_reason(local_predictor, photograph_bytes, case):
    photographs, reason = BAD_REQUESTS[case]
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        local_predictor.signatures["serving_default"](
            photographs=tf.constant(photographs(photograph_bytes[0]), tf.string))
    assert describe(raised.value) == reason


def test_on_object_storage_a_version_is_copied_with_saved_model_pb_last(exported, tmp_path, monkeypatch):
    """Where a folder cannot be renamed (gs://, s3://), TF Serving must not find a loadable version before
    every file is there: saved_model.pb, which makes it loadable, is copied last."""
    copied = []
    original = type(exported.version_dir).copy

    def recording_copy(source, destination, *args, **kwargs):
        copied.append(destination.name)
        return original(source, destination, *args, **kwargs)

    monkeypatch.setattr(type(exported.version_dir), "copy", recording_copy)
    staging, target = pathlib.Path(exported.version_dir), tmp_path / "retina" / "7"
    export.publish(storage.path(staging), storage.path(target), copy=True)
    assert copied[-1] == "saved_model.pb" and len(copied) == len(set(copied)) >= 3
    assert sorted(str(path.relative_to(target)) for path in target.rglob("*")) == sorted(
        str(path.relative_to(staging)) for path in staging.rglob("*"))
    assert (target / "saved_model.pb").read_bytes() == (staging / "saved_model.pb").read_bytes()


# Two exports to one model base at once (a scheduled `retina-tf cycle` and a manual `retina-tf export`).

class _UntracedModule:
    """Stands in for FundusDetectionModule: nothing to trace or freeze, so a race runs in seconds."""

    def __init__(self, params, normalisation, operating_point):
        self.model = tf.Module()

    def signatures(self) -> dict:
        return {}


def _version(folder: pathlib.Path, saved_model: bytes):
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(saved_model)


@pytest.fixture(name="racing_export")
def fixture_racing_export(tmp_path, monkeypatch):
    """export.export on a model_dir of the smoke config, whose SavedModel is b"ours" and during whose save
    another export publishes the version this one picked (b"theirs")."""
    model_dir, base = tmp_path / "model", tmp_path / "export" / "retina"
    train_utils.serialize_config(layered_params([SMOKE_CPU]), str(model_dir))
    tf.train.Checkpoint(step=tf.Variable(1)).save(str(model_dir / "ckpt"))
    _version(base / "1", b"first")

    def save(root, staging, signatures):
        _version(pathlib.Path(staging), b"ours")
        _version(base / str(model_base.versions(base)[-1] + 1), b"theirs")   # the other export wins

    monkeypatch.setattr(export, "FundusDetectionModule", _UntracedModule)
    monkeypatch.setattr(export.tf.saved_model, "save", save)
    return lambda **kwargs: export.export(model_dir, tmp_path / "export", "retina", **kwargs)


@pytest.mark.parametrize("object_storage", [False, True], ids=["rename", "copy"])
def test_a_version_published_during_the_export_sends_it_to_the_next_number(
        racing_export, tmp_path, monkeypatch, object_storage):
    monkeypatch.setattr(storage, "is_object_storage", lambda location: object_storage)
    base = tmp_path / "export" / "retina"
    target = racing_export()
    assert target == storage.path(base / "3") and model_base.versions(base) == [1, 2, 3]
    assert (base / "2" / "saved_model.pb").read_bytes() == b"theirs"
    assert sorted(path.name for path in (base / "2").iterdir()) == ["saved_model.pb", "variables"]
    assert (base / "3" / "saved_model.pb").read_bytes() == b"ours"
    assert json.loads((base / "3" / "assets.extra" / METADATA_FILE).read_text())["version"] == 3
    assert sorted(path.name for path in base.iterdir()) == ["1", "2", "3"]


def test_a_chosen_version_published_during_the_export_is_refused_and_left_alone(racing_export, tmp_path):
    base = tmp_path / "export" / "retina"
    with pytest.raises(UserError, match=r"/retina/2 already exists: versions are never overwritten"):
        racing_export(version=2)
    assert (base / "2" / "saved_model.pb").read_bytes() == b"theirs"
    assert sorted(path.name for path in base.iterdir()) == ["1", "2"]


def test_the_staging_folder_of_a_killed_export_is_removed_by_the_next_one(racing_export, tmp_path):
    base = tmp_path / "export" / "retina"
    dead = subprocess.Popen(["true"])
    dead.wait()
    host = socket.gethostname()
    abandoned = base / f".incomplete-{host}-{dead.pid}-0a1b2c3d"
    running = base / f".incomplete-{host}-{os.getppid()}-4e5f6a7b"   # a live process: still exporting
    elsewhere = base / f".incomplete-another-host-{dead.pid}-8c9d0e1f"   # whose process this host cannot see
    for folder in (abandoned, running, elsewhere):
        _version(folder, b"half")
    racing_export()
    assert not abandoned.exists() and running.exists() and elsewhere.exists()


def test_an_unreadable_latest_checkpoint_is_refused_naming_the_newest_that_reads(tmp_path, monkeypatch, capsys):
    """As a VM preempted mid-write leaves it: the data of ckpt-2 truncated, an intact ckpt-1 beside it."""
    model_dir, base = tmp_path / "model", tmp_path / "export"
    train_utils.serialize_config(layered_params([SMOKE_CPU]), str(model_dir))
    checkpoint = tf.train.Checkpoint(step=tf.Variable(1))
    first, latest = (checkpoint.save(str(model_dir / "ckpt")) for _ in range(2))
    [data] = model_dir.glob("ckpt-2.data-*")
    data.write_bytes(data.read_bytes()[:data.stat().st_size // 2])
    assert cli.main(["export", "--model-dir", str(model_dir), "--export-base", str(base)]) == 1
    err = capsys.readouterr().err
    assert re.fullmatch(rf"retina-tf export: error: {latest}: the latest checkpoint of {model_dir} does not read "
                        rf"\([^\n]+\); the newest that reads is {first}: pass it with --checkpoint\n", err), err
    assert not base.exists()

    monkeypatch.setattr(export, "FundusDetectionModule", _UntracedModule)
    assert cli.main(["export", "--model-dir", str(model_dir), "--export-base", str(base), "--checkpoint", latest]) == 1
    assert capsys.readouterr().err.startswith(f"retina-tf export: error: {latest}: the checkpoint does not read (")
    assert cli.main(["export", "--model-dir", str(model_dir), "--export-base", str(base), "--checkpoint", first]) == 0
    assert json.loads((base / "retina" / "1" / "assets.extra" / METADATA_FILE).read_text())["checkpoint"] == first


@pytest.mark.slow   # two real exports at once: minutes on 2 shared cores
def test_two_export_processes_started_together_publish_two_complete_versions(exported, tmp_path):
    """As a scheduled cycle and a manual export would: both pick the same number, each ends with its own."""
    command = [sys.executable, "-m", "retina_tf.commands.main", "export", "--model-dir", str(exported.model_dir),
               "--export-base", str(tmp_path)]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}) for _ in range(2)]
    try:
        answers = [process.communicate(timeout=600) for process in processes]
    finally:
        for process in processes:
            process.kill()   # only if still running
    for process, (_, err) in zip(processes, answers):
        assert process.returncode == 0, err
    printed = sorted(out.split()[1] for out, _ in answers)
    base = tmp_path / "retina"
    assert printed == [str(base / "1"), str(base / "2")]
    assert sorted(path.name for path in base.iterdir()) == ["1", "2"]   # no staging folder left
    files = {}
    for version in ("1", "2"):
        files[version] = sorted(str(path.relative_to(base / version)) for path in (base / version).rglob("*"))
        metadata = json.loads((base / version / "assets.extra" / METADATA_FILE).read_text())
        assert metadata["version"] == int(version)
        assert tf.saved_model.contains_saved_model(str(base / version))
    assert files["1"] == files["2"] and "assets.extra/tf_serving_warmup_requests" in files["1"]


def test_a_tiled_export_reports_in_photograph_pixels_what_the_model_finds_on_each_tile(
        exported, photograph_bytes, tmp_path):
    """task.tiling (retina-tf export --tile-size): the export cuts the normalised photograph into tiles inside
    its graph, runs the model on each at its own resolution and reports each lesion once, from the tile whose
    core holds its centre."""
    tile, overlap = 256, 64
    tiled = [f"task.tiling.tile_size={tile}", f"task.tiling.overlap={overlap}"]
    version = export.export(exported.model_dir, tmp_path / "export", params_override=tiled)
    assert model_base.export_metadata(version)["tiling"] == {"tile_size": tile, "overlap": overlap}
    assert model_base.export_metadata(exported.version_dir)["tiling"]["tile_size"] == 0   # off by default
    trained = trained_model(exported.model_dir, tiled)
    normalisation = datasets.normalisation_of(trained.params.task.train_data.tfds_name)
    module = FundusDetectionModule(trained.params, normalisation)   # Model Garden's serve at the tile's size
    tf.train.Checkpoint(model=module.model).read(trained.checkpoint).expect_partial()
    image, _ = fundus.normalise_fundus(fundus.decode_fundus(tf.constant(photograph_bytes[0])), normalisation)
    answered = SavedModelPredictor(version).run("normalised", {"images": image[tf.newaxis]})

    assert len(tiling.tile_grid(SIZE, tile, overlap)[0]) == 9
    found = tiles.detections_in_cores(tf.function(module.serve), image, tile, overlap)
    count = int(answered["num_lesions"][0])
    assert 0 < count <= min(len(found), SLOTS)
    tiles.assert_each_found_on_a_tile(answered["classes"][0, :count], answered["scores"][0, :count],
                                      answered["boxes"][0, :count], found)
