"""The shared argument validators: accepted values pass through, everything else is a ValueError naming the argument."""

import math

import pytest

from convexlab import _validation as V


def test_nonnegative_finite():
    assert V.nonnegative_finite("r", 0) == 0.0 and V.nonnegative_finite("r", 2.5) == 2.5
    for bad in (-1e-9, math.inf, math.nan, True, "1", None):
        with pytest.raises(ValueError, match=r"^r must be a finite number >= 0, got"):
            V.nonnegative_finite("r", bad)


def test_int_at_least():
    assert V.int_at_least("steps", 3, 1) == 3 and V.int_at_least("seed", 0, 0) == 0
    for bad in (0, 1.0, True, "2", None):
        with pytest.raises(ValueError, match=r"^steps must be an integer >= 1, got"):
            V.int_at_least("steps", bad, 1)
