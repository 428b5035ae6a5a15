"""Input normalisation for weight-space models: statistics of the training split, stored as buffers."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from weightaug.weights import NetworkSpec, SpecMismatchError, WeightBatch

NORMALISERS = {
    "position": "a mean and std per parameter position (the peers'; not invariant to neuron permutations)",
    "layer": "a mean and std per weight matrix and bias vector (keeps every symmetry exact)",
}


class WeightNormalizer(nn.Module):
    """``(w - mean) / std`` per parameter position (``per="position"``, as the peers) or per tensor
    (``per="layer"``: one mean/std per weight matrix and bias vector, which keeps every symmetry exact)."""

    def __init__(self, spec: NetworkSpec, mean: Tensor | None = None, std: Tensor | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.register_buffer("mean", torch.zeros(spec.n_params) if mean is None else mean.float())
        self.register_buffer("std", torch.ones(spec.n_params) if std is None else std.float())

    @classmethod
    def fit(cls, weights: WeightBatch, per: str = "position", eps: float = 1e-6) -> WeightNormalizer:
        """Statistics of ``weights`` (the training split, before augmentation)."""
        if per not in NORMALISERS:
            raise ValueError(f"per must be one of {', '.join(NORMALISERS)}, got {per!r}")
        if len(weights) < 2:
            raise ValueError(f"normalisation needs at least 2 networks to estimate a std, got {len(weights)}")
        flat = weights.flatten().double()
        if per == "position":
            mean, std = flat.mean(0), flat.std(0)
        else:
            parts = [t.double().flatten(1) for t in weights.tensors()]
            mean = torch.cat([p.mean().expand(p.shape[1]) for p in parts])
            std = torch.cat([p.std().expand(p.shape[1]) for p in parts])
        return cls(weights.spec, mean, std.clamp_min(eps))

    def forward(self, weights: WeightBatch) -> WeightBatch:
        if weights.spec != self.spec:
            raise SpecMismatchError(f"normaliser fitted on spec {self.spec}, got a batch of spec {weights.spec}")
        return WeightBatch.from_flat(self.spec, (weights.flatten() - self.mean) / self.std)
