r"""Stationarity measures of StoSignSGD's non-convex theory in the (ℓ1 dual, ℓ∞ primal) pair
([SSG-DEF2, SSG-PROTO]; [SSG-Q9] keeps the two δ's apart).

* Goldstein-type measure (Definition 2 [R]) with **radius** r:

      ‖∇f(x)‖^{r}_{1,∞} = min{ ‖v‖₁ : v ∈ conv(∪_{‖y − x‖∞ ≤ r} ∂f(y)) }.

  For a separable f(x) = Σ_i φ_i(x_i) the ℓ∞ ball is a product of intervals and the convex hull is
  the product of the per-coordinate hulls, so the measure is exact:
  Σ_i dist(0, conv{φ_i'(u) : |u − x_i| ≤ r}) (:func:`goldstein_separable`).

* Penalized measure (Definition 3 [R; form forced by the P proof term 2δN²D∞²]) with **penalty
  weight** λ (the paper's δ, here ``lam_pen``):

      ‖∇f(x)‖^{[λ]}_{1,∞} = inf_{y random, E y = x} ‖E ∇f(y)‖₁ + λ E‖y − x‖∞².

  Any witness distribution bounds the infimum from above; the O2NC proof uses y uniform on a
  block's iterates, whose mean is the block average x̄_k (:func:`penalized_witness`).

The working link between the two ([SSG-Q9] [R]) is λ = ε/r²; the exact conversion constant
(App. D.2) was not recovered.
"""

from __future__ import annotations


import torch

from convexlab import _validation as V
from convexlab.problems.nonconvex import interval_distance_to_zero


def _radius(radius) -> float:
    return V.nonnegative_finite("radius", radius)


def _lam(lam_pen) -> float:
    return V.nonnegative_finite("lam_pen", lam_pen)


def goldstein_separable(problem, x: torch.Tensor, radius: float) -> torch.Tensor:
    r"""The exact Goldstein measure ‖∇f(x)‖^{r}_{1,∞} of a separable problem at each row of x
    (StoSignSGD [SSG-PROTO], last row): Σ_i dist(0, conv{φ_i'(u) : |u − x_i| ≤ r}).

    Args:
        problem: a separable problem with ``derivative_range(x, radius) -> (lo, hi)``, the
            per-coordinate hulls of the derivative sets (e.g.
            :class:`~convexlab.problems.nonconvex.SumAbsSin`).
        x: points, shape (S, d).
        radius: r ≥ 0 (the Goldstein radius; r = 0 gives dist(0, ∂f(x)) in ℓ1, coordinatewise).

    Returns:
        shape (S,).

    Raises:
        ValueError: a negative or non-finite ``radius``, or a problem without ``derivative_range``.
    """
    r = _radius(radius)
    if not hasattr(problem, "derivative_range"):
        raise ValueError(f"problem must be separable with a derivative_range method, got {type(problem).__name__}")
    x = V.tensor("x", x, min_ndim=2)
    lo, hi = problem.derivative_range(x, r)
    return interval_distance_to_zero(lo, hi).sum(-1)


def penalized_witness(block_grads: torch.Tensor, spread: torch.Tensor, lam_pen: float) -> torch.Tensor:
    r"""The witness upper bound of the penalized measure at a block average (StoSignSGD [SSG-PROTO]):

        ‖(1/N) Σ_n ∇f(x_{k,n})‖₁ + λ (1/N) Σ_n ‖x_{k,n} − x̄_k‖∞²  ≥  ‖∇f(x̄_k)‖^{[λ]}_{1,∞},

    y uniform on the block's iterates being a witness (E y = x̄_k).

    Args:
        block_grads: (1/N) Σ_n ∇f(x_{k,n}), shape (..., d) (e.g. ``O2NCResult.block_grads``).
        spread: (1/N) Σ_n ‖x_{k,n} − x̄_k‖∞², shape (...) (e.g. ``O2NCResult.spread``).
        lam_pen: the penalty weight λ ≥ 0 (the paper's δ of ‖·‖^{[δ]}; not a radius, [SSG-Q9]).

    Returns:
        shape (...).
    """
    lam = _lam(lam_pen)
    block_grads = V.tensor("block_grads", block_grads, min_ndim=1)
    spread = V.tensor("spread", spread)
    if tuple(spread.shape) != tuple(block_grads.shape[:-1]):
        raise ValueError(f"spread must have shape {tuple(block_grads.shape[:-1])} (block_grads without its last "
                         f"axis), got {tuple(spread.shape)}")
    return block_grads.abs().sum(-1) + lam * spread


def uniform_witness(points: torch.Tensor, grads: torch.Tensor, lam_pen: float) -> torch.Tensor:
    r"""The same witness bound from the raw points: y uniform on ``points`` (shape (N, S, d)) with
    gradients ``grads`` (same shape), at the centre x̄ = mean of the points; shape (S,)."""
    points = V.tensor("points", points, min_ndim=2)
    grads = V.tensor("grads", grads, min_ndim=2)
    V.same_shape("points", points, "grads", grads)
    centre = points.mean(0)
    spread = (points - centre).abs().amax(-1).square().mean(0)
    return penalized_witness(grads.mean(0), spread, lam_pen)
