r"""StoSignSGD's convex rate and its Figure-1 counterexample, on the simulator.

* Theorem 4 (StoSignSGD, arXiv 2604.15416 [P]): for convex f on a box with |g_i| ≤ L_i, Alg. 1
  with η_t = D∞/√(2t) gives E f(x̄_T) − f* ≤ √2·D∞‖L‖₁/√T; with the constant step η = D∞/√T the
  same argument gives D∞‖L‖₁/√T ([R], spec §3.2 arithmetic).
* Figure 1 [P] on f = |x₁ + x₂| + 2|x₁ − x₂| (start, box and horizon [D], spec §4): signSGD keeps
  x₁ + x₂ fixed and stalls at f ≈ 1.5, far above the bound StoSignSGD satisfies.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Callable

import torch
from scipy.stats import norm

from convexlab.optim import GeneralOptimizer, SignConverted, StoSignSGD
from convexlab.problems import TwoDimensionalAbs
from convexlab.sim import simulate
from convexlab.theory.registry import (
    Check,
    CheckContext,
    CheckResult,
    effect_result,
    register,
    upper_result,
    zscore_result,
)

SOURCE = "StoSignSGD (arXiv 2604.15416)"


def theorem4_bound(problem, T: int, anytime: bool = True) -> float:
    """√2·D∞‖L‖₁/√T (anytime step) or D∞‖L‖₁/√T (constant step)."""
    c = math.sqrt(2.0) if anytime else 1.0
    return c * problem.D_inf * float(problem.L.sum()) / math.sqrt(T)


def stosign_anytime(problem, seed: int):
    return lambda ps: StoSignSGD.theory(ps, diameter=problem.D_inf, box=problem.box, seed=seed)


def stosign_constant(problem, T: int, seed: int):
    # η ≡ D∞/√T: the theory form (envelope from |g|, no momentum, box) with a fixed lr
    return lambda ps: StoSignSGD(ps, lr=problem.D_inf / math.sqrt(T), betas=(0.0, 1.0), envelope="gradient",
                                 box=problem.box, seed=seed)


def theorem4(make: Callable, anytime: bool, ctx: CheckContext) -> CheckResult:
    r"""E f(x̄_T) − f* (mean over seeds, 3-stderr rule) against the Theorem-4 bound."""
    problem = TwoDimensionalAbs()
    T, S = ctx.size(10_000, 100_000), ctx.size(16, 64)
    res = simulate(problem, make(problem, T, ctx.seed), T, S)
    mean, se = res.final("avg")
    bound = theorem4_bound(problem, T, anytime)
    out = upper_result(mean, bound, se, T=T, seeds=S, slack_ratio=mean / bound)
    return out.with_series(_curve(res.summary("gap_avg"), "E f(x̄_t) − f*")
                           + ([dict(series="Theorem 4 bound (anytime)", x=t, y=theorem4_bound(problem, t, True))
                               for t in res.steps] if anytime else
                              [dict(series="Theorem 4 bound at T", x=T, y=bound)]),
                           xlabel="t", ylabel="f(x̄_t) − f*", logx=True, logy=True)


def _curve(summary: list[dict], name: str) -> list[dict]:
    """Mean over seeds ± 3 standard errors, as figure rows."""
    return [dict(series=name, x=r["step"], y=r["mean"], lo=r["mean"] - 3 * r["stderr"], hi=r["mean"] + 3 * r["stderr"])
            for r in summary]


def summed_inequality_bound(problem, T: int) -> float:
    r"""(★) with η_t = D∞/√(2t): ‖L‖₁(D∞²/(2η_T) + ½Σ_{t≤T} η_t), summed exactly (not through 2√T)."""
    D, L1 = problem.D_inf, float(problem.L.sum())
    etas = [D / math.sqrt(2 * t) for t in range(1, T + 1)]
    return L1 * (D * D / (2 * etas[-1]) + 0.5 * sum(etas))


def summed_inequality(make: Callable, ctx: CheckContext) -> CheckResult:
    r"""(★): E Σ_{t≤T} ⟨g_t, x_t − x*⟩ ≤ ‖L‖₁(D∞²/(2η_T) + ½Σ η_t) (mean over seeds, 3-stderr rule)."""
    problem = TwoDimensionalAbs()
    T, S = ctx.size(10_000, 100_000), ctx.size(16, 64)
    res = simulate(problem, make(problem, T, ctx.seed), T, S)
    v = res.linear_regret[-1]
    mean, se = float(v.mean()), float(v.std(correction=1) / math.sqrt(S))
    bound = summed_inequality_bound(problem, T)
    out = upper_result(mean, bound, se, T=T, seeds=S, slack_ratio=mean / bound)
    return out.with_series(_curve(res.summary("linear_regret"), "E Σ⟨g_s, x_s − x*⟩")
                           + [dict(series="(★) bound", x=t, y=summed_inequality_bound(problem, t)) for t in res.steps],
                           xlabel="t", ylabel="linear regret", logx=True)


def signsgd_stalls(make: Callable, ctx: CheckContext) -> CheckResult:
    r"""f(x_T) − f* of signSGD minus the Theorem-4 bound at T: confidently > 0."""
    problem = TwoDimensionalAbs()
    T = ctx.size(10_000, 100_000)
    res = simulate(problem, make(problem, T, ctx.seed), T, 4)
    mean, se = res.final("last")
    out = effect_result(mean - theorem4_bound(problem, T), se, f_T=mean, T=T)
    return out.with_series(_curve(res.summary("gap_last"), "signSGD f(x_t) − f*")
                           + [dict(series="Theorem 4 bound (anytime)", x=t, y=theorem4_bound(problem, t)) for t in res.steps],
                           xlabel="t", ylabel="f − f*", logx=True, logy=True)


def signsgd_anytime(problem, T, seed):
    """Alg. 1 with the noise removed (deterministic sign of g, same anytime step, no box): signSGD.
    Without the box every step keeps x₁ + x₂ exactly, so f ≥ |x₁ + x₂| = 1.5 forever."""
    return lambda ps: StoSignSGD.theory(ps, diameter=problem.D_inf, mode="deterministic_sign", seed=seed)


register(Check(
    "stosignsgd.theorem4[anytime]", f"{SOURCE} Theorem 4", "P", "upper",
    "Alg. 1 with η_t = D∞/√(2t) on |x₁+x₂| + 2|x₁−x₂|: E f(x̄_T) − f* ≤ √2·D∞‖L‖₁/√T",
    partial(theorem4, lambda p, T, s: stosign_anytime(p, s), True),
))
register(Check(
    "stosignsgd.theorem4[constant]", f"{SOURCE} Theorem 4, constant step (spec §3.2)", "R", "upper",
    "Alg. 1 with η = D∞/√T: E f(x̄_T) − f* ≤ D∞‖L‖₁/√T",
    partial(theorem4, stosign_constant, False),
))
register(Check(
    "stosignsgd.summed_inequality", f"{SOURCE} (★), App. C (spec §3.2)", "P", "upper",
    "E Σ⟨g_t, x_t − x*⟩ ≤ ‖L‖₁(D∞²/(2η_T) + ½Σ η_t) for η_t = D∞/√(2t)",
    partial(summed_inequality, lambda p, T, s: stosign_anytime(p, s)),
))
register(Check(
    "stosignsgd.figure1_signsgd_stalls", f"{SOURCE} Figure 1 (setup spec §4 [D])", "P", "counterexample",
    "signSGD (Alg. 1 without noise) stays above the Theorem-4 bound (stalls at f = 1.5): f(x_T) − bound > 0",
    partial(signsgd_stalls, signsgd_anytime),
))


# ---------------------------------------------------------------------------------------------
# sign conversion (App. B.3–B.5 [P principle]): E[converted step] = original step where σ ≥ |m|
# ---------------------------------------------------------------------------------------------
def conversion_unbiased(base: str, mode: str, ctx: CheckContext) -> CheckResult:
    r"""After a fixed gradient history (the same in every row, so num and σ are too), the mean over
    rows of the last converted step equals the original optimizer's step num/σ on every coordinate
    with σ ≥ |num|; max |z| against a Bonferroni critical value (family-wise 1e-3)."""
    d, K, S = 32, 6, ctx.size(4000, 40000)
    gen = torch.Generator().manual_seed(ctx.seed + 7)
    grads = [torch.randn(d, generator=gen, dtype=torch.float64) * (1 + 3 * (k == K - 1)) for k in range(K)]
    betas = (0.9, 0.99)
    x = torch.nn.Parameter(torch.zeros(S, d, dtype=torch.float64))
    ref = torch.nn.Parameter(torch.zeros(1, d, dtype=torch.float64))
    conv = SignConverted([x], base=base, mode=mode, lr=1.0, betas=betas, seed=ctx.seed)
    orig = GeneralOptimizer([ref], lr=1.0, betas=betas, base=base, mode="original")
    for k, g in enumerate(grads):
        before, ref_before = x.detach().clone(), ref.detach().clone()
        x.grad, ref.grad = g.expand(S, d).clone(), g.expand(1, d).clone()
        conv.step()
        orig.step()
    step = (x.detach() - before).neg()  # = sign(num + σ n) per row
    target = (ref.detach() - ref_before).neg()[0]  # = num/σ
    inside = target.abs() <= 1.0
    var = (1 - target**2).clamp_min(0)
    diff = (step.mean(0) - target).abs()
    se = (var / S).sqrt()
    z = torch.where(se > 0, diff / se.clamp_min(1e-300), torch.where(diff > 0, torch.inf, 0.0))[inside]
    k = int(inside.sum())
    if k == 0:
        raise ValueError("no coordinate has σ ≥ |num|: the claim has nothing to test on this history")
    return zscore_result(z.max().item(), float(norm.isf(1e-3 / (2 * k))), coordinates_with_sigma_ge_m=k,
                         violation_fraction=conv.param_groups[0]["violation_fraction"])


for _base in ("adamw", "adamax"):
    register(Check(
        f"stosignsgd.sign_conversion_unbiased[{_base}]", f"{SOURCE} App. B.3–B.5 (Algs. 8, 9)", "P", "zscore",
        f"E[sign(num + σ⊙n)] = num/σ (the {_base} step) wherever σ ≥ |num| (Monte Carlo over rows)",
        partial(conversion_unbiased, _base, "stochastic"),
    ))
