"""Weight-space models at their presets on batches of 256 2-32-32-1 SIRENs, and the augmentation cost.

For each model, in its own process (so peak memory is its own): a training step (forward, backward, AdamW)
on 256 fitted digits INRs, as INRs/s and peak RSS; in the same process, the full augmentation pipeline
(with aligned MixUp) on the same batch, alternating with the steps, as a fraction of the training step
(medians). For DWSNet, where the time goes
(equivariant layers, pooling, head).

Run: .venv/bin/python benchmarks/bench_models.py [--json FILE] [--steps N]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys

import torch
from torch.nn.functional import cross_entropy, one_hot

from common import fitted_digits, timed
from weightaug.augment import FULL_PIPELINE, build_augmentation
from weightaug.kernels import keep_freed_memory
from weightaug.models import MODELS, build_model, n_parameters
from weightaug.weights import NetworkSpec

SPEC = NetworkSpec(output_offset=0.5)
BATCH = 256


def one_model(name: str, steps: int) -> dict:
    keep_freed_memory()  # as the CLI does
    torch.manual_seed(0)
    weights, labels = fitted_digits(SPEC, BATCH)
    targets = one_hot(labels, 10).float()
    model = build_model(name, SPEC)
    model.fit_normaliser(weights)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=5e-4)
    pipeline = build_augmentation(FULL_PIPELINE, SPEC)
    gen = torch.Generator().manual_seed(0)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def step():
        loss = cross_entropy(model(weights), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    pipeline(weights, targets, gen)
    step_times, aug_times = [], []
    for _ in range(steps):  # alternating, so both see the same load on this noisy machine
        step_times.append(timed(step, 1)[0])
        aug_times.append(timed(lambda: pipeline(weights, targets, gen), 1)[0])
    t_step, t_aug = statistics.median(step_times), statistics.median(aug_times)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row = {
        "parameters": n_parameters(model),
        "invariant_to": list(MODELS[name].symmetries),
        "step_s": t_step,
        "inrs_per_s": BATCH / t_step,
        "peak_rss_mib": rss,
        "rss_before_model_mib": rss_before,
        "augment_s": t_aug,
        "augment_fraction_of_step": t_aug / t_step,
        "augment_fraction_per_round": sorted(a / t for a, t in zip(aug_times, step_times, strict=True)),
    }
    if name == "dwsnet":
        row["time_split"] = dwsnet_split(model, model.normaliser(weights))
    return row


def dwsnet_split(model, batch) -> dict:
    """Forward time of DWSNet's parts (the backward pass roughly doubles each)."""
    from weightaug.models.equivariant import to_blocks

    with torch.no_grad():

        def layers():
            out = to_blocks(batch, False)
            for layer in model.layers:
                out = [b.relu() for b in layer(out)]
            return out

        t_layers = timed(layers, 5)[0]
        out = layers()
        t_pool = timed(lambda: model.pool(out), 5)[0]
        pooled = model.pool(out)
        t_head = timed(lambda: model.head(model.out(pooled)), 5)[0]
    total = t_layers + t_pool + t_head
    return {"equivariant_layers": t_layers / total, "pooling": t_pool / total, "mlp_and_head": t_head / total}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", help="also write the figures to this file")
    p.add_argument("--steps", type=int, default=5, help="timed rounds per model, a step and a pipeline each (medians)")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated model names (default: all)")
    p.add_argument("--one", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(one_model(args.one, args.steps)))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH} of {SPEC.widths} SIRENs")
    print(
        f"{'model':>15} {'params':>10} {'step s':>8} {'INRs/s':>8} {'peak MiB':>9} {'augment / step':>15} {'rounds':>11}"
    )
    out = {}
    for name in args.models.split(","):
        cmd = [sys.executable, __file__, "--one", name, "--steps", str(args.steps)]
        result = subprocess.run(cmd, capture_output=True, text=True, check=True)
        row = out[name] = json.loads(result.stdout.strip().splitlines()[-1])
        print(
            f"{name:>15} {row['parameters']:>10,} {row['step_s']:>8.3f} {row['inrs_per_s']:>8.0f} "
            f"{row['peak_rss_mib']:>9.0f} {row['augment_fraction_of_step']:>15.2f} "
            f"{min(row['augment_fraction_per_round']):>5.2f}-{max(row['augment_fraction_per_round']):.2f}"
        )
    if "dwsnet" in out:
        split = out["dwsnet"]["time_split"]
        print("dwsnet forward split: " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in split.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
