r"""Monte-Carlo checks of the structural stochastic sign (StoSignSGD, arXiv 2604.15416, §1).

Proposition 1 [S/R]: for n ~ U[−1, 1] and G > 0, E[sign(x + G n)] = clip(x/G, −1, 1), so the sign
is unbiased for x/G when |x| ≤ G, with variance 1 − (x/G)²; it saturates (and is biased) where
|x| > G. Derivation by integration: ``proofs_checks.stochastic_sign``.

Each check samples ``geometry.sample`` on a grid r = x/G ∈ [−1.5, 1.5] (31 points, a different
G per point) and compares the sample mean / variance with the formula through z-scores; the
critical value is Bonferroni-corrected over the grid at family-wise level 1e-3.
"""

from __future__ import annotations

from functools import partial

import torch
from scipy.stats import norm

from convexlab.geometry import StochasticSign
from convexlab.theory.registry import Check, CheckContext, CheckResult, effect_result, register, zscore_result

SOURCE = "StoSignSGD (arXiv 2604.15416) Def. 1 / Prop. 1"
DT = torch.float64
FAMILY_ALPHA = 1e-3


def grid(ctx: CheckContext):
    gen = ctx.generator(21)
    r = torch.linspace(-1.5, 1.5, 31, dtype=DT)
    G = 0.5 + 1.5 * torch.rand(31, generator=gen, dtype=DT)
    return r, G, r * G


def _draw(make, ctx: CheckContext):
    r, G, x = grid(ctx)
    n = ctx.size(20_000, 400_000)
    geo = make(G)
    s = geo.sample(x.expand(n, -1).contiguous(), generator=ctx.generator(22)).to(DT)
    return r, s, n


def _z_crit(k: int) -> float:
    return float(norm.isf(FAMILY_ALPHA / (2 * k)))


def expectation(make, ctx: CheckContext) -> CheckResult:
    r"""max_r |mean − clip(r)| / stderr, stderr from the theoretical variance 1 − clip(r)²."""
    r, s, n = _draw(make, ctx)
    target = r.clamp(-1, 1)
    var = 1 - target**2
    se = (var / n).sqrt()
    diff = (s.mean(0) - target).abs()
    # where the variance is 0 the sign is deterministic: any deviation is infinitely significant
    z = torch.where(se > 0, diff / se.clamp_min(1e-300), torch.where(diff > 0, torch.inf, 0.0))
    return zscore_result(z.max().item(), _z_crit(len(r)), samples_per_point=n, max_abs_deviation=diff.max().item())


def variance(make, ctx: CheckContext) -> CheckResult:
    r"""Var[S] = 1 − (x/G)² for |x| < G. Every draw must be ±1 (E[S²] = 1, checked exactly); then the
    sample variance is exactly 1 − m̂², so |v − (1 − r²)| = |m̂ − r|·|m̂ + r| and the variance error
    is significant exactly when the mean error is. The statistic is therefore |m̂ − r|/se with
    se² = (1 − r²)/n, which is normal under the claim at every r. (A delta-method z of v itself is
    not: at r = 0 it is χ²₁/√2-distributed and exceeds the Bonferroni value about 1.7 % of the time.)"""
    r, s, n = _draw(make, ctx)
    inside = r.abs() < 1
    if not bool((s.abs() == 1)[:, inside].all()):
        return zscore_result(float("inf"), _z_crit(int(inside.sum())), reason="a draw was not ±1 (E[S²] ≠ 1)")
    target = 1 - r**2
    m = s.mean(0)
    v = 1 - m**2  # the sample variance (correction 0) of ±1 draws
    z = ((m - r).abs() / (target / n).sqrt())[inside]
    return zscore_result(z.max().item(), _z_crit(int(inside.sum())), samples_per_point=n,
                         max_variance_error=float((v - target).abs()[inside].max()))


def saturation_bias(make, ctx: CheckContext) -> CheckResult:
    r"""Where |x| > G the sign saturates: the smallest |E[S] − x/G| over |r| ≥ 1.2 must be
    confidently positive (it equals |r| − 1 ≥ 0.2 for the paper's operator)."""
    r, s, n = _draw(make, ctx)
    sat = r.abs() >= 1.2 - 1e-12
    bias = (s.mean(0) - r).abs()[sat]
    se = (s.std(0) / n**0.5)[sat]
    i = int(bias.argmin())
    return effect_result(bias[i].item(), se[i].item(), smallest_bias_at_r=r[sat][i].item())


def _register():
    make = StochasticSign
    register(Check("stochastic_sign.expectation", SOURCE, "R", "zscore",
                   "E[sign(x + G n)] = clip(x/G, −1, 1) on x/G ∈ [−1.5, 1.5] (Monte Carlo z-scores)",
                   partial(expectation, make)))
    register(Check("stochastic_sign.variance", SOURCE, "R", "zscore",
                   "Var[sign(x + G n)] = 1 − (x/G)² for |x| < G (Monte Carlo z-scores)",
                   partial(variance, make)))
    register(Check("stochastic_sign.saturation_bias", SOURCE, "R", "counterexample",
                   "|x| > G: the sign saturates and is biased for x/G (bias confidently > 0)",
                   partial(saturation_bias, make)))


_register()
