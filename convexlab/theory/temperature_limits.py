r"""τ-limits of the soft signs and of their spectral lifts, with explicit error bounds.

Softsign (arXiv 2605.31371) [SS-LIMITS] [THR statement; DER bounds]: τ → ∞ gives the hard sign
(polar factor for matrices) and ψ_τ* → ‖·‖₁ (nuclear norm); τ → 0 gives ∇ψ_τ*(m)/τ → m (SGD with
step lr·τ) and ψ_τ*/τ → ½‖·‖². The quantitative bounds, with y = τm,

* tanh:      |tanh y − sign y| ≤ 2e^{−2|y|},    |tanh y − y| ≤ |y|³/3,
             0 ≤ |y| − ln cosh y ≤ ln 2,         0 ≤ y²/2 − ln cosh y ≤ y⁴/12;
* algebraic: 1 − |φ(y)| ≤ 1/(2y²),              |φ(y) − y| ≤ |y|³/2,   φ(y) = y/√(1+y²),
             0 ≤ |y| − (√(1+y²) − 1) ≤ 1,        0 ≤ y²/2 − (√(1+y²) − 1) ≤ y⁴/8,

are derived in ``proofs_checks.sign_limits`` / ``*_conjugate`` (the ln 2 and 1 sandwich is Softsign
[SS-LIMITS]). Each check reports the largest ratio error / bound over a τ grid 10⁻⁴…10⁴ (≤ 1 passes).
"""

from __future__ import annotations

import math
from functools import partial
from typing import Callable

import torch

from convexlab.geometry import Sign, SoftSign, Spectral
from convexlab.theory.registry import Check, CheckContext, CheckResult, register, upper_result

SOURCE = "Softsign (arXiv 2605.31371) [SS-LIMITS]"
DT = torch.float64
EPS = torch.finfo(DT).eps

# kind → (bound on |∇V*(y) − sign y|, bound on |∇V*(y) − y|, sup(|y| − V*(y)), y⁴ coefficient)
LIMIT_BOUNDS: dict[str, tuple[Callable, Callable, float, float]] = {
    "tanh": (lambda a: 2 * torch.exp(-2 * a), lambda a: a**3 / 3, math.log(2.0), 1 / 12),
    "algebraic": (lambda a: 0.5 / (a * a), lambda a: a**3 / 2, 1.0, 1 / 8),
}


def tau_grid(ctx: CheckContext) -> list[float]:
    k = ctx.size(1, 4)  # points per decade
    return [10.0 ** (e / k) for e in range(-4 * k, 4 * k + 1)]


def _ratio(err: torch.Tensor, bound: torch.Tensor, ref: torch.Tensor) -> float:
    # round-off allowance: a few ulps of the quantities compared (bounds underflow to 0 at large τ)
    return (err / (bound + 16 * EPS * (ref.abs() + 1e-300))).max().item()


def scalar_limits(make: Callable[[float], SoftSign], kind: str, ctx: CheckContext) -> CheckResult:
    r"""max over τ and m of error / bound for the four limits of a scalar soft sign."""
    large, small, c_conj, k4 = LIMIT_BOUNDS[kind]
    gen = ctx.generator(11)
    m = torch.randn(64, 8, generator=gen, dtype=DT)
    m = m.sign() * (0.05 + 3 * m.abs() / m.abs().max())  # |m| ∈ [0.05, 3.05]
    a = m.abs()
    worst = {"sign": 0.0, "sgd": 0.0, "l1": 0.0, "quadratic": 0.0}
    for tau in tau_grid(ctx):
        geo = make(tau)
        d, conj = geo.direction(m), geo.conjugate(m)
        l1, half_sq = a.sum(-1), 0.5 * (m * m).sum(-1)
        worst["sign"] = max(worst["sign"], _ratio((d - m.sign()).abs(), large(tau * a), m.sign()))
        worst["sgd"] = max(worst["sgd"], _ratio((d / tau - m).abs(), small(tau * a) / tau, m))
        worst["l1"] = max(worst["l1"], _ratio((l1 - conj).abs(), torch.full_like(l1, m.shape[-1] * c_conj / tau), l1))
        worst["quadratic"] = max(
            worst["quadratic"], _ratio((half_sq - conj / tau).abs(), k4 * tau**2 * (m**4).sum(-1), half_sq)
        )
    return upper_result(max(worst.values()), 1.0, slack=0.0, **{f"ratio_{k}": v for k, v in worst.items()})


def spectral_limits(make: Callable[[float], Spectral], kind: str, ctx: CheckContext) -> CheckResult:
    r"""Spectral lift: ‖Φ_τ(M) − UVᵀ‖₂ ≤ max_i B_large(τσ_i) and ‖Φ_τ(M)/τ − M‖₂ ≤ max_i B_small(τσ_i)/τ;
    ψ_τ*(M) → nuclear norm with gap ≤ rank·c/τ."""
    large, small, c_conj, _ = LIMIT_BOUNDS[kind]
    gen = ctx.generator(12)
    M = torch.randn(8, 6, 4, generator=gen, dtype=DT)
    U, S, Vh = torch.linalg.svd(M, full_matrices=False)
    polar = U @ Vh
    worst = {"polar": 0.0, "sgd": 0.0, "nuclear": 0.0}
    for tau in tau_grid(ctx):
        geo = make(tau)
        D = geo.direction(M)
        e_pol = torch.linalg.matrix_norm(D - polar, ord=2)
        e_sgd = torch.linalg.matrix_norm(D / tau - M, ord=2)
        nuc = S.sum(-1)
        e_nuc = (nuc - geo.conjugate(M)).abs()
        worst["polar"] = max(worst["polar"], _ratio(e_pol, large(tau * S).max(-1).values, torch.ones_like(e_pol)))
        worst["sgd"] = max(worst["sgd"], _ratio(e_sgd, small(tau * S).max(-1).values / tau, S.max(-1).values))
        worst["nuclear"] = max(worst["nuclear"], _ratio(e_nuc, torch.full_like(nuc, S.shape[-1] * c_conj / tau), nuc))
    return upper_result(max(worst.values()), 1.0, slack=0.0, **{f"ratio_{k}": v for k, v in worst.items()})


for _kind in ("tanh", "algebraic"):
    register(Check(
        f"softsign.tau_limits[{_kind}]", SOURCE, "DER", "upper",
        f"SoftSign(τ, {_kind!r}) → sign and ‖·‖₁ as τ→∞, → τ·identity and ½‖·‖² as τ→0; max error/bound over τ∈[1e-4,1e4]",
        partial(scalar_limits, partial(SoftSign, kind=_kind), _kind),
    ))
    register(Check(
        f"softsign.tau_limits[Spectral({_kind})]", SOURCE + "; [SS-PHI]", "DER", "upper",
        f"Spectral(SoftSign(τ, {_kind!r})) → polar factor / nuclear norm as τ→∞, Φ_τ/τ → M as τ→0; max error/bound",
        partial(spectral_limits, lambda tau, k=_kind: Spectral(SoftSign(tau, k)), _kind),
    ))
