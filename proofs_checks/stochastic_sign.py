r"""Stochastic sign with a uniform dither: E[sign(x + G n)] = clip(x/G, −1, 1), n ~ U[−1, 1].

Claim (one coordinate, envelope G > 0, S = sign(x + G n), n uniform on [−1, 1] with density ½):

* P(S = +1) = (1 + x/G)/2 for |x| ≤ G;
* E[S] = x/G for |x| ≤ G, hence E[G·S] = x: an unbiased 1-bit estimator of x after rescaling by G;
* E[S²] = 1 for every x (the tie x + G n = 0 has probability 0), so Var S = 1 − (x/G)² for |x| ≤ G;
* saturation: E[S] = 1 for x > G and −1 for x < −G, so the bias E[S] − x/G = 1 − x/G is < 0 for
  x > G (and > 0 for x < −G): the sign clips automatically;
* in one formula, E[S] = clip(x/G, −1, 1) on ℝ.

Source. D. Yu, R. Pan, Y. Liu, T. Zhang, *StoSignSGD: Unbiased Structural Stochasticity Fixes
SignSGD for Training Large Language Models*, arXiv 2604.15416; [SSG-P1],
Definition 1 [P] and Proposition 1 (unbiasedness).
Provenance: StoSignSGD [SSG-P1] Proposition 1 [S/R] (numbering from a secondary source; the statement is
a reconstruction consistent with the paper's fragments), derived here.

Method. The expectations are ``sympy.integrate`` of the Piecewise sign against the density ½ over
n ∈ [−1, 1] with G > 0 (sympy returns Min/Max forms); the result is split on the cases x < −G,
|x| < G, x > G (and at any further kink, see ``_common.resolve_on_interval``), each case compared
symbolically with the claim, and the endpoints x = ±G checked by substitution. A midpoint-rule
integration in numpy at rational x (G = 3/2) is the second, independent line of evidence.

Run ``python -m proofs_checks.stochastic_sign``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import sympy as sp

from proofs_checks import _common
from proofs_checks._common import Claim

X = sp.Symbol("x", real=True)
G = sp.Symbol("G", positive=True)
N = sp.Symbol("n", real=True)
_P = sp.Symbol("p", positive=True)

# Numeric evidence: envelope value and the midpoint-rule resolution (error ≲ 2/_NUMERIC_CELLS).
_G_NUMERIC = sp.Rational(3, 2)
_NUMERIC_CELLS = 200_000
_NUMERIC_TOL = 1e-4

CLAIMED_PROB = (1 + X / G) / 2
CLAIMED_MEAN = X / G
CLAIMED_VAR = 1 - (X / G) ** 2


def sign_piecewise(z: sp.Expr) -> sp.Piecewise:
    """sign(z) as a Piecewise (sign(0) = 0, as ``torch.sign``)."""
    return sp.Piecewise((1, z > 0), (-1, z < 0), (0, True))


def expectation(f: Callable[[sp.Expr], sp.Expr], x: sp.Expr, noise_scale: sp.Expr) -> sp.Expr:
    r"""E[f(sign(x + s n))] = ∫_{−1}^{1} f(sign(x + s n)) · ½ dn, computed by ``sympy.integrate``."""
    integrand = sp.piecewise_fold(f(sign_piecewise(x + noise_scale * N)) * sp.Rational(1, 2))
    return sp.integrate(integrand, (N, -1, 1))


def expected_sign(x: sp.Expr = X, noise_scale: sp.Expr = G) -> sp.Expr:
    """E[sign(x + s n)] (sympy: ``-Min(1, Max(-1, -x/s))``)."""
    return expectation(lambda s: s, x, noise_scale)


def probability_plus(x: sp.Expr = X, noise_scale: sp.Expr = G) -> sp.Expr:
    """P(sign(x + s n) = +1) = E[1{S = 1}]."""
    return expectation(lambda s: sp.Piecewise((1, sp.Eq(s, 1)), (0, True)), x, noise_scale)


def _numeric_expectation(f: Callable[[np.ndarray], np.ndarray], x0: float, s0: float) -> float:
    n = -1 + (np.arange(_NUMERIC_CELLS) + 0.5) * (2.0 / _NUMERIC_CELLS)
    return float(np.mean(f(np.sign(x0 + s0 * n))))


def _region_points(lo: sp.Expr, hi: sp.Expr) -> list[sp.Expr]:
    subs = {G: _G_NUMERIC}
    return _common.interval_points(sp.sympify(lo).subs(subs), sp.sympify(hi).subs(subs))


def region_claim(
    name: str,
    statement: str,
    value: sp.Expr,
    claimed: sp.Expr,
    lo: sp.Expr,
    hi: sp.Expr,
    *,
    numeric: Callable[[float], float] | None = None,
    endpoints: bool = True,
    verbose: bool = False,
) -> Claim:
    r"""``value ≡ claimed`` for x in [lo, hi]: symbolic on every kink-free piece of (lo, hi), at the
    finite endpoints by substitution, and numerically (``numeric(x0)`` at G = 3/2) inside."""
    parts = []
    for a, b, residual in _common.resolve_on_interval(value - claimed, X, lo, hi):
        parts.append(_common.zero_claim(f"x in ({a}, {b})", "", residual))
    if endpoints:
        for e in (lo, hi):
            if e.is_finite is not False:
                parts.append(_common.zero_claim(f"x = {e}", "", (value - claimed).subs(X, e)))
    if numeric is not None:
        worst = 0.0
        for x0 in _region_points(lo, hi):
            want = float(claimed.subs({X: x0, G: _G_NUMERIC}))
            worst = max(worst, abs(numeric(float(x0)) - want))
        parts.append(Claim("midpoint rule", "", worst < _NUMERIC_TOL,
                           f"max |numeric − claimed| = {worst:.1e} at 3 points, G = {_G_NUMERIC}"))
    return _common.all_claim(name, statement, parts, verbose=verbose)


def proposition_claims(
    noise_scale: sp.Expr = G,
    claimed_prob: sp.Expr = CLAIMED_PROB,
    claimed_mean: sp.Expr = CLAIMED_MEAN,
    claimed_var: sp.Expr = CLAIMED_VAR,
    *,
    verbose: bool = False,
) -> list[Claim]:
    r"""Proposition 1 for S = sign(x + s n) with the noise scale ``s`` (correct: s = G).

    The claims are stated for the envelope G (|x| ≤ G, x > G, ...); the expectations are integrated
    with ``noise_scale``, so feeding e.g. s = G/2 makes the unbiasedness claims fail.
    """
    s_num = float(sp.sympify(noise_scale).subs(G, _G_NUMERIC))
    mean = expected_sign(X, noise_scale)
    prob = probability_plus(X, noise_scale)
    second = expectation(lambda s: s**2, X, noise_scale)
    rescaled = expectation(lambda s: G * s, X, noise_scale)
    g_num = float(_G_NUMERIC)
    num_mean = lambda x0: _numeric_expectation(lambda s: s, x0, s_num)  # noqa: E731
    out = [
        region_claim("probability_plus", "P(S = +1) = (1 + x/G)/2 for |x| ≤ G", prob, claimed_prob,
                     -G, G, numeric=lambda x0: _numeric_expectation(lambda s: s == 1, x0, s_num),
                     verbose=verbose),
        region_claim("unbiased_mean", "E[S] = x/G for |x| ≤ G", mean, claimed_mean, -G, G,
                     numeric=num_mean, verbose=verbose),
        region_claim("rescaled_unbiased", "E[G·S] = x for |x| ≤ G", rescaled, X, -G, G,
                     numeric=lambda x0: g_num * num_mean(x0), verbose=verbose),
        region_claim("second_moment", "E[S²] = 1 for every real x", second, sp.S.One,
                     sp.S.NegativeInfinity, sp.S.Infinity,
                     numeric=lambda x0: _numeric_expectation(lambda s: s**2, x0, s_num),
                     verbose=verbose),
        region_claim("variance", "Var S = E[S²] − E[S]² = 1 − (x/G)² for |x| ≤ G",
                     second - mean**2, claimed_var, -G, G,
                     numeric=lambda x0: _numeric_expectation(lambda s: s**2, x0, s_num)
                     - num_mean(x0) ** 2, verbose=verbose),
        region_claim("saturation_above", "E[S] = 1 for x > G", mean, sp.S.One, G, sp.S.Infinity,
                     numeric=num_mean, verbose=verbose),
        region_claim("saturation_below", "E[S] = −1 for x < −G", mean, sp.S.NegativeOne,
                     sp.S.NegativeInfinity, -G, numeric=num_mean, verbose=verbose),
        region_claim("clip_form", "E[S] = clip(x/G, −1, 1) for every real x", mean,
                     sp.Max(-1, sp.Min(1, X / G)), sp.S.NegativeInfinity, sp.S.Infinity,
                     numeric=None, verbose=verbose),
    ]
    # Bias when saturated: E[S] − x/G is 1 − x/G < 0 on x > G and −1 − x/G > 0 on x < −G.
    parts = []
    for lo, hi, at, sign in ((G, sp.oo, {X: G + _P}, -1), (-sp.oo, -G, {X: -G - _P}, 1)):
        for a, b, bias in _common.resolve_on_interval(mean - X / G, X, lo, hi):
            parts.append(_common.sign_claim(f"{'-' if sign < 0 else ''}bias > 0 on ({a}, {b})",
                                            "", sign * bias, subs=at, strict=True))
    parts.append(region_claim("bias = 1 - x/G on x > G", "", mean - X / G, 1 - X / G, G, sp.oo))
    out.append(_common.all_claim(
        "biased_when_saturated", "E[S] − x/G = 1 − x/G < 0 for x > G (and > 0 for x < −G)",
        parts, verbose=verbose))
    return out


def run(verbose: bool = False) -> list[Claim]:
    """All claims of this module, with the correct ingredients (noise scale = envelope G)."""
    return proposition_claims(verbose=verbose)


if __name__ == "__main__":
    raise SystemExit(_common.main(run))
