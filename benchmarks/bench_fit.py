"""Batched INR fitting vs the usual one-INR-at-a-time loop, side by side in one run.

(a) time to quality: INRs/s that reach the target PSNR, weightaug's default recipe vs one nn.Module and
    one Adam per image with the peers' recipe (lr 5e-4, up to 1,000 steps, stop at the target);
(b) per step at equal steps and width, for several chunk sizes (the default is picked from this), with
    achieved GFLOP/s next to a large fp32 matmul measured in the same run;
(c) quality: PSNR distribution of the default recipe on Fashion-MNIST test images and on digits;
(d) memory: peak RSS of building the whole 70k-image Fashion-MNIST dataset vs a 7k subset (1 step each).

Run: .venv/bin/python benchmarks/bench_fit.py [--quick]. Needs dataset-fashion-mnist (Debian package).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import torch
from torch import nn

from weightaug.data.sources import load_source
from weightaug.inr.fit import FitConfig, coordinate_grid, fit_inrs, image_targets, loss_and_grads
from weightaug.inr.init import init_weights
from weightaug.kernels import keep_freed_memory
from weightaug.weights import NetworkSpec

SPEC = NetworkSpec(output_offset=0.5)


class Siren(nn.Module):
    """A SIREN written the usual way, as the peers' fitting scripts do."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(2, 32), nn.Linear(32, 32), nn.Linear(32, 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = torch.sin(30.0 * layer(x))
        return self.layers[-1](x) + 0.5


def naive_module(obj: int) -> Siren:
    """Same Sitzmann init as the batched fitter, so only the loop differs."""
    m = Siren()
    w = init_weights(SPEC, "sitzmann", 0, torch.tensor([obj]), torch.tensor([0]))
    for layer, wt, b in zip(m.layers, w.weights, w.biases):
        layer.weight.data.copy_(wt[0])
        layer.bias.data.copy_(b[0])
    return m


def naive_fit(
    target: torch.Tensor, coords: torch.Tensor, obj: int, steps: int, lr: float, psnr_target: float | None
) -> tuple[float, int]:
    m = naive_module(obj)
    opt = torch.optim.Adam(m.parameters(), lr=lr)
    psnr = 0.0
    for step in range(steps):
        opt.zero_grad()
        loss = (m(coords) - target).square().mean()
        psnr = -10 * torch.log10(loss).item()
        if psnr_target is not None and psnr >= psnr_target:
            return psnr, step
        loss.backward()
        opt.step()
    return psnr, steps


def matmul_gflops() -> float:
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    t = time.perf_counter()
    for _ in range(5):
        a @ b
    return 5 * 2 * 2048**3 / (time.perf_counter() - t) / 1e9


def step_flops(spec: NetworkSpec, n_coords: int) -> float:
    """Matmul FLOPs of one forward+backward per INR (forward, weight grads, input grads but layer 0's)."""
    per_layer = [2 * n_coords * o * i for o, i in spec.weight_shapes]
    return 3 * sum(per_layer) - per_layer[0]


def per_step(args, src, coords) -> dict:
    steps = 20
    out = {"chunks": {}}
    for chunk in args.chunks:
        ids = torch.arange(60_000, 60_000 + chunk)
        w = init_weights(SPEC, "sitzmann", 0, ids, ids * 0)
        params = [t.clone() for t in w.tensors()]
        targets = image_targets(src.float_images(ids))
        loss_and_grads(SPEC, params, coords, targets)
        t = time.perf_counter()
        for _ in range(steps):
            loss_and_grads(SPEC, params, coords, targets)
        us = (time.perf_counter() - t) / steps / chunk * 1e6
        out["chunks"][chunk] = {"us_per_inr_step": us, "gflops": step_flops(SPEC, coords.shape[0]) / us / 1e3}
    # the same steps through the full fitter (Adam included, no early stop), at the best chunk
    best = min(out["chunks"], key=lambda c: out["chunks"][c]["us_per_inr_step"])
    ids = torch.arange(60_000, 60_000 + 4 * best)
    cfg = FitConfig(steps=steps, target_psnr=None, chunk_size=best)
    t = time.perf_counter()
    fit_inrs(SPEC, image_targets(src.float_images(ids)), cfg, 0, ids, ids * 0, coords)
    out["batched_us_per_step"] = (time.perf_counter() - t) / steps / len(ids) * 1e6
    out["best_chunk"] = best
    naive = []
    for obj in range(60_000, 60_000 + args.naive_images):
        target = src.float_images(torch.tensor([obj]))[0].flatten()[:, None]
        t = time.perf_counter()
        naive_fit(target, coords, obj, 100, 5e-4, None)
        naive.append((time.perf_counter() - t) / 100 * 1e6)
    out["naive_us_per_step"] = sum(naive) / len(naive)
    out["ratio"] = out["naive_us_per_step"] / out["batched_us_per_step"]
    return out


def warm_up(src, coords) -> float:
    """Compile the fused kernels for every shape the early-stopping loop meets (batch sizes > 1 and 1)."""
    ids = torch.arange(60_000, 60_003)
    t = time.perf_counter()
    fit_inrs(
        SPEC,
        image_targets(src.float_images(ids)),
        FitConfig(steps=300, target_psnr=30.0, chunk_size=3),
        0,
        ids,
        ids * 0,
        coords,
    )
    return time.perf_counter() - t


def time_to_quality(args, src, coords) -> dict:
    target = args.target
    ids = torch.arange(60_000, 60_000 + args.images)
    cfg = FitConfig(target_psnr=target)
    t = time.perf_counter()
    _, psnr = fit_inrs(SPEC, image_targets(src.float_images(ids)), cfg, 0, ids, ids * 0, coords)
    dt = time.perf_counter() - t
    batched = {"inrs": len(ids), "seconds": dt, "reached": int((psnr >= target).sum()), "psnr_mean": psnr.mean().item()}
    batched["inrs_per_s"] = batched["reached"] / dt
    t = time.perf_counter()
    results = []
    for obj in range(60_000, 60_000 + args.naive_images):
        tgt = src.float_images(torch.tensor([obj]))[0].flatten()[:, None]
        results.append(naive_fit(tgt, coords, obj, 1000, 5e-4, target))
    dt = time.perf_counter() - t
    reached = sum(p >= target for p, _ in results)
    naive = {
        "inrs": args.naive_images,
        "seconds": dt,
        "reached": reached,
        "mean_steps": sum(s for _, s in results) / len(results),
    }
    naive["inrs_per_s"] = reached / dt
    return {
        "target_psnr": target,
        "batched": batched,
        "naive": naive,
        "ratio": batched["inrs_per_s"] / naive["inrs_per_s"],
    }


def quality(src, digits) -> dict:
    out = {}
    for name, source, ids in (
        ("fashion-mnist test[:512]", src, torch.arange(60_000, 60_512)),
        ("digits (all 1797)", digits, torch.arange(1797)),
    ):
        coords = coordinate_grid(*source.shape[1:])
        _, psnr = fit_inrs(SPEC, image_targets(source.float_images(ids)), FitConfig(), 0, ids, ids * 0, coords)
        q = torch.quantile(psnr, torch.tensor([0.0, 0.1, 0.5, 0.9])).tolist()
        out[name] = {
            "mean": psnr.mean().item(),
            "std": psnr.std().item(),
            "min": q[0],
            "p10": q[1],
            "median": q[2],
            "p90": q[3],
        }
    return out


def peak_rss_of_build(train_size: int | None, test_size: int | None, tmp: str) -> float:
    """Peak RSS (MiB) of a `weightaug fit` of Fashion-MNIST with 1 step per INR, in a fresh process."""
    sizes = [] if train_size is None else ["--train-size", str(train_size), "--test-size", str(test_size)]
    cmd = [
        sys.executable,
        "-m",
        "weightaug.cli",
        "fit",
        "--source",
        "fashion-mnist",
        "--steps",
        "1",
        "--chunk-size",
        "512",
        "--out",
        tmp,
        "--overwrite",
        *sizes,
    ]
    code = "import resource, runpy, sys; sys.argv = sys.argv[1:]; sys.argv[0] = 'weightaug'\ntry:\n    runpy.run_module('weightaug.cli', run_name='__main__')\nexcept SystemExit:\n    pass\nprint('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    out = subprocess.run([sys.executable, "-c", code, *cmd[2:]], capture_output=True, text=True, check=True).stdout
    return int(out.split("PEAK")[-1]) / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer images (about 2 minutes)")
    p.add_argument("--target", type=float, default=35.0)
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args()
    args.images = 256 if args.quick else 1024
    args.naive_images = 4 if args.quick else 12
    args.chunks = [16, 32, 64, 128, 256, 512]
    tuned = keep_freed_memory()  # as the CLI does
    src = load_source("fashion-mnist")
    coords = coordinate_grid(28, 28)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, malloc tuned: {tuned}, SIREN {SPEC.widths} on 28x28 Fashion-MNIST test images"
    )
    res = {"matmul_gflops": matmul_gflops(), "warm_up_seconds": warm_up(src, coords)}
    print(f"one-time kernel compilation (excluded from the timings below): {res['warm_up_seconds']:.1f} s")
    res["per_step"] = ps = per_step(args, src, coords)
    print("\n(b) per step at equal steps and width (matmul FLOPs only; element-wise work not counted)")
    print(f"{'chunk':>6} {'us/INR-step':>12} {'GFLOP/s':>8}")
    for chunk, d in ps["chunks"].items():
        print(f"{chunk:>6} {d['us_per_inr_step']:>12.1f} {d['gflops']:>8.1f}")
    print(f"large fp32 matmul (2048^2) in this run: {res['matmul_gflops']:.1f} GFLOP/s")
    print(
        f"fitter step incl. Adam at chunk {ps['best_chunk']}: {ps['batched_us_per_step']:.1f} us/INR-step; one-at-a-time nn.Module + Adam: {ps['naive_us_per_step']:.1f} us/step -> {ps['ratio']:.1f}x"
    )
    res["time_to_quality"] = tq = time_to_quality(args, src, coords)
    b, n = tq["batched"], tq["naive"]
    print(f"\n(a) time to {tq['target_psnr']:g} dB")
    print(
        f"batched default recipe: {b['reached']}/{b['inrs']} reached in {b['seconds']:.1f} s -> {b['inrs_per_s']:.1f} INRs/s"
    )
    print(
        f"one-at-a-time, lr 5e-4, <=1000 steps: {n['reached']}/{n['inrs']} reached in {n['seconds']:.1f} s (mean {n['mean_steps']:.0f} steps) -> {n['inrs_per_s']:.2f} INRs/s"
    )
    print(f"ratio: {tq['ratio']:.1f}x")
    res["quality"] = qu = quality(src, load_source("digits"))
    print("\n(c) default recipe PSNR (dB)")
    for name, q in qu.items():
        print(
            f"{name:>26}: mean {q['mean']:.2f} ± {q['std']:.2f}, min {q['min']:.2f}, p10 {q['p10']:.2f}, median {q['median']:.2f}, p90 {q['p90']:.2f}"
        )
    if not args.quick:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            small = peak_rss_of_build(6_000, 1_000, f"{tmp}/small")
            full = peak_rss_of_build(None, None, f"{tmp}/full")
        res["memory_mib"] = {"7k_images": small, "70k_images": full}
        print(
            f"\n(d) peak RSS building Fashion-MNIST, 1 step per INR: 7k images {small:.0f} MiB, all 70k images {full:.0f} MiB"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
