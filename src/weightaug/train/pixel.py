"""The baselines on the raw objects: an MLP or a small CNN on the images, a PointNet on points sampled from the
surfaces of 3D shapes, trained on the same objects and splits as the INRs.

Every report puts weight-space accuracy next to them, so the gap between classifying a network's weights and
classifying its pixels (or points) stays in view.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

import torch
from torch import Tensor, nn
from torch.nn.functional import one_hot

from weightaug import dist, rng
from weightaug.train.classify import EVAL_BATCH, classification_metrics, joined_logits, soft_cross_entropy
from weightaug.train.loop import fixed_subset

PIXEL_MODELS = ("pixel-mlp", "pixel-cnn")
POINT_MODELS = ("points-pointnet",)
BASELINES = PIXEL_MODELS + POINT_MODELS  # the ``pixel_models`` an experiment may name
SURFACE_POINTS = 1024  # points per shape for the point-cloud baseline, as ModelNet40 classifiers take them


def is_baseline(model: str) -> bool:
    """Whether a model name is a baseline on the raw objects (not a weight-space model)."""
    return model in BASELINES


class PointNet(nn.Module):
    """PointNet without its alignment nets: a shared 3-64-128-256 MLP per point (BatchNorm, ReLU), max-pooled
    over the points (invariant to their order), then a 256-128 head with dropout 0.3. Input ``(B, P, 3)``."""

    def __init__(self, n_classes: int) -> None:
        super().__init__()
        widths, layers = (3, 64, 128, 256), []
        for a, b in pairwise(widths):
            layers += [nn.Conv1d(a, b, 1), nn.BatchNorm1d(b), nn.ReLU()]
        self.points = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(256, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Dropout(0.3),
                                  nn.Linear(128, n_classes))  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.points(x.transpose(1, 2)).amax(dim=2))


def pixel_model(name: str, shape: tuple[int, ...], n_classes: int) -> nn.Module:
    """``pixel-mlp``: 512-256 hidden units with dropout 0.2; ``pixel-cnn``: two 3x3 conv blocks and a 128-unit
    head (``shape`` an image's (C, H, W)); ``points-pointnet``: :class:`PointNet` (``shape`` a cloud's (P, 3))."""
    if name == "points-pointnet":
        return PointNet(n_classes)
    c, h, w = shape
    if name == "pixel-mlp":
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(c * h * w, 512),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(512, 256),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(256, n_classes),
        )
    if name == "pixel-cnn":
        return nn.Sequential(
            nn.Conv2d(c, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * (h // 4) * (w // 4), 128),
            nn.ReLU(),
            nn.Dropout(0.3),
            nn.Linear(128, n_classes),
        )
    raise ValueError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")


def crop_and_flip(images: Tensor, generator: torch.Generator, pad: int | None = None) -> Tensor:
    """The standard image augmentation, batched: a random crop after zero padding (``pad``: 1/8 of the
    side by default, 4 pixels on 32x32) and a horizontal flip with probability 0.5, per image."""
    b, _, h, w = images.shape
    pad = max(1, h // 8) if pad is None else pad
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad))
    dy, dx = rng.randint(0, 2 * pad + 1, (2, b), generator, images.device)
    flip = rng.rand((b,), generator, images.device) < 0.5
    rows = dy[:, None] + torch.arange(h, device=images.device)
    cols = dx[:, None] + torch.arange(w, device=images.device)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    out = padded[torch.arange(b, device=images.device)[:, None, None], :, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2)


# On the CPU small evaluation batches keep a CNN's activations in cache: on one thread small_cnn evaluates
# 1.9x and ResNet-18 1.2-1.3x faster at 64 images a batch than at 1,024 (benchmarks/bench_eval_batch.py); a GPU
# wants large ones (EVAL_BATCH).
CPU_EVAL_BATCH = 64


class PixelClassification:
    """Training task for :func:`weightaug.train.loop.train` on images ``(N, C, H, W)`` in [0, 1] per split, or
    point clouds ``(N, P, 3)`` (standardised with the training split's mean and std); ``augment`` adds random
    crops and flips (images only)."""

    data_parallel = True  # trains under DDP: its loss and evaluation take any part of a batch or split

    def __init__(
        self,
        model: nn.Module,
        images: dict[str, Tensor],
        labels: dict[str, Tensor],
        n_classes: int,
        device: str = "cpu",
        augment: bool = False,
        train_eval_size: int = 2048,
    ) -> None:
        for name in ("train", "val", "test"):
            if name not in images or len(images[name]) == 0:
                raise ValueError(f"the {name} split has no images")
        self.model = model.to(device)
        mean, std = images["train"].mean(), images["train"].std()
        self.images = {k: ((v - mean) / std).to(device) for k, v in images.items()}
        self.labels = {k: v.to(device) for k, v in labels.items()}
        self.n_classes, self.augment = n_classes, augment
        self.eval_batch = CPU_EVAL_BATCH if torch.device(device).type == "cpu" else EVAL_BATCH
        pick = fixed_subset(len(self.labels["train"]), train_eval_size, device)
        self.eval_images = {
            "train": self.images["train"][pick],
            "val": self.images["val"],
            "test": self.images["test"],
        }
        self.eval_labels = {
            "train": self.labels["train"][pick],
            "val": self.labels["val"],
            "test": self.labels["test"],
        }

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
        order = torch.randperm(len(self.labels["train"]), generator=generator)
        return iter(order.split(batch_size))

    def loss(self, index: Tensor, generator: torch.Generator) -> Tensor:
        targets = one_hot(self.labels["train"][index], self.n_classes).float()
        x = self.images["train"][index]
        if self.augment:
            x = crop_and_flip(x, generator)
        return soft_cross_entropy(self.model(x), targets)

    def evaluate(
        self,
        model: nn.Module | None = None,
        splits: tuple[str, ...] = ("train", "val", "test"),
        batch: int | None = None,
    ) -> dict[str, float]:
        """Metrics of ``model`` (default: the one training) on ``splits`` (train: a fixed subset, for the curve),
        ``batch`` images at a time (default: the device's)."""
        model, batch = model or self.model, batch or self.eval_batch
        parts = {}
        for name in splits:
            mine = dist.part(len(self.eval_labels[name]))  # all of it, unless the ranks train together
            images, labels = self.eval_images[name][mine], self.eval_labels[name][mine]
            chunks = [model(chunk).float() for chunk in images.split(batch)] if len(labels) else []
            parts[name] = (joined_logits(chunks, self.n_classes, images.device), labels)
        return classification_metrics(parts)
