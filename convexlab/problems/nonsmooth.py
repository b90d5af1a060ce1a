r"""Non-smooth convex toy problems."""

from __future__ import annotations

import torch

from convexlab.problems.base import Problem, sign_plus




class TwoDimensionalAbs(Problem):
    r"""f(x₁, x₂) = |x₁ + x₂| + 2|x₁ − x₂| on the box [−2, 2]², f* = 0 at x* = 0 (StoSignSGD,
    arXiv 2604.15416, Figure 1 [P]; box and start point [D], [SSG-FIG1]).

    With a = sign(x₁ + x₂), b = sign(x₁ − x₂) the subgradient is g = (a + 2b, a − 2b), so
    |g| ∈ {(3, 1), (1, 3)}: L = (3, 3), ‖L‖₁ = 6, D∞ = 4. Since sign(g) = b·(1, −1), every SignSGD
    step leaves x₁ + x₂ unchanged: SignSGD never gets below |x₁ + x₂| of its start [R]. The oracle
    picks sign(0) := +1 at the kinks (a valid subgradient), so SignSGD cannot escape along the
    diagonal by landing exactly on it.
    """

    def __init__(self, dtype: torch.dtype = torch.float64, noise=None):
        super().__init__((2,), 3.0, -2.0, 2.0, f_star=0.0, x_star=torch.zeros(2, dtype=dtype), noise=noise,
                         dtype=dtype)
        self.start = torch.tensor([1.0, 0.5], dtype=dtype)  # f = 2.5; SignSGD's floor |x₁ + x₂| = 1.5

    def f(self, x):
        return (x[..., 0] + x[..., 1]).abs() + 2 * (x[..., 0] - x[..., 1]).abs()

    def subgradient(self, x):
        a = sign_plus(x[..., 0] + x[..., 1])
        b = sign_plus(x[..., 0] - x[..., 1])
        return torch.stack([a + 2 * b, a - 2 * b], dim=-1)
