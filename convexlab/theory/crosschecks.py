r"""Cross-checks beyond the papers: an exact PEP worst case and an adversarial instance search.

1. **Subgradient method, exact worst case (PEPit).** For convex M-Lipschitz f (‖g‖₂ ≤ M),
   ‖x₀ − x*‖₂ ≤ R and the constant step γ = R/(M√(N+1)), N steps of x_{k+1} = x_k − γ g_k satisfy

       min_{0≤k≤N} f(x_k) − f* ≤ M R/√(N+1),

   and this is tight (Nesterov 2004 §3.2.3; Drori & Teboulle 2016 for tightness) [EXT]. The
   performance-estimation SDP (Drori & Teboulle 2014; Taylor, Hendrickx & Glineur 2017; solved
   with PEPit 0.5.1 + cvxpy/Clarabel) computes the exact worst case; the check compares it with
   MR/√(N+1) (kind ``tight``). The details place StoSignSGD's Theorem-4 bound
   √2·D∞‖L‖₁/√T (arXiv 2604.15416 [P], [SSG-T4]) on the same class translated to a box:
   the ball {‖x − x*‖₂ ≤ R} fits in x* + [−R, R]^d, so D∞ = 2R; ‖g‖₂ ≤ M gives the
   coordinate bound L_i = M for a general member (‖L‖₁ = dM, the class-wide value), and
   ‖L‖₁ = √d·M only for members whose subgradients spread equally over the coordinates
   (|g_i| ≤ M/√d, e.g. f = (M/√d)‖x − x*‖₁) [R]; T = N + 1 oracle calls.

2. **Adversarial instance search.** Over the compact family
   f(x) = Σ_i a_i|x_i − c_i| + w|Σ_i x_i − s| on [−1, 1]^d with start x₁ and oracle noise
   ``SignFlip(p)`` (:class:`~convexlab.problems.parametric.CoupledAbs`, exact f* and L), maximise
   the ratio E[f(x̄_T) − f*] / (√2·D∞‖L‖₁/√T) for StoSignSGD Alg. 1 (η_t = D∞/√(2t), [SSG-ALG1] [R])
   by random search plus Nelder–Mead refinement with common random numbers (the same seeds for
   every evaluation), then re-evaluate the worst instance on fresh seeds: Theorem 4 holds on it
   unless the ratio's lower 3-stderr limit exceeds 1 (kind ``upper``). The search is [D]; the
   bound is Theorem 4 [P].
"""

from __future__ import annotations

import math
from functools import partial
from typing import Callable

import numpy as np
from scipy.optimize import minimize

from convexlab import _validation as V
from convexlab.problems.parametric import CoupledAbs
from convexlab.sim import simulate
from convexlab.theory.mutants import stosign_alg1
from convexlab.theory.registry import (
    Check,
    CheckContext,
    CheckResult,
    Instance,
    identity_result,
    register,
    upper_result,
)
from convexlab.theory.stosignsgd import judge_feasibility, output_gap, theorem4_bound

SOURCE_STOSIGN = "StoSignSGD (arXiv 2604.15416)"
SOURCE_SUBGRADIENT = ("subgradient method, tight bound MR/√(N+1): Nesterov 2004 §3.2.3; "
                      "Drori & Teboulle 2016 (tightness); PEP via PEPit [EXT-PEP]")

#: Clarabel's default stopping tolerances (tol_gap_rel = tol_feas = 1e-8); the PEP values are
#: O(MR), so a relative tolerance of 1e-6 is 100× the solver accuracy (measured relative
#: duality gaps ≈ 3e-9 for N ≤ 8), while a wrong rate constant or step size moves the value by
#: > 1e-5 relative (a 1% step error already gives ≈ 5e-5).
PEP_REL_TOL = 1e-6


# ---------------------------------------------------------------------------------------------
# 1. PEP worst case of the subgradient method
# ---------------------------------------------------------------------------------------------
def subgradient_pep(M: float, R: float, N: int, gamma: float, solver: str = "CLARABEL") -> tuple[float, float]:
    r"""Exact worst case of min_{0≤k≤N} f(x_k) − f* over convex M-Lipschitz f with ‖x₀ − x*‖ ≤ R
    for N steps x_{k+1} = x_k − γ g_k, g_k ∈ ∂f(x_k) (the performance-estimation SDP).

    Returns:
        (dual, primal): the solver's certified upper bound (dual objective, PEPit's proof) and
        its worst-case example value (primal); they agree to the solver accuracy.

    Raises:
        ValueError: non-positive M, R, γ, or N < 1.
    """
    from PEPit import PEP
    from PEPit.functions import ConvexLipschitzFunction

    for name, v in (("M", M), ("R", R), ("gamma", gamma)):
        V.positive_finite(name, v)
    V.integer("N", N, 1)
    pep = PEP()
    f = pep.declare_function(ConvexLipschitzFunction, M=M)
    xs = f.stationary_point()
    fs = f(xs)
    x = pep.set_initial_point()
    pep.set_initial_condition((x - xs) ** 2 <= R**2)
    g, fx = f.oracle(x)
    for _ in range(N):
        pep.set_performance_metric(fx - fs)  # several metrics: PEPit takes their minimum
        x = x - gamma * g
        g, fx = f.oracle(x)
    pep.set_performance_metric(fx - fs)
    primal = pep.solve(wrapper="cvxpy", solver=solver, return_primal_or_dual="primal", verbose=0)
    if primal is None:
        raise RuntimeError(f"the PEP solve with {solver} returned no value")
    dual = pep.check_feasibility(primal, verbose=0)
    return float(dual), float(primal)


def subgradient_tight_bound(M: float, R: float, N: int) -> float:
    """MR/√(N+1): the tight worst case of min_k f(x_k) − f* at γ = R/(M√(N+1)) [EXT]."""
    return M * R / math.sqrt(N + 1)


def theorem4_on_ball(M: float, R: float, T: int, d: int) -> dict:
    r"""Theorem 4's √2·D∞‖L‖₁/√T on the M-Lipschitz class with ‖x₁ − x*‖₂ ≤ R, translated to the
    box x* + [−R, R]^d (D∞ = 2R): ‖L‖₁ = dM for the class, √d·M at best (equal spread) [R]."""
    D = 2.0 * R
    return {"D_inf": D, "L1_class": d * M, "L1_best": math.sqrt(d) * M,
            "bound_class": math.sqrt(2) * D * d * M / math.sqrt(T),
            "bound_best": math.sqrt(2) * D * math.sqrt(d) * M / math.sqrt(T)}


def pep_subgradient(ctx: CheckContext, step_factor: float = 1.0,
                    claimed: Callable[[float, float, int], float] = subgradient_tight_bound) -> CheckResult:
    r"""PEP worst case of the subgradient method at γ = step_factor·R/(M√(N+1)) against
    ``claimed(M, R, N)`` (default the tight MR/√(N+1)), relative tolerance :data:`PEP_REL_TOL`.

    The details list Theorem 4 on the same class in the box geometry (module docstring) for
    d = 1, 2, 10, with T = N + 1 oracle calls, next to the Euclidean worst case.
    """
    M, R = 2.0, 1.5  # not 1: a constant that forgets M or R would go unnoticed at M = R = 1
    N = ctx.size(6, 10)
    gamma = step_factor * R / (M * math.sqrt(N + 1))
    dual, primal = subgradient_pep(M, R, N, gamma)
    expected = claimed(M, R, N)
    gap = abs(dual - primal) / max(abs(dual), 1e-300)
    if gap > PEP_REL_TOL:
        raise RuntimeError(f"the SDP did not converge: relative duality gap {gap:.2e} > {PEP_REL_TOL:g}")
    geometry = {f"d={d}": theorem4_on_ball(M, R, N + 1, d) for d in (1, 2, 10)}
    return identity_result(dual, expected, PEP_REL_TOL * abs(expected), M=M, R=R, N=N, gamma=gamma,
                           pep_dual=dual, pep_primal=primal, relative_duality_gap=gap, solver="CLARABEL",
                           relative_error=abs(dual - expected) / abs(expected),
                           theorem4_box_translation=geometry,
                           note=("Theorem 4 bounds E f(x̄_T) − f* of StoSignSGD on x* + [−R, R]^d (D∞ = 2R); "
                                 "‖L‖₁ = dM class-wide, √d·M at best; the Euclidean method's tight worst case "
                                 "MR/√(N+1) is dimension-free"))


register(Check(
    "crosscheck.pep_subgradient_tight", SOURCE_SUBGRADIENT, "EXT", "tight",
    "PEP (SDP) worst case of min_k f(x_k) − f* for the subgradient method, γ = R/(M√(N+1)), equals MR/√(N+1)",
    partial(pep_subgradient),
))


# ---------------------------------------------------------------------------------------------
# 2. adversarial instance search for Theorem 4
# ---------------------------------------------------------------------------------------------
_OPTIMIZER_SEED_OFFSET = 500_009


def instance_ratio(theta, d: int, subject: Callable, T: int, seeds: int, seed: int, *,
                   feasibility: dict | None = None) -> tuple[float, float, float]:
    r"""(mean, stderr) of f(x̄_T) − f* over ``seeds`` runs on ``CoupledAbs.from_unit(θ, d)`` with the
    subject ``subject(params, instance)`` (kind ``"stosignsgd"``), and the Theorem-4 bound √2·D∞‖L‖₁/√T. ``seed`` fixes both the oracle
    noise and (shifted) the optimizer's sampling, so equal seeds give common random numbers. The
    gap is that of the subject's output (the last iterate for ``output_point = "last"``);
    ``feasibility`` (a dict), when given, receives the largest box violation and the smallest gap."""
    problem = CoupledAbs.from_unit(np.clip(np.asarray(theta, dtype=np.float64), 0.0, 1.0), d)
    # the optimizer's CPU generator and the oracle's are both torch.Generator().manual_seed(·):
    # equal seeds would make the sampled sign and the oracle's SignFlip draws the same uniforms
    opt_seed = seed + _OPTIMIZER_SEED_OFFSET
    inst = Instance(problem, seed=opt_seed, horizon=T, step="anytime", L=problem.oracle_L)
    res = simulate(problem, lambda ps: subject(ps, inst), T, seeds, record=[T], seed=seed, watch_box=True)
    _, gaps = output_gap(res)
    if feasibility is not None:
        feasibility.update(violation=res.meta["box_violation"], min_gap=float(gaps.min()),
                           scale=problem.D_inf * float(problem.oracle_L.sum()))
    se = float(gaps.std(correction=1) / math.sqrt(seeds)) if seeds > 1 else 0.0
    return float(gaps.mean()), se, theorem4_bound(problem, T)


def adversarial_search(subject: Callable, d: int, T: int, seeds: int, n_random: int, n_local: int,
                       local_evals: int, rng: np.random.Generator, seed: int) -> tuple[np.ndarray, float, int]:
    r"""argmax over θ ∈ [0, 1]^{3d+3} of the mean ratio gap/bound at fixed seeds: ``n_random``
    uniform draws, then Nelder–Mead (box-bounded, ``local_evals`` evaluations each) from the
    ``n_local`` best draws (the draws: half uniform, half arcsine).

    Returns:
        (θ_best, its search ratio, evaluations used).
    """
    k = CoupledAbs.n_params(d)
    best = {"theta": None, "ratio": -math.inf, "evals": 0}

    def ratio(theta) -> float:
        theta = np.clip(theta, 0.0, 1.0)
        mean, _, bound = instance_ratio(theta, d, subject, T, seeds, seed)
        r = mean / bound
        best["evals"] += 1
        if r > best["ratio"]:
            best.update(theta=theta.copy(), ratio=r)
        return r

    # half the draws uniform, half arcsine (Beta(½, ½)): extreme instances (kinks and start on the
    # box faces, noise off or full) are where worst cases of non-smooth methods tend to sit
    draws = np.concatenate([rng.random((n_random - n_random // 2, k)), rng.beta(0.5, 0.5, (n_random // 2, k))])
    scores = np.array([ratio(th) for th in draws])
    for i in np.argsort(-scores)[:n_local]:
        minimize(lambda th: -ratio(th), draws[i], method="Nelder-Mead", bounds=[(0.0, 1.0)] * k,
                 options=dict(maxfev=local_evals, xatol=1e-3, fatol=1e-4))
    return best["theta"], best["ratio"], best["evals"]


def search_sizes(ctx: CheckContext) -> tuple[int, int, int, int, int, int, int]:
    """(d, T, search seeds, random draws, local starts, evaluations per local start, final seeds) [D]."""
    return (2, ctx.size(100, 300), ctx.size(16, 32), ctx.size(96, 512), ctx.size(2, 4), ctx.size(48, 150),
            ctx.size(256, 1024))


def theorem4_adversarial(ctx: CheckContext) -> CheckResult:
    r"""The worst Theorem-4 ratio found by :func:`adversarial_search` for the subject
    (``ctx.subject_or(stosign_alg1)``), re-evaluated on
    fresh seeds: upper_result(E gap, bound, stderr) (fails iff gap − 3·stderr > √2·D∞‖L‖₁/√T), and
    fails when an iterate leaves the box or a run's gap is below −tolerance on the final instance."""
    subject = ctx.subject_or(stosign_alg1)
    d, T, seeds, n_random, n_local, local_evals, final_seeds = search_sizes(ctx)
    rng = np.random.default_rng(ctx.seed * 1_000_003 + 4242)
    search_seed = ctx.seed * 1_000_003 + 17
    theta, search_ratio, evals = adversarial_search(subject, d, T, seeds, n_random, n_local, local_evals, rng,
                                                    search_seed)
    fresh_seed = search_seed + 7_919  # independent of the search's seeds: no selection bias
    feas: dict = {}
    mean, se, bound = instance_ratio(theta, d, subject, T, final_seeds, fresh_seed, feasibility=feas)
    out = upper_result(mean, bound, se, slack_ratio=mean / bound,
                        ratio_ci=((mean - 3 * se) / bound, (mean + 3 * se) / bound),
                        search_ratio=search_ratio, instance=repr(CoupledAbs.from_unit(theta, d)),
                        theta=[round(float(v), 6) for v in theta], d=d, T=T, search_seeds=seeds,
                        final_seeds=final_seeds, evaluations=evals)
    return judge_feasibility(out, feas["violation"], feas["min_gap"], feas["scale"])


register(Check(
    "crosscheck.theorem4_adversarial", f"{SOURCE_STOSIGN} Theorem 4 ([SSG-T4, SSG-PROTO]); search [D]", "P", "upper",
    "worst E f(x̄_T) − f* / (√2·D∞‖L‖₁/√T) of Alg. 1 found by random search + Nelder–Mead over "
    "Σa_i|x_i − c_i| + w|Σx_i − s| on [−1, 1]², start and SignFlip(p) noise; re-evaluated on fresh seeds: ≤ 1, "
    "iterates in the box",
    partial(theorem4_adversarial),
    subject="stosignsgd", default_subject=stosign_alg1,
    step_sensitive=True,
    catches=("frozen", "signsgd", "step_x5", "step_x10", "biased_oracle", "unprojected"),
    blind={"step_x2": "the worst instance found reaches 0.36 of the bound; × 2 measures 0.76",
           "biased_noise": "the family's oracle SignFlip(p) returns ±L_i exactly where it flips and the exact "
                           "subgradient elsewhere, so a narrowed noise U[−½, ½] only sharpens the descent: the "
                           "worst instance found measures 0.35 of the bound",
           "last_iterate": "the last iterate on the worst instance found: measured 0.49 of the bound"},
))
