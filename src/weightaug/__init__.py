"""weightaug: weight-space augmentation for PyTorch."""

import os

# Idle OpenMP threads sleep instead of spinning. With other processes on the cores (a shared cluster node, ranks
# side by side) spinning threads tripled the CPU time of a fitting step; on quiet cores passive waiting measured
# no slower (benchmarks/bench_shared_cores.py). Effective when weightaug is imported before torch (the CLI,
# `python -m weightaug`, torchrun); a value already set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from weightaug.weights import NetworkSpec, WeightBatch

__all__ = ["NetworkSpec", "WeightBatch"]
__version__ = "0.1.0"
