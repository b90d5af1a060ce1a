r"""The problem interface shared by the simulator and the theory checks."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Problem:
    r"""A convex (or not) objective on a box, with the constants of the theorems.

    Attributes:
        dim: d.
        L: coordinate-wise bounds on the (stochastic) subgradients, |g_i| ≤ L_i (tensor (d,)).
        low, high: the box X = Π [low_i, high_i]; D∞ = max_i (high_i − low_i).
        f_star: min_X f.
        x_star: a minimiser (tensor (d,)).
    """

    dim: int
    L: torch.Tensor
    low: torch.Tensor
    high: torch.Tensor
    f_star: float
    x_star: torch.Tensor

    @property
    def D_inf(self) -> float:
        """ℓ∞ diameter of the box, sup_{x,y∈X} ‖x − y‖∞."""
        return float((self.high - self.low).max())

    @property
    def box(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.low, self.high

    def f(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Objective at each row of x (shape (S, d)) → (S,)."""
        raise NotImplementedError

    def subgradient(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """A subgradient at each row of x (shape (S, d)) → (S, d)."""
        raise NotImplementedError
