"""Local prediction on an exported SavedModel, and the lesion records every consumer reads.

`SavedModelPredictor` runs a SavedModel in this process (no server); the gRPC
client turns TF Serving's answers into the very same `PhotographLesions`, so
the command line, the evaluation and an integrator's code read one record
whichever way the model ran. Masks are pasted into the original photograph
with the evaluation's own resize-and-threshold (`detections.box_crops`): a
lesion drawn for a person is the lesion that was scored.
"""

import dataclasses
import json
import pathlib
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

from retina_tf import LESION_CLASSES, STATUSES, fundus, visualise
from retina_tf.errors import UserError, describe
from retina_tf.evaluation import detections
from retina_tf.evaluation.records import PhotographResult
from retina_tf.serving import export

SIGNATURES = ("serving_default", "normalised")


class PhotographRejected(UserError):
    """The model refused its input (an unreadable, empty or oversized photograph).

    Raised alike by the local predictor and the gRPC client, so a caller can
    retry the rest of a batch without the bad photograph whichever way it ran.
    """


@dataclasses.dataclass
class Lesion:
    """One lesion found on a photograph, in original-photograph pixels."""

    type: str                                  # exudate | microaneurysm
    score: float
    box: tuple[float, float, float, float]     # ymin, xmin, ymax, xmax (end exclusive), 0.1 px
    area: int                                  # mask pixels inside the photograph
    centre: tuple[float, float]                # y, x of the box centre


@dataclasses.dataclass
class PhotographLesions:
    """Everything found on one photograph; `to_json` is what leaves the process."""

    name: str
    height: int
    width: int
    lesions: list[Lesion]
    geometry: tuple[float, ...]                # fundus.GEOMETRY_FIELDS: the eye box, then height, width
    # [N, H, W] bool, one per lesion; far too big for JSON.
    masks: np.ndarray = dataclasses.field(repr=False, compare=False)

    def counts(self) -> dict[str, int]:
        """Lesions per type, every type present (zero included)."""
        return {lesion_type: sum(lesion.type == lesion_type for lesion in self.lesions)
                for lesion_type in LESION_CLASSES}

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "height": self.height,
            "width": self.width,
            "geometry": dict(zip(fundus.GEOMETRY_FIELDS, self.geometry)),
            "counts": self.counts(),
            "lesions": [dataclasses.asdict(lesion) for lesion in self.lesions],
        }


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def lesion_masks(boxes, masks, height: int, width: int, threshold: float = detections.MASK_THRESHOLD
                 ) -> np.ndarray:
    """[N, H, W] bool over the original photograph from M x M probability maps over each box.

    The stack is allocated zeroed and only each box is written, so the pages
    of a large photograph that no lesion touches cost no memory.
    """
    boxes = np.round(np.asarray(boxes, float).reshape(-1, 4)).astype(int)
    full = np.zeros((len(boxes), height, width), bool)
    crops = detections.box_crops(boxes, masks, threshold)
    for index, ((ymin, xmin, ymax, xmax), crop) in enumerate(zip(boxes, crops)):
        top, left, bottom, right = max(ymin, 0), max(xmin, 0), min(ymax, height), min(xmax, width)
        if bottom > top and right > left:
            full[index, top:bottom, left:right] = crop[top - ymin:bottom - ymin, left - xmin:right - xmin]
    return full


def photograph_lesions(outputs: Mapping[str, np.ndarray], name: str) -> PhotographLesions:
    """One photograph's slice of the SavedModel's outputs (export_module.OUTPUT_KEYS) as a record."""
    count = int(outputs["num_lesions"])
    geometry = tuple(float(value) for value in outputs["geometry"])
    height, width = int(geometry[4]), int(geometry[5])
    frames = np.asarray(outputs["boxes"], float)[:count]
    # A box (the frame of its mask) may reach into the disc rebuilt beyond a cut-off photograph's edge;
    # a lesion is what lies on the photograph.
    boxes = np.clip(frames, 0, [height, width, height, width])
    on_photograph = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    masks = lesion_masks(frames[on_photograph], np.asarray(outputs["masks"])[:count][on_photograph], height, width)
    boxes = boxes[on_photograph]
    labels = np.asarray(outputs["classes"])[:count][on_photograph]
    scores = np.asarray(outputs["scores"])[:count][on_photograph]
    areas = np.count_nonzero(masks, axis=(1, 2))
    lesions = [
        Lesion(type=LESION_CLASSES[int(label) - 1], score=round(float(score), 4),
               box=tuple(round(float(value), 1) for value in box), area=int(area),
               centre=(round(float(box[0] + box[2]) / 2, 1), round(float(box[1] + box[3]) / 2, 1)))
        for box, label, score, area in zip(boxes, labels, scores, areas)]
    return PhotographLesions(name=name, height=height, width=width, lesions=lesions, geometry=geometry,
                             masks=masks)


def batch_lesions(outputs: Mapping[str, np.ndarray], names: Sequence[str] | None = None
                  ) -> list[PhotographLesions]:
    """A batch of outputs (first axis: photograph) as records; unnamed photographs are numbered."""
    size = len(outputs["num_lesions"])
    names = list(names) if names is not None else [f"photograph-{index}" for index in range(1, size + 1)]
    if len(names) != size:
        raise ValueError(f"{len(names)} names for {size} photographs")
    return [photograph_lesions({key: value[index] for key, value in outputs.items()}, name)
            for index, name in enumerate(names)]


def version_folder(path: pathlib.Path) -> pathlib.Path:
    """A SavedModel folder itself, or the highest numeric version under a model base (as TF Serving picks)."""
    path = pathlib.Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    found = export.versions(path)
    if found:
        return path / str(found[-1])
    if not path.exists():
        raise UserError(f"{path}: no such folder")
    raise UserError(f"{path}: no SavedModel here (neither saved_model.pb nor numbered version folders)")


class SavedModelPredictor:
    """An exported model loaded in this process: the answers TF Serving would give, without a server."""

    def __init__(self, path: pathlib.Path):
        self.path = version_folder(path)
        try:
            self._model = tf.saved_model.load(str(self.path))
        except Exception as error:  # pylint: disable=broad-except
            raise UserError(f"{self.path}: cannot load the SavedModel ({describe(error)})") from error
        missing = [name for name in SIGNATURES if name not in self._model.signatures]
        if missing:
            raise UserError(f"{self.path}: not a retina-tf export (no signature {', '.join(missing)})")
        metadata = self.path / "assets.extra" / export.METADATA_FILE
        self.metadata = json.loads(metadata.read_text()) if metadata.is_file() else {}
        self.version = int(self.path.name) if self.path.name.isdigit() else 0

    @property
    def signatures(self) -> Mapping:
        return self._model.signatures

    def run(self, signature: str, inputs: Mapping[str, tf.Tensor]) -> dict[str, np.ndarray]:
        """One signature call; a refused input becomes PhotographRejected with its one-line reason."""
        try:
            outputs = self._model.signatures[signature](**inputs)
        except tf.errors.InvalidArgumentError as error:
            raise PhotographRejected(describe(error)) from error
        return {key: value.numpy() for key, value in outputs.items()}

    def predict(self, photographs: Sequence[bytes], names: Sequence[str] | None = None
                ) -> list[PhotographLesions]:
        """Lesions on encoded JPEG/PNG photographs (one batch), in original-photograph pixels."""
        outputs = self.run("serving_default", {"photographs": tf.constant(list(photographs), tf.string)})
        return batch_lesions(outputs, names)


def saved_model_results(saved_model: pathlib.Path, data_dir: pathlib.Path, split: str, config: str | None,
                        progress=None) -> list[PhotographResult]:
    """PhotographResults of a TFDS e_ophtha split scored through the SavedModel's `normalised` signature.

    The dataset's images are already normalised, so scoring happens at the
    dataset's resolution against its exact stored lesion masks, as for a
    checkpoint (retina_tf.evaluate.checkpoint_results).
    """
    import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
    import tfds_eophtha  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import

    predictor = SavedModelPredictor(saved_model)
    config = config or predictor.metadata.get("dataset", "").partition("e_ophtha/")[2]
    if not config:
        raise UserError(f"{predictor.path}: the export does not record its dataset: pass --config "
                        "(an e_ophtha config such as patients_1024)")
    builder = tfds.builder(f"e_ophtha/{config}", data_dir=str(data_dir))
    if split not in builder.info.splits:
        raise UserError(f"e_ophtha/{config} has no split {split!r} in {data_dir}: "
                        "build it with retina-tf build-dataset")
    size = builder.builder_config.image_size
    expected = predictor.metadata.get("normalisation", {}).get("output_size", size)
    if expected != size:
        raise UserError(f"{predictor.path} takes {expected}x{expected} images but e_ophtha/{config} holds "
                        f"{size}x{size}: choose a config of the model's size")
    results = []
    for example in tfds.as_numpy(builder.as_dataset(split=split)):
        outputs = predictor.run("normalised", {"images": tf.constant(example["image"][np.newaxis])})
        count = int(outputs["num_lesions"][0])
        objects = example["objects"]
        results.append(PhotographResult(
            image_id=int(example["image/id"]),
            height=size,
            width=size,
            status={label: STATUSES[int(example["annotation"][lesion])]
                    for label, lesion in enumerate(LESION_CLASSES, start=1)},
            ground_truth=detections.ground_truth_lesions(objects["bbox"] * size, objects["label"] + 1,
                                                         objects["mask"], size, size),
            predictions=detections.predicted_lesions(outputs["boxes"][0][:count], outputs["classes"][0][:count],
                                                     outputs["scores"][0][:count], outputs["masks"][0][:count],
                                                     size, size)))
        if progress:
            progress(len(results))
    return results


def write_outputs(found: PhotographLesions, original_image: np.ndarray, out_dir: pathlib.Path
                  ) -> tuple[pathlib.Path, pathlib.Path]:
    """<stem>.json and <stem>_lesions.png: the photograph with each lesion outlined, boxed and scored
    in its type's colour, and a legend counting each type (as the paper's Figure 3)."""
    if original_image.shape[:2] != (found.height, found.width):
        raise ValueError(f"{found.name}: image is {original_image.shape[1]}x{original_image.shape[0]}, "
                         f"the lesions are for {found.width}x{found.height}")
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = pathlib.Path(found.name).stem
    json_path = out_dir / f"{stem}.json"
    json_path.write_text(json.dumps(found.to_json(), indent=2))
    thickness = max(1, round(max(found.height, found.width) / 800))   # visible on a 2544 px photograph
    drawn = visualise.draw_lesions(original_image, [lesion.box for lesion in found.lesions],
                                   [lesion.type for lesion in found.lesions], found.masks,
                                   [lesion.score for lesion in found.lesions], thickness)
    entries = [(plural(count, lesion_type), visualise.LESION_COLOURS[lesion_type])
               for lesion_type, count in found.counts().items()]
    png_path = visualise.write_png(out_dir / f"{stem}_lesions.png", visualise.legend(drawn, entries))
    return json_path, png_path
