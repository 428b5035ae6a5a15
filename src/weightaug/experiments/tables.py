"""Markdown tables from an experiment's runs, knowing no kind: each kind says in which cell a run goes.

Every cell is the test accuracy at the best validation epoch, in percent, as mean ± std over seeds (std with
one degree of freedom; a single seed shows no spread). Pixel baselines are kept apart from the table's cells.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable

from weightaug.train.pixel import is_baseline

Cell = Callable[[dict], tuple[str, str]]  # a run's (row, column)


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def escape(text: str) -> str:
    return text.replace("|", "\\|")


def fmt(values: list[float]) -> str:
    mean, std = mean_std(values)
    return f"{mean:.1f} ± {std:.1f} (n={len(values)})"


def selected(run: dict, metric: str, selected_by: str | None = None) -> float | None:
    """``metric`` at the run's best epoch, or at the first epoch with the highest ``selected_by``; None if absent."""
    if selected_by is None:
        return run["best"].get(metric)
    epochs = [h for h in run["history"] if metric in h and selected_by in h]
    return max(epochs, key=lambda h: h[selected_by])[metric] if epochs else None


REPORTED = {  # label: (metric, the metric that selects its epoch; None: the best validation epoch)
    "val": ("val_acc", None),
    "test": ("test_acc", None),
    "BatchNorm recalibrated": ("recal_test_acc", "recal_val_acc"),
    "train-mode BatchNorm at the best test epoch": ("trainbn_test_acc", "trainbn_test_acc"),
    "shadow mode": ("shadow_test_acc", None),
    "desire-oriented": ("dom_test_acc", None),
}


def reported(run: dict) -> dict[str, float]:
    """The accuracies a run reports (:data:`REPORTED`), each at its own selected epoch."""
    values = {label: selected(run, *how) for label, how in REPORTED.items()}
    return {label: v for label, v in values.items() if v is not None}


def collect(results: dict, cell: Cell, metric: str = "test_acc", selected_by: str | None = None) -> tuple[dict, dict]:
    """``{(row, col): [percent per seed]}`` for weight-space runs, ``{model: [...]}`` for pixel baselines; each
    value ``metric`` at the best validation epoch, or at the epoch ``selected_by`` picks (see :func:`selected`)."""
    cells, pixels = defaultdict(list), defaultdict(list)
    for run in results["runs"].values():
        value = selected(run, metric, selected_by)
        if value is None:
            continue  # e.g. shadow accuracy of a plainly trained model
        value *= 100
        if is_baseline(run["model"]):
            pixels[run["model"]].append(value)
        else:
            cells[cell(run)].append(value)
    return cells, pixels


def md_table(cells: dict) -> list[str]:
    rows = list(dict.fromkeys(r for r, _ in cells))
    cols = list(dict.fromkeys(c for _, c in cells))
    lines = ["| " + " | ".join(["", *map(escape, cols)]) + " |", "|" + "---|" * (len(cols) + 1)]
    for row in rows:
        values = [fmt(cells[row, c]) if (row, c) in cells else "" for c in cols]
        lines.append("| " + " | ".join([escape(row), *values]) + " |")
    return lines


def paired_gains(results: dict, cell: Cell, baseline: str) -> dict[tuple[str, str], list[float]]:
    """Per (row, model), the test-accuracy gain in points over the ``baseline`` row of the same model and seed."""
    by_seed = defaultdict(dict)
    for run in results["runs"].values():
        if not is_baseline(run["model"]):
            by_seed[cell(run)][run["seed"]] = 100 * run["best"]["test_acc"]
    gains = {}
    for (row, model), values in by_seed.items():
        base = by_seed.get((baseline, model), {})
        if row != baseline and base:
            gains[row, model] = [values[s] - base[s] for s in sorted(values) if s in base]
    return gains


def findings(results: dict, cell: Cell) -> list[str]:
    """What the runs show, in words: each row against the first (one view, no augmentation), paired by seed.

    A gain counts as beyond the seed spread when the mean gain exceeds the sum of the two rows' standard
    deviations over seeds; anything less is said to be within it."""
    cells, _ = collect(results, cell)
    rows = list(dict.fromkeys(r for r, _ in cells))
    baseline = rows[0]
    lines = [f"Findings (each row against '{baseline}', paired by seed; 'beyond the spread' = the mean gain exceeds "
             "the sum of both rows' standard deviations):"]  # fmt: skip
    if results["config"].get("equal_steps"):
        lines.append("(every run took the same number of training steps: a run on V views trained epochs / V epochs)")
    trains, _ = collect(results, cell, "train_acc")
    for model in dict.fromkeys(c for _, c in cells):
        if (baseline, model) in trains:
            train, test = mean_std(trains[baseline, model])[0], mean_std(cells[baseline, model])[0]
            last = statistics.fmean(
                100 * r["history"][-1]["train_acc"]
                for r in results["runs"].values()
                if r["model"] == model and cell(r)[0] == baseline
            )
            lines.append(
                f"- {model}, {baseline}: train {train:.1f}% against test {test:.1f}% at the selected epoch; "
                f"train {last:.1f}% after the last."
            )
    for (row, model), gains in paired_gains(results, cell, baseline).items():
        spread = mean_std(cells[row, model])[1] + mean_std(cells[baseline, model])[1]
        mean = statistics.fmean(gains)
        verdict = "beyond the seed spread" if abs(mean) > spread and len(gains) > 1 else "within the seed spread"
        per_seed = ", ".join(f"{g:+.1f}" for g in gains)
        lines.append(f"- {model}, {row}: {mean:+.1f} points (per seed {per_seed}; spread {spread:.1f}): {verdict}.")
    return lines
