"""Fused element-wise kernels for the hot loops, compiled by torch.compile where a compiler is available.

On two CPU cores a SIREN fitting step is bound by its element-wise work, and ATen's ``sin`` and ``cos``
(about 3 ns an element a thread here) dominate it. :func:`sine_and_slope` computes both from one range
reduction with Taylor polynomials on [-pi/2, pi/2] (max abs error about 2e-7, float32 level), together with
the bias add and the w0 scaling, in one fused pass when compiled.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

_PI_HI = 3.140625  # pi split in two (Cody-Waite) so that k * _PI_HI is exact for |k| < 2**12
_PI_LO = math.pi - _PI_HI


def _sincos_poly(z: Tensor) -> tuple[Tensor, Tensor]:
    k = torch.round(z * (1.0 / math.pi))
    r = (z - k * _PI_HI) - k * _PI_LO
    sign = 1.0 - 2.0 * (k - 2.0 * torch.floor(k * 0.5))
    r2 = r * r
    s = r * (1 + r2 * (-1 / 6 + r2 * (1 / 120 + r2 * (-1 / 5040 + r2 * (1 / 362880 + r2 * (-1 / 39916800))))))
    c = 1 + r2 * (-0.5 + r2 * (1 / 24 + r2 * (-1 / 720 + r2 * (1 / 40320 + r2 * (-1 / 3628800 + r2 / 479001600)))))
    return s * sign, c * sign


def _sine_and_slope(u: Tensor, b: Tensor, w0: float) -> tuple[Tensor, Tensor]:
    sin, cos = _sincos_poly(w0 * (u + b))
    return sin, w0 * cos


_COMPILED: dict = {}
_unfused = False  # inside unfused(): the eager kernels, nothing compiled


@contextmanager
def unfused(enabled: bool = True) -> Iterator[None]:
    """Within the block (when ``enabled``) the kernels run eagerly and nothing is compiled: for work too small to
    repay compiling (about 15 s on a fresh machine, 5 s from the disk cache, on 2 cores)."""
    global _unfused
    before, _unfused = _unfused, _unfused or enabled
    try:
        yield
    finally:
        _unfused = before


def _fused(fn, eager):
    """``fn`` compiled on first use (dynamic shapes), or ``eager`` where compiling is not possible or not
    wanted (:func:`unfused`)."""

    def call(*args):
        if _unfused:
            return eager(*args)
        compiled = _COMPILED.get(fn)
        if compiled is None:
            compiled = _COMPILED[fn] = torch.compile(fn, dynamic=True)
        if compiled is not False:
            try:
                return compiled(*args)
            except Exception as e:  # no C++ compiler, unsupported platform, ...
                warnings.warn(
                    f"torch.compile unavailable ({type(e).__name__}: {e}); using unfused kernels", stacklevel=2
                )
                _COMPILED[fn] = False
        return eager(*args)

    call.__doc__ = fn.__doc__
    return call


def _sine_and_slope_eager(u: Tensor, b: Tensor, w0: float) -> tuple[Tensor, Tensor]:
    z = w0 * (u + b)
    return torch.sin(z), w0 * torch.cos(z)


sine_and_slope = _fused(_sine_and_slope, _sine_and_slope_eager)
"""``(sin(w0 (u + b)), w0 cos(w0 (u + b)))``: a SIREN layer's activation and its derivative, one pass."""


def keep_freed_memory() -> bool:
    """Let glibc keep freed blocks of up to 32 MiB in the heap instead of returning them to the kernel.

    A fitting step allocates and frees a few activation tensors of several MiB; by default glibc serves
    those with fresh mmap pages, and the page faults cost up to a third of the step. This is the same
    process-wide tuning PyTorch's CPU performance guide gets from jemalloc or tcmalloc. The CLI calls it;
    library users may. Returns whether it applied (glibc on Linux only).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc.mallopt(m_mmap_threshold, 32 << 20)) and bool(libc.mallopt(m_trim_threshold, 1 << 30))
    except (OSError, AttributeError):
        return False
