r"""Toy objectives with the constants the theorems need (f*, x*, coordinate Lipschitz vector L, D∞,
smoothness, Δf) and stochastic oracles with a chosen noise model.

Problems are batched: a point is a tensor of shape (S, *shape), one row per independent run (seed),
and every method returns one value per row, so that simulations of many seeds never mix rows.
"""

from convexlab.problems.base import Problem, cached_solution
from convexlab.problems.noise import NOISE_MODELS, Exact, Gaussian, HeavyTailed, NoiseModel, SignFlip
from convexlab.problems.nonsmooth import TwoDimensionalAbs
from convexlab.problems.smooth import HeterogeneousQuadratic, LogisticRegression
from convexlab.problems.matrix import MatrixFactorization, MatrixLeastSquares
from convexlab.problems.nonconvex import ReLUNetL1, SumAbsSin
from convexlab.problems.parametric import CoupledAbs

__all__ = ["Problem", "cached_solution", "NoiseModel", "NOISE_MODELS", "Exact", "Gaussian", "SignFlip",
           "HeavyTailed", "TwoDimensionalAbs", "HeterogeneousQuadratic", "LogisticRegression",
           "MatrixLeastSquares", "MatrixFactorization", "SumAbsSin", "ReLUNetL1", "CoupledAbs"]
