"""Tests for the retina-tf command line: its commands, exit statuses and one-line errors."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from retina_tf.commands import main as cli
from retina_tf.configs import SMOKE_CPU
from retina_tf.data import synthetic


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main(["--help"])
    assert raised.value.code == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


def test_the_parser_of_every_command_loads_without_tensorflow():
    """--help answers at once: TensorFlow loads only when a command runs."""
    code = ("import sys; from retina_tf.commands import main; main.build_parser(); "
            "print(sorted(name for name in ('tensorflow', 'tf_keras', 'official') if name in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("command", ["build-dataset", "evaluate"])
def test_the_old_config_of_a_dataset_still_works_with_a_note(command, capsys):
    required = {"build-dataset": ["--manual-dir", "m", "--data-dir", "d"],
                "evaluate": ["--model-dir", "m", "--data-dir", "d", "--out", "o"]}[command]
    args = cli.build_parser().parse_args([command, *required, "--config", "patients_512"])
    assert args.dataset_config == "patients_512"
    assert capsys.readouterr().err.strip() == (f"retina-tf {command}: --config is now --dataset-config; "
                                               "the old spelling goes in the next release")
    assert cli.build_parser().parse_args([command, *required, "--dataset-config", "x"]).dataset_config == "x"


@pytest.mark.parametrize("command, option, value, message", [
    ("export", "--version", "-3", "version -3: a version is a positive integer (TF Serving loads 1, 2, ...)"),
    ("export", "--version", "0", "version 0: a version is a positive integer (TF Serving loads 1, 2, ...)"),
    ("export", "--version", "three", "invalid version value: 'three'"),
    ("export", "--model-name", "../../escaped", "model name '../../escaped': a model name is one folder of the "
                                                "export base, of letters, digits, -, _ and . (not . or ..)"),
    ("serve", "--model-name", "../../../etc", "model name '../../../etc': a model name is one folder of the "
                                              "export base, of letters, digits, -, _ and . (not . or ..)"),
    ("serve", "--model-name", "..", "model name '..': a model name is one folder of the "
                                    "export base, of letters, digits, -, _ and . (not . or ..)"),
])
def test_versions_and_model_names_that_would_leave_the_export_base_are_refused(
        command, option, value, message, tmp_path, capsys):
    required = {"export": ["--model-dir", str(tmp_path / "model")], "serve": []}[command]
    with pytest.raises(SystemExit) as raised:
        cli.main([command, *required, "--export-base", str(tmp_path / "base"), f"{option}={value}"])
    assert raised.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"retina-tf {command}: error: argument {option}: {message}"
    assert not list(tmp_path.iterdir())


def test_synth_writes_an_e_ophtha_tree(tmp_path, capsys):
    assert cli.main(["synth", "--out", str(tmp_path), "--exudates", "2", "--microaneurysms", "2",
                     "--healthy", "1", "--shared", "1", "--size", "160x106"]) == 0
    assert len(list((tmp_path / "e_optha_EX" / "Annotation_EX").glob("*/*_EX.png"))) == 2
    assert "wrote 5 photographs" in capsys.readouterr().out


def test_synth_refuses_a_bad_spec_in_one_line(tmp_path, capsys):
    assert cli.main(["synth", "--out", str(tmp_path), "--exudates", "1", "--shared", "2"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("retina-tf synth: error:") and "shared_photographs" in err and "\n" not in err


def test_normalise_writes_good_photographs_and_names_the_bad_ones(tmp_path, capsys):
    photo = synthetic.render_fundus(np.random.default_rng(1), 480, 320, exudates=True, microaneurysms=False)
    good = tmp_path / "good.jpg"
    cv2.imwrite(str(good), photo.image[..., ::-1])
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photograph")
    out = tmp_path / "out"
    status = cli.main(["normalise", str(bad), str(good), "--out", str(out), "--size", "256"])
    captured = capsys.readouterr()
    assert status == 1
    assert f"{bad}: not a JPEG or PNG photograph" in captured.err
    assert "1 of 2 photographs could not be normalised" in captured.err
    assert cv2.imread(str(out / "good.png")).shape == (256, 256, 3)
    geometry = json.loads((out / "good.json").read_text())
    assert geometry["height"] == 320 and geometry["width"] == 480 and geometry["output_size"] == 256


@pytest.mark.parametrize("command", [
    ["export", "--model-dir", "gs://no-such-bucket/run", "--export-base", "exports"],
    ["train", "--config", str(SMOKE_CPU), "--model-dir", "gs://no-such-bucket/run", "--data-dir", "{data}",
     "--params-override", "task.schedule.steps_per_epoch=1"],
])
def test_a_bucket_url_is_used_as_given_and_its_failure_named_in_one_line(command, eophtha_data_dir, tmp_path,
                                                                         monkeypatch, capsys):
    """No network here: the bucket cannot be reached, and the one line says which URL, unmangled (train is
    given a built dataset, which it checks first)."""
    command = [argument.format(data=eophtha_data_dir) for argument in command]
    monkeypatch.chdir(tmp_path)
    assert cli.main(command) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"retina-tf {command[0]}: error: gs://no-such-bucket/run: ") and "\n" not in err, err
    assert not (tmp_path / "gs:").exists() and not (tmp_path / "exports").exists()
