"""Augmentations of INR weights (and their soft labels): geometric, data-agnostic, symmetries, MixUp."""

from weightaug.augment.agnostic import Dropout, GaussianNoise, LabelSmoothing, QuantileMask
from weightaug.augment.base import Augmentation, AugmentationSpecError, Compose, RandomApply, RandomChoice
from weightaug.augment.geometric import Flip, Rotate, Scale, Translate
from weightaug.augment.mixup import MixUp
from weightaug.augment.registry import FULL_PIPELINE, REGISTRY, UnknownAugmentationError, build_augmentation
from weightaug.augment.symmetric import NeuronPermutation, SirenBiasShift, SirenNegation

__all__ = [
    "FULL_PIPELINE",
    "REGISTRY",
    "Augmentation",
    "AugmentationSpecError",
    "Compose",
    "Dropout",
    "Flip",
    "GaussianNoise",
    "LabelSmoothing",
    "MixUp",
    "NeuronPermutation",
    "QuantileMask",
    "RandomApply",
    "RandomChoice",
    "Rotate",
    "Scale",
    "SirenBiasShift",
    "SirenNegation",
    "Translate",
    "UnknownAugmentationError",
    "build_augmentation",
]
