"""Occupancy INRs of the procedural shapes: batched fitting against one INR at a time, and the fits' quality.

(a) speed: INR-steps/s of the batched fitter at several chunk sizes (default recipe: 3-32-32-1 SIREN, w0 5,
    2,048 uniform + 2,048 near-surface points, Adam) against one nn.Module and one Adam per shape, same init,
    points, loss and steps, measured in the same run;
(b) quality: held-out IoU (16,384 uniform points per shape) per class, and the w0 that the default takes
    against SIREN's w0 30, on the same shapes.

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


def one_at_a_time(points: torch.Tensor, occupancy: torch.Tensor, obj: int, fit: FitConfig) -> float:
    """One shape, fitted the usual way: nn.Linear layers, autograd, torch.optim.Adam; returns its seconds."""
    layers = nn.ModuleList([nn.Linear(3, 32), nn.Linear(32, 32), nn.Linear(32, 1)])
    start = init_weights(SPEC, fit.init, 0, torch.tensor([obj]), torch.tensor([0]))
    for layer, w, b in zip(layers, start.weights, start.biases):
        layer.weight.data.copy_(w[0])
        layer.bias.data.copy_(b[0])
    opt = torch.optim.Adam(layers.parameters(), lr=fit.for_spec(SPEC).lr)
    began = time.perf_counter()
    for _ in range(fit.steps):
        x = points
        for layer in layers[:-1]:
            x = torch.sin(SPEC.w0 * layer(x))
        logits = layers[-1](x)
        if iou(logits[None], occupancy[None])[0] >= fit.target_for("bce"):
            break
        loss = nn.functional.binary_cross_entropy_with_logits(logits, occupancy)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - began


def held_out_iou(spec: NetworkSpec, ids: torch.Tensor, fit: FitConfig) -> tuple[torch.Tensor, float]:
    points, occupancy = occupancy_samples(SHAPES, ids, 2048, 2048, 0.02, seed=0)
    began = time.perf_counter()
    weights, _ = fit_inrs(spec, occupancy[..., None], fit, 0, ids, torch.zeros_like(ids), points, loss="bce")
    seconds = time.perf_counter() - began
    held, held_occupancy = held_out_samples(SHAPES, ids, 16384, seed=0)
    return iou(weights(held), held_occupancy), seconds


def steps_per_second(ids: torch.Tensor, chunk: int, steps: int) -> float:
    points, occupancy = occupancy_samples(SHAPES, ids, 2048, 2048, 0.02, seed=0)
    fit = FitConfig(steps=steps, chunk_size=chunk, target_iou=None)
    began = time.perf_counter()
    fit_inrs(SPEC, occupancy[..., None], fit, 0, ids, torch.zeros_like(ids), points, loss="bce")
    return len(ids) * steps / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer shapes")
    args = parser.parse_args()
    torch.manual_seed(0)
    n, naive_n, steps = (48, 2, 50) if args.quick else (120, 4, 100)
    ids = torch.arange(n)  # n / 12 shapes of every class
    print(f"threads {torch.get_num_threads()}; {n} shapes batched, {naive_n} one at a time, {steps} steps each")
    steps_per_second(ids[:16], 16, 3)  # compile the kernels first
    points, occupancy = occupancy_samples(SHAPES, ids[:naive_n], 2048, 2048, 0.02, seed=0)
    fit = FitConfig(steps=steps, target_iou=None)
    naive = naive_n * steps / sum(one_at_a_time(points[k], occupancy[k, :, None], k, fit) for k in range(naive_n))
    print(f"(a) one at a time: {naive:.0f} INR-steps/s")
    for chunk in (4, 16, 64, n):
        batched = steps_per_second(ids, chunk, steps)
        print(f"    batched, chunk {chunk:>3}: {batched:.0f} INR-steps/s, {batched / naive:.2f}x")
    measured, _ = held_out_iou(SPEC, ids, FitConfig(chunk_size=16))
    q = torch.quantile(measured, torch.tensor([0.0, 0.1, 0.5])).tolist()
    print(f"(b) held-out IoU, default recipe (500 steps): mean {measured.mean():.3f} ± {measured.std():.3f}, "
          f"min {q[0]:.3f}, p10 {q[1]:.3f}, median {q[2]:.3f}")  # fmt: skip
    for k, name in enumerate(SHAPES.classes):
        print(f"    {name:<11} {measured[k::12].mean():.3f}")
    siren, _ = held_out_iou(NetworkSpec(in_dim=3, hidden=(32, 32), out_dim=1, w0=30.0), ids, FitConfig(chunk_size=16))
    print(f"    w0 30 (SIREN's) on the same shapes: mean {siren.mean():.3f} (w0 5: {measured.mean():.3f})")


if __name__ == "__main__":
    main()
