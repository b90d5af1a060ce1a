r"""Learning-rate schedules of the GPT harness: multipliers of each param group's base lr.

Every schedule is a function ``factor(step, total)`` → a multiplier in [0, 1] (the lr of step t,
counted from 0, is ``base_lr · factor(t)``):

* **warmup + cosine** (:func:`warmup_cosine`): linear warmup over W steps,
  f(t) = (t + 1)/W for t < W, then a half cosine from 1 down to the floor r (``min_ratio``) at the
  last step T − 1:  f(t) = r + (1 − r)·½(1 + cos(π·(t − W)/(T − 1 − W))).
  This is the StoSignSGD FP8 plan's shared schedule (StoSignSGD [SSG-FP8-PLAN] [D]: 2 % warmup, cosine to
  η_min = η_peak/10) and the SF-NorMuon AdamW baseline (SF-NorMuon [SFN-BASELINES] [DEV]: warmup, cosine to 0).
* **WSD** (:func:`wsd`, warmup–stable–decay): the same warmup, the constant 1, then a linear decay
  to the floor r over the last ``decay_frac``·T steps (reaches r at t = T − 1) [D].
* **constant** (:func:`constant`): the warmup, then 1. The schedule of schedule-free runs, whose
  own warmup lives inside the optimizer (``warmup_steps``; SF-NorMuon [SFN-DEFAULTS]), so the harness
  gives them the constant schedule without warmup (:func:`make_schedule` with ``warmup=0``).

Provenance: the shapes are the standard ones of nanoGPT / modded-nanoGPT [D]; nothing here is a
paper constant.
"""

from __future__ import annotations

import math
from typing import Callable

from convexlab import _validation as V

SCHEDULES = ("cosine", "wsd", "constant")


def _check(total: int, warmup: int, min_ratio: float) -> None:
    V.integer("total", total, 1)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or not 0 <= warmup <= total:
        raise ValueError(f"warmup must be an integer in [0, total={total}], got {warmup!r}")
    if isinstance(min_ratio, bool) or not isinstance(min_ratio, (int, float)) or not 0.0 <= min_ratio <= 1.0:
        raise ValueError(f"min_ratio must be a number in [0, 1], got {min_ratio!r}")


def _warm(step: int, warmup: int) -> float | None:
    """The warmup factor (t + 1)/W while t < W, else None."""
    return (step + 1) / warmup if step < warmup else None


def warmup_cosine(step: int, total: int, warmup: int = 0, min_ratio: float = 0.0) -> float:
    r"""Linear warmup then cosine to ``min_ratio`` at step ``total − 1`` (module docstring).

    >>> [round(warmup_cosine(t, 5, 1, 0.1), 4) for t in range(5)]
    [1.0, 1.0, 0.775, 0.325, 0.1]
    """
    _check(total, warmup, min_ratio)
    w = _warm(step, warmup)
    if w is not None:
        return w
    span = total - 1 - warmup
    progress = 1.0 if span <= 0 else min(1.0, (step - warmup) / span)
    # the half cosine ends at the floor on the last step, so the final update uses η_min
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def wsd(step: int, total: int, warmup: int = 0, min_ratio: float = 0.0, decay_frac: float = 0.2) -> float:
    r"""Warmup, stable at 1, then linear decay to ``min_ratio`` over the last ``decay_frac``·total steps.

    >>> [round(wsd(t, 10, 0, 0.0, 0.3), 3) for t in range(10)]
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.667, 0.333, 0.0]
    """
    _check(total, warmup, min_ratio)
    if isinstance(decay_frac, bool) or not isinstance(decay_frac, (int, float)) or not 0.0 <= decay_frac <= 1.0:
        raise ValueError(f"decay_frac must be a number in [0, 1], got {decay_frac!r}")
    w = _warm(step, warmup)
    if w is not None:
        return w
    n_decay = max(0, min(total - warmup, int(round(decay_frac * total))))
    start = total - n_decay  # the first decay step; the last step (total − 1) is at min_ratio
    if n_decay == 0 or step < start:
        return 1.0
    progress = min(1.0, (step - start + 1) / n_decay)
    return 1.0 - (1.0 - min_ratio) * progress


def constant(step: int, total: int, warmup: int = 0, min_ratio: float = 0.0) -> float:
    """Linear warmup then 1 (``min_ratio`` is accepted for a uniform signature and ignored)."""
    _check(total, warmup, min_ratio)
    w = _warm(step, warmup)
    return 1.0 if w is None else w


def make_schedule(name: str, total: int, warmup: int = 0, min_ratio: float = 0.0,
                  decay_frac: float = 0.2) -> Callable[[int], float]:
    """``step → factor`` for the schedule ``name`` (one of :data:`SCHEDULES`), arguments checked now."""
    V.one_of("schedule", name, SCHEDULES)
    _check(total, warmup, min_ratio)
    if name == "cosine":
        return lambda t: warmup_cosine(t, total, warmup, min_ratio)
    if name == "wsd":
        wsd(0, total, warmup, min_ratio, decay_frac)  # validate decay_frac now
        return lambda t: wsd(t, total, warmup, min_ratio, decay_frac)
    return lambda t: constant(t, total, warmup, min_ratio)
