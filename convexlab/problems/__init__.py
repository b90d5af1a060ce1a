r"""Toy objectives with the constants the theorems need (f*, x*, coordinate Lipschitz vector L, D∞).

Problems are batched: a point is a tensor of shape (S, d), one row per independent run (seed),
and every method returns one value per row, so that simulations of many seeds never mix rows.
"""

from convexlab.problems.base import Problem
from convexlab.problems.nonsmooth import TwoDimensionalAbs

__all__ = ["Problem", "TwoDimensionalAbs"]
