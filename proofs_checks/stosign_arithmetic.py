r"""The arithmetic inside the StoSignSGD and SF-NorMuon bounds.

Sources: StoSignSGD (Yu et al., arXiv 2604.15416) — (★) and Theorem 4 step sizes [P statement, R
arithmetic, SSG-T4, SSG-STAR]; the O2NC constants 5 + 2√2, N, D∞, K and the 2/7 + 4/7 + 1/7 split [P
constants, R assembly, StoSignSGD SSG-O2NC]; exponential random scaling (Zhang & Cutkosky) [R]. SF-NorMuon
(Apte et al., arXiv 2605.23061) Lemma 3.2's fixed point [P formula, I derivation, SFN-L32].

Provenance: the constants are from the papers; every derivation here is a reconstruction ([R]
in the StoSignSGD statements, [I] in the SF-NorMuon ones, i.e. [DER] in the check registry;
legend: docs/statements.md#provenance-legend).

Claims:
1. t^{-1/2} ≤ 2(√t − √(t−1)) for t ≥ 1, so Σ_{t≤T} t^{-1/2} ≤ 2√T (telescoping);
2. with η_t = c·D/√t, (★) is at most D‖L‖₁√T·(1/(2c) + c), minimised at c = 1/√2 with value √2;
3. (5 + 2√2)² = 33 + 20√2 and 5 + 2√2 = 2(2 + √2) + 1;
4. the paper's N, D∞, K make the three O2NC terms exactly 4ε/7, ε/7 and 2ε/7 (sum ε);
5. for s_j ~ Exp(1) i.i.d., E(Σ_{j≤N} s_j)² = N² + N (≤ 2N²);
6. E[f(x + sΔ) − f(x)] = E[f′(x + sΔ)·Δ] for s ~ Exp(1) and a cubic f (integration by parts);
7. λρ = 0.1[−α + √(α² + 2ηλ)] solves 2λρ² + 0.4αρ − 0.04η = 0.
"""

from __future__ import annotations

import sympy as sp

from proofs_checks import _common
from proofs_checks._common import Claim

U = sp.Symbol("u", positive=True)
C = sp.Symbol("c", positive=True)
L1, EPS, DELTA, DF = sp.symbols("L1 epsilon delta Delta_f", positive=True)
N_ = sp.Symbol("N", positive=True, integer=True)
S_ = sp.Symbol("s", positive=True)
X, D = sp.symbols("x Delta", real=True)
LAM, ETA = sp.symbols("lambda eta", positive=True)
ALPHA = sp.Symbol("alpha", real=True)


def step_sum_claims(two: sp.Expr = sp.Integer(2), verbose: bool = False) -> list[Claim]:
    """Claims 1–2. ``two`` is the telescoping constant (2 is right)."""
    # 1/√t ≤ two·(√t − √(t−1)) for t ≥ 1. Rationalising substitution: √(t−1) = (w² − 1)/(2w) and
    # √t = (w² + 1)/(2w) for w = 1 + u ≥ 1 (onto t ≥ 1), so √t − √(t−1) = 1/w.
    w = 1 + U
    gap = two / w - 2 * w / (w**2 + 1)
    c1 = _common.sign_claim("inverse_sqrt_telescopes", f"1/√t ≤ {two}(√t − √(t−1)) for t ≥ 1, hence Σ t^(-1/2) ≤ {two}√T",
                            gap, strict=True, points=[{U: sp.Rational(k, 3)} for k in (1, 4, 30)], verbose=verbose)
    h = 1 / (2 * C) + C
    c2 = _common.zero_claim("optimal_anytime_constant", "1/(2c) + c − √2 = (√2c − 1)²/(2c): minimum √2 at c = 1/√2",
                            h - sp.sqrt(2) - (sp.sqrt(2) * C - 1) ** 2 / (2 * C),
                            points=[{C: sp.Rational(k, 7)} for k in (1, 5, 20)], verbose=verbose)
    return [c1, c2]


def o2nc_claims(constant: sp.Expr = 5 + 2 * sp.sqrt(2), verbose: bool = False) -> list[Claim]:
    """Claims 3–4 for the O2NC constant ``constant`` (5 + 2√2 is right)."""
    out = [
        _common.zero_claim("constant_squared", "(5 + 2√2)² = 33 + 20√2", sp.expand(constant**2) - (33 + 20 * sp.sqrt(2)),
                           verbose=verbose),
        _common.zero_claim("constant_split", "5 + 2√2 = 2(2 + √2) + 1", constant - (2 * (2 + sp.sqrt(2)) + 1),
                           verbose=verbose),
    ]
    N0 = 49 * (33 + 20 * sp.sqrt(2)) * L1**2 / (16 * EPS**2)
    D_inf = sp.sqrt(EPS / (14 * DELTA)) / N0
    K0 = 7 * DF / (2 * EPS * D_inf * N0)
    pts = [{L1: sp.Rational(3, 2), EPS: sp.Rational(1, 10), DELTA: sp.Rational(2, 1), DF: sp.Rational(5, 1)}]
    out += [
        _common.zero_claim("noise_term_is_4eps_over_7", "(5+2√2)‖L‖₁/√N = 4ε/7 at N = 49(33+20√2)‖L‖₁²/(16ε²)",
                           sp.radsimp(constant * L1 / sp.sqrt(N0)) - sp.Rational(4, 7) * EPS, points=pts, verbose=verbose),
        _common.zero_claim("spread_term_is_eps_over_7", "2δN²D∞² = ε/7 at D∞ = √(ε/(14δ))/N",
                           2 * DELTA * N0**2 * D_inf**2 - EPS / 7, points=pts, verbose=verbose),
        _common.zero_claim("descent_term_is_2eps_over_7", "Δf/(D∞KN) = 2ε/7 at K = 7Δf/(2εD∞N)",
                           DF / (D_inf * K0 * N0) - 2 * EPS / 7, points=pts, verbose=verbose),
        _common.zero_claim("split_sums_to_one", "2/7 + 4/7 + 1/7 = 1",
                           sp.Rational(2, 7) + sp.Rational(4, 7) + sp.Rational(1, 7) - 1, verbose=verbose),
    ]
    return out


def exponential_claims(rate: sp.Expr = sp.Integer(1), verbose: bool = False) -> list[Claim]:
    """Claims 5–6 for s ~ Exp(rate) (rate 1 is right)."""
    dens = rate * sp.exp(-rate * S_)
    m1 = sp.integrate(S_ * dens, (S_, 0, sp.oo))
    m2 = sp.integrate(S_**2 * dens, (S_, 0, sp.oo))
    second = N_ * m2 + N_ * (N_ - 1) * m1**2  # E(Σ s_j)² for i.i.d. s_j
    a1, a2, a3 = sp.symbols("a1 a2 a3", real=True)
    f = lambda y: a1 * y + a2 * y**2 + a3 * y**3  # noqa: E731
    lhs = sp.integrate((f(X + S_ * D) - f(X)) * dens, (S_, 0, sp.oo))
    rhs = sp.integrate(sp.diff(f(X + S_ * D), X) * D * dens, (S_, 0, sp.oo))
    return [
        _common.zero_claim("exp_sum_second_moment", "E(Σ_{j≤N} s_j)² = N² + N for s_j ~ Exp(1) i.i.d.",
                           sp.expand(second - (N_**2 + N_)), verbose=verbose),
        _common.zero_claim("exp_scaling_identity", "E[f(x + sΔ) − f(x)] = E[f′(x + sΔ)Δ], s ~ Exp(1), f cubic",
                           sp.expand(lhs - rhs), verbose=verbose),
    ]


def lemma32_claims(coefficient: sp.Expr = sp.Rational(1, 10), verbose: bool = False) -> list[Claim]:
    """Claim 7 for the prefactor ``coefficient`` (0.1 = s/2 with s = 0.2 is right)."""
    rho = coefficient * (-ALPHA + sp.sqrt(ALPHA**2 + 2 * ETA * LAM)) / LAM
    resid = 2 * LAM * rho**2 + sp.Rational(2, 5) * ALPHA * rho - sp.Rational(1, 25) * ETA
    return [_common.zero_claim("lemma32_fixed_point", "λρ = 0.1[−α + √(α² + 2ηλ)] solves 2λρ² + 0.4αρ − 0.04η = 0",
                               sp.expand(resid), verbose=verbose)]


def run(verbose: bool = False) -> list[Claim]:
    """All claims with the correct ingredients."""
    return step_sum_claims(verbose=verbose) + o2nc_claims(verbose=verbose) + exponential_claims(verbose=verbose) + \
        lemma32_claims(verbose=verbose)


if __name__ == "__main__":
    raise SystemExit(_common.main(run))
