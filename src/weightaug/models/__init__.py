"""Weight-space models: each takes a WeightBatch (normalised by its own fitted normaliser) to logits or an embedding."""

from __future__ import annotations

from torch import nn

from weightaug.models.base import WeightSpaceModel
from weightaug.models.dwsnet import DWSNet, OfficialDWSNet
from weightaug.models.graph import NeuralGraph
from weightaug.models.mlp import FlatMLP
from weightaug.models.nfn import NFN
from weightaug.models.normalize import WeightNormalizer
from weightaug.models.signgmn import SignGMN
from weightaug.models.transformer import WeightTransformer
from weightaug.registry import RegistryError, parameters, parse
from weightaug.weights import NetworkSpec

MODELS: dict[str, type[WeightSpaceModel]] = {
    "mlp": FlatMLP,
    "dwsnet": DWSNet,
    "dwsnet-official": OfficialDWSNet,
    "nfn": NFN,
    "graph": NeuralGraph,
    "transformer": WeightTransformer,
    "signgmn": SignGMN,
}


UnknownModelError = RegistryError  # a model name or parameter that does not exist


def build_model(name: str, spec: NetworkSpec, n_classes: int = 10, **kwargs) -> WeightSpaceModel:
    """The model ``name`` for INRs of ``spec``, at its preset (the peers' configuration) or with parameters
    set by name, ``"dwsnet:hidden=32:n_layers=3"`` (see :mod:`weightaug.registry`); keyword arguments too."""
    base, params = parse(name, MODELS, "model", ("spec", "n_classes"), " (e.g. dwsnet:hidden=32:n_layers=3)")
    return MODELS[base](spec, n_classes, **{**params, **kwargs})


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def describe(spec: NetworkSpec, n_classes: int = 10) -> dict[str, tuple[int, str, str, str]]:
    """Name -> (weights at the preset for INRs of ``spec``, the symmetries it is invariant to, description,
    parameters)."""
    return {
        name: (
            n_parameters(build_model(name, spec, n_classes)),
            ", ".join(cls.symmetries) or "none",
            cls.description,
            " ".join(f"{k}={v}" for k, v in parameters(cls, ("spec", "n_classes")).items()),
        )
        for name, cls in MODELS.items()
    }


__all__ = [
    "MODELS",
    "UnknownModelError",
    "WeightNormalizer",
    "WeightSpaceModel",
    "build_model",
    "describe",
    "n_parameters",
]
