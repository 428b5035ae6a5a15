"""Seeded train / validation / test splits of a source's objects: one split rule for every consumer."""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor


class Labelled(Protocol):
    """Any source: images or solids, numbered with the official train set first."""

    name: str
    labels: Tensor
    n_train: int


def make_splits(
    source: Labelled,
    seed: int = 0,
    train_size: int | None = None,
    val_size: int | None = None,
    test_size: int | None = None,
) -> dict[str, Tensor]:
    """Seeded object ids per split (each split in a seeded random order, then cut to its size).

    ``None`` sizes: all available (val: 5,000 of the official train set for sources that have one, or 15% of it
    where that is fewer, else 15% of the objects; test: the official test set, else 15%)."""
    g = torch.Generator().manual_seed(seed)
    sizes = {"train": train_size, "val": val_size, "test": test_size}
    n = len(source.labels)
    if source.n_train:
        pool = torch.randperm(source.n_train, generator=g)
        n_val = min(5000, round(0.15 * source.n_train)) if val_size is None else val_size
        if n_val >= source.n_train:
            raise ValueError(f"val size {n_val} leaves no training objects out of {source.n_train}")
        val, train = pool[:n_val], pool[n_val:]
        test = source.n_train + torch.randperm(n - source.n_train, generator=g)
    else:
        pool = torch.randperm(n, generator=g)
        n_eval = round(0.15 * n)
        val, test, train = pool[:n_eval], pool[n_eval : 2 * n_eval], pool[2 * n_eval :]
    out = {}
    for name, ids in (("train", train), ("val", val), ("test", test)):
        size = sizes[name]
        if size is not None and size > len(ids):
            raise ValueError(f"--{name}-size {size} is larger than the {len(ids)} {name} objects of {source.name}")
        out[name] = ids[:size] if size is not None else ids
        if len(out[name]) == 0:
            raise ValueError(f"split {name!r} would be empty; choose a positive --{name}-size")
    return out
