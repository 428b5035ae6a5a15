"""The batched INR fitter: thousands of networks, one Adam over the stacked parameters.

Each network's loss is its own mean squared error; the summed loss keeps gradients per network independent
and Adam is element-wise, so fitting B networks together equals B independent fits. The step is written by
hand (forward through :func:`~weightaug.weights.mlp_forward`, analytic backward, in-place Adam) so that the
element-wise work is a handful of passes per layer and no autograd graph is kept. Networks that reach the
target PSNR leave the active set at once, their parameters frozen as they were when they reached it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor

from weightaug.data.occupancy import iou
from weightaug.inr.init import Init, check_init, init_weights
from weightaug.rng import uniform_streams
from weightaug.weights import NetworkSpec, WeightBatch, mlp_forward


class FitDivergedError(RuntimeError):
    """Some INRs produced non-finite values even after refitting with smaller learning rates."""


MAX_LR = 5e-3  # the recipe's rate for 2-32-32-1
_ORDER_STREAM = 0x0DE5  # offsets the seed for the order in which an INR takes its points
LR_BUDGET = 0.16  # lr x (summed fan-in of the hidden-to-hidden layers): see default_lr


def default_lr(spec: NetworkSpec) -> float:
    """The fitting learning rate for SIRENs of ``spec`` when none is given.

    Adam moves every weight by about lr a step, so a hidden layer's pre-activation moves by about lr x fan-in,
    amplified by w0 and compounded layer over layer: past a threshold the fit collapses to a constant (about
    10 dB). Over widths 32-128 and 2-4 hidden layers (benchmarks/bench_fit_lr.py, BENCHMARKS.md) the threshold
    falls as 1 / (width x (hidden layers - 1)); ``min(5e-3, 0.16 / sum of the hidden-to-hidden fan-ins)`` stays
    below it on Fashion-MNIST and digits (0.32 still collapsed some 4-layer digits fits), and keeps 5e-3 for
    the default 2-32-32-1 and any one- or two-layer SIREN up to width 32.
    """
    fan_in = sum(spec.hidden[:-1])
    return MAX_LR if fan_in == 0 else min(MAX_LR, LR_BUDGET / fan_in)


@dataclass(frozen=True)
class FitConfig:
    """How each INR is fitted. ``target_psnr`` (images) and ``target_iou`` (occupancy) stop an INR early once
    reached (None or 0: run all steps);
    ``lr`` None takes :func:`default_lr` of the spec (see :meth:`for_spec`)."""

    steps: Annotated[int, "Maximum Adam steps per INR."] = 500
    lr: Annotated[float | None, "Adam's rate (default: from the architecture, 5e-3 for 32-32 hidden layers)."] = None
    init: Annotated[
        Init,
        "sitzmann: SIREN's. dwsnets: the INRs of DWSNets and the official augmentation code. "
        "zero-bias: SIREN's rule on every layer, zero biases (models learn from these best).",
    ] = "sitzmann"
    target_psnr: Annotated[float | None, "Stop each image INR at this PSNR (0: never)."] = 40.0
    target_iou: Annotated[float | None, "Stop each occupancy INR at this IoU on its points (0: never)."] = 0.97
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    chunk_size: Annotated[
        int,
        "INRs fitted together (CLI default by source and device: inr.build.CHUNK; recorded, as BLAS may round differently).",
    ] = 128
    max_refits: int = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(self.betas))
        object.__setattr__(self, "target_psnr", self.target_psnr or None)
        object.__setattr__(self, "target_iou", self.target_iou or None)
        if self.steps < 1 or (self.lr is not None and self.lr <= 0) or self.chunk_size < 1:
            raise ValueError(
                f"steps, lr and chunk_size must be positive, got {self.steps}, {self.lr}, {self.chunk_size}"
            )
        check_init(self.init)

    def target_for(self, loss: str) -> float:
        """The quality at which an INR stops early under ``loss`` (infinite: never)."""
        target = self.target_psnr if loss == "mse" else self.target_iou
        return float("inf") if target is None else target

    def for_spec(self, spec: NetworkSpec) -> FitConfig:
        """This config with its learning rate filled in for ``spec``."""
        return self if self.lr is not None else replace(self, lr=default_lr(spec))

    def to_dict(self, loss: str = "mse") -> dict:
        """The config as a manifest records it, with the stopping target of ``loss`` only."""
        d = asdict(self)
        d["betas"] = list(self.betas)
        del d["target_iou" if loss == "mse" else "target_psnr"]
        return d


def coordinate_grid(height: int, width: int, device: torch.device | str = "cpu") -> Tensor:
    """``(H*W, 2)`` pixel-centre coordinates in [-1, 1], row-major, columns (x, y): x along the width.

    This is the convention of ``torch.nn.functional.grid_sample``.
    """
    ys = torch.linspace(-1, 1, height, device=device)
    xs = torch.linspace(-1, 1, width, device=device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx.flatten(), gy.flatten()], dim=1)


def image_targets(images: Tensor) -> Tensor:
    """``(B, C, H, W)`` images in [0, 1] -> ``(B, H*W, C)`` targets on :func:`coordinate_grid` order."""
    return images.flatten(2).transpose(1, 2).contiguous()


def psnr_from_mse(mse: Tensor) -> Tensor:
    """PSNR in dB for signals in [0, 1]."""
    return -10.0 * torch.log10(mse)


LOSSES = {
    "mse": "images: mean squared error, quality PSNR (dB)",
    "bce": "occupancy: binary cross-entropy on the output as a logit, quality IoU of output > 0",
}


def loss_and_grads(
    spec: NetworkSpec, params: list[Tensor], coords: Tensor, targets: Tensor, loss: str = "mse"
) -> tuple[Tensor, Tensor, list[Tensor]]:
    """Per-network loss and quality ``(B,)`` (:data:`LOSSES`), and the gradients of the summed loss w.r.t.
    ``params`` (W0, b0, W1, b1, ...); ``coords`` ``(N, in)`` shared or ``(B, N, in)`` per network."""
    weights, biases = params[0::2], params[1::2]
    inputs, slopes, out = mlp_forward(spec, weights, biases, coords, keep=True)
    n = out.shape[1] * out.shape[2]
    if loss == "mse":
        err = out - targets
        value = err.square().mean(dim=(1, 2))
        quality = psnr_from_mse(value)
        g = err.mul_(2.0 / n)  # dL/du of the last layer, u = W a + b
    else:
        value = F.binary_cross_entropy_with_logits(out, targets, reduction="none").mean(dim=(1, 2))
        quality = iou(out, targets)
        g = torch.sigmoid(out).sub_(targets).div_(n)
    grads: list[Tensor] = [torch.empty(0)] * len(params)
    for layer in range(spec.n_layers - 1, -1, -1):
        grads[2 * layer] = torch.bmm(g.transpose(1, 2), inputs[layer])
        grads[2 * layer + 1] = g.sum(dim=1)
        if layer == 0:
            break
        w, slope = weights[layer], slopes[layer - 1]
        g = (g * w).mul_(slope) if w.shape[1] == 1 else torch.bmm(g, w).mul_(slope)  # (B, N, 1) x (B, 1, n): no bmm
    return value, quality, grads


def _adam_step(
    params: list[Tensor], grads: list[Tensor], m: list[Tensor], v: list[Tensor], step: int, config: FitConfig, lr: float
) -> None:
    b1, b2 = config.betas
    step_size = lr / (1 - b1**step)
    root_c2 = math.sqrt(1 - b2**step)
    for p, g, m_, v_ in zip(params, grads, m, v):
        m_.mul_(b1).add_(g, alpha=1 - b1)
        v_.mul_(b2).addcmul_(g, g, value=1 - b2)
        p.addcdiv_(m_, v_.sqrt().div_(root_c2).add_(config.eps), value=-step_size)


def fit_chunk(
    spec: NetworkSpec,
    start: WeightBatch,
    coords: Tensor,
    targets: Tensor,
    config: FitConfig,
    lr: float,
    loss: str = "mse",
    order: Tensor | None = None,
) -> tuple[WeightBatch, Tensor]:
    """Fit the networks ``start`` to ``targets`` ``(B, N, out_dim)`` at ``coords`` (shared ``(N, in)`` or
    ``(B, N, in)``) at once; returns weights and quality (:data:`LOSSES`). With ``order`` ``(B, S, M)``, each
    network's own points in S slices of M, step t takes slice (t - 1) mod S of every network's points
    (stochastic steps; early stopping judges the slice, the returned quality all points).

    A network whose loss is not finite is returned with NaN quality (the caller refits it).
    """
    out = [t.clone() for t in start.tensors()]
    params = [t.clone() for t in out]
    m = [torch.zeros_like(t) for t in params]
    v = [torch.zeros_like(t) for t in params]
    quality_out = torch.full((len(start),), float("nan"), device=start.device)
    active = torch.arange(len(start), device=start.device)
    target = config.target_for(loss)
    per_network = coords.dim() == 3
    for step in range(1, config.steps + 1):
        if order is None:
            value, quality, grads = loss_and_grads(spec, params, coords, targets, loss)
        else:
            at = order[:, (step - 1) % order.shape[1]]
            picked = (coords.gather(1, at[..., None].expand(-1, -1, coords.shape[2])),
                      targets.gather(1, at[..., None].expand(-1, -1, targets.shape[2])))  # fmt: skip
            value, quality, grads = loss_and_grads(spec, params, *picked, loss)
        diverged = ~torch.isfinite(value) | ~torch.isfinite(quality)
        finished = (quality >= target) | diverged
        if finished.any():
            idx = active[finished]
            for o, p in zip(out, params):
                o[idx] = p[finished]
            quality_out[idx] = torch.where(diverged[finished], float("nan"), quality[finished])
            keep = ~finished
            active, targets = active[keep], targets[keep]
            coords = coords[keep] if per_network else coords
            order = order[keep] if order is not None else None
            params, grads, m, v = ([t[keep] for t in ts] for ts in (params, grads, m, v))
            if active.numel() == 0:
                break
        _adam_step(params, grads, m, v, step, config, lr)
    if active.numel():
        for o, p in zip(out, params):
            o[active] = p
        value, quality = loss_and_grads(spec, params, coords, targets, loss)[:2]
        quality_out[active] = torch.where(torch.isfinite(value) & torch.isfinite(quality), quality, float("nan"))
    return WeightBatch(spec, out[0::2], out[1::2]), quality_out


def fit_inrs(
    spec: NetworkSpec,
    targets: Tensor,
    config: FitConfig,
    seed: int,
    object_ids: Tensor,
    view_ids: Tensor,
    coords: Tensor,
    progress: Callable[[int, Tensor], None] | None = None,
    loss: str = "mse",
    points_per_step: int | None = None,
) -> tuple[WeightBatch, Tensor]:
    """Fit one INR per row of ``targets`` ``(B, N, out_dim)`` at ``coords`` (``(N, in)`` shared, or
    ``(B, N, in)``: each INR its own points); row b starts from the init of (seed, object_ids[b], view_ids[b]).
    With ``points_per_step`` (per-INR coordinates only), each step fits that many of an INR's points, going
    through them in an order of its own drawn from the same (seed, object, view): no INR depends on its chunk.
    Works in chunks of ``config.chunk_size``; ``progress(n, quality)`` is called after each. Non-finite fits
    are refitted with half the learning rate, up to ``config.max_refits`` times, then raise
    :class:`FitDivergedError`. Returns the weights and each INR's quality (PSNR for ``mse``, IoU for ``bce``).
    """
    n_points = coords.shape[-2]
    if targets.shape[1:] != (n_points, spec.out_dim) or (coords.dim() == 3 and len(coords) != len(targets)):
        raise ValueError(
            f"targets must be (B, {n_points}, {spec.out_dim}) for these coordinates, got {tuple(targets.shape)}"
        )
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
    if points_per_step is not None and (coords.dim() != 3 or n_points % points_per_step):
        raise ValueError(f"points_per_step needs per-INR coordinates and must divide their {n_points} points")
    device, config = targets.device, config.for_spec(spec)
    results, qualities = [], []
    for lo in range(0, targets.shape[0], config.chunk_size):
        sl = slice(lo, lo + config.chunk_size)
        at = coords[sl] if coords.dim() == 3 else coords
        start = init_weights(spec, config.init, seed, object_ids[sl], view_ids[sl]).to(device)
        order = None
        if points_per_step is not None:
            u = uniform_streams(seed + _ORDER_STREAM, object_ids[sl], view_ids[sl], n_points)
            order = torch.argsort(u, dim=1).view(len(u), -1, points_per_step).to(device)
        weights, quality = fit_chunk(spec, start, at, targets[sl], config, config.lr, loss, order)
        for attempt in range(1, config.max_refits + 1):
            bad = torch.isnan(quality).nonzero().flatten()
            if bad.numel() == 0:
                break
            redo_at = at[bad] if at.dim() == 3 else at
            redo_order = order[bad] if order is not None else None
            redo, redo_quality = fit_chunk(
                spec, start[bad], redo_at, targets[sl][bad], config, config.lr / 2**attempt, loss, redo_order
            )
            flat = weights.flatten()
            flat[bad] = redo.flatten()
            weights, quality = WeightBatch.from_flat(spec, flat), quality.index_put((bad,), redo_quality)
        if torch.isnan(quality).any():
            bad_ids = object_ids[sl][torch.isnan(quality).cpu()].tolist()
            raise FitDivergedError(
                f"{len(bad_ids)} INRs (objects {bad_ids[:10]}) diverged even at lr {config.lr / 2**config.max_refits:g}; "
                "lower --lr or check the data for NaNs"
            )
        results.append(weights)
        qualities.append(quality)
        if progress is not None:
            progress(len(weights), quality)
    return WeightBatch.cat(results), torch.cat(qualities)
