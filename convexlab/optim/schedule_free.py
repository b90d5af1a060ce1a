r"""Schedule-free as an iterate rule: any convexlab optimizer made schedule-free.

Defazio et al., "The Road Less Scheduled" (arXiv 2405.15682); SF-NorMuon, Apte et al. (arXiv
2605.23061) §3. With the base optimizer's direction d_t at the gradient point y_t and the step
D_t = lr_t·(d_t + λ·A_t) (A_t the iterate where weight decay acts: x, y or z),

    z_{t+1} = z_t − D_t
    x_{t+1} = (1 − c_{t+1}) x_t + c_{t+1} z_{t+1}
    y_{t+1} = (1 − β) z_{t+1} + β x_{t+1}

The parameter tensor holds y in train mode and x in eval mode; only z is stored. y is updated in
closed form, y_{t+1} = (1 − c) y_t + c z_t − (1 − β + βc) D_t (SF-NorMuon spec §3.4 [I], the
identity behind ``schedulefree``'s closed form). Averaging weights follow ``schedulefree`` 1.4.1
(spec §2.4 [R]): lr_t = lr·min(1, (k+1)/warmup_steps), lr_max = max_k lr_k,
w_k = (k+1)^r·lr_max^weight_lr_power, c_{k+1} = w_k/Σ_{i≤k} w_i. β = 1 is primal averaging (the
gradient is taken at the average x); β = 0 is Polyak averaging of z (then x is stored explicitly,
since y = z carries no information about it).

Differences from ``schedulefree``: the optimizer starts in train mode (``schedulefree`` raises
until ``.train()`` is called); ``weight_decay_at`` names the decay placement ("y" is
``schedulefree``'s, "z" is SF-NorMuon's, "x" the slow-iterate counterexample of spec §4.2).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from convexlab.optim.base import check_beta, check_choice, check_int, check_nonneg, unhooked

DECAY_AT = ("x", "y", "z")


@contextmanager
def evaluating(opt):
    """Put ``opt`` (anything with ``training``, ``train()`` and ``eval()``) in eval mode for the block,
    then restore its previous mode."""
    was = opt.training
    opt.eval()
    try:
        yield opt
    finally:
        if was:
            opt.train()


class ScheduleFreeMixin:
    r"""Mixin that replaces a :class:`ComposedOptimizer`'s plain iterate rule by schedule-free.

    Keyword args (in addition to the base optimizer's):
        sf_beta: interpolation β ∈ [0, 1] between z and x (0.9 default).
        warmup_steps: linear learning-rate warmup length (integer ≥ 0).
        r, weight_lr_power: averaging-weight exponents (0 and 2, as in ``schedulefree``).
        weight_decay_at: ``"x"``, ``"y"`` or ``"z"``, where λ acts inside D_t.
    """

    iterate = "schedule_free"

    def __init__(self, params, *, sf_beta: float = 0.9, warmup_steps: int = 0, r: float = 0.0,
                 weight_lr_power: float = 2.0, weight_decay_at: str = "y", **kwargs):
        check_beta(sf_beta, "sf_beta", allow_one=True)
        check_int(warmup_steps, "warmup_steps")
        check_nonneg(r, "r")
        check_nonneg(weight_lr_power, "weight_lr_power")
        check_choice(weight_decay_at, "weight_decay_at", DECAY_AT)
        if kwargs.get("box") is not None:
            raise ValueError("box projection is not defined for the schedule-free iterate rule; pass box=None")
        super().__init__(params, **kwargs)
        sf = dict(sf_beta=float(sf_beta), warmup_steps=warmup_steps, r=float(r), weight_lr_power=float(weight_lr_power),
                  weight_decay_at=weight_decay_at, k=0, lr_max=-1.0, weight_sum=0.0, train_mode=True,
                  scheduled_lr=0.0, c=0.0)
        self.defaults.update(sf)
        for group in self.param_groups:
            for key, v in sf.items():
                group.setdefault(key, v)

    # -- modes -----------------------------------------------------------------------------------
    @property
    def training(self) -> bool:
        return bool(self.param_groups[0]["train_mode"])

    @torch.no_grad()
    def _set_mode(self, train: bool):
        """Move the parameters between y (train) and x (eval); groups already in the mode are left."""
        for group in self.param_groups:
            if group["train_mode"] == train:
                continue
            beta = group["sf_beta"]
            for p in group["params"]:
                st = self.state[p]
                if "z" not in st:
                    continue
                if "x" in st:  # β = 0: y = z, and x is stored
                    p.copy_(st["z"] if train else st["x"])
                else:  # y = (1 − β) z + β x
                    p.lerp_(st["z"], 1.0 - beta if train else 1.0 - 1.0 / beta)
            group["train_mode"] = train
        return self

    def eval(self):
        """Put the parameters at x (for evaluation and checkpoints); idempotent."""
        return self._set_mode(False)

    def train(self, mode: bool = True):
        """Put the parameters back at y (for gradient steps); idempotent."""
        return self._set_mode(bool(mode))

    def evaluating(self):
        """``with opt.evaluating():`` evaluates at x, then returns to the previous mode."""
        return evaluating(self)

    # -- the rule --------------------------------------------------------------------------------
    def step(self, closure=None):
        if not all(g["train_mode"] for g in self.param_groups):
            raise RuntimeError("step() called in eval mode: call opt.train() first (the parameters hold x, not y)")
        return unhooked(super().step)(closure)

    def _init_state(self, p, state, group):
        super()._init_state(p, state, group)
        state["z"] = p.detach().clone()
        if group["sf_beta"] == 0.0:
            state["x"] = p.detach().clone()

    def _before_group(self, group):
        super()._before_group(group)
        k, warm = group["k"], group["warmup_steps"]
        sched = (k + 1) / warm if k < warm else 1.0
        lr = group["lr"] * sched
        group["scheduled_lr"] = lr
        group["lr_max"] = lr_max = max(lr, group["lr_max"])
        w = ((k + 1) ** group["r"]) * (lr_max ** group["weight_lr_power"])
        group["weight_sum"] += w
        group["c"] = w / group["weight_sum"] if group["weight_sum"] > 0 else 0.0

    def _after_group(self, group):
        super()._after_group(group)
        group["k"] += 1

    def _lr(self, p, state, group):
        return group["scheduled_lr"]

    def _apply(self, p, d, state, group):
        beta, c, lr = group["sf_beta"], group["c"], group["scheduled_lr"]
        wd = group.get("weight_decay", 0.0)
        z = state["z"]
        D = d.to(p.dtype).mul(lr)
        if wd:
            at = group["weight_decay_at"]
            if at == "y":
                A = p
            elif at == "z":
                A = z
            else:  # x = (y − (1 − β) z)/β, or the stored x when β = 0
                A = state["x"] if "x" in state else (p - (1.0 - beta) * z) / beta
            D.add_(A, alpha=lr * wd)
        p.lerp_(z, c)
        p.add_(D, alpha=-(1.0 - beta + beta * c))
        z.sub_(D)
        if "x" in state:
            state["x"].lerp_(z, c)


def schedule_free(cls, name: str | None = None):
    """Return the schedule-free version of a :class:`ComposedOptimizer` subclass ``cls``.

    >>> from convexlab.optim import Signum
    >>> SFSignum = schedule_free(Signum)
    >>> SFSignum.__name__
    'ScheduleFreeSignum'
    """
    name = name or f"ScheduleFree{cls.__name__}"
    made = _MADE.get((cls, name))
    if made is not None:
        return made
    if name in globals():
        raise ValueError(f"name {name!r} is already taken in convexlab.optim.schedule_free; pass another name")
    doc = f"Schedule-free {cls.__name__}: the direction of :class:`{cls.__name__}` with the schedule-free iterate rule.\n\n" + (
        ScheduleFreeMixin.__doc__ or "")
    made = type(name, (ScheduleFreeMixin, cls), {"__doc__": doc, "__module__": __name__, "__qualname__": name})
    # a module attribute, so that instances pickle (pickle finds classes by module and name)
    globals()[name] = made
    _MADE[(cls, name)] = made
    return made


_MADE: dict = {}


from convexlab.optim.general import AdamW  # noqa: E402  (the base direction of SFAdamW)


class SFAdamW(ScheduleFreeMixin, AdamW):
    r"""Schedule-free AdamW (Defazio et al. 2024; ``schedulefree.AdamWScheduleFree`` 1.4.1, spec §2.4 [R]).

    Direction u = g/(√(v/(1 − β2^k)) + ε) (no first moment: β = ``betas[0]`` is the schedule-free
    interpolation), the schedule-free iterate rule with warmup and lr-weighted averaging, decay
    at y by default. Equal to ``schedulefree.AdamWScheduleFree`` to float32 round-off (tested).

    Args:
        lr, betas=(β, β2), eps, weight_decay, warmup_steps, r, weight_lr_power: as ``schedulefree``.
        weight_decay_at: ``"y"`` (``schedulefree``), ``"z"`` or ``"x"``.
    """

    def __init__(self, params, lr: float = 0.0025, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 warmup_steps: int = 0, r: float = 0.0, weight_lr_power: float = 2.0, weight_decay_at: str = "y", **kw):
        from convexlab.optim.base import check_betas

        check_betas(betas, "betas", allow_one=(True, False))
        super().__init__(params, sf_beta=betas[0], warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power,
                         weight_decay_at=weight_decay_at, lr=lr, betas=(0.0, betas[1]), eps=eps,
                         weight_decay=weight_decay, **kw)
