"""Experiment configs (Model Garden dataclasses) registered with exp_factory."""
