"""The training task of a weight-space model on INR splits: classification, or contrastive with a probe."""

from __future__ import annotations

from weightaug.augment import build_augmentation
from weightaug.models import build_model
from weightaug.train.classify import INRClassification, Splits
from weightaug.train.contrastive import Contrastive


def inr_task(
    model: str,
    splits: Splits,
    n_classes: int,
    augment: str | None = None,
    positives: str | None = None,
    temperature: float = 0.1,
    normalise: str = "neuron",
    device: str = "cpu",
) -> INRClassification | Contrastive:
    """``model`` (``name:key=value``) trained on ``splits`` with ``augment`` (an augmentation string): classifying,
    or with ``positives`` (``views`` or ``augment``) contrastive, judged by a linear probe. The model is
    initialised from the global RNG: seed it first."""
    spec = splits.train.weights.spec
    net = build_model(model, spec, n_classes)
    pipeline = build_augmentation(augment, spec)
    if positives is not None:
        return Contrastive(net, splits, pipeline, positives, temperature, normalise, device)
    return INRClassification(net, splits, pipeline, normalise, device)
