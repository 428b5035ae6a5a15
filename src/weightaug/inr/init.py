"""Initial weights of INRs, one independent random stream per (seed, object, view).

A counter-based generator (splitmix64 over the counter) makes view k of object i the same whatever the
batch, order or machine: no torch.Generator state is shared between networks, and no Python loop runs
per network.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from weightaug.weights import NetworkSpec, WeightBatch

Init = Literal["sitzmann", "peers"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, element-wise on uint64 (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def uniform_streams(seed: int, object_ids: Tensor, view_ids: Tensor, n: int) -> Tensor:
    """``(B, n)`` float64 uniforms in [0, 1): row b depends only on (seed, object_ids[b], view_ids[b])."""
    obj = object_ids.cpu().numpy().astype(np.uint64)
    view = view_ids.cpu().numpy().astype(np.uint64)
    with np.errstate(over="ignore"):
        key = _mix(np.uint64(seed) * _GOLDEN + _M1)
        key = _mix(key ^ (obj * _GOLDEN))
        key = _mix(key ^ (view * _M2 + _GOLDEN))
        counter = np.arange(1, n + 1, dtype=np.uint64) * _GOLDEN
        bits = _mix(key[:, None] + counter[None, :])
    return torch.from_numpy((bits >> np.uint64(11)).astype(np.float64) * 2.0**-53)


def init_weights(spec: NetworkSpec, init: Init, seed: int, object_ids: Tensor, view_ids: Tensor) -> WeightBatch:
    """Initial float32 weights for the networks (object_ids[b], view_ids[b]).

    ``sitzmann``: first layer U(-1/d_in, 1/d_in), later layers U(+-sqrt(6/d_in)/w0), biases U(+-1/sqrt(d_in))
    (PyTorch's default). ``peers``: every layer U(+-sqrt(6/d_in)/w0), zero biases (as DWSNets' INRs).
    ReLU networks get PyTorch's default nn.Linear init under either name.
    """
    if init not in ("sitzmann", "peers"):
        raise ValueError(f"init must be 'sitzmann' or 'peers', got {init!r}")
    u = uniform_streams(seed, object_ids, view_ids, spec.n_params) * 2.0 - 1.0  # U(-1, 1)
    flat = torch.empty_like(u)
    col = 0
    for layer, (o, i) in enumerate(spec.weight_shapes):
        if spec.activation == "relu":
            w_bound = b_bound = 1.0 / math.sqrt(i)
        else:
            w_bound = math.sqrt(6.0 / i) / spec.w0
            if init == "sitzmann" and layer == 0:
                w_bound = 1.0 / i
            b_bound = 0.0 if init == "peers" else 1.0 / math.sqrt(i)
        flat[:, col : col + o * i] = u[:, col : col + o * i] * w_bound
        col += o * i
        flat[:, col : col + o] = u[:, col : col + o] * b_bound
        col += o
    return WeightBatch.from_flat(spec, flat.float())
