"""Occupancy INRs of the procedural shapes: batched fitting against one INR at a time, and the fits' quality.

(a) speed: INR-steps/s of the batched fitter at several chunk sizes (default recipe: 3-32-32-1 SIREN, w0 5,
    2,048 uniform + 2,048 near-surface points per shape, 1,024 of them a step, Adam) against one nn.Module and
    one Adam per shape, same init, points, loss and steps, measured in the same run; and with all 4,096
    points a step;
(b) quality: held-out IoU (16,384 uniform points per shape) per class, against all points a step, and the
    w0 that the default takes against SIREN's w0 30, on the same shapes.

Run: .venv/bin/python benchmarks/bench_fit_occupancy.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from weightaug.data.occupancy import held_out_samples, iou, occupancy_samples
from weightaug.data.shapes import ProceduralShapes
from weightaug.inr.fit import FitConfig, fit_inrs
from weightaug.inr.init import init_weights
from weightaug.weights import NetworkSpec

SPEC = NetworkSpec(in_dim=3, hidden=(32, 32), out_dim=1, w0=5.0)
SHAPES = ProceduralShapes()


def one_at_a_time(points: torch.Tensor, occupancy: torch.Tensor, obj: int, fit: FitConfig, per_step: int) -> float:
    """One shape, fitted the usual way: nn.Linear layers, autograd, torch.optim.Adam, ``per_step`` of its points
    a step in a random order; returns its seconds."""
    layers = nn.ModuleList([nn.Linear(3, 32), nn.Linear(32, 32), nn.Linear(32, 1)])
    start = init_weights(SPEC, fit.init, 0, torch.tensor([obj]), torch.tensor([0]))
    for layer, w, b in zip(layers, start.weights, start.biases):
        layer.weight.data.copy_(w[0])
        layer.bias.data.copy_(b[0])
    opt = torch.optim.Adam(layers.parameters(), lr=fit.for_spec(SPEC).lr)
    order = torch.randperm(len(points)).view(-1, per_step)
    began = time.perf_counter()
    for step in range(fit.steps):
        at = order[step % len(order)]
        x, target = points[at], occupancy[at]
        for layer in layers[:-1]:
            x = torch.sin(SPEC.w0 * layer(x))
        logits = layers[-1](x)
        if iou(logits[None], target[None])[0] >= fit.target_for("bce"):
            break
        loss = nn.functional.binary_cross_entropy_with_logits(logits, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - began


def held_out_iou(spec: NetworkSpec, ids: torch.Tensor, fit: FitConfig, per_step: int | None) -> torch.Tensor:
    points, occupancy = occupancy_samples(SHAPES, ids, 2048, 2048, 0.02, seed=0)
    views = torch.zeros_like(ids)
    weights, _ = fit_inrs(spec, occupancy[..., None], fit, 0, ids, views, points, loss="bce", points_per_step=per_step)
    held, held_occupancy = held_out_samples(SHAPES, ids, 16384, seed=0)
    return iou(weights(held), held_occupancy)


def steps_per_second(ids: torch.Tensor, chunk: int, steps: int, per_step: int | None) -> float:
    points, occupancy = occupancy_samples(SHAPES, ids, 2048, 2048, 0.02, seed=0)
    fit = FitConfig(steps=steps, chunk_size=chunk, target_iou=None)
    began = time.perf_counter()
    fit_inrs(
        SPEC, occupancy[..., None], fit, 0, ids, torch.zeros_like(ids), points, loss="bce", points_per_step=per_step
    )
    return len(ids) * steps / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer shapes")
    args = parser.parse_args()
    torch.manual_seed(0)
    n, naive_n, steps = (48, 2, 50) if args.quick else (120, 4, 100)
    ids = torch.arange(n)  # n / 12 shapes of every class
    print(f"threads {torch.get_num_threads()}; {n} shapes batched, {naive_n} one at a time, {steps} steps each")
    steps_per_second(ids[:16], 16, 3, 1024)  # compile the kernels first
    points, occupancy = occupancy_samples(SHAPES, ids[:naive_n], 2048, 2048, 0.02, seed=0)
    fit = FitConfig(steps=steps, target_iou=None)
    for per_step in (1024, 4096):
        naive = (
            naive_n
            * steps
            / sum(one_at_a_time(points[k], occupancy[k, :, None], k, fit, per_step) for k in range(naive_n))
        )
        print(f"(a) {per_step} points a step: one at a time {naive:.0f} INR-steps/s")
        for chunk in (4, 16, 64, n):
            batched = steps_per_second(ids, chunk, steps, per_step)
            print(f"    batched, chunk {chunk:>3}: {batched:.0f} INR-steps/s, {batched / naive:.2f}x")
    default = FitConfig(chunk_size=16)
    for per_step in (1024, 4096):
        began = time.perf_counter()
        measured = held_out_iou(SPEC, ids, default, per_step)
        rate = n / (time.perf_counter() - began)
        q = torch.quantile(measured, torch.tensor([0.0, 0.1, 0.5])).tolist()
        print(f"(b) {per_step} points a step, 500 steps: {rate:.2f} INRs/s, held-out IoU {measured.mean():.3f} ± "
              f"{measured.std():.3f}, min {q[0]:.3f}, p10 {q[1]:.3f}, median {q[2]:.3f}")  # fmt: skip
        print("    " + ", ".join(f"{name} {measured[k::12].mean():.3f}" for k, name in enumerate(SHAPES.classes)))
    siren = held_out_iou(NetworkSpec(in_dim=3, hidden=(32, 32), out_dim=1, w0=30.0), ids, default, 1024)
    print(f"    w0 30 (SIREN's), 1024 points a step, on the same shapes: mean {siren.mean():.3f}")


if __name__ == "__main__":
    main()
