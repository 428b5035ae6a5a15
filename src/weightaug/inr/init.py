"""Initial weights of INRs, one independent random stream per (seed, object, view)
(:func:`weightaug.rng.uniform_streams`): view k of object i is the same whatever the batch, order or machine.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch
from torch import Tensor

from weightaug.rng import uniform_streams
from weightaug.weights import NetworkSpec, WeightBatch

Init = Literal["sitzmann", "dwsnets", "zero-bias"]
INITS: tuple[str, ...] = get_args(Init)


def init_weights(spec: NetworkSpec, init: Init, seed: int, object_ids: Tensor, view_ids: Tensor) -> WeightBatch:
    """Initial float32 weights for the networks (object_ids[b], view_ids[b]); see :func:`layer_bounds`."""
    u = uniform_streams(seed, object_ids, view_ids, spec.n_params) * 2.0 - 1.0  # U(-1, 1)
    scale = torch.cat(
        [
            torch.full((n,), bound, dtype=u.dtype)
            for (o, i), bounds in zip(spec.weight_shapes, layer_bounds(spec, init), strict=True)
            for n, bound in zip((o * i, o), bounds, strict=True)
        ]
    )
    return WeightBatch.from_flat(spec, (u * scale).float())


def layer_bounds(spec: NetworkSpec, init: Init) -> list[tuple[float, float]]:
    """Per layer, the bounds ``(w, b)`` of its uniform weights and biases.

    - ``sitzmann`` (SIREN): first layer U(+-1/d_in), later layers U(+-sqrt(6/d_in)/w0); biases at PyTorch's
      default U(+-1/sqrt(d_in)).
    - ``dwsnets`` (the INR class of DWSNets and the official augmentation code): hidden layers
      U(+-sqrt(6/d_in)/w0), the first included, zero biases; the last layer a plain ``nn.Linear`` at PyTorch's
      default, weights and bias U(+-1/sqrt(d_in)).
    - ``zero-bias``: U(+-sqrt(6/d_in)/w0) on every layer, the last included, and zero biases. The output
      starts near zero, so fitting has to move the hidden layers: weight-space models learn from these INRs
      where they do not from the other two (docs/RESULTS.md).

    ReLU networks get PyTorch's default under every name.
    """
    check_init(init)
    last = len(spec.weight_shapes) - 1
    bounds = []
    for layer, (_, d_in) in enumerate(spec.weight_shapes):
        default, siren = 1.0 / math.sqrt(d_in), math.sqrt(6.0 / d_in) / spec.w0
        if spec.activation == "relu" or (init == "dwsnets" and layer == last):
            bounds.append((default, default))
        elif init == "sitzmann":
            bounds.append((1.0 / d_in if layer == 0 else siren, default))
        else:
            bounds.append((siren, 0.0))
    return bounds


def check_init(init: str) -> None:
    """Raise a ValueError naming the valid inits unless ``init`` is one."""
    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}, got {init!r}")
