"""One training run into a folder, resumable: the library verbs behind `weightaug train` and `weightaug was train`.

The folder gets ``checkpoint.pt`` (every epoch), then ``results.json`` (the record, the training config, the
per-epoch curves and the best epoch) and ``curves.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import torch

from weightaug import dist
from weightaug.data.sources import SOURCES
from weightaug.experiments.report import plot_curves
from weightaug.experiments.runner import save_results, train_with_progress
from weightaug.inr.canonical import CanonicalForm
from weightaug.inr.store import INRDataset
from weightaug.models import MODELS
from weightaug.models.normalize import NORMALISERS
from weightaug.tracking import TRACKERS, check, open_tracker
from weightaug.train import RunResult, Splits, TrainConfig
from weightaug.train.contrastive import Positives
from weightaug.train.tasks import inr_task
from weightaug.was.models import IMAGE_MODELS
from weightaug.was.train import LAYER_CHOICES, RECIPES, image_data, recipe_config, was_task


def train_to_folder(
    task, cfg: TrainConfig, folder: str | Path, label: str, record: dict, log: str = "none"
) -> RunResult:
    """Train with a progress bar, resuming from ``folder/checkpoint.pt``; write results.json and curves.png,
    and track the run with ``log`` (:data:`weightaug.tracking.TRACKERS`). Under torchrun the ranks train it
    together (DDP), and rank 0 writes."""
    check(log)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    record = {**record, "config": cfg.__dict__}
    with open_tracker(log if dist.is_main() else "none", folder, label, record) as tracker:
        result = train_with_progress(task, cfg, folder / "checkpoint.pt", label, dist.is_main(), True, tracker)
        tracker.table("result", result_table(result))
    if dist.is_main():
        save_results({**record, **result.to_dict()}, folder / "results.json")
        plot_curves(result.history, folder / "curves.png", label)
    return result


def result_table(result: RunResult) -> str:
    """The selected epoch's metrics (and the final evaluation's numbers, if any) as a markdown table."""
    rows = [("selected epoch", result.best_epoch), *result.best.items(), *result.final.items()]
    lines = [f"| {k} | {v:.4g} |" for k, v in rows if isinstance(v, int | float)]
    return "\n".join(["| metric | value |", "|---|---|", *lines])


def train_inr_model(
    dataset: str | Path,
    out: str | Path,
    cfg: TrainConfig,
    model: Annotated[
        str, f"{', '.join(MODELS)}; parameters by name, e.g. dwsnet:hidden=32 (`weightaug models`)."
    ] = "dwsnet",
    augment: Annotated[str, "Augmentations, e.g. siren_negation,mixup_align (`weightaug augmentations`)."] = "none",
    views: Annotated[int | None, "Train on the first N views per object (default: all)."] = None,
    contrastive: Annotated[Positives | None, "SimCLR with these positives, then a linear probe."] = None,
    normalise: Annotated[str, NORMALISERS] = "neuron",
    log: Annotated[str, TRACKERS] = "none",
) -> RunResult:
    """Train ``model`` on the INR dataset ``dataset`` (its first ``views`` training views) into ``out``."""
    ds = INRDataset(dataset)
    torch.manual_seed(cfg.seed)  # the model's init
    splits = Splits(ds.split("train", views), ds.split("val", 1), ds.split("test", 1))
    augment = None if augment == "none" else augment
    form = CanonicalForm.of(ds.manifest)
    task = inr_task(
        model, splits, len(ds.classes), augment, contrastive, normalise=normalise, device=cfg.device, canonical=form
    )
    record = {"dataset": str(dataset), "model": model, "augment": augment or "none", "views": views}
    return train_to_folder(task, cfg, out, f"{model}, {augment or 'none'}", record, log)


def train_image_model(
    out: str | Path,
    model: Annotated[str, IMAGE_MODELS, "The classifier."] = "small_cnn",
    data: Annotated[str, SOURCES, "The images."] = "fashion-mnist",
    data_dir: Annotated[str | None, "Folder holding the images' files."] = None,
    transform: Annotated[str, "A shadow transform (`weightaug was transforms`), or none."] = "paper",
    recipe: Annotated[
        str, RECIPES, "weak: the paper's (SGD 0.01, nothing else); strong: crop, flip, decay, cosine."
    ] = "strong",
    epochs: Annotated[int, "Epochs."] = 30,
    batch_size: Annotated[int, "Images per batch."] = 128,
    lr: Annotated[float | None, "Learning rate (default: the recipe's)."] = None,
    train_size: Annotated[int | None, "Use only this many training images."] = None,
    val_size: Annotated[int | None, "Validation images drawn from the training set (default 5000)."] = None,
    layers: Annotated[str, LAYER_CHOICES] = "default",
    scale_init: Annotated[str, {"one": "1", "uniform": "U(0, 1) per layer, as the public code"}] = "one",
    image_size: Annotated[int | None, "Zero-pad the images, centred, to this size (e.g. 32)."] = None,
    seed: Annotated[int, "Seed of the split, the init and the shadow draws."] = 0,
    device: Annotated[str, "cpu or cuda."] = "cpu",
    log: Annotated[str, TRACKERS] = "none",
) -> RunResult:
    """Train an image classifier plainly (``transform="none"``) or with shadow weights into ``out``."""
    cfg = recipe_config(recipe, epochs, batch_size, seed, device, lr)
    images, labels, n_classes = image_data(data, data_dir, train_size, val_size, None, seed, image_size)
    torch.manual_seed(seed)
    task = was_task(model, transform, recipe, images, labels, n_classes, device, seed, layers, scale_init)
    record = {"model": model, "data": data, "transform": transform, "recipe": recipe, "layers": layers}
    record["image_size"] = image_size
    return train_to_folder(task, cfg, out, f"{model}, {transform}, {recipe} recipe", record, log)
