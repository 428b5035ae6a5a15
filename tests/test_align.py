import pytest
import torch

from conftest import random_batch
from weightaug.align import inner_products, linear_assignment, weight_matching
from weightaug.inr.store import INRDataset
from weightaug.symmetry import SignedPermutation
from weightaug.weights import NetworkSpec, SpecMismatchError

SPECS = [NetworkSpec(hidden=(32, 32)), NetworkSpec(hidden=(16,)), NetworkSpec(in_dim=3, hidden=(12, 24, 8), out_dim=3)]


def test_linear_assignment_is_optimal():
    scores = torch.randn(20, 6, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    perms = torch.tensor(list(__import__("itertools").permutations(range(6))))  # all 720
    totals = scores[:, torch.arange(6), perms].sum(-1)  # (20, 720)
    best = linear_assignment(scores)
    torch.testing.assert_close(scores.gather(2, best.unsqueeze(2)).sum((1, 2)), totals.max(1).values)


@pytest.mark.parametrize("spec", SPECS, ids=str)
@pytest.mark.parametrize("signs", [False, True])
def test_planted_symmetries_are_recovered_exactly(spec, signs):
    g = torch.Generator().manual_seed(1)
    a = random_batch(spec, 16)
    planted = SignedPermutation.random(spec, 16, g, flip_prob=0.5 if signs else 0.0)
    result = weight_matching(a, planted.apply(a), signs=signs)
    assert result.aligned.equal(a)
    inverse = planted.inverse()
    for got, want in zip(result.action.perms, inverse.perms):
        assert torch.equal(got, want)
    if signs:
        for got, want in zip(result.action.signs, inverse.signs):
            assert torch.equal(got, want.to(got.dtype))


def test_planted_permutation_of_fitted_inrs(small_dataset):
    a = INRDataset(small_dataset).split("train").weights
    planted = SignedPermutation.random(a.spec, len(a), torch.Generator().manual_seed(2))
    assert weight_matching(a, planted.apply(a)).aligned.equal(a)


@pytest.mark.parametrize("signs", [False, True])
def test_alignment_raises_the_objective_and_keeps_the_function(signs):
    spec = SPECS[0]
    a, b = random_batch(spec, 32, seed=0), random_batch(spec, 32, seed=1)
    result = weight_matching(a, b, signs=signs)
    assert (result.objective >= result.initial_objective - 1e-9).all()
    assert (result.objective > result.initial_objective).all()
    torch.testing.assert_close(result.objective, inner_products(a.to(torch.float64), result.aligned.to(torch.float64)))
    assert result.action.apply(b).equal(result.aligned)
    x = torch.rand(200, 2) * 2 - 1
    torch.testing.assert_close(result.aligned(x), b(x), rtol=0, atol=2e-5)
    if signs:
        assert (result.objective >= weight_matching(a, b).objective - 1e-9).float().mean() > 0.5


def test_batched_equals_one_pair_at_a_time():
    spec = SPECS[0]
    a, b = random_batch(spec, 12, seed=3), random_batch(spec, 12, seed=4)
    batched = weight_matching(a, b, generator=torch.Generator().manual_seed(5))
    for i in range(12):
        alone = weight_matching(a[i], b[i], generator=torch.Generator().manual_seed(5))
        for got, want in zip(alone.action.perms, batched.action.perms):
            assert torch.equal(got[0], want[i])
        torch.testing.assert_close(alone.objective[0], batched.objective[i])


@pytest.mark.parametrize("signs", [False, True])
def test_matching_in_parts_equals_one_group(signs):
    spec = SPECS[2]
    a, b = random_batch(spec, 13, seed=6), random_batch(spec, 13, seed=7)
    whole_gen, parts_gen = torch.Generator().manual_seed(8), torch.Generator().manual_seed(8)
    threads = torch.get_num_threads()
    whole = weight_matching(a, b, signs=signs, generator=whole_gen, parts=1)
    split = weight_matching(a, b, signs=signs, generator=parts_gen, parts=3)
    assert whole.sweeps.max() > whole.sweeps.min()  # the groups sweep different numbers of times
    assert split.aligned.equal(whole.aligned) and torch.equal(split.sweeps, whole.sweeps)
    for got, want in zip(
        split.action.perms + (split.action.signs or ()), whole.action.perms + (whole.action.signs or ())
    ):
        assert torch.equal(got, want)
    torch.testing.assert_close(split.objective, whole.objective)
    assert torch.equal(parts_gen.get_state(), whole_gen.get_state())  # both drew the same layer orders
    assert torch.get_num_threads() == threads  # the caller's thread count is back


def test_bad_input():
    a = random_batch(SPECS[0], 2)
    with pytest.raises(SpecMismatchError, match="align spec"):
        weight_matching(a, random_batch(SPECS[1], 2))
    with pytest.raises(ValueError, match="pairs"):
        weight_matching(a, a[:1])
    relu = random_batch(NetworkSpec(hidden=(4,), activation="relu"), 2)
    with pytest.raises(SpecMismatchError, match="sine"):
        weight_matching(relu, relu, signs=True)
    with pytest.raises(ValueError, match="parts"):
        weight_matching(a, a, parts=0)
