"""Named, versioned experiment configs (TOML, shipped in ``configs/``) resolved against a data preset.

A preset (``presets.toml``) fixes the data and the training recipe; an experiment file fixes what varies.
Keys resolve in this order, later winning: preset, experiment, the experiment's ``[presets.<name>]`` table,
then overrides from the caller. Unknown keys are errors that list the valid ones.
"""

from __future__ import annotations

import sys
from dataclasses import fields
from importlib import resources

from weightaug.experiments.kinds import KINDS
from weightaug.experiments.settings import KEYS, ExperimentConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

VERSION = 1


class ConfigError(ValueError):
    """An experiment or preset config that cannot be run."""


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


def describe(name: str) -> tuple[str, list[str]]:
    """An experiment's description and the presets it runs at (for listings; nothing is resolved)."""
    table = _read(name)
    kind = KINDS.get(table.get("kind", ""))
    return table.get("description", ""), [p for p in presets() if kind is not None and kind.runs_at(p)]


def presets() -> dict[str, dict]:
    table = _read("presets")
    _check_version(table, "presets.toml")
    return {k: v for k, v in table.items() if isinstance(v, dict)}


def _check_version(table: dict, where: str) -> None:
    if table.get("version") != VERSION:
        raise ConfigError(f"{where} has version {table.get('version')!r}; this weightaug reads version {VERSION}")


OWN_KEYS = {name: {f.name for f in fields(kind.Settings)} for name, kind in KINDS.items()}  # each kind's own


def _checked(table: dict, where: str) -> dict:
    valid = KEYS.union(*OWN_KEYS.values())
    unknown = sorted(set(table) - valid)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} in {where}; valid keys: {', '.join(sorted(valid))}")
    return table


def parse_setting(text: str) -> tuple[str, object]:
    """``key=value`` with a TOML value (``epochs=5``, ``models=["dwsnet"]``); bare words are strings."""
    key, sep, value = text.partition("=")
    if not sep:
        raise ConfigError(f"expected key=value, got {text!r}")
    try:
        return key.strip(), tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return key.strip(), value


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
    if not KINDS[merged["kind"]].runs_at(preset):
        fitting = [p for p in known if KINDS[merged["kind"]].runs_at(p)]
        raise ConfigError(f"experiment {name!r} does not run at preset {preset!r}; its presets: {', '.join(fitting)}")
    own = OWN_KEYS[merged["kind"]]
    foreign = sorted(set(merged) - KEYS - own)
    if foreign:
        raise ConfigError(
            f"{', '.join(foreign)}: not a setting of {name!r}, an experiment of kind {merged['kind']!r} "
            f"(its own settings: {', '.join(sorted(own))})"
        )
    kind_settings = KINDS[merged["kind"]].Settings(**{k: merged.pop(k) for k in own & set(merged)})
    cfg = ExperimentConfig(name=name, preset=preset, kind_settings=kind_settings, **merged)
    validate(cfg)
    return cfg


def validate(cfg: ExperimentConfig) -> None:
    """Refuse a config that would fail later: unknown models, augmentations or sizes, before any work starts.
    The generic checks are here; the kind checks its own models and variants."""
    from weightaug.data.solids import SOLID_SOURCES
    from weightaug.data.sources import SOURCES
    from weightaug.inr.fit import FitConfig
    from weightaug.train import BASELINES, TrainConfig

    if cfg.source not in SOURCES + SOLID_SOURCES:
        raise ConfigError(f"source {cfg.source!r} is not one of {', '.join(SOURCES + SOLID_SOURCES)}")
    bad = [m for m in cfg.pixel_models if m not in BASELINES]
    if bad:
        raise ConfigError(f"unknown pixel baseline(s) {bad}; choose from {', '.join(BASELINES)}")
    if not cfg.seeds or not cfg.models or not cfg.variants:
        raise ConfigError("seeds, models and variants must not be empty")
    if min(cfg.view_list) < 1 or not all(0 < f <= 1 for f in cfg.train_fractions):
        raise ConfigError("views must be >= 1 and train_fractions in (0, 1]")
    try:  # the fitter's, the training loop's and the kind's own checks
        FitConfig(steps=cfg.fit_steps, lr=cfg.fit_lr, init=cfg.init)
        TrainConfig(optimizer=cfg.optimizer, schedule=cfg.schedule)
        KINDS[cfg.kind].check(cfg)
    except ValueError as err:
        raise ConfigError(str(err)) from err
