"""Turn an experiment's ``results.json`` into a markdown table (also printed) and PNG plots.

Every cell is the test accuracy at the best validation epoch, in percent, as mean ± std over seeds (std with
one degree of freedom; a single seed shows no spread). Pixel baselines trained on the same objects are listed
under the table.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from weightaug.io import atomic_save, atomic_write_bytes


def cell_of(kind: str, run: dict) -> tuple[str, str]:
    """(row, column) of a run in its experiment's table."""
    if kind == "overfitting":
        return f"{run['views']} view(s)", run["model"]
    if kind == "was":
        return run["variant"], f"{run['model']}, {run['recipe']} recipe"
    if kind == "findings":
        views = f"{run['views']} view{'s' if run['views'] > 1 else ''}"
        return (views if run["variant"] == "none" else f"{views} + {run['variant']}"), run["model"]
    if kind == "views-vs-data":
        return f"{run['fraction']:g} of the objects", f"{run['model']}, {run['views']} view(s), {run['variant']}"
    return run["variant"], run["model"]


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def escape(text: str) -> str:
    return text.replace("|", "\\|")


def fmt(values: list[float]) -> str:
    mean, std = mean_std(values)
    return f"{mean:.1f} ± {std:.1f} (n={len(values)})"


def collect(results: dict, metric: str = "test_acc") -> tuple[dict, dict]:
    """``{(row, col): [percent per seed]}`` for weight-space runs, ``{model: [...]}`` for pixel baselines."""
    kind = results["config"]["kind"]
    cells, pixels = defaultdict(list), defaultdict(list)
    for run in results["runs"].values():
        if metric not in run["best"]:
            continue  # e.g. shadow accuracy of a plainly trained model
        value = 100 * run["best"][metric]
        if run["model"].startswith("pixel-"):
            pixels[run["model"]].append(value)
        else:
            cells[cell_of(kind, run)].append(value)
    return cells, pixels


def md_table(cells: dict) -> list[str]:
    rows = list(dict.fromkeys(r for r, _ in cells))
    cols = list(dict.fromkeys(c for _, c in cells))
    lines = ["| " + " | ".join(["", *map(escape, cols)]) + " |", "|" + "---|" * (len(cols) + 1)]
    for row in rows:
        values = [fmt(cells[row, c]) if (row, c) in cells else "" for c in cols]
        lines.append("| " + " | ".join([escape(row), *values]) + " |")
    return lines


def table_markdown(results: dict) -> str:
    cfg = results["config"]
    metric = "linear-probe test accuracy" if cfg["kind"] == "contrastive" else "test accuracy"
    cells, pixels = collect(results)
    lines = [
        f"### {cfg['name']} ({cfg['preset']}): {metric} at the best validation epoch, %, mean ± std over seeds",
        "",
    ]
    lines += md_table(cells)
    if cfg["kind"] == "was":
        lines += ["", "The same models evaluated in shadow mode (the last drawn shadow weights, eval() mode):", ""]
        lines += md_table(collect(results, "shadow_test_acc")[0])
        dom, _ = collect(results, "dom_test_acc")
        if dom:
            ratios = [r["best"]["dom_flops_ratio"] for r in results["runs"].values() if "dom_flops_ratio" in r["best"]]
            lines += ["", f"Desire-oriented models (every kernel shifted one pixel, the emptied column cut): "
                      f"{100 * statistics.fmean(ratios):.1f}% of the plain model's FLOPs; test accuracy:", ""]  # fmt: skip
            lines += md_table(dom)
    if cfg["kind"] in ("overfitting", "findings"):
        lines += ["", "Training accuracy at the same epoch (a fixed subset of the unaugmented training INRs):", ""]
        lines += md_table(collect(results, "train_acc")[0])
    if cfg["kind"] == "findings":
        lines += ["", *findings(results)]
    if pixels:
        listed = ", ".join(f"{m} {fmt(v)}" for m, v in pixels.items())
        lines += ["", f"Pixel baselines on the raw images of the same objects and splits: {listed}."]
    return "\n".join(lines) + "\n"


def paired_gains(results: dict, baseline: str) -> dict[tuple[str, str], list[float]]:
    """Per (row, model), the test-accuracy gain in points over the ``baseline`` row of the same model and seed."""
    kind, by_seed = results["config"]["kind"], defaultdict(dict)
    for run in results["runs"].values():
        if not run["model"].startswith("pixel-"):
            by_seed[cell_of(kind, run)][run["seed"]] = 100 * run["best"]["test_acc"]
    gains = {}
    for (row, model), values in by_seed.items():
        base = by_seed.get((baseline, model), {})
        if row != baseline and base:
            gains[row, model] = [values[s] - base[s] for s in sorted(values) if s in base]
    return gains


def findings(results: dict) -> list[str]:
    """What the runs show, in words: each row against the first (one view, no augmentation), paired by seed.

    A gain counts as beyond the seed spread when the mean gain exceeds the sum of the two rows' standard
    deviations over seeds; anything less is said to be within it."""
    cells, _ = collect(results)
    rows = list(dict.fromkeys(r for r, _ in cells))
    baseline = rows[0]
    lines = [f"Findings (each row against '{baseline}', paired by seed; 'beyond the spread' = the mean gain exceeds "
             "the sum of both rows' standard deviations):"]  # fmt: skip
    if results["config"].get("equal_steps"):
        lines.append("(every run took the same number of training steps: a run on V views trained epochs / V epochs)")
    trains, _ = collect(results, "train_acc")
    for model in dict.fromkeys(c for _, c in cells):
        if (baseline, model) in trains:
            train, test = mean_std(trains[baseline, model])[0], mean_std(cells[baseline, model])[0]
            last = statistics.fmean(
                100 * r["history"][-1]["train_acc"]
                for r in results["runs"].values()
                if r["model"] == model and cell_of(results["config"]["kind"], r)[0] == baseline
            )
            lines.append(
                f"- {model}, {baseline}: train {train:.1f}% against test {test:.1f}% at the selected epoch; "
                f"train {last:.1f}% after the last."
            )
    for (row, model), gains in paired_gains(results, baseline).items():
        spread = mean_std(cells[row, model])[1] + mean_std(cells[baseline, model])[1]
        mean = statistics.fmean(gains)
        verdict = "beyond the seed spread" if abs(mean) > spread and len(gains) > 1 else "within the seed spread"
        per_seed = ", ".join(f"{g:+.1f}" for g in gains)
        lines.append(f"- {model}, {row}: {mean:+.1f} points (per seed {per_seed}; spread {spread:.1f}): {verdict}.")
    return lines


def plot(results: dict, path: Path) -> None:
    kind = results["config"]["kind"]
    fig, ax = plt.subplots(figsize=(8, 5))
    if kind == "overfitting":
        curves = defaultdict(list)
        for run in results["runs"].values():
            if not run["model"].startswith("pixel-"):
                curves[run["model"], run["views"]].append(run["history"])
        for (model, views), histories in curves.items():
            for metric, style in (("train_acc", "--"), ("test_acc", "-")):
                per_epoch = list(zip(*[[100 * h[metric] for h in hist] for hist in histories]))
                ax.plot(
                    [statistics.fmean(v) for v in per_epoch], style, label=f"{model}, {views} view(s), {metric[:-4]}"
                )
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    elif kind == "views-vs-data":
        cells, _ = collect(results)
        lines = defaultdict(dict)
        for (row, col), values in cells.items():
            lines[col][float(row.split()[0])] = mean_std(values)
        for col, points in lines.items():
            xs = sorted(points)
            ax.errorbar(xs, [points[x][0] for x in xs], [points[x][1] for x in xs], marker="o", capsize=3, label=col)
        ax.set_xscale("log")
        ax.set_xlabel("fraction of the training objects")
    else:
        cells, _ = collect(results)
        rows = list(dict.fromkeys(r for r, _ in cells))
        cols = list(dict.fromkeys(c for _, c in cells))
        height = 0.8 / len(cols)
        for j, col in enumerate(cols):
            stats = [mean_std(cells[r, col]) if (r, col) in cells else (0.0, 0.0) for r in rows]
            ax.barh(
                [i + j * height for i in range(len(rows))],
                [m for m, _ in stats],
                height,
                xerr=[s for _, s in stats],
                label=col,
            )
        ax.set_yticks([i + 0.4 - height / 2 for i in range(len(rows))], rows, fontsize=8)
        ax.invert_yaxis()
    _, pixels = collect(results)
    for model, values in pixels.items():
        line = ax.axhline if kind in ("overfitting", "views-vs-data") else ax.axvline
        line(statistics.fmean(values), color="gray", linestyle=":", label=f"{model} (pixels)")
    ax.set_title(f"{results['config']['name']} ({results['config']['preset']})")
    metric = "accuracy, %" if kind == "overfitting" else "test accuracy, %"
    (ax.set_ylabel if kind in ("overfitting", "views-vs-data") else ax.set_xlabel)(metric)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)  # beside, not on, the data
    fig.tight_layout()
    atomic_save(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight"))
    plt.close(fig)


def plot_curves(history: list[dict], path: Path, title: str) -> None:
    """Train / val / test accuracy per epoch of one run."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for metric in ("train_acc", "val_acc", "test_acc"):
        if history and metric in history[0]:
            ax.plot([100 * h[metric] for h in history], label=metric[:-4])
    ax.set(xlabel="epoch", ylabel="accuracy, %", title=title)
    ax.legend()
    fig.tight_layout()
    atomic_save(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)


def write_report(results: dict, out: Path) -> str:
    """Write ``table.md`` and ``<name>.png`` into ``out``; returns the table."""
    table = table_markdown(results)
    atomic_write_bytes(out / "table.md", table.encode())
    plot(results, out / f"{results['config']['name']}.png")
    return table


def report_folder(folder: str | Path) -> str:
    """``write_report`` for the ``results.json`` in ``folder``: its table and plot, written beside it."""
    path = Path(folder) / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"{folder} holds no results.json: it is not an experiment's output folder")
    try:
        results = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err})") from err
    return write_report(results, Path(folder))
