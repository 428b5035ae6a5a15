"""INR classification: a weight-space model on (augmented, normalised) weights, soft-target cross-entropy.

Augmentations act on the raw weights (where the symmetries are exact); the model then normalises them with
the training split's statistics (held in its state_dict). Targets are one-hot, or soft after MixUp and label smoothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn.functional import log_softmax, one_hot

from weightaug import dist
from weightaug.augment import Augmentation, Compose
from weightaug.inr.store import INRSplit
from weightaug.models import WeightSpaceModel
from weightaug.train.loop import fixed_subset
from weightaug.weights import SpecMismatchError

EVAL_BATCH = 1024


def soft_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Cross-entropy against probability vectors (one-hot, smoothed or mixed)."""
    return -(targets * log_softmax(logits.float(), dim=-1)).sum(-1).mean()


def joined_logits(chunks: list[Tensor], n_classes: int, device: torch.device | str) -> Tensor:
    """An evaluation's logits, chunk after chunk, as one ``(N, n_classes)`` tensor; ``(0, n_classes)`` for no
    chunks (a rank's empty part of a split smaller than the world under DDP)."""
    return torch.cat(chunks) if chunks else torch.zeros(0, n_classes, device=device)


def classification_metrics(parts: dict[str, tuple[Tensor, Tensor]]) -> dict[str, float]:
    """``{name}_acc`` and ``{name}_loss`` for each ``name: (logits, labels)``; when the ranks train together
    (:func:`weightaug.dist.data_parallel`) each holds its part of every split, and the sums are all-reduced."""
    metrics = {}
    for name, (logits, labels) in parts.items():
        n = len(labels)
        loss = soft_cross_entropy(logits, one_hot(labels, logits.shape[-1]).float()) * n if n else logits.new_zeros(())
        sums = torch.stack([(logits.argmax(-1) == labels).sum().float(), loss.float(), logits.new_tensor(float(n))])
        if dist.together():
            sums = dist.all_sum(sums.cpu())
        metrics[f"{name}_acc"], metrics[f"{name}_loss"] = (sums[0] / sums[2]).item(), (sums[1] / sums[2]).item()
    return metrics


@dataclass
class Splits:
    """The train / val / test INRs of one run (``val`` may double as ``test`` for quick runs)."""

    train: INRSplit
    val: INRSplit
    test: INRSplit

    def check(self, model: WeightSpaceModel) -> None:
        for name in ("train", "val", "test"):
            part = getattr(self, name)
            if len(part) == 0:
                raise ValueError(f"the {name} split is empty; build the dataset with more objects")
            if part.weights.spec != model.spec:
                raise SpecMismatchError(
                    f"{type(model).__name__} was built for INRs of spec {model.spec}, the {name} split holds {part.weights.spec}"
                )

    def to(self, device: str) -> Splits:
        return Splits(self.train.to(device), self.val.to(device), self.test.to(device))


class INRClassification:
    """Training task for :func:`weightaug.train.loop.train`: classify INRs by their weights."""

    data_parallel = True  # trains under DDP: its loss and evaluation take any part of a batch or split

    def __init__(
        self,
        model: WeightSpaceModel,
        splits: Splits,
        augment: Augmentation | None = None,
        normalise: str = "neuron",
        device: str = "cpu",
        train_eval_size: int = 2048,
    ) -> None:
        splits.check(model)
        self.model = model.to(device)
        self.splits = splits.to(device)
        self.augment = augment or Compose([])
        self.augment.check(model.spec)
        self.model.fit_normaliser(self.splits.train.weights, normalise)
        self.n_classes = model.n_classes
        # a fixed subset of the (unaugmented) training INRs, for the train-accuracy curve
        self.train_eval = self.splits.train[fixed_subset(len(self.splits.train), train_eval_size, device)]

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
        return iter(torch.randperm(len(self.splits.train), generator=generator).split(batch_size))

    def loss(self, index: Tensor, generator: torch.Generator) -> Tensor:
        batch = self.splits.train[index.to(self.splits.train.labels.device)]
        targets = one_hot(batch.labels, self.n_classes).float()
        weights, targets = self.augment(batch.weights, targets, generator)
        return soft_cross_entropy(self.model(weights), targets)

    def logits(self, part: INRSplit) -> Tensor:
        """``(len(part), n_classes)``; a rank's part of a split smaller than the world may be empty."""
        chunks = [self.model(b.weights).float() for b in part.batches(EVAL_BATCH, False)]
        return joined_logits(chunks, self.n_classes, part.labels.device)

    def evaluate(self) -> dict[str, float]:
        parts = {"train": self.train_eval, "val": self.splits.val, "test": self.splits.test}
        parts = {k: p[dist.part(len(p))] for k, p in parts.items()}  # all of it, unless the ranks train together
        return classification_metrics({k: (self.logits(p), p.labels) for k, p in parts.items()})
