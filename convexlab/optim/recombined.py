r"""Recombinations: optimizers made of existing parts, each a short class and one registry line.

The core (:mod:`convexlab.optim.base`) composes a momentum part, a geometry and an iterate rule;
a new combination declares its parts and touches nothing else:

* :class:`NesterovStoSignSGD`: StoSignSGD's stochastic sign on Nesterov's look-ahead;
* :data:`SFLion`: Lion under the schedule-free iterate rule;
* :class:`AlgebraicSoftSignum`: the per-coordinate algebraic soft sign with EMA momentum (the
  relaxed step of Softsign [SS-ASSUME] with V(d) = 1 − √(1 − d²); SoftMuon applies the same scalar map
  to singular values).
"""

from __future__ import annotations

from convexlab import _validation as V
from convexlab.geometry import SoftSign
from convexlab.optim.base import ComposedOptimizer
from convexlab.optim.general import StoSignSGD
from convexlab.optim.momentum import EMA, Nesterov, NoMomentum
from convexlab.optim.schedule_free import schedule_free
from convexlab.optim.sign import Lion


class NesterovStoSignSGD(StoSignSGD):
    r"""StoSignSGD (Alg. 3) on Nesterov's look-ahead u_t = (1 − β1) g_t + β1 m_t::

        m_t = β1 m_{t−1} + (1 − β1) g_t  (m_1 = g_1);   u_t = (1 − β1) g_t + β1 m_t
        G_t = max(β2 G_{t−1}, |u_t|);   x_{t+1} = x_t − η sign(u_t + G_t ⊙ n_t) − ηλ x_t

    The envelope tracks |u| itself, so |u| ≤ G and the step is an unbiased 1-bit estimate of η u/G
    (StoSignSGD Prop. 1). A recombination (not a paper algorithm): the momentum part is
    ``Nesterov(EMA)``, everything else is :class:`~convexlab.optim.StoSignSGD`'s.
    """

    def momentum(self, group):
        return Nesterov(EMA(("betas", 0), first="g1"))


#: Lion (Chen et al. 2023) under the schedule-free iterate rule (Defazio et al. 2024): the direction
#: sign(β1 m + (1 − β1) g) taken at y, averaged into x. A recombination (not a paper algorithm).
SFLion = schedule_free(Lion, "SFLion")


class AlgebraicSoftSignum(ComposedOptimizer):
    r"""x ← x − δ·∇V*(τ m) per coordinate with the algebraic V: ∇V*(y) = y/√(1 + y²) (Softsign [SS-ASSUME]
    relaxed step, [SS-THM] [reconstructed]); m_k = β m_{k−1} + (1 − β) g_k, m_1 = g_1 (β = 0: m = g).

    Geometry ``SoftSign(tau, "algebraic")``: ψ_τ = V/τ with V(d) = Σ 1 − √(1 − d²), ψ_τ* = Σ (√(1 + τ²m²) − 1)/τ;
    τ → ∞ is Signum, τ → 0 is momentum SGD with step δτ. A fixed temperature (no schedule). The
    default subject of the algebraic-V checks of :mod:`convexlab.theory.softsign`.

    Args:
        lr: δ ≥ 0. tau: τ > 0, finite. momentum: β ∈ [0, 1). weight_decay: λ ≥ 0 (decoupled).
    """

    coordinatewise = True

    def __init__(self, params, lr: float = 1e-3, tau: float = 1.0, momentum: float = 0.0, weight_decay: float = 0.0,
                 **kw):
        V.positive_finite("tau", tau)
        V.beta("momentum", momentum)
        super().__init__(params, dict(lr=lr, tau=tau, momentum=momentum, weight_decay=weight_decay), **kw)

    def _validate_group(self, group):
        super()._validate_group(group)
        V.positive_finite("tau", group["tau"])
        V.beta("momentum", group["momentum"])

    def momentum(self, group):
        return EMA("momentum", first="g1") if group["momentum"] else NoMomentum()

    def geometry(self, group):
        return SoftSign(group["tau"], "algebraic")


__all__ = ["NesterovStoSignSGD", "SFLion", "AlgebraicSoftSignum"]
