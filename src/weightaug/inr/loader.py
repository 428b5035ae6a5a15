"""An INR split the ``torch.utils.data`` way, for a user's own training loop: items or whole batches.

weightaug's own loop draws mini-batches with :meth:`INRSplit.batches` (tensor indexing in the training process:
the fast path, no per-item Python). These adapters give the same data to a ``DataLoader`` (workers, pinned
memory, a sampler of one's own):

- :class:`INRItems`: item ``i`` is one INR as a dict of tensors, ``{"weights": (W0, W1, ...), "biases": (b0,
  ...), "label", "object_id", "view_id", "quality"}``; ``default_collate`` stacks them;
- :class:`INRBatches`: item ``k`` is the ``k``-th mini-batch of an epoch, already stacked (use
  ``DataLoader(..., batch_size=None)``), in the order ``INRSplit.batches`` draws with
  ``rng.epoch_generator(seed, epoch)``; call :meth:`INRBatches.set_epoch` before each epoch's iterator
  (workers copy the dataset when an iterator starts, so not with ``persistent_workers``).

:func:`weight_batch` turns either's batch back into a :class:`WeightBatch`, for models and augmentations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from torch import Tensor
from torch.utils.data import Dataset

from weightaug.inr.store import INRSplit, batch_indices
from weightaug.rng import epoch_generator
from weightaug.weights import NetworkSpec, WeightBatch


def as_dict(part: INRSplit, index: int | Tensor) -> dict:
    """INRs ``index`` of ``part`` (one, or a batch) as a dict of tensors."""
    return {
        "weights": tuple(w[index] for w in part.weights.weights),
        "biases": tuple(b[index] for b in part.weights.biases),
        "label": part.labels[index],
        "object_id": part.object_ids[index],
        "view_id": part.view_ids[index],
        "quality": part.quality[index],
    }


def weight_batch(batch: Mapping, spec: NetworkSpec) -> WeightBatch:
    """The :class:`WeightBatch` of a batch from :class:`INRItems` (collated) or :class:`INRBatches`."""
    return WeightBatch(spec, tuple(batch["weights"]), tuple(batch["biases"]))


class INRItems(Dataset):
    """One INR per item (see the module docstring)."""

    def __init__(self, part: INRSplit) -> None:
        self.part = part

    def __len__(self) -> int:
        return len(self.part)

    def __getitem__(self, i: int) -> dict:
        return as_dict(self.part, i)


class INRBatches(Dataset):
    """Whole mini-batches per item, by tensor indexing (see the module docstring)."""

    def __init__(self, part: INRSplit, batch_size: int, shuffle: bool = True, seed: int = 0, drop_last: bool = False):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.part, self.batch_size, self.shuffle, self.seed, self.drop_last = part, batch_size, shuffle, seed, drop_last
        self.epoch, self._order = 0, None

    def set_epoch(self, epoch: int) -> None:
        """Draw the next iterator's batches in epoch ``epoch``'s order."""
        self.epoch, self._order = epoch, None

    def __len__(self) -> int:
        n = len(self.part)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __getitem__(self, k: int) -> dict:
        if not 0 <= k < len(self):
            raise IndexError(f"batch {k} of {len(self)}")
        if self._order is None:
            generator = epoch_generator(self.seed, self.epoch)
            self._order = batch_indices(len(self.part), self.batch_size, self.shuffle, generator, self.drop_last)
        return as_dict(self.part, self._order[k])
