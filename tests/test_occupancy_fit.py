"""Occupancy INRs end to end: fitted from the procedural shapes and from a ModelNet-layout folder through the
CLI, stored in the same format with their held-out IoU, independent of shards and chunks, and resumable."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from test_solids import _modelnet
from weightaug.cli import main
from weightaug.data.occupancy import PointsConfig, held_out_samples, iou, occupancy_samples
from weightaug.data.shapes import ProceduralShapes
from weightaug.inr.build import SplitConfig, build_dataset
from weightaug.inr.fit import FitConfig, fit_inrs
from weightaug.inr.store import INRDataset
from weightaug.weights import NetworkSpec

SPEC = NetworkSpec(in_dim=3, hidden=(16, 16), out_dim=1, w0=5.0)
FIT = FitConfig(steps=40, chunk_size=8)
POINTS = PointsConfig(uniform_points=256, near_points=256, held_out_points=2048, points_per_step=128)
SHAPES = ProceduralShapes(n_per_class=3, train_per_class=2)
SPLITS = SplitConfig(views=2, train_size=12, val_size=4, test_size=4)


def test_the_occupancy_fit_learns_the_solids_and_beats_a_constant():
    ids = torch.arange(12)  # one object of each class
    points, occupancy = occupancy_samples(SHAPES, ids, 1024, 1024, 0.02, seed=0)
    fit = FitConfig(steps=150, chunk_size=12, target_iou=None)
    weights, trained = fit_inrs(SPEC, occupancy[..., None], fit, 0, ids, torch.zeros_like(ids), points, loss="bce")
    held, held_occupancy = held_out_samples(SHAPES, ids, 8192, seed=0)
    measured = iou(weights(held), held_occupancy)
    assert measured.mean() > 0.8 and (measured > 0.6).all() and (trained > 0.5).all()  # near points are harder
    assert (iou(torch.ones_like(held_occupancy), held_occupancy) < 0.4).all()  # "all inside" is far worse


def test_stochastic_steps_take_each_inrs_points_in_its_own_order_whatever_the_chunk():
    ids = torch.arange(6)
    points, occupancy = occupancy_samples(SHAPES, ids, 256, 256, 0.02, seed=0)
    views = torch.zeros_like(ids)
    fit = [FitConfig(steps=30, chunk_size=c, target_iou=None) for c in (2, 6)]
    runs = [
        fit_inrs(SPEC, occupancy[..., None], f, 0, ids, views, points, loss="bce", points_per_step=128) for f in fit
    ]
    torch.testing.assert_close(runs[0][0].flatten(), runs[1][0].flatten())
    full = fit_inrs(SPEC, occupancy[..., None], FitConfig(steps=30, chunk_size=6, target_iou=None), 0, ids, views,
                    points, loss="bce")  # fmt: skip
    assert not torch.allclose(full[0].flatten(), runs[0][0].flatten())  # the slices really change the steps
    with pytest.raises(ValueError, match="must divide their 512 points"):
        fit_inrs(SPEC, occupancy[..., None], FitConfig(steps=1), 0, ids, views, points, loss="bce", points_per_step=100)


def test_fit_shapes_through_the_cli_then_info_and_the_store_keeps_iou(tmp_path):
    args = ["fit", "--source", "shapes", "--out", str(tmp_path / "s"), "--train-size", "12", "--val-size", "4"]
    args += ["--test-size", "4", "--views", "2", "--steps", "30", "--hidden", "16,16", "--held-out-points", "2048"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    ds = INRDataset(tmp_path / "s")
    assert ds.quality == "iou" and ds.spec.widths == (3, 16, 16, 1) and ds.spec.w0 == 5.0
    assert ds.manifest["points"]["held_out_points"] == 2048 and ds.manifest["source"]["kind"] == "occupancy"
    assert "target_psnr" not in ds.manifest["fit"] and ds.manifest["fit"]["target_iou"] == 0.97
    train = ds.split("train")
    assert len(train) == 24 and ((train.quality >= 0) & (train.quality <= 1)).all() and train.quality.mean() > 0.3
    info = CliRunner().invoke(main, ["info", str(tmp_path / "s"), "--json"])
    assert json.loads(info.output)["splits"]["test"]["iou"]["mean"] == pytest.approx(
        ds.split("test").quality.mean().item(), abs=1e-6
    )
    assert "held-out IoU" in CliRunner().invoke(main, ["info", str(tmp_path / "s")]).output
    drawn = CliRunner().invoke(main, ["render", str(tmp_path / "s"), "--out", str(tmp_path / "s.png"), "-n", "2"])
    assert drawn.exit_code == 0, drawn.output
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    refused = CliRunner().invoke(
        main, ["fit", "--source", "shapes", "--out", str(tmp_path / "x"), "--input-views", "1"]
    )
    assert refused.exit_code == 2 and "a 3D source takes neural views only" in refused.output


def test_an_occupancy_build_does_not_depend_on_shards_and_resumes(tmp_path):
    whole = build_dataset(tmp_path / "whole", SHAPES, SPEC, FIT, SPLITS, shard_size=64, points=POINTS)
    calls = {"n": 0}

    def crash(n, quality):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_dataset(tmp_path / "cut", SHAPES, SPEC, FIT, SPLITS, shard_size=8, points=POINTS, progress=crash)
    build_dataset(tmp_path / "cut", SHAPES, SPEC, FIT, SPLITS, shard_size=8, points=POINTS)
    a, b = INRDataset(whole).split("train"), INRDataset(tmp_path / "cut").split("train")
    torch.testing.assert_close(a.weights.flatten(), b.weights.flatten())
    torch.testing.assert_close(a.quality, b.quality)
    assert not torch.equal(a.weights.flatten()[0], a.weights.flatten()[1])  # two views of one object differ


def test_fit_a_modelnet_folder_with_a_bad_file_skips_it_and_records_why(tmp_path):
    _modelnet(tmp_path / "ModelNet40", n_train=3, n_test=2)
    (tmp_path / "ModelNet40" / "cube" / "train" / "broken.off").write_text("OFF\n8 1 0\n0 0 0\n")
    args = ["fit", "--source", "modelnet40", "--data-dir", str(tmp_path), "--out", str(tmp_path / "m")]
    r = CliRunner().invoke(main, [*args, "--steps", "20", "--hidden", "16,16", "--val-size", "1"])
    assert r.exit_code == 0, r.output
    assert "skipped 1 unusable mesh files" in r.output
    ds = INRDataset(tmp_path / "m")
    source = ds.manifest["source"]
    assert (
        source["skipped"][0]["file"] == "cube/train/broken.off"
        and "promises 8 vertices" in source["skipped"][0]["reason"]
    )
    assert len(source["files"]) == 10 and len(source["normalisation"]) == 10
    assert all(np.isfinite(n["scale"]) for n in source["normalisation"])
    assert {name: ds.manifest["splits"][name]["objects"] for name in ds.splits} == {"train": 5, "val": 1, "test": 4}
    missing = CliRunner().invoke(main, ["fit", "--source", "modelnet40", "--out", str(tmp_path / "n")])
    assert missing.exit_code == 2 and "modelnet40 needs its files: pass --data-dir" in missing.output


def test_the_shapes_preset_runs_an_experiment_with_the_point_cloud_baseline(tmp_path):
    from weightaug.experiments import load_config, run_experiment

    assert "rotate_so3" in load_config("augmentations", "shapes").variants
    overrides = {"train_size": 24, "val_size": 12, "test_size": 12, "fit_steps": 20, "epochs": 2, "batch_size": 8}
    overrides |= {"seeds": [0], "models": ["mlp"], "variants": ["none", "rotate_so3", "mixup_align"]}
    out = run_experiment("augmentations", "shapes", tmp_path / "x", tmp_path / "data", overrides=overrides,
                         progress=False)  # fmt: skip
    results = json.loads((out / "results.json").read_text())
    assert {r["model"] for r in results["runs"].values()} == {"mlp", "points-pointnet"}
    assert "points-pointnet" in (out / "table.md").read_text()
    (fitted,) = (tmp_path / "data").iterdir()
    assert INRDataset(fitted).quality == "iou" and INRDataset(fitted).spec.widths[0] == 3


def test_the_point_cloud_baseline_ignores_the_order_of_points():
    from weightaug.train import pixel_model

    model = pixel_model("points-pointnet", (128, 3), 12).eval()
    clouds = SHAPES.surface(torch.arange(4), 128, seed=0)
    shuffled = clouds[:, torch.randperm(128)]
    torch.testing.assert_close(model(shuffled), model(clouds))


def test_the_modelnet40_preset_runs_on_a_folder_in_modelnet_layout(tmp_path):
    from weightaug.experiments import run_experiment

    _modelnet(tmp_path / "ModelNet40", n_train=4, n_test=2)
    overrides = {"data_dir": str(tmp_path), "val_size": 2, "fit_steps": 10, "epochs": 1, "batch_size": 4}
    overrides |= {"seeds": [0], "models": ["mlp"], "variants": ["none", "rotate_so3"]}
    out = run_experiment("augmentations", "modelnet40", tmp_path / "x", tmp_path / "data", overrides=overrides,
                         progress=False)  # fmt: skip
    runs = json.loads((out / "results.json").read_text())["runs"]
    assert len(runs) == 3 and {r["model"] for r in runs.values()} == {"mlp", "points-pointnet"}
