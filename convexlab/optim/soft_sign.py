r"""SoftSignum: Signum whose sign relaxes to tanh(τ·) on a fitted temperature schedule (Softsign).

Geometry: ``Sign()`` in the sign phase, then ``SoftSign(τ_k, "tanh")`` — the entropic regularizer
V(d) = Σ ½[(1+d)ln(1+d) + (1−d)ln(1−d)] on [−1, 1]ⁿ scaled by 1/τ, conjugate
ψ_τ*(m) = Σ ln cosh(τm)/τ, direction ∇ψ_τ*(m) = tanh(τm). τ → ∞ is sign (Signum), τ → 0 is
momentum SGD with step lr·τ (Softsign [SS-LIMITS]).
"""

from __future__ import annotations

import warnings

import torch

from convexlab import _validation as V
from convexlab.geometry import Sign, SoftSign
from convexlab.optim.base import ComposedOptimizer, GlobalStepCounter, cpu_blocks
from convexlab.optim.momentum import EMA, HeavyBall, Nesterov, NoMomentum
from convexlab.optim.temperature import temperature_schedule

MOMENTUM_FORMS = ("sgd", "ema")
SCHEDULE_DTYPES = (torch.float32, torch.float64)


class SoftSignum(GlobalStepCounter, ComposedOptimizer):
    r"""SoftSignum (Feoktistov et al., Softsign): sign steps for S iterations, then tanh(τ_k u) steps
    with a temperature schedule fitted once to the update statistics.

    The update of one ``step()`` (global counter k = 1, 2, …, shared by all param groups), per
    param group with step size δ = ``lr``, momentum μ, dampening ϱ, weight decay λ::

        g   = ∇f (or −∇f if maximize)
        x   ← x · (1 − δλ)                                   # decoupled, uses δ, not δ_eff
        buf ← g                      at the first step        (both momentum forms)
        buf ← μ·buf + (1 − ϱ)·g      momentum_form="sgd"      (PyTorch SGD buffer)
        buf ← μ·buf + (1 − μ)·g      momentum_form="ema"      (the paper's EMA m_k)
        u   = g + μ·buf  if nesterov,  buf if μ > 0,  g if μ = 0
        δ_eff = δ/‖u‖₂ if normalized,  δ·‖u‖₂ if sign_norm,  δ otherwise   (‖·‖₂ over the group)
        at k = S + 1:  τ = temperature_schedule(concat(u), T, ε, N_q, tmax, "tanh")   (once, per group)
        x   ← x − δ_eff · sign(u)                  for k ≤ S
        x   ← x − δ_eff · tanh(τ[k − 1 − S] · u)   for S < k ≤ S + T

    ``momentum_form="ema"`` is exactly the sgd form with ``dampening = momentum`` (first buffer g₁,
    [SS-Q1]); it is computed with the same EMA helper as :class:`~convexlab.optim.Signum`, so with
    S ≥ the number of steps SoftSignum(momentum_form="ema", momentum=β) is Signum(momentum=β) bit for
    bit. The schedule (Softsign [SS-SCHED], :func:`~convexlab.optim.temperature.temperature_schedule`) fits a
    folded Cauchy law to all entries of u of the group at step S + 1 and sets τ_j = atanh(1 − ε)/q_j
    clamped to [1, tmax], q_j its (j/T)-quantile: a fraction j/T of the entries is in the linear
    (SGD-like) regime of tanh at transition step j. It is stored in ``param_group["schedule"]`` (so it
    is saved by ``state_dict``); k is saved under ``state_dict()["convexlab"]["step"]``.

    Geometry: the step is x ← x − δ_eff·∇ψ*(u) with ψ = indicator of the ℓ∞ ball (ψ* = ‖·‖₁, sign)
    for k ≤ S and ψ_τ = V/τ with the entropic V(d) = Σ ½[(1+d)ln(1+d) + (1−d)ln(1−d)]
    (1-strongly convex w.r.t. ‖·‖₂ and ‖·‖∞), ψ_τ*(u) = Σ ln cosh(τu)/τ, ∇ψ_τ*(u) = tanh(τu)
    (:class:`~convexlab.geometry.SoftSign`) afterwards; |τu| ≪ 1 gives momentum SGD with step δτ.
    Theory: for a fixed τ and no weight decay the paper proves convergence in the measure
    V*(−τ∇f) = Σ ln cosh(τ∂_i f) (Softsign [SS-THM]; statement reconstructed, not the paper's text).

    Provenance: the step, the defaults, the per-group schedule from the post-momentum u, the
    lower median / unscaled MAD fit and ``normalized``/``sign_norm`` follow the official code
    [CODE] (brain-lab-research/softsign @ 77526d8, ``softsignum.py``); the EMA momentum is the
    paper's form as reported by reviewers [REV]. Deviations, all documented options or guards:
    beyond S + T the last τ is held with a warning (official: IndexError; ``strict=True`` raises);
    ``normalized`` with u = 0 steps by 0 instead of producing NaN; a group with no gradient at step
    S + 1 (or added later) fits its schedule at its first later step with gradients, still indexed
    by the global k; ``guard_zero_scale`` ([SS-Q6]).

    Args:
        params: parameters or param groups (every hyperparameter below except ``strict``,
            ``guard_zero_scale`` and ``schedule_dtype`` may be set per group).
        lr: δ ≥ 0. momentum: μ ∈ [0, 1). dampening: ϱ ∈ [0, 1) (sgd form only).
        weight_decay: λ ≥ 0 (decoupled, x·(1 − δλ)).
        nesterov: u = g + μ·buf; needs μ > 0, ϱ = 0 and ``momentum_form="sgd"``.
        sign_iters: S ≥ 0, length of the sign phase. transition_iters: T ≥ 1, schedule length.
        eps: ε ∈ (0, 1), saturation tolerance. newton_iters: N_q ≥ 0 quantile Newton steps.
        tmax: upper clamp of τ, ≥ 1 (official 20; the paper's schedule has no upper clamp, [SS-Q2]).
        normalized: δ_eff = δ/‖u‖₂. sign_norm: δ_eff = δ·‖u‖₂ (exclusive with ``normalized``).
        momentum_form: ``"sgd"`` (official code) or ``"ema"`` (paper).
        strict: raise past step S + T instead of holding the last τ.
        guard_zero_scale: guard a zero MAD in the schedule fit ([SS-Q6]; off = official).
        schedule_dtype: float32 (official, [SS-Q14]) or float64 for the schedule computation.
        maximize: ascend (negates the gradient; ``p.grad`` is never written).
        **kw: ``nonfinite``, ``seed``, ``box`` of :class:`~convexlab.optim.base.ComposedOptimizer`.

    Raises:
        ValueError: an argument out of range (the message names it, its value and the range),
            nesterov without momentum or with dampening / the EMA form, ``normalized`` together
            with ``sign_norm``, dampening ≠ 0 with the EMA form.
        RuntimeError: from ``step()`` past S + T when ``strict=True`` (nothing is updated).

    >>> import torch
    >>> w = torch.nn.Parameter(torch.zeros(3))
    >>> opt = SoftSignum([w], lr=0.1, sign_iters=1, transition_iters=2)
    >>> w.grad = torch.tensor([1.0, -0.01, 0.0])
    >>> _ = opt.step(); [round(v, 4) for v in w.tolist()]            # k = 1 ≤ S: sign step
    [-0.1, 0.1, 0.0]
    >>> _ = opt.step(); opt.param_groups[0]["schedule"].tolist()     # fitted at k = S + 1
    [20.0, 20.0]
    >>> [round(v, 4) for v in w.tolist()]                            # tanh(20·u): -0.01 moves 0.1·tanh(0.2)
    [-0.2, 0.1197, 0.0]

    References:
        D. Feoktistov, T. Belinsky, A. Veprikov, A. Zainullin, A. Beznosikov, "Softsign: Smooth Sign
        in Your Optimizer For Better Parameter Heterogeneity Handling", arXiv 2605.31371 (ICML 2026).
        Official code: github.com/brain-lab-research/softsign @ 77526d8 (``softsignum.py``).
    """

    internal_keys = ("schedule",)

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, sign_iters: int = 9000,
                 transition_iters: int = 1000, eps: float = 1e-4, newton_iters: int = 10, tmax: float = 20.0,
                 normalized: bool = False, sign_norm: bool = False, momentum_form: str = "sgd",
                 strict: bool = False, guard_zero_scale: bool = False,
                 schedule_dtype: torch.dtype = torch.float32, maximize: bool = False, tau: float | None = None, **kw):
        self.strict = V.boolean("strict", strict)
        self.guard_zero_scale = V.boolean("guard_zero_scale", guard_zero_scale)
        self.schedule_dtype = V.one_of("schedule_dtype", schedule_dtype, SCHEDULE_DTYPES)
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, sign_iters=sign_iters, transition_iters=transition_iters, eps=eps,
                        newton_iters=newton_iters, tmax=tmax, normalized=normalized, sign_norm=sign_norm,
                        momentum_form=momentum_form, tau=tau, schedule=None)
        self._host_schedules: dict = {}
        super().__init__(params, defaults, maximize=maximize, **kw)
        self._k = 0  # the official optimizer.state["step"]: one counter for all groups
        self._warned_groups: set[int] = set()

    # -- validation ----------------------------------------------------------------------------
    def _validate_group(self, group):
        super()._validate_group(group)
        mu = V.beta("momentum", group["momentum"])
        damp = V.beta("dampening", group["dampening"])
        form = V.one_of("momentum_form", group["momentum_form"], MOMENTUM_FORMS)
        for name in ("nesterov", "normalized", "sign_norm"):
            V.boolean(name, group[name])
        if group["tau"] is not None:
            V.positive_finite("tau", group["tau"])
        V.integer("sign_iters", group["sign_iters"], 0)
        V.integer("transition_iters", group["transition_iters"], 1)
        V.integer("newton_iters", group["newton_iters"], 0)
        eps = V.positive_finite("eps", group["eps"])
        if eps >= 1:
            raise ValueError(f"eps must be in (0, 1), got {group['eps']!r}")
        tmax = V.positive_finite("tmax", group["tmax"])
        if tmax < 1:
            raise ValueError(f"tmax must be a finite number >= 1 (τ is clamped to [1, tmax]), got {group['tmax']!r}")
        if form == "ema" and damp != 0:
            raise ValueError(f"dampening must be 0 with momentum_form='ema' (the EMA is the sgd form with "
                             f"dampening = momentum), got dampening={group['dampening']!r}")
        if group["nesterov"] and (mu <= 0 or damp != 0 or form != "sgd"):
            raise ValueError(f"nesterov=True requires momentum > 0, dampening == 0 and momentum_form='sgd', got "
                             f"momentum={group['momentum']!r}, dampening={group['dampening']!r}, "
                             f"momentum_form={form!r}")
        if group["normalized"] and group["sign_norm"]:
            raise ValueError("normalized and sign_norm are mutually exclusive, got normalized=True, sign_norm=True")

    # -- state_dict: the global step counter k -------------------------------------------------
    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)  # GlobalStepCounter: restores self._k
        self._warned_groups = set()
        self._host_schedules = {}

    # -- the parts ---------------------------------------------------------------------------
    def momentum(self, group):
        """:class:`~convexlab.optim.momentum.NoMomentum` (μ = 0), :class:`~convexlab.optim.momentum.EMA`
        (``"ema"``), :class:`~convexlab.optim.momentum.HeavyBall` (``"sgd"``), or Nesterov on it."""
        if not group["momentum"]:
            return NoMomentum()
        if group["momentum_form"] == "ema":
            return EMA("momentum", first="g1", key="momentum_buffer")
        part = HeavyBall("momentum", "dampening", key="momentum_buffer")
        return Nesterov(part) if group["nesterov"] else part

    def geometry(self, group, k: int | None = None):
        """The map of step ``k`` (default: the next step): ``SoftSign(tau, "tanh")`` for a fixed
        ``tau``; else ``Sign()`` for k ≤ S and ``SoftSign(τ_{k−1−S}, "tanh")`` afterwards (``Sign()``
        also before the schedule is fitted, at k = S + 1, when called from outside ``step``)."""
        if group["tau"] is not None:
            return SoftSign(group["tau"], "tanh")
        k = self._k + 1 if k is None else k
        j = k - 1 - group["sign_iters"]
        if j < 0 or group["schedule"] is None:
            return Sign()
        return SoftSign(self._tau_at(group, j), "tanh")

    def _tau_at(self, group: dict, j: int) -> float:
        """τ_j as a Python float (the schedule is copied to the host once, when it is fitted or
        loaded; past S + T the last τ is held, warned in ``step``)."""
        sched = group["schedule"]
        host = self._host_schedules.get(id(sched))
        if host is None or host[0] is not sched:
            host = self._host_schedules[id(sched)] = (sched, sched.tolist())
        values = host[1]
        return values[min(j, len(values) - 1)]

    # -- the step ------------------------------------------------------------------------------
    def _prepare_step(self, plans):
        k = self._k + 1
        for i, (group, params, _) in enumerate(plans):
            horizon = group["sign_iters"] + group["transition_iters"]
            if group["tau"] is not None or k <= horizon or not params:
                continue
            if self.strict:
                raise RuntimeError(f"SoftSignum step {k} is past sign_iters + transition_iters = {horizon} of param "
                                   f"group {i} (strict=True; the official code fails here with an IndexError)")
            if i not in self._warned_groups:
                self._warned_groups.add(i)
                warnings.warn(f"SoftSignum step {k} is past sign_iters + transition_iters = {horizon} of param "
                              f"group {i}: holding the last temperature tau = {self._tau_at(group, horizon):g} "
                              "(strict=True raises instead)", RuntimeWarning, stacklevel=4)

    def _advance(self):
        self._k += 1

    def _group_step(self, group, params, grads, states):
        part = self.momentum(group)
        j = self._k - 1 - group["sign_iters"]  # index into the schedule; < 0 in the sign phase
        fit = group["tau"] is None and j >= 0 and group["schedule"] is None
        pooled = fit or group["normalized"] or group["sign_norm"]
        if not pooled and self._blockable(group, params, Sign()):
            # nothing pooled over the group: the step runs in CPU blocks (as the default step)
            geo = self.geometry(group, self._k)
            wd, lr = group["weight_decay"], group["lr"]
            for ps, gs, sts in cpu_blocks(params, grads, states, part.state_keys):
                us = part.update(gs, sts, group)
                if wd and lr:
                    torch._foreach_mul_(ps, 1.0 - lr * wd)
                geo.add_direction_(ps, us, -lr, scratch=part.fresh)
            return
        us = part.update(grads, states, group)
        if fit:
            # k = S + 1 (or the group's first later step with gradients): fit the schedule on all of u
            z = torch.cat([u.reshape(-1) for u in us])
            group["schedule"] = temperature_schedule(
                z, group["transition_iters"], eps=group["eps"], newton_iters=group["newton_iters"],
                tmax=group["tmax"], kind="tanh", dtype=self.schedule_dtype, guard_zero_scale=self.guard_zero_scale)
            del z
        geo = self.geometry(group, self._k)
        wd, lr = group["weight_decay"], group["lr"]
        if wd and lr:
            torch._foreach_mul_(params, 1.0 - lr * wd)  # decay with δ, not δ_eff (official, [SS-Q13])
        if not (group["normalized"] or group["sign_norm"]):
            geo.add_direction_(params, us, -lr, scratch=part.fresh)
        else:
            ndtype = torch.float32  # at least float32 for low-precision u; float64 stays float64
            for u in us:
                ndtype = torch.promote_types(ndtype, u.dtype)
            norms = torch._foreach_norm(us)
            n = torch.linalg.vector_norm(torch.stack([x.to(ndtype) for x in norms]))
            if group["normalized"]:
                # u = 0 gives a zero step (every direction entry is 0) instead of the official 0·inf = NaN
                lr_eff = torch.where(n > 0, lr / torch.where(n > 0, n, torch.ones_like(n)), torch.zeros_like(n))
            else:
                lr_eff = lr * n
            ds = geo.step_directions(us)
            ds = [d.mul(lr_eff.to(device=d.device, dtype=d.dtype)) for d in ds]
            torch._foreach_sub_(params, [d if d.dtype == p.dtype else d.to(p.dtype) for d, p in zip(ds, params)])
        self._project(params)
