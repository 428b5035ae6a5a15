"""Named, versioned experiment configs (TOML, shipped in ``configs/``) resolved against a data preset.

A preset (``presets.toml``) fixes the data and the training recipe; an experiment file fixes what varies.
Keys resolve in this order, later winning: preset, experiment, the experiment's ``[presets.<name>]`` table,
then overrides from the caller. Unknown keys are errors that list the valid ones.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

VERSION = 1
KINDS = ("overfitting", "augmentations", "views-vs-data", "contrastive", "findings", "was")


class ConfigError(ValueError):
    """An experiment or preset config that cannot be run."""


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything one experiment run needs (see the TOML files for what each preset sets)."""

    name: str
    preset: str
    kind: str
    description: str = ""
    source: str = "digits"
    data_dir: str | None = None
    dataset: str | None = None  # an existing INR dataset folder (fitted or imported) instead of fitting one
    init: str = "sitzmann"
    fit_steps: int = 500
    fit_lr: float = 5e-3
    output_offset: float = 0.0  # added to every INR's output (the peers' INRs: 0.5)
    train_size: int | None = None
    val_size: int | None = None
    test_size: int | None = None
    views: int | list[int] = 1
    epochs: int = 30
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 5e-4
    optimizer: str = "adamw"
    schedule: str = "cosine"
    seeds: list[int] = field(default_factory=lambda: [0])
    models: list[str] = field(default_factory=lambda: ["dwsnet"])
    pixel_models: list[str] = field(default_factory=list)
    variants: list[str] = field(default_factory=lambda: ["none"])
    train_fractions: list[float] = field(default_factory=lambda: [1.0])
    temperature: float = 0.1
    normalise: str = "position"
    recipes: list[str] = field(default_factory=lambda: ["strong"])  # kind "was": weak and/or strong
    equal_steps: bool = False  # a run on V views trains epochs / V epochs: every run takes the same steps

    @property
    def view_list(self) -> list[int]:
        return list(self.views) if isinstance(self.views, list) else [self.views]

    @property
    def fitted_views(self) -> int:
        """Views per training object the dataset must hold."""
        return max(self.view_list)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


KEYS = {f.name for f in fields(ExperimentConfig)} - {"name", "preset"}
# The settings that make an INR dataset: experiments that agree on them share one.
DATA_KEYS = (
    "source",
    "init",
    "fit_steps",
    "fit_lr",
    "output_offset",
    "train_size",
    "val_size",
    "test_size",
    "fitted_views",
)


def _read(name: str) -> dict:
    path = resources.files("weightaug.experiments") / "configs" / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(f"unknown experiment {name!r}; choose from: {', '.join(experiments())}")
    with path.open("rb") as f:
        return tomllib.load(f)


def experiments() -> list[str]:
    folder = resources.files("weightaug.experiments") / "configs"
    return sorted(
        p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml") and p.name != "presets.toml"
    )


def runs_at(kind: str, preset: str) -> bool:
    """Shadow-weight experiments run at the ``was-`` presets (images), the INR experiments at the others."""
    return (kind == "was") == preset.startswith("was-")


def describe(name: str) -> tuple[str, list[str]]:
    """An experiment's description and the presets it runs at (for listings; nothing is resolved)."""
    table = _read(name)
    return table.get("description", ""), [p for p in presets() if runs_at(table.get("kind", ""), p)]


def presets() -> dict[str, dict]:
    table = _read("presets")
    _check_version(table, "presets.toml")
    return {k: v for k, v in table.items() if isinstance(v, dict)}


def _check_version(table: dict, where: str) -> None:
    if table.get("version") != VERSION:
        raise ConfigError(f"{where} has version {table.get('version')!r}; this weightaug reads version {VERSION}")


def _checked(table: dict, where: str) -> dict:
    unknown = sorted(set(table) - KEYS)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} in {where}; valid keys: {', '.join(sorted(KEYS))}")
    return table


def load_config(name: str, preset: str, overrides: dict | None = None) -> ExperimentConfig:
    """The experiment ``name`` at ``preset``, with ``overrides`` (same keys as the TOML files) on top."""
    table = _read(name)
    _check_version(table, f"{name}.toml")
    known = presets()
    if preset not in known:
        raise ConfigError(f"unknown preset {preset!r}; choose from: {', '.join(known)}")
    per_preset = table.pop("presets", {})
    unknown_presets = sorted(set(per_preset) - set(known))
    if unknown_presets:
        raise ConfigError(f"{name}.toml overrides presets that do not exist: {', '.join(unknown_presets)}")
    table.pop("version")
    merged = {
        **_checked(dict(known[preset]), f"presets.toml [{preset}]"),
        **_checked(table, f"{name}.toml"),
        **_checked(per_preset.get(preset, {}), f"{name}.toml [presets.{preset}]"),
        **_checked(dict(overrides or {}), "the overrides"),
    }
    if merged.get("kind") not in KINDS:
        raise ConfigError(f"{name}.toml: kind must be one of {', '.join(KINDS)}, got {merged.get('kind')!r}")
    if not runs_at(merged["kind"], preset):
        fitting = [p for p in known if runs_at(merged["kind"], p)]
        raise ConfigError(f"experiment {name!r} does not run at preset {preset!r}; its presets: {', '.join(fitting)}")
    cfg = ExperimentConfig(name=name, preset=preset, **merged)
    validate(cfg)
    return cfg


def validate(cfg: ExperimentConfig) -> None:
    """Refuse a config that would fail later: unknown models, augmentations or sizes, before any work starts."""
    from weightaug.augment import build_augmentation
    from weightaug.data.sources import SOURCES
    from weightaug.inr.fit import FitConfig
    from weightaug.models import MODELS
    from weightaug.registry import RegistryError, parse
    from weightaug.train import PIXEL_MODELS, TrainConfig
    from weightaug.was import IMAGE_MODELS, build_transform
    from weightaug.was.train import RECIPES

    if cfg.source not in SOURCES:
        raise ConfigError(f"source {cfg.source!r} is not one of {', '.join(SOURCES)}")
    models = IMAGE_MODELS if cfg.kind == "was" else MODELS
    bad = [m for m in cfg.pixel_models if m not in PIXEL_MODELS]
    if cfg.kind == "was":
        bad += [m for m in cfg.models if m not in models]
    if bad:
        raise ConfigError(
            f"unknown model(s) {bad}; models: {', '.join(models)}; pixel baselines: {', '.join(PIXEL_MODELS)}"
        )
    for model in cfg.models if cfg.kind != "was" else []:  # name:key=value, each key a parameter of the model
        try:
            parse(model, MODELS, "model", ("spec", "n_classes"))
        except RegistryError as err:
            raise ConfigError(str(err)) from err
    if not cfg.seeds or not cfg.models or not cfg.variants or not cfg.recipes:
        raise ConfigError("seeds, models, variants and recipes must not be empty")
    if min(cfg.view_list) < 1 or not all(0 < f <= 1 for f in cfg.train_fractions):
        raise ConfigError("views must be >= 1 and train_fractions in (0, 1]")
    try:  # the fitter's and the training loop's own checks
        FitConfig(steps=cfg.fit_steps, lr=cfg.fit_lr, init=cfg.init)
        TrainConfig(optimizer=cfg.optimizer, schedule=cfg.schedule)
    except ValueError as err:
        raise ConfigError(str(err)) from err
    unknown = [r for r in cfg.recipes if r not in RECIPES]
    if unknown:
        raise ConfigError(f"unknown recipe(s) {unknown}; choose from {', '.join(RECIPES)}")
    for variant in cfg.variants:  # each raises, naming an unknown transform or augmentation
        if cfg.kind != "was":
            build_augmentation(augment_of(variant)[1])
        elif variant != "none":
            build_transform(variant)


def augment_of(variant: str) -> tuple[str, str | None]:
    """``(positives, augmentation string or None)`` of a variant: ``"views | noise"`` or plain ``"noise"``."""
    positives, _, augment = variant.rpartition("|")
    augment = augment.strip()
    return positives.strip() or "augment", None if augment in ("", "none") else augment
