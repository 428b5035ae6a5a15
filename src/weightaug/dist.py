"""Several processes under torchrun: this process's rank, the process group (started on first use, from the
environment torchrun sets) and the few collectives the builders and trainers need. Every function also works
in a plain process, a world of one, where the collectives return at once."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as torch_dist

T = TypeVar("T")
# Ranks meet only between long pieces of work (a shard of fitting, an epoch), so a collective may wait hours for
# the slowest rank: far beyond torch's default of 10-30 minutes.
TIMEOUT = timedelta(hours=24)


def world_size() -> int:
    """How many processes run this command (torchrun's WORLD_SIZE; 1 when started plainly)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    """Whether this process writes what all of them share (results, manifests, checkpoints) and shows progress."""
    return rank() == 0


def device(name: str) -> torch.device:
    """``name`` for this process: under torchrun, ``cuda`` is the GPU of its local rank."""
    d = torch.device(name)
    if d.type == "cuda" and d.index is None and world_size() > 1:
        d = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(d)
    return d


def group() -> None:
    """Start the process group if torchrun launched several processes (gloo for CPU tensors and objects, NCCL
    for CUDA tensors where CUDA is available)."""
    if world_size() > 1 and not torch_dist.is_initialized():
        backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
        torch_dist.init_process_group(backend, timeout=TIMEOUT)


def share(obj: T) -> T:
    """Rank 0's ``obj`` on every rank."""
    if world_size() == 1:
        return obj
    group()
    box = [obj]
    torch_dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(obj: T) -> list[T]:
    """Every rank's ``obj``, in rank order, on every rank (a barrier too)."""
    if world_size() == 1:
        return [obj]
    group()
    out: list[Any] = [None] * world_size()
    torch_dist.all_gather_object(out, obj)
    return out


def all_sum(t: torch.Tensor) -> torch.Tensor:
    """The sum of ``t`` over ranks (a new tensor; ``t`` is left as it is)."""
    if world_size() == 1:
        return t.clone()
    group()
    out = t.clone()
    torch_dist.all_reduce(out)
    return out
