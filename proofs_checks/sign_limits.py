r"""Bounds relating the soft conjugates and directions to |y| and sign y (used by numerical checks).

Claim (per coordinate; the n-coordinate forms of [SS-LIMITS] follow by summing over coordinates):

* max(0, |y| − ln 2) ≤ ln cosh y ≤ min(|y|, y²/2) on ℝ;
* max(0, |y| − 1) ≤ √(1 + y²) − 1 ≤ min(|y|, y²/2) on ℝ;
* |tanh y − sign y| ≤ 2 e^(−2|y|) on ℝ (the τ → ∞ rate of SoftSignum towards Signum);
* the stable form ln cosh y = |y| + log1p(e^(−2|y|)) − ln 2 on ℝ.

Source. Softsign (D. Feoktistov et al., arXiv 2605.31371), [SS-LIMITS]
("Bounds for numerical checks": max(0, ‖y‖₁ − n ln 2) ≤ Σ ln cosh y_i ≤ min(‖y‖₁, ½‖y‖₂²), the
algebraic analogue with n in place of n ln 2, and the stable ln cosh), and the τ → ∞ limit of [SS-LIMITS].
Provenance: Softsign [SS-LIMITS] [DER] (elementary bounds derived here; the tanh–sign rate is a derivation
of this package, not quoted from the paper).

Method. Every gap g(y) = (upper − lower) is shown even (symbolically), g(0) ≥ 0, and g ≥ 0 on
y > 0 by a monotonicity chain: either g is decided directly (substitute y = ln(1 + p), resp.
y = p(p + 2)/(2(p + 1)), p > 0, factor, and let sympy's sign assumptions decide), or
g(0⁺) ≥ 0 and g' ≥ 0, or g(+∞) ≥ 0 and g' ≤ 0 (limits by ``sympy.limit``), recursively on g'.
A dense float64 grid on [−25, 25] is supporting evidence.

Run ``python -m proofs_checks.sign_limits``.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import sympy as sp

from proofs_checks import _common
from proofs_checks._common import Claim

Y = sp.Symbol("y", real=True)
_T = sp.Symbol("t", positive=True)
_P = sp.Symbol("p", positive=True)

LOG_COSH = sp.log(sp.cosh(Y))
ALGEBRAIC = sp.sqrt(1 + Y**2) - 1
# Rationalising maps of p > 0 onto t > 0.
ENTROPIC_HALFLINE = {_T: sp.log(1 + _P)}
ALGEBRAIC_HALFLINE = {_T: _P * (_P + 2) / (2 * (_P + 1))}
STABLE_LOG_COSH = sp.Abs(Y) + sp.log(1 + sp.exp(-2 * sp.Abs(Y))) - sp.log(2)

_GRID = np.concatenate([np.linspace(-25.0, 25.0, 20001), np.linspace(-1e-3, 1e-3, 201)])
_GRID_TOL = 1e-12


def halfline_nonnegative(
    expr: sp.Expr, subs: Mapping, depth: int = 2, *, t: sp.Symbol = _T
) -> tuple[bool, str]:
    r"""Prove ``expr(t) ≥ 0`` for t > 0; return ``(proved, reason)``.

    Direct: after ``subs`` (t as a function of p > 0) the factored expression has a sign sympy can
    decide. Otherwise, up to ``depth`` times: g(0⁺) ≥ 0 and g' ≥ 0, or g(+∞) ≥ 0 and g' ≤ 0.
    """
    direct = _common.sign_claim("", "", expr, subs=subs)
    if direct.holds:
        return True, f"direct: {direct.detail.split(' with ')[0]}"
    if depth == 0:
        return False, f"undecided: {direct.detail.split(' with ')[0]}"
    slope = sp.diff(expr, t)
    start = sp.limit(expr, t, 0, "+")
    if start.is_nonnegative:
        ok, why = halfline_nonnegative(slope, subs, depth - 1, t=t)
        if ok:
            return True, f"g(0+) = {start} >= 0 and g' >= 0 [{why}]"
    end = sp.limit(expr, t, sp.oo)
    if end.is_nonnegative:
        ok, why = halfline_nonnegative(-slope, subs, depth - 1, t=t)
        if ok:
            return True, f"g(+oo) = {end} >= 0 and g' <= 0 [{why}]"
    return False, f"no chain found (g(0+) = {start}, g(+oo) = {end}; {direct.detail.split(' with ')[0]})"


def _grid_min(gap: sp.Expr) -> float:
    f = sp.lambdify(Y, gap, modules="numpy")
    values = np.broadcast_to(np.asarray(f(_GRID), dtype=float), _GRID.shape)
    return float(np.min(values))


def nonnegative_on_reals_claim(
    name: str, statement: str, gap: sp.Expr, subs: Mapping, *, verbose: bool = False
) -> Claim:
    r"""``gap(y) ≥ 0`` on ℝ: evenness, value at 0, the half-line chain, and a dense grid."""
    even = _common.symbolic_zero(gap.subs(Y, -Y) - gap)[0]
    at_zero = sp.simplify(gap.subs(Y, 0))
    chain, why = halfline_nonnegative(gap.subs(Y, _T), subs)
    low = _grid_min(gap)
    holds = even and at_zero.is_nonnegative is True and chain and low >= -_GRID_TOL
    detail = (f"even: {even}; gap(0) = {at_zero}; y > 0: {why}; "
              f"grid min on [-25, 25] = {low:.2e}")
    return _common.report(verbose, Claim(name, statement, bool(holds), detail))


def conjugate_bound_claims(
    label: str,
    V_star: sp.Expr,
    offset: sp.Expr,
    subs: Mapping,
    *,
    curvature: sp.Expr = sp.Rational(1, 2),
    verbose: bool = False,
) -> list[Claim]:
    r"""max(0, |y| − offset) ≤ V*(y) ≤ min(|y|, curvature·y²) on ℝ, as four claims."""
    a = sp.Abs(Y)
    return [
        nonnegative_on_reals_claim(f"{label}_nonnegative", f"{V_star} ≥ 0", V_star, subs,
                                   verbose=verbose),
        nonnegative_on_reals_claim(f"{label}_lower_linear", f"{V_star} ≥ |y| − {offset}",
                                   V_star - a + offset, subs, verbose=verbose),
        nonnegative_on_reals_claim(f"{label}_upper_linear", f"{V_star} ≤ |y|", a - V_star, subs,
                                   verbose=verbose),
        nonnegative_on_reals_claim(f"{label}_upper_quadratic", f"{V_star} ≤ {curvature}·y²",
                                   curvature * Y**2 - V_star, subs, verbose=verbose),
    ]


def direction_error_claim(
    grad_V_star: sp.Expr = sp.tanh(Y),
    constant: sp.Expr = sp.Integer(2),
    rate: sp.Expr = sp.Integer(2),
    *,
    verbose: bool = False,
) -> Claim:
    r"""|∇V*(y) − sign y| ≤ constant · e^(−rate·|y|) on ℝ (for tanh: constant = rate = 2)."""
    gap = constant * sp.exp(-rate * sp.Abs(Y)) - sp.Abs(grad_V_star - sp.sign(Y))
    return nonnegative_on_reals_claim(
        "tanh_sign_error", f"|{grad_V_star} − sign y| ≤ {constant}·exp(−{rate}|y|)", gap,
        ENTROPIC_HALFLINE, verbose=verbose)


def stable_form_claim(
    stable: sp.Expr = STABLE_LOG_COSH, V_star: sp.Expr = LOG_COSH, *, verbose: bool = False
) -> Claim:
    r"""ln cosh y = |y| + log1p(e^(−2|y|)) − ln 2 on ℝ: even, equal at 0, identity for y > 0."""
    gap = stable - V_star
    parts = [
        _common.zero_claim("even", "", gap.subs(Y, -Y) - gap),
        _common.zero_claim("y = 0", "", gap.subs(Y, 0)),
        _common.zero_claim("y > 0", "", gap.subs(Y, _T), subs=ENTROPIC_HALFLINE,
                           points=[{_T: sp.Rational(k, 3)} for k in (1, 5, 40)]),
    ]
    return _common.all_claim("stable_log_cosh", f"ln cosh y = {stable}", parts, verbose=verbose)


def run(verbose: bool = False) -> list[Claim]:
    """All claims of this module, with the correct ingredients."""
    return [
        *conjugate_bound_claims("log_cosh", LOG_COSH, sp.log(2), ENTROPIC_HALFLINE,
                                verbose=verbose),
        *conjugate_bound_claims("algebraic", ALGEBRAIC, sp.S.One, ALGEBRAIC_HALFLINE,
                                verbose=verbose),
        direction_error_claim(verbose=verbose),
        stable_form_claim(verbose=verbose),
    ]


if __name__ == "__main__":
    raise SystemExit(_common.main(run))
