"""The same code on a GPU: same draws, same fits, a training run that learns. Skipped without CUDA (CI has none)."""

import json

import pytest
import torch

from conftest import SPEC, random_batch
from weightaug.augment import REGISTRY, build_augmentation
from weightaug.experiments.runner import run_experiment
from weightaug.inr.build import CHUNK
from weightaug.inr.fit import FitConfig, coordinate_grid, fit_inrs, image_targets
from weightaug.models import MODELS, build_model
from weightaug.was.models import build_image_model
from weightaug.was.shadow import ShadowWeights
from weightaug.was.transforms import TRANSFORMS, build_transform

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none here)")


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_augmentation_draws_the_same_on_gpu_as_on_cpu(name):
    weights = random_batch(SPEC, 64)
    targets = torch.eye(10)[torch.arange(64) % 10]
    pipeline = build_augmentation(name, SPEC)
    cpu_w, cpu_t = pipeline(weights, targets, torch.Generator().manual_seed(0))
    gpu_w, gpu_t = pipeline(weights.to("cuda"), targets.cuda(), torch.Generator().manual_seed(0))
    torch.testing.assert_close(gpu_w.flatten().cpu(), cpu_w.flatten(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(gpu_t.cpu(), cpu_t)


def test_fit_on_gpu_matches_cpu(digits):
    idx = torch.arange(32)
    images = digits.float_images(idx)
    fit = FitConfig(steps=50, init="zero-bias", target_psnr=None, chunk_size=32)
    out = {}
    for device in ("cpu", "cuda"):
        coords = coordinate_grid(*images.shape[-2:], device=device)
        targets = image_targets(images).to(device)
        out[device], _ = fit_inrs(SPEC, targets, fit, 0, idx, torch.zeros_like(idx), coords)
    torch.testing.assert_close(out["cuda"].flatten().cpu(), out["cpu"].flatten(), rtol=1e-2, atol=1e-3)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_models_run_on_gpu_like_on_cpu(name):
    torch.manual_seed(0)
    model = build_model(name, SPEC, 10).eval()
    weights = random_batch(SPEC, 8)
    model.fit_normaliser(weights)
    with torch.no_grad():
        cpu = model(weights)
        gpu = model.cuda()(weights.to("cuda"))
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
def test_shadow_weights_train_on_gpu(transform):
    model = build_image_model("small_cnn", 10, in_channels=1)
    shadow = ShadowWeights(model, build_transform(transform), seed=0).cuda()
    x, y = torch.randn(16, 1, 28, 28, device="cuda"), torch.arange(16, device="cuda") % 10
    loss = torch.nn.functional.cross_entropy(shadow(x), y)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in shadow.parameters() if p.requires_grad)


def test_experiment_fits_and_trains_on_gpu(tmp_path):
    overrides = {"train_size": 200, "val_size": 50, "test_size": 100, "fit_steps": 50, "epochs": 3, "seeds": [0]}
    overrides |= {"models": ["dwsnet"], "variants": ["none", "mixup_align"], "pixel_models": ["pixel-cnn"]}
    out = run_experiment("augmentations", "digits", tmp_path / "out", tmp_path / "data", "cuda", overrides, False)
    runs = json.loads((out / "results.json").read_text())["runs"]
    assert len(runs) == 3 and all(len(r["history"]) == 3 for r in runs.values())
    assert max(r["best"]["test_acc"] for r in runs.values()) > 0.5  # the pixel CNN, at least, learns
    (data,) = (tmp_path / "data").iterdir()
    assert json.loads((data / "manifest.json").read_text())["fit"]["chunk_size"] == CHUNK["image", "cuda"]
