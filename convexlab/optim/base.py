r"""The composed optimizer: momentum rule → geometry direction → iterate rule, decay at a named place.

Every optimizer of convexlab is one update (README, "What convexlab is")::

    u_t = momentum(g_t, state)                  # none, EMA, SGD buffer, Nesterov, Lion interpolation
    d_t = direction(u_t) = ∇ψ*(u_t)             # the geometry: sign, soft sign, stochastic sign, polar, ...
    x   = iterate(x, d_t, lr)                   # plain step, box-projected step, or schedule-free (x, y, z)
    weight decay at a named place               # decoupled at x; for schedule-free at x, y or z

:class:`ComposedOptimizer` owns what every optimizer shares: argument validation, the non-finite
gradient policy, the random generator (saved in ``state_dict`` so that a resumed run draws the
same noise, and seeded identically on every data-parallel rank), the plain and box-projected
iterate rules with decoupled weight decay, and the schedule-free iterate rule. A named optimizer
implements ``_init_state`` and ``_direction`` (momentum and geometry), and the group hook
``_group_step`` when a statistic is pooled over the group (SoftSignum's temperature schedule).

The gradient ``p.grad`` is never written to.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from convexlab import _validation as V
from convexlab.geometry.base import Geometry, SeparableGeometry
from convexlab.optim.momentum import MomentumPart, NoMomentum

_NONFINITE = ("raise", "skip")
#: largest accepted seed (the generators are seeded with seed + device index, below 2**64)
SEED_MAX = 2**63 - 1


# ---------------------------------------------------------------------------------------------
# the composed optimizer
# ---------------------------------------------------------------------------------------------
class NonFiniteGradientError(ValueError):
    """A step refused because a gradient holds NaN or inf (``nonfinite="raise"``); nothing changed.
    A ``ValueError``, so callers that catch bad input keep working; the GPT trainer catches this type
    to stop the run with its non-finite report."""


class ComposedOptimizer(torch.optim.Optimizer):
    r"""Base class of every convexlab optimizer (see the module docstring).

    A named optimizer declares its parts: :meth:`momentum` (a :mod:`convexlab.optim.momentum` part),
    :meth:`geometry` (the :mod:`convexlab.geometry` object whose ∇ψ* the step applies) and, for a
    scaled geometry, :meth:`_scales` (the per-coordinate σ: AdamW's √v̂ + ε, StoSignSGD's envelope).
    The default :meth:`_group_step` then runs, in a few multi-tensor passes over each param group::

        u = momentum(group).update(g)                          # the momentum part
        x ← x·(1 − lr·λ)                                        # decoupled decay at x
        x ← x − lr·geometry(group).∇ψ_σ*(u)                     # the direction, fused into the add
        x ← clip(x, box)                                        # the projection, if a box is given

    One ``step()``:

    1. runs the closure;
    2. re-validates every group whose hyperparameters changed since they were last checked (an LR
       scheduler, ``add_param_group`` or a hand edit of ``param_groups`` gets the constructor's
       ``ValueError``);
    3. collects the gradients of every group and checks them (sparse, complex, non-finite) with one
       host synchronisation for the whole step;
    4. calls :meth:`_prepare_step` (a subclass may refuse the step, e.g. SoftSignum ``strict``);

    so a step that raises leaves parameters, state and counters untouched. Only then are the
    counters advanced (:meth:`_advance`) and the groups updated. ``step`` is excluded from
    ``torch.compile`` tracing (``torch.compiler.disable``): a compiled call runs this eager code, so
    a compiled training step and an eager one take identical optimizer steps and the Python
    counters (SoftSignum's k, :attr:`nonfinite_skipped`) advance in both.

    Args (shared by all subclasses):
        nonfinite: ``"raise"`` (default): a NaN/inf gradient raises ``ValueError`` naming the
            parameter; ``"skip"``: that parameter's step is skipped (its state untouched) and
            counted in :attr:`nonfinite_skipped`.
        seed: seed of the optimizer's own random generator (used by stochastic directions), an
            integer in [0, 2⁶³ − 1]. ``None`` draws one from torch's global generator. Under
            ``torch.distributed`` (initialized before the optimizer is built) rank 0's seed, explicit
            or drawn, is broadcast and used by every rank, so that the replicas draw the same noise.
        box: optional ``(low, high)`` (numbers or tensors broadcastable to every parameter): after
            each step the parameters are clipped to the box, the Euclidean (and, for a box, every
            diagonally weighted) projection used by projected methods.
        maximize: ascend f (the gradient is negated before the momentum part; ``p.grad`` is never
            written). Per group.
        foreach: ``None`` or ``True``: multi-tensor passes over each group (the default);
            ``False``: the same arithmetic one tensor at a time (lower peak memory). Per group.
        differentiable, capturable, fused: accepted with torch's meaning only at their off value
            (``False`` / ``False`` / ``None`` or ``False``); any other value raises ``ValueError``
            (no convexlab optimizer has a differentiable, CUDA-graph-capturable or fused kernel).

    Parameters must be real floating tensors (complex ones raise ``ValueError``); zero-size
    tensors are allowed; a tensor listed twice raises ``ValueError``.

    Subclasses set :attr:`matrix_only` to reject parameters with fewer than 2 dimensions and list
    in :attr:`internal_keys` the group entries they write themselves (not re-validated).
    """

    matrix_only: bool = False
    #: True when every statistic of the optimizer is per coordinate (no norms, quantiles or
    #: matrix maps across entries of a tensor): then independent runs may share one tensor as
    #: its rows (the batched simulator, :func:`convexlab.sim.simulate`).
    coordinatewise: bool = False
    #: iterate rule: "plain" (x ← x − lr·d, optionally projected on ``box``) or "schedule_free"
    iterate: str = "plain"
    #: group entries the optimizer writes itself (bookkeeping, not hyperparameters)
    internal_keys: tuple[str, ...] = ()

    def __init__(self, params, defaults: dict, *, nonfinite: str = "raise", seed: int | None = None, box=None,
                 maximize: bool = False, foreach: bool | None = None, differentiable: bool = False,
                 capturable: bool = False, fused: bool | None = None):
        V.one_of("nonfinite", nonfinite, _NONFINITE)
        _check_off("differentiable", differentiable, (False,))
        _check_off("capturable", capturable, (False,))
        _check_off("fused", fused, (None, False))
        defaults = dict(defaults)
        defaults.setdefault("maximize", maximize)
        defaults.setdefault("foreach", foreach)
        if "lr" in defaults:
            V.nonnegative_finite("lr", defaults["lr"])
        if "weight_decay" in defaults:
            V.nonnegative_finite("weight_decay", defaults["weight_decay"])
        if seed is not None:
            V.integer("seed", seed, maximum=SEED_MAX)
        self._box = self._check_box(box)
        self._validated: dict[int, tuple] = {}
        super().__init__(params, defaults)
        for group in self.param_groups:
            self._validate_group(group)
            self._validated[id(group)] = self._hyper_key(group)
        self.nonfinite = nonfinite
        self.nonfinite_skipped = 0
        self._seed = self._agreed_seed(seed)
        self._generators: dict[str, torch.Generator] = {}

    # -- the parts (public, per group) -----------------------------------------------------
    def momentum(self, group: dict) -> MomentumPart:
        """The momentum part of ``group``'s steps (:mod:`convexlab.optim.momentum`)."""
        return NoMomentum()

    def geometry(self, group: dict) -> Geometry:
        """The geometry whose direction ∇ψ* ``group``'s next step applies."""
        raise NotImplementedError(f"{type(self).__name__} does not declare its geometry")

    # -- validation --------------------------------------------------------------------------
    def _validate_group(self, group: dict) -> None:
        """Check one param group's hyperparameters and parameters (called for every group, and
        again at a step whenever a hyperparameter changed)."""
        V.nonnegative_finite("lr", group["lr"])
        if "weight_decay" in group:
            V.nonnegative_finite("weight_decay", group["weight_decay"])
        V.boolean("maximize", group.get("maximize", False))
        if group.get("foreach", None) is not None and not isinstance(group["foreach"], bool):
            raise ValueError(f"foreach must be None, True or False, got {group['foreach']!r}")
        for key, allowed in (("differentiable", (False,)), ("capturable", (False,)), ("fused", (None, False))):
            if key in group:
                _check_off(key, group[key], allowed)
        names = group.get("param_names")
        gi = next((k for k, g in enumerate(self.param_groups) if g is group), len(self.param_groups))
        seen: set[int] = set()
        for i, p in enumerate(group["params"]):
            label = names[i] if names else f"index {i} of param group {gi}"
            if id(p) in seen:
                raise ValueError(f"parameter {label} appears twice in its param group; list each tensor once")
            seen.add(id(p))
            if p.is_sparse:
                raise ValueError(f"sparse parameters are not supported (parameter {label})")
            if p.is_complex() or not p.is_floating_point():
                raise ValueError(f"parameter {label} has dtype {p.dtype}; convexlab optimizers take real floating "
                                 "tensors (for a complex parameter, optimize torch.view_as_real(p))")
            if self.matrix_only and p.ndim < 2:
                raise ValueError(
                    f"{type(self).__name__} updates matrices, but parameter {label} has shape {tuple(p.shape)}; "
                    "route 1-D parameters (gains, biases), embeddings and the output head to AdamW, e.g. with "
                    "convexlab.optim.split_params(model) / convexlab.optim.MatrixAndAdamW"
                )

    def _hyper_key(self, group: dict) -> tuple:
        """A snapshot of the group's hyperparameters, to notice changes between steps."""
        skip = self.internal_keys
        return tuple((k, _frozen(v)) for k, v in group.items()
                     if k not in ("params", "param_names") and k not in skip and not k.startswith("_"))

    def _revalidate(self) -> None:
        for group in self.param_groups:
            key = self._hyper_key(group)
            if self._validated.get(id(group)) != key:
                self._validate_group(group)
                self._validated[id(group)] = key

    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)
        if hasattr(self, "nonfinite"):  # groups added after construction
            group = self.param_groups[-1]
            try:
                self._validate_group(group)
            except ValueError:
                self.param_groups.pop()
                raise
            self._validated[id(group)] = self._hyper_key(group)

    @staticmethod
    def _check_box(box):
        if box is None:
            return None
        if not isinstance(box, (tuple, list)) or len(box) != 2:
            raise ValueError(f"box must be None or a pair (low, high), got {box!r}")
        low, high = (torch.as_tensor(b, dtype=torch.float64) for b in box)
        if not bool((low <= high).all()):
            raise ValueError(f"box must satisfy low <= high everywhere, got low={box[0]!r}, high={box[1]!r}")
        return box

    # -- random generator ----------------------------------------------------------------------
    @staticmethod
    def _agreed_seed(seed: int | None) -> int:
        if seed is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized():
            # every rank must draw the same structural noise, so the replicas stay identical
            t = torch.tensor([seed], dtype=torch.int64)
            if dist.get_backend() == "nccl":
                t = t.cuda()
            dist.broadcast(t, src=0)
            seed = int(t.item())
        return seed

    def reseed(self, seed: int) -> None:
        """Restart the optimizer's random generators from ``seed`` (e.g. one seed per simulated run)."""
        V.integer("seed", seed, maximum=SEED_MAX)
        self._seed = int(seed)
        self._generators = {}

    def generator(self, device: torch.device) -> torch.Generator:
        """The optimizer's generator for ``device`` (one per device, seeded from ``seed``)."""
        key = str(device)
        gen = self._generators.get(key)
        if gen is None:
            gen = torch.Generator(device=device)
            gen.manual_seed(self._seed + (0 if device.type == "cpu" else 1 + (device.index or 0)))
            self._generators[key] = gen
        return gen

    # -- pickling / deepcopy: torch keeps only defaults, state and param_groups ----------------
    def __getstate__(self):
        d = dict(super().__getstate__())
        d.update({k: v for k, v in self.__dict__.items() if k not in d and k not in ("_generators", "_validated")})
        d["_generator_states"] = {k: g.get_state() for k, g in self._generators.items()}
        return d

    def __setstate__(self, state):
        state = dict(state)
        gens = state.pop("_generator_states", {})
        super().__setstate__(state)
        self._generators = {}
        for key, s in gens.items():
            gen = torch.Generator(device=torch.device(key))
            gen.set_state(s)
            self._generators[key] = gen
        self._validated = {}

    # -- state_dict: add the generator states, the skip counter, the seed and the class ----------
    def state_dict(self) -> dict:
        sd = super().state_dict()
        sd["convexlab"] = {
            "class": type(self).__name__,
            "seed": self._seed,
            "generators": {k: g.get_state() for k, g in self._generators.items()},
            "nonfinite_skipped": self.nonfinite_skipped,
        }
        return sd

    def load_state_dict(self, state_dict: dict) -> None:
        """torch's ``load_state_dict``, after checking (before anything is changed) that the state
        comes from this class, that every state tensor has the shape this optimizer would give it,
        and that the saved hyperparameters pass the constructor's validation."""
        state_dict = dict(state_dict)
        extra = state_dict.pop("convexlab", None)
        self._check_loadable(state_dict, extra)
        super().load_state_dict(state_dict)
        self._validated = {id(g): self._hyper_key(g) for g in self.param_groups}
        if extra is not None:
            self._seed = extra["seed"]
            self.nonfinite_skipped = extra["nonfinite_skipped"]
            self._generators = {}
            for key, s in extra["generators"].items():
                gen = torch.Generator(device=torch.device(key))
                gen.set_state(s)
                self._generators[key] = gen

    def _check_loadable(self, state_dict: dict, extra: dict | None) -> None:
        cls = (extra or {}).get("class")
        if cls is not None and cls != type(self).__name__:
            raise ValueError(f"state_dict comes from {cls}, not from {type(self).__name__}; load it into a {cls}")
        saved = state_dict.get("param_groups")
        if not isinstance(saved, list) or len(saved) != len(self.param_groups):
            n = len(saved) if isinstance(saved, list) else saved
            raise ValueError(f"state_dict has {n} param groups, this optimizer has {len(self.param_groups)}")
        owner: dict = {}
        for gi, (sg, group) in enumerate(zip(saved, self.param_groups)):
            if len(sg["params"]) != len(group["params"]):
                raise ValueError(f"param group {gi} of the state_dict has {len(sg['params'])} parameters, "
                                 f"this optimizer's has {len(group['params'])}")
            merged = {**sg, "params": group["params"]}
            if "param_names" in group:
                merged["param_names"] = group["param_names"]
            self._validate_group(merged)
            for key, p in zip(sg["params"], group["params"]):
                owner[key] = (p, merged)
        for key, st in state_dict.get("state", {}).items():
            if key not in owner or not isinstance(st, dict):
                continue
            p, group = owner[key]
            fresh = {"step": 0}
            self._init_state(p.detach().to("meta"), fresh, group)
            for name, v in st.items():
                ref = fresh.get(name)
                if isinstance(v, torch.Tensor) and isinstance(ref, torch.Tensor) and v.shape != ref.shape:
                    raise ValueError(f"state_dict does not match the parameters: state {name!r} of a parameter of "
                                     f"shape {tuple(p.shape)} has shape {tuple(v.shape)}, expected {tuple(ref.shape)}")

    # -- the step ------------------------------------------------------------------------------
    def _active(self, group: dict) -> tuple[list, list]:
        """The parameters of ``group`` that have a gradient, and their gradients (unchecked)."""
        params = [p for p in group["params"] if p.grad is not None]
        return params, [p.grad for p in params]

    def _checked(self, plans: list) -> list:
        """Check every gradient of the step (sparse, complex, non-finite) with one host
        synchronisation; return the plans without the parameters skipped under ``nonfinite="skip"``."""
        grads = []
        for group, params, gs in plans:
            for p, g in zip(params, gs):
                if g.is_sparse:
                    raise ValueError(f"{type(self).__name__} does not support sparse gradients "
                                     f"(parameter {self._label(group, p)})")
                if g.is_complex() or g.shape != p.shape:
                    raise ValueError(f"the gradient of parameter {self._label(group, p)} has dtype {g.dtype} and "
                                     f"shape {tuple(g.shape)}; expected a real tensor of shape {tuple(p.shape)}")
            grads.extend(gs)
        if not grads:
            return plans
        # one fused reduction: a non-finite norm flags the step (a huge finite gradient can
        # overflow it, so the exact per-tensor test below decides)
        norms = torch._foreach_norm(grads)
        dev = grads[0].device
        if bool(torch.isfinite(torch.stack([n.to(device=dev, dtype=torch.float32) for n in norms])).all()):
            return plans
        out = []
        skipped = 0
        for group, params, gs in plans:
            keep_p, keep_g = [], []
            for p, g in zip(params, gs):
                if bool(torch.isfinite(g).all()):
                    keep_p.append(p)
                    keep_g.append(g)
                    continue
                if self.nonfinite == "raise":
                    n_nan, n_inf = int(torch.isnan(g).sum()), int(torch.isinf(g).sum())
                    raise NonFiniteGradientError(
                        f"non-finite gradient for parameter {self._label(group, p)} (shape {tuple(p.shape)}): "
                        f"{n_nan} NaN and {n_inf} inf entries; pass nonfinite='skip' to skip such steps"
                    )
                skipped += 1
            out.append((group, keep_p, keep_g))
        self.nonfinite_skipped += skipped
        return out

    def _label(self, group: dict, p: torch.Tensor) -> str:
        gi = next((k for k, g in enumerate(self.param_groups) if g is group), -1)
        i = next((k for k, q in enumerate(group["params"]) if q is p), -1)
        names = group.get("param_names")
        return names[i] if names and i >= 0 else f"index {i} of param group {gi}"

    @torch.compiler.disable
    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._take_step(self._plan_step())
        return loss

    def _plan_step(self) -> list:
        """Every check of a step, nothing changed: re-validate changed groups, collect and check the
        gradients, let the subclass refuse (:meth:`_prepare_step`). Returns the plans that
        :meth:`_take_step` executes (a composite optimizer plans all its parts before stepping any)."""
        self._revalidate()
        plans = self._checked([(group, *self._active(group)) for group in self.param_groups])
        self._prepare_step(plans)
        return plans

    def _take_step(self, plans: list) -> None:
        """Advance the counters and update every group of ``plans`` (from :meth:`_plan_step`)."""
        self._advance()
        for group, params, grads in plans:
            if not params:
                continue
            states = []
            for p in params:
                st = self.state[p]
                if not st:
                    st["step"] = 0
                    self._init_state(p, st, group)
                st["step"] += 1
                states.append(st)
            if group.get("maximize", False):
                grads = torch._foreach_neg(grads)
            self._before_group(group)
            if group.get("foreach", None) is False and self._elementwise_group_step(group):
                for i in range(len(params)):
                    self._group_step(group, params[i:i + 1], grads[i:i + 1], states[i:i + 1])
            else:
                self._group_step(group, params, grads, states)
            self._after_group(group)

    def _elementwise_group_step(self, group: dict) -> bool:
        """Whether the group step pools nothing across tensors (then ``foreach=False`` may run it one
        tensor at a time with identical results)."""
        return self.coordinatewise and type(self)._group_step is ComposedOptimizer._group_step

    def _prepare_step(self, plans: list) -> None:
        """Hook after every check and before any change: raise here to refuse the step."""

    def _advance(self) -> None:
        """Hook: advance optimizer-wide counters (after the checks, before the groups are updated)."""

    def _group_step(self, group: dict, params: list, grads: list, states: list) -> None:
        """momentum part → geometry direction → plain iterate rule (see the class docstring)."""
        if type(self)._direction is not ComposedOptimizer._direction:
            # a subclass with its own per-tensor direction (momentum and map in one function)
            for p, g, st in zip(params, grads, states):
                self._apply(p, self._direction(p, g, st, group), st, group)
            return
        part = self.momentum(group)
        geo = self.geometry(group)
        if self._blockable(group, params, geo):
            lr = group["lr"]
            wd = group.get("weight_decay", 0.0)
            for ps, gs, sts in cpu_blocks(params, grads, states, part.state_keys):
                us = part.update(gs, sts, group)
                if wd and lr:
                    torch._foreach_mul_(ps, 1.0 - lr * wd)
                self._add_direction(geo, ps, us, -lr, None, None, group, scratch=part.fresh)
            return
        us = part.update(grads, states, group)
        scales = self._scales(group, params, us, states)
        gen = self.generator(params[0].device) if geo.stochastic else None
        lrs = [self._lr(p, st, group) for p, st in zip(params, states)]
        if self.iterate == "plain" and all(lr == lrs[0] for lr in lrs):
            lr = lrs[0]
            wd = group.get("weight_decay", 0.0)
            if wd and lr:
                torch._foreach_mul_(params, 1.0 - lr * wd)
            self._add_direction(geo, params, us, -lr, scales, gen, group, scratch=part.fresh)
            self._project(params)
            return
        ds = self._step_directions(geo, us, scales, gen, group)
        self._apply_all(group, params, ds, states)

    def _blockable(self, group: dict, params: list, geo) -> bool:
        """Whether the default step may run in CPU blocks (:func:`cpu_blocks`): a plain, unprojected,
        unscaled, deterministic, coordinate-wise step with the group lr on CPU tensors."""
        return (params[0].device.type == "cpu" and self.iterate == "plain" and self._box is None
                and isinstance(geo, SeparableGeometry) and not geo.stochastic
                and type(self)._scales is ComposedOptimizer._scales and type(self)._lr is ComposedOptimizer._lr)

    def _scales(self, group: dict, params: list, us: list, states: list) -> list | None:
        """The per-coordinate scales σ of the geometry (see ``Geometry.step_directions``); None
        for an unscaled geometry."""
        return None

    def _step_directions(self, geo, us, scales, gen, group) -> list:
        return geo.step_directions(us, scales=scales, generator=gen)

    def _add_direction(self, geo, params, us, alpha, scales, gen, group, scratch: bool = False) -> None:
        if scratch:
            geo.add_direction_(params, us, alpha, scales=scales, generator=gen, scratch=True)
        else:
            geo.add_direction_(params, us, alpha, scales=scales, generator=gen)

    def _apply_all(self, group: dict, params: list, ds: list, states: list) -> None:
        """The iterate rule for a whole group (default: :meth:`_apply` per tensor)."""
        for p, d, st in zip(params, ds, states):
            self._apply(p, d, st, group)

    def _project(self, params: list) -> None:
        if self._box is None:
            return
        low, high = self._box
        for p in params:
            p.clamp_(min=torch.as_tensor(low, dtype=p.dtype, device=p.device),
                     max=torch.as_tensor(high, dtype=p.dtype, device=p.device))

    # -- to be provided by the named optimizers ------------------------------------------------
    def _init_state(self, p: torch.Tensor, state: dict, group: dict) -> None:
        """Create the per-parameter buffers (default: the momentum part's)."""
        self.momentum(group).init(p, state, group)

    def _direction(self, p: torch.Tensor, g: torch.Tensor, state: dict, group: dict) -> torch.Tensor:
        """Legacy per-tensor path: update the momentum state from ``g`` and return d. Optimizers
        declare :meth:`momentum` and :meth:`geometry` instead."""
        raise NotImplementedError

    def _before_group(self, group: dict) -> None:
        """Hook before a group's parameters are updated (schedule-free scalars)."""

    def _after_group(self, group: dict) -> None:
        """Hook after a group's parameters are updated."""

    # -- iterate rules -------------------------------------------------------------------------
    def _lr(self, p: torch.Tensor, state: dict, group: dict) -> float:
        """The step size of this step (the group lr; subclasses may schedule it)."""
        return group["lr"]

    def _apply(self, p: torch.Tensor, d: torch.Tensor, state: dict, group: dict) -> None:
        """Plain iterate rule with decoupled decay at x: x ← x(1 − lr·λ) − lr·d, then the box."""
        lr = self._lr(p, state, group)
        wd = group.get("weight_decay", 0.0)
        if wd:
            p.mul_(1.0 - lr * wd)
        p.add_(d.to(p.dtype), alpha=-lr)
        self._project([p])


#: elements per block of the default step on a CPU: 2^18 (1 MiB of float32 per tensor), so that the
#: few tensors a block touches stay in cache and its temporaries are small reused allocations
#: instead of full-size ones that the C allocator returns to the system (and page-faults back in)
#: at every step
CPU_BLOCK = 1 << 18


def cpu_blocks(params: list, grads: list, states: list, keys: tuple, limit: int | None = CPU_BLOCK,
               one_at_a_time: bool = False):
    """Yield (params, grads, states) lists of at most ``limit`` elements (one tensor may exceed it only
    where it cannot be cut; ``None``: everything in one block, nothing cut; ``one_at_a_time``: at most
    one tensor or piece per block, for ``foreach=False``). A contiguous tensor larger than ``limit``
    whose gradient and buffers ``keys`` are contiguous too is cut into flat views, with a state dict
    of views (``step`` and the buffers); elementwise arithmetic on the views is the arithmetic on the
    whole tensors. A tensor with a missing buffer (momentum switched on later) keeps its own state
    dict, so that the momentum part can allocate it."""
    cur: tuple = ([], [], [])
    size = 0
    for p, g, st in zip(params, grads, states):
        n = p.numel()
        bufs = [st.get(k) for k in keys]
        whole = (limit is None or n <= limit or any(b is None for b in bufs)
                 or not all(x.is_contiguous() for x in (p, g, *bufs)))
        if whole:
            pieces = [(p, g, st)]
        else:
            views = [b.view(-1).split(limit) for b in bufs]
            pieces = [(pp, gg, {"step": st["step"], **{k: v[i] for k, v in zip(keys, views)}})
                      for i, (pp, gg) in enumerate(zip(p.view(-1).split(limit), g.view(-1).split(limit)))]
        for piece in pieces:
            m = piece[0].numel()
            if size and (one_at_a_time or (limit is not None and size + m > limit)):
                yield cur
                cur, size = ([], [], []), 0
            for out, x in zip(cur, piece):
                out.append(x)
            size += m
    if size:
        yield cur


def _check_off(name: str, value: Any, allowed: tuple) -> None:
    if not any(value is a for a in allowed):
        raise ValueError(f"{name}={value!r} is not supported by convexlab optimizers; allowed: "
                         f"{' or '.join(repr(a) for a in allowed)}")


def _frozen(value: Any) -> Any:
    """A comparable stand-in for a group entry (tensors by identity: no host synchronisation)."""
    if isinstance(value, torch.Tensor):
        return ("tensor", id(value), value._version)
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _frozen(v)) for k, v in value.items())
    return value


# ---------------------------------------------------------------------------------------------
# helpers used by several optimizers
# ---------------------------------------------------------------------------------------------
def unhooked(step: Callable) -> Callable:
    """The bound ``step`` method without torch.optim's hook wrapper.

    torch wraps the ``step`` of every optimizer class it instantiates (running the step hooks and a
    profiler scope around it). A subclass whose own ``step`` calls ``super().step()`` would run the
    hooks a second time once the parent class has been instantiated somewhere in the process; a
    ``step`` override calls ``unhooked(super().step)(closure)`` instead, so the hooks run once, in
    the wrapper of the class that is called."""
    func = getattr(step, "__func__", step)
    if getattr(func, "hooked", False) and hasattr(func, "__wrapped__"):
        return func.__wrapped__.__get__(step.__self__)
    return step


def ema_(buf: torch.Tensor, g: torch.Tensor, beta: float) -> torch.Tensor:
    """buf ← β·buf + (1 − β)·g, in place."""
    return buf.lerp_(g.to(buf.dtype), 1.0 - beta)


class GlobalStepCounter:
    """Mixin for a :class:`ComposedOptimizer` whose rule depends on a global step counter ``self._k``
    (SoftSignum's phases, HardSwitch's switch): the counter is saved in
    ``state_dict()["convexlab"]["step"]`` and restored by ``load_state_dict``, which refuses a state of
    this class without it (it would silently restart the phases)."""

    def state_dict(self) -> dict:
        sd = super().state_dict()
        sd["convexlab"]["step"] = self._k
        return sd

    def load_state_dict(self, state_dict: dict) -> None:
        extra = state_dict.get("convexlab") or {}
        name = type(self).__name__
        if "step" not in extra and extra.get("class", name) == name:
            raise ValueError(f"state_dict has no {name} step counter (state_dict['convexlab']['step']); "
                             f"it must come from {name}.state_dict()")
        super().load_state_dict(state_dict)
        self._k = int(extra["step"])
