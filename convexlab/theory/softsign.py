r"""Softsign's reconstructed convergence results R1–R3, the τ-limits of whole SoftSignum
trajectories, and the heterogeneity claim (Softsign, arXiv 2605.31371; spec §6.1–6.3, §7, §8).

Setting (spec §6.1, §7.2 [DER]): V is even, μ-strongly convex w.r.t. ‖·‖₂ with V(0) = min V = 0;
the relaxed step with temperature τ is d_k = ∇V*(−τm_k) = −∇V*(τm_k), θ_{k+1} = θ_k + δd_k, for a
gradient estimate m_k. Three V (all with μ = 1, spec §6.2): the entropic V (∇V* = tanh, SoftSignum),
the algebraic V (∇V*(y) = y/√(1+y²)) and the Euclidean V = ½‖d‖² (∇V* = id: SGD with step δτ).
V* is even, so V*(−τ∇f) = V*(τ∇f), the form used below.

* **Lemma R1** (one step, spec §7.3): with τδ ≤ μ/L,
  f(θ_{k+1}) ≤ f(θ_k) − (δ/τ)V*(τ∇f(θ_k)) + (δτ/μ)‖m_k − ∇f(θ_k)‖². Its sharper first line,
  f(θ_{k+1}) ≤ f(θ_k) − (δ/τ)V*(τ∇f) − (δ/τ)V(d_k) + (Lδ²/2)‖d_k‖² + (δτ/μ)‖m_k − ∇f‖², needs no
  condition on τ. Checks ``softsign.r1_one_step[tanh|algebraic|euclidean]`` (protocol §7.4) and
  ``[tau_sweep]`` (τ ∈ {0.1, 1, 10, 18} × three V × β ∈ {0, 0.9}; τ = 100, τδ = 5 > μ/L, is
  reported, not judged: the spec requires it to be *allowed* to fail).
* **Theorem R2** (averaged R1): (1/K)Σ_{k<K} E V*(τ∇f(θ_k)) ≤ τΔ/(δK) + (τ²/μ)(1/K)ΣE‖m_k − ∇f(θ_k)‖²,
  Δ = f(θ₀) − f*; deterministic (m = ∇f): ≤ τΔ/(δK); no momentum (m = g): ≤ τΔ/(δK) + τ²σ²/μ.
* **Corollary R3** (EMA momentum m_k = βm_{k−1} + (1−β)g_k, m₀ = g₀, R ≥ sup‖d_k‖₂):
  ≤ τΔ/(δK) + (τ²/μ)[E‖m₀ − ∇f(θ₀)‖²/((1−β)K) + β²L²δ²R²/(1−β)² + (1−β)σ²].
* **τ-limits of trajectories** (spec §6.3, §10 item 3): the real :class:`~convexlab.optim.SoftSignum`
  at a fixed τ follows :class:`~convexlab.optim.Signum` as τ → ∞ (remainder |tanh y − sign y| ≤ 2e^{−2|y|})
  and momentum SGD with step δτ (``torch.optim.SGD``) as τ → 0 (remainder |tanh y − y| ≤ |y|³/3).
* **Heterogeneity** (spec §1, §8.1–8.2 E0): on a noisy heterogeneous quadratic, Signum stalls at a
  floor proportional to its step size while SoftSignum keeps decreasing after its transition.

All statements are reconstructions (provenance DER): the paper's theorem text was not readable
(spec §7.1, §9 Q10). Every check function takes keyword hooks for the broken variants of its tests
and ``steps`` (some also ``seeds``), which override the sizes ``ctx`` picks.
"""

from __future__ import annotations

import math
from functools import partial

import torch

from convexlab.geometry import SoftSign
from convexlab.geometry.soft_sign import (
    algebraic_conjugate,
    algebraic_regularizer,
    algebraic_sign,
    entropic_regularizer,
    log_cosh,
)
from convexlab.theory.registry import (
    Check,
    CheckContext,
    CheckResult,
    effect_result,
    register,
    upper_result,
)

SOURCE = "Softsign (arXiv 2605.31371) §7.3 Lemma R1 (reconstructed)"
SOURCE_R2 = "Softsign (arXiv 2605.31371) §7.3 Theorem R2 (reconstructed)"
SOURCE_R3 = "Softsign (arXiv 2605.31371) §7.3 Corollary R3 (reconstructed)"
SOURCE_LIM = "Softsign (arXiv 2605.31371) §6.3 τ-limits; §2.2, §10 item 3"
SOURCE_HET = "Softsign (arXiv 2605.31371) §1, §8.1–8.2 (E0) heterogeneity claim"
DIM, DELTA, BETA, NOISE = 50, 0.05, 0.9, 0.1
DT = torch.float64
KINDS = ("tanh", "algebraic", "euclidean")
MU = 1.0  # strong convexity of all three V w.r.t. ‖·‖₂ (spec §6.2: V'' ≥ 1)
# absolute round-off allowance of the per-step inequalities: f is O(1) and summed over ≤ 50 terms,
# so 1e-12 is ~1e4 ulps (never a fudge for the theory)
ROUND = 1e-12


# ---------------------------------------------------------------------------------------------
# the three V at unit temperature: (V, V*, ∇V*)
# ---------------------------------------------------------------------------------------------
def _unit(kind: str):
    r"""(V, V*, ∇V*) of the entropic, algebraic or Euclidean V (spec §6.2 table), elementwise."""
    if kind == "tanh":
        return entropic_regularizer, log_cosh, torch.tanh
    if kind == "algebraic":
        return algebraic_regularizer, algebraic_conjugate, algebraic_sign
    if kind == "euclidean":
        return (lambda d: 0.5 * d * d), (lambda y: 0.5 * y * y), (lambda y: y.clone())
    raise ValueError(f"kind must be one of {KINDS!r}, got {kind!r}")


class _TemperedEuclidean:
    r"""ψ_τ = V/τ for V = ½‖d‖²: ∇ψ_τ*(m) = τm, ψ_τ*(m) = τ‖m‖²/2 (SGD with step δτ, spec §6.2)."""

    def __init__(self, tau: float):
        self.tau = float(tau)

    def direction(self, m):
        return self.tau * m

    def conjugate(self, m):
        return 0.5 * self.tau * (m * m).sum(-1)


def tempered(kind: str, tau: float):
    r"""The geometry ψ_τ = V/τ of ``kind``: ``SoftSign(τ, kind)`` or the tempered Euclidean one."""
    if kind == "euclidean":
        return _TemperedEuclidean(tau)
    return SoftSign(tau, kind)


def _quadratic():
    h = torch.logspace(-3, 0, DIM, dtype=DT)
    return h, (lambda th: 0.5 * (h * th * th).sum(-1))


# ---------------------------------------------------------------------------------------------
# R1: one step
# ---------------------------------------------------------------------------------------------
def r1_violation(ctx: CheckContext, tau: float = 0.9 / DELTA, step_geometry: SoftSign | None = None,
                 error_term: float = 1.0, kind: str = "tanh", beta: float = BETA, steps: int | None = None,
                 seeds: int | None = None) -> CheckResult:
    r"""max_k f(θ_{k+1}) − RHS_k of Lemma R1 over ``ctx``-sized runs (seeds as rows).

    Protocol of spec §7.4: f = ½θᵀHθ, H = diag(logspace(−3, 0, 50)) (L = 1), g = ∇f + N(0, 0.1²I),
    m₀ = g₀, m_k = βm_{k−1} + (1−β)g_k, δ = 0.05, θ₀ ~ N(0, I). ``kind`` picks V (μ = 1);
    ``step_geometry`` (default ``tempered(kind, τ)``) is what the iteration uses and
    ``error_term`` scales the (δτ/μ)‖m − ∇f‖² term (both are hooks for broken variants).

    Raises:
        ValueError: τδ > μ/L with the unbroken iteration (R1 does not claim anything there).
    """
    geo = tempered(kind, tau)
    step = step_geometry or geo
    mu, L = MU, 1.0
    if tau * DELTA > mu / L and step_geometry is None and error_term == 1.0:
        raise ValueError(f"R1 needs τδ ≤ μ/L, got τδ = {tau * DELTA:g}")
    S, K = seeds or ctx.size(8, 32), steps or ctx.size(2000, 10000)
    gen = torch.Generator().manual_seed(ctx.seed + 11)
    h, f = _quadratic()
    theta = torch.randn(S, DIM, generator=gen, dtype=DT)
    m = torch.zeros_like(theta)
    worst = -float("inf")
    for k in range(K):
        grad = h * theta
        g = grad + NOISE * torch.randn(S, DIM, generator=gen, dtype=DT)
        m = g.clone() if k == 0 else beta * m + (1 - beta) * g
        new = theta - DELTA * step.direction(m)
        rhs = f(theta) - DELTA * geo.conjugate(grad) + error_term * (DELTA * tau / mu) * ((m - grad) ** 2).sum(-1)
        worst = max(worst, float((f(new) - rhs).max()))
        theta = new
    return upper_result(worst, 0.0, slack=ROUND, tau=tau, delta=DELTA, beta=beta, kind=kind, steps=K, seeds=S)


SWEEP_TAUS = (0.1, 1.0, 10.0, 18.0)
OUTSIDE_TAU = 100.0


def r1_tau_sweep(ctx: CheckContext, taus=SWEEP_TAUS, betas=(0.0, BETA), outside_tau: float = OUTSIDE_TAU,
                 error_term: float = 1.0, step_tau_scale: float = 1.0, steps: int | None = None) -> CheckResult:
    r"""Lemma R1 over τ ∈ ``taus`` (all with τδ ≤ μ/L), the three V and momentum β ∈ ``betas``.

    Judged (must never be violated): the stated form (2), f(θ⁺) ≤ f − (δ/τ)V*(τ∇f) + (δτ/μ)‖m − ∇f‖²,
    for τδ ≤ μ/L; and the sharper form (1), which keeps −(δ/τ)V(d) + (Lδ²/2)‖d‖² and holds for every
    τ, on all finite steps including τ = ``outside_tau``. Reported only: how often and by how much
    form (2) is violated at τ = ``outside_tau`` (τδ = 5 > μ/L; spec §7.4: "must be allowed to fail").
    Gaps LHS − RHS are divided by max(1, sum of the magnitudes of the terms), so that the round-off
    allowance is relative (a diverging Euclidean run at τδ = 5 reaches 1e300); for the O(1) values
    of the runs inside the condition this is the absolute gap. Hooks for broken variants:
    ``error_term`` scales the momentum-error term, ``step_tau_scale`` multiplies τ in the step only.
    """
    for t in taus:
        if t * DELTA > MU:
            raise ValueError(f"taus must satisfy τδ ≤ μ/L = 1 (δ = {DELTA}), got τ = {t!r}")
    S, K = ctx.size(8, 32), steps or ctx.size(2000, 10000)
    L = 1.0
    h, f = _quadratic()
    all_taus = list(taus) + [outside_tau]
    # rows: (τ, β, seed), τ and β as columns so one batched run covers the whole grid
    tau_col = torch.tensor([t for t in all_taus for _ in betas for _ in range(S)], dtype=DT)[:, None]
    beta_col = torch.tensor([b for _ in all_taus for b in betas for _ in range(S)], dtype=DT)[:, None]
    inside = (tau_col[:, 0] * DELTA <= MU / L)
    n = tau_col.shape[0]
    worst_stated, worst_sharp, worst_sharp_out = -math.inf, -math.inf, -math.inf
    outside = {}
    for kind in KINDS:
        V, Vs, gVs = _unit(kind)
        gen = torch.Generator().manual_seed(ctx.seed + 12)
        theta = torch.randn(S, DIM, generator=gen, dtype=DT).repeat(n // S, 1)
        m = torch.zeros_like(theta)
        viol_stated = torch.full((n,), -math.inf, dtype=DT)
        viol_sharp = torch.full((n,), -math.inf, dtype=DT)
        count = torch.zeros(n, dtype=DT)
        alive = torch.ones(n, dtype=torch.bool)
        for k in range(K):
            grad = h * theta
            g = grad + NOISE * torch.randn(S, DIM, generator=gen, dtype=DT).repeat(n // S, 1)
            m = g.clone() if k == 0 else beta_col * m + (1 - beta_col) * g
            d = -gVs(step_tau_scale * tau_col * m)
            new = theta + DELTA * d
            t1 = tau_col[:, 0]
            measure = (DELTA / t1) * Vs(tau_col * grad).sum(-1)
            err = error_term * (DELTA * t1 / MU) * ((m - grad) ** 2).sum(-1)
            lhs, f0 = f(new), f(theta)
            vd, dd = (DELTA / t1) * V(d).sum(-1), 0.5 * L * DELTA**2 * (d * d).sum(-1)
            # round-off is relative to the size of the terms (a diverging run reaches 1e300)
            scale = torch.clamp(lhs.abs() + f0.abs() + measure + err + vd + dd, min=1.0)
            gap_stated = (lhs - (f0 - measure + err)) / scale
            gap_sharp = (lhs - (f0 - measure - vd + dd + err)) / scale
            # a diverged run (Euclidean V at τδ = 5) is reported, not compared further: once its terms
            # pass 1e100 the gaps are pure cancellation
            finite = torch.isfinite(gap_stated) & torch.isfinite(gap_sharp) & (scale < 1e100) & alive
            alive &= finite
            # a non-finite value inside the condition is a failure (nan → +inf)
            viol_stated = torch.maximum(viol_stated, torch.where(inside | finite, gap_stated.nan_to_num(math.inf),
                                                                 viol_stated))
            viol_sharp = torch.maximum(viol_sharp, torch.where(inside | finite, gap_sharp.nan_to_num(math.inf),
                                                               viol_sharp))
            count += (finite & (gap_stated > ROUND)).to(DT)
            theta = new
        worst_stated = max(worst_stated, float(viol_stated[inside].max()))
        worst_sharp = max(worst_sharp, float(viol_sharp[inside].max()))
        worst_sharp_out = max(worst_sharp_out, float(viol_sharp[~inside].max()))
        for j, b in enumerate(betas):
            rows = (~inside) & (beta_col[:, 0] == b)
            frac = float(count[rows].mean()) / K
            diverged = int((~alive[rows]).sum())
            outside[f"{kind}_beta{b:g}"] = dict(violated_step_fraction=round(frac, 4),
                                                max_relative_violation=float(viol_stated[rows].max()),
                                                diverged_runs=diverged)
    measured = max(worst_stated, worst_sharp, worst_sharp_out)
    return upper_result(measured, 0.0, slack=ROUND, worst_stated_form=worst_stated, worst_sharp_form=worst_sharp,
                        worst_sharp_form_outside=worst_sharp_out,
                        taus=list(taus), betas=list(betas), kinds=list(KINDS), delta=DELTA, steps=K, seeds=S,
                        outside_tau=outside_tau, outside_tau_delta=outside_tau * DELTA, outside=outside)


# ---------------------------------------------------------------------------------------------
# R2 / R3: averaged bounds
# ---------------------------------------------------------------------------------------------
def _problem(name: str, noisy: bool):
    from convexlab.problems.noise import Exact, Gaussian
    from convexlab.problems.smooth import HeterogeneousQuadratic, LogisticRegression

    if name == "quadratic":
        return HeterogeneousQuadratic(noise=Gaussian(NOISE) if noisy else Exact())
    if name == "logistic":
        return LogisticRegression(noise=Gaussian(NOISE) if noisy else Exact())
    raise ValueError(f"problem must be 'quadratic' or 'logistic', got {name!r}")


def _average_measure(problem, kind: str, tau: float, delta: float, K: int, theta0: torch.Tensor,
                     gen: torch.Generator | None, beta: float = 0.0, step_tau: float | None = None):
    r"""Run θ_{k+1} = θ_k − δ∇V*(τ'm_k) from ``theta0`` (rows) for K steps with m the exact gradient
    (``gen`` None), the stochastic one (β = 0) or its EMA (m₀ = g₀); τ' = ``step_tau`` (default τ).
    Returns the per-row (1/K)Σ_{k<K} V*(τ∇f(θ_k)) and sup_k ‖d_k‖₂ over all rows and steps."""
    _, Vs, gVs = _unit(kind)
    step_tau = tau if step_tau is None else step_tau
    theta = theta0.clone()
    total = torch.zeros(theta.shape[0], dtype=DT)
    m, R = None, 0.0
    for k in range(K):
        grad = problem.subgradient(theta)
        total += Vs(tau * grad).sum(-1)
        g = grad if gen is None else problem.oracle(theta, gen)
        m = g if (m is None or beta == 0.0) else beta * m + (1 - beta) * g
        d = gVs(step_tau * m)
        R = max(R, float(d.norm(dim=-1).max()))
        theta = theta - delta * d
    return total / K, R


def r2_deterministic(ctx: CheckContext, problem: str = "quadratic", step_tau_scale: float = 1.0,
                     bound_factor: float = 1.0, steps: int | None = None) -> CheckResult:
    r"""Theorem R2 with m = ∇f: (1/K)Σ_{k<K} V*(τ∇f(θ_k)) ≤ τΔ/(δK), Δ = f(θ₀) − f*, for the three V.

    τδ = 0.9·μ/L (spec §7.4's τ = 0.9/(Lδ), δ = 0.05) on the heterogeneous quadratic (L = 1) or on
    logistic regression (L = ‖X‖₂²/(4N) + λ); θ₀ ~ N(0, I) per row. ``measured`` is the largest
    ratio LHS/bound over rows and V (≤ 1 passes). Hooks: ``step_tau_scale`` (the step uses τ·scale,
    a wrong temperature scaling), ``bound_factor`` (multiplies the bound).
    """
    prob = _problem(problem, noisy=False)
    L = prob.smoothness
    tau = 0.9 * MU / (L * DELTA)
    S, K = ctx.size(8, 32), steps or ctx.size(2000, 10000)
    theta0 = torch.randn(S, prob.dim, generator=ctx.generator(21), dtype=DT)
    delta0 = prob.f(theta0) - prob.f_star
    bound = bound_factor * tau * delta0 / (DELTA * K)
    ratios = {}
    for kind in KINDS:
        lhs, _ = _average_measure(prob, kind, tau, DELTA, K, theta0, None, step_tau=tau * step_tau_scale)
        ratios[kind] = float((lhs / bound).max())
    worst = max(ratios.values())
    return upper_result(worst, 1.0, slack=1e-12, slack_ratio=worst, ratio_by_kind=ratios, problem=problem,
                        tau=tau, delta=DELTA, L=L, steps=K, rows=S, mean_delta=float(delta0.mean()))


def _stochastic_setup(ctx: CheckContext, steps: int | None):
    prob = _problem("quadratic", noisy=True)
    L = prob.smoothness
    tau = 0.9 * MU / (L * DELTA)
    return prob, L, tau, ctx.size(16, 64), steps or ctx.size(2000, 10000)


def _seed_rows(prob, S: int):
    """The common start θ₀ = problem start (all ones) in every row; rows differ by their noise."""
    return prob.start_point().expand(S, prob.dim).clone()


def r2_stochastic(ctx: CheckContext, noise_term: float = 1.0, bias: float = 0.0,
                  steps: int | None = None) -> CheckResult:
    r"""Theorem R2 with m = g (no momentum): (1/K)Σ E V*(τ∇f(θ_k)) ≤ τΔ/(δK) + τ²σ²/μ on the noisy
    heterogeneous quadratic (g = ∇f + N(0, 0.1²I), σ² = d·0.01 = 0.5; τ = 18, δ = 0.05, θ₀ = 1).

    E is over the noise: the mean over seeds with its standard error (fails only on a confident
    violation); the worst of the three V is reported. Hooks: ``noise_term`` scales τ²σ²/μ (0 drops
    it), ``bias`` adds a constant b to every gradient coordinate (a biased oracle, E g ≠ ∇f; σ² is
    still the variance).
    """
    prob, L, tau, S, K = _stochastic_setup(ctx, steps)
    if bias:
        base = prob.oracle
        prob.oracle = lambda x, gen: base(x, gen) + bias  # noqa: E731
    sigma2 = prob.noise_variance
    theta0 = _seed_rows(prob, S)
    delta0 = prob.delta_f(prob.start_point())
    bound = tau * delta0 / (DELTA * K) + noise_term * tau**2 * sigma2 / MU
    best = None
    per_kind = {}
    for i, kind in enumerate(KINDS):
        lhs, _ = _average_measure(prob, kind, tau, DELTA, K, theta0, ctx.generator(31 + i))
        mean, se = float(lhs.mean()), float(lhs.std() / math.sqrt(S))
        per_kind[kind] = dict(mean=mean, stderr=se, slack_ratio=mean / bound)
        if best is None or (mean - 3 * se) / bound > (best[1] - 3 * best[2]) / bound:
            best = (kind, mean, se)
    kind, mean, se = best
    return upper_result(mean, bound, stderr=se, slack=1e-9, slack_ratio=mean / bound, worst_kind=kind,
                        by_kind=per_kind, sigma2=sigma2, tau=tau, delta=DELTA, steps=K, seeds=S,
                        delta_term=tau * delta0 / (DELTA * K), noise_term=noise_term * tau**2 * sigma2 / MU)


def r3_momentum(ctx: CheckContext, error_terms: float = 1.0, radius: float | None = None,
                beta: float = BETA, steps: int | None = None) -> CheckResult:
    r"""Corollary R3 (EMA momentum, ℓ2 geometry) on the noisy heterogeneous quadratic:

        (1/K)Σ E V*(τ∇f(θ_k)) ≤ τΔ/(δK) + (τ²/μ)[σ²/((1−β)K) + β²L²δ²R²/(1−β)² + (1−β)σ²],

    with m₀ = g₀ (so E‖m₀ − ∇f(θ₀)‖² = σ²), β = 0.9, τ = 18, δ = 0.05, and R = √n, the a-priori
    bound on ‖d_k‖₂ for the tanh and algebraic V (|∇V*| < 1 per coordinate; spec §7.3). The worst
    of the two V is reported, with the observed sup‖d_k‖₂ and the bound it would give. Hooks:
    ``error_terms`` scales the bracket (0 drops the momentum-error terms), ``radius`` overrides R.
    """
    prob, L, tau, S, K = _stochastic_setup(ctx, steps)
    sigma2 = prob.noise_variance
    R = math.sqrt(prob.dim) if radius is None else radius
    theta0 = _seed_rows(prob, S)
    delta0 = prob.delta_f(prob.start_point())
    terms = dict(init=sigma2 / ((1 - beta) * K), drift=beta**2 * L**2 * DELTA**2 * R**2 / (1 - beta) ** 2,
                 noise=(1 - beta) * sigma2)
    bound = tau * delta0 / (DELTA * K) + error_terms * tau**2 / MU * sum(terms.values())
    best, per_kind, R_obs = None, {}, 0.0
    for i, kind in enumerate(("tanh", "algebraic")):
        lhs, r = _average_measure(prob, kind, tau, DELTA, K, theta0, ctx.generator(41 + i), beta=beta)
        R_obs = max(R_obs, r)
        mean, se = float(lhs.mean()), float(lhs.std() / math.sqrt(S))
        per_kind[kind] = dict(mean=mean, stderr=se, slack_ratio=mean / bound)
        if best is None or (mean - 3 * se) > (best[1] - 3 * best[2]):
            best = (kind, mean, se)
    kind, mean, se = best
    bound_obs_R = tau * delta0 / (DELTA * K) + error_terms * tau**2 / MU * (
        terms["init"] + terms["noise"] + beta**2 * L**2 * DELTA**2 * R_obs**2 / (1 - beta) ** 2)
    return upper_result(mean, bound, stderr=se, slack=1e-9, slack_ratio=mean / bound, worst_kind=kind,
                        by_kind=per_kind, R=R, observed_sup_d=R_obs, bound_with_observed_R=bound_obs_R,
                        slack_ratio_observed_R=mean / bound_obs_R, terms={k: tau**2 / MU * v for k, v in terms.items()},
                        delta_term=tau * delta0 / (DELTA * K), beta=beta, tau=tau, delta=DELTA, sigma2=sigma2,
                        steps=K, seeds=S)


# ---------------------------------------------------------------------------------------------
# τ-limits of whole trajectories, with the real optimizer classes
# ---------------------------------------------------------------------------------------------
def fixed_temperature_softsignum(param: torch.nn.Parameter, tau: float, steps: int, **kw):
    r"""A :class:`~convexlab.optim.SoftSignum` that applies tanh(τu) with a constant τ for ``steps``
    steps (spec §7: the theory is for a fixed τ).

    SoftSignum has no fixed-τ option; its schedule lives in ``param_group["schedule"]`` and is
    saved by ``state_dict``. So the optimizer (``sign_iters = 0``, ``transition_iters = steps + 1``)
    is resumed, through ``load_state_dict``, at global step 1 with a constant schedule: the next
    step is k = 2, the schedule index j = 1 > 0 and no refit happens (the fit is only at j = 0).
    The momentum buffer is empty, so the first step sets buf = g as in a fresh run.
    """
    from convexlab.optim import SoftSignum

    opt = SoftSignum([param], sign_iters=0, transition_iters=steps + 1, **kw)
    sd = opt.state_dict()
    sd["param_groups"][0]["schedule"] = torch.full((steps + 1,), float(tau), dtype=DT)
    sd["convexlab"]["step"] = 1
    opt.load_state_dict(sd)
    return opt


def _run(opt, param, h, steps):
    """Deterministic run on f = ½θᵀdiag(h)θ; returns the iterates θ_0..θ_T (T+1, d)."""
    out = [param.detach().clone()]
    for _ in range(steps):
        param.grad = h * param.detach()
        opt.step()
        out.append(param.detach().clone())
    return torch.stack(out)


INF_TAUS, ZERO_TAUS = (1e2, 1e3, 1e4, 1e5), (1.0, 1e-1, 1e-2, 1e-3)


def trajectory_limit(ctx: CheckContext, limit: str = "infinity", temperature_scale: float = 1.0,
                     reference_lr_scale: float = 1.0) -> CheckResult:
    r"""Whole-trajectory τ-limits of the real SoftSignum (fixed τ) on the quadratic f = ½θᵀHθ,
    H = diag(logspace(−3, 0, 50)), θ₀ = 1, exact gradients.

    ``limit="infinity"``: SoftSignum(lr = δ = 0.01, EMA momentum β = 0.9) vs Signum(lr = δ, β) for
    T = 40 steps (every coordinate stays positive, so sign(u) never changes) at τ ∈ {1e2, …, 1e5}.
    As long as both runs have the same sign(u_k) (checked), e_{k+1} = e_k − δ(tanh(τu_k) − sign u_k)
    exactly, so |e_t| ≤ δΣ_{k<t} 2e^{−2τ|u_k|} with u_k the EMA of ∇f along the SoftSignum run.

    ``limit="zero"``: SoftSignum(lr = δ = η/τ, SGD-buffer momentum β = 0.9) vs torch.optim.SGD(lr = η,
    momentum β) for T = 200 steps, η = δτ = 0.05 fixed, τ ∈ {1, 0.1, 0.01, 0.001}. The error obeys the
    heavy-ball recursion c_k = βc_{k−1} + He_k, e_{k+1} = e_k − ηc_k − δr_k with r_k = tanh(τb_k) − τb_k,
    |r_k| ≤ |τb_k|³/3 (b_k the buffer of the SoftSignum run), so |e_t| ≤ δΣ_k |G_{t−1−k}|·|τb_k|³/3 with
    G the impulse response of the linear recursion (computed exactly).

    ``measured`` is max over τ, t and coordinates of |e_t| / (bound_t + round-off) (≤ 1 passes);
    the deviation per τ shows the limit. Hooks: ``temperature_scale`` (the optimizer runs at τ·scale
    while the bound uses τ), ``reference_lr_scale`` (the limit's step size is scaled: e.g. SGD with step
    δ instead of δτ).
    """
    from convexlab.optim import Signum

    if limit not in ("infinity", "zero"):
        raise ValueError(f"limit must be 'infinity' or 'zero', got {limit!r}")
    h, _ = _quadratic()
    eps = torch.finfo(DT).eps
    beta = BETA
    worst, dev = 0.0, {}
    if limit == "infinity":
        delta, T, taus = 0.01, ctx.size(40, 80), INF_TAUS
        if ctx.full:
            delta = 0.005  # keep T·δ < 1: the run stays in the approach phase
        p = torch.nn.Parameter(torch.ones(DIM, dtype=DT))
        ref = _run(Signum([p], lr=delta * reference_lr_scale, momentum=beta), p, h, T)
    else:
        eta, T, taus = 0.05, ctx.size(200, 800), ZERO_TAUS
        p = torch.nn.Parameter(torch.ones(DIM, dtype=DT))
        ref = _run(torch.optim.SGD([p], lr=eta * reference_lr_scale, momentum=beta), p, h, T)
    for tau in taus:
        p = torch.nn.Parameter(torch.ones(DIM, dtype=DT))
        if limit == "infinity":
            opt = fixed_temperature_softsignum(p, tau * temperature_scale, T, lr=delta, momentum=beta,
                                               momentum_form="ema")
        else:
            delta = eta / tau
            opt = fixed_temperature_softsignum(p, tau * temperature_scale, T, lr=delta, momentum=beta)
        soft = _run(opt, p, h, T)
        e = (soft - ref).abs()  # (T+1, d)
        grads = h * soft[:-1]
        u = torch.empty_like(grads)
        for k in range(T):  # the momentum of the SoftSignum run, recomputed from its iterates
            if limit == "infinity":
                u[k] = grads[k] if k == 0 else beta * u[k - 1] + (1 - beta) * grads[k]
            else:
                u[k] = grads[k] if k == 0 else beta * u[k - 1] + grads[k]
        if limit == "infinity":
            ref_u = torch.empty_like(u)
            for k in range(T):
                g = h * ref[k]
                ref_u[k] = g if k == 0 else beta * ref_u[k - 1] + (1 - beta) * g
            if not bool((torch.sign(u) == torch.sign(ref_u)).all()):
                return upper_result(math.inf, 1.0, limit=limit, tau=tau, reason="sign(u) differs between the runs")
            rem = 2 * torch.exp(-2 * tau * u.abs())
            bound = delta * torch.cat([torch.zeros(1, DIM, dtype=DT), rem.cumsum(0)])
        else:
            rem = (tau * u).abs() ** 3 / 3
            G = torch.empty(T, DIM, dtype=DT)
            ee, cc = torch.ones(DIM, dtype=DT), torch.zeros(DIM, dtype=DT)
            for j in range(T):
                G[j] = ee
                cc = beta * cc + h * ee
                ee = ee - eta * cc
            bound = torch.zeros(T + 1, DIM, dtype=DT)
            for t in range(1, T + 1):  # |e_t| ≤ δ Σ_{k<t} |G_{t−1−k}| |r_k|
                bound[t] = delta * (G[:t].flip(0).abs() * rem[:t]).sum(0)
        # round-off: a few ulps of the two iterates per step
        roundoff = 8 * eps * torch.arange(1, T + 2, dtype=DT)[:, None] * (soft.abs() + ref.abs() + 1)
        ratio = float((e / (bound + roundoff)).nan_to_num(math.inf).max())
        worst = max(worst, ratio)
        dev[f"{tau:g}"] = dict(max_deviation=float(e.max()), max_bound=float(bound.max()), ratio=ratio)
    details = dict(limit=limit, steps=T, beta=beta, deviation_by_tau=dev)
    if limit == "zero":
        a, b = dev[f"{taus[-2]:g}"]["max_deviation"], dev[f"{taus[-1]:g}"]["max_deviation"]
        details["observed_order"] = math.log(a / b) / math.log(taus[-2] / taus[-1]) if a > 0 and b > 0 else None
        details["predicted_order"] = 2  # δ·|τb|³ with δ = η/τ
    return upper_result(worst, 1.0, slack=0.0, **details)


# ---------------------------------------------------------------------------------------------
# the heterogeneity claim
# ---------------------------------------------------------------------------------------------
def signum_floor(dim: int, lr: float, noise_scale: float, beta: float) -> float:
    r"""Predicted stationary E f of Signum on f = ½Σh_iθ_i² with g = ∇f + N(0, s²I) [DER].

    In the noise-dominated regime (h_i|θ_i| ≪ σ_m, σ_m² = s²(1−β)/(1+β) the variance of the EMA
    of the noise), E[sign(m_i) | θ] ≈ √(2/π)·h_iθ_i/σ_m, so θ_i is a mean-reverting walk with rate
    a_i = lr·√(2/π)h_i/σ_m and steps ±lr whose sign autocorrelation is (2/π)arcsin(β^k) (arcsine law
    for the Gaussian AR(1) m), long-run factor κ_β = 1 + 2Σ_{k≥1}(2/π)arcsin(β^k). The stationary
    variance is lr²κ_β/(2a_i), so E f_i = ½h_i·Var θ_i = lr·σ_m·κ_β·√(π/2)/4 — the same for every
    coordinate whatever its curvature h_i: an lr-sized floor, d·lr·σ_m·κ_β·√(π/2)/4 in total.
    """
    sigma_m = noise_scale * math.sqrt((1 - beta) / (1 + beta))
    kappa = 1.0 + 2.0 * sum((2 / math.pi) * math.asin(beta**k) for k in range(1, 4000) if beta**k > 1e-300)
    return dim * lr * sigma_m * kappa * math.sqrt(math.pi / 2) / 4


HET_LR, HET_ALPHA = 0.05, 0.9


def heterogeneity(ctx: CheckContext, soft: str = "SoftSignum", lr: float = HET_LR, alpha_sign: float = HET_ALPHA,
                  beta: float = BETA, steps: int | None = None, seeds: int | None = None) -> CheckResult:
    r"""Signum plateaus at an lr-sized floor on a noisy heterogeneous quadratic; SoftSignum, from the
    same start and noise, keeps decreasing after its transition (spec §8.2 E0).

    Problem: ½θᵀHθ, H = diag(logspace(−3, 0, 50)), g = ∇f + N(0, 0.1²I), θ₀ = 1 (spec §7.4).
    Optimizers: the registry classes, same lr δ = 0.05 (spec §7.4's δ) and EMA momentum β = 0.9
    (the paper's form, spec §2.3): ``Signum(lr, momentum=β)`` and ``SoftSignum(lr, momentum=β,
    momentum_form="ema", sign_iters=α·K, transition_iters=(1−α)·K)`` with α_sign = 0.9 (README
    default, spec §2.1) and the official tmax = 20. SoftSignum's schedule is per param group, so
    each seed is one param group of one optimizer (one schedule per seed, no mixing). Both runs see
    the same noise draws, so they coincide up to the switch (``gap_at_switch`` = 0).

    ``measured`` = mean over seeds of log f_Signum(θ_K) − log f_SoftSignum(θ_K), pass iff it exceeds
    3 standard errors (``effect_result``). Details: the derived Signum floor
    (:func:`signum_floor`), Signum's plateau ratio f(θ_K)/f(θ_S), and Signum at lr/2 (the floor
    halves). Hook: ``soft="Signum"`` puts Signum in SoftSignum's place (no effect).
    """
    from convexlab.optim import REGISTRY
    from convexlab.problems.smooth import HeterogeneousQuadratic

    prob = HeterogeneousQuadratic(noise_scale=NOISE)
    S, K = seeds or ctx.size(8, 16), steps or ctx.size(4000, 20000)
    n_sign = int(round(alpha_sign * K))
    x0 = prob.start_point()

    def run(make, batched):
        gen = ctx.generator(51)
        if batched:
            params = [torch.nn.Parameter(x0.expand(S, DIM).clone())]
            opt = make(params)
        else:
            params = [torch.nn.Parameter(x0.clone()) for _ in range(S)]
            opt = make([{"params": [q]} for q in params])
        f_switch = None
        for k in range(1, K + 1):
            X = params[0].detach() if batched else torch.stack([q.detach() for q in params])
            G = prob.oracle(X, gen)
            if batched:
                params[0].grad = G
            else:
                for q, g in zip(params, G):
                    q.grad = g.clone()
            opt.step()
            if k == n_sign:
                f_switch = prob.f(params[0].detach() if batched else torch.stack([q.detach() for q in params]))
        X = params[0].detach() if batched else torch.stack([q.detach() for q in params])
        return f_switch, prob.f(X), opt

    Signum = REGISTRY["Signum"]
    f_sw_sig, f_sig, _ = run(lambda ps: Signum(ps, lr=lr, momentum=beta), True)
    _, f_half, _ = run(lambda ps: Signum(ps, lr=lr / 2, momentum=beta), True)
    cls = REGISTRY[soft]
    if soft == "SoftSignum":
        make = lambda ps: cls(ps, lr=lr, momentum=beta, momentum_form="ema", sign_iters=n_sign,  # noqa: E731
                              transition_iters=K - n_sign)
    else:
        make = lambda ps: cls(ps, lr=lr, momentum=beta)  # noqa: E731
    f_sw_soft, f_soft, opt = run(make, False)
    gap = f_sig.log() - f_soft.log()
    effect, se = float(gap.mean()), float(gap.std() / math.sqrt(S))
    floor = signum_floor(DIM, lr, NOISE, beta)
    taus = None
    if soft == "SoftSignum":
        sched = torch.stack([g["schedule"] for g in opt.param_groups]).double()
        taus = dict(first=float(sched[:, 0].mean()), middle=float(sched[:, sched.shape[1] // 2].mean()),
                    last=float(sched[:, -1].mean()))
    return effect_result(
        effect, se, optimizer=soft, lr=lr, momentum=beta, alpha_sign=alpha_sign, steps=K, sign_iters=n_sign, seeds=S,
        f_signum_final=float(f_sig.mean()), f_soft_final=float(f_soft.mean()),
        gap_at_switch=float((f_sw_sig.log() - f_sw_soft.log()).abs().max()),
        signum_plateau_ratio=float((f_sig / f_sw_sig).mean()), soft_decrease_ratio=float((f_soft / f_sw_soft).mean()),
        predicted_signum_floor=floor, signum_floor_ratio=float(f_sig.mean()) / floor,
        f_signum_half_lr_final=float(f_half.mean()), floor_lr_scaling=float(f_sig.mean() / f_half.mean()),
        schedule_tau=taus,
    )


# ---------------------------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------------------------
register(Check(
    "softsign.r1_one_step[tanh]", SOURCE + ", protocol §7.4", "DER", "upper",
    "f(θ⁺) ≤ f(θ) − (δ/τ)V*(τ∇f) + (δτ/μ)‖m − ∇f‖² at every step (τ = 18, δ = 0.05, τδ ≤ μ/L)",
    partial(r1_violation),
))
for _kind in ("algebraic", "euclidean"):
    register(Check(
        f"softsign.r1_one_step[{_kind}]", SOURCE + ", protocol §7.4; §6.2", "DER", "upper",
        f"R1 with the {_kind} V (μ = 1): f(θ⁺) ≤ f(θ) − (δ/τ)V*(τ∇f) + (δτ/μ)‖m − ∇f‖² (τ = 18, δ = 0.05)",
        partial(r1_violation, kind=_kind),
    ))
register(Check(
    "softsign.r1_one_step[tau_sweep]", SOURCE + ", protocol §7.4 sweep", "DER", "upper",
    "R1 for τ ∈ {0.1, 1, 10, 18} × {tanh, algebraic, Euclidean} × β ∈ {0, 0.9} (never violated); "
    "τ = 100 (τδ > μ/L) reported, not judged",
    partial(r1_tau_sweep),
))
for _prob in ("quadratic", "logistic"):
    register(Check(
        f"softsign.r2_deterministic[{_prob}]", SOURCE_R2 + "; §7.4", "DER", "upper",
        f"(1/K)Σ V*(τ∇f(θ_k)) ≤ τΔ/(δK) with m = ∇f, τδ = 0.9μ/L, three V, {_prob}; max LHS/bound",
        partial(r2_deterministic, problem=_prob),
    ))
register(Check(
    "softsign.r2_stochastic", SOURCE_R2 + "; §7.4", "DER", "upper",
    "(1/K)Σ E V*(τ∇f(θ_k)) ≤ τΔ/(δK) + τ²σ²/μ with m = g (Gaussian noise), worst of three V",
    partial(r2_stochastic),
))
register(Check(
    "softsign.r3_momentum", SOURCE_R3 + "; §7.4", "DER", "upper",
    "EMA momentum: (1/K)ΣE V*(τ∇f) ≤ τΔ/(δK) + (τ²/μ)[σ²/((1−β)K) + β²L²δ²R²/(1−β)² + (1−β)σ²], R = √n",
    partial(r3_momentum),
))
register(Check(
    "softsign.trajectory_limit[tau_to_infinity]", SOURCE_LIM, "DER", "upper",
    "SoftSignum at fixed τ follows Signum as τ → ∞: |θ_soft − θ_signum| ≤ δΣ2e^{−2τ|u_k|}; max ratio",
    partial(trajectory_limit, limit="infinity"),
))
register(Check(
    "softsign.trajectory_limit[tau_to_zero]", SOURCE_LIM, "DER", "upper",
    "SoftSignum at fixed τ, lr δ follows SGD-momentum with lr δτ as τ → 0: |e_t| ≤ δΣ|G|·|τb|³/3; max ratio",
    partial(trajectory_limit, limit="zero"),
))
register(Check(
    "softsign.heterogeneity", SOURCE_HET, "DER", "counterexample",
    "noisy heterogeneous quadratic: Signum stalls at an lr-sized floor, SoftSignum keeps decreasing after "
    "the transition; effect = mean log f_Signum(θ_K) − log f_SoftSignum(θ_K) > 3 s.e.",
    partial(heterogeneity),
))
