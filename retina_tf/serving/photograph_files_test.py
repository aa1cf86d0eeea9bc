"""Photograph files that never reach the model: each is named with what is wrong with it."""

from retina_tf.serving import photograph_files


class _UnusedModel:
    def predict(self, photographs, names, min_score):
        raise AssertionError(f"{names} reached the model")


def test_a_folder_or_a_missing_file_is_reported_for_what_it_is(tmp_path):
    folder = tmp_path / "clinic"
    folder.mkdir()
    done = list(photograph_files.predict_files(_UnusedModel(), [folder, tmp_path / "missing.jpg"], tmp_path / "out"))
    assert [(item.path, item.failure) for item in done] == [
        (folder, f"a folder, not a photograph: name the JPEG or PNG files in it (e.g. {folder}/*.jpg)"),
        (tmp_path / "missing.jpg", "no such file")]
