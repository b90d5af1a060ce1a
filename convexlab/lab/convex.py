r"""Small computations behind the notebook on StoSignSGD's convex guarantees (Theorem 4 and Theorem 1).

Each function runs package code (:func:`convexlab.sim.simulate`, :func:`convexlab.sim.online.run_online`,
the problems, games and optimizer factories of :mod:`convexlab.theory.stosignsgd_convex`) and turns
the result into the arrays the notebook plots and asserts on; none implements an optimizer.

=====================================  ===============================================================
function                               used by
=====================================  ===============================================================
:func:`theorem4_curves`                05_stosign_convex_rate (E f(x̄_t) − f* against √2·D∞‖L‖₁/√t)
:func:`rate_runs`                      05_stosign_convex_rate (the rate exponent on SignGame from
                                       separate runs, at a chosen ladder of horizons)
:func:`online_curves`                  05_stosign_convex_rate (regret and pseudo-regret against the
                                       Theorem-1 bounds, along the rounds of one game)
=====================================  ===============================================================

**Prefixes of one anytime run.** Alg. 1's step η_t = D∞/√(2t) does not depend on the horizon and
x̄_t = (1/t)Σ_{s≤t} x_s uses only x_1 … x_t, so the first t steps of a T-step run *are* a t-step run
of Theorem 4: one run gives a valid sample of E f(x̄_t) − f* at every t ≤ T (StoSignSGD, arXiv
2604.15416, Theorem 4, [SSG-T4] [P]). The same holds for the online games (an adaptive adversary
reacts to the past only; an oblivious one draws its sequence in order). The points of one curve are
correlated across t: fine for comparing each with its bound, not for a regression, which is why
the rate exponent is fitted on separate runs (:func:`convexlab.theory.stosignsgd_convex.rate_exponent`).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from convexlab import _validation as V

__all__ = ["theorem4_curves", "rate_runs", "online_curves"]


def _count(name: str, value, minimum: int) -> int:
    return V.integer(name, value, minimum)


def _record(record, steps: int) -> list[int]:
    from convexlab.sim.run import log_steps

    rec = log_steps(steps) if record is None else sorted(set(int(r) for r in record))
    if not rec or rec[0] < 1 or rec[-1] > steps:
        raise ValueError(f"record must be non-empty steps in [1, {steps}], got {record!r}")
    return rec


def theorem4_curves(names=None, *, steps: int = 2000, seeds: int = 16, seed: int = 0, noise=None,
                    make: Callable | None = None, record=None) -> dict[str, dict]:
    r"""E f(x̄_t) − f* along one anytime run of Alg. 1 per problem, with the Theorem-4 bound.

    Theorem 4 (StoSignSGD, arXiv 2604.15416, [SSG-T4] [P]): with η_t = D∞/√(2t) on a box and an
    oracle with |g̃_i| ≤ L_i a.s., E f(x̄_t) − f* ≤ √2·D∞‖L‖₁/√t for every t (module docstring:
    every prefix of the run is a t-step run).

    Args:
        names: keys of :data:`convexlab.theory.stosignsgd_convex.PROBLEMS` (default: all five).
        steps, seeds, seed: horizon, number of independent runs, base seed (as in the registered
            ``stosignsgd.theorem4[...]`` checks, whose value is the last point here at equal sizes).
        noise: the oracle noise (default: each check's own oracle), must be bounded.
        make: ``make(problem, seed)`` → optimizer factory (default Alg. 1,
            :func:`~convexlab.theory.stosignsgd.stosign_anytime`); the tests pass broken variants.
        record: the steps to record (default log-spaced 1 … steps).

    Returns:
        name → dict of arrays ``t``, ``mean``, ``stderr`` (over seeds), ``bound`` and ``ratio``
        (mean/bound), and the scalars ``worst`` = max_t (mean − 3·stderr)/bound (> 1 is a violation
        under the 3-stderr rule), ``ratio_T``, ``L1`` (the oracle's ‖L‖₁), ``D_inf``, ``d``.

    Raises:
        ValueError: an unknown problem name, bad sizes or record steps, or an unbounded oracle.
    """
    from convexlab.sim import simulate
    from convexlab.theory.stosignsgd import stosign_anytime, theorem4_bound
    from convexlab.theory.stosignsgd_convex import PROBLEMS

    names = list(PROBLEMS) if names is None else list(names)
    for n in names:
        V.one_of("names", n, tuple(PROBLEMS))
    steps, seeds = _count("steps", steps, 1), _count("seeds", seeds, 2)
    rec = _record(record, steps)
    make = stosign_anytime if make is None else make
    out = {}
    for n in names:
        problem = PROBLEMS[n](noise)
        if not bool(torch.isfinite(problem.oracle_L).all()):
            raise ValueError(f"noise must keep the oracle bounded (|g̃_i| ≤ L_i a.s., Theorem 4), got {noise!r}")
        res = simulate(problem, make(problem, seed), steps, seeds, record=rec, seed=seed)
        rows = res.summary("gap_avg")
        t = np.array([r["step"] for r in rows], dtype=float)
        mean = np.array([r["mean"] for r in rows])
        se = np.array([r["stderr"] for r in rows])
        bound = np.array([theorem4_bound(problem, int(s)) for s in t])
        out[n] = dict(t=t, mean=mean, stderr=se, bound=bound, ratio=mean / bound,
                      worst=float(((mean - 3 * se) / bound).max()), ratio_T=float(mean[-1] / bound[-1]),
                      L1=float(problem.oracle_L.sum()), D_inf=problem.D_inf, d=problem.dim)
    return out


def rate_runs(horizons, seeds: int, *, seed: int = 0, make: Callable | None = None) -> dict:
    r"""The rate-exponent protocol of ``stosignsgd.theorem4_rate_exponent`` at a chosen ladder of horizons.

    On :func:`~convexlab.theory.stosignsgd_convex.rate_problem` (SignGame, d = 4, q = 1/2, sign-flip
    oracle) one *separate* run of Alg. 1 per horizon T_k (``seeds`` runs each, base seed
    ``1000·seed + k`` as in the check), then the check's weighted fit
    log E[f(x̄_T) − f*] = log A + p·log T + b·T^{−1/2}
    (:func:`~convexlab.theory.stosignsgd_convex.weighted_fit`); Theorem 4 (StoSignSGD, arXiv
    2604.15416, [SSG-T4, SSG-LB] [P]) and its minimax lower bound say p = −1/2. With the check's horizons
    and seeds this reproduces :func:`~convexlab.theory.stosignsgd_convex.rate_exponent` exactly;
    the notebook's FAST mode uses a shorter ladder with more seeds (the cost is per step, not per
    seed).

    Args:
        horizons: increasing integers ≥ 1 (at least 4: the fit has 3 parameters).
        seeds: independent runs per horizon (≥ 2); seed: the base seed.
        make: ``make(problem, T, seed)`` → optimizer factory (default Alg. 1 with
            η_t = D∞/√(2t); the tests pass the broken decays of
            :func:`~convexlab.theory.stosignsgd_convex.power_decay`).

    Returns:
        dict with arrays ``T``, ``gap``, ``stderr``, ``bound`` (√2·D∞‖L‖₁/√T), ``ratio`` (gap/bound),
        ``fit`` and ``plain`` (:func:`weighted_fit` with and without the b/√T term), the slope ``p``,
        its ``p_stderr`` and ``passed`` (p ± 3·stderr contains −1/2, the check's rule).

    Raises:
        ValueError: fewer than 4 horizons, horizons not increasing positive integers, or ``seeds`` < 2.
    """
    from convexlab.sim import simulate
    from convexlab.theory.stosignsgd import theorem4_bound
    from convexlab.theory.stosignsgd_convex import anytime_for_horizon, rate_problem, weighted_fit

    T = list(horizons) if horizons is not None else []
    if len(T) < 4 or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in T) or T != sorted(set(T)):
        raise ValueError(f"horizons must be at least 4 increasing integers >= 1, got {horizons!r}")
    seeds = _count("seeds", seeds, 2)
    make = anytime_for_horizon if make is None else make
    problem = rate_problem()
    gap, se = [], []
    for k, h in enumerate(T):
        s = seed * 1000 + k  # independent runs: one seed per horizon (the check's convention)
        m, e = simulate(problem, make(problem, h, s), h, seeds, record=[h], seed=s).final("avg")
        gap.append(m)
        se.append(e)
    T_arr, gap, se = np.array(T, dtype=float), np.array(gap), np.array(se)
    bound = np.array([theorem4_bound(problem, h) for h in T])
    out = dict(T=T_arr, gap=gap, stderr=se, bound=bound, ratio=gap / bound, fit=None, plain=None, p=math.nan,
               p_stderr=math.nan, passed=False)
    if bool((gap > 0).all() and (se > 0).all()):  # else no log fit: the verdict stays "not passed"
        fit, plain = weighted_fit(T_arr, gap, se), weighted_fit(T_arr, gap, se, correction=False)
        passed = abs(fit["slope"] + 0.5) <= 3 * fit["stderr"]
        out.update(fit=fit, plain=plain, p=fit["slope"], p_stderr=fit["stderr"], passed=bool(passed))
    return out


class _PrefixTap:
    r"""A linear game that forwards every call to ``game`` and, at the rounds in ``record``, keeps
    the running totals Σ_{s≤t}⟨c_s, x_s⟩ and Σ_{s≤t} c_s per run (the learner's plays x_t are the
    ones :func:`~convexlab.sim.online.run_online` hands to ``loss``)."""

    def __init__(self, game, record):
        self.game, self.want = game, set(record)
        self.reset()

    def __getattr__(self, name):  # dim, box, D_inf, dtype, adaptive, L, ... of the wrapped game
        return getattr(self.__dict__["game"], name)

    def reset(self) -> None:
        self.game.reset()
        self.learner, self.snapshots = None, {}

    def loss(self, t, x, past_sum):
        c = self.game.loss(t, x, past_sum)
        step = (c * x).sum(-1)
        self.learner = step if self.learner is None else self.learner + step
        if t in self.want:
            self.snapshots[t] = (self.learner.clone(), past_sum + c)
        return c

    def __repr__(self) -> str:
        return repr(self.game)


def online_curves(adversary: str, *, steps: int = 2000, seeds: int = 32, seed: int = 0, mode: str = "stochastic",
                  record=None) -> dict:
    r"""Regret and pseudo-regret of Alg. 1 along one online game, with the Theorem-1 bounds.

    Theorem 1 (StoSignSGD, arXiv 2604.15416, App. C.3, [SSG-T1, SSG-Q10] [R, constants P]) with
    η_t = D∞/√(2t) on the box [−D∞/2, D∞/2]^d and |c_{t,i}| ≤ L_i:

    * E[Σ_{s≤t}⟨c_s, x_s⟩ + (D∞/2)‖Σ_{s≤t} c_s‖₁] ≤ (2 + √2)·D∞‖L‖₁√t (realized best comparator);
    * max_x E[Σ_{s≤t}⟨c_s, x_s − x⟩] ≤ √2·D∞‖L‖₁√t (pseudo-regret; the plug-in estimate of
      :meth:`~convexlab.sim.online.OnlineResult.pseudo_regret`, biased upwards).

    Every prefix of the game is a t-round game of the same kind (module docstring).

    Args:
        adversary: a key of :data:`convexlab.theory.stosignsgd_convex.ADVERSARIES` ("adaptive",
            "oblivious").
        steps, seeds, seed: rounds, independent runs, seed of the game and of the learner (as in
            the registered ``stosignsgd.theorem1_*`` checks: equal sizes give their values at t = T).
        mode: "stochastic" (Alg. 1) or "deterministic_sign" (signSGD with the same step and box:
            the contrast whose regret grows linearly).
        record: the rounds to record (default log-spaced 1 … steps).

    Returns:
        dict of arrays ``t``, ``regret``/``regret_se``, ``pseudo``/``pseudo_se`` (mean over runs and
        standard error), ``bound_regret``, ``bound_pseudo``, and the scalars ``worst_regret``,
        ``worst_pseudo`` = max_t (mean − 3·stderr)/bound, ``ratio_regret_T``, ``ratio_pseudo_T``,
        ``L1``, ``D_inf``, ``adaptive``.

    Raises:
        ValueError: an unknown adversary or mode, bad sizes or record steps.
    """
    from convexlab.sim.online import OnlineResult, run_online
    from convexlab.theory.stosignsgd_convex import ADVERSARIES, stosign_online, theorem1_bounds

    V.one_of("adversary", adversary, tuple(ADVERSARIES))
    V.one_of("mode", mode, ("stochastic", "deterministic_sign"))
    steps, seeds = _count("steps", steps, 1), _count("seeds", seeds, 2)
    rec = _record(record, steps)
    game = ADVERSARIES[adversary](seed)
    tap = _PrefixTap(game, rec)
    run_online(tap, stosign_online(mode)(game, seed), steps, seeds, record=rec)
    cols = {k: [] for k in ("regret", "regret_se", "pseudo", "pseudo_se", "bound_regret", "bound_pseudo")}
    for t in rec:
        learner, total = tap.snapshots[t]
        part = OnlineResult(t, game.D_inf, learner, total)
        (r, r_se), (p, p_se, _) = part.regret(), part.pseudo_regret()
        b_r, b_p = theorem1_bounds(game, t)
        for k, v in zip(cols, (r, r_se, p, p_se, b_r, b_p)):
            cols[k].append(v)
    out = {k: np.array(v, dtype=float) for k, v in cols.items()}
    out["t"] = np.array(rec, dtype=float)
    out["worst_regret"] = float(((out["regret"] - 3 * out["regret_se"]) / out["bound_regret"]).max())
    out["worst_pseudo"] = float(((out["pseudo"] - 3 * out["pseudo_se"]) / out["bound_pseudo"]).max())
    out["ratio_regret_T"] = float(out["regret"][-1] / out["bound_regret"][-1])
    out["ratio_pseudo_T"] = float(out["pseudo"][-1] / out["bound_pseudo"][-1])
    out.update(L1=float(game.L.sum()), D_inf=game.D_inf, adaptive=bool(game.adaptive))
    return out
