import pytest
import torch

from conftest import random_batch
from weightaug.augment import build_augmentation
from weightaug.inr.fit import coordinate_grid
from weightaug.interop import from_nfn, nfn_spec, to_nfn
from weightaug.symmetry import SignedPermutation
from weightaug.weights import NetworkSpec, SpecMismatchError

nfn = pytest.importorskip("nfn", reason="nfn not installed (pip install 'weightaug[nfn]'; make's dev set-up does)")
from nfn.common import WeightSpaceFeatures, network_spec_from_wsfeat  # noqa: E402
from nfn.layers import HNPLinear, HNPPool  # noqa: E402

SPEC = NetworkSpec(hidden=(12, 9), output_offset=0.5)


def test_a_batch_goes_to_nfn_in_its_layout_and_back_bit_for_bit():
    wb = random_batch(SPEC, 5)
    features = to_nfn(wb)
    assert [tuple(w.shape) for w in features.weights] == [(5, 1, o, i) for o, i in SPEC.weight_shapes]
    assert [tuple(b.shape) for b in features.biases] == [(5, 1, o) for o, _ in SPEC.weight_shapes]
    assert network_spec_from_wsfeat(features) == nfn_spec(SPEC)
    assert from_nfn(features, SPEC).equal(wb)


def test_nfn_layers_on_weightaug_data_are_invariant_to_weightaugs_permutations():
    """nfn's HNP layer and pool see weightaug's neuron permutations as the symmetry they are: the layout is right."""
    torch.manual_seed(0)
    wb = random_batch(SPEC, 4).map(lambda t: t * 10)
    moved = SignedPermutation.random(SPEC, 4, torch.Generator().manual_seed(1)).apply(wb)
    model = torch.nn.Sequential(HNPLinear(nfn_spec(SPEC), 1, 6), HNPPool(nfn_spec(SPEC)))
    out, out_moved = model(to_nfn(wb)), model(to_nfn(moved))
    torch.testing.assert_close(out_moved, out, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(model(to_nfn(wb.map(lambda t: t.flip(-1)))), out, atol=1e-3)  # it sees weights


def test_weightaug_augmentations_run_on_nfn_data():
    wb = random_batch(SPEC, 6)
    features = WeightSpaceFeatures(*([t.clone() for t in part] for part in (to_nfn(wb).weights, to_nfn(wb).biases)))
    augment = build_augmentation("permutation,siren_negation", SPEC)
    moved, _ = augment(from_nfn(features, SPEC), None, torch.Generator().manual_seed(0))
    back = to_nfn(moved)
    assert not from_nfn(back, SPEC).equal(wb)
    coords = coordinate_grid(6, 6)
    torch.testing.assert_close(from_nfn(back, SPEC)(coords), wb(coords), rtol=1e-4, atol=1e-5)  # the same images


def test_features_that_are_not_one_networks_weights_are_refused():
    features = to_nfn(random_batch(SPEC, 2)).map(lambda t: t.expand(-1, 3, *t.shape[2:]))
    with pytest.raises(ValueError, match=r"\[3\] channels"):
        from_nfn(features, SPEC)
    with pytest.raises(SpecMismatchError):
        from_nfn(to_nfn(random_batch(SPEC, 2)), NetworkSpec(hidden=(12, 8)))
