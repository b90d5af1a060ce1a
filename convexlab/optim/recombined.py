r"""Recombinations: optimizers made of existing parts, each a short class and one registry line.

The core (:mod:`convexlab.optim.base`) composes a momentum part, a geometry and an iterate rule;
a new combination declares its parts and touches nothing else:

* :class:`NesterovStoSignSGD`: StoSignSGD's stochastic sign on Nesterov's look-ahead;
* :data:`SFLion`: Lion under the schedule-free iterate rule;
* :class:`AlgebraicSoftSignum`: the per-coordinate algebraic soft sign with EMA momentum (the
  relaxed step of Softsign [SS-ASSUME] with V(d) = 1 − √(1 − d²); SoftMuon applies the same scalar map
  to singular values);
* :class:`SGDMomentum`: ``torch.optim.SGD`` with momentum, from the Euclidean geometry and the heavy-ball part;
* :class:`HardSwitch`: Signum's sign step for S steps, then SGD-momentum (Softsign's hard-switch baseline).
"""

from __future__ import annotations

from convexlab import _validation as V
from convexlab.geometry import Euclidean, Sign, SoftSign
from convexlab.optim.base import ComposedOptimizer, GlobalStepCounter
from convexlab.optim.general import StoSignSGD
from convexlab.optim.momentum import EMA, HeavyBall, Nesterov, NoMomentum
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





class SGDMomentum(ComposedOptimizer):
    r"""Momentum SGD, the ``torch.optim.SGD`` update, from existing parts::

        b_1 = g_1;   b_t = μ b_{t−1} + (1 − ϱ) g_t;   u_t = g_t + μ b_t (nesterov) or b_t (μ = 0: u_t = g_t)
        x_{t+1} = x_t (1 − ηλ) − η u_t

    Parts: ``HeavyBall("momentum", "dampening")`` (``Nesterov`` on it when ``nesterov``; none at μ = 0)
    and the geometry ``Euclidean()`` (∇ψ* = identity). The state entry is torch's ``momentum_buffer``.
    With λ = 0 the steps are ``torch.optim.SGD``'s bit for bit (a test holds it); the weight decay is
    decoupled, x(1 − ηλ), as in every convexlab optimizer (torch's SGD adds λx to the gradient
    instead). A recombination (not a paper algorithm): the classical baseline of the Softsign
    experiments, which SoftSignum's τ → 0 limit reaches (Softsign [SS-LIMITS]).

    Args:
        lr: η ≥ 0. momentum: μ ∈ [0, 1). dampening: ϱ ∈ [0, 1). weight_decay: λ ≥ 0 (decoupled).
        nesterov: u_t = g_t + μ b_t; needs μ > 0 and ϱ = 0 (as torch).

    >>> import torch
    >>> w = torch.nn.Parameter(torch.zeros(2)); opt = SGDMomentum([w], lr=0.5, momentum=0.9)
    >>> w.grad = torch.tensor([1.0, -2.0]); _ = opt.step(); _ = opt.step(); w.tolist()   # b_2 = 1.9 g
    [-1.4500000476837158, 2.9000000953674316]
    """

    coordinatewise = True

    def __init__(self, params, lr: float = 1e-2, momentum: float = 0.9, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, **kw):
        self._check_momentum(momentum, dampening, nesterov)
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov), **kw)

    @staticmethod
    def _check_momentum(momentum, dampening, nesterov) -> None:
        mu = V.beta("momentum", momentum)
        damp = V.beta("dampening", dampening)
        if V.boolean("nesterov", nesterov) and (mu <= 0 or damp != 0):
            raise ValueError(f"nesterov=True requires momentum > 0 and dampening == 0, got momentum={momentum!r}, "
                             f"dampening={dampening!r}")

    def _validate_group(self, group):
        super()._validate_group(group)
        self._check_momentum(group["momentum"], group["dampening"], group["nesterov"])

    def momentum(self, group):
        if not group["momentum"]:
            return NoMomentum()
        part = HeavyBall("momentum", "dampening", key="momentum_buffer")
        return Nesterov(part) if group["nesterov"] else part

    def geometry(self, group):
        return Euclidean()


class HardSwitch(GlobalStepCounter, ComposedOptimizer):
    r"""The hard-switch baseline for Softsign's transition: Signum for S steps, then momentum SGD
    with the step size scaled by s (global step counter k = 1, 2, …, shared by all param groups)::

        k ≤ S:  m_k = μ m_{k−1} + (1 − μ) g_k  (m_1 = g_1);   x ← x(1 − ηλ) − η sign(m_k)        (Signum)
        k > S:  b_k = μ b_{k−1} + g_k  (b_S = m_S);         x ← x(1 − sηλ) − sη b_k              (SGD-momentum)

    One buffer (``momentum_buffer``) carries the momentum across the switch: the SGD phase continues
    the heavy-ball recursion from Signum's EMA. For k ≤ S the steps are :class:`~convexlab.optim.Signum`'s
    bit for bit; for k > S they are :class:`SGDMomentum`'s (dampening 0) with lr = sη. Where SoftSignum
    relaxes sign → tanh(τ·) over T steps on a fitted temperature schedule (Softsign [SS-SCHED]), this
    switches in one step: it isolates what the gradual transition adds. Parts: ``EMA`` + ``Sign()``, then
    ``HeavyBall`` + ``Euclidean()`` (none at μ = 0). Provenance: our baseline for the transition [D] (not
    a paper algorithm; issue 15 asks for it as the control of the Soft* claims).

    The counter k is saved in ``state_dict()["convexlab"]["step"]``; :meth:`momentum` and :meth:`geometry`
    called between steps describe the next step.

    Args:
        lr: η ≥ 0 (the sign phase's step). momentum: μ ∈ [0, 1) (both phases). weight_decay: λ ≥ 0
        (decoupled, with the phase's step size). switch_iters: S ≥ 0 (S = 0: SGD-momentum throughout).
        sgd_lr_scale: s > 0, finite (the SGD phase's lr is s·η).

    >>> import torch
    >>> w = torch.nn.Parameter(torch.zeros(2)); opt = HardSwitch([w], lr=0.1, momentum=0.0, switch_iters=1,
    ...                                                          sgd_lr_scale=2.0)
    >>> w.grad = torch.tensor([3.0, -0.5]); _ = opt.step(); _ = opt.step(); [round(v, 4) for v in w.tolist()]
    [-0.7, 0.2]
    """

    coordinatewise = True

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.9, weight_decay: float = 0.0,
                 switch_iters: int = 9000, sgd_lr_scale: float = 1.0, **kw):
        V.beta("momentum", momentum)
        V.integer("switch_iters", switch_iters, 0)
        V.positive_finite("sgd_lr_scale", sgd_lr_scale)
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, switch_iters=switch_iters,
                                      sgd_lr_scale=sgd_lr_scale), **kw)
        self._k = 0  # steps taken

    def _validate_group(self, group):
        super()._validate_group(group)
        V.beta("momentum", group["momentum"])
        V.integer("switch_iters", group["switch_iters"], 0)
        V.positive_finite("sgd_lr_scale", group["sgd_lr_scale"])

    def _take_step(self, plans):
        super()._take_step(plans)
        self._k += 1  # after the groups: during a step, self._k + 1 is that step's k

    def _sign_phase(self, group) -> bool:
        return self._k + 1 <= group["switch_iters"]

    def momentum(self, group):
        if not group["momentum"]:
            return NoMomentum()
        if self._sign_phase(group):
            return EMA("momentum", first="g1", key="momentum_buffer")
        return HeavyBall("momentum", None, key="momentum_buffer")

    def geometry(self, group):
        return Sign() if self._sign_phase(group) else Euclidean()

    def _lr(self, p, state, group):
        return group["lr"] if self._sign_phase(group) else group["lr"] * group["sgd_lr_scale"]


__all__ = ["NesterovStoSignSGD", "SFLion", "AlgebraicSoftSignum", "SGDMomentum", "HardSwitch"]
