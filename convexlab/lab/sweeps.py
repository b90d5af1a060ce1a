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
