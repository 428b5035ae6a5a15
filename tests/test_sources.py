import gzip
import pickle

import numpy as np
import pytest
import torch

from conftest import CreatesAFile, needs_fmnist
from weightaug.data.sources import DataNotFoundError, load_source, read_idx


def write_idx(path, array: np.ndarray, compress: bool) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(data)


def make_idx_folder(folder, n_train=7, n_test=3, compress=True):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {"train": rng.integers(0, 256, (n_train, 28, 28)), "t10k": rng.integers(0, 256, (n_test, 28, 28))}
    suffix = ".gz" if compress else ""
    for prefix, images in arrays.items():
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images, compress)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", np.arange(len(images)) % 10, compress)
    return arrays


@pytest.mark.parametrize("compress", [True, False])
def test_idx_files_are_read_from_data_dir_and_torchvision_layout(tmp_path, compress):
    arrays = make_idx_folder(tmp_path / "MNIST" / "raw", compress=compress)
    src = load_source("mnist", tmp_path)
    assert src.images.shape == (10, 1, 28, 28) and src.n_train == 7
    assert torch.equal(src.images[7:, 0], torch.from_numpy(arrays["t10k"].astype(np.uint8)))
    assert src.labels.tolist() == [0, 1, 2, 3, 4, 5, 6, 0, 1, 2]


def test_truncated_idx_file_is_named(tmp_path):
    make_idx_folder(tmp_path, compress=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte is truncated"):
        read_idx(path)


def test_missing_files_say_where_and_how(tmp_path):
    with pytest.raises(DataNotFoundError) as e:
        load_source("fashion-mnist", tmp_path)
    assert str(tmp_path) in str(e.value) and "apt-get install dataset-fashion-mnist" in str(e.value)
    with pytest.raises(DataNotFoundError, match="cifar-10-batches-py"):
        load_source("cifar10", tmp_path)
    with pytest.raises(ValueError, match="unknown source"):
        load_source("imagenet")


def test_cifar10_python_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": [1, 2, 3, 4]}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [f"c{i}".encode() for i in range(10)]}))
    src = load_source("cifar10", tmp_path)
    assert src.images.shape == (24, 3, 32, 32) and src.n_train == 20 and src.classes[3] == "c3"


def test_cifar100_python_batches(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(2)
    for name, n in (("train", 6), ("test", 3)):
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"fine_labels": list(range(n))}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "meta").write_bytes(pickle.dumps({b"fine_label_names": [f"f{i}".encode() for i in range(100)]}))
    src = load_source("cifar100", folder)
    assert src.images.shape == (9, 3, 32, 32) and src.n_train == 6 and len(src.classes) == 100
    with pytest.raises(DataNotFoundError, match="cifar-100-python"):
        load_source("cifar100", tmp_path / "nowhere")


def test_digits_is_embedded():
    src = load_source("digits")
    assert src.images.shape == (1797, 1, 8, 8) and src.float_images(torch.arange(5)).max() <= 1.0


@needs_fmnist
def test_real_fashion_mnist_is_found_automatically():
    src = load_source("fashion-mnist")
    assert src.images.shape == (70_000, 1, 28, 28) and src.n_train == 60_000
    assert torch.bincount(src.labels[60_000:]).tolist() == [1000] * 10


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_cifar_batches_are_read_without_running_code(tmp_path, protocol):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"batch_label": b"x", b"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8), b"labels": [0, 1]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
    assert load_source("cifar10", tmp_path).images.shape == (12, 3, 32, 32)  # plain data of any protocol reads
    crafted = {b"data": CreatesAFile(tmp_path / "pwned"), b"labels": [0, 1]}
    (folder / "data_batch_3").write_bytes(pickle.dumps(crafted, protocol=protocol))
    with pytest.raises(ValueError, match=r"data_batch_3 was refused: it asks for (io|builtins)\.open"):
        load_source("cifar10", tmp_path)
    assert not (tmp_path / "pwned").exists()
    (folder / "data_batch_3").write_bytes(b"\x80\x04not a pickle")
    with pytest.raises(ValueError, match="data_batch_3 is not a readable pickle"):
        load_source("cifar10", tmp_path)
