r"""The Euclidean geometry: ψ(d) = ½‖d‖², ψ* = ½‖m‖², ∇ψ* = identity (SGD)."""

from __future__ import annotations

import torch

from convexlab.geometry.base import SeparableGeometry


class Euclidean(SeparableGeometry):
    r"""ψ(d) = ½‖d‖₂², ψ*(m) = ½‖m‖₂², ∇ψ*(m) = m.

    The step ``x ← x − lr·m`` is (momentum) SGD. ψ is 1-strongly convex w.r.t. ‖·‖₂ and ψ* is
    1-smooth. Source: Softsign (arXiv 2605.31371) [SS-FAMILY], first row of the table [THR].

    >>> Euclidean().direction(torch.tensor([-2.0, 0.5]))
    tensor([-2.0000,  0.5000])
    """

    strong_convexity = 1.0

    @classmethod
    def examples(cls) -> dict:
        return {"Euclidean": cls()}

    def cvxpy_regularizer(self, d):
        import cvxpy as cp

        return 0.5 * cp.sum_squares(d), []

    def elem_regularizer(self, d):
        return 0.5 * d * d

    def elem_conjugate(self, m):
        return 0.5 * m * m

    def elem_direction(self, m):
        return m.clone()

    def step_directions(self, ms, *, scales=None, generator=None):
        if scales is None:
            return list(ms)  # ∇ψ* is the identity: m itself (aliased; see Geometry.step_directions)
        return torch._foreach_div(ms, scales)

    def add_direction_(self, xs, ms, alpha, *, scales=None, generator=None, scratch=False):
        if scales is None:
            torch._foreach_add_(xs, ms, alpha=alpha)
        else:  # x + α·m/σ in one pass, no temporary
            torch._foreach_addcdiv_(xs, ms, scales, value=alpha)

    def __repr__(self) -> str:
        return "Euclidean()"
