r"""Newton–Schulz audits: Muon's quintic and the official SoftMuon coupled inverse root (RegNS).

* ``newton_schulz.regns_table``: the official 5-step coupled inverse-root path (SoftMuon's
  ``muon_regularized_update``), run in float64, reproduces the table of Softsign [SS-REGNS] [DER]
  (computed from the official code at commit 77526d8); the exact Φ_τ rows come from the SVD.
* ``newton_schulz.quintic_band``: Jordan's quintic (3.4445, −4.7750, 2.0315), 5 steps, puts the
  singular values of Gaussian gradient-like matrices into the band Muon documents,
  S' ~ Uniform(0.5, 1.5) [EXT: K. Jordan, "Muon: An optimizer for hidden layers in neural
  networks", 2024]; measured here ≈ [0.68, 1.13].
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import torch

from convexlab.geometry import Sign, SoftSign, Spectral
from convexlab.geometry.spectral import NewtonSchulz, RegularizedNewtonSchulz
from convexlab.linalg import audit_spectral_map, matrix_with_spectrum, soft_polar
from convexlab.theory.registry import Check, CheckContext, CheckResult, identity_result, register, upper_result

DT = torch.float64

#: Softsign [SS-REGNS]: output singular values at input indices 0, 16, 32, 48, 63 of a 64×128 matrix
#: with singular values logspace(0, −3, 64); "code" = official RegNS, "exact" = Φ_τ [DER].
REGNS_INDICES = (0, 16, 32, 48, 63)
REGNS_TABLE = {
    1e9: {"code": (1.000, 0.796, 0.174, 0.030, 0.006), "exact": (1.0, 1.0, 1.0, 1.0, 1.0)},
    30.0: {"code": (0.999, 0.790, 0.172, 0.030, 0.006), "exact": (0.999, 0.982, 0.668, 0.154, 0.030)},
    3.0: {"code": (0.949, 0.454, 0.087, 0.015, 0.003), "exact": (0.949, 0.461, 0.089, 0.016, 0.003)},
}
# the table is printed to 3 decimals, so a faithful implementation is within 5e-4 of it
TABLE_TOL = 1e-3


def _official_regns(M: torch.Tensor, tau: float) -> torch.Tensor:
    # the map SoftMuon declares in its transition (its geometry with the official solver), in float64
    return Spectral(SoftSign(tau, "algebraic"), RegularizedNewtonSchulz(dtype=DT)).direction(M)


def _exact(M: torch.Tensor, tau: float) -> torch.Tensor:
    return soft_polar(M, tau, method="svd")


def regns_table(code_map: Callable, exact_map: Callable, ctx: CheckContext) -> CheckResult:
    r"""max |audited singular value − table entry| over the 3 temperatures × 5 indices × 2 rows."""
    gen = ctx.generator(41)
    M = matrix_with_spectrum(torch.logspace(0, -3, 64, dtype=DT), 64, 128, generator=gen)
    worst, rows = 0.0, {}
    for tau, row in REGNS_TABLE.items():
        for name, fn in (("code", code_map), ("exact", exact_map)):
            out = audit_spectral_map(lambda X, fn=fn, tau=tau: fn(X, tau), M).sigma_out[list(REGNS_INDICES)]
            rows[f"{name}@tau={tau:g}"] = [round(v, 4) for v in out.tolist()]
            worst = max(worst, (out - torch.tensor(row[name], dtype=DT)).abs().max().item())
    return identity_result(worst, 0.0, TABLE_TOL, **rows)


def quintic_band(ns: Callable[[torch.Tensor], torch.Tensor], ctx: CheckContext) -> CheckResult:
    r"""max |σ_out − 1| over Gaussian 64×128, 128×64 and 128×256 matrices (float32 and bf16 runs);
    the documented band Uniform(0.5, 1.5) means a bound of 0.5."""
    gen = ctx.generator(42)
    worst, lo, hi = 0.0, float("inf"), 0.0
    reps = ctx.size(2, 8)
    for shape in [(64, 128), (128, 64), (128, 256)]:
        for _ in range(reps):
            M = torch.randn(shape, generator=gen, dtype=torch.float32)
            for dtype in (torch.float32, torch.bfloat16):
                a = audit_spectral_map(lambda X, d=dtype: ns(X, d), M)
                worst = max(worst, a.max_abs_error)
                lo, hi = min(lo, a.band[0]), max(hi, a.band[1])
    return upper_result(worst, 0.5, band_low=lo, band_high=hi)


def _jordan_ns5(X: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    # the map Muon, NorMuon and SoftMuon's Muon phase declare: Spectral(Sign()) with the NS5 solver
    return Spectral(Sign(), NewtonSchulz(steps=5, dtype=dtype)).direction(X)


register(Check(
    "newton_schulz.regns_table", "Softsign (arXiv 2605.31371) [SS-SOFTMUON], [SS-REGNS] (official code 77526d8)", "DER", "identity",
    "official 5-step coupled-NS inverse root (float64) and exact Φ_τ reproduce the [SS-REGNS] singular-value table to 1e-3",
    partial(regns_table, _official_regns, _exact),
))
register(Check(
    "newton_schulz.quintic_band", "Jordan 2024, Muon (NS5 quintic 3.4445, −4.7750, 2.0315) [SFN-NS5]", "EXT", "upper",
    "5 quintic steps map Gaussian-matrix singular values into [0.5, 1.5] (fp32 and bf16): max |σ_out − 1| ≤ 0.5",
    partial(quintic_band, _jordan_ns5),
))
