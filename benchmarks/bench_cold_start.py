"""The first fit in a fresh environment: torch.compile's cost against the speed it buys, same run.

For digits (64 points an INR) and Fashion-MNIST (784), 256 INRs x 200 steps (no early stop), each in a fresh
process: the kernels unfused (nothing compiled), compiled with an empty inductor cache (a fresh machine), and
compiled again from that cache. Prints the first call's seconds (the compile), the microseconds per INR-step,
and the work (INR-steps x points x hidden units) at which compiling starts to pay, to compare with
``weightaug.inr.build.COMPILE_PAYS``.

Run: .venv/bin/python benchmarks/bench_cold_start.py. Needs dataset-fashion-mnist; run it on quiet cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

CASE = """
import sys, time
import weightaug
import torch
from weightaug.data.sources import load_source
from weightaug.inr.fit import FitConfig, coordinate_grid, fit_inrs, image_targets
from weightaug.kernels import unfused
from weightaug.weights import NetworkSpec

images = load_source(sys.argv[1]).float_images(torch.arange(256))
targets, coords, spec = image_targets(images), coordinate_grid(*images.shape[-2:]), NetworkSpec(output_offset=0.5)
ids = torch.arange(256)
views = torch.zeros_like(ids)
with unfused(sys.argv[2] == "unfused"):
    start = time.perf_counter()
    fit_inrs(spec, targets[:8], FitConfig(steps=2, chunk_size=8), 0, ids[:8], views[:8], coords)
    first = time.perf_counter() - start
    start = time.perf_counter()
    fit_inrs(spec, targets, FitConfig(steps=200, target_psnr=0, chunk_size=128), 0, ids, views, coords)
print(first, (time.perf_counter() - start) / (256 * 200))
"""
HIDDEN = 64  # the default spec's hidden units (32 + 32)


def case(source: str, mode: str, cache: str) -> tuple[float, float]:
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}
    out = subprocess.run(
        [sys.executable, "-c", CASE, source, mode], env=env, capture_output=True, text=True, check=True
    )
    first, per_step = map(float, out.stdout.split())
    return first, per_step


def main() -> None:
    for source, points in (("digits", 64), ("fashion-mnist", 784)):
        with tempfile.TemporaryDirectory() as cache:
            (_, eager), (cold, compiled), (warm, _) = (
                case(source, m, cache) for m in ("unfused", "compiled", "compiled")
            )
        print(f"{source}: unfused {1e6 * eager:.1f} us per INR-step; compiled {1e6 * compiled:.1f} us, "
              f"compile {cold:.1f} s fresh, {warm:.1f} s from the cache")  # fmt: skip
        for name, seconds in (("fresh", cold), ("cached", warm)):
            steps = seconds / (eager - compiled)
            print(f"  compiling pays ({name}) beyond {steps:,.0f} INR-steps = {steps * points * HIDDEN:.2g} elements")


if __name__ == "__main__":
    main()
