r"""Schedule-free as an iterate rule: any convexlab optimizer made schedule-free.

Defazio et al., "The Road Less Scheduled" (arXiv 2405.15682); SF-NorMuon, Apte et al. (arXiv
2605.23061) [SFN-ALG1]. With the base optimizer's direction d_t at the gradient point y_t and the step
D_t = lr_t·(d_t + λ·A_t) (A_t the iterate where weight decay acts: x, y or z),

    z_{t+1} = z_t − D_t
    x_{t+1} = (1 − c_{t+1}) x_t + c_{t+1} z_{t+1}
    y_{t+1} = (1 − β) z_{t+1} + β x_{t+1}

The parameter tensor holds y in train mode and x in eval mode; only z is stored. y is updated in
closed form, y_{t+1} = (1 − c) y_t + c z_t − (1 − β + βc) D_t (SF-NorMuon [SFN-DECAY] [I]; the same
closed form as ``schedulefree``'s ``AdamWScheduleFree.step``, whose operation order the rule follows:
u = d + λA, y ← lerp(y, z, c), y ← y + lr(β(1 − c) − 1)·u, z ← z − lr·u).

Averaging weights and counters follow ``schedulefree`` 1.4.1 (SF-NorMuon [SFN-SFADAMW] [EXT]), per param group:
lr_t = lr·min(1, (k+1)/warmup_steps), lr_max = max_k lr_k, w_k = (k+1)^r·lr_max^weight_lr_power,
c_{k+1} = w_k/Σ_{i≤k} w_i (0 while the sum is 0). As in ``schedulefree``, k, lr_max and the weight
sum advance at every ``step()`` for every group, also for a group none of whose parameters has a
gradient in that step; a parameter without a gradient (or skipped under ``nonfinite="skip"``) is
left where it is (y, z and its other state untouched), and a parameter's z starts at its value at its
first step with a gradient.

β = 1 is primal averaging (the gradient is taken at the average x); β = 0 is Polyak averaging of z
(then x is stored explicitly, since y = z carries no information about it; ``schedulefree`` divides
by β there). β is read from the group at every step (an LR scheduler may cycle it, as ``OneCycleLR``
does for ``betas[0]``); y stays what it is, so x = (y − (1 − β)z)/β is read with the current β, as in
``schedulefree``. Whether x is stored is fixed at a parameter's first step: a group's β may not
become 0, or leave 0, after that (``ValueError``).

Speed: the rule runs in multi-tensor passes (``torch._foreach_*``) per device and dtype. On the CPU
a group is taken in buckets of at most :data:`CPU_BUCKET` elements (large contiguous tensors cut
into flat views), so that the temporaries are reused from one bucket to the next instead of being
freshly page-faulted every step, and the several passes over a bucket run in cache; the arithmetic
is elementwise, so the buckets change no result. Elsewhere a bucket is a whole device/dtype group.

Differences from ``schedulefree``: the optimizer starts in train mode (``schedulefree`` raises
until ``.train()`` is called); a group added later starts in the optimizer's current mode
(``schedulefree`` starts it in eval mode); ``weight_decay_at`` names the decay placement ("y" is
``schedulefree``'s, "z" is SF-NorMuon's, "x" the slow-iterate counterexample of [SFN-FIG2]; classes
with :data:`DECAY_AT_EXTENDED` also take "none" and "all", below); ``decay_lr`` picks the lr of the
decay term.

Decay placement "all" (SF-NorMuon [SFN-DECAY] "Caution", from the first author's development code
``normuon_schedulefree_original.py`` of github.com/apteanuj/nanogpt_data_files [CODE/D], which
multiplies both the parameter (y) and z by (1 − η_tλ) before its schedule-free update): with
a_t = lr_dec·λ,

    y_t ← (1 − a_t) y_t,  z_t ← (1 − a_t) z_t   (so x_t = (y_t − (1 − β)z_t)/β ← (1 − a_t) x_t;
                                                 a stored x, β = 0, is shrunk too)
    then the undecayed rule with D_t = lr_t·d_t.

It is not D_t = lr_t(d_t + λA_t) for any single iterate A_t: it shrinks every sequence at once. The
decay multiplier lr_dec is lr_t (``decay_lr="scheduled"``, every code version [SFN-Q2]) or the base
lr (``decay_lr="base"``, the zij rendering of Algorithm 1's step 9 [T]; the two differ only during
warmup). For the other placements ``decay_lr="base"`` makes the decay part of the step
lr·λ·A_t instead of lr_t·λ·A_t, i.e. u = d + (lr/lr_t)·λ·A_t inside the closed form ([D] the
project's design).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from convexlab import _validation as V
from convexlab.optim.base import ComposedOptimizer
from convexlab.optim.momentum import NoMomentum

DECAY_AT = ("x", "y", "z")
#: the placements of :class:`SFNorMuon` and :class:`SFAdamW`: also "none" (λ acts nowhere: the same
#: trajectory as λ = 0, bit for bit) and "all" (the dev code's y and z both shrunk, so x is too)
DECAY_AT_EXTENDED = DECAY_AT + ("none", "all")
#: the lr that multiplies λ: the warmed-up lr_t ("scheduled", default) or the base lr ("base")
DECAY_LR = ("scheduled", "base")

#: group entries the schedule-free rule writes itself (not hyperparameters)
SF_INTERNAL_KEYS = ("k", "lr_max", "weight_sum", "train_mode", "scheduled_lr", "c")

#: elements per multi-tensor bucket on the CPU (2^18: 1 MiB per float32 tensor of a bucket)
CPU_BUCKET = 1 << 18


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


def _buckets(lists: list, limit: int | None):
    """Split parallel tensor lists into buckets of at most ``limit`` elements (``None``: one bucket).

    A row (the i-th tensor of every list) larger than ``limit`` is cut into flat views of ``limit``
    elements when all its tensors are contiguous (else it forms a bucket of its own); zero-size rows
    are dropped. Yields lists of views, parallel like the input."""
    if limit is None:
        if lists and lists[0]:
            yield lists
        return
    cur = [[] for _ in lists]
    size = 0
    for row in zip(*lists):
        numel = row[0].numel()
        if numel == 0:
            continue
        if numel > limit and all(t.is_contiguous() for t in row):
            pieces = zip(*(t.view(-1).split(limit) for t in row))
        else:
            pieces = (row,)
        for piece in pieces:
            m = piece[0].numel()
            if size and size + m > limit:
                yield cur
                cur = [[] for _ in lists]
                size = 0
            for out, t in zip(cur, piece):
                out.append(t)
            size += m
    if size:
        yield cur


def _by_device_dtype(params: list, *others: list):
    """Group parallel lists by the (device, dtype) of ``params`` (as torch.optim's foreach paths do)."""
    groups: dict = {}
    for i, p in enumerate(params):
        groups.setdefault((p.device, p.dtype), []).append(i)
    for idx in groups.values():
        yield [params[i] for i in idx], *([lst[i] for i in idx] for lst in others)


def _like(ts: list, ref: list) -> list:
    """``ts`` in the dtype of ``ref`` (a copy only where they differ)."""
    return [t if t.dtype == r.dtype else t.to(r.dtype) for t, r in zip(ts, ref)]


class ScheduleFreeMixin:
    r"""Mixin that replaces a :class:`ComposedOptimizer`'s plain iterate rule by schedule-free.

    Keyword args (in addition to the base optimizer's), each also accepted per param group (also
    through ``add_param_group``) and validated like the constructor's, again at a step after a change:
        sf_beta: interpolation β ∈ [0, 1] between z and x (0.9 default).
        warmup_steps: linear learning-rate warmup length (integer ≥ 0).
        r, weight_lr_power: averaging-weight exponents ≥ 0 (0 and 2, as in ``schedulefree``).
        weight_decay_at: ``"x"``, ``"y"`` or ``"z"``, where λ acts inside D_t (also ``"none"`` and
            ``"all"`` where :attr:`decay_at_choices` lists them; module docstring).
        decay_lr: ``"scheduled"`` (λ multiplied by the warmed-up lr_t, default) or ``"base"`` (by the base lr).

    The group entries ``k``, ``lr_max``, ``weight_sum``, ``train_mode``, ``scheduled_lr`` (lr_t) and
    ``c`` (c_{k+1}) are the rule's own bookkeeping (:attr:`internal_keys`).
    """

    iterate = "schedule_free"
    internal_keys = SF_INTERNAL_KEYS
    #: the group entry holding β: ``"sf_beta"``, or ``None`` for ``betas[0]`` (:class:`SFAdamW`)
    _beta_key: str | None = "sf_beta"
    #: the allowed ``weight_decay_at`` values (:data:`DECAY_AT`; SF-NorMuon and SF-AdamW: :data:`DECAY_AT_EXTENDED`)
    decay_at_choices: tuple = DECAY_AT

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        keys: list = []
        for klass in cls.__mro__:
            keys.extend(vars(klass).get("internal_keys", ()))
        cls.internal_keys = tuple(dict.fromkeys(keys))

    def __init__(self, params, *, sf_beta: float = 0.9, warmup_steps: int = 0, r: float = 0.0,
                 weight_lr_power: float = 2.0, weight_decay_at: str = "y", decay_lr: str = "scheduled", **kwargs):
        sf = {}
        if self._beta_key == "sf_beta":
            sf["sf_beta"] = V.beta("sf_beta", sf_beta, allow_one=True)
        sf.update(warmup_steps=V.integer("warmup_steps", warmup_steps), r=V.nonnegative_finite("r", r),
                  weight_lr_power=V.nonnegative_finite("weight_lr_power", weight_lr_power),
                  weight_decay_at=V.one_of("weight_decay_at", weight_decay_at, self.decay_at_choices),
                  decay_lr=V.one_of("decay_lr", decay_lr, DECAY_LR))
        if kwargs.get("box") is not None:
            raise ValueError("box projection is not defined for the schedule-free iterate rule; pass box=None")
        self._sf_defaults = dict(sf, k=0, lr_max=-1.0, weight_sum=0.0, train_mode=True, scheduled_lr=0.0, c=0.0)
        super().__init__(params, **kwargs)
        self.defaults.update(self._sf_defaults)

    def add_param_group(self, param_group: dict) -> None:
        defaults = getattr(self, "_sf_defaults", None)
        if defaults is not None:
            for key, v in defaults.items():
                if key == "train_mode" and self.param_groups:
                    v = self.training  # a new group starts in the optimizer's mode (no state yet: y = x = z)
                param_group.setdefault(key, v)
        super().add_param_group(param_group)

    # -- per-group settings ----------------------------------------------------------------------
    def _beta(self, group: dict) -> float:
        """The interpolation β of ``group``."""
        return float(group[self._beta_key]) if self._beta_key else float(group["betas"][0])

    def _validate_group(self, group: dict) -> None:
        super()._validate_group(group)
        self._validate_schedule_free(group)

    def _validate_schedule_free(self, group: dict) -> None:
        """The schedule-free settings of one group (the constructor's checks and messages)."""
        if self._beta_key:
            V.beta(self._beta_key, group[self._beta_key], allow_one=True)
        V.integer("warmup_steps", group["warmup_steps"])
        V.nonnegative_finite("r", group["r"])
        V.nonnegative_finite("weight_lr_power", group["weight_lr_power"])
        V.one_of("weight_decay_at", group["weight_decay_at"], self.decay_at_choices)
        V.one_of("decay_lr", group.get("decay_lr", "scheduled"), DECAY_LR)
        if any(group is g for g in self.param_groups):  # not for a state_dict being checked
            polyak = self._beta(group) == 0.0
            for p in group["params"]:
                st = self.state.get(p)
                if st and "z" in st and ("x" in st) != polyak:
                    name = self._beta_key or "betas[0]"
                    raise ValueError(
                        f"{name} of a param group must stay 0 (or stay > 0) once its parameters have stepped: "
                        f"x is stored only when it is 0 at a parameter's first step; got {name}="
                        f"{self._beta(group)!r} for a parameter whose state was made with "
                        f"{name}{'=0' if 'x' in st else '>0'}")

    # -- modes -----------------------------------------------------------------------------------
    @property
    def training(self) -> bool:
        return all(bool(g["train_mode"]) for g in self.param_groups)

    @torch.no_grad()
    def _set_mode(self, train: bool):
        """Move the parameters between y (train) and x (eval); groups already in the mode are left."""
        for group in self.param_groups:
            if group["train_mode"] == train:
                continue
            beta = self._beta(group)
            for p in group["params"]:
                st = self.state.get(p)
                if not st or "z" not in st:
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

    # -- counters --------------------------------------------------------------------------------
    def _prepare_step(self, plans):
        super()._prepare_step(plans)
        if not self.training:
            raise RuntimeError("step() called in eval mode: call opt.train() first (the parameters hold x, not y)")

    def _advance(self):
        """Per group, ``schedulefree``'s scalars of this step (every group, with gradients or not)."""
        super()._advance()
        for group in self.param_groups:
            k, warm = group["k"], group["warmup_steps"]
            sched = (k + 1) / warm if k < warm else 1.0
            lr = group["lr"] * sched
            if isinstance(lr, torch.Tensor):
                lr = float(lr)
            group["scheduled_lr"] = lr
            group["lr_max"] = lr_max = max(lr, group["lr_max"])
            weight = ((k + 1) ** group["r"]) * (lr_max ** group["weight_lr_power"])
            group["weight_sum"] = weight_sum = group["weight_sum"] + weight
            group["c"] = weight / weight_sum if weight_sum != 0 else 0.0
            group["k"] = k + 1

    def _lr(self, p, state, group):
        return group["scheduled_lr"]

    # -- state -----------------------------------------------------------------------------------
    def _init_state(self, p, state, group):
        super()._init_state(p, state, group)
        self._init_iterates(p, state, group)

    def _init_iterates(self, p, state, group):
        """z_1 = y_1 (the parameter at its first step with a gradient); x_1 = z_1 stored when β = 0."""
        state["z"] = p.detach().clone(memory_format=torch.preserve_format)
        if self._beta(group) == 0.0:
            state["x"] = p.detach().clone(memory_format=torch.preserve_format)

    # -- the rule --------------------------------------------------------------------------------
    def _bucket_limit(self, device: torch.device, group: dict) -> int | None:
        return CPU_BUCKET if device.type == "cpu" else None

    def _apply(self, p, d, state, group):
        self._apply_all(group, [p], [d], [state])

    @torch.no_grad()
    def _apply_all(self, group, params, ds, states):
        r"""The schedule-free rule for a group: u = d + λA, then y ← lerp(y, z, c) + lr(β(1 − c) − 1)·u,
        z ← z − lr·u (and x ← lerp(x, z, c) when x is stored). ``ds`` is only read."""
        if not params:
            return
        zs = [st["z"] for st in states]
        xs = [st.get("x") for st in states]
        one_at_a_time = group.get("foreach", None) is False
        for ys, zs_, ds_, xs_ in _by_device_dtype(params, zs, ds, xs):
            ds_ = _like(ds_, ys)
            stored = [x is not None for x in xs_]
            rows = [ys, zs_, ds_] + ([xs_] if all(stored) else [])
            if any(stored) and not all(stored):
                raise RuntimeError("schedule-free state is inconsistent: x stored for some parameters only")
            limit = self._bucket_limit(ys[0].device, group)
            chunks = [[[t] for t in row] for row in zip(*rows)] if one_at_a_time else [rows]
            for chunk in chunks:
                for b in _buckets(chunk, limit):
                    self._sf_update(group, b[0], b[1], b[2], b[3] if len(b) > 3 else None, owned=False)

    def _sf_update(self, group, ys, zs, us, xs, *, owned: bool):
        r"""One bucket: u ← u + λA (in place when ``owned``, else into a new list), then the closed form.

        With x stored (β = 0) y is set to z_{t+1} (y = z exactly) and x ← lerp(x, z_{t+1}, c).
        ``weight_decay_at="none"`` skips the decay (the λ = 0 path); ``"all"`` first multiplies y, z
        (and a stored x) by 1 − lr_dec·λ (module docstring); ``decay_lr="base"`` uses lr_dec = the base lr."""
        beta, c, lr = self._beta(group), group["c"], group["scheduled_lr"]
        wd = group.get("weight_decay", 0.0)
        at = group["weight_decay_at"]
        if wd and at != "none" and group.get("decay_lr", "scheduled") == "base":
            base = float(group["lr"])
            if at == "all":
                wd_lr = base * wd
            else:  # lr_t·(λ·lr/lr_t)·A = lr·λ·A; lr_t = 0 only when lr = 0 (then no decay either)
                wd = wd * base / lr if lr != 0 else 0.0
        elif at == "all":
            wd_lr = lr * wd
        if wd and at == "all":
            shrink = 1.0 - wd_lr
            torch._foreach_mul_(ys, shrink)
            torch._foreach_mul_(zs, shrink)
            if xs is not None:
                torch._foreach_mul_(xs, shrink)
        elif wd and at != "none":
            if at == "x" and xs is None and beta == 1.0:
                at = "y"  # β = 1: x = y
            if at == "y":
                A, alpha = [ys], [wd]
            elif at == "z":
                A, alpha = [zs], [wd]
            elif xs is not None:
                A, alpha = [xs], [wd]
            else:  # x = (y − (1 − β) z)/β
                A, alpha = [ys, zs], [wd / beta, -wd * (1.0 - beta) / beta]
            if not owned:
                us = torch._foreach_add(us, A[0], alpha=alpha[0])
                A, alpha = A[1:], alpha[1:]
            for a, w in zip(A, alpha):
                torch._foreach_add_(us, a, alpha=w)
        if xs is not None:
            torch._foreach_sub_(zs, us, alpha=lr)
            torch._foreach_copy_(ys, zs)
            torch._foreach_lerp_(xs, zs, c)
            return
        torch._foreach_lerp_(ys, zs, c)
        torch._foreach_add_(ys, us, alpha=lr * (beta * (1 - c) - 1))
        torch._foreach_sub_(zs, us, alpha=lr)


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


from convexlab.geometry.euclidean import Euclidean  # noqa: E402
from convexlab.optim.general import AdamW  # noqa: E402  (the base of SFAdamW)


class SFAdamW(ScheduleFreeMixin, AdamW):
    r"""Schedule-free AdamW (Defazio et al. 2024; ``schedulefree.AdamWScheduleFree`` 1.4.1, SF-NorMuon [SFN-SFADAMW] [EXT]).

    Per param group, with k the group's step count (``group["k"]``, advanced at every ``step()``)::

        v ← β2·v + (1 − β2)·g²                              (state ``exp_avg_sq``, v_0 = 0)
        σ = √(v/(1 − β2^k)) + ε                             (the AdamW metric; the bias correction
                                                             uses the group's k, as schedulefree)
        u = g/σ + λ·A                                       (A = y by default: ``weight_decay_at``)
        y ← (1 − c)·y + c·z + lr_k(β(1 − c) − 1)·u,  z ← z − lr_k·u

    with β = ``betas[0]``, β2 = ``betas[1]`` read from each group at every step (per-group betas, and
    LR schedulers that cycle ``betas[0]`` such as ``OneCycleLR(cycle_momentum=True)``, act on the
    interpolation exactly as in ``schedulefree``) and lr_k, c from :class:`ScheduleFreeMixin`.

    Parts: momentum :class:`~convexlab.optim.momentum.NoMomentum` (AdamW with β1 = 0: ``betas[0]``
    is the interpolation, not a first moment, so no ``exp_avg`` is kept); geometry
    :class:`~convexlab.geometry.Euclidean` with the per-coordinate scale σ (:meth:`_scales`).
    State per parameter: exactly ``z``, ``exp_avg_sq`` and ``step`` (8 bytes per float32
    parameter, as ``schedulefree``; plus ``x`` when β = 0).

    Exactness: the operations and their order are ``schedulefree``'s foreach path (v, σ = sqrt(v/bc)
    + ε, g/σ, + λy, lerp, add, sub), so the trajectories agree bit for bit on the CPU (tested, float32
    and float64, with decay, warmup, several groups, a group without gradients, a late parameter and
    ``OneCycleLR``). Differences: ``p.grad`` is not overwritten (``schedulefree`` divides it by σ in
    place); ε = 0 with a never-nonzero gradient coordinate gives 0/0 = NaN in both; the train/eval
    and add_param_group differences of :class:`ScheduleFreeMixin`; β = 0 is accepted (Polyak
    averaging, x stored) where ``schedulefree``'s ``eval()`` divides by zero.

    Args:
        lr, betas=(β, β2), eps, weight_decay, warmup_steps, r, weight_lr_power: as ``schedulefree``
            (β ∈ [0, 1], β2 ∈ [0, 1), ε ≥ 0, λ ≥ 0; per group too).
        weight_decay_at: ``"y"`` (``schedulefree``), ``"z"``, ``"x"``, ``"none"`` (λ acts nowhere: the
            λ = 0 trajectory, SF-NorMuon Fig. 2's "no decay" arm [SFN-FIG2]) or ``"all"`` (y and z shrunk
            by 1 − lr·λ before the step; :class:`ScheduleFreeMixin`'s module docstring).
        decay_lr: ``"scheduled"`` (λ·lr_k, default, as ``schedulefree``) or ``"base"`` (λ·lr).
        maximize, foreach, nonfinite, seed: see :class:`~convexlab.optim.base.ComposedOptimizer`.
    """

    _beta_key = None
    decay_at_choices = DECAY_AT_EXTENDED
    #: no per-tensor legacy direction: the AdamW base's ``_direction`` has a first moment (β1 = betas[0])
    _direction = ComposedOptimizer._direction

    def __init__(self, params, lr: float = 0.0025, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 warmup_steps: int = 0, r: float = 0.0, weight_lr_power: float = 2.0, weight_decay_at: str = "y", **kw):
        if "sf_beta" in kw:
            raise ValueError("SFAdamW takes its interpolation beta as betas[0], not sf_beta")
        self._sf_betas = V.betas("betas", betas, allow_one=(True, False))
        # the AdamW base is given β1 = 0 (no first moment); the groups hold (β, β2) as schedulefree's
        super().__init__(params, warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power,
                         weight_decay_at=weight_decay_at, lr=lr, betas=(0.0, self._sf_betas[1]), eps=eps,
                         weight_decay=weight_decay, **kw)
        self.defaults["betas"] = self._sf_betas

    def add_param_group(self, param_group: dict) -> None:
        param_group.setdefault("betas", self._sf_betas)
        super().add_param_group(param_group)

    def _validate_group(self, group):
        # the AdamW base's check would refuse β = 1 (its β1 is a first moment; here it is the interpolation)
        ComposedOptimizer._validate_group(self, group)
        V.betas("betas", group["betas"], allow_one=(True, False))
        V.nonnegative_finite("eps", group["eps"])
        self._validate_schedule_free(group)

    # -- the parts -------------------------------------------------------------------------------
    def momentum(self, group):
        """:class:`~convexlab.optim.momentum.NoMomentum`: u = g (AdamW at β1 = 0)."""
        return NoMomentum()

    def geometry(self, group):
        """:class:`~convexlab.geometry.Euclidean`, scaled per coordinate by σ = √v̂ + ε."""
        return Euclidean()

    def _init_state(self, p, state, group):
        state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        self._init_iterates(p, state, group)

    def _second_moment(self, group):
        beta2 = float(group["betas"][1])
        return beta2, 1 - beta2 ** group["k"], float(group["eps"])

    def _scales(self, group, params, us, states):
        """v ← β2 v + (1 − β2) u², then σ = √(v/(1 − β2^k)) + ε (a new list)."""
        beta2, bc2, eps = self._second_moment(group)
        vs = [st["exp_avg_sq"] for st in states]
        gs = _like(us, vs)
        torch._foreach_mul_(vs, beta2)
        torch._foreach_addcmul_(vs, gs, gs, value=1 - beta2)
        den = torch._foreach_div(vs, bc2)
        torch._foreach_sqrt_(den)
        torch._foreach_add_(den, eps)
        return den

    @torch.no_grad()
    def _group_step(self, group, params, grads, states):
        """The fused step: :meth:`_scales`, u = g/σ, :meth:`ScheduleFreeMixin._apply_all`'s rule, per
        bucket (module docstring), in ``schedulefree``'s operation order."""
        beta2, bc2, eps = self._second_moment(group)
        zs = [st["z"] for st in states]
        vs = [st["exp_avg_sq"] for st in states]
        xs = [st.get("x") for st in states]
        one_at_a_time = group.get("foreach", None) is False
        for ys, gs, zs_, vs_, xs_ in _by_device_dtype(params, grads, zs, vs, xs):
            gs = _like(gs, ys)
            rows = [ys, gs, zs_, vs_] + ([xs_] if xs_[0] is not None else [])
            limit = self._bucket_limit(ys[0].device, group)
            chunks = [[[t] for t in row] for row in zip(*rows)] if one_at_a_time else [rows]
            for chunk in chunks:
                for b in _buckets(chunk, limit):
                    y, g, z, v = b[:4]
                    torch._foreach_mul_(v, beta2)
                    torch._foreach_addcmul_(v, g, g, value=1 - beta2)
                    den = torch._foreach_div(v, bc2)
                    torch._foreach_sqrt_(den)
                    torch._foreach_add_(den, eps)
                    u = torch._foreach_div(g, den)
                    del den
                    self._sf_update(group, y, z, u, b[4] if len(b) > 4 else None, owned=True)


__all__ = ["DECAY_AT", "DECAY_AT_EXTENDED", "DECAY_LR", "SF_INTERNAL_KEYS", "CPU_BUCKET", "ScheduleFreeMixin", "SFAdamW", "evaluating", "schedule_free"]
