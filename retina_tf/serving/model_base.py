"""TF Serving's model base on disk: <model base>/<version>/saved_model.pb, the highest version served."""

import json
import os

from etils import epath

from retina_tf.serving.protocol import EXTRA_FOLDER, METADATA_FILE
from retina_tf.utils import storage
from retina_tf.utils.errors import UserError


def versions(model_base: str | os.PathLike) -> list[int]:
    """Numeric version folders, ascending (what TF Serving would load)."""
    model_base = storage.path(model_base)
    if not model_base.is_dir():
        return []
    return sorted(int(path.name) for path in model_base.iterdir() if path.is_dir() and path.name.isdigit())


def version_folder(path: str | os.PathLike) -> epath.Path:
    """A SavedModel folder itself, or the highest numeric version under a model base (as TF Serving picks)."""
    path = storage.path(path)
    if (path / "saved_model.pb").is_file():
        return path
    found = versions(path)
    if found:
        return path / str(found[-1])
    if not path.exists():
        raise UserError(f"{path}: no such folder")
    raise UserError(f"{path}: no SavedModel here (neither saved_model.pb nor numbered version folders)")


def export_metadata(version_dir: str | os.PathLike) -> dict:
    """The retina_tf.json an export keeps beside its SavedModel; {} for a SavedModel without one."""
    path = storage.path(version_dir) / EXTRA_FOLDER / METADATA_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def latest_export(model_base: str | os.PathLike) -> tuple[int | None, dict]:
    """The highest version under a model base and its metadata; (None, {}) when there is none."""
    found = versions(model_base)
    if not found:
        return None, {}
    return found[-1], export_metadata(storage.path(model_base) / str(found[-1]))
