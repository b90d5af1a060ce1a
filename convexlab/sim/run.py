r"""The batched simulator: S independent runs of one optimizer on one problem.

Two layouts, chosen automatically, both exact (no statistic is shared between runs):

* **batched** — the S runs are the rows of one parameter of shape (S, *shape)*. Used for optimizers
  whose every statistic is per coordinate (``optimizer.coordinatewise``: the sign family,
  StoSignSGD's envelope, Adam's moments, schedule-free averaging). One generator draws different
  noise for every row. This is the fast path (one tensor operation per step for all seeds).
* **per_seed** — one parameter of the problem's shape and one optimizer *per run*, reseeded with
  ``seed + s``. Used for optimizers with statistics across a tensor (Muon's polar factor, NorMuon's
  row norms, SoftSignum's quantile temperature schedule, which pools a whole param group), and for
  any optimizer without the ``coordinatewise`` flag (e.g. ``torch.optim`` classes).

At step t the oracle's stochastic (sub)gradient at x_t (the problem's noise model, drawn from the
simulator's generator seeded with ``seed``) is set as ``.grad`` and the optimizer steps to x_{t+1}.

Per-step cost. Besides the oracle and the optimizer's own step, the loop does three in-place passes
over the (S, *shape) iterates per step (the running sum for x̄_t; x_t − x* and the running
elementwise sum of g_s ⊙ (x_s − x*), which the linear regret reduces at the recorded steps only)
and copies nothing (two more passes with ``watch_box``). The
optimizer's step is called without ``torch.optim``'s profiling wrapper (a ``record_function``
scope, 30–40 µs per call) whenever nothing observes it: no step hook registered on the optimizer
or globally, and no autograd profiler running; otherwise ``optimizer.step()`` as usual.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch

from convexlab import _validation as V
from convexlab.problems.base import Problem

ORACLE_SALT = 0x5EED_0AC1E

#: metric name → description (the columns of :meth:`SimResult.rows`)
METRICS = {
    "f": "f(x_t)",
    "gap_last": "f(x_t) − f*",
    "gap_avg": "f(x̄_t) − f*, x̄_t = (1/t) Σ_{s≤t} x_s",
    "gap_eval": "f(x_t^eval) − f* at a schedule-free optimizer's evaluation point x (else = gap_last)",
    "linear_regret": "Σ_{s≤t} ⟨g_s, x_s − x*⟩ with the oracle's g_s",
    "grad_l1": "‖∇f(x_t)‖₁ (exact subgradient; the sign/StoSign stationarity measure)",
    "grad_l2": "‖∇f(x_t)‖₂",
    "weight_rms": "RMS(x_t) = ‖x_t‖₂/√d",
}


@dataclass
class SimResult:
    """Metrics at the recorded steps: ``metrics[name]`` has shape (len(steps), S)."""

    steps: list[int]
    metrics: dict[str, torch.Tensor]
    meta: dict = field(default_factory=dict)

    def __getattr__(self, name):  # result.gap_avg etc.
        metrics = self.__dict__.get("metrics", {})
        if name in metrics:
            return metrics[name]
        raise AttributeError(f"SimResult has no metric {name!r}; recorded: {sorted(metrics)}")

    @property
    def seeds(self) -> int:
        return next(iter(self.metrics.values())).shape[1]

    def rows(self) -> list[dict]:
        """Tidy rows: one per (seed, step, metric)."""
        out = []
        for name, v in self.metrics.items():
            vals = v.tolist()
            for i, t in enumerate(self.steps):
                for s, value in enumerate(vals[i]):
                    out.append(dict(seed=s, step=t, metric=name, value=value))
        return out

    def to_frame(self, summary: bool = False):
        """The results as a ``pandas.DataFrame``: the tidy rows (columns ``seed``, ``step``,
        ``metric``, ``value``; :data:`METRICS` describes each metric), or with ``summary=True`` the
        per-step summaries of every metric (``step``, ``metric``, ``mean``, ``stderr``, ``min``, ``max``).

        >>> import torch
        >>> res = SimResult([1, 2], {"f": torch.tensor([[1.0, 3.0], [0.5, 1.5]])})
        >>> res.to_frame().shape, list(res.to_frame(summary=True)["mean"])
        ((4, 4), [2.0, 1.0])
        """
        import pandas as pd

        if summary:
            return pd.DataFrame([r for name in self.metrics for r in self.summary(name)],
                                columns=["step", "metric", "mean", "stderr", "min", "max"])
        return pd.DataFrame(self.rows(), columns=["seed", "step", "metric", "value"])

    def summary(self, name: str) -> list[dict]:
        """Per recorded step of metric ``name`` (one of :data:`METRICS` that was recorded): a list of
        dicts with keys ``step``, ``metric``, ``mean`` (over seeds), ``stderr`` (its standard error),
        ``min`` and ``max``. Raises ``ValueError`` naming the recorded metrics for another name."""
        if name not in self.metrics:
            raise ValueError(f"name must be a recorded metric, one of {sorted(self.metrics)}, got {name!r}")
        v = self.metrics[name]
        S = v.shape[1]
        out = []
        for i, t in enumerate(self.steps):
            row = v[i]
            se = float(row.std(correction=1) / math.sqrt(S)) if S > 1 else 0.0
            out.append(dict(step=t, metric=name, mean=float(row.mean()), stderr=se, min=float(row.min()),
                            max=float(row.max())))
        return out

    def final(self, which: str = "avg") -> tuple[float, float]:
        """Mean over seeds and its standard error at the last recorded step of ``gap_<which>`` (or
        of the metric named ``which``)."""
        v = self.metrics[which if which in self.metrics else f"gap_{which}"][-1]
        se = float(v.std(correction=1) / math.sqrt(v.numel())) if v.numel() > 1 else 0.0
        return float(v.mean()), se


def log_steps(T: int, per_decade: int = 4) -> list[int]:
    """Roughly log-spaced steps 1..T, T included."""
    pts = {1, T}
    k = 0
    while 10 ** (k / per_decade) < T:
        pts.add(int(round(10 ** (k / per_decade))))
        k += 1
    return sorted(p for p in pts if 1 <= p <= T)


def _stepper(opt: torch.optim.Optimizer) -> Callable[[], object]:
    """``opt.step`` as a zero-argument callable that skips ``torch.optim``'s profiling wrapper
    (``Optimizer.profile_hook_step``: a ``record_function`` scope and the step hooks) when no hook
    is registered, so the result is the same step; the wrapped ``opt.step()`` otherwise, and
    always when the class's step is not the wrapped one (an instance attribute, e.g. an LR
    scheduler's patch, or a torch without the wrapper)."""
    fn = type(opt).step
    raw = getattr(fn, "__wrapped__", None)
    if raw is None or not getattr(fn, "hooked", False) or "step" in vars(opt) or torch.autograd._profiler_enabled():
        return opt.step
    try:
        from torch.optim import optimizer as _torch_optimizer

        hooks = (opt._optimizer_step_pre_hooks, opt._optimizer_step_post_hooks,
                 _torch_optimizer._global_optimizer_pre_hooks, _torch_optimizer._global_optimizer_post_hooks)
    except AttributeError:  # a torch whose wrapper keeps its hooks elsewhere
        return opt.step

    def step():
        # hooks may be registered after the simulator starts (checked every step: four dict tests)
        if hooks[0] or hooks[1] or hooks[2] or hooks[3]:
            return opt.step()
        return raw(opt)

    return step


class _Runs:
    """The S runs' parameters and optimizers in one of the two layouts."""

    def __init__(self, problem: Problem, make_optimizer, seeds: int, x0: torch.Tensor, seed: int, layout: str):
        rows = x0.detach().to(problem.dtype).expand(seeds, *problem.shape).clone()
        self.layout = layout
        if layout in ("auto", "batched"):
            x = torch.nn.Parameter(rows)
            opt = make_optimizer([x])
            if getattr(opt, "coordinatewise", False):
                self.params, self.opts, self.layout = [x], [opt], "batched"
                return
            if layout == "batched":
                raise ValueError(
                    f"layout='batched' needs a coordinate-wise optimizer, but {type(opt).__name__} has statistics "
                    "across a tensor (it would mix the seeds' rows); use layout='per_seed' or 'auto'")
        elif layout != "per_seed":
            raise ValueError(f"layout must be one of ('auto', 'batched', 'per_seed'), got {layout!r}")
        self.layout = "per_seed"
        self.params = [torch.nn.Parameter(rows[s].clone()) for s in range(seeds)]
        self.opts = []
        for s, p in enumerate(self.params):
            opt = make_optimizer([p])
            if hasattr(opt, "reseed"):
                opt.reseed(seed + s)
            self.opts.append(opt)

    def start(self) -> None:
        """Bind the per-step callables (after construction, before the first step)."""
        self._steps = [_stepper(opt) for opt in self.opts]
        if self.layout == "batched":
            self._x = self.params[0].detach()  # a view: the optimizer updates the parameter in place

    def x(self) -> torch.Tensor:
        """The (S, *shape) iterates (in the batched layout a live view of the parameter)."""
        if self.layout == "batched":
            x = self._x
            # an optimizer that rebinds ``p.data`` leaves the cached view behind
            return x if x.data_ptr() == self.params[0].data_ptr() else self.params[0].detach()
        return torch.stack(self.params)  # under no_grad: a plain tensor

    def x_eval(self) -> torch.Tensor | None:
        """The evaluation point of schedule-free optimizers (x), else None."""
        if not hasattr(self.opts[0], "evaluating"):
            return None
        xs = []
        for opt, p in zip(self.opts, self.params):
            with opt.evaluating():
                xs.append(p.detach().clone())
        return xs[0] if self.layout == "batched" else torch.stack(xs)

    def step(self, g: torch.Tensor) -> None:
        """Set the oracle's ``g`` as the gradient and step (g is fresh every step and not read after
        it, so its rows are passed without copies)."""
        if self.layout == "batched":
            self.params[0].grad = g
            self._steps[0]()
        else:
            # rows of one dense tensor (an expanded oracle output would share memory between rows)
            for p, step, gs in zip(self.params, self._steps, g.contiguous().unbind(0)):
                p.grad = gs
                step()


def simulate(problem: Problem, make_optimizer: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer],
             steps: int, seeds: int, x0: torch.Tensor | None = None, record: list[int] | None = None, *,
             seed: int = 0, layout: str = "auto", progress: bool = False,
             extra: dict[str, Callable[[torch.Tensor], torch.Tensor]] | None = None,
             watch_box: bool = False) -> SimResult:
    r"""Run ``make_optimizer(params)`` on ``problem`` for ``steps`` steps, ``seeds`` independent runs.

    x_1 = ``x0`` (default ``problem.start_point()``) in every run. Records the metrics of
    :data:`METRICS` at the ``record`` steps (default log-spaced), evaluated before the step's
    update; gaps need ``problem.f_star`` and are skipped when the problem has none. ``extra`` maps
    a metric name to a function of the (S, *shape) iterates returning (S,) values.

    Args:
        seed: seed of the oracle-noise generator (and, in the per-seed layout, ``seed + s`` is the
            optimizer seed of run s).
        layout: "auto" (batched when the optimizer is coordinate-wise, else per seed), "batched",
            or "per_seed" (see the module docstring).
        progress: show a tqdm progress bar.
        watch_box: also record ``meta["box_violation"]``, the largest distance by which any iterate
            x_1, …, x_{T+1} of any run lies outside ``problem.box`` (0.0 when all stay inside): a
            running elementwise max and min of the iterates (two in-place passes per step, no hook
            and no device sync), reduced once at the end.

    Raises:
        ValueError: non-positive ``steps``/``seeds``, a bad ``layout``, or ``layout="batched"`` with
            an optimizer that is not coordinate-wise.
    """
    V.integer("steps", steps, 1)
    V.integer("seeds", seeds, 1)
    seed = V.integer("seed", seed, None)
    x0 = problem.start_point() if x0 is None else torch.as_tensor(x0, dtype=problem.dtype)
    if tuple(x0.shape) != problem.shape:
        raise ValueError(f"x0 must have the problem's shape {problem.shape}, got {tuple(x0.shape)}")
    record = sorted(set(record or log_steps(steps)))
    if record[0] < 1 or record[-1] > steps:
        raise ValueError(f"record steps must lie in [1, {steps}], got {record[0]}..{record[-1]}")
    runs = _Runs(problem, make_optimizer, seeds, x0, seed, layout)
    runs.start()
    # the oracle's stream is salted: an optimizer seeded with the same integer (its own CPU generator)
    # must not draw the same uniforms as the oracle noise
    gen = torch.Generator().manual_seed((seed * 0x9E3779B1 + ORACLE_SALT) % 2**63)
    try:
        f_star, x_star = problem.f_star, problem.x_star.to(problem.dtype)
    except NotImplementedError:
        f_star, x_star = None, None
    want = set(record)
    reduce_dims = tuple(range(1, 1 + len(problem.shape)))
    total = torch.zeros(seeds, *problem.shape, dtype=problem.dtype)
    # Σ_s g_s ⊙ (x_s − x*), reduced to the linear regret at the recorded steps only
    regret_terms = None if x_star is None else torch.zeros(seeds, *problem.shape, dtype=problem.dtype)
    shifted = None if x_star is None else torch.empty(seeds, *problem.shape, dtype=problem.dtype)
    names = ["f", "grad_l1", "grad_l2", "weight_rms"]
    if f_star is not None:
        names += ["gap_last", "gap_avg", "gap_eval", "linear_regret"]
    names += list(extra or {})
    out: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    hi = lo = None
    if watch_box:  # running elementwise max and min of the iterates, from x_1
        hi, lo = runs.x().detach().clone(), runs.x().detach().clone()
    ticks = range(1, steps + 1)
    if progress:
        from tqdm.auto import tqdm

        ticks = tqdm(ticks, desc=f"simulate {problem.__class__.__name__}", leave=False, mininterval=0.5)
    oracle = problem.oracle
    with torch.no_grad():
        for t in ticks:
            x = runs.x()
            total += x
            g = oracle(x, gen)
            if hi is not None:
                torch.maximum(hi, x, out=hi)
                torch.minimum(lo, x, out=lo)
            if regret_terms is not None:
                regret_terms.addcmul_(g, torch.sub(x, x_star, out=shifted))
            if t in want:
                fx = problem.f(x)
                exact = problem.subgradient(x)
                out["f"].append(fx)
                out["grad_l1"].append(exact.abs().sum(reduce_dims))
                out["grad_l2"].append(exact.pow(2).sum(reduce_dims).sqrt())
                out["weight_rms"].append(x.pow(2).mean(reduce_dims).sqrt())
                if f_star is not None:
                    out["gap_last"].append(fx - f_star)
                    out["gap_avg"].append(problem.f(total / t) - f_star)
                    xe = runs.x_eval()
                    out["gap_eval"].append(fx - f_star if xe is None else problem.f(xe) - f_star)
                    out["linear_regret"].append(regret_terms.sum(reduce_dims))
                for name, fn in (extra or {}).items():
                    # a copy: fn may return a view of the live iterate (e.g. x[:, 0])
                    out[name].append(torch.as_tensor(fn(x), dtype=problem.dtype).clone())
            runs.step(g)
        meta = dict(steps=steps, seeds=seeds, seed=seed, layout=runs.layout, problem=repr(problem),
                    output_point=getattr(runs.opts[0], "output_point", "average"))
        if hi is not None:
            x = runs.x()  # x_{T+1}
            torch.maximum(hi, x, out=hi)
            torch.minimum(lo, x, out=lo)
            low, high = (b.to(problem.dtype) for b in problem.box)
            meta["box_violation"] = max(float((low - lo).amax()), float((hi - high).amax()), 0.0)
    metrics = {n: torch.stack(v) for n, v in out.items()}
    return SimResult(record, metrics, meta=meta)
