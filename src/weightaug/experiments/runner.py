"""Run an experiment: load its data, train every run its kind plans, write results, a table and plots.

Each run is recorded in ``results.json`` as soon as it ends, and checkpointed every epoch while it trains, so
an interrupted experiment resumes where it stopped. What differs between experiments is their kind's
(:mod:`weightaug.experiments.kinds`); this module knows no kind by name.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Annotated

import torch

from weightaug import dist
from weightaug.experiments.config import ExperimentConfig, load_config
from weightaug.experiments.kinds import KINDS, Run
from weightaug.io import atomic_write_bytes
from weightaug.progress import progress_bar
from weightaug.tracking import TRACKERS, Tracker, check, open_tracker
from weightaug.train import RunResult, TrainConfig, train

GRID_KEYS = ("models", "pixel_models", "variants", "seeds", "train_fractions", "recipes", "setups")  # what a run varies
NOT_SETTINGS = ("description", "data_dir")  # may change between resumes: they change no result


def differing_settings(a: dict, b: dict) -> list[str]:
    """The keys on which two experiment configs differ, other than the grid and ``NOT_SETTINGS``.

    A key one config lacks (results written before that setting existed) counts as its default.
    """
    every = [*fields(ExperimentConfig), *(f for kind in KINDS.values() for f in fields(kind.Settings))]
    defaults = {f.name: f.default for f in every if f.default is not MISSING}
    keys = (set(a) | set(b)) - set(GRID_KEYS) - set(NOT_SETTINGS)
    return sorted(k for k in keys if a.get(k, defaults.get(k)) != b.get(k, defaults.get(k)))


def checkpoint_path(out: Path, run: Run) -> Path:
    """Where run ``run`` of the experiment in ``out`` keeps its per-epoch checkpoint until it finishes."""
    return out / "checkpoints" / f"{hashlib.sha1(run.key.encode()).hexdigest()[:16]}.pt"


def run_experiment(
    name: str,
    preset: str,
    out: str | Path | None = None,
    data_root: str | Path = "runs/data",
    device: str = "cpu",
    overrides: dict | None = None,
    progress: bool = True,
    fresh: bool = False,
    ddp: bool = False,
    log: Annotated[str, TRACKERS] = "none",
) -> Path:
    """Run (or resume) experiment ``name`` at ``preset``; returns the output folder.

    The folder gets ``results.json`` (config, per-run curves and best epochs), ``table.md`` and PNG plots.
    Under torchrun each rank trains every world-size-th run, and rank 0 writes the results as runs finish; with
    ``ddp`` the ranks train each run together instead (DistributedDataParallel).
    A folder of earlier runs with the same data and training settings is resumed, and its grid widened:
    adding seeds, models, variants or recipes runs only the new runs; the report covers every run there.
    ``fresh`` discards the folder's earlier results and the checkpoints of its unfinished runs first.
    ``log`` (:data:`weightaug.tracking.TRACKERS`) tracks each run there too, and the final table.
    """
    from weightaug.experiments.report import write_report

    cfg = load_config(name, preset, overrides)  # every config error surfaces here, before any work
    check(log)
    out = Path(out or Path("runs/experiments") / f"{name}-{preset}")
    records = dist.RankRecords(out, "runs")
    results = dist.on_main(lambda: _start(cfg, out, records, fresh))
    kind = KINDS[cfg.kind]
    data = kind.load(cfg, data_root, device, progress)
    plan = kind.plan(cfg)
    todo = [r for r in plan if r.key not in results["runs"]]
    numbered = list(enumerate(todo, start=len(plan) - len(todo) + 1))
    spread = not ddp and dist.world_size() > 1  # each rank trains every world-size-th run
    mine: dict[str, dict] = {}
    for number, run in numbered[dist.rank() :: dist.world_size()] if spread else numbered:
        torch.manual_seed(run.seed)
        task = kind.task(cfg, data, run, device)
        train_cfg = kind.train_config(cfg, run, device)
        checkpoint = checkpoint_path(out, run)
        label = f"[{number}/{len(plan)}] {run.label}"
        config = {**cfg.to_dict(), **run.__dict__}
        with open_tracker(log if dist.is_main() or spread else "none", out, run.key, config, out.name) as tracker:
            result = train_with_progress(task, train_cfg, checkpoint, label, progress and dist.is_main(), ddp, tracker)
        mine[run.key] = {**run.__dict__, **result.to_dict()}
        if dist.is_main():
            results["runs"] |= mine
            for record in records.read():
                results["runs"] |= record
            save_results(results, out / "results.json")
            checkpoint.unlink(missing_ok=True)
        elif spread:
            records.write(mine)
            checkpoint.unlink(missing_ok=True)
    finished = dist.gather(mine if spread else {})
    if dist.is_main():
        for runs in finished:
            results["runs"] |= runs
        save_results(results, out / "results.json")
        records.clear()
        write_report(results, out)
        with open_tracker(log, out, "table", cfg.to_dict(), out.name) as tracker:
            tracker.table("table", (out / "table.md").read_text())
    dist.gather(None)  # no rank returns before the report is written
    return out


def _start(cfg: ExperimentConfig, out: Path, records: dist.RankRecords, fresh: bool) -> dict:
    """The results to resume from (rank 0): those in ``out``'s results.json and the runs other ranks of a killed
    run recorded (written into results.json at once), unless their settings differ (refused) or ``fresh``."""
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    if fresh:
        results_path.unlink(missing_ok=True)
        shutil.rmtree(out / "checkpoints", ignore_errors=True)
        records.clear()
    results = {"config": cfg.to_dict(), "runs": {}}
    if results_path.is_file():  # resume, or widen the grid (more seeds, models, variants) over the same settings
        old = json.loads(results_path.read_text())
        if differ := differing_settings(old["config"], results["config"]):
            raise FileExistsError(
                f"{out} holds results with other settings ({', '.join(differ)}); choose another --out or delete it"
            )
        results["runs"] = old["runs"]
    if kept := records.read():  # fold them in now: this run's ranks overwrite the records with their own
        for record in kept:
            results["runs"] |= record
        save_results(results, results_path)
        records.clear()
    (out / "checkpoints").mkdir(exist_ok=True)
    return results


def train_with_progress(
    task,
    cfg: TrainConfig,
    checkpoint: Path,
    label: str,
    progress: bool = True,
    ddp: bool = False,
    tracker: Tracker | None = None,
) -> RunResult:
    """``train`` with a bar of epochs (a resumed run's bar starts at its checkpoint's epoch), each epoch's
    metrics to ``tracker`` too."""
    tracker = tracker or Tracker()

    def on_epoch(epoch: int, metrics: dict) -> None:
        bar.update(bar_id, completed=epoch + 1, note=_short(metrics))
        tracker.epoch(epoch, metrics)

    with progress_bar(enabled=progress) as bar:
        bar_id = bar.add_task(label, total=cfg.epochs, note="")
        return train(task, cfg, checkpoint, on_epoch=on_epoch, ddp=ddp)


def _short(metrics: dict) -> str:
    return " ".join(f"{k} {v:.3f}" for k, v in metrics.items() if k in ("step_loss", "val_acc", "test_acc"))


def merge_results(folders: list[str | Path], out: str | Path) -> Path:
    """Join one experiment's runs from several output folders (say, separate jobs on other machines) into ``out``:
    the union of their grids and runs, with table and plot. Their settings must agree, and so must a run that
    more than one folder holds. ``out`` can then be resumed or widened like any experiment folder."""
    from weightaug.experiments.report import write_report

    out = Path(out)
    if len(folders) < 2:
        raise ValueError("give at least two experiment folders to merge")
    if (out / "results.json").exists():
        raise FileExistsError(f"{out} already holds a results.json; choose another --out")
    paths = [Path(folder) / "results.json" for folder in folders]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"{path.parent} holds no results.json: it is not an experiment's output folder")
    first, *rest = paths
    merged = json.loads(first.read_text())
    for path in rest:
        results = json.loads(path.read_text())
        if differ := differing_settings(merged["config"], results["config"]):
            raise ValueError(f"{path} and {first} differ in {', '.join(differ)}: only runs of equal settings merge")
        for key in GRID_KEYS:
            merged["config"][key] = list(dict.fromkeys(merged["config"].get(key, []) + results["config"].get(key, [])))
        for key, run in results["runs"].items():
            if merged["runs"].setdefault(key, run) != run:
                raise ValueError(
                    f"run {key} is in {path} and an earlier folder with other results (a rerun?); "
                    "move one of them out of the way"
                )
    out.mkdir(parents=True, exist_ok=True)
    save_results(merged, out / "results.json")
    write_report(merged, out)
    return out


def save_results(results: dict, path: Path) -> None:
    """Write a ``results.json`` (of an experiment or one training run) whole or not at all."""
    atomic_write_bytes(path, (json.dumps(results, indent=1) + "\n").encode())
