"""The package as a user gets it: a wheel built offline from the checkout, installed into a fresh virtual
environment outside it, trains from an experiment YAML named by its shipped name."""

import os
import pathlib
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# A wheel built and installed into a fresh virtual environment: minutes on 2 cores.
pytestmark = pytest.mark.slow

# What the build reads: the package, the YAML folder it ships, and the metadata files.
BUILD_INPUTS = ("retina_tf", "tfds_eophtha", "configs", "setup.cfg", "pyproject.toml", "README.md")


def _quiet_env(**extra) -> dict:
    """The environment less what would pick another retina_tf or add lines that are not the project's
    (PYTHONDONTWRITEBYTECODE makes setuptools print 'byte-compiling is disabled')."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    return {**env, **extra}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The wheel and the build's output; built from a copy of the build inputs, so no build/ or egg-info
    folder left in the checkout (or left there by an earlier build) changes what goes in."""
    source = tmp_path_factory.mktemp("source")
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", str(out), str(source)],
        capture_output=True, text=True, env=_quiet_env(), cwd=out, timeout=300)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (wheel,) = out.glob("retina_tf-*.whl")
    return wheel, build.stdout + build.stderr


@pytest.fixture(scope="module")
def fresh_venv(built, tmp_path_factory):
    """A virtual environment outside the checkout holding the wheel; the dependencies come from the
    checkout's environment through a .pth line, which adds that folder to sys.path after the
    environment's own and runs none of its .pth files (so not the editable install's finder)."""
    wheel, _ = built
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    "--quiet", str(wheel)], check=True, env=_quiet_env(), timeout=300)
    site_packages = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   check=True, capture_output=True, text=True).stdout.strip()
    (venv / site_packages / "checkout_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_the_build_prints_no_warning(built):
    _, log = built
    warnings = [line.strip() for line in log.splitlines() if re.search("warning", line, re.IGNORECASE)]
    assert not warnings, "\n".join(warnings[:20])


def test_the_wheel_holds_every_module_and_the_experiment_files(built):
    wheel, _ = built
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {path.relative_to(ROOT).as_posix() for package in ("retina_tf", "tfds_eophtha")
               for path in (ROOT / package).rglob("*.py") if "__pycache__" not in path.parts}
    assert modules - names == set(), "modules missing from the wheel (a package not listed in setup.cfg?)"
    experiments = {f"retina_tf/configs/experiments/{path.name}" for path in (ROOT / "configs").glob("*.yaml")}
    assert experiments and experiments <= names
    assert "tfds_eophtha/e_ophtha/checksums.tsv" in names
    assert any(name.startswith("tfds_eophtha/idrid/dummy_data/") for name in names)


def test_the_installed_package_trains_from_a_shipped_config_by_name(fresh_venv, eophtha_data_dir, tmp_path):
    where = subprocess.run(
        [fresh_venv / "bin" / "python", "-c", "import retina_tf.configs as c; print(c.__file__, c.SMOKE_CPU)"],
        capture_output=True, text=True, env=_quiet_env(), cwd=tmp_path, check=True).stdout.split()
    assert all(path.startswith(str(fresh_venv)) for path in where), f"not the wheel's package: {where}"
    assert where[1].endswith("retina_tf/configs/experiments/smoke_cpu.yaml")

    run = subprocess.run(
        [fresh_venv / "bin" / "retina-tf", "train", "--config", "smoke_cpu", "--model-dir", "model",
         "--data-dir", str(eophtha_data_dir), "--mode", "train", "--params-override",
         "task.schedule.epochs=[1,1],task.schedule.steps_per_epoch=1"],
        capture_output=True, text=True, env=_quiet_env(), cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "done at step 2 of 2" in run.stdout
    assert (tmp_path / "model" / "params.yaml").is_file()
