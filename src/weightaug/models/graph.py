"""The neural-graph view: neurons as nodes, weights as edges, and a relational transformer over them.

Nodes carry their bias, an embedding of their layer, and for input and output neurons (which are never
permuted) an embedding of their index; hidden neurons get no index, so the model is equivariant to their
permutations and its mean-pooled readout invariant. Edge features exist only where a weight connects two
neurons, kept block by block as ``(B, n_{l+1}, n_l, d_edge)`` (a quarter of the dense ``N x N`` for a
2-32-32-1 network). Every node attends to every node; an edge adds a per-head bias to the logit of its two end
nodes and its attention-weighted features to their messages, with separate projections for the forward
(a neuron reading its inputs) and backward (reading its outputs) direction. Edges are updated from their ends.

Edges enter attention without a LayerNorm: the first edge features are an affine map of one scalar weight, and
normalising them over the feature axis keeps little more than the weight's sign (the model then barely sees its
weights: swapping them between networks moved the embedding by 1%, against 8% for the biases). The readout pools
the nodes and each layer's edges, so the weights also reach the head directly.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from weightaug.models.base import WeightSpaceModel, mlp
from weightaug.weights import NetworkSpec, WeightBatch


class RelationalLayer(nn.Module):
    """One relational-transformer block on nodes (B, N, d_node) and a list of edge blocks."""

    def __init__(self, d_node: int, d_edge: int, heads: int, widths: list[int]) -> None:
        super().__init__()
        if d_node % heads:
            raise ValueError(f"d_node ({d_node}) must be divisible by heads ({heads})")
        self.heads, self.dh, self.widths = heads, d_node // heads, widths
        self.norm_node = nn.LayerNorm(d_node)
        self.qkv = nn.Linear(d_node, 3 * d_node)
        self.edge_bias = nn.Linear(d_edge, 2 * heads)  # forward and backward direction
        self.edge_value = nn.Linear(2 * d_edge, d_node)
        self.out = nn.Linear(d_node, d_node)
        self.ffn = nn.Sequential(nn.LayerNorm(d_node), mlp([d_node, 2 * d_node, d_node]))
        self.to_src, self.to_dst = nn.Linear(d_node, d_edge), nn.Linear(d_node, d_edge)
        self.edge_ffn = nn.Sequential(nn.LayerNorm(d_edge), mlp([d_edge, 2 * d_edge, d_edge]))

    def forward(self, h: Tensor, edges: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        batch, n, _ = h.shape
        q, k, v = self.qkv(self.norm_node(h)).view(batch, n, 3, self.heads, self.dh).unbind(2)  # (B, N, H, dh)
        fwd, bwd = zip(*(self.edge_bias(e).permute(0, 3, 1, 2).chunk(2, dim=1) for e in edges))
        attn = (torch.einsum("bihd,bjhd->bhij", q, k) / self.dh**0.5 + self.blockwise(fwd, bwd)).softmax(dim=-1)
        msg = torch.einsum("bhij,bjhd->bihd", attn, v)
        blocks = [row.split(self.widths, dim=3) for row in attn.split(self.widths, dim=2)]  # [dst][src]
        nothing = [h.new_zeros(()).expand(batch, w, self.heads, edges[0].shape[-1]) for w in self.widths]
        incoming = [nothing[0]] + [  # each neuron's attention-weighted input edges, per head
            torch.einsum("bhij,bijc->bihc", blocks[i + 1][i], e) for i, e in enumerate(edges)
        ]
        outgoing = [  # and its attention-weighted output edges
            torch.einsum("bhji,bijc->bjhc", blocks[i][i + 1], e) for i, e in enumerate(edges)
        ] + [nothing[-1]]
        edge_msg = torch.cat([torch.cat(incoming, dim=1), torch.cat(outgoing, dim=1)], dim=-1)
        w_ev = self.edge_value.weight.view(self.heads, self.dh, -1)
        msg = msg + torch.einsum("bihc,hdc->bihd", edge_msg, w_ev) + self.edge_value.bias.view(self.heads, self.dh)
        h = h + self.out(msg.reshape(batch, n, -1))
        h = h + self.ffn(h)
        to_src, to_dst = self.to_src(h).split(self.widths, dim=1), self.to_dst(h).split(self.widths, dim=1)
        edges = [e + to_dst[i + 1].unsqueeze(2) + to_src[i].unsqueeze(1) for i, e in enumerate(edges)]
        return h, [e + self.edge_ffn(e) for e in edges]

    def blockwise(self, below: list[Tensor], above: list[Tensor]) -> Tensor:
        """(B, H, N, N) attention bias: block (layer l+1, layer l) is ``below[l]``, (l, l+1) is ``above[l]``
        transposed (both given as (B, H, n_{l+1}, n_l)), zero elsewhere."""
        rows = []
        for r, n_r in enumerate(self.widths):
            parts = []
            for s, n_s in enumerate(self.widths):
                if s == r - 1:
                    parts.append(below[s])
                elif s == r + 1:
                    parts.append(above[r].transpose(2, 3))
                else:
                    parts.append(below[0].new_zeros(()).expand(*below[0].shape[:2], n_r, n_s))
            rows.append(torch.cat(parts, dim=-1))
        return torch.cat(rows, dim=-2)


class NeuralGraph(WeightSpaceModel):
    """Relational transformer on the neural graph of each INR (see the module docstring)."""

    description = "neural graph: neurons as nodes, weights as edges, relational transformer (invariant)"
    symmetries = ("permutation",)

    def __init__(
        self,
        spec: NetworkSpec,
        n_classes: int = 10,
        d_node: int = 64,
        d_edge: int = 32,
        n_layers: int = 4,
        heads: int = 8,
        embed_dim: int = 128,
    ) -> None:
        super().__init__(spec, n_classes, embed_dim)
        widths = spec.widths
        self.n_nodes = sum(widths)
        layer_of = torch.repeat_interleave(torch.arange(len(widths)), torch.tensor(widths))
        io_index = torch.full((self.n_nodes,), -1, dtype=torch.long)
        io_index[: widths[0]] = torch.arange(widths[0])
        io_index[-widths[-1] :] = widths[0] + torch.arange(widths[-1])
        self.register_buffer("layer_of", layer_of, persistent=False)
        self.register_buffer("io_index", io_index, persistent=False)
        self.bias_in = nn.Linear(1, d_node)
        self.layer_embedding = nn.Embedding(len(widths), d_node)
        self.io_embedding = nn.Embedding(widths[0] + widths[-1], d_node)
        self.edge_in = nn.Linear(1, d_edge)
        self.layers = nn.ModuleList(RelationalLayer(d_node, d_edge, heads, list(widths)) for _ in range(n_layers))
        pooled = d_node + (len(widths) - 1) * d_edge
        self.readout = nn.Sequential(nn.LayerNorm(pooled), mlp([pooled, embed_dim, embed_dim], final_activation=True))

    def graph(self, batch: WeightBatch) -> tuple[Tensor, list[Tensor]]:
        """Node features (B, N, d_node) and the edge blocks (B, n_{l+1}, n_l, d_edge) of each network."""
        bias = torch.cat([batch.weights[0].new_zeros(len(batch), self.spec.in_dim), *batch.biases], dim=1)
        nodes = self.bias_in(bias.unsqueeze(-1)) + self.layer_embedding(self.layer_of)
        io = self.io_index >= 0
        nodes[:, io] = nodes[:, io] + self.io_embedding(self.io_index[io])
        return nodes, [self.edge_in(w.unsqueeze(-1)) for w in batch.weights]

    def features(self, batch: WeightBatch) -> Tensor:
        h, edges = self.graph(batch)
        for layer in self.layers:
            h, edges = layer(h, edges)
        return self.readout(torch.cat([h.mean(dim=1), *(e.mean(dim=(1, 2)) for e in edges)], dim=1))
