"""Several processes under torchrun: this process's rank, the process group (started on first use, from the
environment torchrun sets) and the few collectives the builders and trainers need. Every function also works
in a plain process, a world of one, where the collectives return at once."""

from __future__ import annotations

import atexit
import json
import os
import pickle
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.distributed as torch_dist

from weightaug.io import atomic_write_bytes

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


def bind_gpu() -> None:
    """Under torchrun on a GPU machine, make ``cuda`` mean this rank's GPU (its local rank)."""
    if world_size() > 1 and torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))


def group() -> None:
    """Start the process group if torchrun launched several processes (gloo for CPU tensors and objects, NCCL
    for CUDA tensors where CUDA is available)."""
    if world_size() > 1 and not torch_dist.is_initialized():
        backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
        torch_dist.init_process_group(backend, timeout=TIMEOUT)
        atexit.register(_close)


def _close() -> None:
    """Destroy the process group while the interpreter is still whole: left to interpreter teardown, gloo's
    worker threads can abort the process (SIGABRT, "terminate called without an active exception")."""
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()


_together = False  # inside data_parallel(): the ranks train one model, each on its part of every batch


@contextmanager
def data_parallel(enabled: bool = True) -> Iterator[None]:
    """Within the block (when ``enabled`` and there are several ranks) the ranks train one model together:
    :func:`part` splits batches and evaluation sets among them and metrics are summed over them."""
    global _together
    before, _together = _together, _together or (enabled and world_size() > 1)
    try:
        yield
    finally:
        _together = before


def together() -> bool:
    """Whether the ranks are training one model together (see :func:`data_parallel`)."""
    return _together


def part(n: int) -> slice:
    """This rank's contiguous share of ``n`` items when the ranks train together (sizes differ by at most
    one), else all of them."""
    if not _together:
        return slice(0, n)
    return slice(n * rank() // world_size(), n * (rank() + 1) // world_size())


def on_main(fn: Callable[[], T]) -> T:
    """``fn()`` run by rank 0 alone (judging a folder, writing what all share); its value, or the error it
    raised, on every rank, so that all go on together or all stop with the same message."""
    if world_size() == 1:
        return fn()
    value, error = None, None
    try:
        if is_main():
            value = fn()
    except Exception as e:  # raised again below, on every rank
        error = _portable(e)
    value, error = share((value, error))
    if error is not None:
        raise error
    return value


def _portable(e: Exception) -> Exception:
    """``e``, or where it does not survive pickling (a constructor of its own), its built-in base class with
    its message."""
    try:
        pickle.loads(pickle.dumps(e))
        return e
    except Exception:
        return next(c for c in type(e).__mro__ if c.__module__ == "builtins")(str(e))


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


class RankRecords:
    """What ranks other than 0 have finished, each in its own hidden JSON file in ``folder`` (written whole
    or not at all), for rank 0 to fold into the file it alone writes; records survive a killed run, so the
    next run, under any world size, keeps that work."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder, self.name = Path(folder), name

    def write(self, value: Any) -> None:
        """This rank's record (all it finished so far)."""
        atomic_write_bytes(self.folder / f".{self.name}-rank{rank()}.json", json.dumps(value).encode())

    def read(self) -> list[Any]:
        """Every record on disk, in rank order."""
        return [json.loads(p.read_text()) for p in self._paths()]

    def clear(self) -> None:
        for path in self._paths():
            path.unlink()

    def _paths(self) -> list[Path]:
        return sorted(self.folder.glob(f".{self.name}-rank*.json"), key=lambda p: int(p.stem.rsplit("rank", 1)[1]))
