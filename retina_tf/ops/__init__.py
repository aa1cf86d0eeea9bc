"""Tensor ops the lesion parser is built from, kept apart as Model Garden keeps official.vision.ops from its parsers."""
