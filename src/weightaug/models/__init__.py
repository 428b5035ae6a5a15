"""Weight-space models: each takes a WeightBatch (normalised by its own fitted normaliser) to logits or an embedding."""

from __future__ import annotations

from torch import nn

from weightaug.models.base import WeightSpaceModel
from weightaug.models.dwsnet import DWSNet
from weightaug.models.graph import NeuralGraph
from weightaug.models.mlp import FlatMLP
from weightaug.models.nfn import NFN
from weightaug.models.normalize import WeightNormalizer
from weightaug.models.transformer import WeightTransformer
from weightaug.weights import NetworkSpec

MODELS: dict[str, type[WeightSpaceModel]] = {
    "mlp": FlatMLP,
    "dwsnet": DWSNet,
    "nfn": NFN,
    "graph": NeuralGraph,
    "transformer": WeightTransformer,
}


class UnknownModelError(ValueError):
    """A model name that does not exist."""


def build_model(name: str, spec: NetworkSpec, n_classes: int = 10, **kwargs) -> WeightSpaceModel:
    """The model ``name`` for INRs of ``spec``; keyword arguments override its preset (the peers' configuration)."""
    if name not in MODELS:
        raise UnknownModelError(f"unknown model {name!r}; choose from: {', '.join(MODELS)}")
    return MODELS[name](spec, n_classes, **kwargs)


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["MODELS", "UnknownModelError", "WeightNormalizer", "WeightSpaceModel", "build_model", "n_parameters"]
