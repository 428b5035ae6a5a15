"""Points and occupancies of 3D solids, the targets of occupancy INRs, drawn per object from its own stream.

A solid source (procedural shapes, meshes) answers ``inside(ids, points)`` and ``surface(ids, n, seed)``.
An object's fitting points are uniform in the cube [-1, 1]^3 plus surface points moved by Gaussian noise
(most of the information is near the surface); its held-out points, on which IoU is measured, are uniform
in the cube from another stream. Every draw depends on (seed, object, purpose) only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Protocol

import torch
from torch import Tensor

from weightaug.rng import uniform_streams

FIT, HELD_OUT, SURFACE, NOISE, DIRECTION = range(5)  # the purposes of an object's streams


class SolidSource(Protocol):
    name: str
    classes: tuple[str, ...]
    labels: Tensor
    n_train: int

    def inside(self, ids: Tensor, points: Tensor) -> Tensor:
        """``(B, N)`` bool: whether ``points`` ``(B, N, 3)`` lie inside the solids ``ids``."""
        ...

    def surface(self, ids: Tensor, n: int, seed: int) -> Tensor:
        """``(B, n, 3)`` points on the solids' surfaces, drawn from (seed, object)."""
        ...


@dataclass(frozen=True)
class PointsConfig:
    """Where an occupancy INR is fitted and measured (per object, from its own stream)."""

    uniform_points: Annotated[int, "Occupancy fits: points uniform in the cube per object."] = 2048
    near_points: Annotated[int, "Occupancy fits: points near the surface per object."] = 2048
    near_sigma: Annotated[float, "Occupancy fits: the near points' Gaussian distance from the surface."] = 0.02
    held_out_points: Annotated[int, "Occupancy fits: held-out uniform points per object, for IoU."] = 16384
    points_per_step: Annotated[int, "Occupancy fits: points per Adam step, each INR in its own order."] = 1024

    def __post_init__(self) -> None:
        if (
            min(self.uniform_points, self.near_points, self.held_out_points, self.points_per_step) < 1
            or self.near_sigma < 0
        ):
            raise ValueError(f"point counts must be >= 1 and sigma >= 0, got {self}")
        if (self.uniform_points + self.near_points) % self.points_per_step:
            raise ValueError(f"points_per_step {self.points_per_step} must divide the "
                             f"{self.uniform_points + self.near_points} fitting points of an object")  # fmt: skip


def stream(seed: int, ids: Tensor, purpose: int, n: int) -> Tensor:
    """``(B, n)`` float32 uniforms of each object for one purpose."""
    return uniform_streams(seed, ids, torch.full_like(ids, purpose), n).float()


def uniform_points(seed: int, ids: Tensor, purpose: int, n: int) -> Tensor:
    """``(B, n, 3)`` points uniform in the cube [-1, 1]^3."""
    return stream(seed, ids, purpose, 3 * n).view(len(ids), n, 3) * 2 - 1


def gaussian(seed: int, ids: Tensor, purpose: int, n: int) -> Tensor:
    """``(B, n, 3)`` standard normal draws (Box-Muller on the object's uniforms)."""
    u = stream(seed, ids, purpose, 6 * n).view(len(ids), n, 3, 2)
    return torch.sqrt(-2 * torch.log1p(-u[..., 0])) * torch.cos(2 * torch.pi * u[..., 1])


def occupancy_samples(
    source: SolidSource, ids: Tensor, n_uniform: int, n_near: int, sigma: float, seed: int
) -> tuple[Tensor, Tensor]:
    """An object's fitting points ``(B, n_uniform + n_near, 3)`` and their occupancy ``(B, N)`` in {0, 1}."""
    near = source.surface(ids, n_near, seed) + sigma * gaussian(seed, ids, NOISE, n_near)
    points = torch.cat([uniform_points(seed, ids, FIT, n_uniform), near.clamp(-1, 1)], dim=1)
    return points, source.inside(ids, points).float()


def held_out_samples(source: SolidSource, ids: Tensor, n: int, seed: int) -> tuple[Tensor, Tensor]:
    """Held-out points ``(B, n, 3)`` uniform in the cube, and their occupancy: where IoU is measured."""
    points = uniform_points(seed, ids, HELD_OUT, n)
    return points, source.inside(ids, points).float()


def iou(logits: Tensor, occupancy: Tensor) -> Tensor:
    """``(B,)`` intersection over union of ``logits > 0`` and ``occupancy`` ``(B, N[, 1])`` (1 where both empty)."""
    pred, true = logits.reshape(len(logits), -1) > 0, occupancy.reshape(len(occupancy), -1) > 0.5
    union = (pred | true).sum(1)
    return torch.where(union > 0, (pred & true).sum(1) / union.clamp(min=1), 1.0)


def surface_by_bisection(
    inside: Callable[[Tensor, Tensor], Tensor], ids: Tensor, n: int, seed: int, radius: float = 1.0, steps: int = 20
) -> Tensor:
    """``(B, n, 3)`` surface points of solids known only by ``inside``: pairs of an inside and an outside point
    of the ball of ``radius``, each pair bisected ``steps`` times to where the segment crosses the surface."""
    candidates = 8 * n
    direction = torch.nn.functional.normalize(gaussian(seed, ids, DIRECTION, candidates), dim=-1)
    points = direction * radius * stream(seed, ids, SURFACE, candidates)[..., None].pow(1 / 3)  # uniform in the ball
    flags = inside(ids, points)
    n_in = flags.sum(1, keepdim=True)
    if (n_in == 0).any() or (n_in == candidates).any():
        bad = ids[((n_in == 0) | (n_in == candidates)).flatten().cpu()].tolist()
        raise ValueError(f"objects {bad[:10]} have no inside (or no outside) point among {candidates} samples")
    order = torch.argsort(flags.to(torch.int8), dim=1, descending=True, stable=True)  # inside points first
    j = torch.arange(n, device=points.device)[None]
    a_idx = order.gather(1, j % n_in)
    b_idx = order.gather(1, n_in + (j * 7 + 3) % (candidates - n_in))  # a spread of outside partners
    a = points.gather(1, a_idx[..., None].expand(-1, -1, 3))
    b = points.gather(1, b_idx[..., None].expand(-1, -1, 3))
    for _ in range(steps):
        mid = (a + b) / 2
        now_inside = inside(ids, mid)[..., None]
        a, b = torch.where(now_inside, mid, a), torch.where(now_inside, b, mid)
    return (a + b) / 2
