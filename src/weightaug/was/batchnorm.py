"""BatchNorm statistics for evaluation, when the weights evaluated are not the weights that trained.

A network trained through shadow weights accumulates its BatchNorm running statistics under the shadow
weights; evaluated with its plain weights in eval() mode, it normalises with the statistics of other weights.
Three evaluations tell the effect apart: as trained (eval(), the stored statistics), after recalibrating the
statistics with the weights evaluated (``torch.optim.swa_utils.update_bn`` on fixed training batches), and the
paper's protocol, BatchNorm in train() mode at test time (every test batch normalised by its own statistics).
Each leaves the model's statistics and modes as they were.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.optim.swa_utils import update_bn


def batchnorms(model: nn.Module) -> list[_BatchNorm]:
    return [m for m in model.modules() if isinstance(m, _BatchNorm)]


@contextmanager
def kept_statistics(model: nn.Module) -> Iterator[list[_BatchNorm]]:
    """Restore every BatchNorm's running statistics, momentum and mode on exit."""
    layers = batchnorms(model)
    saved = [(m.training, m.momentum, {k: b.clone() for k, b in m.named_buffers(recurse=False)}) for m in layers]
    try:
        yield layers
    finally:
        for m, (training, momentum, buffers) in zip(layers, saved):
            m.train(training)
            m.momentum = momentum
            for k, b in buffers.items():
                getattr(m, k).copy_(b)


@contextmanager
def recalibrated(model: nn.Module, batches: Iterable[Tensor]) -> Iterator[None]:
    """The model with its BatchNorm statistics re-estimated on ``batches`` (their exact average, PyTorch's
    ``update_bn``) under the weights it computes with now; the old statistics return on exit."""
    with kept_statistics(model), torch.no_grad():
        update_bn(batches, model)
        yield


@contextmanager
def train_mode_batchnorm(model: nn.Module) -> Iterator[None]:
    """The model with its BatchNorm layers in train() mode (each batch normalised by its own statistics), the
    rest as it is; the statistics this updates are restored on exit."""
    with kept_statistics(model) as layers:
        for m in layers:
            m.train()
        yield
