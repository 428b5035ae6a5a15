"""The settings of one experiment, resolved from its TOML config and preset (see :mod:`.config`)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


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
    kind_settings: Any = None  # the settings of the kind alone, a dataclass of the kind (Kind.Settings)

    @property
    def view_list(self) -> list[int]:
        return list(self.views) if isinstance(self.views, list) else [self.views]

    @property
    def fitted_views(self) -> int:
        """Views per training object the dataset must hold."""
        return max(self.view_list)

    def to_dict(self) -> dict:
        """The settings as one flat table, the kind's own among them (as the TOML files write them)."""
        own = {f.name: getattr(self.kind_settings, f.name) for f in fields(self.kind_settings)}
        return {**{f.name: getattr(self, f.name) for f in fields(self) if f.name != "kind_settings"}, **own}


KEYS = {f.name for f in fields(ExperimentConfig)} - {"name", "preset", "kind_settings"}  # every kind's
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
