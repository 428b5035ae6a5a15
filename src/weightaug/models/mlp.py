"""The baseline: an MLP on the flattened weights (not invariant to anything)."""

from __future__ import annotations

from torch import Tensor

from weightaug.models.base import WeightSpaceModel, mlp
from weightaug.weights import NetworkSpec, WeightBatch


class FlatMLP(WeightSpaceModel):
    """MLP on the flattened weights and biases: sees every permutation as a different input."""

    description = "MLP on the flattened weights (baseline, not invariant)"

    def __init__(
        self, spec: NetworkSpec, n_classes: int = 10, hidden: int = 512, n_layers: int = 3, embed_dim: int = 256
    ) -> None:
        super().__init__(spec, n_classes, embed_dim)
        self.net = mlp([spec.n_params] + [hidden] * (n_layers - 1) + [embed_dim], final_activation=True)

    def features(self, batch: WeightBatch) -> Tensor:
        return self.net(batch.flatten())
