"""Experiment configs: Model Garden dataclasses registered with exp_factory, and the YAML files beside
the package that layer on them."""

import pathlib

CONFIG_DIR = pathlib.Path(__file__).resolve().parents[2] / "configs"
SMOKE_CPU = CONFIG_DIR / "smoke_cpu.yaml"
