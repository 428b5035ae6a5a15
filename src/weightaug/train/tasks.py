"""The training task of a weight-space model on INR splits: classification, or contrastive with a probe."""

from __future__ import annotations

from weightaug.augment import Augmentation, AugmentationSpecError, build_augmentation
from weightaug.inr.canonical import CanonicalForm
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
    canonical: CanonicalForm | None = None,
) -> INRClassification | Contrastive:
    """``model`` (``name:key=value``) trained on ``splits`` with ``augment`` (an augmentation string): classifying,
    or with ``positives`` (``views`` or ``augment``) contrastive, judged by a linear probe. ``canonical``: the
    form the INRs are in (:func:`refuse_on_canonical`). The model is initialised from the global RNG: seed it
    first."""
    spec = splits.train.weights.spec
    net = build_model(model, spec, n_classes)
    pipeline = build_augmentation(augment, spec)
    if canonical is not None:
        refuse_on_canonical(pipeline, canonical)
    if positives is not None:
        return Contrastive(net, splits, pipeline, positives, temperature, normalise, device)
    return INRClassification(net, splits, pipeline, normalise, device)


def refuse_on_canonical(pipeline: Augmentation, form: CanonicalForm) -> None:
    """Raise :class:`AugmentationSpecError` if ``pipeline`` applies a weight-space symmetry: every canonical form
    fixes the neurons' signs and order (the phase form their bias shifts too), so on canonical INRs a symmetry
    either does nothing (for a model invariant to it) or moves the training INRs off the form the test INRs are
    in (SIREN negation took dwsnet on canonical 3D INRs from 67.5% to 21.2%, docs/RESULTS.md). Apply it before
    canonicalising, or not at all."""
    if parts := symmetric_parts(pipeline):
        part = parts[0]
        raise AugmentationSpecError(
            f"{type(part).__name__} applies the {part.symmetry} symmetry, which moves canonical INRs off their "
            f"form ({form.name}) or does nothing; drop it, or train on the INRs as fitted"
        )


def symmetric_parts(pipeline: Augmentation) -> list[Augmentation]:
    """The parts of ``pipeline`` that draw from a weight-space symmetry (permutation, sign, bias shift)."""
    return [part for part in pipeline.parts() if part.symmetry is not None]
