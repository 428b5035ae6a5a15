"""Batched weight matching vs the same algorithm one pair at a time, and the cost of the augmentations.

(a) weight matching of 256 pairs of 2-32-32-1 SIRENs (fitted to digits; and at their random init):
    one batched call vs 256 calls of one pair, same algorithm and layer orders, in the same run; checks
    that both give the same permutations and objective; the batched call split into one group of pairs per
    thread (the default) vs one group on all threads; says how much of the one-group time the exact
    assignments themselves take (and what scipy's one-problem-per-call solver takes on the same problems);
(b) every augmentation, and the full pipeline with aligned MixUp, on a batch of 256: INRs/s.

Run: .venv/bin/python benchmarks/bench_augment.py [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch.nn.functional import one_hot

import weightaug.align as align
from common import fitted_digits, timed
from weightaug.augment import FULL_PIPELINE, REGISTRY, build_augmentation
from weightaug.inr.init import init_weights
from weightaug.weights import NetworkSpec, WeightBatch

SPEC = NetworkSpec(output_offset=0.5)
PAIRS = 256


def matching(a: WeightBatch, b: WeightBatch, label: str) -> dict:
    def batched(parts: int | None = None):
        return align.weight_matching(a, b, generator=torch.Generator().manual_seed(0), parts=parts)

    def one_at_a_time():
        return [align.weight_matching(a[i], b[i], generator=torch.Generator().manual_seed(0)) for i in range(len(a))]

    batched()  # warm-up
    t_batched, res = timed(batched, 5)
    t_one_group, whole = timed(lambda: batched(parts=1), 5)
    t_single, singles = timed(one_at_a_time, 2)
    split_same = all(torch.equal(x, y) for x, y in zip(whole.action.perms, res.action.perms, strict=True))
    same_perms = all(
        torch.equal(torch.cat([s.action.perms[h] for s in singles]), res.action.perms[h])
        for h in range(len(SPEC.hidden))
    )
    objective_gap = (torch.cat([s.objective for s in singles]) - res.objective).abs().max().item()

    solve_time, problems = [0.0, 0], []
    solve = align.linear_assignment

    def counting(scores):
        start = time.perf_counter()
        out = solve(scores)
        solve_time[0] += time.perf_counter() - start
        solve_time[1] += len(scores)
        problems.append(scores)
        return out

    align.linear_assignment = counting
    t_check = time.perf_counter()
    batched(parts=1)
    t_check = time.perf_counter() - t_check
    align.linear_assignment = solve
    scores = torch.cat(problems).numpy()
    start = time.perf_counter()
    scipy_perms = [linear_sum_assignment(c, maximize=True)[1] for c in scores]
    scipy_us = 1e6 * (time.perf_counter() - start) / len(scores)
    scipy_same = bool((torch.from_numpy(np.stack(scipy_perms)) == solve(torch.from_numpy(scores))).all())
    gain = (res.objective - res.initial_objective) / res.initial_objective.abs()
    row = {
        "pairs": len(a),
        "batched_s": t_batched,
        "one_at_a_time_s": t_single,
        "speedup": t_single / t_batched,
        "one_group_s": t_one_group,
        "split_speedup": t_one_group / t_batched,
        "split_same_permutations": split_same,
        "pairs_per_s": len(a) / t_batched,
        "same_permutations": same_perms,
        "max_objective_difference": objective_gap,
        "mean_sweeps": res.sweeps.float().mean().item(),
        "max_sweeps": int(res.sweeps.max()),
        "assignment_problems": solve_time[1],
        "assignment_share": solve_time[0] / t_check,
        "us_per_assignment": 1e6 * solve_time[0] / solve_time[1],
        "median_relative_objective_gain": gain.median().item(),
        "scipy_us_per_assignment": scipy_us,
        "scipy_same_assignments": scipy_same,
    }
    print(
        f"{label:>12}: batched {1e3 * t_batched:7.1f} ms ({row['pairs_per_s']:6.0f} pairs/s) vs one at a time "
        f"{1e3 * t_single:7.1f} ms -> {row['speedup']:5.1f}x; same permutations: {same_perms}, "
        f"max objective difference {objective_gap:.1e}; in {torch.get_num_threads()} groups side by side vs one "
        f"group on all cores {1e3 * t_one_group:.1f} ms -> {row['split_speedup']:.2f}x, same: {split_same}; sweeps mean {row['mean_sweeps']:.2f} max {row['max_sweeps']}; "
        f"{solve_time[1]} assignments at {row['us_per_assignment']:.1f} us = {100 * row['assignment_share']:.0f}% "
        f"of the one-group time (scipy's linear_sum_assignment, one call each: {scipy_us:.1f} us, same: {scipy_same})"
    )
    return row


def augmentations(weights: WeightBatch, labels: torch.Tensor) -> dict:
    targets = one_hot(labels, 10).float()
    rows = {}
    for name in [*REGISTRY, "full pipeline"]:
        pipe = build_augmentation(FULL_PIPELINE if name == "full pipeline" else name, SPEC)
        gen = torch.Generator().manual_seed(0)
        pipe(weights, targets, gen)
        t, _ = timed(lambda pipe=pipe, gen=gen: pipe(weights, targets, gen), 7)
        rows[name] = {"ms_per_batch": 1e3 * t, "inrs_per_s": len(weights) / t}
        print(f"{name:>18}: {1e3 * t:7.2f} ms per batch of {len(weights)}, {len(weights) / t:9.0f} INRs/s")
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    start = time.perf_counter()
    weights, labels = fitted_digits(SPEC, 2 * PAIRS)
    print(f"fitted {2 * PAIRS} digits INRs in {time.perf_counter() - start:.1f} s")
    ids = torch.arange(2 * PAIRS)
    random_init = init_weights(SPEC, "sitzmann", 1, ids, torch.zeros_like(ids))
    out = {"spec": SPEC.to_dict(), "matching": {}}
    print("(a) weight matching, 256 pairs of 2-32-32-1 SIRENs")
    out["matching"]["fitted"] = matching(weights[:PAIRS], weights[PAIRS:], "fitted")
    out["matching"]["random init"] = matching(random_init[:PAIRS], random_init[PAIRS:], "random init")
    print("(b) augmentations on a batch of 256 fitted INRs (with one-hot targets)")
    out["augmentations"] = augmentations(weights[:PAIRS], labels[:PAIRS])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
