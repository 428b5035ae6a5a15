"""Tracking overhead: what `--log tensorboard` and `--log wandb` (offline) add per epoch and per run.

In the same run: a training epoch of dwsnet on 512 fitted digits INRs (batch 256, two steps: the smallest
epoch the presets have, so the largest relative overhead) against a tracker's epoch (the metrics of one epoch
logged and flushed), and the cost of opening and closing a tracker once per run.

Run: .venv/bin/python benchmarks/bench_tracking.py [--epochs 200] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from torch.nn.functional import cross_entropy

from common import fitted_digits, timed
from weightaug.models import build_model
from weightaug.tracking import open_tracker
from weightaug.weights import NetworkSpec

SPEC = NetworkSpec(output_offset=0.5)
METRICS = {"epoch": 0, "step_loss": 1.0, "train_acc": 0.5, "train_loss": 1.2, "val_acc": 0.5, "val_loss": 1.3}


def training_epoch_s() -> float:
    torch.manual_seed(0)
    weights, labels = fitted_digits(SPEC, 512)
    model = build_model("dwsnet", SPEC)
    model.fit_normaliser(weights)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def epoch():
        for index in torch.randperm(512).split(256):
            loss = cross_entropy(model(weights[index]), labels[index])
            opt.zero_grad()
            loss.backward()
            opt.step()

    epoch()
    return timed(epoch, 5)[0]


def tracker_costs(kind: str, epochs: int, folder: Path) -> tuple[float, float]:
    """(seconds per logged epoch, seconds to open and close a tracker)."""
    start = time.perf_counter()
    tracker = open_tracker(kind, folder, "bench", {"model": "dwsnet"})
    opened = time.perf_counter() - start
    start = time.perf_counter()
    for epoch in range(epochs):
        tracker.epoch(epoch, {**METRICS, "epoch": epoch})
    per_epoch = (time.perf_counter() - start) / epochs
    start = time.perf_counter()
    tracker.close()
    return per_epoch, opened + time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200, help="epochs logged per tracker")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    epoch_s = training_epoch_s()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"training epoch (dwsnet, 512 INRs, batch 256): {1e3 * epoch_s:.1f} ms")
    figures = {"training_epoch_s": epoch_s}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("none", "tensorboard", "wandb"):
            per_epoch, per_run = tracker_costs(kind, args.epochs, Path(tmp) / kind)
            figures[kind] = {"per_epoch_s": per_epoch, "per_run_s": per_run, "of_training_epoch": per_epoch / epoch_s}
            print(f"{kind:>12}: {1e3 * per_epoch:7.3f} ms per epoch ({100 * per_epoch / epoch_s:.2f}% of the "
                  f"training epoch), {per_run:.2f} s to open and close per run")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
