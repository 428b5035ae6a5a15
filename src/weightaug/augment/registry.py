"""Augmentations by name, so a config or the CLI can say ``siren_negation,noise:rel_std=0.1,mixup_align``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from weightaug.augment.agnostic import Dropout, GaussianNoise, LabelSmoothing, QuantileMask
from weightaug.augment.base import Augmentation, Compose
from weightaug.augment.geometric import Flip, Rotate, RotateSO3, Scale, ScaleAxes, Translate
from weightaug.augment.mixup import MixUp
from weightaug.augment.symmetric import NeuronPermutation, SirenBiasShift, SirenNegation
from weightaug.registry import RegistryError, parse
from weightaug.weights import NetworkSpec

REGISTRY: dict[str, Callable[..., Augmentation]] = {
    "translate": Translate,
    "rotate": Rotate,
    "rotate_so3": RotateSO3,
    "scale": Scale,
    "scale_axes": ScaleAxes,
    "flip": Flip,
    "noise": GaussianNoise,
    "dropout": Dropout,
    "quantile_mask": QuantileMask,
    "label_smoothing": LabelSmoothing,
    "permutation": NeuronPermutation,
    "siren_negation": SirenNegation,
    "siren_bias": SirenBiasShift,
    "mixup": partial(MixUp, mode="plain"),
    "mixup_permute": partial(MixUp, mode="permute"),
    "mixup_align": partial(MixUp, mode="align"),
    "mixup_sign_align": partial(MixUp, mode="sign_align"),
}

# Every kind of augmentation at its official default, aligned MixUp last (the benchmark's "full pipeline").
FULL_PIPELINE = "translate,rotate,scale,noise,siren_negation,siren_bias,permutation,mixup_align"


UnknownAugmentationError = RegistryError  # an augmentation name or parameter that does not exist


def _unwrap(factory: Callable[..., Augmentation]) -> tuple[type[Augmentation], dict]:
    """The class behind a registry entry and the arguments the entry fixes."""
    return (factory.func, factory.keywords) if isinstance(factory, partial) else (factory, {})


def describe() -> dict[str, str]:
    """Name -> first line of the augmentation's docstring (and the arguments its name fixes)."""
    out = {}
    for name, factory in REGISTRY.items():
        cls, fixed = _unwrap(factory)
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        out[name] = f"{doc} [{', '.join(map(str, fixed.values()))}]" if fixed else doc
    return out


def parse_one(item: str, spec: NetworkSpec | None = None) -> Augmentation:
    """``name`` or ``name:key=value:key=value`` -> an augmentation (checked against ``spec`` if given)."""
    name, kwargs = parse(item, REGISTRY, "augmentation", ("spec", "transforms"), " (e.g. siren_bias:k_min=-1:k_max=1)")
    return REGISTRY[name](spec=spec, **kwargs)


def build_augmentation(items: str | Sequence[str] | None, spec: NetworkSpec | None = None) -> Compose:
    """A comma-separated string (or list) of augmentations -> one Compose; '', 'none' or None -> identity."""
    if items is None:
        items = []
    elif isinstance(items, str):
        items = [] if items.strip() in ("", "none") else items.split(",")
    return Compose([parse_one(item, spec) for item in items], spec=spec)
