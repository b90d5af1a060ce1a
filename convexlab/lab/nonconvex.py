r"""Small computations behind the notebooks on StoSignSGD's Figure 1 and O2NC result and on
SF-NorMuon's weight-decay placement.

Each function runs package code (:func:`convexlab.sim.simulate`, :func:`convexlab.sim.o2nc.o2nc`,
:class:`convexlab.optim.SFNorMuon`) and turns the result into the arrays a notebook plots or asserts
on; none implements an optimizer of its own.

=====================================  ===============================================================
function                               used by
=====================================  ===============================================================
:func:`curve`                          04_signsgd_fails_nonsmooth (bands over seeds)
:func:`o2nc_ladder`                    06_stosign_nonconvex_o2nc (O2NC guarantee and inequality (10)
                                       at the paper's N, K, D∞ for a ladder of ε)
:func:`spectral_ball_trace`            09_sf_normuon_weight_decay (‖z_t‖_op against the contraction
                                       bound b_t of the spectral ball, from ‖z_1‖_op = 2R)
=====================================  ===============================================================
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from convexlab import _validation as V

DT = torch.float64


def curve(res, metric: str) -> dict[str, np.ndarray]:
    r"""One metric of a :class:`~convexlab.sim.run.SimResult` as plot-ready arrays over the recorded
    steps: ``t``, ``mean`` (over seeds), ``stderr``, ``lo``/``hi`` (min and max over seeds).

    Raises:
        ValueError: ``metric`` was not recorded.
    """
    if metric not in res.metrics:
        raise ValueError(f"metric must be one of {sorted(res.metrics)}, got {metric!r}")
    rows = res.summary(metric)
    return {k: np.array([r[src] for r in rows], dtype=float)
            for k, src in (("t", "step"), ("mean", "mean"), ("stderr", "stderr"), ("lo", "min"), ("hi", "max"))}


def _mean_se(v: torch.Tensor) -> tuple[float, float]:
    n = v.numel()
    return float(v.mean()), (float(v.std(correction=1) / math.sqrt(n)) if n > 1 else 0.0)


def o2nc_ladder(eps_fractions, *, radius: float = 0.5, seeds: int = 8, seed: int = 0, problem=None,
                **o2nc_kwargs) -> list[dict]:
    r"""StoSignSGD's O2NC guarantee (App. D [P constants, R assembly], [SSG-O2NC, SSG-PROTO]) for a ladder
    of target accuracies ε = fraction·‖L‖₁.

    For each ε: δ = ε/r² ([SSG-Q9] working link between the penalty weight δ and the Goldstein
    radius r), the paper's N, K and the reconstructed D∞ from
    :func:`~convexlab.sim.o2nc.o2nc_parameters`, Alg. 12 run ``seeds`` times
    (:func:`~convexlab.sim.o2nc.o2nc`, ``learner="direct"``), and per seed, averaged over the K
    blocks (= the expectation over x̂ ~ Unif{x̄_k}):

    * ``witness``: ‖(1/N)Σ_n ∇f(x_{k,n})‖₁ + δ(1/N)Σ_n‖x_{k,n} − x̄_k‖∞² ≥ ‖∇f(x̄_k)‖^{[δ]}_{1,∞}
      (:func:`~convexlab.sim.stationarity.penalized_witness`), to compare with ε;
    * ``ineq10_lhs``: (1/K)Σ_k‖(1/N)Σ_n ∇f(x_{k,n})‖₁, to compare with ``ineq10_bound`` =
      Δf/(D∞KN) + (5 + 2√2)‖L‖₁/√N (inequality (10) [P]);
    * ``goldstein``: the exact Goldstein measure ‖∇f(x̄_k)‖^{r}_{1,∞} (separable problems only;
      reported, no conversion constant is known: [SSG-Q9]), and ``goldstein_x_hat`` at the sampled x̂ itself.

    Each quantity comes as ``<name>`` (mean over seeds) and ``<name>_se`` (its standard error).

    Args:
        eps_fractions: positive numbers, ε = fraction·‖L‖₁.
        radius: the Goldstein radius r > 0.
        seeds, seed: number of independent runs and the base seed.
        problem: default :func:`~convexlab.theory.stosignsgd_o2nc.sumabssin_problem` (Σ L_i|sin x_i|
            with the bounded sign-flip oracle); any separable vector problem with finite ``L``.
        o2nc_kwargs: passed on to :func:`~convexlab.sim.o2nc.o2nc` (its variant hooks, e.g.
            ``oracle=`` for a biased oracle or ``project=False``).

    Returns:
        one dict per ε with eps, delta, radius, N, K, D, T, the quantities above, the three
        bound terms (``descent``, ``noise``, ``spread``) and ``seconds``.

    Raises:
        ValueError: an empty ladder, a non-positive fraction or radius, or ``seeds`` < 2.
    """
    from convexlab.sim.o2nc import o2nc, o2nc_parameters
    from convexlab.sim.stationarity import goldstein_separable, penalized_witness
    from convexlab.theory.stosignsgd_o2nc import guarantee_terms, inequality10_bound, sumabssin_problem

    fractions = [V.positive_finite("eps_fractions", f) for f in (eps_fractions or [])]
    if not fractions:
        raise ValueError(f"eps_fractions must be a non-empty sequence of numbers > 0, got {eps_fractions!r}")
    r = V.positive_finite("radius", radius)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 2:
        raise ValueError(f"seeds must be an integer >= 2 (a standard error needs two runs), got {seeds!r}")
    problem = sumabssin_problem() if problem is None else problem
    L1 = float(problem.L.sum())
    delta_f = problem.delta_f(problem.start_point())
    rows = []
    for frac in fractions:
        eps = frac * L1
        p = o2nc_parameters(eps, eps / r**2, L1, delta_f)
        t0 = time.perf_counter()
        res = o2nc(problem, p.N, p.K, p.D, seeds, seed=seed, learner="direct", **o2nc_kwargs)
        K, S, d = res.block_means.shape
        witness = penalized_witness(res.block_grads, res.spread, p.delta).mean(0)  # E over x̂, per seed
        gold = goldstein_separable(problem, res.block_means.reshape(K * S, d), r).reshape(K, S).mean(0)
        row = dict(eps=eps, delta=p.delta, radius=r, N=p.N, K=p.K, D=p.D, T=p.T, seeds=S,
                   ineq10_bound=inequality10_bound(delta_f, p.D, p.K, p.N, L1), **guarantee_terms(p))
        for name, v in (("witness", witness), ("ineq10_lhs", res.grad_l1.mean(0)), ("goldstein", gold),
                        ("goldstein_x_hat", goldstein_separable(problem, res.x_hat, r))):
            row[name], row[f"{name}_se"] = _mean_se(v)
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
    return rows


def spectral_ball_trace(steps: int, *, seed: int = 0, decay_at: str = "z", row_norm: bool = False,
                        polar: str = "svd") -> dict:
    r"""‖z_t‖_op at every step of SF-NorMuon's idealized form on the noisy rank-2 factorization
    problem of SF-NorMuon [SFN-T31] [I], with the contraction bound it must stay under.

    The run of the check ``sf_normuon.spectral_ball_decay_at_z``
    (:func:`convexlab.theory.sf_normuon.ball_invariant`) for its first seed, built from that
    module's pieces: the problem (:func:`~convexlab.theory.sf_normuon.factorization_problem`), the
    instance (:func:`~convexlab.theory.sf_normuon.ball_instance`: η = 0.05, μ = 0.9, λ = 1, β = 0.9,
    no warmup, ``row_norm=False``, ``polar="svd"``), the default subject
    (:func:`~convexlab.theory.sf_normuon.sf_normuon_alg1`), the start scaled to
    ‖z_1‖_op = :data:`~convexlab.theory.sf_normuon.B_START`·R (outside the ball), the oracle noise
    stream of the check, and z read from outside (:func:`~convexlab.theory.sf_normuon.fast_iterate`).
    With decay at z, exact polar and no row scaling, z_{t+1} = (1 − ηλ)z_t + ηλ·(−R·polar(M_t)), so
    ‖z_t‖_op ≤ b_t with b_1 = ‖z_1‖_op, b_{t+1} = (1 − ηλ)b_t + ηλR, R = 0.2√max(m, n)/λ
    [I, exact]: b_t contracts from 2R to R like (1 − ηλ)^t.

    Args:
        steps: number of steps T ≥ 1.
        seed: the check's seed (the instance's optimizer seed and the oracle noise stream).
        decay_at, row_norm, polar: SFNorMuon switches replacing the instance's (the broken variants:
            ``decay_at="x"``, ``row_norm=True``, ``polar="ns5"``); the bound stays the statement's.

    Returns:
        dict with ``t`` (1..T+1), ``z_op`` (numpy, ‖z_t‖_op; z_1 the start), ``bound`` (numpy, b_t),
        ``radius`` R, ``start_op`` ‖z_1‖_op = 2R and ``excess`` = max over t ≥ 2 of ‖z_t‖_op − b_t
        (the check's statistic for this seed; ≤ 0 up to round-off when the statement holds).

    Raises:
        ValueError: ``steps`` < 1 (and SFNorMuon's own errors for bad switches).
    """
    from convexlab.problems.matrix import spectral_norm
    from convexlab.theory import sf_normuon as C
    from convexlab.theory.registry import CheckContext

    V.integer("steps", steps, 1)
    prob = C.factorization_problem()
    R = C.ball_radius(prob.shape, C.B_LAM)
    gen = CheckContext(seed=seed).generator(401)  # the check's oracle stream (its first seed)
    start = prob.start_point().clone()
    start *= C.B_START * R / float(spectral_norm(start))
    w = torch.nn.Parameter(start)
    problem = C.ball_instance(prob, seed)
    opt = C.sf_normuon_alg1([w], problem, weight_decay_at=decay_at, row_norm=row_norm, polar=polar)
    shrink = problem.lr * problem.weight_decay
    z_op, bound = np.empty(steps + 1), np.empty(steps + 1)
    z_op[0] = bound[0] = float(spectral_norm(C.fast_iterate(opt, w, problem.sf_beta)))
    for t in range(1, steps + 1):
        w.grad = prob.oracle(w.detach().unsqueeze(0), gen)[0]
        opt.step()
        z_op[t] = float(spectral_norm(C.fast_iterate(opt, w, problem.sf_beta)))
        bound[t] = (1.0 - shrink) * bound[t - 1] + shrink * R
    return dict(t=np.arange(1, steps + 2), z_op=z_op, bound=bound, radius=R, start_op=float(z_op[0]),
                excess=float((z_op[1:] - bound[1:]).max()))
