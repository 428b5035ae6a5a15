"""DWSNet: deep-weight-space network, equivariant to hidden-neuron permutations, with an invariant head."""

from __future__ import annotations

from weightaug.models.equivariant import EquivariantStack
from weightaug.weights import NetworkSpec


class DWSNet(EquivariantStack):
    """Deep weight-space network: full equivariant basis between all weight and bias blocks, set pooling."""

    description = "DWSNet: equivariant layers between all weight/bias blocks, max reduction, set-attention pooling"

    def __init__(
        self,
        spec: NetworkSpec,
        n_classes: int = 10,
        hidden: int = 16,
        n_layers: int = 2,
        reduction: str = "max",
        pool: str = "attention",
        embed_dim: int = 128,
    ) -> None:
        super().__init__(spec, n_classes, hidden, n_layers, reduction, pool, embed_dim)
