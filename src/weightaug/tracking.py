"""Experiment tracking besides a run's files: TensorBoard, or Weights & Biases (offline unless told otherwise).

The files stay the record (results.json, curves, table, plot); a tracker also gets, per training run, the
config, every epoch's metrics (its step is the epoch) and the final table. A resumed run writes to the same
log: the same TensorBoard folder, the same wandb run id (``resume="allow"``). A run killed between logging an
epoch and checkpointing it logs that epoch again on resume, with the same values (the loop is deterministic).

- ``tensorboard``: ``FOLDER/tensorboard/<run>`` (``tensorboard --logdir FOLDER/tensorboard``), flushed every
  epoch; the config and tables as text. Needs ``pip install 'weightaug[tensorboard]'``.
- ``wandb``: project ``weightaug``, under ``FOLDER/wandb``, in offline mode (no network) unless ``WANDB_MODE``
  says otherwise (``wandb sync FOLDER/wandb/offline-run-*`` uploads later); tables as ``wandb.Table``. Needs
  ``pip install 'weightaug[wandb]'``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

TRACKERS = {
    "none": "the run's files only (results.json, curves, table, plot)",
    "tensorboard": "also TensorBoard event files under OUT/tensorboard",
    "wandb": "also Weights & Biases, offline under OUT/wandb unless WANDB_MODE is set",
}


class Tracker:
    """Tracks nothing (``none``); the base of the others. A context manager that closes the log."""

    def epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        """One epoch's metrics (``epoch`` itself is the step)."""

    def table(self, name: str, markdown: str) -> None:
        """A final table, as the markdown of table.md."""

    def close(self) -> None:
        """Flush and close the log."""

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def scalars(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if k != "epoch" and isinstance(v, int | float)}


def markdown_tables(markdown: str) -> list[tuple[list[str], list[list[str]]]]:
    """The tables of a markdown text: (header, rows) each, cells stripped, separator rows dropped."""
    tables, current = [], []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                current.append(cells)
        elif current:
            tables.append((current[0], current[1:]))
            current = []
    return tables


def check(kind: str) -> None:
    """Refuse an unknown tracker, or one whose package is not installed, before any work starts."""
    if kind not in TRACKERS:
        raise ValueError(f"unknown tracker {kind!r}; choose from: {', '.join(TRACKERS)}")
    if kind != "none":
        try:
            __import__("torch.utils.tensorboard" if kind == "tensorboard" else "wandb")
        except ImportError as err:
            raise ImportError(
                f"--log {kind} needs the {kind} package ({err}): pip install 'weightaug[{kind}]'"
            ) from err


class TensorBoardTracker(Tracker):
    def __init__(self, folder: Path, run: str, config: dict) -> None:
        from torch.utils.tensorboard import SummaryWriter

        log_dir = folder / "tensorboard" / run
        resumed = log_dir.is_dir()
        self.writer = SummaryWriter(log_dir=str(log_dir))
        if not resumed:
            self.writer.add_text("config", f"```json\n{json.dumps(config, indent=1, default=str)}\n```", 0)

    def epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        for key, value in scalars(metrics).items():
            self.writer.add_scalar(key, value, epoch)
        self.writer.flush()

    def table(self, name: str, markdown: str) -> None:
        self.writer.add_text(name, markdown, 0)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandbTracker(Tracker):
    def __init__(self, folder: Path, run: str, config: dict, group: str | None) -> None:
        import wandb

        self.wandb = wandb
        folder.mkdir(parents=True, exist_ok=True)
        run_id = hashlib.sha256(f"{folder.resolve()}|{run}".encode()).hexdigest()[:16]  # the same on resume
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "weightaug"),
            dir=str(folder),
            name=run,
            group=group,
            id=run_id,
            resume="allow",
            config=json.loads(json.dumps(config, default=str)),
            mode=os.environ.get("WANDB_MODE", "offline"),
            settings=wandb.Settings(silent=True, console="off"),
        )

    def epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        self.run.log(scalars(metrics), step=epoch)

    def table(self, name: str, markdown: str) -> None:
        for k, (header, rows) in enumerate(markdown_tables(markdown)):
            width = len(header)
            rows = [(row + [""] * width)[:width] for row in rows]
            self.run.log({name if k == 0 else f"{name}_{k + 1}": self.wandb.Table(columns=header, data=rows)})

    def close(self) -> None:
        self.run.finish()


def open_tracker(kind: str, folder: str | Path, run: str, config: dict, group: str | None = None) -> Tracker:
    """The tracker ``kind`` (:data:`TRACKERS`) for training run ``run`` whose files go to ``folder``."""
    check(kind)
    folder, run = Path(folder), re.sub(r"[^\w.=+-]+", "_", run).strip("_") or "run"
    if kind == "tensorboard":
        return TensorBoardTracker(folder, run, config)
    if kind == "wandb":
        return WandbTracker(folder, run, config, group)
    return Tracker()
