"""CPU time per INR-step of the fitter on quiet cores and with a deliberate competing load, OpenMP's default
wait policy (idle threads spin) against the passive one weightaug sets (idle threads sleep), same run.

Each case fits the same 256 Fashion-MNIST INRs (200 steps, chunk 128, no early stop, after a warm-up that
compiles the kernels) in a fresh process with all cores' threads; the load is one busy-looping process per
core. The figure is the process's CPU time (user + system) per INR-step, and the wall time.

Run: .venv/bin/python benchmarks/bench_shared_cores.py. Needs dataset-fashion-mnist; run it on quiet cores.
"""

from __future__ import annotations

import os
import subprocess
import sys

CASE = """
import resource, time
import weightaug  # sets the wait policy unless the environment has one
import torch
from weightaug.data.sources import load_source
from weightaug.inr.fit import FitConfig, coordinate_grid, fit_inrs, image_targets
from weightaug.weights import NetworkSpec

n, steps = 256, 200
ids = torch.arange(n)
targets, coords, spec = image_targets(load_source("fashion-mnist").float_images(ids)), coordinate_grid(28, 28), NetworkSpec(output_offset=0.5)
views = torch.zeros_like(ids)
fit_inrs(spec, targets[:8], FitConfig(steps=5, chunk_size=8), 0, ids[:8], views[:8], coords)  # compile
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
fit_inrs(spec, targets, FitConfig(steps=steps, lr=5e-4, target_psnr=0, chunk_size=128), 0, ids, views, coords)
r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
cpu = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
print(f"{1e6 * cpu / (n * steps):.1f} {t1 - t0:.1f}")
"""


def case(policy: str) -> tuple[float, float]:
    """(CPU microseconds per INR-step, wall seconds); ``policy`` "" is OpenMP's default."""
    env = {**os.environ, "OMP_WAIT_POLICY": policy}
    out = subprocess.run([sys.executable, "-c", CASE], env=env, capture_output=True, text=True, check=True)
    cpu, wall = map(float, out.stdout.split())
    return cpu, wall


def main() -> None:
    cores = os.cpu_count() or 1
    figures = {}
    for load in ("quiet", "loaded"):
        busy = [
            subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(cores if load == "loaded" else 0)
        ]
        try:
            for policy, name in (("", "default (spinning)"), ("PASSIVE", "passive (weightaug's)")):  # fmt: skip
                figures[load, name] = case(policy)
                cpu, wall = figures[load, name]
                print(f"{load:6} {name:22}: {cpu:7.1f} us CPU per INR-step, wall {wall:5.1f} s", flush=True)
        finally:
            for p in busy:
                p.kill()
    spin, passive = "default (spinning)", "passive (weightaug's)"
    for name in (spin, passive):
        print(
            f"{name}: CPU time per INR-step loaded / quiet {figures['loaded', name][0] / figures['quiet', name][0]:.2f}x"
        )
    print(f"loaded: passive is {figures['loaded', spin][1] / figures['loaded', passive][1]:.2f}x faster than spinning")


if __name__ == "__main__":
    main()
