r"""Algebraic regularizer: conjugate √(1+y²) − 1, update map y/√(1+y²) (scalar soft sign, SoftMuon's φ).

Claim. For V(d) = 1 − √(1 − d²) on [−1, 1]:

* V'(d) = y has the unique solution d = y/√(1 + y²) (sympy.solve also returns the spurious
  branch −y/√(1 + y²) after squaring; it fails V'(d) = y and is discarded), and
  V*(y) = sup_d y d − V(d) = √(1 + y²) − 1;
* ∇V*(y) = y/√(1 + y²) = (V')⁻¹ (both compositions are the identity);
* V''(d) = (1 − d²)^(−3/2) ≥ 1 (1-strongly convex), (V*)''(y) = (1 + y²)^(−3/2) ≤ 1 (1-smooth);
* V(±1) = 1 (one-sided limits) and V'(d) → ±∞ at d → ±1;
* Fenchel–Young equality V(∇V*(y)) + V*(y) = y ∇V*(y);
* √(1+y²) − 1 = y²/2 − y⁴/8 + O(y⁶), y/√(1+y²) = y − y³/2 + O(y⁵), and the τ-limits;
* large y: √(1+y²) − 1 − |y| → −1 as y → ±∞, max(0, |y| − 1) ≤ V*(y) ≤ |y| on ℝ, and
  1 − y/√(1+y²) ≤ 1/(2y²) for y > 0 (the saturation rate of the soft sign);
* temperature form ψ_τ = V/τ: ψ_τ*(m) = V*(τm)/τ, ∇ψ_τ*(m) = τm/√(1 + τ²m²) (SoftMuon's Φ_τ on
  one singular value).

Source. D. Feoktistov et al., *Softsign: Smooth Sign in Your Optimizer For Better Parameter
Heterogeneity Handling*, arXiv 2605.31371; [SS-FAMILY] (row "algebraic"; the
spectral row applies it to singular values, Lewis 1996), [SS-LIMITS] (τ-limits and the bounds
max(0, ‖y‖₁ − n) ≤ Σ(√(1+y_i²) − 1) ≤ ‖y‖₁), [SS-IDCHECKS] items 1–4.
Provenance: Softsign [SS-FAMILY] [DER] (closed forms derived here) and [THR] (the framework statements).

Method. Residuals are proved ≡ 0 by sympy after y = (u² − 1)/(2u), d = (u² − 1)/(u² + 1) (u > 0,
onto ℝ resp. (−1, 1)), under which √(1 + y²) = (u² + 1)/(2u) and √(1 − d²) = 2u/(u² + 1); the
large-y bounds use y = p(p + 2)/(2(p + 1)) (p > 0, onto (0, ∞)) plus evenness. Inequalities are
decided by sympy's sign assumptions on the factored expression; identities are also evaluated at
rational points (30 digits).

Run ``python -m proofs_checks.algebraic_conjugate``.
"""

from __future__ import annotations

import sympy as sp

from proofs_checks import _common
from proofs_checks._common import Claim

D = sp.Symbol("d", real=True)
Y = sp.Symbol("y", real=True)
M = sp.Symbol("m", real=True)
TAU = sp.Symbol("tau", positive=True)
_U = sp.Symbol("u", positive=True)
_P = sp.Symbol("p", positive=True)

V_ALGEBRAIC = 1 - sp.sqrt(1 - D**2)
V_STAR = sp.sqrt(1 + Y**2) - 1
GRAD_V_STAR = Y / sp.sqrt(1 + Y**2)
V_DD = (1 - D**2) ** sp.Rational(-3, 2)
V_STAR_DD = (1 + Y**2) ** sp.Rational(-3, 2)
PSI_STAR = (sp.sqrt(1 + (TAU * M) ** 2) - 1) / TAU
GRAD_PSI_STAR = TAU * M / sp.sqrt(1 + (TAU * M) ** 2)

Y_OF_U = {Y: (_U**2 - 1) / (2 * _U)}
D_OF_U = {D: (_U**2 - 1) / (_U**2 + 1)}
M_OF_U = {M: (_U**2 - 1) / (2 * _U * TAU)}
Y_POSITIVE = {Y: _P * (_P + 2) / (2 * (_P + 1))}
Y_POINTS = [{Y: sp.Rational(k, 7)} for k in (-19, -3, 2, 11, 30)]
Y_POSITIVE_POINTS = [{Y: sp.Rational(k, 7)} for k in (1, 5, 11, 30, 200)]
D_POINTS = [{D: sp.Rational(k, 10)} for k in (-9, -3, 1, 6, 9)]
M_POINTS = [{M: sp.Rational(k, 5), TAU: sp.Rational(t, 3)} for k, t in ((-4, 1), (1, 7), (3, 20))]

_KW = dict(d=D, y=Y, d_subs=D_OF_U, y_subs=Y_OF_U, d_points=D_POINTS, y_points=Y_POINTS)


def conjugate_claims(
    V: sp.Expr = V_ALGEBRAIC,
    V_star: sp.Expr = V_STAR,
    grad_V_star: sp.Expr = GRAD_V_STAR,
    *,
    verbose: bool = False,
) -> list[Claim]:
    r"""Derive V* from V'(d) = y and check value, gradient, inverse both ways, Fenchel–Young."""
    return _common.legendre_claims(V, V_star, grad_V_star, verbose=verbose, **_KW)


def curvature_claims(
    V: sp.Expr = V_ALGEBRAIC,
    V_star: sp.Expr = V_STAR,
    V_dd: sp.Expr = V_DD,
    V_star_dd: sp.Expr = V_STAR_DD,
    mu: sp.Expr = sp.S.One,
    *,
    verbose: bool = False,
) -> list[Claim]:
    r"""V'' = (1 − d²)^(−3/2) ≥ μ = 1 on (−1, 1); (V*)'' = (1 + y²)^(−3/2) ≤ 1/μ on ℝ."""
    return _common.curvature_claims(V, V_star, V_dd, V_star_dd, mu, verbose=verbose, **_KW)


def boundary_claims(
    V: sp.Expr = V_ALGEBRAIC, value: sp.Expr = sp.S.One, *, verbose: bool = False
) -> list[Claim]:
    r"""V(0) = 0, V(±1) = ``value`` (1) as one-sided limits, and V'(d) → ±∞ at d → ±1."""
    dV = sp.diff(V, D)
    slope_r, slope_l = sp.limit(dV, D, 1, "-"), sp.limit(dV, D, -1, "+")
    out = [
        _common.zero_claim("V(0)", "V(0) = 0 = min V", V.subs(D, 0), verbose=verbose),
        _common.zero_claim("boundary_value_right", f"lim_(d→1⁻) V(d) = {value}",
                           sp.limit(V, D, 1, "-") - value, verbose=verbose),
        _common.zero_claim("boundary_value_left", f"lim_(d→−1⁺) V(d) = {value}",
                           sp.limit(V, D, -1, "+") - value, verbose=verbose),
    ]
    out.append(_common.report(verbose, Claim(
        "boundary_slopes", "V'(d) → +∞ as d → 1⁻ and → −∞ as d → −1⁺",
        slope_r is sp.oo and slope_l is -sp.oo, f"limits {slope_r}, {slope_l}")))
    return out


def taylor_claims(
    V_star: sp.Expr = V_STAR,
    grad_V_star: sp.Expr = GRAD_V_STAR,
    V_star_poly: sp.Expr = Y**2 / 2 - Y**4 / 8,
    grad_poly: sp.Expr = Y - Y**3 / 2,
    *,
    verbose: bool = False,
) -> list[Claim]:
    r"""√(1+y²) − 1 = y²/2 − y⁴/8 + O(y⁶), y/√(1+y²) = y − y³/2 + O(y⁵), and the τ-limits."""
    return [
        _common.taylor_claim("taylor_conjugate", V_star, Y, V_star_poly, 6, verbose=verbose),
        _common.taylor_claim("taylor_direction", grad_V_star, Y, grad_poly, 5, verbose=verbose),
        *_common.tau_limit_claims(V_star, grad_V_star, y=Y, verbose=verbose),
    ]


def large_y_claims(
    V_star: sp.Expr = V_STAR,
    grad_V_star: sp.Expr = GRAD_V_STAR,
    offset: sp.Expr = sp.S.One,
    *,
    verbose: bool = False,
) -> list[Claim]:
    r"""V*(y) − |y| → −``offset`` at ±∞; max(0, |y| − offset) ≤ V* ≤ |y|; 1 − ∇V*(y) ≤ 1/(2y²), y > 0.

    The two-sided bounds are proved on y > 0 (substitution ``Y_POSITIVE``) and carried to y < 0
    by the evenness of V* and |y| (proved); at y = 0 all three sides are 0.
    """
    gap = V_star - sp.Abs(Y)
    lim_hi, lim_lo = sp.limit(gap, Y, sp.oo), sp.limit(gap, Y, -sp.oo)
    out = [_common.all_claim("asymptote", f"V*(y) − |y| → −{offset} as y → ±∞", [
        _common.zero_claim(f"limit at +oo is {lim_hi}", "", lim_hi + offset),
        _common.zero_claim(f"limit at -oo is {lim_lo}", "", lim_lo + offset),
    ], verbose=verbose)]
    even = _common.zero_claim("even", "V*(−y) = V*(y)", V_star.subs(Y, -Y) - V_star,
                              subs=Y_OF_U, points=Y_POINTS)
    at_zero = _common.zero_claim("at_0", "V*(0) = 0", V_star.subs(Y, 0))
    pos = dict(subs=Y_POSITIVE, points=Y_POSITIVE_POINTS)
    out.append(_common.all_claim("lower_bound", f"V*(y) ≥ max(0, |y| − {offset}) on ℝ", [
        _common.sign_claim("V*>=0 (y>0)", "", V_star, **pos),
        _common.sign_claim("V*-|y|+offset>=0 (y>0)", "", V_star - sp.Abs(Y) + offset, **pos),
        even, at_zero], verbose=verbose))
    out.append(_common.all_claim("upper_bound", "V*(y) ≤ |y| on ℝ", [
        _common.sign_claim("|y|-V*>=0 (y>0)", "", sp.Abs(Y) - V_star, **pos),
        even, at_zero], verbose=verbose))
    out.append(_common.sign_claim(
        "saturation_rate", "1 − ∇V*(y) ≤ 1/(2y²) for y > 0 (strict)",
        1 / (2 * Y**2) - (1 - grad_V_star), strict=True, verbose=verbose, **pos))
    return out


def temperature_claims(
    V: sp.Expr = V_ALGEBRAIC,
    psi_star: sp.Expr = PSI_STAR,
    grad_psi_star: sp.Expr = GRAD_PSI_STAR,
    V_star: sp.Expr = V_STAR,
    grad_V_star: sp.Expr = GRAD_V_STAR,
    *,
    verbose: bool = False,
) -> list[Claim]:
    r"""ψ_τ = V/τ: ψ_τ*(m) = V*(τm)/τ, ∇ψ_τ*(m) = τm/√(1 + τ²m²), step −τm/√(1 + τ²m²)."""
    return _common.temperature_claims(
        V, V_star, grad_V_star, psi_star, grad_psi_star, d=D, y=Y, m=M, tau=TAU,
        m_subs=M_OF_U, m_points=M_POINTS, verbose=verbose)


def run(verbose: bool = False) -> list[Claim]:
    """All claims of this module, with the correct ingredients."""
    return [
        *conjugate_claims(verbose=verbose),
        *curvature_claims(verbose=verbose),
        *boundary_claims(verbose=verbose),
        *taylor_claims(verbose=verbose),
        *large_y_claims(verbose=verbose),
        *temperature_claims(verbose=verbose),
    ]


if __name__ == "__main__":
    raise SystemExit(_common.main(run))
