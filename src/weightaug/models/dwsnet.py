"""DWSNet: deep-weight-space network, equivariant to hidden-neuron permutations, with an invariant head."""

from __future__ import annotations

import itertools

from torch import Tensor, nn

from weightaug.models.base import WeightSpaceModel, mlp
from weightaug.models.equivariant import EquivariantLinear, InvariantPool, IOEncoding, block_layout, to_blocks
from weightaug.weights import NetworkSpec, WeightBatch


class EquivariantStack(WeightSpaceModel):
    """Equivariant linear layers with ReLU between them, invariant pooling, then an MLP to the embedding."""

    invariant = True

    def __init__(
        self,
        spec: NetworkSpec,
        n_classes: int,
        hidden: int,
        n_layers: int,
        reduction: str,
        pool: str,
        embed_dim: int,
        permute_io: bool = False,
        heads: int = 1,
    ) -> None:
        super().__init__(spec, n_classes, embed_dim)
        self.permute_io = permute_io
        labels, folds = block_layout(spec, permute_io)
        channels = [list(folds)] + [[f * hidden for f in folds]] * n_layers
        self.layers = nn.ModuleList(
            EquivariantLinear(labels, c_in, c_out, reduction) for c_in, c_out in itertools.pairwise(channels)
        )
        self.io_encoding = IOEncoding(spec, labels, channels[1]) if permute_io else None
        self.pool = InvariantPool(labels, channels[-1], pool, heads)
        self.out = mlp([sum(channels[-1]), embed_dim, embed_dim], final_activation=True)

    def features(self, batch: WeightBatch) -> Tensor:
        blocks = to_blocks(batch, self.permute_io)
        for k, layer in enumerate(self.layers):
            blocks = layer(blocks)
            if k == 0 and self.io_encoding is not None:
                blocks = self.io_encoding(blocks)
            if k < len(self.layers) - 1:
                blocks = [b.relu() for b in blocks]
        return self.out(self.pool(blocks))


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
