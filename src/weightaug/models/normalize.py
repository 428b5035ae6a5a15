"""Input normalisation for weight-space models: statistics of the training split, stored as buffers."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from weightaug.weights import NetworkSpec, SpecMismatchError, WeightBatch

NORMALISERS = {
    "neuron": "a mean and std per tensor, shared by the neurons of each hidden layer and kept per input "
    "coordinate and output (keeps every symmetry exact)",
    "position": "a mean and std per parameter position (the peers'; not invariant to neuron permutations)",
    "layer": "a mean and std per weight matrix and bias vector (keeps every symmetry exact)",
}


def _axes(spec: NetworkSpec, per: str, layer: int, bias: bool) -> list[int]:
    """The axes of layer ``layer``'s weight (B, n_out, n_in) or bias (B, n_out) one statistic is shared over."""
    n_axes = 2 if bias else 3
    if per == "position":
        return [0]
    if per == "layer":
        return list(range(n_axes))
    rows = [1] if layer < spec.n_layers - 1 else []  # hidden neurons of the layer's outputs
    cols = [2] if layer > 0 and not bias else []  # hidden neurons of its inputs
    return [0, *rows, *cols]


class WeightNormalizer(nn.Module):
    """``(w - mean) / std`` with statistics pooled as ``per`` says (see :data:`NORMALISERS`).

    ``per="neuron"`` pools over the batch and every axis a neuron permutation moves, so it commutes with those
    permutations; with ``signs=True`` the mean is zero on every entry a SIREN sign flip negates (all but the
    output bias) and the std is the root mean square, so it commutes with sign flips too.
    """

    def __init__(self, spec: NetworkSpec, mean: Tensor | None = None, std: Tensor | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.register_buffer("mean", torch.zeros(spec.n_params) if mean is None else mean.float())
        self.register_buffer("std", torch.ones(spec.n_params) if std is None else std.float())

    @classmethod
    def fit(cls, weights: WeightBatch, per: str = "neuron", signs: bool = False, eps: float = 1e-6) -> WeightNormalizer:
        """Statistics of ``weights`` (the training split, before augmentation)."""
        if per not in NORMALISERS:
            raise ValueError(f"the normaliser must be one of {', '.join(NORMALISERS)}, got {per!r}")
        if len(weights) < 2:
            raise ValueError(f"normalisation needs at least 2 networks to estimate a std, got {len(weights)}")
        spec, means, stds = weights.spec, [], []
        last = spec.n_layers - 1
        for k, t in enumerate(weights.tensors()):
            layer, bias = divmod(k, 2)
            t = t.double()
            axes = _axes(spec, per, layer, bool(bias))
            if signs and not (bias and layer == last):  # negated by a sign flip: no mean, std about zero
                mean = torch.zeros_like(t[:1])
                std = t.square().mean(axes, keepdim=True).sqrt()
            else:
                mean, std = t.mean(axes, keepdim=True), t.std(axes, keepdim=True)
            means.append(mean.expand_as(t[:1]).flatten())
            stds.append(std.expand_as(t[:1]).flatten())
        return cls(spec, torch.cat(means), torch.cat(stds).clamp_min(eps))

    def forward(self, weights: WeightBatch) -> WeightBatch:
        if weights.spec != self.spec:
            raise SpecMismatchError(f"normaliser fitted on spec {self.spec}, got a batch of spec {weights.spec}")
        return WeightBatch.from_flat(self.spec, (weights.flatten() - self.mean) / self.std)
