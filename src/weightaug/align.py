"""Weight matching: align the hidden neurons of networks ``b`` to networks ``a``, B pairs at once.

The objective is the summed inner product of all weights and biases, ``sum_l <W_a^l, W_b'^l> + <b_a^l, b_b'^l>``,
over networks ``b'`` that compute the same function as ``b`` (hidden neurons permuted, and for sine networks
optionally sign-flipped). As in Git Re-Basin, coordinate descent visits the hidden layers in a random order;
each visit solves one linear assignment per pair, maximising the inner products of the weights and biases that
touch that layer, given the other layers. A pair stops when a whole sweep gains nothing (or after
``max_sweeps``). Similarities are batched matrix products; the assignments of all active pairs are solved by
one call to a compiled batch solver. On the CPU the pairs are matched in groups, one per core, side by side.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import lap
import numpy as np
import torch
from torch import Tensor

from weightaug.symmetry import SignedPermutation, permute_hidden
from weightaug.weights import SpecMismatchError, WeightBatch

_REL_TOL = 1e-10  # a step counts as a gain when it raises the objective by more than this (relative)


@dataclass(frozen=True)
class Alignment:
    """Result of :func:`weight_matching` for B pairs: ``action.apply(b)`` is ``aligned``."""

    action: SignedPermutation
    aligned: WeightBatch
    objective: Tensor  # (B,) final summed inner products
    initial_objective: Tensor  # (B,) before alignment
    sweeps: Tensor  # (B,) sweeps run per pair (the last one gained nothing unless max_sweeps was hit)

    @classmethod
    def cat(cls, parts: Sequence[Alignment]) -> Alignment:
        """The alignments of consecutive groups of pairs as one."""
        return cls(
            action=SignedPermutation.cat([p.action for p in parts]),
            aligned=WeightBatch.cat([p.aligned for p in parts]),
            objective=torch.cat([p.objective for p in parts]),
            initial_objective=torch.cat([p.initial_objective for p in parts]),
            sweeps=torch.cat([p.sweeps for p in parts]),
        )


def inner_products(a: WeightBatch, b: WeightBatch) -> Tensor:
    """``(B,)``: summed inner products of all weights and biases of ``a[i]`` and ``b[i]``."""
    return sum((x * y).flatten(1).sum(1) for x, y in zip(a.tensors(), b.tensors(), strict=True))


def linear_assignment(scores: Tensor) -> Tensor:
    """``(B, n)`` permutations maximising ``sum_i scores[b, i, perm[b, i]]`` for each of B square problems.

    Exact (Jonker-Volgenant); all problems go to one call of lapx's compiled batch solver, on torch's thread count.
    """
    batch, n, _ = scores.shape
    if batch == 0:
        return torch.empty(0, n, dtype=torch.long, device=scores.device)
    cost = -scores.detach().to("cpu", torch.float64).numpy()
    rows, cols = lap.lapjvr_batch(cost, return_cost=False, n_threads=torch.get_num_threads())
    perm = np.empty((batch, n), dtype=np.int64)
    np.put_along_axis(perm, np.stack(rows), np.stack(cols), axis=1)
    return torch.from_numpy(perm).to(scores.device)


def _similarity(a_in: Tensor, a_bias: Tensor, a_out: Tensor, b_in: Tensor, b_bias: Tensor, b_out: Tensor) -> Tensor:
    """``(B, n, n)``: entry (i, j) sums the inner products of the weights and biases touching hidden neuron i
    of a and neuron j of b (the neuron's incoming row and bias, its outgoing column)."""
    scores = torch.baddbmm(a_bias.unsqueeze(2) * b_bias.unsqueeze(1), a_in, b_in.transpose(1, 2))
    return torch.baddbmm(scores, a_out.transpose(1, 2), b_out)


def weight_matching(
    a: WeightBatch,
    b: WeightBatch,
    *,
    signs: bool = False,
    max_sweeps: int = 100,
    generator: torch.Generator | None = None,
    parts: int | None = None,
) -> Alignment:
    """Align each ``b[i]`` to ``a[i]`` by permuting (and with ``signs=True`` sign-flipping) its hidden neurons.

    Computation runs in float64 on a's device; ``aligned`` has b's dtype. The layer order of each sweep is
    drawn from ``generator`` (a fresh one seeded 0 if None), shared by all pairs, so a pair's result does not
    depend on the rest of the batch. On the CPU the pairs are split into ``parts`` groups (default: torch's
    thread count), matched side by side by as many threads of one core each: the work per layer is small, and
    a group per core beats spreading each small operation over all cores. The split does not change the result.
    """
    spec = a.spec
    if b.spec != spec:
        raise SpecMismatchError(f"cannot align spec {b.spec.widths} to spec {spec.widths}")
    if len(a) != len(b):
        raise ValueError(f"weight matching pairs a[i] with b[i]: got {len(a)} and {len(b)} networks")
    if signs and spec.activation != "sine":
        raise SpecMismatchError(
            f"sign-aware matching needs a sine network (sign flips are no symmetry of {spec.activation})"
        )
    if max_sweeps < 1:
        raise ValueError(f"max_sweeps must be >= 1, got {max_sweeps}")
    if parts is not None and parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    a64, b64 = a.to(torch.float64), b.to(a.device, torch.float64)
    parts = min(parts or torch.get_num_threads(), len(a)) if a.device.type == "cpu" else 1
    if parts <= 1:
        alignment = _match(a64, b64, signs, max_sweeps, generator)
    else:
        alignment = _match_in_parts(a64, b64, signs, max_sweeps, generator, parts)
    return replace(alignment, aligned=alignment.aligned.to(b.dtype))


@functools.cache
def _pool(workers: int) -> ThreadPoolExecutor:
    """A pool per size, kept: starting the threads anew cost about a tenth of a batch's matching."""
    return ThreadPoolExecutor(workers, thread_name_prefix="weight-matching")


os.register_at_fork(after_in_child=_pool.cache_clear)  # a forked child has none of the parent's threads


def _match_in_parts(
    a: WeightBatch, b: WeightBatch, signs: bool, max_sweeps: int, generator: torch.Generator, parts: int
) -> Alignment:
    """:func:`_match` on ``parts`` groups of pairs, one thread and one core each."""
    start = generator.get_state()

    def match_group(rows: Tensor) -> tuple[Alignment, torch.Generator]:
        torch.set_num_threads(1)  # one core per group (the caller's setting is restored below)
        order = torch.Generator(generator.device).set_state(start)  # every group draws the same orders
        return _match(a[rows], b[rows], signs, max_sweeps, order), order

    threads = torch.get_num_threads()
    try:
        results = list(_pool(parts).map(match_group, torch.arange(len(a)).tensor_split(parts)))
    finally:
        torch.set_num_threads(threads)
    # The group that swept longest drew the most orders: the generator ends where one unsplit run would.
    generator.set_state(max(results, key=lambda r: int(r[0].sweeps.max()))[1].get_state())
    return Alignment.cat([r[0] for r in results])


def _match(a: WeightBatch, b: WeightBatch, signs: bool, max_sweeps: int, generator: torch.Generator) -> Alignment:
    """Coordinate descent of :func:`weight_matching` on float64 pairs."""
    spec, batch, device, n_hidden = a.spec, len(a), a.device, len(a.spec.hidden)
    w, bias = [t.clone() for t in b.weights], [t.clone() for t in b.biases]  # updated in place
    perms = list(SignedPermutation.identity(spec, batch, device).perms)
    flips = [torch.ones(batch, n, dtype=torch.float64, device=device) for n in spec.hidden] if signs else None
    # A layer is dirty while its assignment problem may have changed since it was last solved: solving a
    # clean one gains nothing, so it is skipped, and a pair is done when all its layers are clean.
    dirty = torch.ones(batch, n_hidden, dtype=torch.bool, device=device)
    sweeps = torch.zeros(batch, dtype=torch.long, device=device)
    for _ in range(max_sweeps):
        if not dirty.any():
            break
        sweeps += dirty.any(1)
        for h in torch.randperm(n_hidden, generator=generator).tolist():
            rows = dirty[:, h].nonzero().squeeze(1)
            if len(rows) == 0:
                continue
            idx = slice(None) if len(rows) == batch else rows  # a slice avoids copies
            ws, bs = [w[h][idx], w[h + 1][idx]], [bias[h][idx]]
            scores = _similarity(a.weights[h][idx], a.biases[h][idx], a.weights[h + 1][idx], ws[0], bs[0], ws[1])
            q = linear_assignment(scores.abs() if signs else scores)
            picked = scores.gather(2, q.unsqueeze(2)).squeeze(2)
            gain = (picked.abs() if signs else picked).sum(1) - scores.diagonal(dim1=1, dim2=2).sum(1)
            better = gain > _REL_TOL * scores.abs().sum((1, 2))
            q = torch.where(better.unsqueeze(1), q, torch.arange(q.shape[1], device=device))
            s = torch.where(better.unsqueeze(1) & (picked < 0), -1.0, 1.0).to(scores.dtype) if signs else None
            permute_hidden(ws, bs, 0, q, s)
            if len(rows) == batch:  # the new tensors replace the old: no copy
                w[h], w[h + 1], bias[h] = ws[0], ws[1], bs[0]
            else:
                w[h][rows], w[h + 1][rows], bias[h][rows] = ws[0], ws[1], bs[0]
            perms[h][idx] = perms[h][idx].gather(1, q)
            if flips is not None:
                flips[h][idx] = s * flips[h][idx].gather(1, q)
            dirty[idx, h] = False
            changed = rows[better]
            for neighbour in (h - 1, h + 1):
                if 0 <= neighbour < n_hidden:
                    dirty[changed, neighbour] = True
    aligned = WeightBatch(spec, tuple(w), tuple(bias))
    return Alignment(
        action=SignedPermutation(tuple(perms), None if flips is None else tuple(flips)),
        aligned=aligned,
        objective=inner_products(a, aligned),
        initial_objective=inner_products(a, b),
        sweeps=sweeps,
    )
