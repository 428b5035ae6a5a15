"""Shadow-weight training (the Weight Augmentation Strategy) for any nn.Module."""

from weightaug.was.models import IMAGE_MODELS, build_image_model
from weightaug.was.shadow import ShadowWeights
from weightaug.was.transforms import TRANSFORMS, TransformSpecError, UnknownTransformError, build_transform

__all__ = [
    "IMAGE_MODELS",
    "TRANSFORMS",
    "ShadowWeights",
    "TransformSpecError",
    "UnknownTransformError",
    "build_image_model",
    "build_transform",
]
