"""Which fitting learning rate suits which SIREN: the rule of ``default_lr`` against the former fixed 5e-3.

The recipe's 5e-3 was tuned on 2-32-32-1; a 2-64-64-64-1 SIREN fitted at it collapses to about 9 dB. For
widths 32-128 and 2-4 hidden layers, this fits the same images (Fashion-MNIST test images, 28x28, and digits,
8x8) at 5e-3 and at the rule's rate in the same run, and prints mean and worst PSNR of each. ``--grid`` also
prints mean PSNR over a grid of rates (the measurement the rule was read from).

Run: .venv/bin/python benchmarks/bench_fit_lr.py [--images 64] [--grid]
"""

from __future__ import annotations

import argparse
import time

import torch

from weightaug.data.sources import load_source
from weightaug.inr.fit import MAX_LR, FitConfig, coordinate_grid, default_lr, fit_inrs, image_targets
from weightaug.weights import NetworkSpec

WIDTHS = (32, 64, 128)
DEPTHS = (2, 3, 4)
GRID = (1e-2, 5e-3, 2e-3, 1e-3, 5e-4, 2e-4)


def psnr(spec: NetworkSpec, targets: torch.Tensor, coords: torch.Tensor, lr: float) -> tuple[float, float]:
    """Mean and minimum PSNR of the default recipe (500 steps, stop at 40 dB) at ``lr``; NaN if it diverged."""
    ids = torch.arange(len(targets))
    cfg = FitConfig(lr=lr, chunk_size=len(targets), max_refits=0)
    try:
        _, p = fit_inrs(spec, targets, cfg, 0, ids, torch.zeros_like(ids), coords)
    except RuntimeError:
        return float("nan"), float("nan")
    return p.mean().item(), p.min().item()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--grid", action="store_true", help="also the mean PSNR over a grid of learning rates")
    args = parser.parse_args()
    data = {}
    for name in ("fashion-mnist", "digits"):
        src = load_source(name)
        idx = torch.arange(src.n_train, src.n_train + args.images) if src.n_train else torch.arange(args.images)
        images = src.float_images(idx)
        data[name] = image_targets(images), coordinate_grid(*images.shape[-2:])
    print(f"{args.images} images each, 500 steps, stop at 40 dB: PSNR mean / worst, dB")
    head = "| spec | rule lr | " + " | ".join(f"{n} at {MAX_LR:g} | {n} at the rule" for n in data) + " |"
    print(head + "\n" + "|---" * (head.count("|") - 1) + "|")
    for depth in DEPTHS:
        for width in WIDTHS:
            spec = NetworkSpec(hidden=(width,) * depth, output_offset=0.5)
            lr, cells, start = default_lr(spec), [], time.time()
            for targets, coords in data.values():
                for rate in (MAX_LR, lr):
                    mean, worst = psnr(spec, targets, coords, rate)
                    cells.append(f"{mean:.1f} / {worst:.1f}")
            name = "-".join(map(str, spec.widths))
            print(f"| {name} | {lr:.2g} | " + " | ".join(cells) + f" | ({time.time() - start:.0f} s)", flush=True)
    if args.grid:
        targets, coords = data["fashion-mnist"]
        print("\nFashion-MNIST, mean PSNR per learning rate:\n| spec | " + " | ".join(f"{r:g}" for r in GRID) + " |")
        for depth in DEPTHS:
            for width in WIDTHS:
                spec = NetworkSpec(hidden=(width,) * depth, output_offset=0.5)
                row = " | ".join(f"{psnr(spec, targets, coords, r)[0]:.1f}" for r in GRID)
                print(f"| {'-'.join(map(str, spec.widths))} | {row} |", flush=True)


if __name__ == "__main__":
    main()
