r"""The batched simulator: S independent runs of one optimizer on one problem, in one tensor.

The S runs are the rows of a single parameter of shape (S, d). This is exact for coordinate-wise
optimizers (every state of the sign family, StoSignSGD's envelope, Adam's moments acts per
coordinate, so no statistic is shared between rows); matrix optimizers, whose directions mix the
coordinates of a matrix, are rejected here. The runs differ through the optimizer's noise (one
generator, different draws per row) and optionally through their start points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch

from convexlab.problems.base import Problem


@dataclass
class SimResult:
    """f(x_t) − f*, f(x̄_t) − f* (x̄_t the uniform average of x_1..x_t) and the linear regret
    Σ_{s≤t} ⟨g_s, x_s − x*⟩ at the recorded steps; each has shape (len(steps), S)."""

    steps: list[int]
    gap_last: torch.Tensor
    gap_avg: torch.Tensor
    linear_regret: torch.Tensor  # Σ_{s≤t} ⟨g_s, x_s − x*⟩, shape (len(steps), S)
    meta: dict = field(default_factory=dict)

    def rows(self) -> list[dict]:
        """Tidy rows: one per (seed, step, metric)."""
        out = []
        for i, t in enumerate(self.steps):
            for s in range(self.gap_last.shape[1]):
                out.append(dict(seed=s, step=t, metric="f(x_t)-f*", value=float(self.gap_last[i, s])))
                out.append(dict(seed=s, step=t, metric="f(xbar_t)-f*", value=float(self.gap_avg[i, s])))
                out.append(dict(seed=s, step=t, metric="linear_regret", value=float(self.linear_regret[i, s])))
        return out

    def final(self, which: str = "avg") -> tuple[float, float]:
        """Mean over seeds and its standard error at the last recorded step."""
        v = (self.gap_avg if which == "avg" else self.gap_last)[-1]
        se = float(v.std(correction=1) / math.sqrt(v.numel())) if v.numel() > 1 else 0.0
        return float(v.mean()), se


def log_steps(T: int, per_decade: int = 4) -> list[int]:
    """Roughly log-spaced steps 1..T, T included."""
    pts = {1, T}
    k = 0
    while 10 ** (k / per_decade) < T:
        pts.add(int(round(10 ** (k / per_decade))))
        k += 1
    return sorted(p for p in pts if 1 <= p <= T)


def simulate(problem: Problem, make_optimizer: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer],
             steps: int, seeds: int, x0: torch.Tensor | None = None, record: list[int] | None = None) -> SimResult:
    r"""Run ``make_optimizer([x])`` on ``problem`` for ``steps`` steps, ``seeds`` rows at once.

    x_1 = ``x0`` (default ``problem.start`` or the box centre) in every row; at step t the
    subgradient at x_t is set as the gradient and the optimizer steps to x_{t+1}. Records
    f(x_t) − f* and f(x̄_t) − f* at ``record`` (default log-spaced), x̄_t = (1/t) Σ_{s≤t} x_s.

    Raises:
        ValueError: non-positive ``steps``/``seeds``, or a matrix optimizer (it would mix rows).
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be an integer >= 1, got {seeds!r}")
    if x0 is None:
        x0 = getattr(problem, "start", None)
        if x0 is None:
            x0 = (problem.low + problem.high) / 2
    x = torch.nn.Parameter(x0.detach().to(problem.L.dtype).expand(seeds, problem.dim).clone())
    opt = make_optimizer([x])
    if getattr(opt, "matrix_only", False):
        raise ValueError(f"{type(opt).__name__} acts on whole matrices and would mix the seeds' rows; "
                         "simulate() runs coordinate-wise optimizers")
    record = sorted(set(record or log_steps(steps)))
    want = set(record)
    total = torch.zeros_like(x.detach())
    regret = torch.zeros(seeds, dtype=x.dtype)
    x_star = problem.x_star.to(x.dtype)
    last, avg, reg = [], [], []
    with torch.no_grad():
        for t in range(1, steps + 1):
            total += x
            g = problem.subgradient(x.detach())
            regret += (g * (x - x_star)).sum(-1)
            if t in want:
                last.append(problem.f(x) - problem.f_star)
                avg.append(problem.f(total / t) - problem.f_star)
                reg.append(regret.clone())
            x.grad = g
            opt.step()
    return SimResult(record, torch.stack(last), torch.stack(avg), torch.stack(reg), meta=dict(steps=steps, seeds=seeds))
