"""Helpers for tests and benchmarks (as `tensorflow_datasets.testing`): hand-made evaluation records, the
OpenCV yardstick of the normalisation, free ports for local servers and clusters. The product never imports it."""
