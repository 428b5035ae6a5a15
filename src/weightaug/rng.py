"""Random draws made on the generator's device, then moved to where they are used.

A seeded ``torch.Generator`` lives on one device (the training loop's is on the CPU). Drawing there keeps a seed's
augmentations the same whether the weights sit on the CPU or a GPU.

:func:`uniform_streams` is the other kind: one counter-based stream (splitmix64 over the counter) per
(seed, object, view), the same whatever the batch, order or machine, with no generator state shared between
objects and no Python loop per object (INR inits, input-view transforms, shapes and their sample points).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

Device = torch.device | str


def _source(generator: torch.Generator | None, device: Device) -> torch.device:
    return generator.device if generator is not None else torch.device(device)


def rand(shape: tuple[int, ...], generator: torch.Generator | None, device: Device, dtype=None) -> Tensor:
    """Uniform [0, 1) of ``shape``, on ``device``."""
    return torch.rand(shape, generator=generator, device=_source(generator, device), dtype=dtype).to(device)


def randn(shape: tuple[int, ...], generator: torch.Generator | None, device: Device, dtype=None) -> Tensor:
    """Standard normal of ``shape``, on ``device``."""
    return torch.randn(shape, generator=generator, device=_source(generator, device), dtype=dtype).to(device)


def randint(low: int, high: int, shape: tuple[int, ...], generator: torch.Generator | None, device: Device) -> Tensor:
    """Integers in [low, high) of ``shape``, on ``device``."""
    return torch.randint(low, high, shape, generator=generator, device=_source(generator, device)).to(device)


def randperm(n: int, generator: torch.Generator | None, device: Device) -> Tensor:
    """A random permutation of ``range(n)``, on ``device``."""
    return torch.randperm(n, generator=generator, device=_source(generator, device)).to(device)


def choice(weights: list[float], n: int, generator: torch.Generator | None, device: Device) -> Tensor:
    """``n`` indices drawn with replacement, in proportion to ``weights``, on ``device``."""
    probs = torch.tensor(weights, dtype=torch.float64, device=_source(generator, device))
    return torch.multinomial(probs, n, replacement=True, generator=generator).to(device)


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


def rotations(u: Tensor) -> Tensor:
    """``(B, 3, 3)`` rotations uniform on SO(3) from ``(B, 3)`` uniforms in [0, 1) (Shoemake's quaternions)."""
    a, b, c = u.unbind(-1)
    x, y = torch.sqrt(1 - a) * torch.sin(2 * math.pi * b), torch.sqrt(1 - a) * torch.cos(2 * math.pi * b)
    z, w = torch.sqrt(a) * torch.sin(2 * math.pi * c), torch.sqrt(a) * torch.cos(2 * math.pi * c)
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]
    return torch.stack([torch.stack(row, -1) for row in rows], -2)


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of all randomness of epoch ``epoch`` of a run seeded ``seed``."""
    return seed * 1_000_003 + epoch


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A CPU generator for epoch ``epoch`` of a run seeded ``seed`` (the order of its mini-batches)."""
    return torch.Generator().manual_seed(epoch_seed(seed, epoch))
