import pytest
import torch
from torch import nn

from conftest import random_batch
from weightaug.weights import INRModule, NetworkSpec, SpecMismatchError, WeightBatch

SPECS = [
    NetworkSpec(),
    NetworkSpec(in_dim=3, hidden=(8, 16, 4), out_dim=3, w0=10.0, output_offset=0.5),
    NetworkSpec(hidden=(7,), activation="relu"),
]


def reference_forward(spec: NetworkSpec, sd: dict, x: torch.Tensor) -> torch.Tensor:
    """An independent SIREN written the usual way: nn.Linear layers and torch.sin."""
    layers = [nn.Linear(i, o).double() for o, i in spec.weight_shapes]
    for k, layer in enumerate(layers):
        layer.weight.data.copy_(sd[f"seq.{k}.weight"])
        layer.bias.data.copy_(sd[f"seq.{k}.bias"])
    h = x
    for k, layer in enumerate(layers):
        h = layer(h)
        if k < len(layers) - 1:
            h = torch.sin(spec.w0 * h) if spec.activation == "sine" else torch.relu(h)
    return h + spec.output_offset


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_batched_evaluation_equals_plain_modules(spec):
    wb = random_batch(spec, 5).map(lambda t: t.double())
    x = torch.rand(50, spec.in_dim, dtype=torch.double) * 2 - 1
    out = wb(x)
    assert out.shape == (5, 50, spec.out_dim)
    for i in range(5):
        torch.testing.assert_close(out[i], reference_forward(spec, wb.state_dict(i), x), rtol=1e-10, atol=1e-10)
    per_network_x = x.expand(5, *x.shape)
    torch.testing.assert_close(wb(per_network_x), out)


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_round_trips_are_exact(spec):
    wb = random_batch(spec, 4)
    assert WeightBatch.from_flat(spec, wb.flatten()).equal(wb)
    assert wb.flatten().shape == (4, spec.n_params)
    assert WeightBatch.from_state_dicts(spec, [wb.state_dict(i) for i in range(4)]).equal(wb)
    modules = [wb.to_module(i) for i in range(4)]
    assert WeightBatch.from_modules(modules).equal(wb)
    x = torch.rand(9, spec.in_dim)
    torch.testing.assert_close(modules[2](x), wb[2](x)[0], rtol=0, atol=0)


def test_indexing_concatenation_and_dtype():
    spec = NetworkSpec(hidden=(4, 4))
    wb = random_batch(spec, 6)
    assert len(wb[1]) == 1 and len(wb[-1]) == 1 and len(wb[1:4]) == 3
    assert wb[torch.tensor([5, 0])].equal(WeightBatch.cat([wb[5], wb[0]]))
    assert WeightBatch.cat([wb[:2], wb[2:]]).equal(wb)
    assert wb.to(torch.float64).dtype == torch.float64
    assert wb.zeros(spec, 3).flatten().abs().sum() == 0


def test_spec_mismatches_raise_clear_errors():
    spec = NetworkSpec(hidden=(4,))
    other = NetworkSpec(hidden=(5,))
    wb = random_batch(spec, 2)
    with pytest.raises(SpecMismatchError, match="layer 0"):
        WeightBatch(other, wb.weights, wb.biases)
    with pytest.raises(SpecMismatchError, match=r"\(B, "):
        WeightBatch.from_flat(other, wb.flatten())
    with pytest.raises(SpecMismatchError, match="cannot concatenate"):
        WeightBatch.cat([wb, random_batch(other, 1)])
    with pytest.raises(SpecMismatchError, match="weight shapes"):
        WeightBatch.from_state_dicts(other, [wb.state_dict(0)])
    with pytest.raises(ValueError, match="activation"):
        NetworkSpec(activation="tanh")


def test_module_state_dict_uses_peer_key_names():
    module = INRModule(NetworkSpec(hidden=(3,)))
    assert list(module.state_dict()) == ["seq.0.weight", "seq.0.bias", "seq.1.weight", "seq.1.bias"]
