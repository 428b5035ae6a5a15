"""Train an image classifier plainly or with shadow weights, under the paper's weak recipe or a strong one.

Uses the one training loop (weightaug.train.loop): the model is selected on a validation split carved from
the training set, and evaluated in eval() mode, in plain mode (accuracy-oriented, the reported accuracy) and
in shadow mode (the last drawn shadow weights) side by side.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from weightaug.data.sources import load_source
from weightaug.data.splits import make_splits
from weightaug.train import PixelClassification, TrainConfig
from weightaug.was.desire import desire_metrics, shiftable
from weightaug.was.models import SHADOW_LAYERS, build_image_model
from weightaug.was.shadow import ShadowWeights
from weightaug.was.transforms import build_transform


@dataclass(frozen=True)
class Recipe:
    """An optimisation recipe: the paper's weak one, or a standard strong one."""

    optimizer: str
    schedule: str
    weight_decay: float
    augment: bool
    lr: float


RECIPES = {
    "weak": Recipe("sgd", "constant", 0.0, False, 0.01),  # the paper's: SGD 0.01, momentum 0.9, nothing else
    "strong": Recipe("sgd", "cosine", 5e-4, True, 0.05),  # crop + flip, weight decay, cosine schedule
}


def image_data(
    source: str,
    data_dir: str | None = None,
    train_size: int | None = None,
    val_size: int | None = None,
    test_size: int | None = None,
    seed: int = 0,
) -> tuple[dict[str, Tensor], dict[str, Tensor], int]:
    """Images and labels per split (validation drawn from the official training set), and the class count."""
    src = load_source(source, data_dir)
    ids = make_splits(src, seed, train_size, val_size, test_size)
    images = {k: src.float_images(v) for k, v in ids.items()}
    return images, {k: src.labels[v] for k, v in ids.items()}, len(src.classes)


class ShadowClassification(PixelClassification):
    """Image classification whose model trains through shadow weights; evaluation reports both modes."""

    def __init__(self, sw: ShadowWeights, *args, **kwargs) -> None:
        super().__init__(sw, *args, **kwargs)
        self.sw = sw
        self.desire = shiftable(sw.transform) and all(
            isinstance(sw.model.get_submodule(n), nn.Conv2d) for n in sw.names
        )

    def loss(self, index: Tensor, generator: torch.Generator) -> Tensor:
        with self.sw.mode_as("shadow"):
            return super().loss(index, generator)

    def evaluate(self, model=None) -> dict[str, float]:
        """Plain mode (selects the epoch), shadow mode, and for translating transforms the desire-oriented model
        (every kernel shifted one pixel, its emptied column cut) with its FLOPs relative to the plain model."""
        if model is not None:
            return super().evaluate(model)
        with self.sw.mode_as("plain"):
            metrics = super().evaluate()
        with self.sw.mode_as("shadow"):
            metrics |= {f"shadow_{k}": v for k, v in super().evaluate().items()}
        if self.desire:
            metrics |= desire_metrics(self.sw, self.images["test"][:1], super().evaluate)
        return metrics


def was_task(
    model_name: str,
    transform: str,
    recipe: str,
    images: dict[str, Tensor],
    labels: dict[str, Tensor],
    n_classes: int,
    device: str = "cpu",
    seed: int = 0,
) -> PixelClassification:
    """The training task: plain training for ``transform == "none"``, else shadow weights with it."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose from {', '.join(RECIPES)}")
    model = build_image_model(model_name, n_classes, images["train"].shape[1])
    augment = RECIPES[recipe].augment
    if transform == "none":
        return PixelClassification(model, images, labels, n_classes, device, augment)
    # kernel transforms: the architecture's choice, else ShadowWeights' default (every conv larger than 1x1)
    layers = SHADOW_LAYERS.get(model_name) if build_transform(transform).kernels_only else nn.Conv2d
    sw = ShadowWeights(model, transform, layers=layers, seed=seed)
    return ShadowClassification(sw, images, labels, n_classes, device, augment)


def recipe_config(
    recipe: str, epochs: int, batch_size: int, seed: int, device: str, lr: float | None = None
) -> TrainConfig:
    r = RECIPES[recipe]
    return TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr or r.lr,
        weight_decay=r.weight_decay,
        warmup_epochs=0.0 if r.schedule == "constant" else 1.0,
        grad_clip=None,
        seed=seed,
        device=device,
        optimizer=r.optimizer,
        schedule=r.schedule,
    )
