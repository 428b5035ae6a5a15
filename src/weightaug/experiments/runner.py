"""Run an experiment: build (or reuse) its INR dataset, train every run, write results, a table and plots.

Each run (model x variant x views x data fraction x seed) is recorded in ``results.json`` as soon as it ends,
and checkpointed every epoch while it trains, so an interrupted experiment resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from dataclasses import MISSING, dataclass, fields
from pathlib import Path

import torch

from weightaug.data.sources import load_source
from weightaug.experiments.config import DATA_KEYS, ConfigError, ExperimentConfig, augment_of, load_config
from weightaug.inr.build import SplitConfig, build_dataset
from weightaug.inr.fit import FitConfig
from weightaug.inr.store import INRDataset, INRSplit, read_manifest
from weightaug.io import atomic_write_bytes
from weightaug.progress import progress_bar
from weightaug.train import (
    PixelClassification,
    Splits,
    TrainConfig,
    pixel_model,
    train,
)
from weightaug.train.tasks import inr_task
from weightaug.was.train import image_data, recipe_config, was_task
from weightaug.weights import NetworkSpec


@dataclass(frozen=True)
class Run:
    """One training run of an experiment."""

    model: str
    variant: str = "none"
    views: int = 1
    fraction: float = 1.0
    seed: int = 0
    recipe: str = ""  # shadow-weight runs: weak or strong

    @property
    def key(self) -> str:
        recipe = f"|recipe={self.recipe}" if self.recipe else ""
        return f"{self.model}|{self.variant}|views={self.views}|fraction={self.fraction:g}|seed={self.seed}{recipe}"

    @property
    def is_pixel(self) -> bool:
        return self.model.startswith("pixel-")


def plan_runs(cfg: ExperimentConfig) -> list[Run]:
    """Every run the experiment needs, pixel baselines last."""
    if cfg.kind == "was":
        return [  # seed-major: an interrupted experiment still holds whole comparisons
            Run(model, variant, seed=seed, recipe=recipe)
            for seed in cfg.seeds
            for recipe in cfg.recipes
            for model in cfg.models
            for variant in cfg.variants
        ]
    if cfg.kind == "findings":  # no augmentation at every view count, then each augmentation at the first
        cells = [("none", v) for v in cfg.view_list] + [(a, cfg.view_list[0]) for a in cfg.variants if a != "none"]
        runs = [Run(m, a, v, 1.0, seed) for m in cfg.models for a, v in cells for seed in cfg.seeds]
    else:
        runs = [
            Run(model, variant, views, fraction, seed)
            for model in cfg.models
            for variant in cfg.variants
            for views in cfg.view_list
            for fraction in cfg.train_fractions
            for seed in cfg.seeds
        ]
    return runs + [Run(m, "none", 1, 1.0, s) for m in cfg.pixel_models for s in cfg.seeds]


GRID_KEYS = ("models", "pixel_models", "variants", "seeds", "train_fractions", "recipes")  # what a run varies
NOT_SETTINGS = ("description", "data_dir")  # may change between resumes: they change no result


def differing_settings(a: dict, b: dict) -> list[str]:
    """The keys on which two experiment configs differ, other than the grid and ``NOT_SETTINGS``.

    A key one config lacks (results written before that setting existed) counts as its default.
    """
    defaults = {f.name: f.default for f in fields(ExperimentConfig) if f.default is not MISSING}
    keys = (set(a) | set(b)) - set(GRID_KEYS) - set(NOT_SETTINGS)
    return sorted(k for k in keys if a.get(k, defaults.get(k)) != b.get(k, defaults.get(k)))


FIT_CHUNK = {"cpu": 128, "cuda": 8192}  # INRs fitted together: a speed knob, recorded in the manifest


def ensure_dataset(cfg: ExperimentConfig, data_root: str | Path, device: str, progress: bool) -> INRDataset:
    """The experiment's INR dataset under ``data_root`` (named by its data settings): built on first use,
    resumed if interrupted, shared by every experiment with the same data settings (experiments started
    side by side fit it together, shard by shard)."""
    digest = hashlib.sha1(json.dumps([getattr(cfg, k) for k in DATA_KEYS]).encode()).hexdigest()[:8]
    root = Path(data_root) / f"{cfg.source}-{cfg.fitted_views}v-{digest}"
    source = load_source(cfg.source, cfg.data_dir)
    spec = NetworkSpec(out_dim=source.shape[0], output_offset=cfg.output_offset)
    chunk = FIT_CHUNK[torch.device(device).type]
    if (root / "manifest.json").is_file():
        old = read_manifest(root)
        if old["complete"]:
            return INRDataset(root)
        chunk = old["fit"]["chunk_size"]  # resume with the chunking the fit began with, on any device
    fit = FitConfig(steps=cfg.fit_steps, lr=cfg.fit_lr, init=cfg.init, chunk_size=chunk)
    splits = SplitConfig(
        train_size=cfg.train_size, val_size=cfg.val_size, test_size=cfg.test_size, views=cfg.fitted_views
    )
    n_items = sum(len(ids) * splits.views_of(name) for name, ids in splits.objects(source).items())
    with progress_bar(rate=True, enabled=progress) as bar:
        task = bar.add_task(f"fitting INRs into {root}", total=n_items, note="")
        build_dataset(
            root, source, spec, fit, splits, device=device, progress=lambda n, _p: bar.update(task, advance=n)
        )
    return INRDataset(root)


def subset(part: INRSplit, views: int, fraction: float) -> INRSplit:
    """The first ``views`` views of the first ``fraction`` of the split's objects (in split order)."""
    part = part.first_views(views)
    objects = part.object_ids[part.view_ids == 0]
    kept = objects[: max(2, math.ceil(fraction * len(objects)))]
    return part[torch.isin(part.object_ids, kept).nonzero().flatten()]


def pixel_task(cfg: ExperimentConfig, ds: INRDataset, run: Run, device: str) -> PixelClassification:
    """The pixel baseline on the raw images of the dataset's objects, split as the INRs are."""
    source = load_source(ds.manifest["source"]["name"], cfg.data_dir)
    images, labels = {}, {}
    for name in ("train", "val", "test"):
        ids = ds.column(name, "object_ids")[ds.column(name, "view_ids") == 0]
        images[name], labels[name] = source.float_images(ids), source.labels[ids]
    model = pixel_model(run.model, source.shape, len(source.classes))
    return PixelClassification(model, images, labels, len(source.classes), device)


def make_task(cfg: ExperimentConfig, ds: INRDataset | None, data, run: Run, device: str):
    """The training task of one run (``data``: the INR splits, or for shadow-weight runs the images)."""
    if cfg.kind == "was":
        return was_task(run.model, run.variant, run.recipe, *data, device=device, seed=run.seed)
    if run.is_pixel:
        return pixel_task(cfg, ds, run, device)
    splits = Splits(subset(data.train, run.views, run.fraction), data.val, data.test)
    positives, augment = augment_of(run.variant)
    positives = positives if cfg.kind == "contrastive" else None
    return inr_task(run.model, splits, len(ds.classes), augment, positives, cfg.temperature, cfg.normalise, device)


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
) -> Path:
    """Run (or resume) experiment ``name`` at ``preset``; returns the output folder.

    The folder gets ``results.json`` (config, per-run curves and best epochs), ``table.md`` and PNG plots.
    A folder of earlier runs with the same data and training settings is resumed, and its grid widened:
    adding seeds, models, variants or recipes runs only the new runs; the report covers every run there.
    ``fresh`` discards the folder's earlier results and the checkpoints of its unfinished runs first.
    """
    from weightaug.experiments.report import write_report

    cfg = load_config(name, preset, overrides)  # every config error surfaces here, before any work
    out = Path(out or Path("runs/experiments") / f"{name}-{preset}")
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    if fresh:
        results_path.unlink(missing_ok=True)
        shutil.rmtree(out / "checkpoints", ignore_errors=True)
    results = {"config": cfg.to_dict(), "runs": {}}
    if results_path.is_file():  # resume, or widen the grid (more seeds, models, variants) over the same settings
        old = json.loads(results_path.read_text())
        if differ := differing_settings(old["config"], results["config"]):
            raise FileExistsError(
                f"{out} holds results with other settings ({', '.join(differ)}); choose another --out or delete it"
            )
        results["runs"] = old["runs"]
    if cfg.kind == "was":
        ds, data = None, image_data(cfg.source, cfg.data_dir, cfg.train_size, cfg.val_size, cfg.test_size)
    else:
        ds = INRDataset(cfg.dataset) if cfg.dataset else ensure_dataset(cfg, data_root, device, progress)
        if cfg.pixel_models and ds.manifest["source"]["name"] == "imported":
            raise ConfigError(
                f"pixel baselines train on the source images, which the imported dataset {ds.root} does not have; "
                "--set pixel_models=[]"
            )
        data = Splits(ds.split("train"), ds.split("val", 1), ds.split("test", 1))
    (out / "checkpoints").mkdir(exist_ok=True)
    plan = plan_runs(cfg)
    todo = [r for r in plan if r.key not in results["runs"]]
    for number, run in enumerate(todo, start=len(plan) - len(todo) + 1):
        torch.manual_seed(run.seed)
        task = make_task(cfg, ds, data, run, device)
        if cfg.kind == "was":
            train_cfg = recipe_config(run.recipe, cfg.epochs, cfg.batch_size, run.seed, device)
        else:
            train_cfg = TrainConfig(
                epochs=max(1, round(cfg.epochs / run.views)) if cfg.equal_steps else cfg.epochs,
                batch_size=cfg.batch_size,
                lr=cfg.lr,
                weight_decay=cfg.weight_decay,
                optimizer=cfg.optimizer,
                schedule=cfg.schedule,
                seed=run.seed,
                device=device,
            )
        checkpoint = checkpoint_path(out, run)
        label = f"[{number}/{len(plan)}] {run.model} {run.variant} {run.recipe}"
        result = train_with_progress(task, train_cfg, checkpoint, label, progress)
        results["runs"][run.key] = {**run.__dict__, **result.to_dict()}
        save_results(results, results_path)
        checkpoint.unlink(missing_ok=True)
    write_report(results, out)
    return out


def train_with_progress(task, cfg: TrainConfig, checkpoint: Path, label: str, progress: bool = True):
    """``train`` with a bar of epochs (a resumed run's bar starts at its checkpoint's epoch)."""
    with progress_bar(enabled=progress) as bar:
        bar_id = bar.add_task(label, total=cfg.epochs, note="")
        return train(
            task,
            cfg,
            checkpoint,
            on_epoch=lambda epoch, m: bar.update(bar_id, completed=epoch + 1, note=_short(m)),
        )


def _short(metrics: dict) -> str:
    return " ".join(f"{k} {v:.3f}" for k, v in metrics.items() if k in ("train_loss", "val_acc", "test_acc"))


def merge_results(folders: list[str | Path], out: str | Path) -> Path:
    """Join one experiment's runs from several output folders (say, processes run side by side) into ``out``:
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
