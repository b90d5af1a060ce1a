r"""StoSignSGD's non-convex, non-smooth guarantee: O2NC with online StoSignSGD (Alg. 12, App. D).

Checks ([SSG-O2NC, SSG-PROTO]; Alg. 12 as in [SSG-ALG12] with the [SSG-Q8] reading — restart per block,
η_n = √2·D/√n, gradient at the scaled point). Their subject (kind ``"o2nc_inner"`` of
:mod:`convexlab.theory.mutants`) is the inner online learner of Δ on the box [−D, D]^d, restarted
every block; the default is the registry optimizer ``StoSignSGD.theory`` (:func:`o2nc_learner`).

* ``stosignsgd.o2nc_inequality10`` [P]: (1/K) Σ_k E‖(1/N) Σ_n ∇f(x_{k,n})‖₁
  ≤ Δf/(D∞KN) + (5 + 2√2)‖L‖₁/√N, true gradients at the visited points.
* ``stosignsgd.o2nc_guarantee`` [P constants, R assembly]: with the paper's N, K and D∞ for (ε, δ),
  the proof's witness bound of the penalized measure at x̂ is ≤ ε in expectation. Bounds of the
  Goldstein measure at x̂ with radius r and δ = ε/r² ([SSG-Q9] working link) are reported in the details:
  no constant is known for the O(ε) conversion ([SSG-DEF3], [SSG-Q9]), so they carry no verdict. At r = 1/2 the
  start itself lies within r of the kinks u = v = 0 (Goldstein measure 0 at x₀); at r/10 it is
  2.9 at x₀ and at most 0.74 in expectation over x̂ (reported too; the first block is still on its way).
* ``stosignsgd.o2nc_spread`` [R]: E‖x_{k,n} − x̄_k‖∞² ≤ 2N²D∞² (|Δ| ≤ D∞ and E(Σ_{j≤N} s_j)² =
  N² + N ≤ 2N² for s_j ~ Exp(1)). Loose by construction: a learner that stays in its box moves x
  by at most s_t·D∞ per step, and the most spread such a path can have is that of a straight
  ramp, N²D∞²/12 + O(N D∞²) = 1/24 of the bound; it detects only a learner that leaves its box.
* ``stosignsgd.o2nc_relu_witness`` [D]: a non-separable sanity check on a small ReLU network with
  an ℓ1 loss: the witness bound at x̂ is at most half its value at the start (a point mass at x₀:
  ‖∇f(x₀)‖₁).

Every check also judges feasibility: Alg. 12's learner plays Δ_t ∈ [−D, D]^d, and a play outside
the box (``O2NCResult.max_play`` > D) is a failure, whatever the bound says.

Test problem of the first three [D, the instance chosen so that the theorem bites]: the project's
|sin| function in rotated pairs (:class:`~convexlab.problems.nonconvex.RotatedSumAbsSin`),
f(x) = Σ_j a_j|sin(x_{2j} + x_{2j+1})| + b_j|sin(x_{2j} − x_{2j+1})| with a = (1, 0.5),
b = 3a (L = (4, 4, 2, 2), ‖L‖₁ = 12), exact oracle (unbiased, |g_i| ≤ L_i: the statement's
assumptions with no oracle noise), started on the ridge v = 0 at u = 0.2 (x₀ = 0.1). There the
deterministic sign points across the ridge only, so signSGD stalls at ‖∇f‖₁ = 2Σ_j a_j cos 0.2
= 2.94 (the Figure-1 mechanism), and since b_j ≥ 3a_j so does the half-width noise
sign(g + G⊙n/2); the unbiased stochastic sign has a component p/G along the ridge and descends.
A learner that never moves keeps the block gradient ‖∇f(x₀)‖₁ = 2Σ_j b_j = 9.
Sizes: ε = ‖L‖₁/6 and Goldstein radius r = 1/2 (default: N = 6,757, K = 4, T = 27,028 per seed,
32 seeds); ε = ‖L‖₁/8 with ``--full`` (N = 12,011, K = 6, 64 seeds). The paper's K leaves a
learner that descends at full speed along the ridge about 5× the steps it needs.

The default runs use ``o2nc(..., learner="direct")``, which is bit for bit the registry optimizer
``StoSignSGD.theory`` built by :func:`o2nc_learner` (tested) but faster per step; any other
subject runs through the factory path.
"""

from __future__ import annotations

import math

import torch

from convexlab.optim import StoSignSGD
from convexlab.problems.noise import SignFlip
from convexlab.problems.nonconvex import ReLUNetL1, RotatedSumAbsSin, SumAbsSin
from convexlab.sim.o2nc import INEQ10_CONSTANT, O2NCParameters, O2NCResult, o2nc, o2nc_parameters
from convexlab.sim.stationarity import penalized_witness
from convexlab.theory.registry import Check, CheckContext, CheckResult, register, upper_result

SOURCE = "StoSignSGD (arXiv 2604.15416)"
KIND = "o2nc_inner"

#: the pair coefficients (a_j, b_j) of the test problem [D]; b = 3a makes the half-width noise stall too
PAIRS_A = (1.0, 0.5)
PAIRS_B = (3.0, 1.5)
#: the start x₀ (every coordinate): u = 0.2, v = 0 in every pair [D]
START = 0.1
#: (ε/‖L‖₁, Goldstein radius r) at default size and with ``--full`` [D]
EPS_FRACTION = {False: 1 / 6, True: 1 / 8}
RADIUS = 0.5
#: the ReLU check's O2NC settings [D]: block length, blocks, learner radius, penalty weight λ
RELU_SETTINGS = dict(N=50, K=30, D=0.004, lam_pen=1.0)
#: the ReLU check's claim [D]: the witness at x̂ is at most this fraction of ‖∇f(x₀)‖₁
RELU_FRACTION = 0.5
#: the suggested test function of [SSG-PROTO], still used by the O2NC ladder figure (notebook 06) [D]
L_SUMABSSIN = (1.0, 2.0, 0.5, 1.5)
#: bias of the ladder figure's biased-oracle variant, as a multiple of L
BIAS_FRACTION = 0.75

_RUNS: dict[tuple, tuple] = {}


def o2nc_learner(params, problem) -> StoSignSGD:
    r"""The registry learner of Alg. 12 for an ``"o2nc_inner"`` problem: ``StoSignSGD.theory`` on Δ
    with diameter ``problem.D_inf`` (= 2D: η_n = √2·D/√n), box ``problem.box`` and seed
    ``problem.seed`` (the default subject of the O2NC checks)."""
    return StoSignSGD.theory(params, diameter=problem.D_inf, box=problem.box, seed=problem.seed)


def sumabssin_problem() -> SumAbsSin:
    r"""Σ L_i|sin x_i| with L = (1, 2, 0.5, 1.5) and the sign-flip oracle: the suggested test
    function [D], used by the ε-ladder figure of notebook 06 (not by the checks, see the module
    docstring: with |g̃_i| = L_i the sign is already unbiased and no learner can stall on it)."""
    return SumAbsSin(L_SUMABSSIN, noise=SignFlip(1.0))


def o2nc_test_problem() -> RotatedSumAbsSin:
    """The problem of the first three checks (module docstring)."""
    return RotatedSumAbsSin(PAIRS_A, PAIRS_B, start=torch.full((2 * len(PAIRS_A),), START, dtype=torch.float64))


def o2nc_setting(ctx: CheckContext) -> tuple[RotatedSumAbsSin, O2NCParameters, float, int]:
    r"""(problem, the paper's N, D∞, K for (ε, δ = ε/r²), the Goldstein radius r, seeds)."""
    problem = o2nc_test_problem()
    L1 = float(problem.L.sum())
    eps = EPS_FRACTION[bool(ctx.full)] * L1
    params = o2nc_parameters(eps, eps / RADIUS**2, L1, problem.delta_f(problem.start_point()))
    return problem, params, RADIUS, ctx.size(32, 64)


def _cached(key, run):
    if key not in _RUNS:
        if len(_RUNS) >= 24:  # a --power scan passes many subjects: keep the newest few runs
            _RUNS.pop(next(iter(_RUNS)))
        _RUNS[key] = run()
    return _RUNS[key]


def run_o2nc_test_problem(ctx: CheckContext) -> tuple[RotatedSumAbsSin, O2NCParameters, float, O2NCResult]:
    r"""Alg. 12 on the test problem with the paper's parameters and the context's learner (cached
    per size, seed and subject, so that the three checks share one run)."""

    def run():
        problem, params, radius, S = o2nc_setting(ctx)
        learner = "direct" if ctx.subject is None else ctx.subject
        res = o2nc(problem, params.N, params.K, params.D, S, seed=ctx.seed, learner=learner)
        return problem, params, radius, res

    return _cached(("test_problem", bool(ctx.full), ctx.seed, ctx.subject), run)


def _mean_se(v: torch.Tensor) -> tuple[float, float]:
    return float(v.mean()), float(v.std(correction=1) / math.sqrt(v.numel()))


def inequality10_bound(delta_f: float, D: float, K: int, N: int, L1: float) -> float:
    r"""Inequality (10) [P]: Δf/(D∞KN) + (5 + 2√2)‖L‖₁/√N."""
    return delta_f / (D * K * N) + INEQ10_CONSTANT * L1 / math.sqrt(N)


def guarantee_terms(params: O2NCParameters) -> dict:
    r"""The three terms of the O2NC bound [P] at the paper's parameters (each ≤ 2ε/7, 4ε/7, ε/7)."""
    p = params
    return dict(descent=p.delta_f / (p.D * p.K * p.N), noise=INEQ10_CONSTANT * p.L1 / math.sqrt(p.N),
                spread=2 * p.delta * p.N**2 * p.D**2)


def _dominant(terms: dict) -> str:
    name = max(terms, key=terms.get)
    return f"{name} ({terms[name] / sum(terms.values()):.0%} of the bound)"


def _judge_feasibility(result: CheckResult, res: O2NCResult) -> CheckResult:
    r"""A learner whose play left [−D, D]^d is outside Alg. 12: the check fails, whatever the bound."""
    D = res.meta["D"]
    worst = float(res.max_play.max())
    result.details["max_play_over_D"] = worst / D
    if not res.feasible:
        result.passed = False
        result.margin = min(result.margin, -(worst / D - 1.0))
        result.details["infeasible"] = (f"the learner played ‖Δ‖∞ = {worst:.3g} = {worst / D:.3g}·D outside its box "
                                        "[−D, D]^d")
    return result


def inequality10(ctx: CheckContext) -> CheckResult:
    r"""(1/K) Σ_k ‖(1/N) Σ_n ∇f(x_{k,n})‖₁, mean over seeds (3-stderr rule), against (10)."""
    problem, params, _, res = run_o2nc_test_problem(ctx)
    mean, se = _mean_se(res.grad_l1.mean(0))
    terms = {k: v for k, v in guarantee_terms(params).items() if k != "spread"}
    bound = inequality10_bound(params.delta_f, params.D, params.K, params.N, params.L1)
    out = upper_result(mean, bound, se, slack_ratio=mean / bound, bound_terms=terms, dominant_term=_dominant(terms),
                       per_block=[round(v, 4) for v in res.grad_l1.mean(1).tolist()], eps=params.eps, N=params.N,
                       K=params.K, D=params.D, T=params.T, seeds=res.meta["seeds"])
    return _judge_feasibility(out, res)


def guarantee(ctx: CheckContext) -> CheckResult:
    r"""E over x̂ (exactly: the mean over the K blocks) of the witness bound, mean over seeds, ≤ ε."""
    problem, params, radius, res = run_o2nc_test_problem(ctx)
    witness = penalized_witness(res.block_grads, res.spread, params.delta)  # (K, S)
    mean, se = _mean_se(witness.mean(0))
    K, S, d = res.block_means.shape
    gold = {}
    for key, rad in (("", radius), ("_r_over_10", radius / 10)):
        lo, hi = problem.goldstein_bounds(res.block_means.reshape(K * S, d), rad)
        start_lo, start_hi = problem.goldstein_bounds(problem.start_point()[None], rad)
        gold[f"goldstein{key}_expected_over_x_hat"] = (float(lo.mean()), float(hi.mean()))
        gold[f"goldstein{key}_at_start"] = (float(start_lo[0]), float(start_hi[0]))
    terms = guarantee_terms(params)
    grad_mean, _ = _mean_se(res.grad_l1.mean(0))
    out = upper_result(
        mean, params.eps, se, slack_ratio=mean / params.eps, eps=params.eps, lam_pen=params.delta, radius=radius,
        N=params.N, K=params.K, D=params.D, T=params.T, seeds=S,
        bound_terms=terms, dominant_term=_dominant(terms), measured_gradient_term=grad_mean,
        measured_spread_term=float((params.delta * res.spread).mean()),
        start_witness=float(problem.subgradient(problem.start_point()[None]).abs().sum()),
        # Goldstein (r, ·) with δ = ε/r² ([SSG-Q9] link), bracketed (lower, upper), also at r/10: reported, no verdict
        # (no conversion constant is known, [SSG-Q9])
        **gold,
    )
    return _judge_feasibility(out, res)


def spread(ctx: CheckContext) -> CheckResult:
    r"""(1/K) Σ_k (1/N) Σ_n ‖x_{k,n} − x̄_k‖∞², mean over seeds, against 2N²D∞²."""
    problem, params, _, res = run_o2nc_test_problem(ctx)
    mean, se = _mean_se(res.spread.mean(0))
    bound = 2 * params.N**2 * params.D**2
    worst_block = float(res.spread.mean(1).max())
    ramp = (params.N**2 - 1) * params.D**2 / 12  # a straight path at full speed, unit scalings
    out = upper_result(mean, bound, se, slack_ratio=mean / bound, worst_block_mean_over_seeds=worst_block,
                       worst_block_ratio=worst_block / bound, full_speed_ramp_ratio=ramp / bound, N=params.N,
                       D=params.D)
    return _judge_feasibility(out, res)


def relu_run(ctx: CheckContext) -> tuple[ReLUNetL1, float, O2NCResult]:
    """(problem, ‖∇f(x₀)‖₁, the run) of the ReLU check (cached per size, seed and subject)."""

    def run():
        problem = ReLUNetL1(batch=8, seed=ctx.seed)
        g0 = float(problem.subgradient(problem.start_point().unsqueeze(0)).abs().sum())
        s = RELU_SETTINGS
        learner = "direct" if ctx.subject is None else ctx.subject
        res = o2nc(problem, s["N"], ctx.size(s["K"], 10 * s["K"]), s["D"], ctx.size(16, 64), seed=ctx.seed,
                   learner=learner)
        return problem, g0, res

    return _cached(("relu", bool(ctx.full), ctx.seed, ctx.subject), run)


def relu_witness(ctx: CheckContext) -> CheckResult:
    r"""On :class:`ReLUNetL1` (minibatch oracle of 8 samples), E_x̂ of the witness bound with λ = 1
    (settings [D], :data:`RELU_SETTINGS`) against :data:`RELU_FRACTION`·‖∇f(x₀)‖₁."""
    problem, g0, res = relu_run(ctx)
    s = RELU_SETTINGS
    witness = penalized_witness(res.block_grads, res.spread, s["lam_pen"]).mean(0)
    mean, se = _mean_se(witness)
    bound = RELU_FRACTION * g0
    out = upper_result(mean, bound, se, slack_ratio=mean / bound, initial_grad_l1=g0, witness_over_start=mean / g0,
                       f_start=float(res.f_start), f_x_hat_mean=float(problem.f(res.x_hat).mean()), N=s["N"],
                       K=res.meta["K"], D=s["D"], lam_pen=s["lam_pen"], seeds=res.meta["seeds"])
    return _judge_feasibility(out, res)


_STEP_BLIND = ("the step constant only sets how soon the play Δ reaches its box corner, and the paper's K leaves a "
               "full-speed descent ~5x the steps it needs: measured/bound {} (StoSignSGD {})")
register(Check(
    "stosignsgd.o2nc_inequality10", f"{SOURCE} App. D, inequality (10) ([SSG-INEQ10])", "P", "upper",
    "Alg. 12 on the rotated Σ a|sin u| + b|sin v| (exact oracle, start on the ridge): "
    "(1/K)Σ_k E‖(1/N)Σ_n ∇f(x_{k,n})‖₁ ≤ Δf/(D∞KN) + (5+2√2)‖L‖₁/√N; the learner's play must stay in its box",
    inequality10, subject=KIND, default_subject=o2nc_learner,
    catches=("frozen", "signsgd", "biased_noise", "biased_oracle", "unprojected"),
    blind={f"step_x{k}": _STEP_BLIND.format(v, "0.37") for k, v in ((2, "0.40"), (5, "0.46"), (10, "0.60"))},
))
register(Check(
    "stosignsgd.o2nc_guarantee", f"{SOURCE} App. D, O2NC guarantee ([SSG-O2NC]; P constants, R assembly)", "R",
    "upper",
    "paper's N, K, D∞ for (ε = ‖L‖₁/6, δ = ε/r²): E witness bound of ‖∇f(x̂)‖^[δ]_{1,∞} ≤ ε on the rotated "
    "Σ a|sin u| + b|sin v|; Goldstein bounds at x̂ (r, δ = ε/r²) in the details; the play must stay in its box",
    guarantee, subject=KIND, default_subject=o2nc_learner,
    catches=("frozen", "signsgd", "biased_noise", "biased_oracle", "unprojected"),
    blind={f"step_x{k}": _STEP_BLIND.format(v, "0.32") for k, v in ((2, "0.34"), (5, "0.39"), (10, "0.51"))},
))
_SPREAD_BLIND = ("loose: any learner in its box spreads at most N²D∞²/12 = 1/24 of 2N²D∞², so the bound cannot see "
                 "a learner that stays in the box (measured spread/bound {})")
register(Check(
    "stosignsgd.o2nc_spread", f"{SOURCE} App. D, the 2δN²D∞² term ([SSG-O2NC, SSG-PROTO])", "R", "upper",
    "Alg. 12: E‖x_{k,n} − x̄_k‖∞² ≤ 2N²D∞² (|Δ| ≤ D∞, exponential scaling); loose: a learner in its box "
    "reaches at most 1/24 of it (the default 0.008), so it detects only a learner that leaves the box",
    spread, subject=KIND, default_subject=o2nc_learner,
    catches=("unprojected",),
    blind={"frozen": _SPREAD_BLIND.format("0: it never moves"),
           "signsgd": _SPREAD_BLIND.format("0.000: it bounces across the ridge"),
           "biased_noise": _SPREAD_BLIND.format("0.000: it bounces across the ridge"),
           "biased_oracle": _SPREAD_BLIND.format("0.039: full speed, still below 1/24"),
           "step_x2": _SPREAD_BLIND.format("0.008"), "step_x5": _SPREAD_BLIND.format("0.007"),
           "step_x10": _SPREAD_BLIND.format("0.005")},
))
_RELU_BLIND = ("the minibatch noise of the net is nearly symmetric, so this learner descends as well as StoSignSGD: "
               "witness/‖∇f(x₀)‖₁ {} (StoSignSGD 0.16, claim ≤ 0.5)")
register(Check(
    "stosignsgd.o2nc_relu_witness", f"{SOURCE} App. D (sanity check, [SSG-PROTO] [D])", "D", "upper",
    "Alg. 12 on a ReLU net with ℓ1 loss: E witness bound of the [δ] measure at x̂ ≤ ½‖∇f(x_0)‖₁ (the witness "
    "at least halves; no theorem constant applies, the gradient is unbounded); the play must stay in its box",
    relu_witness, subject=KIND, default_subject=o2nc_learner,
    catches=("frozen", "biased_oracle", "unprojected"),
    blind={"signsgd": _RELU_BLIND.format("0.14"), "biased_noise": _RELU_BLIND.format("0.14"),
           "step_x2": _RELU_BLIND.format("0.16"), "step_x5": _RELU_BLIND.format("0.16"),
           "step_x10": _RELU_BLIND.format("0.17")},
))
