import json
import os
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
    torch.testing.assert_close(psnr, train.quality, rtol=0, atol=1e-3)
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


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def _rewrite_shard(root: Path, name: str, edit) -> None:
    """Change tensors of a shard in place and record its new sha256, as a tampered or peer-made file would be."""
    from safetensors.torch import load_file, save_file

    from weightaug.io import sha256

    tensors = load_file(root / name)
    edit(tensors)
    save_file(tensors, root / name)
    manifest = json.loads((root / "manifest.json").read_text())
    for entry in manifest["shards"]:
        if entry["file"] == name:
            entry["sha256"] = sha256(root / name)
    (root / "manifest.json").write_text(json.dumps(manifest))


def test_non_finite_weights_are_named_at_load(tmp_path, small_dataset):
    from click.testing import CliRunner

    from weightaug.cli import main

    root = _copy(small_dataset, tmp_path / "nan")

    def poison(t):
        t["layer1.weight"][1, 0, 0] = float("nan")
        t["layer2.bias"][3] = float("inf")

    _rewrite_shard(root, "val-00000.safetensors", poison)
    with pytest.raises(DatasetError, match=r"val-00000.safetensors holds 2 non-finite .* in 2 of its 5 INRs"):
        INRDataset(root).split("val")
    r = CliRunner().invoke(main, ["train", str(root), "--epochs", "1", "--out", str(tmp_path / "t")])
    assert r.exit_code == 2 and "val-00000.safetensors holds 2 non-finite" in r.output, r.output


def test_every_reader_checks_the_spec_against_the_shards(tmp_path, small_dataset):
    from click.testing import CliRunner

    from weightaug.cli import main

    root = _copy(small_dataset, tmp_path / "edited")
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["spec"]["hidden"] = [32, 32]  # the shards hold 16-wide INRs
    (root / "manifest.json").write_text(json.dumps(manifest))
    for args in (["info", str(root)], ["render", str(root), "--out", str(tmp_path / "g.png")]):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 2 and "the manifest does not describe its shards" in r.output, (args, r.output)
    with pytest.raises(DatasetError, match=r"layer0.weight is \(10, 16, 2\).*need \(10, 32, 2\)"):
        INRDataset(root).column("train", "labels")


def test_a_corrupt_manifest_is_rebuilt_by_the_command_its_error_names(tmp_path):
    from click.testing import CliRunner

    from weightaug.cli import main

    args = ["fit", "--source", "digits", "--train-size", "4", "--val-size", "2", "--test-size", "2", "--steps", "5"]
    root = tmp_path / "ds"
    assert CliRunner().invoke(main, [*args, "--out", str(root)]).exit_code == 0
    (root / "manifest.json").write_text("{not json")
    r = CliRunner().invoke(main, ["info", str(root)])
    assert r.exit_code == 2 and "with --overwrite" in r.output
    r = CliRunner().invoke(main, [*args, "--out", str(root)])
    assert r.exit_code == 2 and "with --overwrite" in r.output
    r = CliRunner().invoke(main, [*args, "--out", str(root), "--overwrite"])  # the advice is true
    assert r.exit_code == 0, r.output
    assert INRDataset(root).manifest["complete"] and not list(tmp_path.glob(".ds.*"))


def test_a_finished_dataset_is_not_rewritten_and_a_failed_write_says_where(tmp_path, monkeypatch):
    import errno

    from click.testing import CliRunner

    from weightaug import io
    from weightaug.cli import main

    args = ["fit", "--source", "digits", "--train-size", "4", "--val-size", "2", "--test-size", "2", "--steps", "5"]
    root = tmp_path / "ds"
    assert CliRunner().invoke(main, [*args, "--out", str(root)]).exit_code == 0
    before = {p.name: p.stat().st_mtime_ns for p in root.iterdir()}
    root.chmod(0o555)
    try:
        r = CliRunner().invoke(main, [*args, "--out", str(root)])  # a refit of the same dataset: nothing to do
        assert r.exit_code == 0, r.output
    finally:
        root.chmod(0o755)
    assert {p.name: p.stat().st_mtime_ns for p in root.iterdir()} == before

    def read_only(*_args, **_kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(io.tempfile, "mkstemp", read_only)  # as root, permission bits do not stop a write
    r = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "new")])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "cannot write" in r.output and "manifest.json: Read-only file system" in r.output, r.output


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_files_get_the_mode_of_the_umask(tmp_path, digits, umask):
    old = os.umask(umask)
    try:
        root = build_dataset(
            tmp_path / "d", digits, SPEC, SMALL_FIT, SplitConfig(train_size=4, val_size=2, test_size=2)
        )
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in root.iterdir()}
    assert modes and set(modes.values()) == {0o666 & ~umask}, modes


def test_a_small_build_compiles_nothing_and_a_large_one_does(tmp_path, digits, monkeypatch):
    from weightaug import kernels

    compiled = []

    def record(fn, **kwargs):
        compiled.append(fn.__name__)
        return fn

    monkeypatch.setattr(kernels, "_COMPILED", {})
    monkeypatch.setattr(kernels.torch, "compile", record)
    small = SplitConfig(train_size=4, val_size=2, test_size=2)
    build_dataset(tmp_path / "small", digits, SPEC, SMALL_FIT, small)  # far below COMPILE_PAYS: seconds of work
    assert compiled == []
    monkeypatch.setattr(build, "COMPILE_PAYS", 0.0)  # as if the build were large
    build_dataset(tmp_path / "large", digits, SPEC, SMALL_FIT, small)
    assert compiled == ["_sine_and_slope"]
