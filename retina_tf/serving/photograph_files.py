"""Lesions on photograph files, in batches, from a model server or a local SavedModel (`retina-tf predict`).

Each photograph gets <stem>.json (its lesion record) and <stem>_lesions.png
(each reported lesion outlined on the photograph, with a legend). A photograph the
model cannot read is reported by name and the others go on.
"""

import dataclasses
import os
import pathlib
from collections.abc import Iterator, Sequence

import cv2
import numpy as np
from etils import epath

from retina_tf.serving.lesion_records import PhotographLesions, write_outputs
from retina_tf.serving.protocol import PhotographRejected
from retina_tf.utils.errors import UserError

BATCH_SIZE = 4


@dataclasses.dataclass
class FilePrediction:
    """One photograph file's outcome: its lesions and where they were written, or why it failed."""

    path: pathlib.Path
    lesions: PhotographLesions | None = None
    json_path: epath.Path | None = None
    png_path: epath.Path | None = None
    failure: str | None = None


def distinct_photographs(paths: Sequence[pathlib.Path]) -> list[pathlib.Path]:
    """The photographs once each; refuses two files that would write the same <stem>.json."""
    stems = {}
    for path in paths:
        if path.stem in stems and stems[path.stem] != path:
            raise UserError(f"{stems[path.stem]} and {path} would both write {path.stem}.json: rename one")
        stems[path.stem] = path
    return list(stems.values())


def predict_files(model, photographs: Sequence[pathlib.Path], out_dir: str | os.PathLike,
                  batch_size: int = BATCH_SIZE, min_score: float | None = None) -> Iterator[FilePrediction]:
    """One FilePrediction per photograph, as its batch finishes.

    model answers predict(photographs, names, min_score): a SavedModelPredictor or a RetinaClient;
    min_score, when given, reports lesions from that score instead of the model's operating point.
    """
    readable = []
    for path in photographs:
        if path.is_file():
            readable.append((path, path.read_bytes()))
        elif path.is_dir():
            yield FilePrediction(path, failure=f"a folder, not a photograph: name the JPEG or PNG files in it "
                                               f"(e.g. {path}/*.jpg)")
        else:
            yield FilePrediction(path, failure="no such file")
    for start in range(0, len(readable), batch_size):
        batch = readable[start:start + batch_size]
        data = dict(batch)
        for path, found in _predict(model, batch, min_score):
            if isinstance(found, str):
                yield FilePrediction(path, failure=found)
                continue
            image = _decode(data[path])
            if image is None:
                yield FilePrediction(path, failure="OpenCV cannot decode it for the overlay")
                continue
            json_path, png_path = write_outputs(found, image, out_dir)
            yield FilePrediction(path, found, json_path, png_path)


def _predict(model, batch: list[tuple[pathlib.Path, bytes]], min_score: float | None
             ) -> list[tuple[pathlib.Path, object]]:
    """(path, PhotographLesions or the reason it failed) per photograph.

    The model refuses a whole batch for one bad photograph, so a refused
    batch is retried one photograph at a time.
    """
    try:
        found = model.predict([data for _, data in batch], [path.name for path, _ in batch], min_score)
    except PhotographRejected as error:
        if len(batch) == 1:
            return [(batch[0][0], str(error))]
        return [answer for item in batch for answer in _predict(model, [item], min_score)]
    return [(path, lesions) for (path, _), lesions in zip(batch, found)]


def _decode(data: bytes) -> np.ndarray | None:
    """RGB pixels as the model read them (TensorFlow ignores EXIF orientation, so OpenCV must too); None
    if OpenCV cannot read what TensorFlow could."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
