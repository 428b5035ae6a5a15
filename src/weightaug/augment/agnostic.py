"""Data-agnostic augmentations: they change the weights (and the function) a little, or only the labels."""

from __future__ import annotations

import torch
from torch import Tensor

from weightaug import rng
from weightaug.augment.base import Augmentation, Sample
from weightaug.weights import NetworkSpec, WeightBatch


class GaussianNoise(Augmentation):
    """Add N(0, (rel_std * std)^2) to every weight and bias, std taken per network and per tensor.

    Preserves nothing exactly; with the default 0.32 the INR stays close to its object.
    """

    def __init__(self, rel_std: float = 0.32, p: float = 1.0, spec: NetworkSpec | None = None) -> None:
        self.rel_std = rel_std
        super().__init__(p, spec)

    def draw(self, weights: WeightBatch, generator: torch.Generator | None) -> WeightBatch:
        """Standard normal noise of the weights' shapes."""
        return weights.map(lambda t: rng.randn(t.shape, generator, t.device, t.dtype))

    def apply(self, weights: WeightBatch, targets: Tensor | None, params: WeightBatch) -> Sample:
        def noisy(t: Tensor, noise: Tensor) -> Tensor:
            std = t.flatten(1).std(dim=1, correction=0).view(-1, *[1] * (t.dim() - 1))
            return t + self.rel_std * std * noise

        return weights.zip_map(params, noisy), targets


class Dropout(Augmentation):
    """Zero each weight and bias with probability ``rate`` (no rescaling: a SIREN's frequencies stay put)."""

    def __init__(self, rate: float = 0.1, p: float = 1.0, spec: NetworkSpec | None = None) -> None:
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout rate must be in [0, 1), got {rate}")
        self.rate = rate
        super().__init__(p, spec)

    def draw(self, weights: WeightBatch, generator: torch.Generator | None) -> WeightBatch:
        """The keep masks (True where a parameter stays)."""
        return weights.map(lambda t: rng.rand(t.shape, generator, t.device) >= self.rate)

    def apply(self, weights: WeightBatch, targets: Tensor | None, params: WeightBatch) -> Sample:
        return weights.zip_map(params, lambda t, keep: t * keep), targets


class QuantileMask(Augmentation):
    """Zero every parameter whose magnitude is below the network's q-quantile, q ~ U(0, max_quantile)."""

    def __init__(self, max_quantile: float = 0.1, p: float = 1.0, spec: NetworkSpec | None = None) -> None:
        if not 0.0 <= max_quantile < 1.0:
            raise ValueError(f"QuantileMask max_quantile must be in [0, 1), got {max_quantile}")
        self.max_quantile = max_quantile
        super().__init__(p, spec)

    def draw(self, weights: WeightBatch, generator: torch.Generator | None) -> Tensor:
        """``(B,)`` quantiles q ~ U(0, max_quantile)."""
        return rng.rand((len(weights),), generator, weights.device) * self.max_quantile

    def apply(self, weights: WeightBatch, targets: Tensor | None, params: Tensor) -> Sample:
        flat, q = weights.flatten(), params
        rank = (q * flat.shape[1]).long().unsqueeze(1)  # how many of the smallest magnitudes to zero
        magnitude = flat.abs()
        threshold = magnitude.sort(dim=1).values.gather(1, rank)  # the rank-th smallest magnitude is kept
        return WeightBatch.from_flat(weights.spec, flat * (magnitude >= threshold)), targets


class LabelSmoothing(Augmentation):
    """Soft targets ``(1 - eps) y + eps / K``; the weights are untouched."""

    def __init__(self, eps: float = 0.1, p: float = 1.0, spec: NetworkSpec | None = None) -> None:
        if not 0.0 <= eps <= 1.0:
            raise ValueError(f"LabelSmoothing eps must be in [0, 1], got {eps}")
        self.eps = eps
        super().__init__(p, spec)

    def apply(self, weights: WeightBatch, targets: Tensor | None, params: None) -> Sample:
        if targets is None:
            raise ValueError("LabelSmoothing needs class targets; it has no meaning without labels")
        return weights, targets * (1.0 - self.eps) + self.eps / targets.shape[1]
