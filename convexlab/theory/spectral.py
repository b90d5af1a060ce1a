r"""Spectral conjugacy checks: the lifted geometries against independent matrix formulas.

Softsign (arXiv 2605.31371) [SS-FAMILY] [THR: the spectral family; DER: the closed forms] and [SS-PHI, SS-IDCHECKS] (item 5)
[3P/DER: Φ_τ by SVD = by eigh = by the push-through form]. For a unitarily invariant ψ = g∘σ the
conjugate is g*∘σ (Lewis 1996). The checks compare ``Spectral(g)``, which works through the SVD,
with formulas that never take an SVD: matrix square roots, cosh and log of the Gram matrix
(scipy.linalg), the eigh-based inverse roots of :mod:`convexlab.linalg`, and ``g`` itself on
diagonal matrices.
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import Callable

import numpy as np
import scipy.linalg as sla
import torch

from convexlab.geometry import Clip, Euclidean, Geometry, Sign, SoftSign, Spectral
from convexlab.linalg import soft_polar
from convexlab.theory.registry import Check, CheckContext, CheckResult, identity_result, register

SOURCE = "Softsign (arXiv 2605.31371) [SS-FAMILY], [SS-IDCHECKS]"
DT = torch.float64
TAU = 3.0


def _small_gram(M: np.ndarray) -> np.ndarray:
    return M @ M.T if M.shape[0] <= M.shape[1] else M.T @ M


def _sqrtm(A: np.ndarray) -> np.ndarray:
    return np.real(sla.sqrtm(A))


# Closed matrix formulas for ψ*(M) that use no SVD (scipy matrix functions of the Gram matrix).
def nuclear_norm_formula(M: np.ndarray) -> float:
    return float(np.trace(_sqrtm(_small_gram(M))))


def frobenius_formula(M: np.ndarray) -> float:
    return 0.5 * float(np.sum(M * M))


def algebraic_formula(M: np.ndarray, tau: float = TAU) -> float:
    G = _small_gram(M)
    eye = np.eye(G.shape[0])
    return float(np.trace(_sqrtm(eye + tau**2 * G) - eye)) / tau


def tanh_formula(M: np.ndarray, tau: float = TAU) -> float:
    root = _sqrtm(_small_gram(M))
    with warnings.catch_warnings():
        # scipy warns when its own error estimate exceeds ~1e-13; the check's tolerance is 1e-9
        warnings.filterwarnings("ignore", message="logm result may be inaccurate", category=RuntimeWarning)
        return float(np.trace(np.real(sla.logm(sla.coshm(tau * root))))) / tau


MATRIX_FORMULAS: dict[str, tuple[Geometry, Callable[[np.ndarray], float], str]] = {
    "Sign": (Spectral(Sign()), nuclear_norm_formula, "‖M‖_* = tr((MMᵀ)^{1/2})"),
    "Euclidean": (Spectral(Euclidean()), frobenius_formula, "½‖M‖_F²"),
    "SoftSign(algebraic)": (Spectral(SoftSign(TAU, "algebraic")), algebraic_formula, "tr((I + τ²MMᵀ)^{1/2} − I)/τ"),
    "SoftSign(tanh)": (Spectral(SoftSign(TAU, "tanh")), tanh_formula, "tr(ln cosh(τ(MMᵀ)^{1/2}))/τ"),
}


def _matrices(ctx: CheckContext) -> list[torch.Tensor]:
    gen = ctx.generator(31)
    n = ctx.size(3, 12)
    shapes = [(5, 7), (7, 5), (6, 6)]
    return [torch.randn(s, generator=gen, dtype=DT) * 0.7 for s in shapes for _ in range(n)]


def conjugate_matches_matrix_formula(geo: Geometry, formula: Callable[[np.ndarray], float], ctx: CheckContext) -> CheckResult:
    r"""max relative |ψ*(M) − formula(M)| over random tall, wide and square M."""
    errs = []
    for M in _matrices(ctx):
        ref = formula(M.numpy())
        errs.append(abs(geo.conjugate(M).item() - ref) / (1 + abs(ref)))
    return identity_result(max(errs), 0.0, 1e-9, n_matrices=len(errs))


def diagonal_agreement(g: Geometry, ctx: CheckContext, lift: Callable[[Geometry], Geometry] = Spectral) -> CheckResult:
    r"""On D = diag(m) the lift equals the scalar geometry: ψ, ψ* and ∇ψ* (max abs difference)."""
    gen = ctx.generator(32)
    m = torch.randn(ctx.size(16, 128), 6, generator=gen, dtype=DT) * 2
    S = lift(g)
    diag = torch.diag_embed
    d = g.direction(m)
    errs = [
        (S.conjugate(diag(m)) - g.conjugate(m)).abs().max().item(),
        (S.direction(diag(m)) - diag(d)).abs().max().item(),
    ]
    r_lift, r_g = S.regularizer(diag(d)), g.regularizer(d)
    finite = torch.isfinite(r_g)
    errs.append((r_lift[finite] - r_g[finite]).abs().max().item() if finite.any() else 0.0)
    if not torch.equal(torch.isfinite(r_lift), finite):
        errs.append(float("inf"))
    return identity_result(max(errs), 0.0, 1e-10, conjugate_err=errs[0], direction_err=errs[1])


def soft_polar_forms(direction: Callable[[torch.Tensor, float], torch.Tensor], ctx: CheckContext) -> CheckResult:
    r"""Φ_τ(M) from ``direction`` (default: the SVD lift of the algebraic soft sign) equals
    M(MᵀM + τ⁻²I)^{−1/2} (eigh) and (MMᵀ + τ⁻²I)^{−1/2}M (push-through), τ ∈ {0.1, 1, 30, 1e4}."""
    gen = ctx.generator(33)
    worst = 0.0
    for shape in [(3, 6, 4), (3, 4, 6), (3, 5, 5)]:
        M = torch.randn(shape, generator=gen, dtype=DT)
        for tau in (0.1, 1.0, 30.0, 1e4):
            ref = direction(M, tau)
            for method in ("eigh", "push_through"):
                worst = max(worst, (ref - soft_polar(M, tau, method=method)).abs().max().item())
    return identity_result(worst, 0.0, 1e-10)


def _lift_direction(M: torch.Tensor, tau: float) -> torch.Tensor:
    return Spectral(SoftSign(tau, "algebraic")).direction(M)


def _register():
    for label, (geo, formula, text) in MATRIX_FORMULAS.items():
        register(Check(
            f"spectral.conjugate_matrix_formula[{label}]", SOURCE, "DER", "identity",
            f"Spectral ψ*(M) (via SVD) = {text} (scipy matrix functions, no SVD); {geo!r}",
            partial(conjugate_matches_matrix_formula, geo, formula),
        ))
    for g in (Euclidean(), Sign(), Clip(), SoftSign(TAU, "tanh"), SoftSign(TAU, "algebraic")):
        register(Check(
            f"spectral.diagonal[{g!r}]", SOURCE, "DER", "identity",
            "on diagonal matrices Spectral(g) equals g (ψ, ψ*, ∇ψ*)",
            partial(diagonal_agreement, g),
        ))
    register(Check(
        "spectral.soft_polar_forms", "Softsign (arXiv 2605.31371) [SS-PHI], [SS-IDCHECKS]", "DER", "identity",
        "Φ_τ by SVD = M(MᵀM + τ⁻²I)^{-1/2} by eigh = push-through (MMᵀ + τ⁻²I)^{-1/2}M",
        partial(soft_polar_forms, _lift_direction),
    ))


_register()
