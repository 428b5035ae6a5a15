"""The one representation of a batch of MLP parameters, and the one MLP (SIREN) forward.

A :class:`WeightBatch` holds ``B`` networks of one :class:`NetworkSpec`: per layer, weights of shape
``(B, n_out, n_in)`` (``nn.Linear`` orientation, batch first) and biases of shape ``(B, n_out)``.
Hidden layers compute ``sin(w0 * (W x + b))`` (sine) or ``relu(W x + b)``; the last layer is linear,
plus an optional constant output offset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Annotated, Literal, get_args

import torch
from torch import Tensor, nn

from weightaug.kernels import sine_and_slope

Activation = Literal["sine", "relu"]
ACTIVATIONS: tuple[str, ...] = get_args(Activation)


class SpecMismatchError(ValueError):
    """Weights, a state_dict or a model do not match the NetworkSpec they are used with."""


@dataclass(frozen=True)
class NetworkSpec:
    """Architecture of an MLP: layer widths, hidden activation, w0 and output offset."""

    in_dim: Annotated[int, "Input coordinates."] = 2
    hidden: Annotated[tuple[int, ...], "Hidden layer widths."] = (32, 32)
    out_dim: Annotated[int, "Output channels."] = 1
    activation: Annotated[Activation, "Hidden activation."] = "sine"
    w0: Annotated[float, "SIREN frequency factor."] = 30.0
    output_offset: Annotated[float, "Constant added to the output."] = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        if min((self.in_dim, self.out_dim, *self.hidden)) < 1:
            raise ValueError(f"every layer width must be >= 1, got {self.widths}")

    @property
    def widths(self) -> tuple[int, ...]:
        """All layer widths, input to output: (in_dim, *hidden, out_dim)."""
        return (self.in_dim, *self.hidden, self.out_dim)

    @property
    def n_layers(self) -> int:
        return len(self.hidden) + 1

    @property
    def weight_shapes(self) -> list[tuple[int, int]]:
        w = self.widths
        return [(w[i + 1], w[i]) for i in range(self.n_layers)]

    @property
    def n_params(self) -> int:
        return sum(o * i + o for o, i in self.weight_shapes)

    def scale(self, layer: int) -> float:
        """The factor applied to layer ``layer``'s affine output before its activation (w0 for sine)."""
        last = layer == self.n_layers - 1
        return 1.0 if last or self.activation == "relu" else self.w0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> NetworkSpec:
        return cls(**{**d, "hidden": tuple(d["hidden"])})


def mlp_forward(
    spec: NetworkSpec, weights: Sequence[Tensor], biases: Sequence[Tensor], x: Tensor, keep: bool = False
) -> Tensor | tuple[list[Tensor], list[Tensor], Tensor]:
    """Evaluate B MLPs on coordinates: the one SIREN forward of weightaug.

    ``x`` is ``(N, in_dim)`` (shared by all networks) or ``(B, N, in_dim)``. Returns ``(B, N, out_dim)``.
    With ``keep=True`` it returns ``(inputs, slopes, out)`` instead, for the fitter's hand-written backward:
    each layer's input, and each hidden activation's derivative w.r.t. its affine output ``W a + b``
    (computed in the same fused pass as the activation).
    """
    batch = weights[0].shape[0]
    a = x.expand(batch, *x.shape) if x.dim() == 2 else x
    inputs: list[Tensor] = []
    slopes: list[Tensor] = []
    for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
        inputs.append(a)
        hidden = layer < spec.n_layers - 1
        if keep and hidden and spec.activation == "sine":
            a, slope = sine_and_slope(torch.bmm(a, w.transpose(1, 2)), b.unsqueeze(1), spec.w0)
            slopes.append(slope)
            continue
        s = spec.scale(layer)
        z = torch.baddbmm(b.unsqueeze(1), a, w.transpose(1, 2), beta=s, alpha=s)
        if not hidden:
            break
        if spec.activation == "relu":
            a = torch.relu(z)
            slopes.append(z > 0)
        else:
            a = torch.sin(z)
    out = z + spec.output_offset if spec.output_offset else z
    return (inputs, slopes, out) if keep else out


@dataclass(frozen=True)
class WeightBatch:
    """B networks of one spec: ``weights[l]`` is ``(B, n_out, n_in)``, ``biases[l]`` is ``(B, n_out)``."""

    spec: NetworkSpec
    weights: tuple[Tensor, ...]
    biases: tuple[Tensor, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", tuple(self.weights))
        object.__setattr__(self, "biases", tuple(self.biases))
        shapes = self.spec.weight_shapes
        if len(self.weights) != len(shapes) or len(self.biases) != len(shapes):
            raise SpecMismatchError(
                f"spec {self.spec.widths} has {len(shapes)} layers, got {len(self.weights)} weight "
                f"and {len(self.biases)} bias tensors"
            )
        batch = self.weights[0].shape[0] if self.weights[0].dim() == 3 else -1
        for layer, ((o, i), w, b) in enumerate(zip(shapes, self.weights, self.biases)):
            if tuple(w.shape) != (batch, o, i) or tuple(b.shape) != (batch, o):
                raise SpecMismatchError(
                    f"layer {layer}: expected weight (B, {o}, {i}) and bias (B, {o}) for spec "
                    f"{self.spec.widths}, got {tuple(w.shape)} and {tuple(b.shape)}"
                )

    # -- construction -----------------------------------------------------------------------------
    @classmethod
    def zeros(cls, spec: NetworkSpec, batch: int, **kw) -> WeightBatch:
        return cls(
            spec,
            tuple(torch.zeros(batch, o, i, **kw) for o, i in spec.weight_shapes),
            tuple(torch.zeros(batch, o, **kw) for o, _ in spec.weight_shapes),
        )

    @classmethod
    def cat(cls, batches: Sequence[WeightBatch]) -> WeightBatch:
        if not batches:
            raise ValueError("cannot concatenate an empty list of WeightBatches")
        spec = batches[0].spec
        for b in batches[1:]:
            if b.spec != spec:
                raise SpecMismatchError(f"cannot concatenate spec {b.spec} with {spec}")
        n = spec.n_layers
        return cls(
            spec,
            tuple(torch.cat([b.weights[layer] for b in batches]) for layer in range(n)),
            tuple(torch.cat([b.biases[layer] for b in batches]) for layer in range(n)),
        )

    # -- container behaviour ----------------------------------------------------------------------
    def __len__(self) -> int:
        return self.weights[0].shape[0]

    def __getitem__(self, index: int | slice | Tensor | Sequence[int]) -> WeightBatch:
        """Select networks; an integer keeps the batch dimension (a batch of one)."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        return self.map(lambda t: t[index])

    def replace(self, index: Tensor, other: WeightBatch) -> WeightBatch:
        """A copy with networks ``index`` (a 1D long tensor) replaced by ``other``, in that order."""
        return WeightBatch(
            self.spec,
            tuple(t.index_copy(0, index, o) for t, o in zip(self.weights, other.weights, strict=True)),
            tuple(t.index_copy(0, index, o) for t, o in zip(self.biases, other.biases, strict=True)),
        )

    def map(self, fn) -> WeightBatch:
        """Apply ``fn`` to every weight and bias tensor (it must keep their trailing shapes)."""
        return WeightBatch(self.spec, tuple(fn(w) for w in self.weights), tuple(fn(b) for b in self.biases))

    def zip_map(self, other: WeightBatch, fn) -> WeightBatch:
        """``fn(t, o)`` for every weight and bias tensor ``t`` and its counterpart ``o`` in ``other``."""
        return WeightBatch(
            self.spec,
            tuple(fn(a, b) for a, b in zip(self.weights, other.weights, strict=True)),
            tuple(fn(a, b) for a, b in zip(self.biases, other.biases, strict=True)),
        )

    def to(self, *args, **kwargs) -> WeightBatch:
        return self.map(lambda t: t.to(*args, **kwargs))

    @property
    def device(self) -> torch.device:
        return self.weights[0].device

    @property
    def dtype(self) -> torch.dtype:
        return self.weights[0].dtype

    def tensors(self) -> list[Tensor]:
        """Weights and biases interleaved in layer order: W0, b0, W1, b1, ..."""
        return [t for pair in zip(self.weights, self.biases) for t in pair]

    def equal(self, other: WeightBatch) -> bool:
        """Exact equality of spec and every value."""
        return self.spec == other.spec and all(
            torch.equal(a, b) for a, b in zip(self.tensors(), other.tensors(), strict=True)
        )

    # -- evaluation -------------------------------------------------------------------------------
    def __call__(self, x: Tensor) -> Tensor:
        """Outputs of all networks at coordinates ``x`` ((N, d) or (B, N, d)): ``(B, N, out_dim)``."""
        return mlp_forward(self.spec, self.weights, self.biases, x)

    # -- flat vectors -----------------------------------------------------------------------------
    def flatten(self) -> Tensor:
        """``(B, P)``: per layer the row-major weight then the bias, layer after layer."""
        return torch.cat([t.flatten(1) for t in self.tensors()], dim=1)

    @classmethod
    def from_flat(cls, spec: NetworkSpec, flat: Tensor) -> WeightBatch:
        if flat.dim() != 2 or flat.shape[1] != spec.n_params:
            raise SpecMismatchError(
                f"a flat batch for spec {spec.widths} must be (B, {spec.n_params}), got {tuple(flat.shape)}"
            )
        sizes = [n for o, i in spec.weight_shapes for n in (o * i, o)]
        parts = torch.split(flat, sizes, dim=1)
        batch = flat.shape[0]
        weights = tuple(p.reshape(batch, o, i) for p, (o, i) in zip(parts[0::2], spec.weight_shapes))
        return cls(spec, weights, tuple(parts[1::2]))

    # -- nn.Module / state_dict interop --------------------------------------------------------------
    def state_dict(self, index: int, prefix: str = "seq") -> dict[str, Tensor]:
        """One network as a state_dict with keys ``seq.0.weight``, ``seq.0.bias``, ``seq.1.weight`` ..."""
        out = {}
        for layer, (w, b) in enumerate(zip(self.weights, self.biases)):
            out[f"{prefix}.{layer}.weight"] = w[index].clone()
            out[f"{prefix}.{layer}.bias"] = b[index].clone()
        return out

    @classmethod
    def from_state_dicts(cls, spec: NetworkSpec, state_dicts: Sequence[Mapping[str, Tensor]]) -> WeightBatch:
        """Stack state_dicts whose ``*.weight`` / ``*.bias`` entries, in key order, are the layers."""
        per_net = [linear_layers(sd) for sd in state_dicts]
        for k, layers in enumerate(per_net):
            got = [tuple(w.shape) for w, _ in layers]
            if got != spec.weight_shapes:
                raise SpecMismatchError(f"state_dict {k} has weight shapes {got}, spec wants {spec.weight_shapes}")
        return cls(
            spec,
            tuple(torch.stack([layers[i][0] for layers in per_net]) for i in range(spec.n_layers)),
            tuple(torch.stack([layers[i][1] for layers in per_net]) for i in range(spec.n_layers)),
        )

    def to_module(self, index: int) -> INRModule:
        module = INRModule(self.spec)
        module.load_state_dict(self.state_dict(index))
        return module.to(self.device, self.dtype)

    @classmethod
    def from_modules(cls, modules: Sequence[INRModule]) -> WeightBatch:
        specs = {m.spec for m in modules}
        if len(specs) != 1:
            raise SpecMismatchError(f"modules have different specs: {specs}")
        return cls.from_state_dicts(specs.pop(), [m.state_dict() for m in modules])


def linear_layers(state_dict: Mapping[str, Tensor]) -> list[tuple[Tensor, Tensor]]:
    """(weight, bias) pairs of a state_dict's linear layers, in key order; other entries are ignored."""
    weights = [k for k in state_dict if k.endswith(".weight") and torch.is_tensor(state_dict[k])]
    pairs = []
    for k in weights:
        bias_key = k[: -len("weight")] + "bias"
        if bias_key not in state_dict:
            raise SpecMismatchError(f"state_dict has {k!r} but no {bias_key!r}")
        pairs.append((state_dict[k], state_dict[bias_key]))
    return pairs


class INRModule(nn.Module):
    """One network of a spec as a plain ``nn.Module`` (layers ``seq.0``, ``seq.1``, ... as nn.Linear).

    Its forward is :func:`mlp_forward` on a batch of one, so it computes exactly what the WeightBatch does.
    """

    def __init__(self, spec: NetworkSpec) -> None:
        super().__init__()
        self.spec = spec
        self.seq = nn.ModuleList(nn.Linear(i, o) for o, i in spec.weight_shapes)

    def forward(self, x: Tensor) -> Tensor:
        weights = [layer.weight.unsqueeze(0) for layer in self.seq]
        biases = [layer.bias.unsqueeze(0) for layer in self.seq]
        return mlp_forward(self.spec, weights, biases, x)[0]
