"""The one training loop: AdamW, linear warm-up then cosine, per-epoch evaluation, checkpoints that resume.

A :class:`Task` says how to draw one epoch of training batches, what a batch's loss is, and how to evaluate a
split; the loop does the rest. All randomness of epoch ``e`` comes from ``(seed, e)`` (the batch order, the
augmentations, and the global RNG for dropout), so a run resumed from its epoch-``e`` checkpoint computes
exactly what the uninterrupted run computes.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Protocol

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from weightaug import dist
from weightaug.io import UnreadableFileError, atomic_save, load_torch_file
from weightaug.rng import epoch_generator, epoch_seed

OPTIMIZERS = {
    "adamw": "AdamW, weight decay decoupled from the gradient (lr x weight_decay per step)",
    "adam": "Adam with weight decay as an L2 term in the gradient (coupled): the official augmentation trainer's",
    "sgd": "SGD with momentum 0.9 and L2 weight decay",
}
SCHEDULES = {"cosine": "linear warm-up, then cosine to 0", "constant": "the same learning rate throughout"}


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (the INR peers' recipe by default: AdamW lr 1e-3, weight decay 5e-4, batch 256)."""

    epochs: Annotated[int, "Epochs."] = 50
    batch_size: Annotated[int, "Networks per batch."] = 256
    lr: Annotated[float, "Peak learning rate."] = 1e-3
    weight_decay: Annotated[float, "Weight decay."] = 5e-4
    warmup_epochs: float = 1.0
    grad_clip: float | None = 10.0
    seed: Annotated[int, "Seed of the model's init, the batch order and the augmentations."] = 0
    device: Annotated[str, "cpu or cuda (bfloat16 autocast on CUDA)."] = "cpu"
    optimizer: Annotated[str, OPTIMIZERS] = "adamw"
    schedule: Annotated[str, SCHEDULES] = "cosine"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"epochs and batch_size must be >= 1 and lr > 0, got {self}")
        if self.optimizer not in OPTIMIZERS or self.schedule not in SCHEDULES:
            raise ValueError(
                f"optimizer must be one of {', '.join(OPTIMIZERS)} and schedule one of {', '.join(SCHEDULES)}, "
                f"got {self.optimizer!r} and {self.schedule!r}"
            )

    def make_optimizer(self, params) -> torch.optim.Optimizer:
        if self.optimizer == "sgd":
            return torch.optim.SGD(params, lr=self.lr, momentum=0.9, weight_decay=self.weight_decay)
        if self.optimizer == "adam":
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)


class Task(Protocol):
    """What the loop needs to train one model."""

    model: nn.Module

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
        """One epoch of training batches, as index tensors (cheap to count)."""
        ...

    def loss(self, batch: Tensor, generator: torch.Generator) -> Tensor: ...

    def evaluate(self) -> dict[str, float]:
        """Metrics after an epoch, e.g. ``{"val_acc": ..., "test_acc": ...}``; ``val_acc`` selects the best epoch."""
        ...

    # optional: ``final() -> dict``, what is measured once on the trained model after the last epoch
    # (kept as ``RunResult.final``)


@dataclass
class RunResult:
    """Per-epoch curves and the epoch the validation metric chose."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    seconds: float = 0.0
    final: dict = field(default_factory=dict)  # the task's final(), if it has one, after the last epoch

    @property
    def best(self) -> dict[str, float]:
        return self.history[self.best_epoch] if self.history else {}

    def to_dict(self) -> dict:
        return {**asdict(self), "best": self.best}


def fixed_subset(n: int, size: int, device: str | torch.device = "cpu") -> Tensor:
    """``size`` of ``n`` indices, the same in every run (for per-epoch curves on part of the training split)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(0))[:size].to(device)


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    """The learning-rate factor: linear from 0 over ``warmup`` steps, then cosine to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))


def autocast(device: str):
    """bfloat16 autocast on CUDA (mixed precision), nothing on the CPU."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if torch.device(device).type == "cuda" else nullcontext()


def load_checkpoint(path: Path, device: str) -> dict:
    """A checkpoint read with ``weights_only=True`` (see :func:`weightaug.io.load_torch_file`): one someone else
    wrote cannot run code; anything but tensors and plain data is refused naming the file."""
    try:
        return load_torch_file(path, device)
    except UnreadableFileError as err:
        if err.refused:
            raise ValueError(f"checkpoint {err}; delete it, and resume only from checkpoints you wrote") from err
        raise ValueError(f"checkpoint {path} is unreadable ({err.reason}); delete it to train from the start") from err


def rank_streams(seed: int, epoch: int, generator: torch.Generator) -> torch.Generator:
    """The generator of this rank's random draws in epoch ``epoch`` (augmentations): rank 0's is the epoch's
    own (as in one process), each other rank's is seeded from (seed, epoch, rank); the global RNG (dropout)
    is seeded likewise."""
    if dist.rank() == 0 or not dist.together():
        torch.manual_seed(epoch_seed(seed, epoch))
        return generator
    mixed = (epoch_seed(seed, epoch) * 1_000_033 + dist.rank()) % 2**63
    torch.manual_seed(mixed)
    return torch.Generator().manual_seed(mixed)


def rank_part(batch: Tensor) -> tuple[Tensor, float]:
    """This rank's part of a training batch and the weight of its mean loss, ``n_rank * world / n``, so that
    the gradient DDP averages over ranks is that of the whole batch's mean loss. A rank left without items
    (a batch smaller than the world) takes one with weight 0, since every rank must take every step."""
    if not dist.together():
        return batch, 1.0
    mine = batch[dist.part(len(batch))]
    if len(mine) == 0:
        return batch[:1], 0.0
    return mine, len(mine) * dist.world_size() / len(batch)


def train(
    task: Task,
    cfg: TrainConfig,
    checkpoint: str | Path | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    stop_after: int | None = None,
    ddp: bool = False,
) -> RunResult:
    """Train ``task.model`` for ``cfg.epochs`` epochs (resuming from ``checkpoint`` if it exists there).

    ``on_epoch(epoch, metrics)`` runs after each epoch, before its checkpoint (progress bars, trackers);
    ``stop_after`` ends the run after that many epochs in total, as if it were killed (for resume tests).
    ``ddp``, under torchrun: the ranks train this one model together with DistributedDataParallel, each on its
    part of every batch (the batches as in one process), with all-reduced metrics; rank 0 writes the
    checkpoint, which resumes under any number of ranks.
    """
    with dist.data_parallel(ddp):
        if dist.together() and not getattr(task, "data_parallel", False):
            raise ValueError(
                f"{type(task).__name__} does not train under DDP; train it in one process, or let torchrun's ranks "
                "share an experiment's runs (without --ddp)"
            )
        model = task.model
        if dist.together():
            dist.group()
            on = next(model.parameters()).device
            ids = [on.index] if on.type == "cuda" else None
            # static graph: the same parameters take part in every step (some models hold unused ones)
            task.model = DistributedDataParallel(model, ids, broadcast_buffers=False, static_graph=True)
        try:  # the loss calls task.model
            return _train(task, model, cfg, checkpoint, on_epoch, stop_after)
        finally:
            if task.model is not model:  # free the DDP wrapper now, not at interpreter teardown, where it can abort
                task.model = model
                gc.collect()


def _train(
    task: Task,
    model: nn.Module,
    cfg: TrainConfig,
    checkpoint: str | Path | None,
    on_epoch: Callable[[int, dict[str, float]], None] | None,
    stop_after: int | None,
) -> RunResult:
    opt = cfg.make_optimizer(model.parameters())
    steps_per_epoch = sum(1 for _ in task.batches(cfg.batch_size, epoch_generator(cfg.seed, 0)))
    if steps_per_epoch == 0:
        raise ValueError("the training split is empty: nothing to train on")
    warmup, total = round(cfg.warmup_epochs * steps_per_epoch), cfg.epochs * steps_per_epoch
    factor = (lambda s: warmup_cosine(s, warmup, total)) if cfg.schedule == "cosine" else (lambda s: 1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    result, start = RunResult(), 0
    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and path.is_file():
        state = load_checkpoint(path, cfg.device)
        if state["config"] != asdict(cfg):
            raise ValueError(
                f"checkpoint {path} was written with another configuration; delete it or choose another output"
            )
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        result = RunResult(**state["result"])
        start = len(result.history)
    began = time.time() - result.seconds
    for epoch in range(start, cfg.epochs if stop_after is None else min(cfg.epochs, stop_after)):
        gen = epoch_generator(cfg.seed, epoch)
        draws = rank_streams(cfg.seed, epoch, gen)
        model.train()
        losses = []
        for batch in task.batches(cfg.batch_size, gen):
            mine, weight = rank_part(batch)
            with autocast(cfg.device):
                loss = task.loss(mine, draws) * weight  # weight 1 in one process
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the training loss became {loss.item()} at epoch {epoch}; lower --lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            losses.append(loss.detach().float().cpu())
        # step_loss: the mean loss of the epoch's training steps (as trained: augmented, in shadow mode);
        # train_loss (from evaluate): the model in eval() on a fixed subset of the training split
        step_losses = dist.all_sum(torch.stack(losses)) / dist.world_size() if dist.together() else torch.stack(losses)
        model.eval()
        with torch.no_grad(), autocast(cfg.device):
            metrics = {"epoch": epoch, "step_loss": step_losses.mean().item(), **task.evaluate()}
        result.history.append(metrics)
        score = metrics.get("val_acc")  # without one, the last epoch counts
        if score is None or result.best_epoch < 0 or score > result.best["val_acc"]:
            result.best_epoch = epoch
        result.seconds = time.time() - began
        if on_epoch is not None:  # before the checkpoint: a kill in between repeats the epoch, not skips it
            on_epoch(epoch, metrics)
        if path is not None and dist.is_main():
            state = {
                "config": asdict(cfg),
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "result": asdict(result),
            }
            atomic_save(path, lambda tmp, state=state: torch.save(state, tmp))
    if len(result.history) == cfg.epochs and hasattr(task, "final"):
        model.eval()
        with torch.no_grad(), autocast(cfg.device):
            result.final = task.final()
    return result
