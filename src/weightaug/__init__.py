"""weightaug: weight-space augmentation for PyTorch."""

from weightaug.weights import NetworkSpec, WeightBatch

__all__ = ["NetworkSpec", "WeightBatch"]
__version__ = "0.1.0"
