"""The thin scripts in export/ and serving/ reach the retina-tf commands."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parents[1]


@pytest.mark.parametrize("script,expected", [("export/export_saved_model.py", "--export-base"),
                                             ("serving/predict_client.py", "--server")])
def test_scripts_answer_help(script, expected):
    done = subprocess.run([sys.executable, str(ROOT / script), "--help"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0 and expected in done.stdout
