"""Tests for reading a model base as TF Serving does: numeric version folders, the highest served, and the
retina_tf.json an export keeps in assets.extra. Folders are made by hand in tmp_path (no export runs)."""

import json

import pytest

from retina_tf.serving import model_base
from retina_tf.serving.protocol import EXTRA_FOLDER, METADATA_FILE
from retina_tf.utils import storage
from retina_tf.utils.errors import UserError


def _version(base, name, metadata=None):
    """A version folder with a (fake) saved_model.pb and, when given, its retina_tf.json."""
    folder = base / name
    folder.mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"")
    if metadata is not None:
        (folder / EXTRA_FOLDER).mkdir()
        (folder / EXTRA_FOLDER / METADATA_FILE).write_text(json.dumps(metadata))
    return folder


def test_versions_are_numeric_folders_in_numeric_order(tmp_path):
    for name in ("9", "10", "2"):
        _version(tmp_path, name)
    _version(tmp_path, ".incomplete-11")    # an export still being written (export.STAGING_PREFIX)
    (tmp_path / "notes").mkdir()
    (tmp_path / "12").write_text("a file, not a version")
    assert model_base.versions(tmp_path) == [2, 9, 10]


def test_a_missing_or_empty_model_base_has_no_versions(tmp_path):
    assert model_base.versions(tmp_path / "nowhere") == []
    assert model_base.versions(tmp_path) == []
    (tmp_path / "file").write_text("")
    assert model_base.versions(tmp_path / "file") == []


def test_the_version_folder_is_the_highest_version_or_the_saved_model_itself(tmp_path):
    for name in ("9", "10"):
        _version(tmp_path / "retina", name)
    assert model_base.version_folder(tmp_path / "retina") == storage.path(tmp_path / "retina" / "10")
    assert model_base.version_folder(str(tmp_path / "retina" / "9")) == storage.path(tmp_path / "retina" / "9")


def test_a_folder_holding_a_saved_model_is_not_read_as_a_model_base(tmp_path):
    """A SavedModel whose variables sit in a numbered folder is still the SavedModel."""
    folder = _version(tmp_path, "export")
    (folder / "3").mkdir()
    assert model_base.version_folder(folder) == storage.path(folder)


def test_no_such_folder_and_no_saved_model_are_named_in_one_line(tmp_path):
    with pytest.raises(UserError) as missing:
        model_base.version_folder(tmp_path / "retina")
    assert str(missing.value) == f"{tmp_path / 'retina'}: no such folder"
    (tmp_path / "retina" / "latest").mkdir(parents=True)
    with pytest.raises(UserError) as empty:
        model_base.version_folder(tmp_path / "retina")
    assert str(empty.value) == (f"{tmp_path / 'retina'}: no SavedModel here "
                                "(neither saved_model.pb nor numbered version folders)")


def test_export_metadata_is_the_json_in_assets_extra_or_empty(tmp_path):
    metadata = {"checkpoint": "ckpt-80", "normalisation": {"output_size": 1024}}
    assert model_base.export_metadata(_version(tmp_path, "1", metadata)) == metadata
    assert model_base.export_metadata(_version(tmp_path, "2")) == {}   # a SavedModel exported elsewhere


def test_latest_export_is_the_highest_version_with_its_own_metadata(tmp_path):
    _version(tmp_path, "2", {"checkpoint": "ckpt-40"})
    _version(tmp_path, "10", {"checkpoint": "ckpt-80"})
    assert model_base.latest_export(tmp_path) == (10, {"checkpoint": "ckpt-80"})
    assert model_base.latest_export(str(tmp_path)) == (10, {"checkpoint": "ckpt-80"})


def test_no_export_yet_is_none_and_no_metadata(tmp_path):
    assert model_base.latest_export(tmp_path / "retina") == (None, {})
    (tmp_path / "retina").mkdir()
    assert model_base.latest_export(tmp_path / "retina") == (None, {})
