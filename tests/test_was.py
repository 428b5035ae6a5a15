import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from weightaug.was import ShadowWeights, TransformSpecError, UnknownTransformError, build_image_model, build_transform
from weightaug.was.models import IMAGE_MODELS, SHADOW_LAYERS
from weightaug.was.transforms import DropConnect, KernelFlip, KernelResizedCrop, KernelRotate, KernelTranslate


def model_and_input(name="small_cnn", seed=0):
    torch.manual_seed(seed)
    return build_image_model(name, 10, 3), torch.randn(4, 3, 16, 16)


@pytest.mark.parametrize("name", list(IMAGE_MODELS))
def test_plain_mode_equals_the_original_bit_for_bit(name):
    model, x = model_and_input(name)
    original = copy.deepcopy(model)
    sw = ShadowWeights(model, "paper", layers=SHADOW_LAYERS.get(name))
    if name in SHADOW_LAYERS:  # MobileNetV2 / EfficientNet-Lite: depthwise convs only, as the paper's code
        assert all(model.get_submodule(n).groups > 1 for n in sw.names)
    sw.mode = "plain"
    for training in (True, False):
        sw.train(training)
        original.train(training)
        assert torch.equal(sw(x), original(x))


def test_identity_shadow_equals_the_original_bit_for_bit():
    model, x = model_and_input()
    original = copy.deepcopy(model).eval()
    sw = ShadowWeights(model, "identity").eval()
    assert sw.mode == "shadow" and torch.equal(sw(x), original(x))


def test_gradients_reach_plain_weights_through_the_transform():
    conv = nn.Conv2d(2, 3, 3, padding=1)
    x = torch.randn(2, 2, 5, 5)
    plain = conv.weight.detach().clone()
    sw = ShadowWeights(nn.Sequential(conv), KernelRotate(40.0), seed=3)
    out = sw(x)
    out.square().sum().backward()
    p = next(sw.parametrizations())
    # the same function written out by hand: conv(x, s * T(W)) with the same draw
    w = plain.clone().requires_grad_(True)
    s = torch.ones((), requires_grad=True)
    ref = F.conv2d(x, s * p.transform.apply(w, p.draw), conv.bias, padding=1)
    torch.testing.assert_close(out, ref)
    ref.square().sum().backward()
    torch.testing.assert_close(sw.model.get_submodule("0").parametrizations.weight.original.grad, w.grad)
    torch.testing.assert_close(p.scale.grad, s.grad)
    assert w.grad.abs().sum() > 0


def test_mode_switch_round_trips_and_draws_stay_fixed_in_eval():
    model, x = model_and_input()
    sw = ShadowWeights(model, KernelTranslate(0.3))
    sw.train()
    sw(x)  # draws transforms
    sw.eval()
    shadow = sw(x)
    with sw.mode_as("plain"):
        plain = sw(x)
    assert sw.mode == "shadow" and torch.equal(sw(x), shadow)  # eval keeps the draw
    assert not torch.equal(plain, shadow)
    sw.mode = "plain"
    assert torch.equal(sw(x), plain)
    with pytest.raises(ValueError, match="mode must be"):
        sw.mode = "desire"


def test_resampling_every_k_steps():
    model, x = model_and_input()
    sw = ShadowWeights(model, "noise", layers=nn.Conv2d, every=2).train()
    draws = []
    for _ in range(4):
        sw(x)
        draws.append(next(sw.parametrizations()).draw.clone())
    assert torch.equal(draws[0], draws[1]) and not torch.equal(draws[1], draws[2]) and torch.equal(draws[2], draws[3])


def test_checkpoint_resumes_the_same_shadow_sequence(tmp_path):
    model, x = model_and_input()
    sw = ShadowWeights(model, "paper", seed=7).train()
    sw(x)
    torch.save(sw.state_dict(), tmp_path / "sw.pt")
    expected = [sw(x) for _ in range(3)]
    fresh, _ = model_and_input(seed=1)
    restored = ShadowWeights(fresh, "paper", seed=0).train()
    restored.load_state_dict(torch.load(tmp_path / "sw.pt", weights_only=False))
    for e in expected:
        torch.testing.assert_close(restored(x), e, rtol=0, atol=0)


def test_kernel_transforms_move_kernels_as_images():
    w = torch.zeros(1, 1, 3, 3)
    w[0, 0, 1, 1] = 1.0
    g = torch.Generator().manual_seed(0)
    t = KernelTranslate(0.3)
    seen = set()
    for _ in range(200):
        out = t.apply(w, t.draw(w, g))
        assert out.sum() == 1.0 and out.max() == 1.0  # an integer shift of one pixel at most
        seen.add(tuple(out[0, 0].nonzero()[0].tolist()))
    assert (1, 1) in seen and len(seen) >= 5
    flip = KernelFlip(p=1.0)
    ramp = torch.arange(9.0).view(1, 1, 3, 3)
    torch.testing.assert_close(flip.apply(ramp, flip.draw(ramp, g)), ramp.flip(-1))
    crop = KernelResizedCrop((0.8, 1.0))
    identical = sum(torch.equal(crop.apply(ramp, crop.draw(ramp, g)), ramp) for _ in range(300))
    assert 0.7 < identical / 300 < 0.95  # about 84% identity on 3x3, as the paper's setting
    mask = DropConnect(0.5).draw(torch.ones(1000), g)
    assert 0.4 < (mask == 0).float().mean() < 0.6 and set(mask.unique().tolist()) <= {0.0, 2.0}


def test_bad_input_fails_when_the_wrapper_is_built():
    model, _ = model_and_input()
    with pytest.raises(TransformSpecError, match=r"k x k conv kernels.*parameter '14.weight' has shape \(10, 128\)"):
        ShadowWeights(model, "translate", layers=nn.Linear)
    with pytest.raises(ValueError, match="no layer with a 'weight' matches 'layer9.*'"):
        ShadowWeights(model_and_input()[0], "translate", layers=["layer9.*"])
    with pytest.raises(UnknownTransformError, match="choose from"):
        build_transform("twist")
    ShadowWeights(model_and_input()[0], "noise", layers=nn.Linear)  # baselines act on any parameter


def test_layers_by_name_pattern():
    model, x = model_and_input("resnet18")
    sw = ShadowWeights(model, "paper", layers=["layers.0.conv*", "layers.1.conv1"])
    assert sw.names == ["layers.0.conv1", "layers.0.conv2", "layers.1.conv1"]
    assert sw(x).shape == (4, 10)


@pytest.mark.parametrize("shift", [(1, 0), (0, -1), (1, 1)])
def test_desire_mode_really_cuts_flops_and_keeps_the_shadow_output(shift):
    from weightaug.was.desire import count_flops, fix_shift, freeze_shadow

    model, x = model_and_input("resnet18")
    sw = ShadowWeights(model, "translate").eval()
    fix_shift(sw, *shift)
    dom = freeze_shadow(sw).eval()
    torch.testing.assert_close(dom(x), sw(x), rtol=1e-4, atol=1e-4)
    with sw.mode_as("plain"):
        before = count_flops(sw, x)
    after = count_flops(dom, x)
    n_cut = 1 if 0 in shift else 2  # a column, or a row and a column, of every 3x3 kernel
    assert after < before * (0.9 if n_cut == 1 else 0.8), (before, after)
    assert not any(isinstance(m, type(sw)) for m in dom.modules())


@pytest.mark.filterwarnings("error")  # the frozen copy carries no hook of the wrapper
def test_desire_sweep_chooses_each_flops_level_on_validation_and_recalibrates_the_frozen_model():
    from weightaug.was.batchnorm import recalibrated
    from weightaug.was.desire import chosen_shift, desire_sweep, frozen_at_shift

    model, x = model_and_input()
    sw = ShadowWeights(model, "translate").eval()
    batches = list(x.split(2))
    seen = []

    def evaluate(frozen):  # a stand-in metric that tells the models apart: the mean output
        value = frozen(x).mean().item()
        seen.append(value)
        return {"val_acc": value, "test_acc": -value}

    rows = desire_sweep(sw, x[:1], evaluate, batches)
    assert [(r["dx"], r["dy"]) for r in rows][:2] == [(1, 0), (-1, 0)] and len(rows) == 8
    levels = chosen_shift(rows)
    assert len(levels) == 2 and list(levels) == sorted(levels, reverse=True)  # one column cut; a row and a column
    for level, pick in levels.items():
        same = [r for r in rows if round(r["dom_flops_ratio"], 3) == level]
        assert pick["dom_val_acc"] == max(r["dom_val_acc"] for r in same) and len(same) == 4
    frozen = frozen_at_shift(sw, 0, -1)
    with recalibrated(frozen, batches):
        expected = frozen(x).mean().item()
    assert rows[3]["dom_recal_val_acc"] == pytest.approx(expected)
    assert rows[3]["dom_recal_val_acc"] != pytest.approx(rows[3]["dom_val_acc"])  # the statistics changed


def test_transforms_take_parameters_by_name_like_augmentations():
    from weightaug.registry import RegistryError
    from weightaug.was import build_transform

    assert build_transform("translate:fraction=0.2").fraction == 0.2
    assert build_transform("crop:scale=(0.6,0.8)").scale == (0.6, 0.8)
    with pytest.raises(RegistryError, match=r"crop: parameter scale expects a tuple"):
        build_transform("crop:scale=0.5")
    with pytest.raises(RegistryError, match="unknown weight transform 'twist'"):
        build_transform("twist")


@pytest.mark.parametrize("transform", ["noise", "perturb", "dropconnect", "translate", "crop", "paper"])
def test_stored_draws_follow_the_model_to_another_dtype(transform):
    model, x = model_and_input()
    sw = ShadowWeights(model, transform)
    sw.train()
    sw(x)  # one training forward: every layer holds a float32 draw
    sw.to(torch.bfloat16).eval()
    out = sw(x.to(torch.bfloat16))
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()


def test_a_layer_parametrized_before_is_found_by_type_and_a_second_wrapper_is_refused():
    from torch.nn.utils.parametrizations import weight_norm

    model, x = model_and_input()
    weight_norm(model[0])  # a parametrization of its own on the first conv
    original = copy.deepcopy(model).eval()
    sw = ShadowWeights(model, "noise", layers=["0", "4"]).eval()
    sw(x)
    with sw.mode_as("plain"):
        assert torch.equal(sw(x), original(x))
        torch.testing.assert_close(sw.plain_weight("0"), original[0].weight)
    assert not torch.equal(sw(x), original(x))  # the shadow weights act on the weight-normed layer too
    with pytest.raises(ValueError, match=r"'0.weight' is already trained through shadow weights"):
        ShadowWeights(model, "translate", layers=["0"])


def test_resized_crop_crops_then_resizes():
    kernel = torch.tensor([1.0, 2.0, 3.0]).expand(1, 1, 3, 3)
    crop = KernelResizedCrop()
    out = crop.apply(kernel, crop.box_draw((3, 3), top=0, left=0, height=3, width=2))  # columns 0-1
    torch.testing.assert_close(out[0, 0], torch.tensor([1.0, 1.5, 2.0]).expand(3, 3))
    w = torch.randn(4, 2, 5, 5)
    box = crop.box_draw((5, 5), top=1, left=0, height=3, width=4)
    expected = F.interpolate(w[..., 1:4, 0:4], size=(5, 5), mode="bilinear", align_corners=False)
    torch.testing.assert_close(crop.apply(w, box), expected)


def test_layers_take_one_glob_string():
    model, _ = model_and_input("resnet18")
    assert ShadowWeights(model, "translate", layers="layers.0.conv*").names == ["layers.0.conv1", "layers.0.conv2"]


def test_a_pretrained_model_loads_into_the_plain_weights_and_exports_without_parametrizations():
    pretrained, x = model_and_input("resnet18", seed=1)
    model, _ = model_and_input("resnet18", seed=2)
    sw = ShadowWeights(model, "paper", scale_init="uniform").eval()
    sw.load_plain_state_dict(pretrained.state_dict())
    pretrained.eval()
    with sw.mode_as("plain"):
        assert torch.equal(sw(x), pretrained(x))
    plain = sw.export_plain().eval()
    assert not any(parametrize.is_parametrized(m) for m in plain.modules())
    assert plain.state_dict().keys() == pretrained.state_dict().keys() and torch.equal(plain(x), pretrained(x))
    assert sw.mode == "shadow" and not torch.equal(sw(x), pretrained(x))  # the wrapper itself is untouched
    with pytest.raises(ValueError, match="does not fit the wrapped model: missing"):
        sw.load_plain_state_dict({k: v for k, v in pretrained.state_dict().items() if "layers.0.conv1" not in k})


def test_scale_init_uniform_draws_each_layer_from_the_seed():
    scales = [
        [p.scale.item() for p in ShadowWeights(model_and_input()[0], scale_init="uniform", seed=s).parametrizations()]
        for s in (0, 0, 1)
    ]
    assert scales[0] == scales[1] != scales[2] and all(0 < v < 1 for v in scales[0]) and len(set(scales[0])) == 3
    assert all(p.scale.item() == 1.0 for p in ShadowWeights(model_and_input()[0]).parametrizations())
    with pytest.raises(ValueError, match="scale_init must be one of one, uniform"):
        ShadowWeights(model_and_input()[0], scale_init="normal")


def test_calling_the_wrapped_model_directly_in_training_warns_once():
    import warnings

    model, x = model_and_input()
    sw = ShadowWeights(model).train()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sw(x)  # through the wrapper: no warning
        with sw.fixed_draws():
            sw.model(x)  # meant: no warning
        sw.eval()
        sw.model(x)  # eval mode: draws are fixed anyway
    sw.train()
    with pytest.warns(UserWarning, match="called directly in training mode"):
        sw.model(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sw.model(x)  # once


def test_batchnorm_recalibration_estimates_the_statistics_of_the_weights_evaluated_and_restores_them():
    from weightaug.was.batchnorm import recalibrated, train_mode_batchnorm

    model, _ = model_and_input()
    conv, bn = model[0], model[1]
    batches = list(torch.randn(64, 3, 16, 16).split(16))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()
    with recalibrated(model, batches):
        features = conv(torch.cat(batches)).detach()
        torch.testing.assert_close(bn.running_mean, features.mean(dim=(0, 2, 3)))
        assert not bn.training  # evaluation mode is kept
    with train_mode_batchnorm(model):
        assert bn.training and not model.training
        model(batches[0])
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before) and not bn.training


def test_shadow_training_reports_three_evaluations_and_leaves_the_statistics_alone():
    from weightaug.train import TrainConfig, train
    from weightaug.was.train import was_task

    g = torch.Generator().manual_seed(0)
    images = {k: torch.rand(n, 1, 12, 12, generator=g) for k, n in (("train", 64), ("val", 32), ("test", 32))}
    labels = {k: torch.randint(0, 3, (len(v),), generator=g) for k, v in images.items()}
    task = was_task("small_cnn", "translate", "weak", images, labels, 3)
    result = train(task, TrainConfig(epochs=1, batch_size=16))
    best = result.best
    for key in ("val_acc", "test_acc", "recal_val_acc", "recal_test_acc", "trainbn_test_acc",
                "shadow_val_acc", "shadow_recal_test_acc"):  # fmt: skip
        assert 0 <= best[key] <= 1, key
    buffers = {k: v.clone() for k, v in task.model.state_dict().items() if "running" in k}
    task.model.eval()
    task.evaluate()
    assert all(torch.equal(v, task.model.state_dict()[k]) for k, v in buffers.items())


def test_layers_paper_are_the_public_codes_choices_per_architecture():
    from weightaug.was.train import was_task
    from weightaug.was.transforms import KernelResizedCrop, OneOfTransforms

    images = {k: torch.rand(4, 3, 16, 16) for k in ("train", "val", "test")}
    labels = {k: torch.arange(4) % 2 for k in images}

    def paper(name):
        return was_task(name, "paper", "weak", images, labels, 2, layers="paper").sw

    resnet = paper("resnet18")
    assert len(resnet.names) == 16 and all(n.startswith("layers.") for n in resnet.names)  # not the stem
    vgg = paper("vgg16")
    assert vgg.names == ["3", "10", "17", "20", "27", "30", "34", "37", "40"]  # 9 of 13: not stages 1-4's first
    assert isinstance(vgg.transform, KernelResizedCrop)  # crop only
    googlenet = paper("googlenet")
    assert googlenet.names and all(".b3." in n or ".b5." in n for n in googlenet.names)
    assert isinstance(googlenet.transform, OneOfTransforms) and googlenet.transform.transforms[1].scale == (0.6, 0.8)
    assert all(m.groups > 1 for m in map(paper("mobilenet_v2").model.get_submodule, paper("mobilenet_v2").names))
    default = was_task("resnet18", "paper", "weak", images, labels, 2).sw
    assert "stem.0" in default.names and len(default.names) == 17


def test_paper_choice_is_a_tensor_and_computes_exactly_the_chosen_transform():
    from weightaug.was.transforms import paper_transform

    t, g = paper_transform(), torch.Generator().manual_seed(0)
    for _ in range(20):
        w = torch.randn(8, 4, 3, 3, requires_grad=True)
        k, grid = draw = t.draw(w.detach(), g)
        assert isinstance(k, torch.Tensor)
        out = t.apply(w, draw)
        alone = w.detach().clone().requires_grad_()
        expected = t.transforms[int(k)].apply(alone, grid)
        assert torch.equal(out, expected)
        out.square().sum().backward()
        expected.square().sum().backward()
        assert torch.equal(w.grad, alone.grad)
