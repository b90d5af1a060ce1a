r"""Sign and clip geometries: the ℓ∞ ball and the Huber pair."""

from __future__ import annotations

import torch

from convexlab.geometry.base import SeparableGeometry, indicator_box


class Sign(SeparableGeometry):
    r"""ψ(d) = indicator of the ℓ∞ unit ball, ψ*(m) = ‖m‖₁, ∇ψ*(m) = sign(m).

    The step ``x ← x − lr·sign(m)`` is signSGD / Signum / Lion (the LMO of the ℓ∞ ball).
    ψ is not strongly convex (``strong_convexity = None``); ψ* is not smooth. ``sign(0) = 0``
    (torch's convention), a valid element of the subdifferential of |·| at 0.
    Source: Softsign (arXiv 2605.31371) [SS-FAMILY] [THR]; StoSignSGD (arXiv 2604.15416) §2.3 [P].

    >>> Sign().direction(torch.tensor([-2.0, 0.0, 0.5]))
    tensor([-1.,  0.,  1.])
    """

    @classmethod
    def examples(cls) -> dict:
        return {"Sign": cls()}

    def cvxpy_regularizer(self, d):
        import cvxpy as cp

        return 0, [cp.abs(d) <= 1]

    strong_convexity = None

    def elem_regularizer(self, d):
        return indicator_box(d)

    def elem_conjugate(self, m):
        return m.abs()

    def elem_direction(self, m):
        return torch.sign(m)

    def step_directions(self, ms, *, scales=None, generator=None):
        # sign(m/σ) = sign(m) for σ > 0: the scale changes nothing
        return torch._foreach_sign(ms)

    def add_direction_(self, xs, ms, alpha, *, scales=None, generator=None, scratch=False):
        if not scratch or any(m.dtype != x.dtype for m, x in zip(ms, xs)):
            return super().add_direction_(xs, ms, alpha, scales=scales, generator=generator)
        torch._foreach_sign_(ms)  # the caller's temporaries: no new full-size tensor
        torch._foreach_add_(xs, ms, alpha=alpha)

    def __repr__(self) -> str:
        return "Sign()"


def huber(y: torch.Tensor) -> torch.Tensor:
    r"""h(y) = y²/2 for |y| ≤ 1, |y| − ½ otherwise (elementwise)."""
    a = y.abs()
    return torch.where(a <= 1, 0.5 * y * y, a - 0.5)


class Clip(SeparableGeometry):
    r"""ψ(d) = ½‖d‖₂² on the ℓ∞ unit ball (+inf outside), ψ* = Σ Huber(m_i), ∇ψ* = clip(m, −1, 1).

    Hard gradient clipping as a geometry; ψ is 1-strongly convex, ψ* 1-smooth.
    Source: Softsign (arXiv 2605.31371) [SS-FAMILY], last row of the table [DER].

    >>> Clip().direction(torch.tensor([-2.0, 0.5]))
    tensor([-1.0000,  0.5000])
    """

    @classmethod
    def examples(cls) -> dict:
        return {"Clip": cls()}

    def cvxpy_regularizer(self, d):
        import cvxpy as cp

        return 0.5 * cp.sum_squares(d), [cp.abs(d) <= 1]

    strong_convexity = 1.0

    def elem_regularizer(self, d):
        return 0.5 * d * d + indicator_box(d)

    def elem_conjugate(self, m):
        return huber(m)

    def elem_direction(self, m):
        return m.clamp(-1.0, 1.0)

    def step_directions(self, ms, *, scales=None, generator=None):
        ds = list(ms) if scales is None else torch._foreach_div(ms, scales)
        return torch._foreach_clamp_max(torch._foreach_clamp_min(ds, -1.0), 1.0)

    def __repr__(self) -> str:
        return "Clip()"


Huber = Clip
