"""Linear layers that commute with permutations of hidden neurons: the basis shared by DWSNet and NFN.

A weight space is cut into blocks, one per weight matrix and bias vector. Each block has axes labelled by
neuron layers (``W^l`` has rows of layer l+1 and columns of layer l; ``b^l`` has layer l+1) and channels.
Axes whose neurons are not permuted (the input and output neurons, unless ``permute_io``) are folded into
the channels, where any linear map along them is allowed. For a group that permutes each labelled axis
independently, every equivariant linear map from block S to block T is a sum over the labels K that T keeps:
reduce S over its other axes, mix channels, broadcast over T's other axes. Summing all sources that share a
pattern K into one channel mix gives one ``nn.Linear`` per (block, pattern): the full basis, batched, with no
loop over samples or neurons. Where K is one axis, the mix may instead be a set-attention block along that axis
(Set Transformer's SAB, as the official DWSNet uses in place of DeepSets layers): still equivariant, no longer
linear. :class:`EquivariantStack` is the model both DWSNet and NFN are made of.
"""

from __future__ import annotations

from itertools import combinations, pairwise

import torch
from torch import Tensor, nn
from torch.nn.functional import scaled_dot_product_attention

from weightaug.models.base import WeightSpaceModel, mlp
from weightaug.weights import NetworkSpec, WeightBatch


def block_layout(spec: NetworkSpec, permute_io: bool) -> tuple[list[tuple[int, ...]], list[int]]:
    """Per block (W^0, b^0, W^1, ...): its permuted axis labels (descending) and its folded channel factor."""
    last = spec.n_layers  # neuron layers are 0 (inputs) .. last (outputs)
    widths = spec.widths

    def permuted(k: int) -> bool:
        return permute_io or 0 < k < last

    labels, folds = [], []
    for layer in range(spec.n_layers):
        rows, cols = layer + 1, layer
        labels.append(tuple(k for k in (rows, cols) if permuted(k)))
        folds.append((1 if permuted(rows) else widths[rows]) * (1 if permuted(cols) else widths[cols]))
        labels.append((rows,) if permuted(rows) else ())
        folds.append(1 if permuted(rows) else widths[rows])
    return labels, folds


def to_blocks(weights: WeightBatch, permute_io: bool) -> list[Tensor]:
    """The blocks of a batch with one channel: shape (B, *permuted axes, fold)."""
    labels, _ = block_layout(weights.spec, permute_io)
    blocks = []
    for layer, (w, b) in enumerate(zip(weights.weights, weights.biases)):
        w_labels, b_labels = labels[2 * layer], labels[2 * layer + 1]
        rows = layer + 1
        if w_labels == (rows, layer):
            blocks.append(w.unsqueeze(-1))
        elif w_labels == (rows,):
            blocks.append(w)  # columns folded: (B, n_rows, n_cols)
        elif w_labels == (layer,):
            blocks.append(w.transpose(1, 2))  # rows folded: (B, n_cols, n_rows)
        else:
            blocks.append(w.flatten(1))
        blocks.append(b.unsqueeze(-1) if b_labels else b)
    return blocks


def reduce(x: Tensor, dims: list[int], how: str) -> Tensor:
    """Mean or max of x over ``dims``, consecutive axes.

    The max runs over the axes flattened into one, so its backward scatters to the argmax; ``amax``'s
    backward builds a float mask of all of x, and was half of DWSNet's training step on the CPU.
    """
    if not dims:
        return x
    if how == "max":
        return x.flatten(dims[0], dims[-1]).max(dim=dims[0]).values
    return x.mean(dim=dims)


class SetAttention(nn.Module):
    """A set-attention block along the items of ``(B, N, C_in)`` -> ``(B, N, C_out)``, equivariant to their order.

    Set Transformer's SAB without layer norm: ``O = Q + attention(Q, K, V)`` over ``heads`` heads (logits scaled
    by the full width, as the official DWSNet does), then ``O + relu(O W_o)``.
    """

    def __init__(self, in_channels: int, out_channels: int, heads: int) -> None:
        super().__init__()
        if out_channels % heads:
            raise ValueError(f"set attention: {out_channels} channels do not split into {heads} heads")
        self.heads = heads
        self.qkv = nn.Linear(in_channels, 3 * out_channels)
        self.out = nn.Linear(out_channels, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        (b, n, c), h = q.shape, self.heads
        q, k, v = (t.reshape(b, n, h, c // h).transpose(1, 2) for t in (q, k, v))
        o = q + scaled_dot_product_attention(q, k, v, scale=c**-0.5)
        o = o.transpose(1, 2).reshape(b, n, c)
        return o + self.out(o).relu()


class EquivariantLinear(nn.Module):
    """All equivariant linear maps between the blocks (see the module docstring); ``reduction`` mean or max.

    With ``set_heads`` the one-axis terms are set-attention blocks of that many heads instead of linear maps.
    """

    def __init__(
        self,
        labels: list[tuple[int, ...]],
        in_channels: list[int],
        out_channels: list[int],
        reduction: str = "mean",
        set_heads: int = 0,
    ) -> None:
        super().__init__()
        if reduction not in ("mean", "max"):
            raise ValueError(f"reduction must be 'mean' or 'max', got {reduction!r}")
        self.labels, self.reduction = labels, reduction
        self.terms: list[list[tuple[tuple[int, ...], list[int]]]] = []
        self.mix = nn.ModuleList()
        for target, t_labels in enumerate(labels):
            patterns = [k for r in range(len(t_labels) + 1) for k in combinations(t_labels, r)]
            terms, mixes = [], nn.ModuleList()
            for keep in patterns:
                sources = [s for s, s_labels in enumerate(labels) if set(keep) <= set(s_labels)]
                terms.append((keep, sources))
                c_in, c_out = sum(in_channels[s] for s in sources), out_channels[target]
                attend = set_heads and len(keep) == 1
                mixes.append(SetAttention(c_in, c_out, set_heads) if attend else nn.Linear(c_in, c_out, bias=not keep))
            self.terms.append(terms)
            self.mix.append(mixes)

    def forward(self, blocks: list[Tensor]) -> list[Tensor]:
        cache: dict[tuple[int, tuple[int, ...]], Tensor] = {}

        def pooled(source: int, keep: tuple[int, ...]) -> Tensor:
            if (source, keep) not in cache:
                dims = [1 + i for i, lab in enumerate(self.labels[source]) if lab not in keep]
                cache[source, keep] = reduce(blocks[source], dims, self.reduction)
            return cache[source, keep]

        out = []
        for t_labels, terms, mixes in zip(self.labels, self.terms, self.mix):
            total = None
            for (keep, sources), mix in zip(terms, mixes):
                y = mix(torch.cat([pooled(s, keep) for s in sources], dim=-1))
                for i, lab in enumerate(t_labels):
                    if lab not in keep:
                        y = y.unsqueeze(1 + i)
                total = y if total is None else total + y
            out.append(total)
        return out


class InvariantPool(nn.Module):
    """Blocks -> (B, sum of channels): each block pooled over its permuted axes by mean, max or attention (PMA).

    Attention pooling is a set-attention readout: a learned query attends over the block's entries.
    """

    def __init__(self, labels: list[tuple[int, ...]], channels: list[int], how: str = "mean", heads: int = 1):
        super().__init__()
        if how not in ("mean", "max", "attention"):
            raise ValueError(f"pooling must be 'mean', 'max' or 'attention', got {how!r}")
        self.labels, self.how = labels, how
        if how == "attention":  # for the blocks with permuted axes; the others pass through
            pooled = [(str(k), c) for k, (c, block) in enumerate(zip(channels, labels)) if block]
            self.query = nn.ParameterDict({k: nn.Parameter(torch.randn(1, 1, c) / c**0.5) for k, c in pooled})
            self.attend = nn.ModuleDict({k: nn.MultiheadAttention(c, heads, batch_first=True) for k, c in pooled})

    def forward(self, blocks: list[Tensor]) -> Tensor:
        parts = []
        for k, (x, labels) in enumerate(zip(blocks, self.labels)):
            if not labels:
                parts.append(x)
                continue
            if self.how != "attention":
                parts.append(reduce(x, list(range(1, 1 + len(labels))), self.how))
                continue
            parts.append(attention_readout(self.attend[str(k)], self.query[str(k)], x.flatten(1, len(labels))))
        return torch.cat(parts, dim=-1)


def attention_readout(attend: nn.MultiheadAttention, query: Tensor, items: Tensor) -> Tensor:
    """``attend(query, items, items)`` for one query shared by the batch: (B, N, C) -> (B, C), in closed form.

    With one query, each head's logits are linear in the items (the key bias only shifts them) and its
    output is the value map of the attention-weighted mean item. So the keys and values of all N items are
    never computed: O(N C heads) instead of O(N C^2), and no copies (the generic call was 2/3 of DWSNet's
    forward). Same parameters, same function (tests/test_models.py checks it against the generic call).
    """
    e, h = attend.embed_dim, attend.num_heads
    w_q, w_k, w_v = attend.in_proj_weight.reshape(3, h, e // h, e)
    b_q, _, b_v = attend.in_proj_bias.reshape(3, h, e // h)
    q = torch.einsum("hdc,c->hd", w_q, query.reshape(e)) + b_q
    logits = items @ torch.einsum("hd,hdc->ch", q, w_k) / (e // h) ** 0.5  # (B, N, heads)
    mean_item = torch.einsum("bnh,bnc->bhc", logits.softmax(dim=1), items)
    values = torch.einsum("bhc,hdc->bhd", mean_item, w_v) + b_v
    return attend.out_proj(values.reshape(len(items), e))


class IOEncoding(nn.Module):
    """Learned offsets along the input and output neuron axes, broadcast over hidden ones.

    With ``permute_io`` every axis is permutable, so an NP layer cannot tell input coordinates or outputs
    apart; adding these offsets tells it, and keeps the equivariance to hidden permutations.
    """

    def __init__(self, spec: NetworkSpec, labels: list[tuple[int, ...]], channels: list[int]) -> None:
        super().__init__()
        fixed = {0: spec.widths[0], spec.n_layers: spec.widths[-1]}
        self.blocks = [k for k, block in enumerate(labels) if set(block) & set(fixed)]
        self.offsets = nn.ParameterList(
            nn.Parameter(0.1 * torch.randn(*(fixed.get(lab, 1) for lab in labels[k]), channels[k])) for k in self.blocks
        )

    def forward(self, blocks: list[Tensor]) -> list[Tensor]:
        blocks = list(blocks)
        for k, offset in zip(self.blocks, self.offsets):
            blocks[k] = blocks[k] + offset
        return blocks


class EquivariantStack(WeightSpaceModel):
    """Equivariant layers with ReLU between them, invariant pooling, then an MLP to the embedding.

    With ``embed_dim=0`` there is no MLP: the last layer's output passes a ReLU and the pooled features are the
    embedding, for the linear classifier. ``set_heads`` makes the one-axis terms set attention (one head in the
    last layer, as the official DWSNet builds it).
    """

    symmetries = ("permutation",)

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
        set_heads: int = 0,
    ) -> None:
        labels, folds = block_layout(spec, permute_io)
        channels = [list(folds)] + [[f * hidden for f in folds]] * n_layers
        super().__init__(spec, n_classes, embed_dim or sum(channels[-1]))
        self.permute_io = permute_io
        self.layers = nn.ModuleList(
            EquivariantLinear(labels, c_in, c_out, reduction, set_heads if k < n_layers - 1 else min(set_heads, 1))
            for k, (c_in, c_out) in enumerate(pairwise(channels))
        )
        self.io_encoding = IOEncoding(spec, labels, channels[1]) if permute_io else None
        self.pool = InvariantPool(labels, channels[-1], pool, heads)
        self.out = mlp([sum(channels[-1]), embed_dim, embed_dim], final_activation=True) if embed_dim else nn.Identity()
        self.n_relu = n_layers - 1 if embed_dim else n_layers

    def features(self, batch: WeightBatch) -> Tensor:
        blocks = to_blocks(batch, self.permute_io)
        for k, layer in enumerate(self.layers):
            blocks = layer(blocks)
            if k == 0 and self.io_encoding is not None:
                blocks = self.io_encoding(blocks)
            if k < self.n_relu:
                blocks = [b.relu() for b in blocks]
        return self.out(self.pool(blocks))
