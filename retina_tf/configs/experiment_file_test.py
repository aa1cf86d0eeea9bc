"""--config takes a path or the name of a shipped experiment file."""

import pytest

from retina_tf.commands import main as cli
from retina_tf.configs import CONFIG_DIR, SMOKE_CPU, experiment_file, shipped_names
from retina_tf.utils.errors import UserError


def test_the_shipped_files_are_the_configs_folder():
    assert set(shipped_names()) >= {"smoke_cpu", "paper_1gpu", "paper_multi_gpu", "paper_multi_worker", "real_cpu"}
    assert SMOKE_CPU.is_file() and SMOKE_CPU.parent == CONFIG_DIR


@pytest.mark.parametrize("name", ["paper_1gpu", "paper_1gpu.yaml"])
def test_a_name_is_the_shipped_file(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert str(experiment_file(name)) == str(CONFIG_DIR / "paper_1gpu.yaml")


def test_a_file_wins_over_a_shipped_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "smoke_cpu.yaml").write_text("task: {}\n")
    assert str(experiment_file("smoke_cpu.yaml")) == "smoke_cpu.yaml"
    assert str(experiment_file(tmp_path / "smoke_cpu.yaml")) == str(tmp_path / "smoke_cpu.yaml")


def test_object_storage_is_taken_as_given():
    assert str(experiment_file("gs://bucket/experiments/paper.yaml")) == "gs://bucket/experiments/paper.yaml"


@pytest.mark.parametrize("text", ["paper_2gpu", "configs/smoke_cpu.yaml"])
def test_neither_a_file_nor_a_name_lists_the_names(text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=f"^{text}: neither .*smoke_cpu"):
        experiment_file(text)


def test_the_command_line_says_it_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["train", "--config", "paper_2gpu", "--model-dir", str(tmp_path)])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert stop.value.code == 2
    assert error.startswith("retina-tf train: error: argument --config: paper_2gpu: neither")
    assert all(name in error for name in shipped_names())
