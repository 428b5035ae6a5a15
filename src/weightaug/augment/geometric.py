"""Input-space augmentations applied through the first layer: the INR of a moved object, exactly.

Each draws an affine map of the coordinates per network, ``x -> A x + t``, and returns ``f'(x) = f(A x + t)``
(the represented image moves by the inverse map) by changing only the first layer:
``W0 (A x + t) + b0 = (W0 A) x + (b0 + W0 t)``. The function changes; the object's class does not.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from weightaug import rng
from weightaug.augment.base import Augmentation, AugmentationSpecError, Sample
from weightaug.weights import NetworkSpec, WeightBatch


def affine_inputs(weights: WeightBatch, matrix: Tensor, shift: Tensor) -> WeightBatch:
    """Networks computing ``f(A x + t)`` for ``matrix`` A (B, d, d) and ``shift`` t (B, d)."""
    w0, b0 = weights.weights[0], weights.biases[0]
    new_b0 = torch.baddbmm(b0.unsqueeze(2), w0, shift.unsqueeze(2)).squeeze(2)
    return WeightBatch(weights.spec, (torch.bmm(w0, matrix), *weights.weights[1:]), (new_b0, *weights.biases[1:]))


class CoordinateTransform(Augmentation):
    """Base of the geometric augmentations: subclasses draw ``(A, t)`` in :meth:`draw`."""

    def apply(self, weights: WeightBatch, targets: Tensor | None, params: tuple[Tensor, Tensor]) -> Sample:
        return affine_inputs(weights, *params), targets


def _uniform(weights: WeightBatch, low: float, high: float, generator: torch.Generator | None, *shape) -> Tensor:
    u = rng.rand((len(weights), *shape), generator, weights.device, weights.dtype)
    return low + (high - low) * u


def _eye(weights: WeightBatch) -> Tensor:
    d = weights.spec.in_dim
    return torch.eye(d, device=weights.device, dtype=weights.dtype).expand(len(weights), d, d)


def _no_shift(weights: WeightBatch) -> Tensor:
    return torch.zeros(len(weights), weights.spec.in_dim, device=weights.device, dtype=weights.dtype)


class Translate(CoordinateTransform):
    """``f'(x) = f(x + t)``, t ~ U(-max_shift, max_shift) per coordinate: ``b0 += W0 t`` (exact)."""

    def __init__(self, max_shift: float = 0.25, p: float = 1.0, spec: NetworkSpec | None = None) -> None:
        self.max_shift = max_shift
        super().__init__(p, spec)

    def draw(self, weights: WeightBatch, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        shift = _uniform(weights, -self.max_shift, self.max_shift, generator, weights.spec.in_dim)
        return _eye(weights), shift


class Rotate(CoordinateTransform):
    """``f'(x) = f(R x)`` for a rotation by theta ~ U(-max_degrees, max_degrees): in the plane (2D INRs) or
    about ``axis`` x, y or z (3D INRs): ``W0 <- W0 R``."""

    input_dims = (2, 3)
    AXES = ("x", "y", "z")

    def __init__(
        self, max_degrees: float = 30.0, axis: str = "z", p: float = 1.0, spec: NetworkSpec | None = None
    ) -> None:
        if axis not in self.AXES:
            raise ValueError(f"Rotate: axis must be one of {', '.join(self.AXES)}, got {axis!r}")
        self.max_degrees, self.axis = max_degrees, axis
        super().__init__(p, spec)

    def draw(self, weights: WeightBatch, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        limit = math.radians(self.max_degrees)
        theta = _uniform(weights, -limit, limit, generator)
        c, s = torch.cos(theta), torch.sin(theta)
        plane = torch.stack([torch.stack([c, -s], 1), torch.stack([s, c], 1)], 1)
        if weights.spec.in_dim == 2:
            return plane, _no_shift(weights)
        others = [k for k in range(3) if k != self.AXES.index(self.axis)]  # the plane the rotation turns
        matrix = _eye(weights).clone()
        matrix[:, others[0], others[0]], matrix[:, others[0], others[1]] = plane[:, 0, 0], plane[:, 0, 1]
        matrix[:, others[1], others[0]], matrix[:, others[1], others[1]] = plane[:, 1, 0], plane[:, 1, 1]
        return matrix, _no_shift(weights)


class RotateSO3(CoordinateTransform):
    """``f'(x) = f(R x)`` for R uniform on the rotations of 3D space (Shoemake's quaternions): ``W0 <- W0 R``."""

    input_dims = (3,)

    def draw(self, weights: WeightBatch, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        u = rng.rand((len(weights), 3), generator, weights.device, weights.dtype)
        return rng.rotations(u), _no_shift(weights)


class Scale(CoordinateTransform):
    """``f'(x) = f(s x)``, s ~ U(min_scale, max_scale), the same for every axis: ``W0 <- s W0``."""

    def __init__(
        self, min_scale: float = 0.8, max_scale: float = 1.2, p: float = 1.0, spec: NetworkSpec | None = None
    ) -> None:
        if not 0 < min_scale <= max_scale:
            raise ValueError(f"{type(self).__name__} needs 0 < min_scale <= max_scale, got {min_scale}, {max_scale}")
        self.min_scale, self.max_scale = min_scale, max_scale
        super().__init__(p, spec)

    def draw(self, weights: WeightBatch, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        s = _uniform(weights, self.min_scale, self.max_scale, generator)
        return _eye(weights) * s[:, None, None], _no_shift(weights)


class ScaleAxes(Scale):
    """``f'(x) = f(diag(s) x)``, each s_i ~ U(min_scale, max_scale) on its own (anisotropic): ``W0 <- W0 diag(s)``."""

    def draw(self, weights: WeightBatch, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        s = _uniform(weights, self.min_scale, self.max_scale, generator, weights.spec.in_dim)
        return torch.diag_embed(s), _no_shift(weights)


class Flip(CoordinateTransform):
    """Mirror along coordinate ``axis`` (0 = x, horizontal; 1 = y, vertical): ``W0[:, axis] *= -1``."""

    def __init__(self, axis: int = 0, p: float = 0.5, spec: NetworkSpec | None = None) -> None:
        self.axis = axis
        super().__init__(p, spec)

    def check(self, spec: NetworkSpec) -> None:
        if not 0 <= self.axis < spec.in_dim:
            raise AugmentationSpecError(f"Flip axis {self.axis} does not exist: these INRs take {spec.in_dim}D inputs")

    def draw(self, weights: WeightBatch, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        matrix = _eye(weights).clone()
        matrix[:, self.axis, self.axis] = -1.0
        return matrix, _no_shift(weights)
