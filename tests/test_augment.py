import re

import pytest
import torch
from torch.nn.functional import one_hot

from conftest import SPEC, random_batch
from weightaug.augment import (
    FULL_PIPELINE,
    AugmentationSpecError,
    Dropout,
    Flip,
    GaussianNoise,
    LabelSmoothing,
    MixUp,
    QuantileMask,
    RandomChoice,
    Rotate,
    Scale,
    SirenNegation,
    Translate,
    UnknownAugmentationError,
    build_augmentation,
)
from weightaug.augment.geometric import affine_inputs
from weightaug.inr.fit import coordinate_grid
from weightaug.inr.store import INRDataset
from weightaug.weights import NetworkSpec

GRID = coordinate_grid(64, 64)
SYMMETRIES = ["permutation", "siren_negation", "siren_bias", "permutation,siren_negation,siren_bias"]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def targets_for(n: int, classes: int = 10) -> torch.Tensor:
    return one_hot(torch.arange(n) % classes, classes).float()


@pytest.mark.parametrize("names", SYMMETRIES)
def test_symmetry_augmentations_keep_every_output_on_a_grid(names, small_dataset):
    fitted = INRDataset(small_dataset).split("train").weights
    for wb in (random_batch(NetworkSpec(hidden=(32, 32)), 64), fitted):
        moved, _ = build_augmentation(names, wb.spec)(wb, generator=gen())
        assert not moved.equal(wb)
        torch.testing.assert_close(moved(GRID), wb(GRID), rtol=0, atol=3e-5)


@pytest.mark.parametrize("aug", [Translate(), Rotate(), Scale(), Flip(p=1.0)], ids=lambda a: type(a).__name__)
def test_geometric_augmentations_are_the_inr_on_moved_coordinates(aug):
    wb = random_batch(SPEC, 8).to(torch.float64)
    matrix, shift = aug.draw(wb, gen(1))
    assert aug(wb, generator=gen(1))[0].equal(affine_inputs(wb, matrix, shift))
    x = GRID.to(torch.float64)
    moved_x = torch.einsum("bij,nj->bni", matrix, x) + shift.unsqueeze(1)
    torch.testing.assert_close(affine_inputs(wb, matrix, shift)(x), wb(moved_x), rtol=1e-10, atol=1e-10)


SPEC_3D = NetworkSpec(in_dim=3, hidden=(32, 32), w0=5.0)
POINTS_3D = torch.rand(500, 3, dtype=torch.float64) * 2 - 1


@pytest.mark.parametrize(
    "name", ["rotate", "rotate:axis=x", "rotate_so3", "translate", "scale", "scale_axes", "flip:axis=2:p=1"]
)
def test_3d_augmentations_are_the_occupancy_inr_on_moved_points(name):
    aug = build_augmentation(name, SPEC_3D).transforms[0]
    wb = random_batch(SPEC_3D, 6).to(torch.float64)
    matrix, shift = aug.draw(wb, gen(2))
    moved = aug(wb, generator=gen(2))[0]
    moved_points = torch.einsum("bij,nj->bni", matrix, POINTS_3D) + shift.unsqueeze(1)
    torch.testing.assert_close(moved(POINTS_3D), wb(moved_points), rtol=1e-10, atol=1e-10)
    if name.startswith("rotate"):  # proper rotations: orthogonal, determinant one
        torch.testing.assert_close(matrix @ matrix.transpose(1, 2), torch.eye(3, dtype=matrix.dtype).expand(6, 3, 3))
        torch.testing.assert_close(torch.linalg.det(matrix), torch.ones(6, dtype=matrix.dtype))
    if name == "rotate:axis=x":
        assert (matrix[:, 0] == torch.tensor([1.0, 0, 0], dtype=matrix.dtype)).all()  # x stays where it is


def test_so3_rotations_are_uniform():
    from weightaug.rng import rotations

    r = rotations(torch.rand(20000, 3, generator=gen(3)))
    z = r[:, :, 2]  # where each rotation sends the z axis: uniform on the sphere
    assert z.mean(0).abs().max() < 0.02 and (z.square().mean(0) - 1 / 3).abs().max() < 0.01


@pytest.mark.parametrize("names", [*SYMMETRIES, "mixup_sign_align"])
def test_symmetries_and_mixups_work_on_3d_inrs(names):
    wb = random_batch(SPEC_3D, 16).map(lambda t: t * 3)
    moved, targets = build_augmentation(names, SPEC_3D)(wb, targets_for(16), generator=gen())
    assert not moved.equal(wb)
    if names != "mixup_sign_align":  # a symmetry: every output stays where it was
        torch.testing.assert_close(moved(POINTS_3D.float()), wb(POINTS_3D.float()), rtol=0, atol=3e-5)
    else:
        torch.testing.assert_close(targets.sum(1), torch.ones(16))


def test_geometric_parameters_follow_their_ranges():
    wb = random_batch(SPEC, 2000).to(torch.float64)
    _, shift = Translate(max_shift=0.25).draw(wb, gen())
    assert shift.abs().max() <= 0.25 and shift.abs().max() > 0.24
    matrix, _ = Rotate(max_degrees=30).draw(wb, gen())
    angles = torch.rad2deg(torch.atan2(matrix[:, 1, 0], matrix[:, 0, 0]))
    assert angles.abs().max() <= 30 and angles.abs().max() > 29
    torch.testing.assert_close(matrix @ matrix.transpose(1, 2), torch.eye(2, dtype=torch.float64).expand(2000, 2, 2))
    matrix, _ = Scale().draw(wb, gen())
    assert matrix[:, 0, 0].min() >= 0.8 and matrix[:, 0, 0].max() <= 1.2


def test_noise_dropout_and_quantile_mask_statistics():
    wb = random_batch(NetworkSpec(hidden=(32, 32)), 256)
    noisy, _ = GaussianNoise(rel_std=0.32)(wb, generator=gen())
    w = wb.weights[1]
    ratio = (noisy.weights[1] - w).flatten(1).std(1) / w.flatten(1).std(1)
    assert abs(ratio.mean().item() - 0.32) < 0.01
    dropped, _ = Dropout(rate=0.1)(wb, generator=gen())
    assert abs((dropped.flatten() == 0).float().mean().item() - 0.1) < 0.01
    masked, _ = QuantileMask(max_quantile=0.1)(wb, generator=gen())
    zero = masked.flatten() == 0
    fraction = zero.float().mean(1)
    assert fraction.max() <= 0.1 and abs(fraction.mean().item() - 0.05) < 0.01
    magnitude = wb.flatten().abs()
    assert (magnitude.masked_fill(~zero, -1).max(1).values <= magnitude.masked_fill(zero, 9).min(1).values).all()
    kept = ~zero
    assert torch.equal(masked.flatten()[kept], wb.flatten()[kept])


def test_label_smoothing():
    wb, y = random_batch(SPEC, 4), targets_for(4)
    _, soft = LabelSmoothing(eps=0.1)(wb, y)
    torch.testing.assert_close(soft.sum(1), torch.ones(4))
    assert soft.max() == pytest.approx(0.91) and soft.min() == pytest.approx(0.01)
    with pytest.raises(ValueError, match="targets"):
        LabelSmoothing()(wb)


@pytest.mark.parametrize("mode", ["plain", "permute", "align", "sign_align"])
def test_mixup_lambda_one_is_the_input_and_soft_labels_sum_to_one(mode):
    wb, y = random_batch(NetworkSpec(hidden=(32, 32)), 16), targets_for(16)
    mix = MixUp(mode=mode)
    partner = torch.randperm(16, generator=gen())
    same, y_same = mix.mix(wb, y, partner, torch.ones(16), gen())
    if mode == "permute":  # lambda pi(a): the same function
        torch.testing.assert_close(same(GRID), wb(GRID), rtol=0, atol=3e-5)
    else:
        assert same.equal(wb)
    assert torch.equal(y_same, y)
    other, _ = mix.mix(wb, y, partner, torch.zeros(16), gen())
    torch.testing.assert_close(other(GRID), wb[partner](GRID), rtol=0, atol=3e-5)
    mixed, soft = mix(wb, y, gen())
    assert not mixed.equal(wb)
    torch.testing.assert_close(soft.sum(1), torch.ones(16))
    assert (soft > 0).sum(1).max() == 2
    assert mix(wb, None, gen())[1] is None


def test_aligned_mixup_mixes_closer_networks_than_plain():
    spec = NetworkSpec(hidden=(32, 32))
    wb = random_batch(spec, 64)
    partner, half = torch.randperm(64, generator=gen()), torch.full((64,), 0.5)
    plain, _ = MixUp("plain").mix(wb, None, partner, half, gen())
    aligned, _ = MixUp("align").mix(wb, None, partner, half, gen())
    assert aligned.flatten().norm(dim=1).mean() > plain.flatten().norm(dim=1).mean()


def test_probability_leaves_the_others_bit_identical():
    wb = random_batch(SPEC, 400)
    out, _ = GaussianNoise(p=0.5)(wb, generator=gen())
    changed = (out.flatten() != wb.flatten()).any(1)
    assert 150 < changed.sum() < 250
    assert torch.equal(out.flatten()[~changed], wb.flatten()[~changed])


def test_random_choice_picks_one_per_network():
    wb, y = random_batch(SPEC, 200), targets_for(200)
    choice = RandomChoice([LabelSmoothing(eps=1.0), LabelSmoothing(eps=0.0)], weights=[1, 3])
    _, soft = choice(wb, y, gen())
    uniform = (soft == 0.1).all(1)
    assert 30 < uniform.sum() < 70 and torch.equal(soft[~uniform], y[~uniform])


def test_same_seed_same_bytes_and_registry_parameters():
    spec = NetworkSpec(hidden=(32, 32))
    wb, y = random_batch(spec, 32), targets_for(32)
    pipe = build_augmentation(FULL_PIPELINE, spec)
    a, ya = pipe(wb, y, gen(7))
    b, yb = pipe(wb, y, gen(7))
    assert a.equal(b) and torch.equal(ya, yb)
    assert not a.equal(pipe(wb, y, gen(8))[0])
    (noise, mix) = build_augmentation("noise:rel_std=0.1, mixup_align:alpha=0.4:p=0.5", spec).transforms
    assert noise.rel_std == 0.1 and (mix.mode, mix.alpha, mix.p) == ("align", 0.4, 0.5)
    assert build_augmentation("none").transforms == []


def test_wrong_specs_fail_at_construction():
    spec4d = NetworkSpec(in_dim=4, hidden=(8,))
    relu = NetworkSpec(hidden=(8,), activation="relu")
    with pytest.raises(AugmentationSpecError, match="acts on 2D or 3D coordinates; these INRs take 4D"):
        Rotate(spec=spec4d)
    with pytest.raises(AugmentationSpecError, match="acts on 3D coordinates; these INRs take 2D"):
        build_augmentation("translate,rotate_so3", SPEC)
    with pytest.raises(ValueError, match="axis must be one of x, y, z"):
        Rotate(axis="w")
    with pytest.raises(AugmentationSpecError, match="sine"):
        SirenNegation(spec=relu)
    for name in ("siren_negation", "siren_bias", "mixup_sign_align"):
        with pytest.raises(AugmentationSpecError, match="sine"):
            build_augmentation(name, relu)
    with pytest.raises(AugmentationSpecError, match="axis 2"):
        Flip(axis=2, spec=SPEC)
    build_augmentation("permutation,mixup_align,translate", relu)  # defined for ReLU networks
    with pytest.raises(AugmentationSpecError, match="sine"):  # and never a silent no-op without a spec
        SirenNegation()(random_batch(relu, 2))
    with pytest.raises(UnknownAugmentationError, match="choose from"):
        build_augmentation("noise,mixup_aligned")
    with pytest.raises(UnknownAugmentationError, match="rel_std"):
        build_augmentation("noise:sigma=0.1")
    with pytest.raises(UnknownAugmentationError, match="separate parameters with ':'"):
        build_augmentation("siren_bias:k_min=-1,k_max=1")
    with pytest.raises(ValueError, match="mode"):
        MixUp(mode="aligned")


def test_parameters_are_type_checked_when_the_pipeline_is_built(small_dataset, tmp_path):
    from click.testing import CliRunner

    from weightaug.cli import main

    for text, expected in (
        ("noise:rel_std=abc", "noise: parameter rel_std expects a number, got 'abc'"),
        ("siren_bias:k_min=0.5", "siren_bias: parameter k_min expects an integer, got '0.5'"),
        ("mixup_align:max_sweeps=True", "mixup_align: parameter max_sweeps expects an integer, got 'True'"),
        ("dropout:rate=[1]", "dropout: parameter rate expects a number, got '[1]'"),
    ):
        with pytest.raises(UnknownAugmentationError, match=re.escape(expected)):
            build_augmentation(text)
    assert build_augmentation("noise:rel_std=1").transforms[0].rel_std == 1.0  # an int is a number
    out = tmp_path / "unused"
    r = CliRunner().invoke(main, ["train", str(small_dataset), "--augment", "noise:rel_std=abc", "--out", str(out)])
    assert r.exit_code == 2 and "expects a number" in r.output and not out.exists()
