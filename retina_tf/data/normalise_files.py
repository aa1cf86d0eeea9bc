"""Photograph files normalised as the model sees them, with the geometry that maps back (`retina-tf normalise`)."""

import dataclasses
import json
import os
import pathlib
from collections.abc import Iterator, Sequence

import tensorflow as tf
from etils import epath

from retina_tf.data import fundus
from retina_tf.utils import storage
from retina_tf.utils.errors import UserError, describe


@dataclasses.dataclass
class NormalisedFile:
    """One photograph's outcome: the PNG written, or why it failed.

    Attributes:
      path: the photograph file, as given.
      target: the <stem>.png written; None when it failed.
      failure: one line saying why it could not be normalised; None when it was.
    """

    path: pathlib.Path
    target: epath.Path | None = None
    failure: str | None = None


def normalise_files(photographs: Sequence[pathlib.Path], out_dir: str | os.PathLike, output_size: int = 1024
                    ) -> Iterator[NormalisedFile]:
    """Writes <stem>.png (the normalised photograph) and <stem>.json (its geometry) per photograph; a later
    photograph of the same stem fails rather than overwrite an earlier one's.

    Args:
      photographs: JPEG or PNG files.
      out_dir: the folder written into (local or a bucket), created with its parents.
      output_size: the side S of the normalised images, in pixels.

    Yields:
      One NormalisedFile per photograph, in order, each as soon as it is done. <stem>.json holds the geometry
      (fundus.GEOMETRY_FIELDS, in pixels of the photograph), output_size and the source path.
    """
    config = fundus.FundusNormalisation(output_size=output_size)
    normalise = tf.function(lambda data: fundus.normalise_fundus(fundus.decode_fundus(data), config))
    out_dir = storage.path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}   # stem -> the photograph whose outputs carry it
    for path in photographs:
        try:
            if not path.is_file():
                raise UserError("no such file")
            if written.get(path.stem, path) != path:
                raise UserError(f"{written[path.stem]} already writes {path.stem}.png: rename one")
            image, geometry = normalise(tf.constant(path.read_bytes()))
        except Exception as error:
            yield NormalisedFile(path, failure=describe(error))
            continue
        target = out_dir / f"{path.stem}.png"
        tf.io.write_file(str(target), tf.io.encode_png(image))
        box = [float(value) for value in geometry.numpy()]
        (out_dir / f"{path.stem}.json").write_text(json.dumps(
            dict(zip(fundus.GEOMETRY_FIELDS, box), output_size=output_size, source=str(path)), indent=2))
        written[path.stem] = path
        yield NormalisedFile(path, target)
