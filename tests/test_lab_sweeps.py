"""The pieces every lab sweep shares (convexlab.lab.sweeps): the interval over seeds, the lr grids, and
the last steps of a verdict."""

import math

import numpy as np
import pytest

from convexlab.lab import sweeps as SW


def test_interval_is_the_mean_and_the_standard_error():
    x = np.array([1.0, 2.0, 4.0])
    m, se = SW.interval(x)
    assert m == pytest.approx(7 / 3) and se == pytest.approx(np.std(x, ddof=1) / math.sqrt(3))
    assert SW.interval(x[None, :]) == (m, se)  # any shape, flattened
    m1, se1 = SW.interval([5.0])
    assert m1 == 5.0 and math.isnan(se1)


def test_lr_grids_default_given_and_refused():
    default = {"A": (1e-3, 1e-2), "B": (0.1,)}
    assert SW.lr_grids(["A"], None, default) == default
    assert SW.lr_grids(["B"], {"B": (0.5,)}, default) == {"B": (0.5,)}
    with pytest.raises(ValueError, match="lr_grids has no learning rates for 'C'"):
        SW.lr_grids(["C"], None, default)
    with pytest.raises(ValueError, match="lr must be"):
        SW.lr_grids(["A"], {"A": (1e-3, -1.0)}, default)


def test_grid_sizes():
    assert SW.grid_sizes({"lr_grids": {"A": (1, 2, 3), "B": (4, 5, 6)}}) == "3-point"
    assert SW.grid_sizes({"lr_grids": {"A": (1,), "B": (4, 5)}}) == "1–2-point"


def test_finish_verdict_notes_grid_ends_and_makes_a_reduced_run_inconclusive():
    assert SW.finish_verdict("supported", "x 1", [], False) == ("supported", "x 1")
    assert SW.finish_verdict("supported", "x 1", ["A k=1"], False) == \
        ("supported", "x 1; chosen lr at a grid end: A k=1")
    status, numbers = SW.finish_verdict("not supported", "x 1", ["d = 8"], True, what="step")
    assert status == "inconclusive"
    assert numbers == "reduced-size runs (the criterion alone gives 'not supported'): x 1; chosen step at a grid end: d = 8"
