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
        set_heads: int = 0,
    ) -> None:
        super().__init__(spec, n_classes, hidden, n_layers, reduction, pool, embed_dim, set_heads=set_heads)


class OfficialDWSNet(DWSNet):
    """DWSNet as the official code builds it at hidden 16, ``n_hidden=2``: three equivariant layers whose
    one-axis terms are 8-head set-attention blocks (one head in the last), max pooling and a linear classifier.

    One set-attention block per (target block, kept axis) over all its sources' features, where the official
    code has one per (source, target) pair: the same layers, widths and heads, batched as the linear basis is.
    """

    description = "DWSNet at the official configuration: 3 layers with 8-head set attention, max pool, linear head"

    def __init__(
        self,
        spec: NetworkSpec,
        n_classes: int = 10,
        hidden: int = 16,
        n_layers: int = 3,
        reduction: str = "max",
        pool: str = "max",
        embed_dim: int = 0,
        set_heads: int = 8,
    ) -> None:
        super().__init__(spec, n_classes, hidden, n_layers, reduction, pool, embed_dim, set_heads)
