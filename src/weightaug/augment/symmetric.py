"""Weight-space symmetries: other weights for exactly the same function (see :mod:`weightaug.symmetry`)."""

from __future__ import annotations

import torch
from torch import Tensor

from weightaug import rng
from weightaug.augment.base import Augmentation, Sample
from weightaug.symmetry import SignedPermutation, random_signs, shift_biases
from weightaug.weights import NetworkSpec, WeightBatch


class NeuronPermutation(Augmentation):
    """Permute the neurons of every hidden layer uniformly at random. Preserves the function (any activation)."""

    symmetry = "permutation"

    def draw(self, weights: WeightBatch, generator: torch.Generator | None) -> SignedPermutation:
        return SignedPermutation.random(weights.spec, len(weights), generator, device=weights.device)

    def apply(self, weights: WeightBatch, targets: Tensor | None, params: SignedPermutation) -> Sample:
        return params.apply(weights), targets


class SirenNegation(Augmentation):
    """Flip the sign of each hidden neuron with probability ``flip_prob`` (its row, bias and outgoing column).

    Preserves the function of sine networks (sin is odd).
    """

    needs_sine = True
    symmetry = "sign"

    def __init__(self, flip_prob: float = 0.5, p: float = 1.0, spec: NetworkSpec | None = None) -> None:
        self.flip_prob = flip_prob
        super().__init__(p, spec)

    def draw(self, weights: WeightBatch, generator: torch.Generator | None) -> SignedPermutation:
        batch, device = len(weights), weights.device
        signs = random_signs(weights.spec, batch, self.flip_prob, generator, device)
        return SignedPermutation(SignedPermutation.identity(weights.spec, batch, device).perms, signs)

    def apply(self, weights: WeightBatch, targets: Tensor | None, params: SignedPermutation) -> Sample:
        return params.apply(weights), targets


class SirenBiasShift(Augmentation):
    """Add ``k pi / w0`` to each hidden bias, k uniform in {k_min, ..., k_max}; odd k flips the outgoing column.

    Preserves the function of sine networks.
    """

    needs_sine = True
    symmetry = "shift"

    def __init__(self, k_min: int = -4, k_max: int = 3, p: float = 1.0, spec: NetworkSpec | None = None) -> None:
        if k_min > k_max:
            raise ValueError(f"SirenBiasShift needs k_min <= k_max, got {k_min}, {k_max}")
        self.k_min, self.k_max = k_min, k_max
        super().__init__(p, spec)

    def draw(self, weights: WeightBatch, generator: torch.Generator | None) -> list[Tensor]:
        """Per hidden layer, ``(B, n_h)`` integers k."""
        return [
            rng.randint(self.k_min, self.k_max + 1, (len(weights), n), generator, weights.device)
            for n in weights.spec.hidden
        ]

    def apply(self, weights: WeightBatch, targets: Tensor | None, params: list[Tensor]) -> Sample:
        return shift_biases(weights, params), targets
