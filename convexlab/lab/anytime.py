r"""Anytime training: one schedule-free run against cosine schedules tuned per horizon.

SF-NorMuon (Apte et al., arXiv 2605.23061) abstract and Fig. 1 [P]: a schedule-free optimizer
with **one** configuration, run once and evaluated at its x iterate at 1×, 2×, 4×, 8× of a base
horizon, matches or beats AdamW whose learning rate and cosine schedule are tuned for each
horizon separately (SF-NorMuon [SFN-BASELINES, SFN-RESULTS, SFN-PLAN]: lr sweep per horizon [DEV]; anytime evaluations of x [I]).

This module is the toy version of that protocol (SF-NorMuon [SFN-PLAN] [I], scaled down to a convex
problem, so the comparison is about the iterate rule and the schedule, not the network):

* the objective (:class:`NoisyQuadratic`): f(x) = ½ (x − x*)ᵀ H (x − x*), f* = 0, with H = Q diag(λ) Qᵀ
  (eigenvalues log-spaced from 1 down to 1/``cond``, Q a seeded random rotation) and the
  stochastic gradient g = H(x − x*) + σ ξ, ξ ~ N(0, I). Losses reported are f(x) − f* = f(x);
* the scheduled baseline (:func:`run_cosine`): AdamW with linear warmup over ``warmup`` steps
  then cosine decay to 0 at the horizon, one run per (lr, horizon);
* the anytime method (:func:`run_schedule_free`): :class:`convexlab.optim.SFAdamW` (same warmup,
  no schedule), evaluated at x (``opt.evaluating()``) at every checkpoint of one long run;
* :func:`anytime_comparison`: tune the cosine lr per horizon on the lr grid (mean final loss over
  seeds), tune SF's single lr **once, at the base horizon** on the same grid, run SF once to the
  longest horizon, and report SF's loss over the tuned cosine loss at every horizon.

Independent seeds are the rows of one (S, d) parameter (both optimizers are coordinate-wise, so
rows never interact), and every lr of a sweep is its own param group: one optimizer step advances
the whole sweep.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from convexlab import _validation as V
from convexlab.optim import AdamW, SFAdamW


def _int(name, value, minimum):
    return V.integer(name, value, minimum)


def _pos(name, value):
    return V.positive_finite(name, value)


def _lrs(lrs):
    lrs = [lrs] if isinstance(lrs, (int, float)) else list(lrs)
    if not lrs:
        raise ValueError("lrs must hold at least one learning rate, got an empty sequence")
    return [_pos("lrs", lr) for lr in lrs]


@dataclass(frozen=True)
class NoisyQuadratic:
    r"""f(x) = ½ (x − x*)ᵀ H (x − x*) with the oracle g = H(x − x*) + σ ξ (module docstring).

    Batched: ``x`` has shape (S, d) (S independent runs); :meth:`loss` returns (S,).
    Build one with :func:`noisy_quadratic`.
    """

    H: torch.Tensor
    x_star: torch.Tensor
    sigma: float
    x0: torch.Tensor

    @property
    def dim(self) -> int:
        return self.x_star.numel()

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        r = x - self.x_star
        return 0.5 * ((r @ self.H) * r).sum(-1)

    def noise(self, seeds: int, gen: torch.Generator) -> torch.Tensor:
        """One draw of ξ ~ N(0, I) for ``seeds`` runs, shape (seeds, d)."""
        return torch.randn((seeds, self.dim), generator=gen, dtype=self.x_star.dtype)

    def grad(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The stochastic gradient H(x − x*) + σ ξ for the draw ``noise`` = ξ."""
        return (x - self.x_star) @ self.H + self.sigma * noise


def noisy_quadratic(dim: int = 20, cond: float = 100.0, sigma: float = 0.1, seed: int = 0) -> NoisyQuadratic:
    r"""The seeded toy objective: H = Q diag(λ) Qᵀ, λ_i = cond^(−i/(d−1)) (so λ_max = 1, λ_min = 1/cond),
    Q from the QR factorization of a Gaussian matrix, x* ~ N(0, I/d)·√d (entries of size 1),
    x0 = 0, noise scale ``sigma`` (float64)."""
    _int("dim", dim, 1)
    if _pos("cond", cond) < 1:
        raise ValueError(f"cond must be a number >= 1, got {cond!r}")
    V.nonnegative_finite("sigma", sigma)
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=gen, dtype=torch.float64))
    lam = cond ** (-torch.arange(dim, dtype=torch.float64) / max(dim - 1, 1))
    H = (q * lam) @ q.T
    x_star = torch.randn(dim, generator=gen, dtype=torch.float64)
    return NoisyQuadratic(0.5 * (H + H.T), x_star, float(sigma), torch.zeros(dim, dtype=torch.float64))


def cosine_factor(step: int, horizon: int, warmup: int = 0) -> float:
    r"""The lr multiplier of step ``step`` (1-based) of a ``horizon``-step run: step/warmup during the
    linear warmup, then ½(1 + cos(π (step − warmup)/(horizon − warmup))), which reaches 0 at the horizon."""
    if step <= warmup:
        return step / warmup
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(horizon - warmup, 1)))


def _params(problem, n_lr, seeds):
    return [torch.nn.Parameter(problem.x0.expand(seeds, -1).clone()) for _ in range(n_lr)]


def _eval_steps(every, last, extra=()):
    return sorted(set(range(every, last + 1, every)) | {last} | {int(e) for e in extra if 1 <= e <= last})


def run_cosine(problem: NoisyQuadratic, lrs, horizon: int, *, seeds: int = 8, warmup: int = 0, eval_every: int = 10,
               betas=(0.9, 0.99), seed: int = 0) -> tuple[list[int], torch.Tensor]:
    r"""AdamW with warmup + cosine to 0 at ``horizon``, for every lr of ``lrs`` and ``seeds`` seeds.

    Returns ``(steps, loss)``: the evaluated steps (every ``eval_every`` and the horizon) and the
    losses f(x_t), shape (len(steps), len(lrs), seeds). Common random numbers: step t's noise ξ_t
    (one (seeds, d) draw from a generator seeded with ``seed``) is the same for every lr, for every
    horizon and for :func:`run_schedule_free`, so that comparisons are paired.
    """
    lrs = _lrs(lrs)
    _int("horizon", horizon, 1), _int("seeds", seeds, 1), _int("warmup", warmup, 0), _int("eval_every", eval_every, 1)
    params = _params(problem, len(lrs), seeds)
    opt = AdamW([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)], betas=betas, eps=1e-8, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    steps, out = _eval_steps(eval_every, horizon), []
    for t in range(1, horizon + 1):
        xi = problem.noise(seeds, gen)  # common random numbers: every lr sees the same noise
        for p in params:
            p.grad = problem.grad(p.detach(), xi)
        for group, lr in zip(opt.param_groups, lrs):
            group["lr"] = lr * cosine_factor(t, horizon, warmup)
        opt.step()
        if t in steps:
            out.append(torch.stack([problem.loss(p.detach()) for p in params]))
    return steps, torch.stack(out)


def run_schedule_free(problem: NoisyQuadratic, lrs, steps: int, *, seeds: int = 8, warmup: int = 0,
                      eval_every: int = 10, betas=(0.9, 0.99), seed: int = 0, checkpoints=()) -> tuple[list[int], torch.Tensor]:
    r"""SFAdamW (β = ``betas[0]``, β2 = ``betas[1]``, linear warmup, no schedule) for every lr of ``lrs``.

    Returns ``(steps, loss)`` like :func:`run_cosine`, with the loss taken at the schedule-free x
    iterate (inside ``opt.evaluating()``), at every ``eval_every`` steps, at the steps in
    ``checkpoints`` and at the last step.
    """
    lrs = _lrs(lrs)
    _int("steps", steps, 1), _int("seeds", seeds, 1), _int("warmup", warmup, 0), _int("eval_every", eval_every, 1)
    params = _params(problem, len(lrs), seeds)
    opt = SFAdamW([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)], betas=betas, eps=1e-8, weight_decay=0.0,
                  warmup_steps=warmup)
    gen = torch.Generator().manual_seed(seed)
    at, out = _eval_steps(eval_every, steps, checkpoints), []
    for t in range(1, steps + 1):
        xi = problem.noise(seeds, gen)
        for p in params:
            p.grad = problem.grad(p.detach(), xi)
        opt.step()
        if t in at:
            with opt.evaluating():
                out.append(torch.stack([problem.loss(p.detach()) for p in params]))
    return at, torch.stack(out)


@dataclass
class AnytimeResult:
    r"""The outcome of :func:`anytime_comparison` (losses are means over seeds).

    ``sf_steps``/``sf_curve``: SF's x-loss along its single run; ``sf_final[h]``: SF at horizon h
    (mean, stderr); ``cosine[h]``: dict with ``lr`` (tuned), ``steps``, ``curve``, ``final`` (mean,
    stderr), ``sweep`` (lr → mean final loss); ``ratio[h]`` = SF loss / tuned cosine loss;
    ``edge[h]``: True when the tuned cosine lr sits on the edge of the grid (the grid may be too
    narrow there).
    """

    horizons: list[int]
    lr_grid: list[float]
    sf_lr: float
    sf_sweep: dict
    sf_steps: list[int]
    sf_curve: list[float]
    sf_final: dict = field(default_factory=dict)
    cosine: dict = field(default_factory=dict)
    ratio: dict = field(default_factory=dict)
    edge: dict = field(default_factory=dict)

    @property
    def worst_ratio(self) -> float:
        return max(self.ratio.values())


def _mean_se(x):
    return float(x.mean()), float(x.std() / math.sqrt(x.numel())) if x.numel() > 1 else 0.0


def anytime_comparison(problem: NoisyQuadratic, base_horizon: int = 200, multiples=(1, 2, 4, 8), lr_grid=None, *,
                       seeds: int = 8, warmup_frac: float = 0.1, evals_per_base: int = 20, seed: int = 0,
                       sf_lr: float | None = None) -> AnytimeResult:
    r"""Schedule-free with one configuration against AdamW + cosine tuned per horizon (module docstring).

    Horizons are ``base_horizon × multiples``; every run (SF and cosine, every horizon) uses the same
    warmup of ``round(warmup_frac·base_horizon)`` steps (SF-NorMuon [SFN-PLAN]: one warmup for all horizons
    [I]). The cosine lr is chosen per horizon as the grid point with the lowest mean final loss;
    SF's lr is ``sf_lr`` if given, else the grid point with the lowest mean x-loss of an SF run of
    ``base_horizon`` steps (tuned once at 1×, never at the longer horizons). Then one SF run of the
    longest horizon is evaluated at x every ``base_horizon // evals_per_base`` steps.
    Default grid: 3e−3·2^k, k = 0..6.
    """
    _int("base_horizon", base_horizon, 2)
    multiples = [_int("multiples", m, 1) for m in multiples]
    if not multiples:
        raise ValueError("multiples must hold at least one horizon multiple, got an empty sequence")
    grid = _lrs(lr_grid if lr_grid is not None else [3e-3 * 2**k for k in range(7)])
    _pos("warmup_frac", warmup_frac)
    if warmup_frac >= 1:
        raise ValueError(f"warmup_frac must be in (0, 1), got {warmup_frac!r}")
    warmup = max(1, round(warmup_frac * base_horizon))
    every = max(1, base_horizon // _int("evals_per_base", evals_per_base, 1))
    horizons = [base_horizon * m for m in sorted(set(multiples))]
    kw = dict(seeds=seeds, warmup=warmup, seed=seed)
    sf_sweep = {}
    if sf_lr is None:
        _, tune = run_schedule_free(problem, grid, base_horizon, eval_every=base_horizon, **kw)
        sf_sweep = {lr: float(v) for lr, v in zip(grid, tune[-1].mean(-1))}
        sf_lr = min(sf_sweep, key=sf_sweep.get)
    sf_steps, sf_loss = run_schedule_free(problem, _pos("sf_lr", sf_lr), horizons[-1], eval_every=every,
                                          checkpoints=horizons, **kw)
    sf_loss = sf_loss[:, 0]
    res = AnytimeResult(horizons, grid, sf_lr, sf_sweep, sf_steps, [float(v) for v in sf_loss.mean(-1)])
    for h in horizons:
        steps, loss = run_cosine(problem, grid, h, eval_every=every, **kw)
        finals = loss[-1].mean(-1)
        best = int(finals.argmin())
        res.cosine[h] = {"lr": grid[best], "steps": steps, "curve": [float(v) for v in loss[:, best].mean(-1)],
                         "final": _mean_se(loss[-1, best]), "sweep": {lr: float(v) for lr, v in zip(grid, finals)}}
        res.edge[h] = best in (0, len(grid) - 1)
        res.sf_final[h] = _mean_se(sf_loss[sf_steps.index(h)])
        res.ratio[h] = res.sf_final[h][0] / res.cosine[h]["final"][0]
    return res
