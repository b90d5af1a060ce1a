r"""The online (OCO) driver: a registry optimizer against a linear loss sequence, S runs as rows.

At round t every run s plays its current iterate x_t^{(s)}, the loss sequence reveals
c_t^{(s)} (an adaptive one sees x_t and its own past sums), the learner suffers ⟨c_t, x_t⟩ and the
optimizer steps with ``.grad = c_t`` (the subgradient of a linear loss). Two regrets are returned
(StoSignSGD Theorem 1, [SSG-T1, SSG-Q10]):

* **realized regret** against the best comparator in hindsight of each run, on the box
  X = [−D∞/2, D∞/2]^d::

      Regret_T^{(s)} = Σ_t ⟨c_t, x_t⟩ − min_{x∈X} ⟨Σ_t c_t, x⟩ = Σ_t ⟨c_t, x_t⟩ + (D∞/2)‖Σ_t c_t‖₁,

  whose mean over runs estimates E[Regret_T(x̃_T)] with the random comparator x̃_T (exact per run);

* **pseudo-regret** max_{x∈X} E[Σ_t ⟨c_t, x_t − x⟩], the comparator fixed before the coins are
  tossed. For a fixed x the expectation is linear in x:
  E Σ_t⟨c_t, x_t − x⟩ = E Σ_t⟨c_t, x_t⟩ − ⟨E Σ_t c_t, x⟩, maximised over the box at the vertex
  x̂ = −(D∞/2)·sign(E Σ_t c_t), with value E Σ_t⟨c_t, x_t⟩ + (D∞/2)‖E Σ_t c_t‖₁. We replace E by the
  mean over runs: x̂ from the mean of Σ_t c_t, and the estimate is the mean over runs of
  r_s = Σ_t⟨c_t^{(s)}, x_t^{(s)} − x̂⟩ (its standard error treats x̂ as fixed). Because the sample
  maximum over vertices is at least the value at the true maximiser, the estimate is biased
  *upwards* (by Jensen, E‖mean‖₁ ≥ ‖E‖₁): conservative for an upper-bound check.

The optimizer must be coordinate-wise (``optimizer.coordinatewise``: every statistic per entry), so
the S runs can be the rows of one parameter without mixing; StoSignSGD.theory is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch

from convexlab import _validation as V
from convexlab.problems.online import LinearLosses


@dataclass
class OnlineResult:
    r"""Per-run totals of one game (rows = runs).

    Attributes:
        T: the number of rounds; D_inf: the box's ℓ∞ diameter.
        learner_loss: Σ_t ⟨c_t, x_t⟩ per run, shape (S,).
        loss_sum: Σ_t c_t per run, shape (S, d).
        steps, regret_curve: realized regret at the recorded rounds, shape (len(steps), S).
    """

    T: int
    D_inf: float
    learner_loss: torch.Tensor
    loss_sum: torch.Tensor
    steps: list[int] = field(default_factory=list)
    regret_curve: torch.Tensor | None = None
    meta: dict = field(default_factory=dict)

    @property
    def seeds(self) -> int:
        return self.learner_loss.numel()

    @property
    def realized_regret(self) -> torch.Tensor:
        r"""Σ_t⟨c_t, x_t⟩ + (D∞/2)‖Σ_t c_t‖₁ per run (against that run's best comparator), (S,)."""
        return self.learner_loss + self.D_inf / 2 * self.loss_sum.abs().sum(-1)

    def regret(self) -> tuple[float, float]:
        """Mean over runs of the realized regret and its standard error."""
        return _mean_se(self.realized_regret)

    def pseudo_regret(self) -> tuple[float, float, torch.Tensor]:
        r"""(estimate, standard error, x̂) of max_x E[Σ_t⟨c_t, x_t − x⟩] (module docstring)."""
        x_hat = -self.D_inf / 2 * torch.sign(self.loss_sum.mean(0))
        r = self.learner_loss - self.loss_sum @ x_hat
        mean, se = _mean_se(r)
        return mean, se, x_hat


def _mean_se(v: torch.Tensor) -> tuple[float, float]:
    n = v.numel()
    se = float(v.std(correction=1) / math.sqrt(n)) if n > 1 else 0.0
    return float(v.mean()), se


def run_online(losses: LinearLosses, make_optimizer: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer],
               T: int, seeds: int, x0: torch.Tensor | None = None, record: list[int] | None = None) -> OnlineResult:
    r"""Play ``T`` rounds of ``losses`` with ``seeds`` independent runs of ``make_optimizer(params)``.

    x_1 = ``x0`` (default: the box centre 0) in every run; the optimizer should project on
    ``losses.box`` (e.g. ``StoSignSGD.theory(ps, diameter=losses.D_inf, box=losses.box, seed=...)``).
    ``losses.reset()`` is called first, so a game replays identically for the same seeds. The
    largest distance of a play outside the box is ``meta["box_violation"]`` (0 for a projected
    learner; Theorem 1 assumes plays in the box).

    Raises:
        ValueError: non-positive ``T``/``seeds``, an ``x0`` of the wrong shape or outside the box, a
            ``record`` step outside [1, T], or an optimizer that is not coordinate-wise.
    """
    T, seeds = V.integer("T", T, 1), V.integer("seeds", seeds, 1)
    low, high = losses.box
    x0 = torch.zeros(losses.dim, dtype=losses.dtype) if x0 is None else torch.as_tensor(x0, dtype=losses.dtype)
    if tuple(x0.shape) != (losses.dim,):
        raise ValueError(f"x0 must have shape ({losses.dim},), got {tuple(x0.shape)}")
    if not bool(((x0 >= low) & (x0 <= high)).all()):
        raise ValueError(f"x0 must lie in the box [−{losses.D_inf / 2:g}, {losses.D_inf / 2:g}]^d")
    record = sorted(set(record or [T]))
    if record[0] < 1 or record[-1] > T:
        raise ValueError(f"record steps must lie in [1, {T}], got {record[0]}..{record[-1]}")
    x = torch.nn.Parameter(x0.expand(seeds, losses.dim).clone())
    opt = make_optimizer([x])
    if not getattr(opt, "coordinatewise", False):
        raise ValueError("the optimizer must be coordinate-wise (runs are rows of one tensor), "
                         f"got {type(opt).__name__}")
    losses.reset()
    violation = torch.zeros((), dtype=losses.dtype)
    learner = torch.zeros(seeds, dtype=losses.dtype)
    total = torch.zeros(seeds, losses.dim, dtype=losses.dtype)
    want, curve = set(record), []
    with torch.no_grad():
        for t in range(1, T + 1):
            xt = x.detach()
            if t > 1:  # x_1 = x0 was validated; later plays are the optimizer's
                violation = torch.maximum(violation, torch.maximum((low - xt).amax(), (xt - high).amax()))
            c = losses.loss(t, xt, total)
            learner += (c * xt).sum(-1)
            total += c
            if t in want:
                curve.append(learner + losses.D_inf / 2 * total.abs().sum(-1))
            x.grad = c
            opt.step()
    return OnlineResult(T, losses.D_inf, learner, total, record, torch.stack(curve),
                        meta=dict(losses=repr(losses), optimizer=type(opt).__name__, adaptive=losses.adaptive,
                                  box_violation=float(violation.clamp_min(0.0))))
