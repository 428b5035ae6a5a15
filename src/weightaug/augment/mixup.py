"""Weight-space MixUp: plain, with a random permutation, and with weight-matching alignment.

Each chosen network ``a`` is mixed with a partner ``b`` drawn uniformly from the same batch (so from the pool
the model trains on, with the views in use): ``lambda a + (1 - lambda) b'`` with lambda ~ Beta(alpha, alpha),
and soft targets mixed the same way. ``b'`` is ``b`` (plain), ``a`` goes through a random permutation first
(permute), or ``b`` is aligned to ``a`` by weight matching (align; sign_align also flips signs, sine only).
Preserves nothing; alignment makes the mixture a network that is close to both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from weightaug import rng
from weightaug.align import weight_matching
from weightaug.augment.base import Augmentation, AugmentationSpecError, Sample, derived_seed
from weightaug.symmetry import SignedPermutation
from weightaug.weights import NetworkSpec, WeightBatch

MixMode = Literal["plain", "permute", "align", "sign_align"]
MODES = ("plain", "permute", "align", "sign_align")


def beta_sample(alpha: float, n: int, generator: torch.Generator | None) -> Tensor:
    """``(n,)`` float64 draws of Beta(alpha, alpha), reproducible from the torch generator."""
    return torch.from_numpy(np.random.default_rng(derived_seed(generator)).beta(alpha, alpha, n))


@dataclass(frozen=True)
class MixDraw:
    """What one MixUp call draws: each network's partner and lambda, and what its mode needs."""

    partner: Tensor  # (B,) index of each network's partner in the batch
    lam: Tensor  # (B,) the weight of the network itself
    permutation: SignedPermutation | None = None  # mode permute: applied to the network first
    order_seed: int | None = None  # modes align, sign_align: seeds weight matching's layer orders


class MixUp(Augmentation):
    """MixUp of INR weights (see the module docstring); ``mode`` is plain, permute, align or sign_align."""

    def __init__(
        self,
        mode: MixMode = "align",
        alpha: float = 1.0,
        max_sweeps: int = 100,
        p: float = 1.0,
        spec: NetworkSpec | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"MixUp mode must be one of {', '.join(MODES)}; got {mode!r}")
        if alpha <= 0:
            raise ValueError(f"MixUp alpha must be > 0, got {alpha}")
        self.mode, self.alpha, self.max_sweeps = mode, alpha, max_sweeps
        super().__init__(p, spec)

    def check(self, spec: NetworkSpec) -> None:
        if self.mode == "sign_align" and spec.activation != "sine":
            raise AugmentationSpecError(f"sign-aware aligned MixUp needs sine networks; this spec is {spec.activation}")

    def draw(self, weights: WeightBatch, generator: torch.Generator | None) -> MixDraw:
        partner = rng.randperm(len(weights), generator, weights.device)
        lam = beta_sample(self.alpha, len(weights), generator).to(weights.device, weights.dtype)
        return self.draw_for(weights, partner, lam, generator)

    def draw_for(
        self, weights: WeightBatch, partner: Tensor, lam: Tensor, generator: torch.Generator | None
    ) -> MixDraw:
        """The mode's own draws for given partners and lambdas: a random permutation, or the seed of
        weight matching's layer orders."""
        if self.mode == "permute":
            return MixDraw(
                partner, lam, SignedPermutation.random(weights.spec, len(weights), generator, device=weights.device)
            )
        if self.mode in ("align", "sign_align"):
            return MixDraw(partner, lam, order_seed=derived_seed(generator))
        return MixDraw(partner, lam)

    def apply(self, weights: WeightBatch, targets: Tensor | None, params: MixDraw) -> Sample:
        a, b = weights, weights[params.partner]
        if params.permutation is not None:
            a = params.permutation.apply(a)
        elif params.order_seed is not None:
            order = torch.Generator().manual_seed(params.order_seed)  # layer orders are drawn on the CPU
            b = weight_matching(a, b, signs=self.mode == "sign_align", max_sweeps=self.max_sweeps, generator=order)
            b = b.aligned
        lam = params.lam.unsqueeze(1)
        mixed = WeightBatch.from_flat(weights.spec, torch.lerp(b.flatten(), a.flatten(), lam))
        if targets is None:
            return mixed, None
        return mixed, torch.lerp(targets[params.partner], targets, lam.to(targets.dtype))

    def mix(
        self,
        weights: WeightBatch,
        targets: Tensor | None,
        partner: Tensor,
        lam: Tensor,
        generator: torch.Generator | None,
    ) -> Sample:
        """Mix network i with network ``partner[i]`` by ``lam[i]`` (the generator draws permutations and layer orders)."""
        return self.apply(weights, targets, self.draw_for(weights, partner, lam, generator))
