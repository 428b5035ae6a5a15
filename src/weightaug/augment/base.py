"""The augmentation interface and its combinators: Compose, RandomApply, RandomChoice.

An augmentation maps ``(weights, targets)`` to ``(weights, targets)``: a :class:`WeightBatch` of B networks
and optional soft targets ``(B, K)`` (class probabilities; label smoothing and MixUp change them). Each
network is augmented with probability ``p``, independently; all randomness comes from the ``generator``
passed to the call (on the weights' device), and all work is batched over the networks chosen. As in
torchvision.transforms.v2 (``_get_params`` / ``_transform``), an augmentation first draws its parameters
(:meth:`Augmentation.draw`), then applies them (:meth:`Augmentation.apply`); the shadow-weight transforms of
:mod:`weightaug.was.transforms` follow the same idiom.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from weightaug import rng
from weightaug.weights import NetworkSpec, WeightBatch

Sample = tuple[WeightBatch, Tensor | None]


def derived_seed(generator: torch.Generator | None) -> int:
    """A seed drawn from ``generator``, for randomness that needs its own generator (numpy, the CPU)."""
    device = generator.device if generator is not None else "cpu"
    return int(torch.randint(2**62, (1,), generator=generator, device=device))


def on_subset(
    fn: Callable[[WeightBatch, Tensor | None, torch.Generator | None], Sample],
    index: Tensor,
    weights: WeightBatch,
    targets: Tensor | None,
    generator: torch.Generator | None,
) -> Sample:
    """``fn(weights, targets, generator)`` applied to the networks ``index`` only; the others are kept as they are."""
    if len(index) == 0:
        return weights, targets
    sub_w, sub_t = fn(weights[index], None if targets is None else targets[index], generator)
    return weights.replace(index, sub_w), None if targets is None else targets.index_copy(0, index, sub_t)


class AugmentationSpecError(ValueError):
    """An augmentation was asked to act on networks it is not defined for."""


class Augmentation:
    """Base class: subclasses implement :meth:`forward` on the chosen networks and say what they preserve."""

    needs_sine = False  # the augmentation is a symmetry of sine networks only
    input_dims: tuple[int, ...] | None = None  # the coordinate dimensions it is defined for (None: any)
    symmetry: str | None = None  # the weight-space symmetry it draws from: "permutation", "sign" or "shift"

    def __init__(self, p: float = 1.0, spec: NetworkSpec | None = None) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1], got {p}")
        self.p = p
        if spec is not None:
            self.check(spec)

    def parts(self) -> list[Augmentation]:
        """The single augmentations this one applies (itself, or a combinator's transforms)."""
        return [self]

    def check(self, spec: NetworkSpec) -> None:
        """Raise :class:`AugmentationSpecError` if this augmentation is not defined for networks of ``spec``."""
        name = type(self).__name__
        if self.needs_sine and spec.activation != "sine":
            raise AugmentationSpecError(
                f"{name} is a symmetry of sine networks (SIRENs); this spec is {spec.activation}"
            )
        if self.input_dims is not None and spec.in_dim not in self.input_dims:
            dims = " or ".join(f"{d}D" for d in self.input_dims)
            raise AugmentationSpecError(f"{name} acts on {dims} coordinates; these INRs take {spec.in_dim}D inputs")

    def __call__(
        self, weights: WeightBatch, targets: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Sample:
        self.check(weights.spec)
        if self.p >= 1.0:
            return self.forward(weights, targets, generator)
        chosen = rng.rand((len(weights),), generator, weights.device) < self.p
        return on_subset(self.forward, chosen.nonzero().squeeze(1), weights, targets, generator)

    def forward(self, weights: WeightBatch, targets: Tensor | None, generator: torch.Generator | None) -> Sample:
        """Draw the parameters for these networks, then apply them (combinators override this)."""
        return self.apply(weights, targets, self.draw(weights, generator))

    def draw(self, weights: WeightBatch, generator: torch.Generator | None) -> object:
        """All the randomness for ``weights``: the parameters :meth:`apply` uses (None: it needs none)."""
        return None

    def apply(self, weights: WeightBatch, targets: Tensor | None, params: object) -> Sample:
        """The augmented networks and targets for drawn ``params``: deterministic."""
        raise NotImplementedError

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({params})"


class Compose(Augmentation):
    """Apply the transforms one after the other (each with its own probability)."""

    def __init__(self, transforms: Sequence[Augmentation], p: float = 1.0, spec: NetworkSpec | None = None) -> None:
        self.transforms = list(transforms)
        super().__init__(p, spec)

    def parts(self) -> list[Augmentation]:
        return [part for t in self.transforms for part in t.parts()]

    def check(self, spec: NetworkSpec) -> None:
        for t in self.transforms:
            t.check(spec)

    def forward(self, weights: WeightBatch, targets: Tensor | None, generator: torch.Generator | None) -> Sample:
        for t in self.transforms:
            weights, targets = t(weights, targets, generator)
        return weights, targets

    def __repr__(self) -> str:
        inner = ", ".join(map(repr, self.transforms))
        return f"{type(self).__name__}([{inner}], p={self.p})"


class RandomApply(Compose):
    """Apply all the transforms to each network with probability ``p`` (default 0.5), else none of them."""

    def __init__(self, transforms: Sequence[Augmentation], p: float = 0.5, spec: NetworkSpec | None = None) -> None:
        super().__init__(transforms, p, spec)


class RandomChoice(Compose):
    """Apply one of the transforms to each network, drawn with probabilities ``weights`` (uniform if None)."""

    def __init__(
        self,
        transforms: Sequence[Augmentation],
        weights: Sequence[float] | None = None,
        p: float = 1.0,
        spec: NetworkSpec | None = None,
    ) -> None:
        if not transforms:
            raise ValueError("RandomChoice needs at least one transform")
        weights = [1.0] * len(transforms) if weights is None else list(weights)
        if len(weights) != len(transforms) or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"RandomChoice: weights must be {len(transforms)} non-negative numbers, got {weights}")
        self.weights = [float(w) for w in weights]
        super().__init__(transforms, p, spec)

    def forward(self, weights: WeightBatch, targets: Tensor | None, generator: torch.Generator | None) -> Sample:
        pick = rng.choice(self.weights, len(weights), generator, weights.device)
        for k, t in enumerate(self.transforms):
            weights, targets = on_subset(t, (pick == k).nonzero().squeeze(1), weights, targets, generator)
        return weights, targets
