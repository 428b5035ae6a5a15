"""Evaluation batch size of image classifiers on the CPU: seconds to evaluate the same images at each batch
size, interleaved round by round in one process (eval mode, no grad, one thread by default).

Run: .venv/bin/python benchmarks/bench_eval_batch.py [--models small_cnn,resnet18] [--threads 1] [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from weightaug.was import build_image_model

SIZES = {"small_cnn": (2048, 28), "resnet18": (256, 32), "vgg16": (256, 32)}  # images, side
BATCHES = (1024, 256, 128, 64, 32)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--models", default="small_cnn,resnet18")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    for name in args.models.split(","):
        n, side = SIZES[name]
        model, x = build_image_model(name, 10, 1).eval(), torch.randn(n, 1, side, side)
        times: dict[int, list[float]] = {b: [] for b in BATCHES}
        with torch.no_grad():
            for _ in range(args.rounds):
                for b in BATCHES:
                    start = time.perf_counter()
                    for chunk in x.split(b):
                        model(chunk)
                    times[b].append(time.perf_counter() - start)
        base = statistics.median(times[BATCHES[0]])
        for b, t in times.items():
            print(
                f"{name}: batch {b:5}: {statistics.median(t):.2f} s for {n} images, {base / statistics.median(t):.2f}x batch {BATCHES[0]}"
            )


if __name__ == "__main__":
    main()
