"""Turn an experiment's ``results.json`` into a markdown table (also printed) and PNG plots.

The experiment's kind puts each run in a cell and adds its own tables and plot (:mod:`.kinds`); the cells are
formatted by :mod:`.tables`. Pixel baselines trained on the same objects are listed under the table.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from weightaug.experiments.kinds import KINDS
from weightaug.experiments.tables import collect, fmt, md_table
from weightaug.io import atomic_save, atomic_write_bytes
from weightaug.train import POINT_MODELS


def table_markdown(results: dict) -> str:
    cfg = results["config"]
    kind = KINDS[cfg["kind"]]
    cells, pixels = collect(results, kind.cell)
    lines = [
        f"### {cfg['name']} ({cfg['preset']}): {kind.metric} at the best validation epoch, %, mean ± std over seeds",
        "",
        *md_table(cells),
        *kind.tables(results),
    ]
    if pixels:
        listed = ", ".join(f"{m} {fmt(v)}" for m, v in pixels.items())
        raw = "points sampled from the solids" if any(m in POINT_MODELS for m in pixels) else "images"
        lines += ["", f"Baselines on the raw objects ({raw}) of the same objects and splits: {listed}."]
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path) -> None:
    """The kind's plot, the pixel baselines as lines across it, the legend beside it."""
    kind = KINDS[results["config"]["kind"]]
    fig, ax = plt.subplots(figsize=(8, 5))
    vertical = kind.draw(results, ax)
    for model, values in collect(results, kind.cell)[1].items():
        line = ax.axhline if vertical else ax.axvline
        line(statistics.fmean(values), color="gray", linestyle=":", label=f"{model} (pixels)")
    ax.set_title(f"{results['config']['name']} ({results['config']['preset']})")
    (ax.set_ylabel if vertical else ax.set_xlabel)(kind.axis_label)
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
