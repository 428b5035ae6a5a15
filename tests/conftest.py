from pathlib import Path

import pytest
import torch

from weightaug.data.sources import DEBIAN_FASHION_MNIST, load_source
from weightaug.inr.build import SplitConfig, build_dataset
from weightaug.inr.fit import FitConfig
from weightaug.weights import NetworkSpec

SMALL_FIT = FitConfig(steps=60, lr=3e-3, target_psnr=40.0, chunk_size=16)
SMALL_SPLITS = SplitConfig(seed=3, train_size=12, val_size=5, test_size=6, views=2)
SPEC = NetworkSpec(hidden=(16, 16), output_offset=0.5)


@pytest.fixture(scope="session")
def digits():
    return load_source("digits")


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory, digits) -> Path:
    """A finished small digits INR dataset (read-only for tests)."""
    return build_dataset(tmp_path_factory.mktemp("ds") / "digits", digits, SPEC, SMALL_FIT, SMALL_SPLITS, shard_size=10)


needs_fmnist = pytest.mark.skipif(
    not (DEBIAN_FASHION_MNIST / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="real Fashion-MNIST not installed (apt-get install dataset-fashion-mnist; .ci/run does this)",
)


def random_batch(spec: NetworkSpec, batch: int, seed: int = 0) -> "torch.Tensor":
    from weightaug.inr.init import init_weights

    ids = torch.arange(batch)
    return init_weights(spec, "sitzmann", seed, ids, torch.zeros_like(ids))


class CreatesAFile:
    """A pickle that would create a file when loaded with a plain unpickler: what a crafted file could do."""

    def __init__(self, path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))
