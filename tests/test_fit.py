import pytest
import torch

from conftest import needs_fmnist
from weightaug.inr.fit import (
    FitConfig,
    FitDivergedError,
    coordinate_grid,
    default_lr,
    fit_inrs,
    image_targets,
    loss_and_grads,
    psnr_from_mse,
)
from weightaug.inr.init import init_weights
from weightaug.kernels import _sincos_poly, sine_and_slope
from weightaug.rng import uniform_streams
from weightaug.weights import NetworkSpec, WeightBatch, mlp_forward


@pytest.mark.parametrize(
    "spec",
    [
        NetworkSpec(output_offset=0.5),
        NetworkSpec(hidden=(8, 8, 8), out_dim=3),
        NetworkSpec(hidden=(6,), activation="relu"),
    ],
    ids=str,
)
def test_hand_written_gradients_equal_autograd(spec):
    wb = init_weights(spec, "sitzmann", 1, torch.arange(3), torch.zeros(3, dtype=torch.long))
    coords = coordinate_grid(6, 5).double()
    targets = torch.rand(3, 30, spec.out_dim, dtype=torch.double)
    params = [t.double().requires_grad_() for t in wb.tensors()]
    mse, _, grads = loss_and_grads(spec, [p.detach() for p in params], coords, targets)
    out = mlp_forward(spec, params[0::2], params[1::2], coords)
    ref = (out - targets).square().mean(dim=(1, 2))
    ref.sum().backward()
    torch.testing.assert_close(mse, ref.detach(), rtol=1e-6, atol=1e-9)
    for g, p in zip(grads, params):
        torch.testing.assert_close(g, p.grad, rtol=1e-5, atol=1e-7)


def test_fused_sincos_matches_aten():
    z = torch.linspace(-300, 300, 100_001)
    s, c = _sincos_poly(z)
    assert (s - torch.sin(z)).abs().max() < 1e-6
    assert (c - torch.cos(z)).abs().max() < 1e-6
    u, b = torch.randn(3, 50, 4), torch.randn(3, 1, 4)
    act, slope = sine_and_slope(u, b, 30.0)
    torch.testing.assert_close(act, torch.sin(30 * (u + b)), rtol=0, atol=2e-6)
    torch.testing.assert_close(slope, 30 * torch.cos(30 * (u + b)), rtol=0, atol=6e-5)


def test_init_depends_only_on_seed_object_and_view():
    spec = NetworkSpec()
    obj = torch.tensor([5, 9, 5, 100])
    view = torch.tensor([0, 0, 1, 3])
    full = init_weights(spec, "sitzmann", 7, obj, view)
    reordered = init_weights(spec, "sitzmann", 7, obj.flip(0), view.flip(0))
    assert reordered.equal(full[torch.tensor([3, 2, 1, 0])])
    assert full[1].equal(init_weights(spec, "sitzmann", 7, obj[1:2], view[1:2]))
    assert not torch.equal(full.weights[0][0], full.weights[0][2])  # another view, another init
    assert not init_weights(spec, "sitzmann", 8, obj, view).equal(full)
    u = uniform_streams(0, torch.arange(2000), torch.zeros(2000, dtype=torch.long), 50)
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean().item() - 0.5) < 0.01


def test_init_bounds_follow_each_rule():
    spec = NetworkSpec()
    ids = torch.arange(200)
    siren = (6 / 2) ** 0.5 / 30, (6 / 32) ** 0.5 / 30, (6 / 32) ** 0.5 / 30  # sqrt(6 / d_in) / w0 per layer
    default = 1 / 32**0.5  # PyTorch's nn.Linear default for d_in = 32

    def spans(w: WeightBatch, bound: float, tensors: str, layers: tuple[int, ...]) -> bool:
        return all(0.9 * bound < getattr(w, tensors)[h].abs().max() <= bound for h in layers)

    s = init_weights(spec, "sitzmann", 0, ids, ids)
    assert spans(s, 1 / 2, "weights", (0,)) and spans(s, siren[1], "weights", (1, 2))
    assert spans(s, 2**-0.5, "biases", (0,)) and spans(s, default, "biases", (1, 2))
    z = init_weights(spec, "zero-bias", 0, ids, ids)
    assert all(spans(z, siren[h], "weights", (h,)) for h in range(3)) and all(b.abs().max() == 0 for b in z.biases)
    d = init_weights(spec, "dwsnets", 0, ids, ids)  # zero-bias but for the last layer: nn.Linear's default
    assert d.flatten()[:, :-33].equal(z.flatten()[:, :-33])
    assert spans(d, default, "weights", (2,)) and spans(d, default, "biases", (2,))
    with pytest.raises(ValueError, match="sitzmann, dwsnets, zero-bias, got 'peers'"):
        init_weights(spec, "peers", 0, ids, ids)


def test_batched_fit_equals_fitting_each_alone(digits):
    """Equal up to float rounding: BLAS may round differently for another batch size."""
    spec = NetworkSpec(hidden=(16, 16), output_offset=0.5)
    targets = image_targets(digits.float_images(torch.arange(6)))
    coords = coordinate_grid(8, 8)
    ids = torch.arange(6)
    cfg = FitConfig(steps=40, target_psnr=35.0, chunk_size=6)
    together, psnr = fit_inrs(spec, targets, cfg, 0, ids, torch.zeros_like(ids), coords)
    for i in (0, 4):
        alone, p = fit_inrs(spec, targets[i : i + 1], cfg, 0, ids[i : i + 1], torch.zeros(1, dtype=torch.long), coords)
        torch.testing.assert_close(alone.flatten(), together[i].flatten(), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(p, psnr[i : i + 1], rtol=0, atol=1e-3)


def test_stored_psnr_is_the_psnr_of_stored_weights_and_early_stop_holds(digits):
    spec = NetworkSpec(output_offset=0.5)
    targets = image_targets(digits.float_images(torch.arange(40)))
    coords = coordinate_grid(8, 8)
    ids = torch.arange(40)
    weights, psnr = fit_inrs(
        spec, targets, FitConfig(steps=300, target_psnr=38.0, chunk_size=16), 0, ids, ids * 0, coords
    )
    recomputed = psnr_from_mse((weights(coords) - targets).square().mean(dim=(1, 2)))
    torch.testing.assert_close(recomputed, psnr, rtol=0, atol=1e-3)
    assert (psnr >= 38.0).float().mean() > 0.9
    assert psnr.max() < 45  # stopped at the target instead of running on


def test_default_recipe_reaches_35db_on_digits(digits):
    ids = torch.arange(64)
    targets = image_targets(digits.float_images(ids))
    _, psnr = fit_inrs(NetworkSpec(output_offset=0.5), targets, FitConfig(), 0, ids, ids * 0, coordinate_grid(8, 8))
    assert psnr.mean() >= 35.0


def test_non_finite_images_raise_after_refits(digits):
    targets = image_targets(digits.float_images(torch.arange(4)))
    targets[2, 5] = float("nan")
    ids = torch.arange(4)
    with pytest.raises(FitDivergedError, match=r"objects \[2\]"):
        fit_inrs(NetworkSpec(hidden=(8,)), targets, FitConfig(steps=5), 0, ids, ids * 0, coordinate_grid(8, 8))


def test_targets_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match="targets must be"):
        fit_inrs(
            NetworkSpec(),
            torch.rand(2, 10, 1),
            FitConfig(),
            0,
            torch.arange(2),
            torch.zeros(2, dtype=torch.long),
            coordinate_grid(8, 8),
        )


@needs_fmnist
def test_default_recipe_reaches_35db_on_fashion_mnist_test_images():
    from weightaug.data.sources import load_source

    src = load_source("fashion-mnist")
    ids = torch.arange(60_000, 60_064)
    targets = image_targets(src.float_images(ids))
    _, psnr = fit_inrs(NetworkSpec(output_offset=0.5), targets, FitConfig(), 0, ids, ids * 0, coordinate_grid(28, 28))
    assert psnr.mean() >= 35.0


def test_the_default_lr_follows_the_architecture():
    assert default_lr(NetworkSpec()) == 5e-3  # the recipe's, for 2-32-32-1
    deep = NetworkSpec(hidden=(64, 64, 64))
    assert default_lr(deep) < 5e-3 and default_lr(NetworkSpec(hidden=(128,) * 3)) < default_lr(deep)
    assert FitConfig().for_spec(deep).lr == default_lr(deep) and FitConfig(lr=1e-3).for_spec(deep).lr == 1e-3


def test_a_deeper_siren_fits_at_its_default_lr_and_a_failed_fit_says_so(tmp_path):
    from click.testing import CliRunner

    from weightaug.cli import main

    args = ["fit", "--source", "digits", "--train-size", "16", "--val-size", "4", "--test-size", "4"]
    args += ["--hidden", "64,64,64", "--target-psnr", "30"]
    r = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "rule")])
    assert r.exit_code == 0 and "warning" not in r.output, r.output
    r = CliRunner().invoke(main, [*args, "--lr", "2e-2", "--out", str(tmp_path / "too-high")])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "warning: 24 of 24 INRs ended more than 10 dB below the 30 dB target" in text, text
    assert "fit again without --lr (this architecture's rate is 0.0013)" in text
