"""The neural-graph view: neurons as nodes, weights as edges, and a relational transformer over them.

Nodes carry their bias, an embedding of their layer, and for input and output neurons (which are never
permuted) an embedding of their index; hidden neurons get no index, so the model is equivariant to their
permutations and its mean-pooled readout invariant. Edges are dense ``(B, N, N, d_edge)``: the weight of the
connection in either direction plus its direction. Attention logits get a per-head bias from the edge, messages
carry the attention-weighted edges, and edges are updated from their two end nodes.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from weightaug.models.base import WeightSpaceModel, mlp
from weightaug.weights import NetworkSpec, WeightBatch


class RelationalLayer(nn.Module):
    """One relational-transformer block on nodes (B, N, d_node) and edges (B, N, N, d_edge)."""

    def __init__(self, d_node: int, d_edge: int, heads: int) -> None:
        super().__init__()
        if d_node % heads:
            raise ValueError(f"d_node ({d_node}) must be divisible by heads ({heads})")
        self.heads, self.dh = heads, d_node // heads
        self.norm_node, self.norm_edge = nn.LayerNorm(d_node), nn.LayerNorm(d_edge)
        self.qkv = nn.Linear(d_node, 3 * d_node)
        self.edge_bias = nn.Linear(d_edge, heads)
        self.edge_value = nn.Linear(d_edge, d_node)
        self.out = nn.Linear(d_node, d_node)
        self.ffn = nn.Sequential(nn.LayerNorm(d_node), mlp([d_node, 2 * d_node, d_node]))
        self.to_src, self.to_dst = nn.Linear(d_node, d_edge), nn.Linear(d_node, d_edge)
        self.edge_ffn = nn.Sequential(nn.LayerNorm(d_edge), mlp([d_edge, 2 * d_edge, d_edge]))

    def forward(self, h: Tensor, e: Tensor) -> tuple[Tensor, Tensor]:
        batch, n, _ = h.shape
        q, k, v = self.qkv(self.norm_node(h)).view(batch, n, 3, self.heads, self.dh).unbind(2)  # (B, N, H, dh)
        en = self.norm_edge(e)
        logits = torch.einsum("bihd,bjhd->bhij", q, k) / self.dh**0.5 + self.edge_bias(en).permute(0, 3, 1, 2)
        attn = logits.softmax(dim=-1)  # (B, H, N, N)
        msg = torch.einsum("bhij,bjhd->bihd", attn, v)
        edge_msg = torch.einsum("bhij,bijc->bihc", attn, en)  # attention-weighted edges, then per-head values
        w_ev = self.edge_value.weight.view(self.heads, self.dh, -1)
        msg = msg + torch.einsum("bihc,hdc->bihd", edge_msg, w_ev) + self.edge_value.bias.view(self.heads, self.dh)
        h = h + self.out(msg.reshape(batch, n, -1))
        h = h + self.ffn(h)
        e = e + self.to_dst(h).unsqueeze(2) + self.to_src(h).unsqueeze(1)
        return h, e + self.edge_ffn(e)


class NeuralGraph(WeightSpaceModel):
    """Relational transformer on the neural graph of each INR (see the module docstring)."""

    description = "neural graph: neurons as nodes, weights as edges, relational transformer (invariant)"
    invariant = True

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
        self.offsets = torch.tensor([0, *widths]).cumsum(0)[:-1].tolist()  # first node of each neuron layer
        layer_of = torch.repeat_interleave(torch.arange(len(widths)), torch.tensor(widths))
        io_index = torch.full((self.n_nodes,), -1, dtype=torch.long)
        io_index[: widths[0]] = torch.arange(widths[0])
        io_index[-widths[-1] :] = widths[0] + torch.arange(widths[-1])
        self.register_buffer("layer_of", layer_of, persistent=False)
        self.register_buffer("io_index", io_index, persistent=False)
        mask = torch.zeros(self.n_nodes, self.n_nodes)  # mask[dst, src] = 1 where a weight connects them
        for layer in range(len(widths) - 1):
            src, dst = self.offsets[layer], self.offsets[layer + 1]
            mask[dst : dst + widths[layer + 1], src : src + widths[layer]] = 1.0
        self.register_buffer("mask", mask, persistent=False)
        self.bias_in = nn.Linear(1, d_node)
        self.layer_embedding = nn.Embedding(len(widths), d_node)
        self.io_embedding = nn.Embedding(widths[0] + widths[-1], d_node)
        self.edge_in = nn.Linear(4, d_edge)
        self.layers = nn.ModuleList(RelationalLayer(d_node, d_edge, heads) for _ in range(n_layers))
        self.readout = nn.Sequential(nn.LayerNorm(d_node), mlp([d_node, embed_dim, embed_dim], final_activation=True))

    def graph(self, batch: WeightBatch) -> tuple[Tensor, Tensor]:
        """Node features (B, N, d_node) and edge features (B, N, N, d_edge) of each network."""
        n, widths = self.n_nodes, self.spec.widths
        adj = batch.weights[0].new_zeros(len(batch), n, n)  # adj[b, dst, src] = weight
        bias = batch.weights[0].new_zeros(len(batch), n)
        for layer, (w, b) in enumerate(zip(batch.weights, batch.biases)):
            src, dst = self.offsets[layer], self.offsets[layer + 1]
            adj[:, dst : dst + widths[layer + 1], src : src + widths[layer]] = w
            bias[:, dst : dst + widths[layer + 1]] = b
        edges = torch.stack([adj, adj.transpose(1, 2), *(m.expand_as(adj) for m in (self.mask, self.mask.t()))], -1)
        nodes = self.bias_in(bias.unsqueeze(-1)) + self.layer_embedding(self.layer_of)
        io = self.io_index >= 0
        nodes[:, io] = nodes[:, io] + self.io_embedding(self.io_index[io])
        return nodes, self.edge_in(edges)

    def features(self, batch: WeightBatch) -> Tensor:
        h, e = self.graph(batch)
        for layer in self.layers:
            h, e = layer(h, e)
        return self.readout(h.mean(dim=1))
