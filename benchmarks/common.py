"""Helpers shared by the benchmark scripts: a batch of fitted INRs and a median timer."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from weightaug.data.sources import load_source
from weightaug.inr.fit import FitConfig, coordinate_grid, fit_inrs, image_targets
from weightaug.weights import NetworkSpec, WeightBatch


def fitted_digits(spec: NetworkSpec, n: int, cfg: FitConfig | None = None) -> tuple[WeightBatch, torch.Tensor]:
    """The first ``n`` digits fitted with ``cfg`` (the default recipe; view 0, seed 0), and their labels."""
    src = load_source("digits")
    idx = torch.arange(n)
    images = src.float_images(idx)
    coords = coordinate_grid(*images.shape[-2:])
    weights, _ = fit_inrs(spec, image_targets(images), cfg or FitConfig(), 0, idx, torch.zeros_like(idx), coords)
    return weights, src.labels[idx]


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median seconds of ``repeats`` calls, and the last call's result."""
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out
