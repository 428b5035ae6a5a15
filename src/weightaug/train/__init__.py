"""Training: one loop (loop.py) for INR classification, the pixel baseline and contrastive learning."""

from weightaug.train.classify import INRClassification, Splits, soft_cross_entropy
from weightaug.train.contrastive import Contrastive, linear_probe, nt_xent
from weightaug.train.loop import OPTIMIZERS, SCHEDULES, RunResult, TrainConfig, train
from weightaug.train.pixel import BASELINES, POINT_MODELS, SURFACE_POINTS, PixelClassification, is_baseline, pixel_model

__all__ = [
    "BASELINES",
    "OPTIMIZERS",
    "POINT_MODELS",
    "SCHEDULES",
    "SURFACE_POINTS",
    "Contrastive",
    "INRClassification",
    "PixelClassification",
    "RunResult",
    "Splits",
    "TrainConfig",
    "is_baseline",
    "linear_probe",
    "nt_xent",
    "pixel_model",
    "soft_cross_entropy",
    "train",
]
