"""The procedural 3D shape set, the embedded 3D default (no download): twelve classes of solids.

Object ``i`` is of class ``i % 12`` with proportions, a uniformly random rotation and a small smooth
deformation drawn from the stream of ``i`` alone (:func:`weightaug.rng.uniform_streams`), so any subset of
objects is the same in every run. Every solid has an analytic inside test; its circumscribed radius is
0.85 before the deformation (at most 0.04 more after), so it lies well inside the cube [-1, 1]^3 in which
the INRs are fitted: like a mesh normalised to the unit cube, size tells no class.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from weightaug.data.occupancy import surface_by_bisection
from weightaug.rng import rotations, uniform_streams

RADIUS = 0.85  # the circumscribed radius of every solid before its deformation
MAX_WARP = 0.04  # the deformation's largest displacement
_STREAM = 0x5BA9E  # the shapes' stream, apart from every seed's
_N_PARAMS = 12  # uniforms per object: 3 proportions, 3 rotation, 6 deformation
Inside = Callable[[Tensor, Tensor], Tensor]  # (points (B, N, 3) in the solid's frame, u (B, 3)) -> (B, N) bool


def _mix(u: Tensor, low: float, high: float) -> Tensor:
    return low + (high - low) * u


def _norm_xy(p: Tensor) -> Tensor:
    return p[..., :2].norm(dim=-1)


def _sphere(p: Tensor, u: Tensor) -> Tensor:
    return p.norm(dim=-1) <= RADIUS


def _ellipsoid(p: Tensor, u: Tensor) -> Tensor:
    axes = torch.stack([torch.ones_like(u[:, 0]), _mix(u[:, 0], 0.35, 0.8), _mix(u[:, 1], 0.35, 0.8)], -1) * RADIUS
    return (p / axes[:, None]).square().sum(-1) <= 1


def _box(p: Tensor, u: Tensor) -> Tensor:
    half = torch.stack([torch.ones_like(u[:, 0]), _mix(u[:, 0], 0.3, 1.0), _mix(u[:, 1], 0.3, 1.0)], -1)
    half = half / half.norm(dim=-1, keepdim=True) * RADIUS
    return (p.abs() <= half[:, None]).all(-1)


def _radius_height(u: Tensor, low: float, high: float) -> tuple[Tensor, Tensor]:
    """(radius, half-height) with half-height / radius in [low, high] and sqrt(r^2 + h^2) = RADIUS."""
    ratio = _mix(u, low, high)
    r = RADIUS / torch.sqrt(1 + ratio.square())
    return r[:, None], (r * ratio)[:, None]


def _cylinder(p: Tensor, u: Tensor) -> Tensor:
    r, h = _radius_height(u[:, 0], 0.5, 2.0)
    return (_norm_xy(p) <= r) & (p[..., 2].abs() <= h)


def _tube(p: Tensor, u: Tensor) -> Tensor:
    r, h = _radius_height(u[:, 0], 0.5, 2.0)
    inner = r * _mix(u[:, 1], 0.45, 0.75)[:, None]
    rho = _norm_xy(p)
    return (rho <= r) & (rho >= inner) & (p[..., 2].abs() <= h)


def _cone(p: Tensor, u: Tensor) -> Tensor:
    r, h = _radius_height(u[:, 0], 0.5, 2.0)  # base of radius r at z = -h, apex at z = +h
    z = p[..., 2]
    return (z.abs() <= h) & (_norm_xy(p) <= r * (h - z) / (2 * h))


def _pyramid(p: Tensor, u: Tensor) -> Tensor:
    a, h = _radius_height(u[:, 0], 0.6, 2.0)  # square base of half-side a / sqrt(2) at z = -h: corners at radius a
    z, side = p[..., 2], a / math.sqrt(2) * (h - p[..., 2]) / (2 * h)
    return (z.abs() <= h) & (p[..., 0].abs() <= side) & (p[..., 1].abs() <= side)


def _wedge(p: Tensor, u: Tensor) -> Tensor:
    rho, h = _radius_height(u[:, 0], 0.4, 1.5)  # an equilateral triangle with corners at radius rho, extruded
    inside = p[..., 2].abs() <= h
    for k in range(3):  # each edge's half-plane: the corner directions' opposite normals, at distance rho / 2
        angle = math.pi / 2 + 2 * math.pi * k / 3 + math.pi
        inside &= p[..., 0] * math.cos(angle) + p[..., 1] * math.sin(angle) <= rho / 2
    return inside


def _torus(p: Tensor, u: Tensor) -> Tensor:
    ratio = _mix(u[:, 0], 0.2, 0.5)[:, None]  # minor / major radius
    major = RADIUS / (1 + ratio)
    return (_norm_xy(p) - major).square() + p[..., 2].square() <= (major * ratio).square()


def _capsule(p: Tensor, u: Tensor) -> Tensor:
    r = RADIUS * _mix(u[:, 0], 0.25, 0.5)[:, None]  # a segment along z of half-length RADIUS - r, swept by r
    z = p[..., 2].clamp(-(RADIUS - r), RADIUS - r)
    return (p - torch.stack([torch.zeros_like(z), torch.zeros_like(z), z], -1)).norm(dim=-1) <= r


def _octahedron(p: Tensor, u: Tensor) -> Tensor:
    axes = torch.stack([torch.ones_like(u[:, 0]), _mix(u[:, 0], 0.5, 1.0), _mix(u[:, 1], 0.5, 1.0)], -1) * RADIUS
    return (p.abs() / axes[:, None]).sum(-1) <= 1


def _cross(p: Tensor, u: Tensor) -> Tensor:
    t = RADIUS * _mix(u[:, 0], 0.12, 0.3)[:, None, None]  # three bars' half-thickness; their half-length L
    length = torch.sqrt(RADIUS**2 - 2 * t.square())
    a = p.abs()[..., None, :]  # (B, N, 1, 3) against the three bars (B, 1, 3, 3)
    eye = torch.eye(3, dtype=p.dtype, device=p.device)
    half = eye * length + (1 - eye) * t
    return (a <= half[:, None]).all(-1).any(-1)


SHAPES: dict[str, Inside] = {
    "sphere": _sphere,
    "ellipsoid": _ellipsoid,
    "box": _box,
    "cylinder": _cylinder,
    "tube": _tube,
    "cone": _cone,
    "pyramid": _pyramid,
    "wedge": _wedge,
    "torus": _torus,
    "capsule": _capsule,
    "octahedron": _octahedron,
    "cross": _cross,
}


@dataclass(frozen=True)
class ProceduralShapes:
    """``n_per_class`` objects of each of the twelve :data:`SHAPES` (the first ``train_per_class`` of each class,
    in object order, form the official train set, as ModelNet ships one), with an analytic inside test."""

    n_per_class: int = 400
    train_per_class: int = 300
    warp: float = MAX_WARP  # the deformation's largest displacement (0: the exact solids)
    name: str = "shapes"

    def __post_init__(self) -> None:
        if not 0 < self.train_per_class < self.n_per_class:
            raise ValueError(
                f"train_per_class must be in 1 .. n_per_class - 1, got {self.train_per_class} of {self.n_per_class}"
            )

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(SHAPES)

    @property
    def labels(self) -> Tensor:
        """Object ``i``: train objects first (class ``i % 12``), then test objects."""
        n_classes = len(SHAPES)
        return torch.arange(self.n_per_class * n_classes) % n_classes

    @property
    def n_train(self) -> int:
        return self.train_per_class * len(SHAPES)

    def params(self, ids: Tensor) -> Tensor:
        """``(B, 12)`` float32 uniforms of each object: proportions, rotation, deformation."""
        return uniform_streams(_STREAM, ids, torch.zeros_like(ids), _N_PARAMS).float()

    def inside(self, ids: Tensor, points: Tensor) -> Tensor:
        """``(B, N)`` whether ``points`` ``(B, N, 3)`` lie inside the solids ``ids`` ``(B,)``."""
        u = self.params(ids).to(points.device)
        rot = rotations(u[:, 3:6])
        local = points @ rot  # R^T p, row vectors: the point in the solid's frame
        amp = self.warp / math.sqrt(3) * u[:, 6:9, None].transpose(1, 2)  # (B, 1, 3) per axis, |warp| <= MAX_WARP
        phase = 2 * math.pi * u[:, 9:12, None].transpose(1, 2)
        local = local + amp * torch.sin(4.0 * local.roll(1, dims=-1) + phase)
        labels = self.labels[ids.cpu()].to(points.device)
        out = torch.zeros(points.shape[:2], dtype=torch.bool, device=points.device)
        for k, inside in enumerate(SHAPES.values()):
            rows = (labels == k).nonzero().flatten()
            if rows.numel():
                out[rows] = inside(local[rows], u[rows, :3])
        return out

    def surface(self, ids: Tensor, n: int, seed: int) -> Tensor:
        """``(B, n, 3)`` points on the solids' surfaces (bisected between inside and outside points)."""
        return surface_by_bisection(self.inside, ids, n, seed, radius=RADIUS + self.warp + 0.01)
