"""Experiment kinds: what differs between the experiments, one class each, asked by the runner, the config
checks and the report, which know no kind by name.

A kind checks its settings, plans its runs, loads its data, makes each run's training task and recipe, puts a
run in a cell of the table, and adds its own tables and plot. The INR kinds classify INRs (or, contrastive,
embed them); ``was`` trains image classifiers with shadow weights. A 3D source is the same classification kind
on other data.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import torch

from weightaug import dist
from weightaug.augment import AugmentationSpecError, build_augmentation
from weightaug.data.solids import load_any, spec_for
from weightaug.experiments.settings import DATA_KEYS, ExperimentConfig
from weightaug.experiments.tables import collect, findings, md_table, mean_std
from weightaug.inr.build import SplitConfig, default_chunk, fit_with_progress
from weightaug.inr.canonical import CanonicalForm, canonicalize
from weightaug.inr.fit import FitConfig
from weightaug.inr.store import INRDataset, INRSplit, read_manifest
from weightaug.models.normalize import NORMALISERS
from weightaug.train import (
    POINT_MODELS,
    SURFACE_POINTS,
    PixelClassification,
    Splits,
    TrainConfig,
    is_baseline,
    pixel_model,
)
from weightaug.train.tasks import inr_task, refuse_on_canonical, symmetric_parts


class KindError(ValueError):
    """A setting the experiment's kind cannot run."""


@dataclass(frozen=True)
class Run:
    """One training run of an experiment."""

    model: str
    variant: str = "none"
    views: int = 1
    fraction: float = 1.0
    seed: int = 0
    recipe: str = ""  # shadow-weight runs: weak or strong
    setup: str = ""  # symmetries runs: the normaliser and canonical form, "neuron/phase+mean"

    @property
    def key(self) -> str:
        extra = "".join(f"|{k}={v}" for k, v in (("recipe", self.recipe), ("setup", self.setup)) if v)
        return f"{self.model}|{self.variant}|views={self.views}|fraction={self.fraction:g}|seed={self.seed}{extra}"

    @property
    def label(self) -> str:
        return " ".join(filter(None, (self.model, self.variant, self.recipe, self.setup)))

    @property
    def is_pixel(self) -> bool:
        return is_baseline(self.model)


@dataclass(frozen=True)
class InrSettings:
    """The settings of every INR kind."""

    normalise: str = "neuron"  # the models' weight normaliser (weightaug.models.normalize.NORMALISERS)
    canonical: str = "none"  # or a canonical form of the INRs, made once per dataset (weightaug.inr.canonical)
    equal_steps: bool = False  # a run on V views trains epochs / V epochs: every run takes the same steps


@dataclass(frozen=True)
class ContrastiveSettings(InrSettings):
    temperature: float = 0.1  # NT-Xent's


@dataclass(frozen=True)
class ShadowSettings:
    recipes: list[str] = field(default_factory=lambda: ["strong"])  # weak and/or strong (weightaug.was.train)
    layers: str = "default"  # or "paper": the public code's layers per architecture (weightaug.was.train)
    scale_init: str = "one"  # or "uniform": the learnable scales start at U(0, 1), as in the public code
    image_size: int | None = None  # pad the images (zero, centred) to this size, e.g. 32 for the CIFAR models


class Kind:
    """An INR classification experiment, one row per variant (augmentation) and a column per model; the
    base of every kind. Subclasses change what they must."""

    name = "augmentations"
    Settings: type = InrSettings  # the kind's own settings, beside ExperimentConfig's
    images = False  # True: trains image classifiers, at the ``was-`` presets, with no INR dataset
    metric = "test accuracy"
    axis_label = "test accuracy, %"
    contrastive = False  # True: runs train embeddings contrastively, with the variant's positives

    def runs_at(self, preset: str) -> bool:
        return preset.startswith("was-") == self.images

    def check(self, cfg: ExperimentConfig) -> None:
        """Refuse models and variants that would fail later (a KindError or the registries' own errors)."""
        from weightaug.models import MODELS
        from weightaug.registry import parse

        for model in cfg.models:  # name:key=value, each key a parameter of the model
            parse(model, MODELS, "model", ("spec", "n_classes"))
        own = cfg.kind_settings
        form = None if own.canonical == "none" else CanonicalForm.parse(own.canonical)
        for variant in cfg.variants:
            pipeline = build_augmentation(augment_of(variant)[1])
            if form is not None:
                try:
                    refuse_on_canonical(pipeline, form)
                except AugmentationSpecError as err:
                    raise KindError(f"variant {variant!r} with canonical={form.name}: {err}") from err
        if own.normalise not in NORMALISERS:
            raise KindError(f"normalise: choose one of {', '.join(NORMALISERS)}, got {own.normalise!r}")

    def plan(self, cfg: ExperimentConfig) -> list[Run]:
        """Every run the experiment needs, pixel baselines last."""
        runs = [
            Run(model, variant, views, fraction, seed)
            for model in cfg.models
            for variant in cfg.variants
            for views in cfg.view_list
            for fraction in cfg.train_fractions
            for seed in cfg.seeds
        ]
        return runs + self.pixel_runs(cfg)

    @staticmethod
    def pixel_runs(cfg: ExperimentConfig) -> list[Run]:
        return [Run(m, "none", 1, 1.0, s) for m in cfg.pixel_models for s in cfg.seeds]

    def load(self, cfg: ExperimentConfig, data_root: str | Path, device: str, progress: bool):
        """The experiment's INR dataset (the given one, or fitted once per data setting) and its splits."""
        ds = INRDataset(cfg.dataset) if cfg.dataset else ensure_dataset(cfg, data_root, device, progress)
        if cfg.kind_settings.canonical != "none":
            ds = ensure_canonical(ds, CanonicalForm.parse(cfg.kind_settings.canonical), data_root)
        if cfg.pixel_models and ds.manifest["source"]["name"] == "imported":
            raise KindError(
                f"pixel baselines train on the source images, which the imported dataset {ds.root} does not have; "
                "--set pixel_models=[]"
            )
        return ds, splits_of(ds)

    def task(self, cfg: ExperimentConfig, data, run: Run, device: str):
        """The training task of one run."""
        ds, splits = data
        if run.is_pixel:
            return pixel_task(cfg, ds, run, device)
        return self.inr_task(cfg, ds, splits, run, cfg.kind_settings.normalise, device)

    def inr_task(self, cfg: ExperimentConfig, ds: INRDataset, splits: Splits, run: Run, normalise: str, device: str):
        """The task of an INR run on ``splits`` (its views and fraction of the training split)."""
        splits = Splits(subset(splits.train, run.views, run.fraction), splits.val, splits.test)
        positives, augment = augment_of(run.variant)
        form = CanonicalForm.of(ds.manifest)
        contrastive = {"positives": positives, "temperature": cfg.kind_settings.temperature} if self.contrastive else {}
        return inr_task(
            run.model,
            splits,
            len(ds.classes),
            augment,
            normalise=normalise,
            device=device,
            canonical=form,
            **contrastive,
        )

    def train_config(self, cfg: ExperimentConfig, run: Run, device: str) -> TrainConfig:
        return TrainConfig(
            epochs=max(1, round(cfg.epochs / run.views)) if cfg.kind_settings.equal_steps else cfg.epochs,
            batch_size=cfg.batch_size,
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            optimizer=cfg.optimizer,
            schedule=cfg.schedule,
            seed=run.seed,
            device=device,
        )

    def cell(self, run: dict) -> tuple[str, str]:
        """(row, column) of a run in the table."""
        return run["variant"], run["model"]

    def tables(self, results: dict) -> list[str]:
        """Markdown lines after the main table."""
        return []

    def draw(self, results: dict, ax) -> bool:
        """Plot the results on ``ax``; returns whether the accuracy axis is the vertical one."""
        cells, _ = collect(results, self.cell)
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
        return False

    def train_table(self, results: dict) -> list[str]:
        return [
            "",
            "Training accuracy at the same epoch (a fixed subset of the unaugmented training INRs):",
            "",
            *md_table(collect(results, self.cell, "train_acc")[0]),
        ]


class Contrastive(Kind):
    """SimCLR on INR weights, judged by a linear probe; a variant is ``positives | augmentation``."""

    name = "contrastive"
    Settings = ContrastiveSettings
    metric = "linear-probe test accuracy"
    contrastive = True


class Overfitting(Kind):
    """Train and test accuracy per epoch, one view against several."""

    name = "overfitting"
    axis_label = "accuracy, %"

    def cell(self, run: dict) -> tuple[str, str]:
        return f"{run['views']} view(s)", run["model"]

    def tables(self, results: dict) -> list[str]:
        return self.train_table(results)

    def draw(self, results: dict, ax) -> bool:
        from matplotlib.ticker import MaxNLocator  # matplotlib is imported only to plot

        curves = {}
        for run in results["runs"].values():
            if not is_baseline(run["model"]):
                curves.setdefault((run["model"], run["views"]), []).append(run["history"])
        for (model, views), histories in curves.items():
            for metric, style in (("train_acc", "--"), ("test_acc", "-")):
                per_epoch = list(zip(*[[100 * h[metric] for h in hist] for hist in histories]))
                ax.plot([sum(v) / len(v) for v in per_epoch], style, label=f"{model}, {views} view(s), {metric[:-4]}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        return True


class ViewsVsData(Kind):
    """Accuracy against the fraction of training objects, per views and variant."""

    name = "views-vs-data"

    def cell(self, run: dict) -> tuple[str, str]:
        return f"{run['fraction']:g} of the objects", f"{run['model']}, {run['views']} view(s), {run['variant']}"

    def draw(self, results: dict, ax) -> bool:
        cells, _ = collect(results, self.cell)
        lines: dict[str, dict] = {}
        for (row, col), values in cells.items():
            lines.setdefault(col, {})[float(row.split()[0])] = mean_std(values)
        for col, points in lines.items():
            xs = sorted(points)
            ax.errorbar(xs, [points[x][0] for x in xs], [points[x][1] for x in xs], marker="o", capsize=3, label=col)
        ax.set_xscale("log")
        ax.set_xlabel("fraction of the training objects")
        return True


class Findings(Kind):
    """No augmentation at every view count, then each augmentation at the first; a summary in words."""

    name = "findings"

    def plan(self, cfg: ExperimentConfig) -> list[Run]:
        cells = [("none", v) for v in cfg.view_list] + [(a, cfg.view_list[0]) for a in cfg.variants if a != "none"]
        runs = [Run(m, a, v, 1.0, seed) for m in cfg.models for a, v in cells for seed in cfg.seeds]
        return runs + self.pixel_runs(cfg)

    def cell(self, run: dict) -> tuple[str, str]:
        views = f"{run['views']} view{'s' if run['views'] > 1 else ''}"
        return (views if run["variant"] == "none" else f"{views} + {run['variant']}"), run["model"]

    def tables(self, results: dict) -> list[str]:
        return [*self.train_table(results), "", *findings(results, self.cell)]


@dataclass(frozen=True)
class SymmetrySettings(InrSettings):
    # normaliser, or normaliser/canonical form (weightaug.inr.canonical): one column per model and setup
    setups: list[str] = field(default_factory=lambda: ["position", "neuron", "neuron/phase+mean"])


def parse_setup(setup: str) -> tuple[str, str]:
    """``"neuron/phase+mean"`` -> (normaliser, canonical form or "none"), both checked."""
    normalise, _, form = setup.partition("/")
    if normalise not in NORMALISERS:
        raise KindError(
            f"setup {setup!r}: the normaliser must be one of {', '.join(NORMALISERS)}, e.g. neuron/phase+mean"
        )
    if form:
        CanonicalForm.parse(form)
    return normalise, form or "none"


class Symmetries(Kind):
    """Each model under each setup (its normaliser, and the INRs as fitted or in a canonical form) with each
    variant: what augmentation adds on top of invariance the model or the data already has."""

    name = "symmetries"
    Settings = SymmetrySettings

    def check(self, cfg: ExperimentConfig) -> None:
        if cfg.kind_settings.canonical != "none":
            raise KindError("symmetries: give the canonical forms in setups (normaliser/form), not in canonical")
        super().check(cfg)
        if not cfg.kind_settings.setups:
            raise KindError("setups must not be empty: name a normaliser, or normaliser/form (neuron/phase+mean)")
        for setup in cfg.kind_settings.setups:
            parse_setup(setup)

    def plan(self, cfg: ExperimentConfig) -> list[Run]:
        """The grid, but for a symmetry augmentation on canonical INRs (it moves them off their form)."""
        symmetric = {v for v in cfg.variants if applies_symmetry(v)}
        canonical = {s for s in cfg.kind_settings.setups if parse_setup(s)[1] != "none"}
        runs = [  # seed-major: an interrupted experiment still holds whole comparisons
            Run(model, variant, views, 1.0, seed, setup=setup)
            for seed in cfg.seeds
            for views in cfg.view_list
            for setup in cfg.kind_settings.setups
            for model in cfg.models
            for variant in cfg.variants
            if not (setup in canonical and variant in symmetric)
        ]
        return runs + self.pixel_runs(cfg)

    def load(self, cfg: ExperimentConfig, data_root: str | Path, device: str, progress: bool):
        """The dataset and its splits, and those of each canonical form the setups name."""
        ds, splits = super().load(cfg, data_root, device, progress)
        forms = {parse_setup(s)[1] for s in cfg.kind_settings.setups} - {"none"}
        canonical = {"none": (ds, splits)}
        for form in sorted(forms):
            c = ensure_canonical(ds, CanonicalForm.parse(form), data_root)
            canonical[form] = c, splits_of(c)
        return canonical

    def task(self, cfg: ExperimentConfig, data, run: Run, device: str):
        if run.is_pixel:
            return pixel_task(cfg, data["none"][0], run, device)
        normalise, form = parse_setup(run.setup)
        return self.inr_task(cfg, *data[form], run, normalise, device)

    def cell(self, run: dict) -> tuple[str, str]:
        return run["variant"], f"{run['model']}, {run['setup']}" if run.get("setup") else run["model"]

    def tables(self, results: dict) -> list[str]:
        return self.train_table(results)


class ShadowWeights(Kind):
    """Image classifiers trained plainly or with shadow weights (a variant is a shadow transform, or none),
    under each recipe, evaluated in plain mode, shadow mode and, for shifts, desire-oriented mode."""

    name = "was"
    Settings = ShadowSettings
    images = True
    metric = "test accuracy, plain weights in eval() as trained,"

    def check(self, cfg: ExperimentConfig) -> None:
        from weightaug.was.train import check_settings

        own = cfg.kind_settings
        try:
            check_settings(cfg.models, cfg.variants, own.recipes, own.layers, own.scale_init)
        except ValueError as err:
            raise KindError(str(err)) from err

    def plan(self, cfg: ExperimentConfig) -> list[Run]:
        return [  # seed-major: an interrupted experiment still holds whole comparisons
            Run(model, variant, seed=seed, recipe=recipe)
            for seed in cfg.seeds
            for recipe in cfg.kind_settings.recipes
            for model in cfg.models
            for variant in cfg.variants
        ]

    def load(self, cfg: ExperimentConfig, data_root: str | Path, device: str, progress: bool):
        from weightaug.was.train import image_data

        size = cfg.kind_settings.image_size
        return image_data(cfg.source, cfg.data_dir, cfg.train_size, cfg.val_size, cfg.test_size, image_size=size)

    def task(self, cfg: ExperimentConfig, data, run: Run, device: str):
        from weightaug.was.train import was_task

        own = cfg.kind_settings
        return was_task(
            run.model, run.variant, run.recipe, *data, device=device, seed=run.seed, layers=own.layers,
            scale_init=own.scale_init,
        )  # fmt: skip

    def train_config(self, cfg: ExperimentConfig, run: Run, device: str) -> TrainConfig:
        from weightaug.was.train import recipe_config

        return recipe_config(run.recipe, cfg.epochs, cfg.batch_size, run.seed, device)

    def cell(self, run: dict) -> tuple[str, str]:
        return run["variant"], f"{run['model']}, {run['recipe']} recipe"

    def tables(self, results: dict) -> list[str]:
        def table(text: str, metric: str, selected_by: str | None = None) -> list[str]:
            cells = collect(results, self.cell, metric, selected_by)[0]
            return ["", text, "", *md_table(cells)] if cells else []

        lines = table("Plain weights after recalibrating BatchNorm with them on 2,048 training images (selected on "
                      "the recalibrated validation accuracy):", "recal_test_acc", "recal_val_acc")  # fmt: skip
        lines += table("The paper's protocol: plain weights, BatchNorm in train() mode on test batches of 128, the "
                       "best test epoch (selected on the test set):", "trainbn_test_acc", "trainbn_test_acc")  # fmt: skip
        lines += table(
            "The same models in shadow mode (the last drawn shadow weights, fixed), eval() as trained:",
            "shadow_test_acc",
        )
        lines += table("In shadow mode after recalibrating BatchNorm under the same draw (selected on its validation "
                       "accuracy):", "shadow_recal_test_acc", "shadow_recal_val_acc")  # fmt: skip
        dom, _ = collect(results, self.cell, "dom_test_acc")
        if dom:
            ratios = [r["best"]["dom_flops_ratio"] for r in results["runs"].values() if "dom_flops_ratio" in r["best"]]
            lines += ["", f"Desire-oriented models (every kernel shifted one pixel, the emptied column cut): "
                      f"{100 * sum(ratios) / len(ratios):.1f}% of the plain model's FLOPs; test accuracy:", ""]  # fmt: skip
            lines += md_table(dom)
        return lines + self.sweep_table(results)

    def sweep_table(self, results: dict) -> list[str]:
        """The desire-oriented models of the last epoch, per FLOPs level: the level's first shift, the shift
        validation chooses, and the one it chooses after recalibrating BatchNorm (:func:`chosen_shift`)."""
        from weightaug.was.desire import chosen_shift

        cells = defaultdict(list)
        for run in results["runs"].values():
            rows = run.get("final", {}).get("dom_sweep", [])
            picks = {
                "fixed": ("dom_", {lvl: next(r for r in rows if round(r["dom_flops_ratio"], 3) == lvl)
                                   for lvl in chosen_shift(rows)}),
                "chosen on validation": ("dom_", chosen_shift(rows)),
                "chosen, BatchNorm recalibrated": ("dom_recal_", chosen_shift(rows, "dom_recal_")),
            }  # fmt: skip
            for how, (prefix, chosen) in picks.items():
                for level, row in chosen.items():
                    shift = f" ({row['dx']:+d}, {row['dy']:+d})" if how == "fixed" else ""
                    cells[f"{run['variant']} at {100 * level:.1f}% FLOPs, {how}{shift}", self.cell(run)[1]].append(
                        100 * row[f"{prefix}test_acc"]
                    )
        text = ("Desire-oriented models of the last epoch (every kernel shifted one pixel, the emptied border cut), "
                "per FLOPs level: the first shift, the shift with the best validation accuracy, and the same choice "
                "after recalibrating BatchNorm on 2,048 training images; test accuracy:")  # fmt: skip
        return ["", text, "", *md_table(cells)] if cells else []


KINDS: dict[str, Kind] = {
    k.name: k for k in (Overfitting(), Kind(), ViewsVsData(), Contrastive(), Findings(), Symmetries(), ShadowWeights())
}


def ensure_dataset(cfg: ExperimentConfig, data_root: str | Path, device: str, progress: bool) -> INRDataset:
    """The experiment's INR dataset under ``data_root`` (named by its data settings): built on first use,
    resumed if interrupted, shared by every experiment with the same data settings (under torchrun the ranks
    fit it together, shard by shard)."""
    digest = hashlib.sha1(json.dumps([getattr(cfg, k) for k in DATA_KEYS]).encode()).hexdigest()[:8]
    root = Path(data_root) / f"{cfg.source}-{cfg.fitted_views}v-{digest}"
    source = load_any(cfg.source, cfg.data_dir, progress=progress)
    spec = spec_for(source, output_offset=cfg.output_offset)
    chunk = default_chunk(source, device)
    if (root / "manifest.json").is_file():
        old = read_manifest(root)
        if old["complete"]:
            return INRDataset(root)
        chunk = old["fit"]["chunk_size"]  # resume with the chunking the fit began with, on any device
    fit = FitConfig(steps=cfg.fit_steps, lr=cfg.fit_lr, init=cfg.init, chunk_size=chunk)
    splits = SplitConfig(
        train_size=cfg.train_size, val_size=cfg.val_size, test_size=cfg.test_size, views=cfg.fitted_views
    )
    fit_with_progress(root, source, spec, fit, splits, device=device, enabled=progress)
    return INRDataset(root)


def splits_of(ds: INRDataset) -> Splits:
    """What an experiment trains and evaluates on: every training view, the first view of val and test."""
    return Splits(ds.split("train"), ds.split("val", 1), ds.split("test", 1))


def ensure_canonical(ds: INRDataset, form: CanonicalForm, data_root: str | Path) -> INRDataset:
    """``ds`` in canonical ``form``, made once under ``data_root`` (by rank 0 under torchrun) and reused."""
    digest = hashlib.sha1(str(ds.root.resolve()).encode()).hexdigest()[:6]
    root = Path(data_root) / f"{ds.root.name}-{form.name}-{digest}"

    def make() -> None:
        if not (
            (root / "manifest.json").is_file() and read_manifest(root).get("canonical", {}).get("name") == form.name
        ):
            canonicalize(ds.root, root, form, overwrite=True)

    dist.on_main(make)
    return INRDataset(root)


def subset(part: INRSplit, views: int, fraction: float) -> INRSplit:
    """The first ``views`` views of the first ``fraction`` of the split's objects (in split order)."""
    part = part.first_views(views)
    objects = part.object_ids[part.view_ids == 0]
    kept = objects[: max(2, math.ceil(fraction * len(objects)))]
    return part[torch.isin(part.object_ids, kept).nonzero().flatten()]


def pixel_task(cfg: ExperimentConfig, ds: INRDataset, run: Run, device: str) -> PixelClassification:
    """The baseline on the raw objects of the dataset, split as the INRs are: their images, or for 3D shapes
    :data:`SURFACE_POINTS` points on each surface (drawn from the split seed, per object)."""
    source = load_any(ds.manifest["source"]["name"], cfg.data_dir)
    solid = ds.quality == "iou"
    if solid != (run.model in POINT_MODELS):
        raise KindError(f"{run.model} does not take {'3D shapes' if solid else 'images'}; use "
                        f"{'points-pointnet' if solid else 'pixel-mlp or pixel-cnn'} as the baseline")  # fmt: skip
    seed = ds.manifest["split_config"]["seed"]
    inputs, labels = {}, {}
    for name in ("train", "val", "test"):
        ids = ds.column(name, "object_ids")[ds.column(name, "view_ids") == 0]
        inputs[name] = source.surface(ids, SURFACE_POINTS, seed) if solid else source.float_images(ids)
        labels[name] = source.labels[ids]
    model = pixel_model(run.model, tuple(inputs["train"].shape[1:]), len(source.classes))
    return PixelClassification(model, inputs, labels, len(source.classes), device)


def applies_symmetry(variant: str) -> bool:
    """Whether the variant's augmentation draws from a weight-space symmetry (permutation, sign, bias shift)."""
    return bool(symmetric_parts(build_augmentation(augment_of(variant)[1])))


def augment_of(variant: str) -> tuple[str, str | None]:
    """``(positives, augmentation string or None)`` of a variant: ``"views | noise"`` or plain ``"noise"``."""
    positives, _, augment = variant.rpartition("|")
    augment = augment.strip()
    return positives.strip() or "augment", None if augment in ("", "none") else augment
