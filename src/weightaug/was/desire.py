"""Desire-oriented mode (DOM): freeze a chosen shadow weight into a model that really computes less.

A kernel transform that empties whole kernel rows or columns (an integer translation does, in every layer
at once) leaves convolutions whose zero border can be cut: such a layer becomes a smaller-kernel
convolution with asymmetric padding that computes the same output. FLOPs are counted with
``torch.utils.flop_counter`` on the model as it runs, before and after.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from weightaug.was.batchnorm import recalibrated
from weightaug.was.shadow import ShadowWeights
from weightaug.was.transforms import KernelTranslate, OneOfTransforms, WeightTransform, affine_draw


def shift_draw(dx: int, dy: int, size: tuple[int, int]) -> Tensor:
    """The draw of a whole-pixel translation by (dx, dy) for kernels of ``size`` (see KernelTranslate)."""
    h, w = size
    return affine_draw([[1.0, 0.0], [0.0, 1.0]], [-2.0 * dx / w, -2.0 * dy / h], size)


def _whole_pixel_translate(t: WeightTransform) -> bool:
    return isinstance(t, KernelTranslate) and not t.subpixel


def shiftable(transform: WeightTransform) -> bool:
    """Whether a whole-pixel shift is among the transform's draws (``translate``, or ``paper``'s choice)."""
    if isinstance(transform, OneOfTransforms):
        return any(map(_whole_pixel_translate, transform.transforms))
    return _whole_pixel_translate(transform)


def fix_shift(sw: ShadowWeights, dx: int = 1, dy: int = 0) -> None:
    """Set every wrapped layer's shadow weight to the translation by (dx, dy) pixels (kept until resampled)."""
    for name, p in zip(sw.names, sw.parametrizations()):
        if not shiftable(p.transform):
            raise ValueError(f"a whole-pixel shift needs a translate transform; {name} has {p.transform!r}")
        draw = shift_draw(dx, dy, tuple(sw.plain_weight(name).shape[-2:]))
        if isinstance(p.transform, OneOfTransforms):
            draw = (next(k for k, t in enumerate(p.transform.transforms) if _whole_pixel_translate(t)), draw)
        p.draw = draw


SHIFTS = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1))  # one column, row, or both cut


def frozen_at_shift(sw: ShadowWeights, dx: int, dy: int) -> nn.Module:
    """The desire-oriented model in eval() mode: every kernel shifted by (dx, dy), its emptied border cut. The
    wrapper's own draws are left as they were."""
    saved = [p.draw for p in sw.parametrizations()]
    try:
        fix_shift(sw, dx, dy)
        return freeze_shadow(sw).eval()
    finally:
        for p, draw in zip(sw.parametrizations(), saved):
            p.draw = draw


def desire_metrics(
    sw: ShadowWeights, x: Tensor, evaluate, dx: int = 1, dy: int = 0, calibration: list[Tensor] | None = None
) -> dict[str, float]:
    """Accuracy and FLOPs of the desire-oriented model at the shift (dx, dy), against the plain model;
    ``evaluate(model) -> metrics``, ``x`` one input batch for counting FLOPs. With ``calibration`` batches,
    also after recalibrating the frozen model's BatchNorm on them (``dom_recal_``)."""
    frozen = frozen_at_shift(sw, dx, dy)
    with sw.mode_as("plain"):
        plain_flops = count_flops(sw, x)
    metrics = {f"dom_{k}": v for k, v in evaluate(frozen).items()}
    if calibration is not None:
        with recalibrated(frozen, calibration):
            metrics |= {f"dom_recal_{k}": v for k, v in evaluate(frozen).items()}
    return metrics | {"dom_flops_ratio": count_flops(frozen, x) / plain_flops}


def desire_sweep(
    sw: ShadowWeights, x: Tensor, evaluate, calibration: list[Tensor], shifts=SHIFTS
) -> list[dict[str, float]]:
    """:func:`desire_metrics` with recalibration at each shift: the rows from which a shift is chosen on
    validation, per FLOPs ratio (:func:`chosen_shift`)."""
    return [{"dx": dx, "dy": dy, **desire_metrics(sw, x, evaluate, dx, dy, calibration)} for dx, dy in shifts]


def chosen_shift(rows: list[dict[str, float]], prefix: str = "dom_") -> dict[float, dict[str, float]]:
    """Per FLOPs ratio (rounded to 0.1%), the sweep row with the best ``{prefix}val_acc``."""
    best: dict[float, dict[str, float]] = {}
    for row in rows:
        level = round(row["dom_flops_ratio"], 3)
        if level not in best or row[f"{prefix}val_acc"] > best[level][f"{prefix}val_acc"]:
            best[level] = row
    return dict(sorted(best.items(), reverse=True))


class TrimmedConv2d(nn.Module):
    """A convolution whose kernel lost zero border rows/columns: pad asymmetrically, then convolve unpadded."""

    def __init__(self, conv: nn.Conv2d, weight: Tensor, pad: tuple[int, int, int, int]) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach().clone())
        self.pad, self.stride, self.dilation, self.groups = pad, conv.stride, conv.dilation, conv.groups

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(F.pad(x, self.pad), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def frozen_conv(conv: nn.Conv2d, weight: Tensor) -> TrimmedConv2d:
    """A plain convolution computing ``conv`` with ``weight``, its all-zero border rows and columns cut."""
    if conv.padding_mode != "zeros" or isinstance(conv.padding, str) or conv.dilation != (1, 1):
        raise ValueError(f"freezing supports zero-padded, undilated convolutions; got {conv}")
    kh, kw = weight.shape[-2:]
    rows = weight.abs().sum(dim=(0, 1, 3)).nonzero().flatten().tolist() or [0, kh - 1]
    cols = weight.abs().sum(dim=(0, 1, 2)).nonzero().flatten().tolist() or [0, kw - 1]
    ph, pw = conv.padding
    # output pixel i reads input rows i*s - ph + [0, kh): keeping rows top..bottom moves the window by top
    top, bottom, left, right = rows[0], rows[-1], cols[0], cols[-1]
    pad = (pw - left, pw - (kw - 1 - right), ph - top, ph - (kh - 1 - bottom))
    if min(pad) < 0:  # cutting would need negative padding: keep the full kernel
        top, bottom, left, right, pad = 0, kh - 1, 0, kw - 1, (pw, pw, ph, ph)
    return TrimmedConv2d(conv, weight[..., top : bottom + 1, left : right + 1].clone(), pad)


def freeze_shadow(sw: ShadowWeights) -> nn.Module:
    """A plain copy of ``sw.model`` that computes its current shadow weights, zero kernel borders cut.

    Only convolutions can be frozen this way; their plain weights are not carried over."""
    model = sw.model_copy()
    with sw.mode_as("shadow"), torch.no_grad():
        for name in sw.names:
            module = sw.model.get_submodule(name)
            if not isinstance(module, nn.Conv2d):
                raise ValueError(f"desire-oriented freezing supports Conv2d layers; {name} is {type(module).__name__}")
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, frozen_conv(module, getattr(module, sw.param).detach()))
    return model


def count_flops(model: nn.Module, x: Tensor) -> int:
    """FLOPs of one forward of ``model`` on ``x``, as torch's flop counter sees them."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return counter.get_total_flops()
