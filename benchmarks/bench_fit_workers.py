"""One dataset fitted by one process on all cores vs by one single-thread process per core, side by side.

Each way builds the same Fashion-MNIST dataset (768 INRs, 6 shards) (same configuration, so the same bytes: checked) with `weightaug fit`
in fresh processes, alternating, a few rounds; the figure is the ratio of wall times in the same run.

Run: .venv/bin/python benchmarks/bench_fit_workers.py [--rounds N]. Needs dataset-fashion-mnist (Debian package).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIT = [
    *("--source", "fashion-mnist", "--train-size", "512", "--val-size", "128", "--test-size", "128"),
    *("--steps", "300", "--lr", "5e-4", "--target-psnr", "0", "--shard-size", "128"),
]


def build(out: Path, processes: int, threads: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "weightaug.cli", "fit", *FIT, "--out", str(out)]
    start = time.perf_counter()
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(processes)
    ]
    if any(p.wait() for p in procs):
        raise SystemExit(f"`{' '.join(cmd)}` failed")
    return time.perf_counter() - start


def digest(root: Path) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(root.glob("*.safetensors")))).hexdigest()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    cores = os.cpu_count() or 1
    ways = {f"1 process x {cores} threads": (1, cores), f"{cores} processes x 1 thread": (cores, 1)}
    times = {name: [] for name in ways}
    digests = set()
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name, (processes, threads) in ways.items():
                out = Path(tmp) / f"{r}-{processes}"
                times[name].append(build(out, processes, threads))
                digests.add(digest(out))
                shutil.rmtree(out)
                print(f"round {r}: {name}: {times[name][-1]:.1f} s", flush=True)
    one, many = (statistics.median(t) for t in times.values())
    print(f"same bytes both ways: {len(digests) == 1}; speed-up of {cores} workers over one: {one / many:.2f}x")


if __name__ == "__main__":
    main()
