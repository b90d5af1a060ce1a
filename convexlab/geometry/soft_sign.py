r"""Soft signs: the entropic (tanh) and algebraic (x/√(1+x²)) relaxations of the sign.

Temperature convention (Softsign, arXiv 2605.31371, [SS-FW, SS-FAMILY, SS-LIMITS] [THR]): for a 1-strongly convex
V with V(0) = 0 and a temperature τ > 0 the relaxed step is

.. math::  d = \operatorname{argmax}_d \langle m, d\rangle - V(d)/τ = ∇V^*(τ m),

i.e. the geometry is ψ_τ = V/τ with ψ_τ*(m) = V*(τm)/τ and ∇ψ_τ*(m) = ∇V*(τm). Large τ is
sign-like (τ → ∞: ∇ψ_τ* → sign, ψ_τ* → ‖·‖₁); small τ is SGD-like (∇ψ_τ*(m)/τ → m, so the step
``lr·∇ψ_τ*(m)`` is SGD with step lr·τ). ψ_τ is (1/τ)-strongly convex, ψ_τ* is τ-smooth.
"""

from __future__ import annotations

import math

import torch

from convexlab import _validation as V
from convexlab.geometry.base import SeparableGeometry, inside_unit_ball

LN2 = math.log(2.0)


def log_cosh(y: torch.Tensor) -> torch.Tensor:
    r"""ln cosh(y), accurate for tiny |y| (log1p(2 sinh²(y/2))) and without overflow for large |y|
    (|y| + log1p(e^{−2|y|}) − ln 2)."""
    a = y.abs()
    small = a < 1.0
    a_small = torch.where(small, a, torch.zeros_like(a))
    s = torch.sinh(0.5 * a_small)
    inner = torch.log1p(2.0 * s * s)
    outer = a + torch.log1p(torch.exp(-2.0 * a)) - LN2
    return torch.where(small, inner, outer)


def entropic_regularizer(d: torch.Tensor) -> torch.Tensor:
    r"""V(d) = ½[(1+d)ln(1+d) + (1−d)ln(1−d)] on [−1, 1], +inf outside; V(±1) = ln 2."""
    inside = inside_unit_ball(d)
    a_in = torch.where(inside, d.abs().clamp(max=1.0), torch.zeros_like(d))
    # log1p form is accurate near 0; xlogy handles the endpoint 0·ln 0 = 0.
    near0 = 0.5 * ((1 + a_in) * torch.log1p(a_in) + (1 - a_in) * torch.log1p(-a_in.clamp(max=0.5)))
    far = 0.5 * (torch.special.xlogy(1 + a_in, 1 + a_in) + torch.special.xlogy(1 - a_in, 1 - a_in))
    val = torch.where(a_in < 0.5, near0, far)
    return torch.where(inside, val, torch.full_like(val, float("inf")))


def algebraic_regularizer(d: torch.Tensor) -> torch.Tensor:
    r"""V(d) = 1 − √(1 − d²) = d² / (1 + √(1 − d²)) on [−1, 1], +inf outside."""
    inside = inside_unit_ball(d)
    d_in = torch.where(inside, d.clamp(-1.0, 1.0), torch.zeros_like(d))
    val = d_in * d_in / (1 + torch.sqrt((1 - d_in) * (1 + d_in)))
    return torch.where(inside, val, torch.full_like(val, float("inf")))


def algebraic_conjugate(y: torch.Tensor) -> torch.Tensor:
    r"""V*(y) = √(1 + y²) − 1 = y² / (1 + √(1 + y²)) (stable for small and large y)."""
    h = torch.hypot(torch.ones_like(y), y)
    return torch.where(y.abs() < 1, y * y / (1 + h), h - 1)


def algebraic_sign(y: torch.Tensor) -> torch.Tensor:
    r"""φ(y) = y / √(1 + y²) (hypot avoids overflow of y²)."""
    return y / torch.hypot(torch.ones_like(y), y)


_KINDS = ("tanh", "algebraic")


class SoftSign(SeparableGeometry):
    r"""Temperature-controlled soft sign: ∇ψ_τ*(m) = tanh(τm) (``kind="tanh"``) or
    τm/√(1+τ²m²) (``kind="algebraic"``).

    ``kind="tanh"`` (entropic, SoftSignum): V(d) = Σ ½[(1+d)ln(1+d) + (1−d)ln(1−d)],
    V*(y) = Σ ln cosh y. ``kind="algebraic"`` (the scalar map SoftMuon lifts to singular values):
    V(d) = Σ 1 − √(1 − d²), V*(y) = Σ √(1+y²) − 1. Both V are 1-strongly convex w.r.t. ‖·‖₂ and
    ‖·‖∞ (V'' ≥ 1), so ψ_τ = V/τ is (1/τ)-strongly convex and ψ_τ* = V*(τ·)/τ is τ-smooth.
    Source: Softsign (arXiv 2605.31371) [SS-FAMILY] table and [SS-LIMITS] limits [THR statements, DER closed forms];
    the derivations are in ``proofs_checks.entropic_conjugate`` and ``proofs_checks.algebraic_conjugate``.

    Args:
        tau: temperature τ > 0, finite (large τ is sign-like, small τ SGD-like).
        kind: ``"tanh"`` or ``"algebraic"``.

    Raises:
        ValueError: if ``tau`` is not a finite number > 0 or ``kind`` is unknown.

    >>> SoftSign(3.0).direction(torch.tensor([0.4], dtype=torch.float64))
    tensor([0.8337], dtype=torch.float64)
    """

    #: the temperature of the instances the identity checks run on (middle of the sign-like /
    #: SGD-like range)
    EXAMPLE_TAU = 3.0

    @classmethod
    def examples(cls) -> dict:
        return {f"SoftSign({kind})": cls(cls.EXAMPLE_TAU, kind) for kind in _KINDS}

    def provenance_of(self, identity: str) -> str:
        """The entropic conjugate and its direction are stated by the authors [THR]; the rest is
        reconstructed [DER]."""
        if self.kind == "tanh" and identity.startswith(("conjugate", "direction")):
            return "THR"
        return self.provenance

    def cvxpy_regularizer(self, d):
        import cvxpy as cp

        if self.kind == "tanh":  # V(d) = ½[(1+d)ln(1+d) + (1−d)ln(1−d)] = −½[entr(1+d) + entr(1−d)]
            return -0.5 * cp.sum(cp.entr(1 + d) + cp.entr(1 - d)) / self.tau, [cp.abs(d) <= 1]
        return cp.sum(1 - cp.sqrt(1 - cp.square(d))) / self.tau, [cp.abs(d) <= 1]

    def __init__(self, tau: float = 1.0, kind: str = "tanh"):
        self.tau = V.positive_finite("tau", tau)
        self.kind = V.one_of("kind", kind, _KINDS)
        self.strong_convexity = 1.0 / self.tau

    # The unit-temperature pair (V, V*, ∇V*), kept separate so subclasses and checks can reuse it.
    def V(self, d):
        return entropic_regularizer(d) if self.kind == "tanh" else algebraic_regularizer(d)

    def V_star(self, y):
        return log_cosh(y) if self.kind == "tanh" else algebraic_conjugate(y)

    def grad_V_star(self, y):
        return torch.tanh(y) if self.kind == "tanh" else algebraic_sign(y)

    def elem_regularizer(self, d):
        return self.V(d) / self.tau

    def elem_conjugate(self, m):
        return self.V_star(self.tau * m) / self.tau

    def elem_direction(self, m):
        return self.grad_V_star(self.tau * m)

    def step_directions(self, ms, *, scales=None, generator=None):
        if scales is not None or self.kind != "tanh":
            return super().step_directions(ms, scales=scales, generator=generator)
        ds = torch._foreach_mul(ms, self.tau)  # tanh(τm), computed in place on the one temporary τm
        torch._foreach_tanh_(ds)
        return ds

    def add_direction_(self, xs, ms, alpha, *, scales=None, generator=None, scratch=False):
        if not scratch or scales is not None or self.kind != "tanh" or any(m.dtype != x.dtype for m, x in zip(ms, xs)):
            return super().add_direction_(xs, ms, alpha, scales=scales, generator=generator)
        torch._foreach_mul_(ms, self.tau)  # the caller's temporaries: tanh(τm) in their storage
        torch._foreach_tanh_(ms)
        torch._foreach_add_(xs, ms, alpha=alpha)

    def __repr__(self) -> str:
        return f"SoftSign(tau={self.tau:g}, kind={self.kind!r})"
