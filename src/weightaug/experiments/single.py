"""One training run into a folder, resumable: the library verbs behind `weightaug train` and `weightaug was train`.

The folder gets ``checkpoint.pt`` (every epoch), then ``results.json`` (the record, the training config, the
per-epoch curves and the best epoch) and ``curves.png``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from weightaug.experiments.report import plot_curves
from weightaug.experiments.runner import save_results, train_with_progress
from weightaug.inr.store import INRDataset
from weightaug.train import RunResult, Splits, TrainConfig
from weightaug.train.tasks import inr_task
from weightaug.was.train import image_data, recipe_config, was_task


def train_to_folder(task, cfg: TrainConfig, folder: str | Path, label: str, record: dict) -> RunResult:
    """Train with a progress bar, resuming from ``folder/checkpoint.pt``; write results.json and curves.png."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    result = train_with_progress(task, cfg, folder / "checkpoint.pt", label)
    save_results({**record, "config": cfg.__dict__, **result.to_dict()}, folder / "results.json")
    plot_curves(result.history, folder / "curves.png", label)
    return result


def train_inr_model(
    dataset: str | Path,
    out: str | Path,
    cfg: TrainConfig,
    model: str = "dwsnet",
    augment: str | None = None,
    views: int | None = None,
    positives: str | None = None,
    normalise: str = "position",
) -> RunResult:
    """Train ``model`` on the INR dataset ``dataset`` (its first ``views`` training views) into ``out``."""
    ds = INRDataset(dataset)
    torch.manual_seed(cfg.seed)  # the model's init
    splits = Splits(ds.split("train", views), ds.split("val", 1), ds.split("test", 1))
    task = inr_task(model, splits, len(ds.classes), augment, positives, normalise=normalise, device=cfg.device)
    record = {"dataset": str(dataset), "model": model, "augment": augment or "none", "views": views}
    return train_to_folder(task, cfg, out, f"{model}, {augment or 'none'}", record)


def train_image_model(
    out: str | Path,
    model: str = "small_cnn",
    source: str = "fashion-mnist",
    transform: str = "paper",
    recipe: str = "strong",
    epochs: int = 30,
    batch_size: int = 128,
    lr: float | None = None,
    data_dir: str | None = None,
    train_size: int | None = None,
    val_size: int | None = None,
    seed: int = 0,
    device: str = "cpu",
) -> RunResult:
    """Train an image classifier plainly (``transform="none"``) or with shadow weights into ``out``."""
    cfg = recipe_config(recipe, epochs, batch_size, seed, device, lr)
    images, labels, n_classes = image_data(source, data_dir, train_size, val_size, None, seed)
    torch.manual_seed(seed)
    task = was_task(model, transform, recipe, images, labels, n_classes, device, seed)
    record = {"model": model, "data": source, "transform": transform, "recipe": recipe}
    return train_to_folder(task, cfg, out, f"{model}, {transform}, {recipe} recipe", record)
