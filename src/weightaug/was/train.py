"""Train an image classifier plainly or with shadow weights, under the paper's weak recipe or a strong one.

Uses the one training loop (weightaug.train.loop): the model is selected on a validation split carved from
the training set. Every epoch is evaluated three ways in plain mode (accuracy-oriented): in eval() mode as
trained, after recalibrating BatchNorm with the plain weights, and with train-mode BatchNorm on test batches
(the paper's protocol); and in shadow mode (the last drawn shadow weights, fixed), as trained and recalibrated.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from weightaug.data.sources import load_source
from weightaug.data.splits import make_splits
from weightaug.train import PixelClassification, TrainConfig
from weightaug.was.batchnorm import recalibrated, train_mode_batchnorm
from weightaug.was.desire import desire_metrics, desire_sweep, shiftable
from weightaug.was.models import IMAGE_MODELS, PAPER_LAYERS, PAPER_TRANSFORMS, SHADOW_LAYERS, build_image_model
from weightaug.was.shadow import SCALE_INITS, ShadowWeights
from weightaug.was.transforms import build_transform


@dataclass(frozen=True)
class Recipe:
    """An optimisation recipe: the paper's weak one, or a standard strong one."""

    optimizer: str
    schedule: str
    weight_decay: float
    augment: bool
    lr: float


LAYER_CHOICES = {
    "default": "every k x k conv (depthwise ones only in MobileNetV2 and EfficientNet-Lite); baselines every conv",
    "paper": "the public WAS code's layers per architecture, and its transform where it differs (docs/WAS.md)",
}
RECIPES = {
    "weak": Recipe("sgd", "constant", 0.0, False, 0.01),  # the paper's: SGD 0.01, momentum 0.9, nothing else
    "strong": Recipe("sgd", "cosine", 5e-4, True, 0.05),  # crop + flip, weight decay, cosine schedule
}


def check_settings(
    models: list[str], variants: list[str], recipes: list[str], layers: str = "default", scale_init: str = "one"
) -> None:
    """Raise a ValueError naming the first setting of shadow-weight runs that cannot run, before any work."""
    bad = [m for m in models if m not in IMAGE_MODELS]
    if bad:
        raise ValueError(f"unknown model(s) {bad}; models: {', '.join(IMAGE_MODELS)}")
    unknown = [r for r in recipes if r not in RECIPES]
    if not recipes or unknown:
        what = f"unknown recipe(s) {unknown}" if unknown else "recipes must not be empty"
        raise ValueError(f"{what}; choose from {', '.join(RECIPES)}")
    if layers not in LAYER_CHOICES or scale_init not in SCALE_INITS:
        raise ValueError(f"layers must be one of {', '.join(LAYER_CHOICES)} and scale_init one of "
                         f"{', '.join(SCALE_INITS)}, got {layers!r} and {scale_init!r}")  # fmt: skip
    for variant in variants:
        if variant != "none":
            build_transform(variant)


def image_data(
    source: str,
    data_dir: str | None = None,
    train_size: int | None = None,
    val_size: int | None = None,
    test_size: int | None = None,
    seed: int = 0,
    image_size: int | None = None,
) -> tuple[dict[str, Tensor], dict[str, Tensor], int]:
    """Images and labels per split (validation drawn from the official training set), and the class count;
    with ``image_size``, the images zero-padded, centred, to that many pixels a side (28 -> 32 puts
    Fashion-MNIST at the CIFAR models' input size, its black background extended)."""
    src = load_source(source, data_dir)
    h, w = src.shape[1:]
    if image_size is not None and image_size < max(h, w):
        raise ValueError(f"image_size {image_size} is smaller than the {source} images ({h} x {w}); give at least "
                         f"{max(h, w)}, or leave it out")  # fmt: skip
    ids = make_splits(src, seed, train_size, val_size, test_size)
    images = {k: pad_to(src.float_images(v), image_size) for k, v in ids.items()}
    return images, {k: src.labels[v] for k, v in ids.items()}, len(src.classes)


def pad_to(images: Tensor, size: int | None) -> Tensor:
    """``(N, C, H, W)`` images zero-padded, centred, to ``size`` x ``size`` (unchanged for None)."""
    if size is None:
        return images
    h, w = images.shape[-2:]
    top, left = (size - h) // 2, (size - w) // 2
    return F.pad(images, (left, size - w - left, top, size - h - top))


def _prefixed(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}{k}": v for k, v in metrics.items()}


class ImageClassification(PixelClassification):
    """Image classification evaluated three ways (:mod:`weightaug.was.batchnorm`): as trained (``val_acc``,
    ``test_acc``; selects the epoch), after recalibrating BatchNorm on fixed training batches (``recal_``), and
    with train-mode BatchNorm on test batches of ``test_batch`` images (``trainbn_``, the paper's protocol,
    which picks the best test epoch)."""

    data_parallel = False  # per-rank BatchNorm statistics and shadow draws: spread runs over ranks instead

    def __init__(self, *args, test_batch: int = 128, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calibration = list(self.eval_images["train"].split(test_batch))  # the fixed training subset
        self.test_batch = test_batch

    def recalibrated(self):
        return recalibrated(self.model, self.calibration)

    def protocols(self, splits: tuple[str, ...], paper: bool = True) -> dict[str, float]:
        metrics = super().evaluate(splits=splits)
        with self.recalibrated():
            metrics |= _prefixed("recal_", super().evaluate(splits=("val", "test")))
        if paper:
            with train_mode_batchnorm(self.model):
                metrics |= _prefixed("trainbn_", super().evaluate(splits=("test",), batch=self.test_batch))
        return metrics

    def evaluate(self, model: nn.Module | None = None) -> dict[str, float]:
        if model is not None:
            return super().evaluate(model)
        return self.protocols(("train", "val", "test"))


class ShadowClassification(ImageClassification):
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

    @contextmanager
    def recalibrated(self):
        with self.sw.fixed_draws(), recalibrated(self.sw.model, self.calibration):  # the current draws, fixed
            yield

    def evaluate(self, model: nn.Module | None = None) -> dict[str, float]:
        """Plain mode three ways (as trained selects the epoch), shadow mode with the last draws as trained and
        recalibrated (``shadow_``), and for translating transforms the desire-oriented model (every kernel
        shifted one pixel, its emptied column cut) with its FLOPs relative to the plain model."""
        if model is not None:
            return super().evaluate(model)
        with self.sw.mode_as("plain"):
            metrics = self.protocols(("train", "val", "test"))
        with self.sw.mode_as("shadow"):
            metrics |= _prefixed("shadow_", self.protocols(("val", "test"), paper=False))
        if self.desire:
            evaluate = partial(PixelClassification.evaluate, self, splits=("val", "test"))
            metrics |= desire_metrics(self.sw, self.images["test"][:1], evaluate)
        return metrics

    def final(self) -> dict[str, list]:
        """For translating transforms, the trained model's desire-oriented sweep (:func:`desire_sweep`: each
        one-pixel shift, as frozen and with BatchNorm recalibrated), from which validation chooses the shift."""
        if not self.desire:
            return {}
        evaluate = partial(PixelClassification.evaluate, self, splits=("val", "test"))
        return {"dom_sweep": desire_sweep(self.sw, self.images["test"][:1], evaluate, self.calibration)}


def was_task(
    model_name: str,
    transform: str,
    recipe: str,
    images: dict[str, Tensor],
    labels: dict[str, Tensor],
    n_classes: int,
    device: str = "cpu",
    seed: int = 0,
    layers: str = "default",
    scale_init: str = "one",
) -> PixelClassification:
    """The training task: plain training for ``transform == "none"``, else shadow weights with it, on the
    ``layers`` of :data:`LAYER_CHOICES` with the learnable scales starting at ``scale_init``."""
    check_settings([model_name], [transform], [recipe], layers, scale_init)
    model = build_image_model(model_name, n_classes, images["train"].shape[1])
    augment = RECIPES[recipe].augment
    if transform == "none":
        return ImageClassification(model, images, labels, n_classes, device, augment)
    if layers == "paper":
        selector = PAPER_LAYERS.get(model_name)
        transform = PAPER_TRANSFORMS.get(model_name, transform) if transform == "paper" else transform
    else:  # kernel transforms: the architecture's choice, else every conv larger than 1x1; baselines: every conv
        selector = SHADOW_LAYERS.get(model_name) if build_transform(transform).kernels_only else nn.Conv2d
    sw = ShadowWeights(model, transform, layers=selector, seed=seed, scale_init=scale_init)
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
