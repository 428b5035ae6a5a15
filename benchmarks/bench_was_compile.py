"""torch.compile and shadow weights: graphs compiled and training-step time, eager against compiled, one process.

A small CNN wrapped with the ``paper`` transform (translate or crop, one choice per layer and step) trains
``--steps`` steps on random 32x32 images, eagerly, through ``torch.compile(sw)`` and through
``sw.model.compile()``. Reported: the graphs dynamo compiled and its graph breaks (a graph per combination of
choices would be up to 2^layers), and the median step time after the first ``--warmup`` steps, relative to eager.

Run: .venv/bin/python benchmarks/bench_was_compile.py [--steps 30] [--batch 64]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
import warnings

import torch
from torch._dynamo.utils import counters
from torch.nn.functional import cross_entropy

from weightaug.was import ShadowWeights, build_image_model


def run(sw: ShadowWeights, call, x, y, steps: int, warmup: int) -> tuple[float, int, int]:
    torch._dynamo.reset()
    counters.clear()
    opt = torch.optim.SGD(sw.parameters(), lr=0.01)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        opt.zero_grad()
        cross_entropy(call(x), y).backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times[warmup:]), counters["stats"]["unique_graphs"], sum(counters["graph_break"].values())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    torch.manual_seed(0)
    x, y = torch.randn(args.batch, 3, 32, 32), torch.randint(0, 10, (args.batch,))
    base = build_image_model("small_cnn", 10, 3)
    results = {}
    for name in ("eager", "torch.compile(sw)", "sw.model.compile()"):
        sw = ShadowWeights(copy.deepcopy(base), "paper").train()
        call = sw
        if name == "torch.compile(sw)":
            call = torch.compile(sw)
        elif name == "sw.model.compile()":
            sw.model.compile()
        results[name] = run(sw, call, x, y, args.steps, args.warmup)
    eager = results["eager"][0]
    print(f"small_cnn + paper, batch {args.batch}, median of steps {args.warmup + 1}-{args.steps}")
    for name, (seconds, graphs, breaks) in results.items():
        print(
            f"{name:20s} {1000 * seconds:7.1f} ms/step  x{eager / seconds:4.2f} vs eager  graphs {graphs}  breaks {breaks}"
        )


if __name__ == "__main__":
    main()
