r"""Softsign's one-step descent inequality R1 (reconstructed, Softsign spec §7.3–7.4 [DER]).

For the relaxed step θ_{k+1} = θ_k − δ·∇ψ_τ*(m_k) (ψ_τ = V/τ, here the entropic V: tanh) on an
L-smooth f with V μ-strongly convex (w.r.t. ‖·‖₂) and τδ ≤ μ/L,

    f(θ_{k+1}) ≤ f(θ_k) − (δ/τ)·V*(τ∇f(θ_k)) + (δτ/μ)·‖m_k − ∇f(θ_k)‖²,

with (δ/τ)V*(τ∇f) = δ·ψ_τ*(∇f) (V* is even). The protocol of spec §7.4: f = ½θᵀHθ,
H = diag(logspace(−3, 0, 50)) (L = 1, μ = 1), noisy gradients g = ∇f + N(0, 0.1²I), EMA momentum
β = 0.9, δ = 0.05, τ = 0.9/(Lδ) = 18, 2000 steps; the check reports the largest
f(θ_{k+1}) − RHS over steps and seeds (never positive when the inequality holds).
"""

from __future__ import annotations

from functools import partial

import torch

from convexlab.geometry import SoftSign
from convexlab.theory.registry import Check, CheckContext, CheckResult, register, upper_result

SOURCE = "Softsign (arXiv 2605.31371) §7.3 Lemma R1 (reconstructed)"
DIM, DELTA, BETA, NOISE = 50, 0.05, 0.9, 0.1


def r1_violation(ctx: CheckContext, tau: float = 0.9 / DELTA, step_geometry: SoftSign | None = None,
                 error_term: float = 1.0) -> CheckResult:
    r"""max_k f(θ_{k+1}) − RHS_k over ``ctx``-sized runs (seeds as rows). ``step_geometry`` (default
    SoftSign(τ)) is what the iteration uses; ``error_term`` scales the (δτ/μ)‖m − ∇f‖² term."""
    geo = SoftSign(tau, "tanh")
    step = step_geometry or geo
    mu, L = 1.0, 1.0
    if tau * DELTA > mu / L and step_geometry is None and error_term == 1.0:
        raise ValueError(f"R1 needs τδ ≤ μ/L, got τδ = {tau * DELTA:g}")
    S, K = ctx.size(8, 32), ctx.size(2000, 10000)
    gen = torch.Generator().manual_seed(ctx.seed + 11)
    h = torch.logspace(-3, 0, DIM, dtype=torch.float64)
    f = lambda th: 0.5 * (h * th * th).sum(-1)  # noqa: E731
    theta = torch.randn(S, DIM, generator=gen, dtype=torch.float64)
    m = torch.zeros_like(theta)
    worst = -float("inf")
    for k in range(K):
        grad = h * theta
        g = grad + NOISE * torch.randn(S, DIM, generator=gen, dtype=torch.float64)
        m = g.clone() if k == 0 else BETA * m + (1 - BETA) * g
        new = theta - DELTA * step.direction(m)
        rhs = f(theta) - DELTA * geo.conjugate(grad) + error_term * (DELTA * tau / mu) * ((m - grad) ** 2).sum(-1)
        worst = max(worst, float((f(new) - rhs).max()))
        theta = new
    # round-off: f is O(1) and summed over 50 terms; 1e-12 absolute is ~1e4 ulps
    return upper_result(worst, 0.0, slack=1e-12, tau=tau, delta=DELTA, steps=K, seeds=S)


register(Check(
    "softsign.r1_one_step[tanh]", SOURCE + ", protocol §7.4", "DER", "upper",
    "f(θ⁺) ≤ f(θ) − (δ/τ)V*(τ∇f) + (δτ/μ)‖m − ∇f‖² at every step (τ = 18, δ = 0.05, τδ ≤ μ/L)",
    partial(r1_violation),
))
