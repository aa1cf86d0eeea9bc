"""Experiment configs: Model Garden dataclasses registered with exp_factory, and the YAML files that layer
on them.

The YAML files live in the top-level configs/ folder and ship inside the package as
retina_tf/configs/experiments/ (setup.cfg maps the folder), so `--config paper_1gpu` works wherever the
package is installed. Light on purpose: the command line imports it for --help.
"""

import os
import pathlib

from retina_tf.utils import storage
from retina_tf.utils.errors import UserError

_INSTALLED = pathlib.Path(__file__).resolve().parent / "experiments"    # a wheel
CONFIG_DIR = _INSTALLED if _INSTALLED.is_dir() else pathlib.Path(__file__).resolve().parents[2] / "configs"
SMOKE_CPU = CONFIG_DIR / "smoke_cpu.yaml"


def shipped_names() -> list[str]:
    return sorted(path.stem for path in CONFIG_DIR.glob("*.yaml"))


def experiment_file(name_or_path: str | os.PathLike):
    """An experiment YAML: the file at that path (local or object storage), else the shipped file of that
    name (`paper_1gpu` or `paper_1gpu.yaml`)."""
    text = os.fspath(name_or_path)
    given = storage.path(text)
    if storage.is_object_storage(text) or given.is_file():
        return given
    shipped = CONFIG_DIR / (text if text.endswith(".yaml") else f"{text}.yaml")
    if "/" not in text and shipped.is_file():
        return storage.path(shipped)
    raise UserError(f"{text}: neither an experiment file nor a shipped experiment ({', '.join(shipped_names())})")
