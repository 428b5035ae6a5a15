"""Which fitting learning rate suits which SIREN: mean PSNR over a grid of widths, depths and learning rates.

The default recipe (Adam, 500 steps, stop at 40 dB) was tuned on 2-32-32-1; a 2-64-64-64-1 SIREN stays near
8.5 dB at its lr 5e-3. This fits the same images with every (width, depth, lr) of the grid, prints the mean
PSNR per cell and the best lr per architecture, and the PSNR the rule in ``weightaug.inr.fit.default_lr``
reaches next to the best cell, so the rule can be checked against the measurement in the same run.

Run: .venv/bin/python benchmarks/bench_fit_lr.py [--images 32] [--source fashion-mnist]
"""

from __future__ import annotations

import argparse
import time

import torch

from weightaug.inr.fit import FitConfig, coordinate_grid, default_lr, fit_inrs, image_targets
from weightaug.inr.sources import load_source
from weightaug.weights import NetworkSpec

WIDTHS = (32, 64, 128)
DEPTHS = (2, 3, 4)
LRS = (1e-2, 5e-3, 2e-3, 1e-3, 5e-4, 2e-4)


def mean_psnr(spec: NetworkSpec, targets: torch.Tensor, coords: torch.Tensor, lr: float) -> float:
    ids = torch.arange(len(targets))
    cfg = FitConfig(lr=lr, chunk_size=len(targets), max_refits=0)
    try:
        _, psnr = fit_inrs(spec, targets, cfg, 0, ids, torch.zeros_like(ids), coords)
    except RuntimeError:  # diverged
        return float("nan")
    return psnr.mean().item()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--source", default="fashion-mnist")
    args = parser.parse_args()
    src = load_source(args.source)
    idx = torch.arange(src.n_train, src.n_train + args.images)  # test images
    images = src.float_images(idx)
    targets, coords = image_targets(images), coordinate_grid(*images.shape[-2:])
    print(f"{args.source}, {args.images} test images, 500 steps, stop at 40 dB; mean PSNR (dB) per lr")
    print("| spec | " + " | ".join(f"{lr:g}" for lr in LRS) + " | best | rule: lr | rule: PSNR |")
    print("|---" * (len(LRS) + 4) + "|")
    for depth in DEPTHS:
        for width in WIDTHS:
            spec = NetworkSpec(hidden=(width,) * depth, out_dim=src.shape[0], output_offset=0.5)
            start = time.time()
            row = {lr: mean_psnr(spec, targets, coords, lr) for lr in LRS}
            best = max(row, key=lambda lr: row[lr] if row[lr] == row[lr] else -1)
            rule = default_lr(spec)
            rule_psnr = row[rule] if rule in row else mean_psnr(spec, targets, coords, rule)
            cells = " | ".join(f"{row[lr]:.1f}" for lr in LRS)
            name = "-".join(map(str, spec.widths))
            print(f"| {name} | {cells} | {best:g} | {rule:.2g} | {rule_psnr:.1f} | ({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
