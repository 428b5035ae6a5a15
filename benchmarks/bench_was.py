"""Shadow-weight overhead per training step against plain training, measured side by side in one process.

ResNet-18 (CIFAR stem) on batches of 128 random 32x32 images, forward + backward + SGD step, on the CPU.
Plain, then each shadow transform, interleaved round by round so machine noise hits them alike; the
figure is the ratio of median step times (shadow / plain - 1).

Run: .venv/bin/python benchmarks/bench_was.py [--batch 128] [--rounds 5] [--model resnet18]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time

import torch
from torch.nn.functional import cross_entropy

from weightaug.was import ShadowWeights, build_image_model

TRANSFORMS = ["paper", "translate", "crop", "rotate", "noise", "dropconnect"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--transforms", default=",".join(TRANSFORMS))
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.manual_seed(0)
    x, y = torch.randn(args.batch, 3, 32, 32), torch.randint(0, 10, (args.batch,))
    base = build_image_model(args.model, 10, 3)
    nets = {"plain": base}
    for name in args.transforms.split(","):
        nets[name] = ShadowWeights(
            copy.deepcopy(base), name, layers=None if name not in ("noise", "dropconnect") else torch.nn.Conv2d
        )
    opts = {k: torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9) for k, m in nets.items()}
    times = {k: [] for k in nets}

    def step(name: str) -> float:
        model, opt = nets[name], opts[name]
        start = time.perf_counter()
        loss = cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return time.perf_counter() - start

    for name in nets:  # warm-up
        nets[name].train()
        step(name)
    for _ in range(args.rounds):
        for name in nets:
            times[name].append(step(name))
    plain = statistics.median(times["plain"])
    rows = {k: {"step_s": statistics.median(v), "overhead": statistics.median(v) / plain - 1} for k, v in times.items()}
    print(
        f"{args.model}, batch {args.batch}, {torch.get_num_threads()} threads, median of {args.rounds} interleaved rounds"
    )
    for name, row in rows.items():
        print(f"  {name:12s} {row['step_s'] * 1000:8.0f} ms/step   overhead {100 * row['overhead']:+6.1f}%")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
