"""Random, differentiable transforms of a layer's weights: the shadow weights' T in SW = s * T(PW).

A transform draws its random parameters once per resampling (:meth:`draw`, from a torch.Generator) and
applies them (:meth:`apply`) in every forward until the next draw, so gradients reach the plain weights
through an ordinary autograd graph. Kernel transforms treat each k x k convolution kernel as a tiny image
and move all kernels of a layer the same way (one draw per layer, as the paper's code does), by one affine
resampling of the whole weight tensor; the baselines (weight noise, DropConnect, random perturbation) act on
any parameter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor

from weightaug import rng
from weightaug.registry import RegistryError, parse

Draw = object  # whatever a transform draws; apply consumes it


class TransformSpecError(ValueError):
    """A transform was asked to act on a parameter it is not defined for."""


class WeightTransform:
    """Base class: ``draw(weight, generator) -> draw`` and ``apply(weight, draw) -> shadow weight``, the idiom of
    :class:`weightaug.augment.Augmentation`."""

    kernels_only = False  # True: needs conv kernels (C_out, C_in, k, k) with k > 1

    def check(self, name: str, shape: torch.Size) -> None:
        if self.kernels_only and (len(shape) != 4 or min(shape[-2:]) < 2):
            raise TransformSpecError(
                f"{type(self).__name__} transforms k x k conv kernels (k >= 2); parameter {name!r} has shape {tuple(shape)}"
            )

    def draw(self, weight: Tensor, generator: torch.Generator) -> Draw:
        raise NotImplementedError

    def apply(self, weight: Tensor, draw: Draw) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"


def _uniform_scalar(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * torch.rand((), generator=generator, dtype=torch.float64).item()


class Identity(WeightTransform):
    def draw(self, weight: Tensor, generator: torch.Generator) -> Draw:
        return None

    def apply(self, weight: Tensor, draw: Draw) -> Tensor:
        return weight


class KernelResample(WeightTransform):
    """Kernels resampled on a grid of kernel coordinates (``grid_sample``'s, pixel centres, zero outside):
    the draw is the grid, so applying it is one ``grid_sample`` of the whole weight tensor. ``mode`` is
    ``nearest`` for exact integer moves, else ``bilinear``."""

    kernels_only = True
    mode = "bilinear"

    def apply(self, weight: Tensor, draw: Tensor) -> Tensor:
        c_out, c_in, h, w = weight.shape
        grid = draw.to(weight.device, weight.dtype)
        moved = F.grid_sample(
            weight.reshape(1, c_out * c_in, h, w), grid, mode=self.mode, padding_mode="zeros", align_corners=False
        )
        return moved.view_as(weight)


def affine_draw(a: list[list[float]], t: list[float], size: tuple[int, int]) -> Tensor:
    """The grid of kernels of ``size`` resampled at ``A p + t``."""
    theta = torch.tensor([[[*a[0], t[0]], [*a[1], t[1]]]], dtype=torch.float32)
    return F.affine_grid(theta, [1, 1, *size], align_corners=False)


class KernelAffine(KernelResample):
    """Kernels resampled at ``A p + t`` (normalised kernel coordinates); subclasses draw ``(A, t)``."""

    def affine(self, size: tuple[int, int], generator: torch.Generator) -> tuple[list[list[float]], list[float]]:
        raise NotImplementedError

    def draw(self, weight: Tensor, generator: torch.Generator) -> Tensor:
        size = tuple(weight.shape[-2:])
        return affine_draw(*self.affine(size, generator), size)


class KernelTranslate(KernelAffine):
    """Shift kernels by up to ``fraction`` of their size per axis: rounded to whole pixels (the paper's
    RandomAffine with nearest sampling: -1/0/+1 with probability about 0.22/0.56/0.22 on 3x3 at 0.3), or
    sub-pixel with bilinear interpolation."""

    def __init__(self, fraction: float = 0.3, subpixel: bool = False) -> None:
        self.fraction, self.subpixel = fraction, subpixel
        self.mode = "bilinear" if subpixel else "nearest"

    def affine(self, size, generator):
        shifts = []
        for n in (size[1], size[0]):  # x (columns), then y (rows)
            d = _uniform_scalar(generator, -self.fraction * n, self.fraction * n)
            shifts.append(-2 * (d if self.subpixel else round(d)) / n)  # content moves by +d pixels
        return [[1.0, 0.0], [0.0, 1.0]], shifts


class KernelRotate(KernelAffine):
    """KernelRotate kernels by an angle in +-``degrees`` (bilinear)."""

    def __init__(self, degrees: float = 30.0) -> None:
        self.degrees = degrees

    def affine(self, size, generator):
        a = math.radians(_uniform_scalar(generator, -self.degrees, self.degrees))
        return [[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], [0.0, 0.0]


class KernelResizedCrop(KernelResample):
    """torchvision's RandomResizedCrop on each kernel: a whole-pixel crop of area ``scale`` and aspect ``ratio``,
    then resized back to k x k (bilinear, as ``interpolate(..., align_corners=False)``: the crop's border pixels
    extend to the edge); on 3x3 at scale (0.8, 1) it is the identity about 84% of the time."""

    def __init__(self, scale: Sequence[float] = (0.8, 1.0), ratio: Sequence[float] = (3 / 4, 4 / 3)) -> None:
        self.scale, self.ratio = tuple(scale), tuple(ratio)

    def draw(self, weight: Tensor, generator: torch.Generator) -> Tensor:
        h, w = size = tuple(weight.shape[-2:])
        for _ in range(10):
            area = h * w * _uniform_scalar(generator, *self.scale)
            aspect = math.exp(_uniform_scalar(generator, math.log(self.ratio[0]), math.log(self.ratio[1])))
            cw, ch = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
            if 0 < cw <= w and 0 < ch <= h:
                top = int(torch.randint(0, h - ch + 1, (), generator=generator))
                left = int(torch.randint(0, w - cw + 1, (), generator=generator))
                return self.box_draw(size, top, left, ch, cw)
        return self.box_draw(size, 0, 0, h, w)

    @staticmethod
    def box_draw(size: tuple[int, int], top: int, left: int, height: int, width: int) -> Tensor:
        """The grid that crops rows ``top .. top+height-1`` and columns ``left .. left+width-1`` and resizes them
        to ``size``: output pixel i reads crop coordinate (i + 0.5) * height / h - 0.5, clamped into the crop."""

        if (top, left, height, width) == (0, 0, *size):  # the whole kernel: the identity, exactly
            return affine_draw([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0], size)

        def axis(n: int, start: int, length: int) -> Tensor:
            inside = ((torch.arange(n) + 0.5) * length / n - 0.5).clamp(0, length - 1)
            return (2 * (start + inside) + 1) / n - 1  # pixel coordinate -> grid_sample's [-1, 1]

        ys, xs = axis(size[0], top, height), axis(size[1], left, width)
        return torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).unsqueeze(0).float()


class KernelFlip(KernelAffine):
    """Mirror kernels horizontally (``axis`` -1) or vertically (-2) with probability ``p`` per draw."""

    mode = "nearest"

    def __init__(self, p: float = 0.5, axis: int = -1) -> None:
        if axis not in (-1, -2):
            raise ValueError(f"axis must be -1 (horizontal) or -2 (vertical), got {axis}")
        self.p, self.axis = p, axis

    def affine(self, size, generator):
        flip = -1.0 if torch.rand((), generator=generator).item() < self.p else 1.0
        return ([[flip, 0.0], [0.0, 1.0]] if self.axis == -1 else [[1.0, 0.0], [0.0, flip]]), [0.0, 0.0]


class OneOfTransforms(WeightTransform):
    """One of ``transforms`` per draw (the paper's code picks translate or resized crop at random)."""

    def __init__(self, transforms: Sequence[WeightTransform]) -> None:
        if not transforms:
            raise ValueError("OneOfTransforms needs at least one transform")
        self.transforms = list(transforms)
        self.kernels_only = any(t.kernels_only for t in self.transforms)

    def check(self, name: str, shape: torch.Size) -> None:
        for t in self.transforms:
            t.check(name, shape)

    def draw(self, weight: Tensor, generator: torch.Generator) -> Draw:
        k = int(torch.randint(len(self.transforms), (), generator=generator))
        inner = self.transforms[k].draw(weight, generator)
        return (torch.tensor(k), inner) if self.resamples else (k, inner)

    @property
    def resamples(self) -> bool:
        """Whether every choice resamples kernels on a grid: then the choice is a tensor and ``apply`` samples
        the grid every way and keeps the chosen one (tiny kernels; one graph under torch.compile whatever is
        drawn, where a Python index would compile a graph per combination of choices)."""
        return all(isinstance(t, KernelResample) for t in self.transforms)

    def apply(self, weight: Tensor, draw: Draw) -> Tensor:
        k, inner = draw
        if isinstance(k, Tensor):
            k, out = k.to(weight.device), self.transforms[0].apply(weight, inner)
            for j, t in enumerate(self.transforms[1:], start=1):
                out = torch.where(k == j, t.apply(weight, inner), out)
            return out
        return self.transforms[k].apply(weight, inner)


def _noise(weight: Tensor, generator: torch.Generator) -> Tensor:
    return rng.randn(weight.shape, generator, weight.device).to(weight.dtype)


class WeightNoise(WeightTransform):
    """Baseline: W + N(0, (rel_std * std(W))^2), fresh noise each draw."""

    def __init__(self, rel_std: float = 0.05) -> None:
        self.rel_std = rel_std

    def draw(self, weight: Tensor, generator: torch.Generator) -> Tensor:
        return self.rel_std * weight.detach().std() * _noise(weight, generator)

    def apply(self, weight: Tensor, draw: Tensor) -> Tensor:
        return weight + draw


class RandomPerturbation(WeightTransform):
    """Baseline (random weight perturbation): filter-wise noise N(0, (sigma * ||w_f|| / sqrt(n_f))^2)."""

    def __init__(self, sigma: float = 0.05) -> None:
        self.sigma = sigma

    def draw(self, weight: Tensor, generator: torch.Generator) -> Tensor:
        w = weight.detach()
        flat = w.reshape(len(w), -1) if w.dim() > 1 else w.reshape(1, -1)
        scale = flat.norm(dim=1, keepdim=True) / math.sqrt(flat.shape[1])
        return (self.sigma * scale * _noise(flat, generator)).view_as(w)

    def apply(self, weight: Tensor, draw: Tensor) -> Tensor:
        return weight + draw


class DropConnect(WeightTransform):
    """Baseline: zero each weight with probability ``p``, scale the rest by 1 / (1 - p)."""

    def __init__(self, p: float = 0.1) -> None:
        if not 0 <= p < 1:
            raise ValueError(f"DropConnect p must be in [0, 1), got {p}")
        self.p = p

    def draw(self, weight: Tensor, generator: torch.Generator) -> Tensor:
        keep = rng.rand(weight.shape, generator, weight.device) >= self.p
        return keep.to(weight.dtype) / (1 - self.p)

    def apply(self, weight: Tensor, draw: Tensor) -> Tensor:
        return weight * draw


def paper_transform(fraction: float = 0.3, scale: Sequence[float] = (0.8, 1.0)) -> OneOfTransforms:
    """The public WAS code's choice: a whole-pixel translation or a resized crop, at random each draw."""
    return OneOfTransforms([KernelTranslate(fraction), KernelResizedCrop(scale)])


TRANSFORMS = {
    "identity": Identity,
    "translate": KernelTranslate,
    "translate_subpixel": partial(KernelTranslate, subpixel=True),
    "rotate": KernelRotate,
    "crop": KernelResizedCrop,
    "flip": KernelFlip,
    "paper": paper_transform,
    "noise": WeightNoise,
    "perturb": RandomPerturbation,
    "dropconnect": DropConnect,
}

UnknownTransformError = RegistryError  # a transform name or parameter that does not exist


def build_transform(name: str | WeightTransform) -> WeightTransform:
    """A transform by name, with parameters as ``name:key=value`` (``translate:fraction=0.2``, ``crop``,
    ``paper`` = translate or crop at random, ``noise:rel_std=0.1``, ...), or as given."""
    if isinstance(name, WeightTransform):
        return name
    base, kwargs = parse(name, TRANSFORMS, "weight transform", example=" (e.g. translate:fraction=0.2)")
    return TRANSFORMS[base](**kwargs)
