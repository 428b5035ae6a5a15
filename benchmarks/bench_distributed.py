"""Several processes under torchrun against one process, each way in fresh processes, alternating, same run.

1. Fitting: the same Fashion-MNIST dataset (768 INRs, 6 shards, 300 steps, no early stop) by one process with
   all cores' threads vs torchrun with one single-thread rank per core (same bytes: checked); with
   ``--baseline-src`` (the ``src`` folder of a checkout from before torchrun, e.g. a git worktree of 24aad77)
   also that version's file-lock mode: one single-thread process per core side by side.
2. Training: dwsnet on digits INRs (1,257 training INRs, batch 64), plain and with aligned MixUp (weight
   matching on each rank's part of the batch): one process of 1 thread, one of all cores' threads, and one
   single-thread rank per core with DDP; seconds per epoch from the run's own timing; and the gloo all-reduce
   of one step's gradients alone.

Run: .venv/bin/python benchmarks/bench_distributed.py [--rounds N] [--baseline-src PATH]. Needs
dataset-fashion-mnist (Debian package). Run it on quiet cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
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
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone"]


def run(cmd: list[str], threads: int, processes: int = 1, src: str | None = None) -> float:
    """Wall seconds of ``processes`` copies of ``cmd`` started together (``src``: import weightaug from there)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    if src:
        env["PYTHONPATH"] = src
    start = time.perf_counter()
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(processes)
    ]
    for p in procs:
        if p.wait():
            raise SystemExit(f"`{' '.join(cmd)}` failed: {p.stderr.read().decode()[-2000:]}")
    return time.perf_counter() - start


def digest(root: Path) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(root.glob("*.safetensors")))).hexdigest()


def bench_fit(tmp: Path, rounds: int, cores: int, baseline_src: str | None) -> None:
    fit = [*FIT, "--out"]
    ways = {
        f"1 process x {cores} threads": lambda out: run([sys.executable, "-m", "weightaug", "fit", *fit, out], cores),
        f"torchrun, {cores} ranks x 1 thread": lambda out: run(
            [*TORCHRUN, "--nproc-per-node", str(cores), "-m", "weightaug", "fit", *fit, out], 1
        ),
    }
    if baseline_src:
        ways[f"file locks (before torchrun), {cores} processes x 1 thread"] = lambda out: run(
            [sys.executable, "-m", "weightaug", "fit", *fit, out], 1, cores, baseline_src
        )
    times: dict[str, list[float]] = {name: [] for name in ways}
    digests = set()
    for r in range(rounds):
        for name, way in ways.items():
            out = tmp / f"fit-{r}-{len(times[name])}-{hash(name) % 1000}"
            times[name].append(way(str(out)))
            digests.add(digest(out))
            shutil.rmtree(out)
            print(f"fit round {r}: {name}: {times[name][-1]:.1f} s", flush=True)
    base = statistics.median(next(iter(times.values())))
    for name, t in times.items():
        print(f"fit: {name}: median {statistics.median(t):.1f} s, {base / statistics.median(t):.2f}x one process")
    print(f"fit: same bytes every way: {len(digests) == 1}")


def bench_train(tmp: Path, rounds: int, cores: int) -> None:
    data = tmp / "digits"
    run([sys.executable, "-m", "weightaug", "fit", "--source", "digits", "--out", str(data)], cores)
    for augment in ("none", "mixup_align"):
        train = ["train", str(data), "--model", "dwsnet", "--augment", augment, "--epochs", "2", "--batch-size", "64"]
        ways = {
            "1 process x 1 thread": ([sys.executable, "-m", "weightaug"], 1),
            f"1 process x {cores} threads": ([sys.executable, "-m", "weightaug"], cores),
            f"DDP, {cores} ranks x 1 thread": ([*TORCHRUN, "--nproc-per-node", str(cores), "-m", "weightaug"], 1),
        }
        per_epoch: dict[str, list[float]] = {name: [] for name in ways}
        for r in range(rounds):
            for name, (launcher, threads) in ways.items():
                out = tmp / f"train-{augment}-{r}-{len(per_epoch[name])}-{hash(name) % 1000}"
                run([*launcher, *train, "--out", str(out)], threads)
                result = json.loads((out / "results.json").read_text())
                per_epoch[name].append(result["seconds"] / len(result["history"]))
                shutil.rmtree(out)
                print(f"train {augment} round {r}: {name}: {per_epoch[name][-1]:.2f} s/epoch", flush=True)
        base = statistics.median(per_epoch["1 process x 1 thread"])
        for name, t in per_epoch.items():
            print(
                f"train {augment}: {name}: {statistics.median(t):.2f} s/epoch, {base / statistics.median(t):.2f}x one thread"
            )


ALLREDUCE = """
import time, torch, torch.distributed as d
import weightaug
from weightaug import dist
from weightaug.models import build_model
from weightaug.weights import NetworkSpec

n = sum(p.numel() for p in build_model("dwsnet", NetworkSpec(output_offset=0.5), 10).parameters())
grad = torch.randn(n)
dist.group()
for _ in range(5):
    d.all_reduce(grad)
start = time.perf_counter()
for _ in range(50):
    d.all_reduce(grad)
if dist.is_main():
    print(n, (time.perf_counter() - start) / 50)
"""


def bench_allreduce(tmp: Path, cores: int) -> None:
    """The gloo all-reduce of one step's dwsnet gradients (its parameter count in float32), alone."""
    script = tmp / "allreduce.py"
    script.write_text(ALLREDUCE)
    cmd = [*TORCHRUN, "--nproc-per-node", str(cores), str(script)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    n, seconds = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout.split()
    print(f"all-reduce of dwsnet's {int(n):,} gradients over {cores} gloo ranks: {1e3 * float(seconds):.2f} ms a step")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--baseline-src", help="src folder of a checkout before torchrun (its file-lock mode)")
    p.add_argument("--only", choices=("fit", "train"), help="run one half")
    args = p.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        if args.only != "train":
            bench_fit(Path(tmp), args.rounds, cores, args.baseline_src)
        if args.only != "fit":
            bench_train(Path(tmp), args.rounds, cores)
            bench_allreduce(Path(tmp), cores)


if __name__ == "__main__":
    main()
