import pytest
import torch

from conftest import SPEC, random_batch
from weightaug.inr.fit import coordinate_grid
from weightaug.inr.store import INRDataset
from weightaug.symmetry import SignedPermutation, shift_biases
from weightaug.weights import NetworkSpec, SpecMismatchError

GRID = coordinate_grid(64, 64)
DEEP = NetworkSpec(in_dim=3, hidden=(8, 16, 4), out_dim=3, w0=10.0, output_offset=0.5)


def assert_same_function(a, b, x=GRID):
    x = x.to(a.dtype)
    torch.testing.assert_close(b(x), a(x), rtol=0, atol=2e-5)


@pytest.mark.parametrize("spec", [NetworkSpec(), DEEP], ids=str)
def test_signed_permutations_keep_the_function(spec):
    g = torch.Generator().manual_seed(0)
    wb = random_batch(spec, 6)
    x = torch.rand(500, spec.in_dim) * 2 - 1
    for flip_prob in (0.0, 0.5):
        action = SignedPermutation.random(spec, 6, g, flip_prob=flip_prob)
        moved = action.apply(wb)
        assert not moved.equal(wb)
        assert_same_function(wb, moved, x)


def test_symmetries_keep_fitted_inrs(small_dataset):
    wb = INRDataset(small_dataset).split("train").weights
    g = torch.Generator().manual_seed(1)
    action = SignedPermutation.random(wb.spec, len(wb), g, flip_prob=0.5)
    assert_same_function(wb, action.apply(wb))
    shifts = [torch.randint(-4, 4, (len(wb), n), generator=g) for n in wb.spec.hidden]
    assert_same_function(wb, shift_biases(wb, shifts))


def test_compose_and_inverse():
    g = torch.Generator().manual_seed(2)
    wb = random_batch(DEEP, 5)
    first = SignedPermutation.random(DEEP, 5, g, flip_prob=0.5)
    second = SignedPermutation.random(DEEP, 5, g, flip_prob=0.5)
    torch.testing.assert_close(second.compose(first).apply(wb).flatten(), second.apply(first.apply(wb)).flatten())
    assert first.inverse().apply(first.apply(wb)).equal(wb)
    plain = SignedPermutation.random(DEEP, 5, g)
    assert plain.inverse().apply(plain.apply(wb)).equal(wb)
    assert plain.compose(plain.inverse()).apply(wb).equal(wb)


def test_bias_shift_keeps_the_function_and_its_inverse_restores():
    g = torch.Generator().manual_seed(3)
    wb = random_batch(SPEC, 4).to(torch.float64)
    shifts = [torch.randint(-4, 4, (4, n), generator=g) for n in SPEC.hidden]
    moved = shift_biases(wb, shifts)
    assert_same_function(wb, moved)
    torch.testing.assert_close(shift_biases(moved, [-k for k in shifts]).flatten(), wb.flatten())


def test_sine_symmetries_refused_on_relu():
    relu = NetworkSpec(hidden=(4, 4), activation="relu")
    wb = random_batch(relu, 2)
    with pytest.raises(SpecMismatchError, match="sine"):
        SignedPermutation.random(relu, 2, flip_prob=0.5).apply(wb)
    with pytest.raises(SpecMismatchError, match="sine"):
        shift_biases(wb, [torch.ones(2, 4, dtype=torch.long)] * 2)
    moved = SignedPermutation.random(relu, 2).apply(wb)
    assert_same_function(wb, moved, torch.rand(100, 2))
    with pytest.raises(SpecMismatchError, match="hidden widths"):
        SignedPermutation.random(NetworkSpec(hidden=(5, 4)), 2).apply(wb)
