"""A transformer with one token per neuron (its incoming weights and bias) and a CLS token."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from weightaug.models.base import WeightSpaceModel
from weightaug.weights import NetworkSpec, WeightBatch


class WeightTransformer(WeightSpaceModel):
    """Tokens: each non-input neuron's incoming weights and bias, embedded per layer, plus a layer embedding
    and, for output neurons, an index embedding. A token's content is ordered by the previous layer's
    neurons, so the model is not invariant to permutations (augmentations teach it)."""

    description = "transformer over per-neuron tokens (incoming weights + bias) with a CLS token (not invariant)"

    def __init__(
        self,
        spec: NetworkSpec,
        n_classes: int = 10,
        d_model: int = 128,
        n_layers: int = 4,
        heads: int = 4,
        embed_dim: int = 128,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(spec, n_classes, embed_dim)
        self.tokenize = nn.ModuleList(nn.Linear(n_in + 1, d_model) for _, n_in in spec.weight_shapes)
        self.layer_embedding = nn.Parameter(torch.randn(spec.n_layers, d_model) * 0.02)
        self.output_embedding = nn.Parameter(torch.randn(spec.out_dim, d_model) * 0.02)
        self.cls = nn.Parameter(torch.randn(1, 1, d_model) * 0.02)
        block = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(block, n_layers, enable_nested_tensor=False)
        self.readout = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, embed_dim), nn.ReLU())

    def features(self, batch: WeightBatch) -> Tensor:
        tokens = [
            embed(torch.cat([w, b.unsqueeze(-1)], dim=-1)) + self.layer_embedding[layer]
            for layer, (embed, w, b) in enumerate(zip(self.tokenize, batch.weights, batch.biases))
        ]
        tokens[-1] = tokens[-1] + self.output_embedding
        x = torch.cat([self.cls.expand(len(batch), 1, -1), *tokens], dim=1)
        return self.readout(self.encoder(x)[:, 0])
