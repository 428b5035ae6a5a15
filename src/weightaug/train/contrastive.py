"""Contrastive self-supervised learning on INRs (SimCLR, NT-Xent), judged by a linear probe.

Positives are two versions of one object: two augmentations of the same INR (``positives="augment"``), or
two different neural views of the object, each augmented (``positives="views"``). The probe is a logistic
regression on frozen, standardised embeddings, fitted on the training split and scored on val and test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, get_args

import torch
from torch import Tensor, nn
from torch.nn.functional import cross_entropy, normalize

from weightaug import rng
from weightaug.augment import Augmentation, Compose
from weightaug.inr.store import INRSplit
from weightaug.models import WeightSpaceModel
from weightaug.models.base import mlp
from weightaug.train.classify import EVAL_BATCH, Splits
from weightaug.train.loop import fixed_subset

Positives = Literal["augment", "views"]
POSITIVES: tuple[str, ...] = get_args(Positives)


def nt_xent(z1: Tensor, z2: Tensor, temperature: float) -> Tensor:
    """SimCLR's loss: each of the 2B embeddings must pick its partner among the other 2B - 1."""
    z = normalize(torch.cat([z1, z2]).float(), dim=-1)
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))
    n = len(z1)
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return cross_entropy(sim, partner)


class Encoder(nn.Module):
    """A weight-space model and the projection head the contrastive loss sees."""

    def __init__(self, backbone: WeightSpaceModel, proj_dim: int = 128) -> None:
        super().__init__()
        self.backbone = backbone
        self.project = mlp([backbone.embed_dim, backbone.embed_dim, proj_dim])

    def forward(self, weights) -> Tensor:
        return self.project(self.backbone.embed(weights))


def view_table(part: INRSplit) -> Tensor:
    """``(n_objects, n_views)`` indices into ``part``, one row per object (every object needs all views)."""
    order = torch.argsort(part.object_ids * (int(part.view_ids.max()) + 1) + part.view_ids)
    n_views = int(part.view_ids.max()) + 1
    if len(part) % n_views:
        raise ValueError("every training object needs the same number of views for view positives")
    return order.view(-1, n_views)


class Contrastive:
    """Training task for :func:`weightaug.train.loop.train`; ``evaluate`` runs the linear probe."""

    def __init__(
        self,
        model: WeightSpaceModel,
        splits: Splits,
        augment: Augmentation | None = None,
        positives: str = "augment",
        temperature: float = 0.1,
        normalise: str = "neuron",
        device: str = "cpu",
        probe_size: int = 10_000,
    ) -> None:
        if positives not in POSITIVES:
            raise ValueError(f"positives must be one of {POSITIVES}, got {positives!r}")
        splits.check(model)
        self.splits = splits.to(device)
        self.augment = augment or Compose([])
        self.augment.check(model.spec)
        model.fit_normaliser(self.splits.train.weights, normalise)
        self.model = Encoder(model).to(device)
        self.positives, self.temperature = positives, temperature
        self.views = view_table(self.splits.train).to(device)
        if positives == "views" and self.views.shape[1] < 2:
            raise ValueError("view positives need at least 2 views per training object; build with --views 2 or more")
        self.probe_train = self.splits.train[fixed_subset(len(self.splits.train), probe_size, device)]

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
        """Batches of objects (rows of the view table); a batch needs 2 objects for negatives."""
        order = torch.randperm(len(self.views), generator=generator)
        return (b for b in order.split(batch_size) if len(b) > 1)

    def loss(self, objects: Tensor, generator: torch.Generator) -> Tensor:
        rows = self.views[objects.to(self.views.device)]
        n, v = rows.shape
        first = rng.randint(0, v, (n,), generator, rows.device)
        second = first
        if self.positives == "views":  # another view of the same object
            second = (first + rng.randint(1, v, (n,), generator, rows.device)) % v
        a = self.splits.train.weights[rows.gather(1, first[:, None]).squeeze(1)]
        b = self.splits.train.weights[rows.gather(1, second[:, None]).squeeze(1)]
        a, _ = self.augment(a, None, generator)
        b, _ = self.augment(b, None, generator)
        return nt_xent(self.model(a), self.model(b), self.temperature)

    def embeddings(self, part: INRSplit) -> Tensor:
        backbone = self.model.backbone
        return torch.cat([backbone.embed(b.weights).float() for b in part.batches(EVAL_BATCH, False)]).cpu()

    def evaluate(self) -> dict[str, float]:
        return linear_probe(
            {
                "train": (self.embeddings(self.probe_train), self.probe_train.labels.cpu()),
                "val": (self.embeddings(self.splits.val), self.splits.val.labels.cpu()),
                "test": (self.embeddings(self.splits.test), self.splits.test.labels.cpu()),
            }
        )


def linear_probe(parts: dict[str, tuple[Tensor, Tensor]]) -> dict[str, float]:
    """Logistic regression on standardised frozen embeddings: fitted on ``train``, accuracy on every part."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x, y = parts["train"]
    scaler = StandardScaler().fit(x.numpy())
    probe = LogisticRegression(max_iter=2000).fit(scaler.transform(x.numpy()), y.numpy())
    return {f"{k}_acc": float(probe.score(scaler.transform(e.numpy()), lab.numpy())) for k, (e, lab) in parts.items()}
