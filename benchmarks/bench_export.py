"""Export to the peers' format: INRs/s for a dataset of Fashion-MNIST's size (55k INRs of 2-32-32-1 SIRENs).

In the same run, against two baselines: writing the same INRs as a weightaug dataset (safetensors shards) and
reading the export back with `weightaug import` (one torch file per INR both ways: the peers' format's cost).

Run: .venv/bin/python benchmarks/bench_export.py [--n 55000] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from weightaug.inr.exporter import export_dataset
from weightaug.inr.importer import import_peer_dataset
from weightaug.inr.init import init_weights
from weightaug.inr.store import INRSplit, write_dataset
from weightaug.weights import NetworkSpec

SPEC = NetworkSpec(output_offset=0.5)


def splits(n: int) -> dict[str, INRSplit]:
    """``n`` INRs (random SIREN weights: the cost does not depend on their values), 90/5/5 train/val/test."""
    ids = torch.arange(n)
    weights = init_weights(SPEC, "sitzmann", 0, ids, torch.zeros_like(ids))
    cut = [0, int(0.9 * n), int(0.95 * n), n]
    names = ("train", "val", "test")
    zeros, nan = torch.zeros(n, dtype=torch.long), torch.full((n,), float("nan"))
    part = INRSplit(weights, ids % 10, ids, zeros, nan)
    return {s: part[lo:hi] for s, lo, hi in zip(names, cut, cut[1:])}


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=55_000, help="INRs in the dataset")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    parts = splits(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "ds").mkdir()
        source = {"name": "bench", "classes": [str(c) for c in range(10)], "image_shape": [1, 28, 28]}
        t_shards = seconds(lambda: write_dataset(root / "ds", SPEC, source, parts))
        t_export = seconds(lambda: export_dataset(root / "ds", root / "peer"))
        t_import = seconds(lambda: import_peer_dataset(root / "peer" / "splits.json", root / "back"))
    figures = {
        "inrs": args.n,
        "export_s": t_export,
        "export_inrs_per_s": args.n / t_export,
        "weightaug_shards_inrs_per_s": args.n / t_shards,
        "import_inrs_per_s": args.n / t_import,
    }
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.n:,} INRs of {SPEC.widths}")
    print(f"export to the peers' format: {t_export:.1f} s, {figures['export_inrs_per_s']:,.0f} INRs/s")
    print(f"  weightaug shards, same INRs: {figures['weightaug_shards_inrs_per_s']:,.0f} INRs/s "
          f"({t_export / t_shards:.0f}x the export's speed)")  # fmt: skip
    print(f"  import of the export:       {figures['import_inrs_per_s']:,.0f} INRs/s")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
