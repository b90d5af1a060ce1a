r"""The composed optimizer: momentum rule → geometry direction → iterate rule, decay at a named place.

Every optimizer of convexlab is one update (design guide §3)::

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

import math
from typing import Any, Callable

import torch

_NONFINITE = ("raise", "skip")


# ---------------------------------------------------------------------------------------------
# validation (ValueError naming the argument, its value and the allowed range)
# ---------------------------------------------------------------------------------------------
def check_lr(lr: Any, name: str = "lr") -> float:
    if isinstance(lr, torch.Tensor):
        lr = float(lr)
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not math.isfinite(lr) or lr < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {lr!r}")
    return float(lr)


def check_nonneg(value: Any, name: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def check_positive(value: Any, name: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def check_beta(value: Any, name: str, *, allow_one: bool = False) -> float:
    hi = "1]" if allow_one else "1)"
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or value > 1 or (value == 1 and not allow_one):
        raise ValueError(f"{name} must be in [0, {hi}, got {value!r}")
    return float(value)


def check_betas(betas: Any, name: str = "betas", *, allow_one: tuple[bool, ...] = (False, False)) -> tuple[float, ...]:
    if not isinstance(betas, (tuple, list)) or len(betas) != len(allow_one):
        raise ValueError(f"{name} must be a tuple of {len(allow_one)} numbers, got {betas!r}")
    return tuple(check_beta(b, f"{name}[{i}]", allow_one=a) for i, (b, a) in enumerate(zip(betas, allow_one)))


def check_choice(value: Any, name: str, allowed: tuple) -> Any:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed!r}, got {value!r}")
    return value


def check_int(value: Any, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


# ---------------------------------------------------------------------------------------------
# the composed optimizer
# ---------------------------------------------------------------------------------------------
class ComposedOptimizer(torch.optim.Optimizer):
    r"""Base class of every convexlab optimizer (see the module docstring).

    Args (shared by all subclasses):
        nonfinite: ``"raise"`` (default): a NaN/inf gradient raises ``ValueError`` naming the
            parameter; ``"skip"``: that parameter's step is skipped (its state untouched) and
            counted in :attr:`nonfinite_skipped`.
        seed: seed of the optimizer's own random generator (used by stochastic directions). ``None``
            draws one from torch's global generator. Under ``torch.distributed`` (initialized before
            the optimizer is built) rank 0's seed, explicit or drawn, is broadcast and used by every
            rank, so that the replicas draw the same noise and stay identical.
        box: optional ``(low, high)`` (numbers or tensors broadcastable to every parameter): after
            each step the parameters are clipped to the box, the Euclidean (and, for a box, every
            diagonally weighted) projection used by projected methods.

    Subclasses set :attr:`matrix_only` to reject parameters with fewer than 2 dimensions.
    """

    matrix_only: bool = False
    #: True when every statistic of the optimizer is per coordinate (no norms, quantiles or
    #: matrix maps across entries of a tensor): then independent runs may share one tensor as
    #: its rows (the batched simulator, :func:`convexlab.sim.simulate`).
    coordinatewise: bool = False
    #: iterate rule: "plain" (x ← x − lr·d, optionally projected on ``box``) or "schedule_free"
    iterate: str = "plain"

    def __init__(self, params, defaults: dict, *, nonfinite: str = "raise", seed: int | None = None, box=None):
        check_choice(nonfinite, "nonfinite", _NONFINITE)
        defaults = dict(defaults)
        if "lr" in defaults:
            check_lr(defaults["lr"])
        if "weight_decay" in defaults:
            check_nonneg(defaults["weight_decay"], "weight_decay")
        super().__init__(params, defaults)
        for group in self.param_groups:
            self._validate_group(group)
        self.nonfinite = nonfinite
        self.nonfinite_skipped = 0
        self._box = self._check_box(box)
        if seed is not None:
            check_int(seed, "seed")
        self._seed = self._agreed_seed(seed)
        self._generators: dict[str, torch.Generator] = {}

    # -- validation --------------------------------------------------------------------------
    def _validate_group(self, group: dict) -> None:
        """Check one param group's hyperparameters and parameters (called for every group)."""
        check_lr(group["lr"])
        if "weight_decay" in group:
            check_nonneg(group["weight_decay"], "weight_decay")
        names = group.get("param_names")
        gi = next((k for k, g in enumerate(self.param_groups) if g is group), len(self.param_groups))
        for i, p in enumerate(group["params"]):
            label = names[i] if names else f"index {i} of param group {gi}"
            if p.is_sparse:
                raise ValueError(f"sparse parameters are not supported (parameter {label})")
            if self.matrix_only and p.ndim < 2:
                raise ValueError(
                    f"{type(self).__name__} updates matrices, but parameter {label} has shape {tuple(p.shape)}; "
                    "route 1-D parameters (gains, biases), embeddings and the output head to AdamW, e.g. with "
                    "convexlab.optim.split_params(model) / convexlab.optim.MatrixAndAdamW"
                )

    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)
        if hasattr(self, "nonfinite"):  # groups added after construction
            self._validate_group(self.param_groups[-1])

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
        check_int(seed, "seed")
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
        d.update({k: v for k, v in self.__dict__.items() if k not in d and k != "_generators"})
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

    # -- state_dict: add the generator states, the skip counter and the seed --------------------
    def state_dict(self) -> dict:
        sd = super().state_dict()
        sd["convexlab"] = {
            "seed": self._seed,
            "generators": {k: g.get_state() for k, g in self._generators.items()},
            "nonfinite_skipped": self.nonfinite_skipped,
        }
        return sd

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        extra = state_dict.pop("convexlab", None)
        super().load_state_dict(state_dict)
        if extra is not None:
            self._seed = extra["seed"]
            self.nonfinite_skipped = extra["nonfinite_skipped"]
            self._generators = {}
            for key, s in extra["generators"].items():
                gen = torch.Generator(device=torch.device(key))
                gen.set_state(s)
                self._generators[key] = gen

    # -- the step ------------------------------------------------------------------------------
    def _active(self, group: dict) -> tuple[list, list]:
        """Parameters with a gradient that passes the non-finite policy, and their gradients."""
        params = [p for p in group["params"] if p.grad is not None]
        grads = [p.grad for p in params]
        for p, g in zip(params, grads):
            if g.is_sparse:
                raise ValueError(f"{type(self).__name__} does not support sparse gradients")
        if not grads:
            return params, grads
        # one fused reduction: a non-finite norm flags the group (a huge finite gradient can
        # overflow it, so the exact per-tensor test below decides)
        norms = torch._foreach_norm(grads)
        dev = grads[0].device
        if bool(torch.isfinite(torch.stack([n.to(device=dev, dtype=torch.float32) for n in norms])).all()):
            return params, grads
        keep_p, keep_g = [], []
        names = group.get("param_names")
        index = {id(p): i for i, p in enumerate(group["params"])}
        for p, g in zip(params, grads):
            if bool(torch.isfinite(g).all()):
                keep_p.append(p)
                keep_g.append(g)
                continue
            if self.nonfinite == "raise":
                i = index[id(p)]
                label = names[i] if names else f"index {i} of param group {self.param_groups.index(group)}"
                n_nan, n_inf = int(torch.isnan(g).sum()), int(torch.isinf(g).sum())
                raise ValueError(
                    f"non-finite gradient for parameter {label} (shape {tuple(p.shape)}): {n_nan} NaN and "
                    f"{n_inf} inf entries; pass nonfinite='skip' to skip such steps"
                )
            self.nonfinite_skipped += 1
        return keep_p, keep_g

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads = self._active(group)
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
            self._before_group(group)
            self._group_step(group, params, grads, states)
            self._after_group(group)
        return loss

    def _group_step(self, group: dict, params: list, grads: list, states: list) -> None:
        """Default: one fused pass per parameter (momentum + direction, then the iterate rule)."""
        for p, g, st in zip(params, grads, states):
            d = self._direction(p, g, st, group)
            self._apply(p, d, st, group)

    # -- to be provided by the named optimizers ------------------------------------------------
    def _init_state(self, p: torch.Tensor, state: dict, group: dict) -> None:
        """Create the per-parameter buffers (momentum, envelope, ...)."""

    def _direction(self, p: torch.Tensor, g: torch.Tensor, state: dict, group: dict) -> torch.Tensor:
        """Update the momentum state from ``g`` and return the direction d (never alias ``g``)."""
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
        if self._box is not None:
            low, high = self._box
            p.clamp_(min=torch.as_tensor(low, dtype=p.dtype, device=p.device),
                     max=torch.as_tensor(high, dtype=p.dtype, device=p.device))


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
