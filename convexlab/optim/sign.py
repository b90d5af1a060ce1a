r"""The deterministic sign family: SignSGD, Signum (StoSignSGD Alg. 5) and Lion.

Geometry: ``Sign()`` — ψ the indicator of the ℓ∞ unit ball, ψ* = ‖·‖₁, ∇ψ* = sign (the LMO of the
ℓ∞ ball); every coordinate moves by exactly lr (sign(0) = 0).
"""

from __future__ import annotations


from convexlab import _validation as V
from convexlab.geometry import Sign
from convexlab.optim.base import ComposedOptimizer
from convexlab.optim.momentum import EMA, LionInterpolation, NoMomentum


class Signum(ComposedOptimizer):
    r"""Signum with decoupled weight decay (StoSignSGD Alg. 5, "practical SignSGD" [P];
    Bernstein et al. 2018)::

        m_t = β m_{t−1} + (1 − β) g_t   (m_1 = g_1)
        x_{t+1} = x_t − η sign(m_t) − η λ x_t

    β = 0 is signSGD (:class:`SignSGD`). Geometry ``Sign()``.

    Args:
        lr: η ≥ 0. momentum: β ∈ [0, 1). weight_decay: λ ≥ 0 (decoupled).

    >>> import torch
    >>> w = torch.nn.Parameter(torch.zeros(2)); opt = Signum([w], lr=0.5)
    >>> w.grad = torch.tensor([3.0, -1e-8]); _ = opt.step(); w.tolist()
    [-0.5, 0.5]
    """

    coordinatewise = True

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.9, weight_decay: float = 0.0, **kw):
        V.beta("momentum", momentum)
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay), **kw)

    def _validate_group(self, group):
        super()._validate_group(group)
        V.beta("momentum", group["momentum"])

    def momentum(self, group):
        """:class:`~convexlab.optim.momentum.EMA` with m₁ = g₁ (β > 0) or none (β = 0)."""
        return EMA("momentum", first="g1") if group["momentum"] else NoMomentum()

    def geometry(self, group):
        return Sign()


class SignSGD(Signum):
    r"""signSGD: x_{t+1} = x_t − η sign(g_t) − ηλx_t (Signum with β = 0). Geometry ``Sign()``."""

    def __init__(self, params, lr: float = 1e-3, weight_decay: float = 0.0, **kw):
        super().__init__(params, lr=lr, momentum=0.0, weight_decay=weight_decay, **kw)


class Lion(ComposedOptimizer):
    r"""Lion (Chen et al. 2023, "Symbolic discovery of optimization algorithms"; a baseline of the
    StoSignSGD FP8 runs [S])::

        c_t = β1 m_{t−1} + (1 − β1) g_t;   x_{t+1} = x_t − η (sign(c_t) + λ x_t);   m_t = β2 m_{t−1} + (1 − β2) g_t

    with m_0 = 0. Geometry ``Sign()`` at the interpolation c_t.
    """

    coordinatewise = True

    def __init__(self, params, lr: float = 1e-4, betas=(0.9, 0.99), weight_decay: float = 0.0, **kw):
        V.betas("betas", betas)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay), **kw)

    def _validate_group(self, group):
        super()._validate_group(group)
        V.betas("betas", group["betas"])

    def momentum(self, group):
        """:class:`~convexlab.optim.momentum.LionInterpolation` on ``betas``."""
        return LionInterpolation("betas")

    def geometry(self, group):
        return Sign()
