"""Fused element-wise kernels for the hot loops, compiled by torch.compile where a compiler is available.

On two CPU cores a SIREN fitting step is bound by its element-wise work, and ATen's ``sin`` and ``cos``
(about 3 ns an element a thread here) dominate it. :func:`sincos` computes both from one range reduction
with minimax-free Taylor polynomials on [-pi/2, pi/2] (max abs error about 2e-7, float32 level), in one
fused pass when compiled.
"""

from __future__ import annotations

import math
import warnings

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


_compiled = None


def sincos(z: Tensor) -> tuple[Tensor, Tensor]:
    """``(sin z, cos z)`` in one pass; falls back to ATen's sin and cos where compiling fails."""
    global _compiled
    if _compiled is None:
        _compiled = torch.compile(_sincos_poly, dynamic=True)
    if _compiled is not False:
        try:
            return _compiled(z)
        except Exception as e:  # no C++ compiler, unsupported platform, ...
            warnings.warn(f"torch.compile unavailable ({type(e).__name__}); using unfused sin/cos", stacklevel=2)
            _compiled = False
    return torch.sin(z), torch.cos(z)
