"""The lesion records every consumer reads, and the masks pasted into the photograph.

The local predictor and the gRPC client both turn the SavedModel's outputs
into `PhotographLesions`, so the command line, the evaluation and an
integrator's code read one record whichever way the model ran. Masks are
pasted with the evaluation's own resize-and-threshold
(`detections.box_crops`): a lesion drawn for a person is the lesion that
was scored.

Every lesion the model kept is recorded with its score; those at or above
their type's threshold are `reported` (counted, drawn). The thresholds are
the export's operating point, which the SavedModel answers with (so a
client of TF Serving, which cannot read the export's files, has them too),
unless the caller gives one minimum score for every type.
"""

import dataclasses
import json
import os
import pathlib
from collections.abc import Mapping, Sequence

import numpy as np
from etils import epath

from retina_tf import LESION_CLASSES
from retina_tf.data import fundus, visualise
from retina_tf.evaluation import detections
from retina_tf.evaluation.operating_point import OperatingPoint, uniform_operating_point
from retina_tf.utils import storage
from retina_tf.utils.errors import UserError


@dataclasses.dataclass
class Lesion:
    """One lesion found on a photograph, in original-photograph pixels."""

    type: str                                  # exudate | microaneurysm
    score: float
    box: tuple[float, float, float, float]     # ymin, xmin, ymax, xmax (end exclusive), 0.1 px
    area: int                                  # mask pixels inside the photograph
    centre: tuple[float, float]                # y, x of the box centre
    reported: bool                             # score at or above its type's threshold: counted and drawn


@dataclasses.dataclass
class PhotographLesions:
    """Everything found on one photograph; `to_json` is what leaves the process."""

    name: str
    height: int
    width: int
    lesions: list[Lesion]
    geometry: tuple[float, ...]                # fundus.GEOMETRY_FIELDS: the eye box, then height, width
    operating_point: OperatingPoint            # the thresholds that marked `reported`, and where they came from
    # [N, H, W] bool, one per lesion; far too big for JSON.
    masks: np.ndarray = dataclasses.field(repr=False, compare=False)

    def counts(self) -> dict[str, int]:
        """Lesions per type, reported or not, every type present (zero included)."""
        return _per_type(self.lesions)

    def reported_counts(self) -> dict[str, int]:
        """Reported lesions per type, every type present (zero included)."""
        return _per_type([lesion for lesion in self.lesions if lesion.reported])

    def count_texts(self) -> dict[str, str]:
        """"3 exudates", "1 microaneurysm": reported lesions per type, for legends and progress lines."""
        return {lesion_type: visualise.plural(count, lesion_type)
                for lesion_type, count in self.reported_counts().items()}

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "height": self.height,
            "width": self.width,
            "geometry": dict(zip(fundus.GEOMETRY_FIELDS, self.geometry)),
            "operating_point": self.operating_point.to_json(),
            "counts": self.counts(),
            "reported_counts": self.reported_counts(),
            "lesions": [dataclasses.asdict(lesion) for lesion in self.lesions],
        }


def _per_type(lesions: Sequence[Lesion]) -> dict[str, int]:
    return {lesion_type: sum(lesion.type == lesion_type for lesion in lesions) for lesion_type in LESION_CLASSES}


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


def photograph_lesions(outputs: Mapping[str, np.ndarray], name: str, min_score: float | None = None
                       ) -> PhotographLesions:
    """One photograph's slice of the SavedModel's outputs as a record.

    Args:
        outputs: protocol.OUTPUT_KEYS, without the batch axis.
        name: the photograph's name.
        min_score: report the lesions scoring at least this, whatever their type, instead of those the
            export's operating point reports.

    Returns:
        Its lesions in original-photograph pixels, each marked reported or not.
    """
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
    scores = np.asarray(outputs["scores"], np.float32)[:count][on_photograph]
    if min_score is None:
        operating_point, reported = _exported_operating_point(outputs), np.asarray(outputs["reported"], bool)
        reported = reported[:count][on_photograph]
    else:   # compared in float32, as the graph compares its thresholds
        operating_point = uniform_operating_point(
            min_score, f"a minimum score of {min_score:g} for every type, in place of the export's operating point")
        reported = scores >= np.float32(min_score)
    areas = np.count_nonzero(masks, axis=(1, 2))
    lesions = [
        Lesion(type=LESION_CLASSES[int(label) - 1], score=round(float(score), 4),
               box=tuple(round(float(value), 1) for value in box), area=int(area),
               centre=(round(float(box[0] + box[2]) / 2, 1), round(float(box[1] + box[3]) / 2, 1)),
               reported=bool(marked))
        for box, label, score, area, marked in zip(boxes, labels, scores, areas, reported)]
    return PhotographLesions(name=name, height=height, width=width, lesions=lesions, geometry=geometry,
                             operating_point=operating_point, masks=masks)


def _exported_operating_point(outputs: Mapping[str, np.ndarray]) -> OperatingPoint:
    """The operating point the SavedModel answers with; thresholds as their shortest float32 decimals."""
    if "thresholds" not in outputs:
        raise UserError("the model answers without an operating point ('thresholds', 'reported'): it was exported "
                        "before retina-tf had them; export it again, or give a minimum score (--min-score)")
    thresholds = np.asarray(outputs["thresholds"], np.float32)
    return OperatingPoint({lesion_type: float(np.format_float_positional(threshold, unique=True))
                           for lesion_type, threshold in zip(LESION_CLASSES, thresholds)},
                          bytes(outputs["chosen_by"]).decode())


def batch_lesions(outputs: Mapping[str, np.ndarray], names: Sequence[str] | None = None,
                  min_score: float | None = None) -> list[PhotographLesions]:
    """A batch of outputs (first axis: photograph) as records; unnamed photographs are numbered.

    Args:
        outputs: protocol.OUTPUT_KEYS of a batch.
        names: the photographs' names.
        min_score: as photograph_lesions.

    Returns:
        One record per photograph.
    """
    size = len(outputs["num_lesions"])
    names = list(names) if names is not None else [f"photograph-{index}" for index in range(1, size + 1)]
    if len(names) != size:
        raise ValueError(f"{len(names)} names for {size} photographs")
    return [photograph_lesions({key: value[index] for key, value in outputs.items()}, name, min_score)
            for index, name in enumerate(names)]


def write_outputs(found: PhotographLesions, original_image: np.ndarray, out_dir: str | os.PathLike
                  ) -> tuple[epath.Path, epath.Path]:
    """<stem>.json (the record) and <stem>_lesions.png (the photograph with its reported lesions drawn)."""
    if original_image.shape[:2] != (found.height, found.width):
        raise ValueError(f"{found.name}: image is {original_image.shape[1]}x{original_image.shape[0]}, "
                         f"the lesions are for {found.width}x{found.height}")
    out_dir = storage.path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = pathlib.Path(found.name).stem
    json_path = out_dir / f"{stem}.json"
    json_path.write_text(json.dumps(found.to_json(), indent=2))
    png_path = visualise.write_png(out_dir / f"{stem}_lesions.png", visualise.lesion_overlay(original_image, found))
    return json_path, png_path
