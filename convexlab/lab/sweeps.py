r"""What every lab sweep shares: the interval over seeds, the lr grids it checks, and the last steps
of a verdict (the grid-end note, the reduced-size rule).

The lab's sweeps (:mod:`.imbalance`, :mod:`.charlm`, :mod:`.graphs`, :mod:`.cnn`,
:mod:`.sign_conversion`) tune an lr per method on a validation split, run ≥ 3 seeds and judge a
claim by a rule fixed before the run [D]. An interval is mean ± 3 s.e. over seeds (s.e. = sample
standard deviation / √n); a FAST-mode run records *inconclusive* whatever the rule gives, and says
what the rule gave.
"""

from __future__ import annotations

import math

import numpy as np

from convexlab import _validation as V


def interval(x) -> tuple[float, float]:
    """(mean, standard error) of the values of ``x`` (any shape, flattened); the s.e. is NaN for one value."""
    x = np.asarray(x, dtype=float).ravel()
    n = x.size
    return float(x.mean()), (float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan)


def lr_grids(names, given: dict | None, default: dict) -> dict:
    """The lr grid of every method in ``names``: ``given`` (else ``default``); a method without a grid or a
    non-positive lr is a ``ValueError`` naming it."""
    grids = dict(default if given is None else given)
    for name in names:
        grid = grids.get(name)
        if not grid:
            raise ValueError(f"lr_grids has no learning rates for {name!r}; got {given!r}")
        for lr in grid:
            V.positive_finite("lr", lr)
    return grids


def grid_sizes(result: dict) -> str:
    """"3-point" or "1–2-point": the lengths of the lr grids of a sweep result (its ``lr_grids``)."""
    n = sorted({len(g) for g in result["lr_grids"].values()})
    return f"{n[0]}-point" if len(n) == 1 else f"{n[0]}–{n[-1]}-point"


def finish_verdict(status: str, numbers: str, edge, reduced: bool, what: str = "lr") -> tuple[str, str]:
    """The last steps of every sweep verdict: note the cells whose chosen ``what`` (lr, step) sits at an end
    of its grid, and in a reduced-size (FAST) run record *inconclusive* with what the rule gave."""
    if edge:
        numbers += f"; chosen {what} at a grid end: {', '.join(edge)}"
    if reduced:
        numbers = f"reduced-size runs (the criterion alone gives {status!r}): " + numbers
        status = "inconclusive"
    return status, numbers


def names(arg: str, values, allowed) -> tuple:
    """``values`` as a tuple of at least one name, each one of ``allowed``; else a ``ValueError`` naming ``arg``."""
    values = tuple(values)
    allowed = tuple(allowed)
    if not values:
        raise ValueError(f"{arg} must name at least one of {allowed!r}, got ()")
    for v in values:
        V.one_of(arg, v, allowed)
    return values


def difference(values, run: tuple, name: str, baseline: str, what: str = "optimizer") -> np.ndarray:
    """``values[name] − values[baseline]`` along the first axis, whose entries are the names in ``run`` (per
    seed, so that the two share seeds: a paired difference); a name that was not run is a ``ValueError``."""
    for n in (name, baseline):
        if n not in run:
            raise ValueError(f"{what} {n!r} was not run; the sweep ran {tuple(run)!r}")
    return np.asarray(values[run.index(name)]) - np.asarray(values[run.index(baseline)])


def train_step(opt, loss) -> bool:
    """One optimizer step on ``loss`` (zero_grad, backward, step); False, with nothing stepped, when the run has
    diverged: a non-finite loss, or a finite loss whose gradient overflows (the optimizer's
    :class:`~convexlab.optim.NonFiniteGradientError`). A sweep scores a diverged run as its worst value."""
    import torch

    from convexlab.optim import NonFiniteGradientError

    if not torch.isfinite(loss):
        return False
    opt.zero_grad(set_to_none=True)
    loss.backward()
    try:
        opt.step()
    except NonFiniteGradientError:
        return False
    return True
