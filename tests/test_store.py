import json
import threading
import time
from pathlib import Path

import pytest
import torch

from conftest import SMALL_FIT, SMALL_SPLITS, SPEC
from weightaug.inr import build
from weightaug.inr.build import SplitConfig, build_dataset, transform_images
from weightaug.inr.fit import FitConfig, coordinate_grid, image_targets, psnr_from_mse
from weightaug.inr.store import DatasetError, INRDataset


def shard_bytes(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.glob("*.safetensors"))}


def test_dataset_contents_and_disk_round_trip(small_dataset, digits):
    ds = INRDataset(small_dataset)
    train = ds.split("train")
    assert len(train) == 12 * 2 and sorted(train.view_ids.unique().tolist()) == [0, 1]
    assert len(ds.split("val")) == 5 and len(ds.split("test")) == 6
    assert torch.equal(train.labels, digits.labels[train.object_ids])
    ids = [set(ds.split(s).object_ids.tolist()) for s in ("train", "val", "test")]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    # PSNR on disk is the PSNR of the weights on disk
    targets = image_targets(digits.float_images(train.object_ids))
    psnr = psnr_from_mse((train.weights(coordinate_grid(8, 8)) - targets).square().mean(dim=(1, 2)))
    torch.testing.assert_close(psnr, train.psnr, rtol=0, atol=1e-3)
    manifest = json.loads((small_dataset / "manifest.json").read_text())
    assert manifest["splits"]["train"] == {"objects": 12, "views": 2, "input_views": 0}
    assert manifest["spec"]["hidden"] == [16, 16] and manifest["complete"]
    assert all(len(e["sha256"]) == 64 for e in manifest["shards"])


def test_first_views_and_sampler(small_dataset):
    train = INRDataset(small_dataset).split("train")
    one = train.first_views(1)
    assert len(one) == 12 and one.view_ids.max() == 0
    with pytest.raises(ValueError, match="asked for 3 views"):
        train.first_views(3)
    seen = torch.cat(
        [b.object_ids * 2 + b.view_ids for b in train.batches(5, generator=torch.Generator().manual_seed(0))]
    )
    assert sorted(seen.tolist()) == sorted((train.object_ids * 2 + train.view_ids).tolist())
    assert [len(b) for b in train.batches(5, drop_last=True)] == [5] * 4


def test_same_seed_same_bytes_and_resume_equals_uninterrupted(tmp_path, digits, small_dataset):
    again = build_dataset(tmp_path / "again", digits, SPEC, SMALL_FIT, SMALL_SPLITS, shard_size=10)
    assert shard_bytes(again) == shard_bytes(small_dataset)

    calls = {"n": 0}

    def crash_after_two_shards(n, psnr):
        calls["n"] += 1
        if calls["n"] == 3:  # after the initial report and two fitted chunks (chunk 16 > shard 10)
            raise KeyboardInterrupt

    killed = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        build_dataset(killed, digits, SPEC, SMALL_FIT, SMALL_SPLITS, shard_size=10, progress=crash_after_two_shards)
    manifest = json.loads((killed / "manifest.json").read_text())
    assert not manifest["complete"] and len(manifest["shards"]) == 1
    with pytest.raises(DatasetError, match="unfinished"):
        INRDataset(killed)
    build_dataset(killed, digits, SPEC, SMALL_FIT, SMALL_SPLITS, shard_size=10)
    assert shard_bytes(killed) == shard_bytes(small_dataset)
    assert not list(killed.glob(".*"))  # no temp files left behind


def listed_shards(root: Path) -> list[str]:
    return [e["file"] for e in json.loads((root / "manifest.json").read_text())["shards"]]


def test_workers_side_by_side_fit_each_shard_once(tmp_path, digits, small_dataset, monkeypatch):
    fitted, reported = [], {0: 0, 1: 0}
    real_fit_shard = build.fit_shard

    def counting(*args, **kwargs):
        fitted.append(args[5]["file"])
        return real_fit_shard(*args, **kwargs)

    def worker(k):
        def progress(n, _psnr):
            reported[k] += n

        build_dataset(tmp_path / "shared", digits, SPEC, SMALL_FIT, SMALL_SPLITS, shard_size=10, progress=progress)

    monkeypatch.setattr(build, "fit_shard", counting)
    threads = [threading.Thread(target=worker, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(fitted) == sorted(listed_shards(small_dataset))  # every shard fitted once, by one of them
    assert shard_bytes(tmp_path / "shared") == shard_bytes(small_dataset)
    assert reported == {0: 35, 1: 35}  # each progress bar counts the other's shards too
    assert INRDataset(tmp_path / "shared").manifest["complete"] and not list((tmp_path / "shared").glob(".*"))


def test_a_shard_whose_worker_died_is_fitted_by_the_waiting_one(tmp_path, digits, small_dataset):
    root = tmp_path / "d"

    def stop(n, psnr):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # a manifest with no shards yet
        build_dataset(root, digits, SPEC, SMALL_FIT, SMALL_SPLITS, shard_size=10, progress=stop)
    busy = "train-00001.safetensors"
    with build._locked(root / f".{busy}.lock"):  # another worker is fitting it
        other = threading.Thread(
            target=build_dataset, args=(root, digits, SPEC, SMALL_FIT, SMALL_SPLITS), kwargs={"shard_size": 10}
        )
        other.start()
        deadline = time.time() + 300
        while len(listed_shards(root)) < 4 and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        assert busy not in listed_shards(root) and len(listed_shards(root)) == 4 and other.is_alive()
    # ... and dies without writing it: the waiting worker fits it
    other.join()
    assert shard_bytes(root) == shard_bytes(small_dataset) and INRDataset(root).manifest["complete"]


def test_other_configuration_is_refused_unless_overwrite(tmp_path, digits):
    root = build_dataset(tmp_path / "d", digits, SPEC, SMALL_FIT, SplitConfig(train_size=4, val_size=2, test_size=2))
    before = shard_bytes(root)
    other = SplitConfig(train_size=4, val_size=2, test_size=2, views=2)
    with pytest.raises(FileExistsError, match="different configuration.*--overwrite"):
        build_dataset(root, digits, SPEC, SMALL_FIT, other)
    assert shard_bytes(root) == before
    build_dataset(root, digits, SPEC, SMALL_FIT, other, overwrite=True)
    assert len(INRDataset(root).split("train")) == 8
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not an INR dataset"):
        build_dataset(tmp_path / "notes", digits, SPEC, SMALL_FIT, other)
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine"


def test_corrupt_and_truncated_shards_are_named(tmp_path, small_dataset):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(small_dataset, root)
    shard = root / "train-00001.safetensors"
    data = bytearray(shard.read_bytes())
    data[-3] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="train-00001.safetensors is corrupt or truncated"):
        INRDataset(root).split("train")
    shard.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(DatasetError, match="train-00001.safetensors"):
        INRDataset(root).split("train")
    INRDataset(root).split("val")  # other splits still load
    (root / "manifest.json").write_text("{not json")
    with pytest.raises(DatasetError, match="not valid JSON"):
        INRDataset(root)
    with pytest.raises(DatasetError, match="manifest.json does not exist"):
        INRDataset(tmp_path)


def test_input_space_views_fit_transformed_images(tmp_path, digits):
    cfg = SplitConfig(train_size=3, val_size=2, test_size=2, views=1, input_views=2, input_transforms=("translate",))
    root = build_dataset(tmp_path / "iv", digits, SPEC, FitConfig(steps=30, chunk_size=16), cfg)
    train = INRDataset(root).split("train")
    assert len(train) == 9 and json.loads((root / "manifest.json").read_text())["splits"]["train"]["input_views"] == 2
    coords = coordinate_grid(8, 8)
    originals = image_targets(digits.float_images(train.object_ids))
    err = (train.weights(coords) - originals).square().mean(dim=(1, 2))
    err = err.reshape(3, 3)  # object-major, views 0 (plain), 1 and 2 (translated)
    assert (err[:, :1] < err[:, 1:]).all()  # the translated views fit other images


def test_translation_moves_image_content():
    img = torch.zeros(1, 1, 9, 9)
    img[0, 0, 4, 4] = 1.0
    u = torch.tensor([[0.5, 1.0, 0.5, 0.5, 0.9]])  # shift x by +0.25 of [-1, 1] = +1 pixel on 9 pixels
    out = transform_images(img, u, ("translate",))
    assert out[0, 0, 4, 5] == pytest.approx(1.0) and out[0, 0, 4, 4] == pytest.approx(0.0)
    flipped = transform_images(img.roll(2, dims=3), torch.tensor([[0.5, 0.5, 0.5, 0.5, 0.1]]), ("flip",))
    assert flipped[0, 0, 4, 2] == pytest.approx(1.0)


def test_bad_split_sizes_are_refused(digits, tmp_path):
    with pytest.raises(ValueError, match="larger than"):
        build_dataset(tmp_path / "x", digits, SPEC, SMALL_FIT, SplitConfig(test_size=10_000))
    with pytest.raises(ValueError, match="would be empty"):
        build_dataset(tmp_path / "x", digits, SPEC, SMALL_FIT, SplitConfig(val_size=0))
    assert not (tmp_path / "x").exists()
