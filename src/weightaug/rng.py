"""Random draws made on the generator's device, then moved to where they are used.

A seeded ``torch.Generator`` lives on one device (the training loop's is on the CPU). Drawing there keeps a seed's
augmentations the same whether the weights sit on the CPU or a GPU.
"""

from __future__ import annotations

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
