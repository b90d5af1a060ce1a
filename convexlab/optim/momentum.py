r"""Momentum rules: the first part of every convexlab step (README, "What convexlab is").

A step is ``u = momentum(g) → d = geometry.direction(u) → x ← iterate(x, d, lr)`` with weight decay
at a named place (:mod:`convexlab.optim.base`). A momentum part owns its buffers in the per-parameter
state, never writes into the gradients it is given, and updates a whole parameter group in a few
multi-tensor passes (``torch._foreach_*``). Its hyperparameters are read from the param group at
every step, so per-group values and LR schedulers that write them (``OneCycleLR`` cycles
``betas[0]`` or ``momentum``) act as they do in ``torch.optim``.

==========================  ====================================================  =================
part                        update (t = the parameter's step count)               returned u_t
==========================  ====================================================  =================
:class:`NoMomentum`         —                                                     g_t
:class:`EMA` (``"g1"``)     m_1 = g_1;  m_t = β m_{t−1} + (1 − β) g_t              m_t
:class:`EMA` (``"zero"``)   m_0 = 0;    m_t = β m_{t−1} + (1 − β) g_t              m_t
:class:`HeavyBall`          b_1 = g_1;  b_t = μ b_{t−1} + (1 − ϱ) g_t              b_t
:class:`Nesterov` (EMA)     as the inner EMA                                       (1 − μ) g_t + μ m_t
:class:`Nesterov` (HB)      as the inner heavy ball                                g_t + μ b_t
:class:`LionInterpolation`  m_0 = 0;    m_t = β2 m_{t−1} + (1 − β2) g_t            β1 m_{t−1} + (1 − β1) g_t
==========================  ====================================================  =================

The schedule-free averaging of Defazio et al. is an iterate rule, not a momentum part
(:class:`convexlab.optim.schedule_free.ScheduleFreeMixin`).

A hyperparameter is named by its group key: ``"momentum"`` reads ``group["momentum"]``,
``("betas", 0)`` reads ``group["betas"][0]``.

>>> import torch
>>> part = EMA("momentum", first="g1")
>>> group = {"momentum": 0.5}
>>> state = {"step": 1}
>>> part.init(torch.zeros(2), state, group)
>>> part.update([torch.tensor([2.0, -2.0])], [state], group)[0].tolist()   # m_1 = g_1
[2.0, -2.0]
>>> state["step"] = 2
>>> part.update([torch.tensor([0.0, 0.0])], [state], group)[0].tolist()    # m_2 = ½ m_1 + ½ g_2
[1.0, -1.0]
"""

from __future__ import annotations

from typing import Any, Union

import torch

from convexlab import _validation as V

Key = Union[str, tuple]

FIRST = ("g1", "zero")


def read(group: dict, key: Key) -> Any:
    """``group[key]`` for a string key, ``group[key[0]][key[1]]`` for a (name, index) pair."""
    if isinstance(key, tuple):
        return group[key[0]][key[1]]
    return group[key]


class MomentumPart:
    r"""Base class: ``init`` allocates the buffers of one parameter, ``update`` maps the gradients of
    a group to u_t (a list, possibly aliasing the buffers; never the gradients' storage modified)."""

    #: names of the per-parameter state entries this part owns
    state_keys: tuple[str, ...] = ()
    #: whether ``update`` returns new tensors (not buffers, not the gradients) that the caller may
    #: overwrite (then a geometry computes its direction in their storage)
    fresh: bool = False

    def init(self, p: torch.Tensor, state: dict, group: dict) -> None:
        """Allocate this part's buffers for parameter ``p`` (nothing for a stateless part)."""

    def update(self, grads: list, states: list, group: dict) -> list:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class NoMomentum(MomentumPart):
    r"""u_t = g_t (signSGD, SGD, the theory form of StoSignSGD)."""

    def update(self, grads, states, group):
        return list(grads)


class EMA(MomentumPart):
    r"""Exponential moving average m_t = β m_{t−1} + (1 − β) g_t, returned as u_t = m_t.

    Args:
        beta: the group key of β ∈ [0, 1) (``"momentum"``, ``("betas", 0)``).
        first: ``"g1"``: m_1 = g_1 (Signum, StoSignSGD Alg. 3/5/10, the Softsign EMA); ``"zero"``: m_0 = 0
            (Adam's first moment, to be bias-corrected by the caller; Muon's buffer).
        key: the state entry holding m.

    A parameter whose buffer is missing (momentum switched on after its first step) starts from
    m = g_t, as if this were its first step.
    """

    def __init__(self, beta: Key = "momentum", first: str = "g1", key: str = "exp_avg"):
        self.beta, self.first, self.key = beta, V.one_of("first", first, FIRST), key
        self.state_keys = (key,)

    def init(self, p, state, group):
        state[self.key] = torch.zeros_like(p, memory_format=torch.preserve_format)

    def update(self, grads, states, group):
        beta = float(read(group, self.beta))
        bufs, fresh_b, fresh_g, old_b, old_g = [], [], [], [], []
        for g, st in zip(grads, states):
            m = st.get(self.key)
            if m is None:
                m = st[self.key] = torch.zeros_like(g, memory_format=torch.preserve_format)
                fresh_b.append(m)
                fresh_g.append(g)
            elif self.first == "g1" and st["step"] == 1:
                fresh_b.append(m)
                fresh_g.append(g)
            else:
                old_b.append(m)
                old_g.append(g)
            bufs.append(m)
        if fresh_b:
            torch._foreach_copy_(fresh_b, fresh_g)
        if old_b:
            torch._foreach_lerp_(old_b, _cast(old_g, old_b), 1.0 - beta)
        return bufs


class HeavyBall(MomentumPart):
    r"""The ``torch.optim.SGD`` buffer b_1 = g_1, b_t = μ b_{t−1} + (1 − ϱ) g_t, returned as u_t = b_t.

    Args:
        momentum: group key of μ. dampening: group key of ϱ (``None``: ϱ = 0). key: the state entry.
    """

    def __init__(self, momentum: Key = "momentum", dampening: Key | None = "dampening", key: str = "momentum_buffer"):
        self.momentum, self.dampening, self.key = momentum, dampening, key
        self.state_keys = (key,)

    def init(self, p, state, group):
        state[self.key] = torch.zeros_like(p, memory_format=torch.preserve_format)

    def update(self, grads, states, group):
        mu = float(read(group, self.momentum))
        damp = 0.0 if self.dampening is None else float(read(group, self.dampening))
        bufs, new_b, new_g, old_b, old_g = [], [], [], [], []
        for g, st in zip(grads, states):
            b = st.get(self.key)
            if b is None or st["step"] == 1:  # the first step: b_1 = g_1 (torch.optim.SGD)
                if b is None:
                    b = st[self.key] = torch.zeros_like(g, memory_format=torch.preserve_format)
                new_b.append(b)
                new_g.append(g)
            else:
                old_b.append(b)
                old_g.append(g)
            bufs.append(b)
        if new_b:
            torch._foreach_copy_(new_b, new_g)
        if old_b:
            torch._foreach_mul_(old_b, mu)
            torch._foreach_add_(old_b, _cast(old_g, old_b), alpha=1.0 - damp)
        return bufs


class Nesterov(MomentumPart):
    r"""Nesterov's look-ahead on an inner buffer: u_t = (1 − μ) g_t + μ m_t for an :class:`EMA`
    (Muon, SoftMuon), u_t = g_t + μ b_t for a :class:`HeavyBall` (``torch.optim.SGD(nesterov=True)``).
    u_t is a new tensor; the buffers are those of the inner part."""

    def __init__(self, inner: MomentumPart):
        if not isinstance(inner, (EMA, HeavyBall)):
            raise ValueError(f"inner must be an EMA or a HeavyBall part, got {inner!r}")
        self.inner = inner
        self.state_keys = inner.state_keys
        self.fresh = True

    def init(self, p, state, group):
        self.inner.init(p, state, group)

    def update(self, grads, states, group):
        bufs = self.inner.update(grads, states, group)
        if isinstance(self.inner, EMA):
            mu = float(read(group, self.inner.beta))
            return torch._foreach_lerp(_cast(grads, bufs), bufs, mu)
        mu = float(read(group, self.inner.momentum))
        return torch._foreach_add(_cast(grads, bufs), bufs, alpha=mu)


class LionInterpolation(MomentumPart):
    r"""Lion's two-β rule (Chen et al. 2023): u_t = c_t = β1 m_{t−1} + (1 − β1) g_t (a new tensor),
    then m_t = β2 m_{t−1} + (1 − β2) g_t, m_0 = 0.

    Args:
        betas: group key of the pair (β1, β2). key: the state entry holding m.
    """

    def __init__(self, betas: str = "betas", key: str = "exp_avg"):
        self.betas, self.key = betas, key
        self.state_keys = (key,)
        self.fresh = True

    def init(self, p, state, group):
        state[self.key] = torch.zeros_like(p, memory_format=torch.preserve_format)

    def update(self, grads, states, group):
        beta1, beta2 = (float(b) for b in group[self.betas])
        bufs = []
        for g, st in zip(grads, states):
            m = st.get(self.key)
            if m is None:
                m = st[self.key] = torch.zeros_like(g, memory_format=torch.preserve_format)
            bufs.append(m)
        gs = _cast(grads, bufs)
        c = torch._foreach_lerp(bufs, gs, 1.0 - beta1)
        torch._foreach_lerp_(bufs, gs, 1.0 - beta2)
        return c


def _cast(grads: list, like: list) -> list:
    """The gradients in the dtype of the buffers (a copy only where they differ)."""
    return [g if g.dtype == b.dtype else g.to(b.dtype) for g, b in zip(grads, like)]


__all__ = ["MomentumPart", "NoMomentum", "EMA", "HeavyBall", "Nesterov", "LionInterpolation", "read"]
