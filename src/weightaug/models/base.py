"""What every weight-space model shares: the spec it was built for, embed / forward, a classifier head."""

from __future__ import annotations

import itertools

from torch import Tensor, nn

from weightaug.models.normalize import WeightNormalizer
from weightaug.weights import NetworkSpec, SpecMismatchError, WeightBatch


def mlp(sizes: list[int], final_activation: bool = False) -> nn.Sequential:
    """Linear layers of ``sizes`` with ReLU between them (and after the last if ``final_activation``)."""
    layers: list[nn.Module] = []
    for k, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if k < len(sizes) - 2 or final_activation:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class WeightSpaceModel(nn.Module):
    """Base class: subclasses implement :meth:`features` (a (B, embed_dim) embedding of a WeightBatch)."""

    description = ""
    symmetries: tuple[str, ...] = ()  # what leaves the output unchanged: "permutation" (of hidden neurons), "sign"

    def __init__(self, spec: NetworkSpec, n_classes: int, embed_dim: int) -> None:
        super().__init__()
        self.spec, self.n_classes, self.embed_dim = spec, n_classes, embed_dim
        self.head = nn.Linear(embed_dim, n_classes)
        self.normaliser = WeightNormalizer(spec)  # identity until fitted; its statistics travel with the state_dict

    def check(self, batch: WeightBatch) -> None:
        if batch.spec != self.spec:
            raise SpecMismatchError(
                f"{type(self).__name__} was built for INRs of spec {self.spec}, got a batch of spec {batch.spec}"
            )

    def features(self, batch: WeightBatch) -> Tensor:
        raise NotImplementedError

    def fit_normaliser(self, weights: WeightBatch, per: str = "neuron") -> None:
        """Normalise inputs with the statistics of ``weights`` (the training split, before augmentation), pooled
        as ``per`` says; the statistics respect the sign flips where the model does."""
        fitted = WeightNormalizer.fit(weights, per, signs="sign" in self.symmetries)
        self.normaliser.load_state_dict(fitted.state_dict())

    def embed(self, batch: WeightBatch) -> Tensor:
        """``(B, embed_dim)``: the representation used for contrastive learning and linear probes."""
        self.check(batch)
        return self.features(self.normaliser(batch))

    def forward(self, batch: WeightBatch) -> Tensor:
        """``(B, n_classes)`` logits."""
        return self.head(self.embed(batch))
