r"""Entropic regularizer: its conjugate is ln cosh and the update map is tanh (SoftSignum).

Claim. For V(d) = ½[(1+d) ln(1+d) + (1−d) ln(1−d)] on (−1, 1) (= ln 2 − H_b((1+d)/2)):

* V'(d) = y has the unique solution d = tanh y, and V*(y) = sup_d y d − V(d) = ln cosh y;
* ∇V* = tanh = (V')⁻¹ (composition in both orders is the identity);
* V''(d) = 1/(1 − d²) ≥ 1 on (−1, 1): V is 1-strongly convex (w.r.t. ℓ₂, hence ℓ∞, per coordinate);
  (V*)''(y) = 1 − tanh² y ≤ 1: V* is 1-smooth;
* V(±1) = ln 2 (one-sided limits; V'(d) → ±∞ there, so the supremum is attained inside);
* Fenchel–Young equality V(tanh y) + ln cosh y = y tanh y;
* ln cosh y = y²/2 − y⁴/12 + O(y⁶) and tanh y = y − y³/3 + O(y⁵), and the τ-limits
  V*(τg)/τ² → g²/2, tanh(τg)/τ → g (τ → 0), V*(τg)/τ → |g|, tanh(τg) → sign g (τ → ∞);
* temperature form ψ_τ = V/τ: ψ_τ*(m) = V*(τm)/τ = ln cosh(τm)/τ, ∇ψ_τ*(m) = tanh(τm), and the
  relaxed step argmin_d m d + V(d)/τ = −tanh(τm) (−0.8336546 at τ = 3, m = 0.4).

Source. D. Feoktistov, T. Belinsky, A. Veprikov, A. Zainullin, A. Beznosikov, *Softsign: Smooth Sign
in Your Optimizer For Better Parameter Heterogeneity Handling*, arXiv 2605.31371; [SS-FW] (relaxed step, Fenchel–Young),
[SS-FAMILY] (table row "entropic", strong-convexity facts), [SS-LIMITS] (τ-limits), [SS-IDCHECKS] items 1–4.
Provenance: Softsign [SS-FAMILY] [THR] for the statements (ln cosh conjugate, tanh step), [DER] for the
closed forms derived here.

Method. Every identity is a residual proved ≡ 0 by sympy after the substitution y = ln u,
d = (u² − 1)/(u² + 1) (u > 0, onto ℝ resp. (−1, 1)), which turns tanh, cosh and the entropy logs
into rational functions and logs of positive factors; inequalities are decided by sympy's sign
assumptions on the factored substituted expression. Each identity is also evaluated at rational
points (30 digits).

Run ``python -m proofs_checks.entropic_conjugate``.
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

V_ENTROPIC = sp.Rational(1, 2) * ((1 + D) * sp.log(1 + D) + (1 - D) * sp.log(1 - D))
V_STAR = sp.log(sp.cosh(Y))
GRAD_V_STAR = sp.tanh(Y)
V_DD = 1 / (1 - D**2)
V_STAR_DD = 1 - sp.tanh(Y) ** 2
PSI_STAR = sp.log(sp.cosh(TAU * M)) / TAU
GRAD_PSI_STAR = sp.tanh(TAU * M)
# Softsign [SS-IDCHECKS] item 2: argmin_d m d + V(d)/τ at τ = 3, m = 0.4 is −0.8336546.
REFERENCE_STEP = (sp.Integer(3), sp.Rational(2, 5), -0.8336546)

# Rationalising parametrisations (u > 0 covers the whole domain).
Y_OF_U = {Y: sp.log(_U)}
D_OF_U = {D: (_U**2 - 1) / (_U**2 + 1)}
M_OF_U = {M: sp.log(_U) / TAU}
Y_POINTS = [{Y: sp.Rational(k, 7)} for k in (-19, -3, 2, 11, 30)]
D_POINTS = [{D: sp.Rational(k, 10)} for k in (-9, -3, 1, 6, 9)]
M_POINTS = [{M: sp.Rational(k, 5), TAU: sp.Rational(t, 3)} for k, t in ((-4, 1), (1, 7), (3, 20))]

_KW = dict(d=D, y=Y, d_subs=D_OF_U, y_subs=Y_OF_U, d_points=D_POINTS, y_points=Y_POINTS)


def conjugate_claims(
    V: sp.Expr = V_ENTROPIC,
    V_star: sp.Expr = V_STAR,
    grad_V_star: sp.Expr = GRAD_V_STAR,
    *,
    verbose: bool = False,
) -> list[Claim]:
    r"""Derive V* from V'(d) = y (``sympy.solve``) and check value, gradient, inverse, Fenchel–Young."""
    return _common.legendre_claims(V, V_star, grad_V_star, verbose=verbose, **_KW)


def curvature_claims(
    V: sp.Expr = V_ENTROPIC,
    V_star: sp.Expr = V_STAR,
    V_dd: sp.Expr = V_DD,
    V_star_dd: sp.Expr = V_STAR_DD,
    mu: sp.Expr = sp.S.One,
    *,
    verbose: bool = False,
) -> list[Claim]:
    r"""V'' = 1/(1 − d²) ≥ μ = 1 on (−1, 1); (V*)'' = 1 − tanh² ≤ 1/μ on ℝ."""
    return _common.curvature_claims(V, V_star, V_dd, V_star_dd, mu, verbose=verbose, **_KW)


def boundary_claims(
    V: sp.Expr = V_ENTROPIC, value: sp.Expr = sp.log(2), *, verbose: bool = False
) -> list[Claim]:
    r"""V(0) = 0, V(1⁻) = V(−1⁺) = ``value`` (ln 2) and V'(d) → ±∞ at d → ±1 (interior maximiser)."""
    dV = sp.diff(V, D)
    right, left = sp.limit(V, D, 1, "-"), sp.limit(V, D, -1, "+")
    slope_r, slope_l = sp.limit(dV, D, 1, "-"), sp.limit(dV, D, -1, "+")
    out = [
        _common.zero_claim("V(0)", "V(0) = 0 = min V", V.subs(D, 0), verbose=verbose),
        _common.zero_claim("boundary_value_right", f"lim_(d→1⁻) V(d) = {value}", right - value,
                           verbose=verbose),
        _common.zero_claim("boundary_value_left", f"lim_(d→−1⁺) V(d) = {value}", left - value,
                           verbose=verbose),
    ]
    ok = slope_r is sp.oo and slope_l is -sp.oo
    out.append(_common.report(verbose, Claim(
        "boundary_slopes", "V'(d) → +∞ as d → 1⁻ and → −∞ as d → −1⁺ (supremum attained inside)",
        ok, f"limits {slope_r}, {slope_l}")))
    return out


def taylor_claims(
    V_star: sp.Expr = V_STAR,
    grad_V_star: sp.Expr = GRAD_V_STAR,
    V_star_poly: sp.Expr = Y**2 / 2 - Y**4 / 12,
    grad_poly: sp.Expr = Y - Y**3 / 3,
    *,
    verbose: bool = False,
) -> list[Claim]:
    r"""ln cosh y = y²/2 − y⁴/12 + O(y⁶), tanh y = y − y³/3 + O(y⁵), and the τ → 0 / τ → ∞ limits."""
    return [
        _common.taylor_claim("taylor_conjugate", V_star, Y, V_star_poly, 6, verbose=verbose),
        _common.taylor_claim("taylor_direction", grad_V_star, Y, grad_poly, 5, verbose=verbose),
        *_common.tau_limit_claims(V_star, grad_V_star, y=Y, verbose=verbose),
    ]


def temperature_claims(
    V: sp.Expr = V_ENTROPIC,
    psi_star: sp.Expr = PSI_STAR,
    grad_psi_star: sp.Expr = GRAD_PSI_STAR,
    V_star: sp.Expr = V_STAR,
    grad_V_star: sp.Expr = GRAD_V_STAR,
    *,
    verbose: bool = False,
) -> list[Claim]:
    r"""ψ_τ = V/τ: ψ_τ*(m) = ln cosh(τm)/τ = V*(τm)/τ, ∇ψ_τ*(m) = tanh(τm), step −tanh(τm)."""
    return _common.temperature_claims(
        V, V_star, grad_V_star, psi_star, grad_psi_star, d=D, y=Y, m=M, tau=TAU,
        m_subs=M_OF_U, m_points=M_POINTS, reference=REFERENCE_STEP, verbose=verbose)


def run(verbose: bool = False) -> list[Claim]:
    """All claims of this module, with the correct ingredients."""
    return [
        *conjugate_claims(verbose=verbose),
        *curvature_claims(verbose=verbose),
        *boundary_claims(verbose=verbose),
        *taylor_claims(verbose=verbose),
        *temperature_claims(verbose=verbose),
    ]


if __name__ == "__main__":
    raise SystemExit(_common.main(run))
