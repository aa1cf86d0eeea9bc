"""The lesion records every consumer reads, and the masks pasted into the photograph.

The local predictor and the gRPC client both turn the SavedModel's outputs
into `PhotographLesions`, so the command line, the evaluation and an
integrator's code read one record whichever way the model ran. Masks are
pasted with the evaluation's own resize-and-threshold
(`detections.box_crops`): a lesion drawn for a person is the lesion that
was scored.
"""

import dataclasses
import json
import os
import pathlib
from collections.abc import Mapping, Sequence

import numpy as np
from etils import epath

from retina_tf import LESION_CLASSES, storage
from retina_tf.data import fundus, visualise
from retina_tf.evaluation import detections


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

    def count_texts(self) -> dict[str, str]:
        """"3 exudates", "1 microaneurysm": per type, for legends and progress lines."""
        return {lesion_type: visualise.plural(count, lesion_type) for lesion_type, count in self.counts().items()}

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "height": self.height,
            "width": self.width,
            "geometry": dict(zip(fundus.GEOMETRY_FIELDS, self.geometry)),
            "counts": self.counts(),
            "lesions": [dataclasses.asdict(lesion) for lesion in self.lesions],
        }



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
    """One photograph's slice of the SavedModel's outputs (protocol.OUTPUT_KEYS) as a record."""
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


def write_outputs(found: PhotographLesions, original_image: np.ndarray, out_dir: str | os.PathLike
                  ) -> tuple[epath.Path, epath.Path]:
    """<stem>.json (the record) and <stem>_lesions.png (the photograph with its lesions drawn)."""
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
