"""Canonical INRs: how close a template brings two INRs, against matching the pair directly, and what it costs.

512 digits fitted with the fmnist presets' recipe (zero-bias init, lr 5e-4, 1,000 steps): the template is built
from the first 256, and 128 disjoint pairs of the other 256 are compared by the cosine similarity of their flat
weights, (a) as fitted, (b) in each canonical form, (c) after weight matching each pair directly (the per-batch
work of aligned MixUp), with permutations only and with signs. "share" is (b)'s gain over (a) as a fraction of
(c)'s signed gain. Then the cost: canonicalising all 512 once (template included), INRs/s, against matching
the pairs of one batch of 128 for aligned MixUp and a dwsnet training step on the same batch, in the same run.

Run: .venv/bin/python benchmarks/bench_canonical.py [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from common import fitted_digits, timed
from weightaug.align import weight_matching
from weightaug.inr.canonical import CanonicalForm, apply_form, build_template, pair_similarity
from weightaug.inr.fit import FitConfig
from weightaug.models import build_model
from weightaug.weights import NetworkSpec, WeightBatch

SPEC = NetworkSpec(output_offset=0.5)
RECIPE = FitConfig(init="zero-bias", lr=5e-4, steps=1000)
FORMS = ["phase", "medoid", "mean", "phase+medoid", "phase+mean"]


def canonical(wb: WeightBatch, train: WeightBatch, form: CanonicalForm) -> WeightBatch:
    template = None if form.template == "none" else build_template(apply_form(train, form, None), form)
    return apply_form(wb, form, template)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    torch.manual_seed(0)
    wb, labels = fitted_digits(SPEC, 512, RECIPE)
    train, rest = wb[:256], wb[256:]
    pairs = torch.randperm(256, generator=torch.Generator().manual_seed(0)).view(128, 2)
    a, b = rest[pairs[:, 0]], rest[pairs[:, 1]]
    both = torch.arange(256).view(2, 128).T  # pair i of (a, b) is (i, 128 + i) of their concatenation
    unaligned = float(pair_similarity(rest, pairs).mean())
    direct = {}
    for signs in (False, True):
        aligned = weight_matching(a, b, signs=signs).aligned
        direct[signs] = float(pair_similarity(WeightBatch.cat([a, aligned]), both).mean())
    print(f"cosine similarity of 128 pairs of fitted digits INRs (template from 256 others); as fitted {unaligned:.3f}")
    print(f"pairwise weight matching: permutations {direct[False]:.3f}, signed {direct[True]:.3f}")
    print(f"{'form':<16} {'cosine':>7} {'share of the signed pairwise gain':>34}")
    rows = {}
    for name in [*FORMS, "phase+mean:1", "phase+mean:2", "phase+mean:10"]:
        text, _, iters = name.partition(":")
        form = CanonicalForm.parse(text, int(iters or 5))
        value = float(pair_similarity(canonical(rest, train, form), pairs).mean())
        share = (value - unaligned) / (direct[True] - unaligned)
        rows[name] = {"cosine": value, "share": share}
        print(f"{name:<16} {value:>7.3f} {share:>33.0%}")

    form = CanonicalForm.parse("phase+mean")
    start = time.perf_counter()
    canonical(wb, wb, form)  # template from all 512, then all 512 matched to it
    whole = time.perf_counter() - start
    batch = wb[:128]
    partners = wb[torch.randperm(128, generator=torch.Generator().manual_seed(1)) + 128]
    t_match, _ = timed(lambda: weight_matching(batch, partners, signs=True), 5)
    model = build_model("dwsnet", SPEC, 10)
    opt = torch.optim.Adam(model.parameters())

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(model(batch), labels[:128])
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    t_step, _ = timed(step, 5)
    print(
        f"canonicalising 512 INRs (phase+mean, 5 rounds, template included): {whole:.2f} s, {512 / whole:,.0f} INRs/s"
    )
    print(f"per batch of 128: signed pairwise matching {t_match * 1e3:.0f} ms = {t_match / t_step:.2f} of a dwsnet "
          f"training step ({t_step * 1e3:.0f} ms); a canonical dataset's MixUp matches nothing per batch")  # fmt: skip
    if args.json:
        figures = {"unaligned": unaligned, "pairwise": direct[False], "pairwise_signed": direct[True], "forms": rows,
                   "canonicalise_inrs_per_s": 512 / whole, "pair_matching_s": t_match, "dwsnet_step_s": t_step}  # fmt: skip
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)


if __name__ == "__main__":
    main()
