"""Tests for storage paths: URLs pass through untouched, local paths behave as pathlib's."""

import pathlib

from retina_tf.utils import storage


def test_a_bucket_url_is_kept_whole_where_pathlib_would_mangle_it():
    assert str(pathlib.Path("gs://bucket/runs/paper")) == "gs:/bucket/runs/paper"   # what this module avoids
    run = storage.path("gs://bucket/runs/paper")
    assert str(run) == "gs://bucket/runs/paper" and str(run / "params.yaml") == "gs://bucket/runs/paper/params.yaml"
    assert run.name == "paper" and str(run.parent) == "gs://bucket/runs"
    assert storage.is_object_storage(run) and storage.is_object_storage("s3://bucket/x")


def test_a_local_path_is_a_local_path(tmp_path):
    local = storage.path(tmp_path / "run")
    assert local == tmp_path / "run" and not storage.is_object_storage(local)
    (local / "a").mkdir(parents=True)
    (local / "a" / "b.txt").write_text("x")
    assert (tmp_path / "run" / "a" / "b.txt").read_text() == "x"
    assert str(storage.path("~/runs")) == str(pathlib.Path.home() / "runs")
