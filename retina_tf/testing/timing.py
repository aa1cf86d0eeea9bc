"""Timing models against each other on one machine, for benchmarks."""

import time

import numpy as np


def in_turns(runs: dict, batch: int, repeats: int) -> dict:
    """label -> (per-photograph seconds of each timed call, mean lesions found, "-" where a call returns None).

    One warm-up call each, then the models take turns call by call, so a
    shared machine's changing load falls on all of them alike.

    Args:
      runs: label -> call(batch) that runs one batch and returns the lesions found per photograph, or None.
    """
    for call in runs.values():
        call(batch)
    seconds = {label: [] for label in runs}
    found = {label: [] for label in runs}
    for _ in range(repeats):
        for label, call in runs.items():
            start = time.perf_counter()
            found[label].append(call(batch))
            seconds[label].append((time.perf_counter() - start) / batch)
    return {label: (seconds[label], "-" if None in found[label] else f"{np.mean(found[label]):.1f}")
            for label in runs}
