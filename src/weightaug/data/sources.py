"""Image datasets read from their standard local formats: the objects INRs are fitted to.

- ``digits``: scikit-learn's bundled 8x8 handwritten digits (1,797 images, no download).
- ``mnist`` / ``fashion-mnist``: the four IDX files (``.gz`` or raw), found under ``--data-dir``, a
  torchvision-style folder (``<dir>/MNIST/raw``, ``<dir>/FashionMNIST/raw``) or, for Fashion-MNIST, where
  Debian's ``dataset-fashion-mnist`` puts them (/usr/share/datasets/fashion-mnist).
- ``cifar10``, ``cifar100``: the python batches (``cifar-10-batches-py``, ``cifar-100-python``), RGB.

Images are uint8 ``(N, C, H, W)``; objects are numbered train images first, then test images.
"""

from __future__ import annotations

import gzip
import shutil
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from weightaug.io import load_plain_pickle

SOURCES = ("digits", "mnist", "fashion-mnist", "cifar10", "cifar100")
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
_IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_TORCHVISION_DIR = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
_URLS = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    "cifar100": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
}
_HOW_TO_GET = {
    "mnist": "pass --data-dir to a folder holding the four MNIST IDX files, or --download where you have internet",
    "fashion-mnist": (
        "run `apt-get install dataset-fashion-mnist` (Debian), pass --data-dir to a folder holding the four "
        "IDX files, or --download where you have internet"
    ),
    "cifar10": "pass --data-dir to the folder holding cifar-10-batches-py (or that folder itself), or --download",
    "cifar100": "pass --data-dir to the folder holding cifar-100-python (or that folder itself), or --download",
}


class DataNotFoundError(FileNotFoundError):
    """A dataset's files are not where they were looked for."""


@dataclass(frozen=True)
class ImageSource:
    """Images ``(N, C, H, W)`` uint8, labels ``(N,)``; the first ``n_train`` are the official train set."""

    name: str
    images: Tensor
    labels: Tensor
    n_train: int
    classes: tuple[str, ...]

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def float_images(self, index: Tensor) -> Tensor:
        """Images ``index`` as float32 in [0, 1]."""
        imgs = self.images[index]
        return imgs.float() / (16.0 if self.name == "digits" else 255.0)


def load_source(name: str, data_dir: str | Path | None = None, download: bool = False) -> ImageSource:
    """Load a source by name; raises :class:`DataNotFoundError` naming where it looked and what to do."""
    if name not in SOURCES:
        raise ValueError(f"unknown source {name!r}; choose one of {', '.join(SOURCES)}")
    if name == "digits":
        return _load_digits()
    if name in _CIFAR:
        return _load_cifar(name, _find_cifar(name, data_dir, download))
    return _load_idx_source(name, _find_idx_dir(name, data_dir, download))


def _load_digits() -> ImageSource:
    from sklearn.datasets import load_digits

    d = load_digits()
    images = torch.from_numpy(d.images.astype(np.uint8)).unsqueeze(1)
    return ImageSource("digits", images, torch.from_numpy(d.target).long(), 0, tuple(str(c) for c in range(10)))


# -- IDX (MNIST, Fashion-MNIST) -------------------------------------------------------------------
def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzip or raw) into a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (bad magic number)")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    expected = offset + int(np.prod(dims))
    if len(data) != expected:
        raise ValueError(f"{path} is truncated or corrupt: {len(data)} bytes, header says {expected}")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims)


def _idx_file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _idx_candidates(name: str, data_dir: str | Path | None) -> list[Path]:
    roots = [Path(data_dir)] if data_dir is not None else []
    if name == "fashion-mnist" and data_dir is None:
        roots.append(DEBIAN_FASHION_MNIST)
    roots.append(Path.home() / ".cache" / "weightaug" / name)
    out = []
    for r in roots:
        out += [r, r / _TORCHVISION_DIR[name] / "raw", r / name]
    return out


def _find_idx_dir(name: str, data_dir: str | Path | None, download: bool) -> Path:
    candidates = _idx_candidates(name, data_dir)
    for folder in candidates:
        if all(_idx_file(folder, stem) for stem in _IDX_FILES.values()):
            return folder
    if download:
        target = Path(data_dir) if data_dir is not None else Path.home() / ".cache" / "weightaug" / name
        for stem in _IDX_FILES.values():
            download(_URLS[name] + stem + ".gz", target / f"{stem}.gz")
        return target
    looked = "\n  ".join(str(c) for c in candidates)
    raise DataNotFoundError(
        f"{name}: the four IDX files ({', '.join(_IDX_FILES.values())}) were not found in:\n  {looked}\nTo get them: {_HOW_TO_GET[name]}."
    )


def _load_idx_source(name: str, folder: Path) -> ImageSource:
    arrays = {key: read_idx(_idx_file(folder, stem)) for key, stem in _IDX_FILES.items()}
    for split in ("train", "test"):
        if len(arrays[f"{split}_images"]) != len(arrays[f"{split}_labels"]):
            raise ValueError(f"{folder}: {split} images and labels have different counts")
    images = torch.from_numpy(np.concatenate([arrays["train_images"], arrays["test_images"]])).unsqueeze(1)
    labels = torch.from_numpy(np.concatenate([arrays["train_labels"], arrays["test_labels"]]).astype(np.int64))
    classes = FASHION_CLASSES if name == "fashion-mnist" else tuple(str(c) for c in range(10))
    return ImageSource(name, images, labels, len(arrays["train_images"]), classes)


FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


# -- CIFAR-10 / CIFAR-100 ---------------------------------------------------------------------------
@dataclass(frozen=True)
class _CifarLayout:
    folder: str  # the folder the archive unpacks to
    archive: str
    train: tuple[str, ...]
    test: str
    label_key: bytes
    meta: tuple[str, bytes]  # file and key of the class names


_CIFAR = {
    "cifar10": _CifarLayout(
        "cifar-10-batches-py",
        "cifar-10-python.tar.gz",
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        "test_batch",
        b"labels",
        ("batches.meta", b"label_names"),
    ),
    "cifar100": _CifarLayout(
        "cifar-100-python", "cifar-100-python.tar.gz", ("train",), "test", b"fine_labels", ("meta", b"fine_label_names")
    ),
}


def _find_cifar(name: str, data_dir: str | Path | None, download: bool) -> Path:
    layout = _CIFAR[name]
    files = [*layout.train, layout.test]
    roots = [Path(data_dir)] if data_dir is not None else []
    roots.append(Path.home() / ".cache" / "weightaug" / name)
    candidates = [p for r in roots for p in (r, r / layout.folder)]
    for folder in candidates:
        if all((folder / f).is_file() for f in files):
            return folder
    if download:
        target = roots[0]
        archive = target / layout.archive
        download(_URLS[name], archive)
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")
        return target / layout.folder
    looked = "\n  ".join(str(c) for c in candidates)
    raise DataNotFoundError(
        f"{name}: {', '.join(files)} were not found in:\n  {looked}\nTo get them: {_HOW_TO_GET[name]}."
    )


def _load_cifar(name: str, folder: Path) -> ImageSource:
    """Read CIFAR-10's or CIFAR-100's python batches (pickles of plain data, read without running any code)."""
    layout = _CIFAR[name]
    images, labels = [], []
    for f in [*layout.train, layout.test]:
        batch = load_plain_pickle(folder / f)
        images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch[layout.label_key], dtype=np.int64))
    n_train = sum(len(x) for x in images[:-1])
    meta = folder / layout.meta[0]
    classes = tuple(str(i) for i in range(int(max(lab.max() for lab in labels)) + 1))
    if meta.is_file():
        classes = tuple(n.decode() for n in load_plain_pickle(meta)[layout.meta[1]])
    return ImageSource(
        name, torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels)), n_train, classes
    )


def download(url: str, dest: Path) -> None:
    """Download ``url`` to ``dest`` atomically (a temp file renamed on success)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        return
    with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=60) as r:
                shutil.copyfileobj(r, tmp)
        except OSError as e:
            Path(tmp.name).unlink(missing_ok=True)
            raise DataNotFoundError(
                f"download of {url} failed ({e}); without internet, {_HOW_TO_GET.get(dest.parent.name, 'use --data-dir')}"
            ) from e
    Path(tmp.name).replace(dest)
