import pytest
import torch

from conftest import random_batch
from weightaug.models import MODELS, UnknownModelError, WeightNormalizer, build_model
from weightaug.models.equivariant import (
    EquivariantLinear,
    SetAttention,
    attention_readout,
    block_layout,
    reduce,
    to_blocks,
)
from weightaug.symmetry import SignedPermutation
from weightaug.weights import NetworkSpec, SpecMismatchError, WeightBatch

SPEC = NetworkSpec(hidden=(12, 10))
DEEP = NetworkSpec(in_dim=3, hidden=(6, 7, 5), out_dim=2)
SMALL = {  # the presets shrunk so the suite stays fast; the architectures are the same
    "mlp": {"hidden": 64, "embed_dim": 32},
    "dwsnet": {"hidden": 8, "embed_dim": 32},
    "dwsnet-official": {"hidden": 8},
    "nfn": {"hidden": 8, "embed_dim": 32},
    "graph": {"d_node": 16, "d_edge": 8, "n_layers": 2, "heads": 2, "embed_dim": 32},
    "transformer": {"d_model": 32, "n_layers": 2, "heads": 2, "embed_dim": 32},
    "signgmn": {"d_node": 16, "n_layers": 2, "embed_dim": 32},
}
INVARIANT = [
    ("dwsnet", {}),
    ("dwsnet-official", {}),
    ("nfn", {"mode": "hnp"}),
    ("nfn", {"mode": "np"}),
    ("graph", {}),
    ("signgmn", {}),
]


def scaled(spec, n, seed=0):
    return random_batch(spec, n, seed).map(lambda t: t * 10)  # weights of order one, like normalised inputs


@pytest.mark.parametrize("spec", [SPEC, DEEP], ids=str)
@pytest.mark.parametrize(("name", "extra"), INVARIANT, ids=lambda v: str(v))
def test_invariant_models_are_invariant_end_to_end_normaliser_included(spec, name, extra):
    """Each model that claims a symmetry ignores it, through its fitted default normaliser."""
    torch.manual_seed(0)
    model = build_model(name, spec, 5, **SMALL[name], **extra).eval()
    model.fit_normaliser(scaled(spec, 50, seed=3).map(lambda t: t + 0.3 * t.mean()))  # statistics far from 0 and 1
    wb = scaled(spec, 6)
    flips = 0.5 if "sign" in MODELS[name].symmetries else 0.0
    moved = SignedPermutation.random(spec, 6, torch.Generator().manual_seed(1), flip_prob=flips).apply(wb)
    assert "permutation" in MODELS[name].symmetries
    torch.testing.assert_close(model(moved), model(wb), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(model.embed(moved), model.embed(wb), rtol=1e-4, atol=1e-5)


def test_the_per_position_normaliser_breaks_invariance_and_sign_flips_move_permutation_models():
    torch.manual_seed(0)
    model = build_model("dwsnet", SPEC, 5, **SMALL["dwsnet"]).eval()
    model.fit_normaliser(scaled(SPEC, 50, seed=3), per="position")
    wb = scaled(SPEC, 6)
    moved = SignedPermutation.random(SPEC, 6, torch.Generator().manual_seed(1)).apply(wb)
    assert (model(moved) - model(wb)).abs().max() > 1e-3
    model.fit_normaliser(scaled(SPEC, 50, seed=3))
    flipped = SignedPermutation.random(SPEC, 6, torch.Generator().manual_seed(1), flip_prob=0.5).apply(wb)
    assert (model(flipped) - model(wb)).abs().max() > 1e-3  # dwsnet does not claim the signs


def test_signgmn_refuses_relu_networks():
    with pytest.raises(SpecMismatchError, match="no symmetry of relu networks"):
        build_model("signgmn", NetworkSpec(activation="relu"))


def permute_blocks(blocks, labels, perms):
    """Act on each block's axes with the permutation of its neuron layer (label k = hidden layer k - 1)."""
    out = []
    for x, block_labels in zip(blocks, labels):
        for axis, k in enumerate(block_labels, start=1):
            index = perms[k - 1].view(-1, *[1] * (axis - 1), perms[k - 1].shape[1], *[1] * (x.dim() - axis - 1))
            x = x.gather(axis, index.expand_as(x))
        out.append(x)
    return out


@pytest.mark.parametrize(("reduction", "set_heads"), [("mean", 0), ("max", 0), ("max", 2)])
def test_equivariant_layer_commutes_with_permutations(reduction, set_heads):
    torch.manual_seed(0)
    labels, folds = block_layout(DEEP, permute_io=False)
    layer = EquivariantLinear(labels, folds, [4 * f for f in folds], reduction, set_heads)
    wb = scaled(DEEP, 3)
    action = SignedPermutation.random(DEEP, 3, torch.Generator().manual_seed(2))
    after = layer(to_blocks(action.apply(wb), permute_io=False))
    before = permute_blocks(layer(to_blocks(wb, permute_io=False)), labels, action.perms)
    for a, b in zip(after, before):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("heads", [1, 4])
def test_attention_readout_is_multihead_attention_in_closed_form(heads):
    torch.manual_seed(0)
    attend = torch.nn.MultiheadAttention(16, heads, batch_first=True)
    query, items = torch.randn(1, 1, 16), torch.randn(5, 40, 16, requires_grad=True)
    generic = attend(query.expand(5, 1, 16), items, items, need_weights=False)[0].squeeze(1)
    closed = attention_readout(attend, query, items)
    torch.testing.assert_close(closed, generic, rtol=1e-5, atol=1e-6)
    weights = torch.randn(5, 16)
    grads = [torch.autograd.grad((y * weights).sum(), [items, *attend.parameters()]) for y in (generic, closed)]
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_the_official_dwsnet_preset_is_built_as_the_official_code_builds_it():
    """hidden 16, three equivariant layers whose one-axis terms are 8-head set attention (one head in the last),
    a max pool straight into the linear classifier."""
    model = build_model("dwsnet-official", NetworkSpec())
    assert len(model.layers) == 3 and model.pool.how == "max" and isinstance(model.out, torch.nn.Identity)
    heads = [{m.heads for m in layer.modules() if isinstance(m, SetAttention)} for layer in model.layers]
    assert heads == [{8}, {8}, {1}]
    assert model.head.in_features == sum(16 * f for f in block_layout(NetworkSpec(), False)[1])


def test_set_attention_follows_the_order_of_its_items_and_refuses_uneven_heads():
    torch.manual_seed(0)
    block, x, order = SetAttention(6, 8, 4), torch.randn(3, 9, 6), torch.randperm(9)
    torch.testing.assert_close(block(x[:, order]), block(x)[:, order])
    with pytest.raises(ValueError, match="do not split into 3 heads"):
        SetAttention(6, 8, 3)


@pytest.mark.parametrize("dims", [[1], [2], [1, 2]])
def test_max_reduction_matches_amax_with_its_gradient(dims):
    x = torch.randn(3, 6, 7, 4, requires_grad=True)
    ours, reference = reduce(x, dims, "max"), x.amax(dim=dims)
    torch.testing.assert_close(ours, reference)
    weights = torch.randn_like(reference)
    torch.testing.assert_close(*(torch.autograd.grad((y * weights).sum(), x)[0] for y in (ours, reference)))


@pytest.mark.parametrize("name", ["mlp", "transformer"])
def test_non_invariant_models_see_permutations(name):
    torch.manual_seed(0)
    model = build_model(name, SPEC, 5, **SMALL[name]).eval()
    wb = scaled(SPEC, 6)
    moved = SignedPermutation.random(SPEC, 6, torch.Generator().manual_seed(1)).apply(wb)
    assert not MODELS[name].symmetries
    assert (model(moved) - model(wb)).abs().max() > 1e-3


@pytest.mark.parametrize("name", list(MODELS))
def test_each_model_fits_a_small_batch(name):
    torch.manual_seed(0)
    model = build_model(name, SPEC, 4, **SMALL[name])
    wb, labels = scaled(SPEC, 64), torch.arange(64) % 4
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(80):
        loss = torch.nn.functional.cross_entropy(model(wb), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
    assert model.embed(wb).shape == (64, model.embed_dim)


@pytest.mark.parametrize("name", list(MODELS))
def test_every_parameter_of_every_model_gets_a_gradient(name):
    """No parameter sits unused (DDP's static graph and the optimizer's state assume none does)."""
    model = build_model(name, SPEC, 4, **SMALL[name])
    model(scaled(SPEC, 8)).square().sum().backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []


def test_np_mode_sees_the_order_of_input_coordinates():
    """NP layers alone are blind to swapping x and y; the IO encoding makes the model see it (this can fail)."""
    torch.manual_seed(0)
    model = build_model("nfn", SPEC, 5, mode="np", **SMALL["nfn"]).eval()
    wb = scaled(SPEC, 6)
    swapped = WeightBatch(SPEC, [wb.weights[0].flip(2), *wb.weights[1:]], wb.biases)
    assert (model(swapped) - model(wb)).abs().max() > 1e-3
    model.io_encoding = None
    torch.testing.assert_close(model(swapped), model(wb), rtol=1e-4, atol=1e-5)


def test_wrong_spec_and_unknown_model():
    model = build_model("dwsnet", SPEC, 3, **SMALL["dwsnet"])
    with pytest.raises(
        SpecMismatchError, match=r"built for INRs of spec .*hidden=\(12, 10\).*got a batch of spec .*hidden=\(6, 7, 5\)"
    ):
        model(scaled(DEEP, 2))
    with pytest.raises(UnknownModelError, match="choose from"):
        build_model("dws", SPEC)


def test_normaliser():
    wb = random_batch(SPEC, 200)
    norm = WeightNormalizer.fit(wb, per="position")
    flat = norm(wb).flatten()
    torch.testing.assert_close(flat.mean(0), torch.zeros(SPEC.n_params), atol=1e-4, rtol=0)
    torch.testing.assert_close(flat.std(0), torch.ones(SPEC.n_params), atol=1e-3, rtol=0)
    restored = WeightNormalizer(SPEC)
    restored.load_state_dict(norm.state_dict())
    assert norm(wb).equal(restored(wb))
    with pytest.raises(SpecMismatchError):
        norm(random_batch(DEEP, 2))
    with pytest.raises(ValueError, match="must be one of neuron, position, layer"):
        WeightNormalizer.fit(wb, per="channel")


@pytest.mark.parametrize("per", ["neuron", "layer"])
@pytest.mark.parametrize("signs", [False, True])
def test_symmetric_normalisers_commute_with_the_symmetries(per, signs):
    wb = random_batch(DEEP, 200).map(lambda t: t + 0.1)  # nonzero means, so centring matters
    norm = WeightNormalizer.fit(wb, per=per, signs=signs)
    action = SignedPermutation.random(DEEP, 200, torch.Generator().manual_seed(0), flip_prob=0.5 if signs else 0)
    torch.testing.assert_close(norm(action.apply(wb)).flatten(), action.apply(norm(wb)).flatten())
    out = norm(wb)
    for k, t in enumerate(out.tensors()):  # pooled statistics: each tensor is standardised as a whole
        assert abs(float(t.square().mean()) - 1) < 0.05, k
    if per == "neuron":  # the first layer keeps a statistic per input coordinate, the last one per output
        first = norm.mean[: DEEP.hidden[0] * DEEP.in_dim].view(DEEP.hidden[0], DEEP.in_dim)
        assert (first == first[:1]).all() and (signs or first[0, 0] != first[0, 1])
