"""A graph metanetwork invariant to hidden-neuron permutations and SIREN sign flips by construction.

A sine network keeps its function when a hidden neuron's incoming row, bias and outgoing column all change sign
(``sin`` is odd). DWSNet, NFN and the relational graph model respect only the permutations, so they must learn
the sign symmetry from data, and the augmentations that show it (SIREN negation, sign-aware aligned MixUp) are
the ones that help them most. This model respects it, in the way ScaleGMN (Kalogeropoulos et al., 2024) builds
scale-equivariant message passing, specialised to signs:

- every neuron is a node with ``d`` channels. A hidden neuron's features change sign with the neuron (they
  start as its bias times a learned vector); input and output neurons are never flipped or permuted and carry
  an embedding of their index;
- a weight ``W[j, i]`` changes sign with ``s_j s_i``, so a message ``phi(W[j, i]) h_i`` reaches neuron ``j``
  with sign ``s_j`` when ``phi`` is odd: ``k`` edge channels ``tanh(a_k w)`` at learned scales ``a_k`` (an
  elementwise map: a small MLP of ``w^2`` times ``w`` was as odd but took a third of the step). Messages run forward (from a neuron's inputs) and backward (from its outputs), summed over
  neurons (so permutations only reorder the sum) and scaled by one over the root of the fan;
- the update is sign-equivariant: linear maps without bias, an RMS norm (no centring), and the gate
  ``x sigmoid(g(x^2))``, an odd function of ``x`` that is as free as a ReLU in its magnitude;
- the readout uses invariants only: ``|h|`` of hidden neurons averaged per layer, and the input and output
  neurons' features (whose sign never changed).

With the normaliser's statistics sign-aware too (mean zero where flips act, :mod:`weightaug.models.normalize`),
the whole model is exactly invariant. Canonicalising the biases' phase (:mod:`weightaug.inr.canonical`) handles
the third symmetry, ``b += pi / w0``, which is a sign flip of the outgoing column alone.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from weightaug.models.base import WeightSpaceModel, mlp
from weightaug.weights import NetworkSpec, SpecMismatchError, WeightBatch


class SignGate(nn.Module):
    """``x * sigmoid(g(x^2))`` after an RMS norm over channels: odd in ``x``, so it commutes with sign flips."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(d))
        self.gate = nn.Linear(d, d)

    def forward(self, x: Tensor) -> Tensor:
        x = x * torch.rsqrt(x.square().mean(-1, keepdim=True) + 1e-6) * self.scale
        return x * torch.sigmoid(self.gate(x.square()))


class SignMessagePassing(nn.Module):
    """One round: every neuron reads its inputs and outputs through odd edge functions, then a gated update."""

    def __init__(self, d: int, edge_channels: int) -> None:
        super().__init__()
        self.k = edge_channels
        # odd edge functions tanh(a w) at learned scales a (the mixes below set their gains), each direction
        self.log_scale = nn.Parameter(torch.linspace(-1.5, 1.5, 2 * edge_channels))
        self.forward_mix = nn.Linear(edge_channels * d, d, bias=False)
        self.backward_mix = nn.Linear(edge_channels * d, d, bias=False)
        self.self_mix = nn.Linear(d, d, bias=False)
        self.update = nn.Linear(d, d, bias=False)
        self.gate = SignGate(d)

    def forward(self, nodes: list[Tensor], weights: tuple[Tensor, ...]) -> list[Tensor]:
        incoming = [torch.zeros_like(h) for h in nodes]
        for layer, w in enumerate(weights):  # w: (B, n_out, n_in) from node layer ``layer`` to ``layer + 1``
            fwd, bwd = torch.tanh(w.unsqueeze(-1) * self.log_scale.exp()).split(self.k, dim=-1)
            src, dst = nodes[layer], nodes[layer + 1]
            batch = w.shape[0]
            to_dst = torch.einsum("bjik,bid->bjkd", fwd, src).reshape(batch, w.shape[1], -1)
            to_src = torch.einsum("bjik,bjd->bikd", bwd, dst).reshape(batch, w.shape[2], -1)
            incoming[layer + 1] = incoming[layer + 1] + self.forward_mix(to_dst) / w.shape[2] ** 0.5
            incoming[layer] = incoming[layer] + self.backward_mix(to_src) / w.shape[1] ** 0.5
        return [h + self.gate(self.update(self.self_mix(h) + m)) for h, m in zip(nodes, incoming, strict=True)]


class SignGMN(WeightSpaceModel):
    """Sign-equivariant message passing on the neural graph, invariant readout (see the module docstring)."""

    description = "sign-aware graph metanetwork: odd edge functions, sign-equivariant nodes (invariant)"
    symmetries = ("permutation", "sign")

    def __init__(
        self,
        spec: NetworkSpec,
        n_classes: int = 10,
        d_node: int = 32,
        edge_channels: int = 4,
        n_layers: int = 3,
        embed_dim: int = 128,
    ) -> None:
        if spec.activation != "sine":
            raise SpecMismatchError(
                f"signgmn is invariant to sign flips, which are no symmetry of {spec.activation} networks; "
                "choose dwsnet, nfn or graph"
            )
        super().__init__(spec, n_classes, embed_dim)
        self.hidden_in = nn.Parameter(torch.randn(len(spec.hidden), d_node) / d_node**0.5)
        self.input_embedding = nn.Parameter(torch.randn(spec.in_dim, d_node) / d_node**0.5)
        self.output_embedding = nn.Parameter(torch.randn(spec.out_dim, d_node) / d_node**0.5)
        self.output_in = nn.Parameter(torch.randn(d_node) / d_node**0.5)
        self.rounds = nn.ModuleList(SignMessagePassing(d_node, edge_channels) for _ in range(n_layers))
        pooled = d_node * (len(spec.hidden) + spec.in_dim + spec.out_dim)
        self.readout = nn.Sequential(nn.LayerNorm(pooled), mlp([pooled, embed_dim, embed_dim], final_activation=True))

    def nodes(self, batch: WeightBatch) -> list[Tensor]:
        """Per neuron layer, input to output: (B, n_k, d_node) features."""
        b = batch.biases
        hidden = [b[k].unsqueeze(-1) * self.hidden_in[k] for k in range(len(self.spec.hidden))]
        inputs = self.input_embedding.expand(len(batch), -1, -1)
        outputs = self.output_embedding + b[-1].unsqueeze(-1) * self.output_in
        return [inputs, *hidden, outputs]

    def features(self, batch: WeightBatch) -> Tensor:
        nodes = self.nodes(batch)
        for round_ in self.rounds:
            nodes = round_(nodes, batch.weights)
        pooled = [nodes[0].flatten(1), *(h.abs().mean(1) for h in nodes[1:-1]), nodes[-1].flatten(1)]
        return self.readout(torch.cat(pooled, dim=1))
