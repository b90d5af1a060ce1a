r"""``convexlab bench compare``: every registry optimizer on a problem suite, many dimensions at once.

Following the survey's benchmarking methodology (Ranganath, arXiv 2605.09176: convergence,
stability, memory, wall-clock, token efficiency and implementation complexity, with fair tuning),
for every optimizer × problem of :mod:`convexlab.bench.suite`:

**Fair tuning.** Each optimizer gets the same budget: ``n_lr`` learning rates on a log grid
lr_k = lr_default · 10^{a_k}, a_k evenly spaced in [−1, 2] decades around the optimizer's own
default (its constructor's ``lr``; short budgets favour larger steps), each run for the problem's step budget on ``tune_seeds`` seeds
and scored on the validation split (toys: disjoint oracle-noise seeds). The best lr (mean score)
is then re-run on ``seeds`` fresh seeds and scored on the test split. Every other hyperparameter
is the optimizer's default, except the budget-dependent ones in :func:`bench_kwargs` (weight decay
0 for all; SoftSignum/SoftMuon transition in the second half of the budget; schedule-free warm-up
5 % of the budget; Newton–Schulz in float32 on the CPU).

**Matrix-only optimizers** (Muon, NorMuon, SoftMuon, SFNorMuon) run through
:class:`~convexlab.optim.MatrixAndAdamW`: the tuned lr is the matrix optimizer's; the remaining
parameters (biases, the classifier head) use AdamW (SF-AdamW for a schedule-free matrix optimizer)
with the fixed lr :data:`AUX_LR` [D]. A problem without a hidden 2-D weight (the vector toys) is
skipped for them, with the reason recorded.

**Metrics** (final runs, over seeds; intervals are 95 % Student-t confidence intervals of the mean):
final metric; steps to target (first evaluation step meeting the target, median over seeds; ∞ when
most seeds miss) and samples (tokens for the GPT) to target; lr sensitivity = width in decades of
the contiguous lr range around the best whose validation *progress* is within 10 % of the best
(progress = 1 − normalised gap, or balanced accuracy; grid resolution 3/(n_lr − 1) decades, a lone
point is width 0); seed spread = standard deviation over seeds; optimizer-state bytes per
parameter (tensors in ``opt.state``, 0-dim step counters excluded: ``nonscalar`` of
:func:`convexlab.bench.optim_speed.state_bytes`, the one both benchmarks use); peak memory =
parameter bytes + the peak of live torch CPU allocations over the first two training steps from a fresh optimizer (gradients, optimizer state,
activations, temporaries; seed 0 of the final runs), from ``torch.profiler`` with ``profile_memory=True`` (torch has no CPU
allocator statistics and ``tracemalloc`` does not see tensor storage); median time of one training
step (gradient + ``opt.step()``) as a ratio to AdamW's median on the same problem measured in the
same invocation (cached cells keep the time of the run that computed them); implementation size =
lines of the class's own source (``inspect.getsource``), and with its ``convexlab.optim`` base
classes.

**Summaries.** Performance profiles (AlgoPerf, Dahl et al. 2023): for each optimizer,
ρ(τ) = fraction of problems whose time to target is ≤ τ × the best optimizer's time on that
problem, in steps and in wall-clock (steps × median step time); the score is the area under ρ on
[1, τ_max = 4] divided by 3. A ranking table (profile score, mean rank of the final metric,
problems solved) and the survey taxonomy (:mod:`convexlab.bench.taxonomy`).

**Operation.** Each cell (one tuning lr, or one final run) is cached in SQLite (``cache.sqlite`` in
the output directory) under a key of problem, optimizer, phase and the configuration, so an
interrupted benchmark resumes without recomputing finished cells (``--no-cache``: compute every
cell, store nothing). The cache is checked when it is opened (an SQLite file whose only table is
``cells`` with this module's columns, passing SQLite's ``quick_check``) and every cell when it is
read (valid JSON with the keys of its phase); a file or a cell that fails is a :class:`CacheError`
naming the file, which the command line prints as one line (exit status 2) instead of reusing or
overwriting it. Runs on ``--threads`` torch threads (default 1; step-time ratios are of the same
thread count, and a thread count other than 1 is part of the cell key). Writes ``report.md``,
``results.json``, ``performance_profile.png`` and ``final_metric.png``.

Usage::

    convexlab bench compare --quick --out bench_out           # minutes on 2 cores
    convexlab bench compare --full --out bench_full [--gpt]   # < 1 hour on a CPU
    convexlab bench compare --quick --problems logreg --optimizers AdamW,Signum
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import inspect
import json
import math
import os
import sqlite3
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from convexlab import _validation as V
from convexlab._io import atomic_write
from convexlab.bench.optim_speed import state_bytes
from convexlab.bench.suite import BenchProblem, build_suite
from convexlab.bench.taxonomy import CATEGORIES, TAXONOMY_PLACEMENT, category_table, placement_of, placement_table

__all__ = ["BenchConfig", "Cache", "CacheError", "BenchConfigError", "BenchmarkInterrupted", "cell_defect",
           "BENCH_SETTINGS", "bench_kwargs", "lr_grid", "lr_sensitivity",
           "performance_profile", "profile_score", "run_benchmark", "summarize", "write_report",
           "load_results", "ensure_results", "plot_profiles", "plot_final", "ranking", "ranking_markdown", "best_per_dimension", "implementation_lines", "main", "AUX_LR", "TAU_MAX"]

#: bumps invalidate cached cells when the cell computation changes
BENCH_VERSION = 1
#: lr of the AdamW part beside a matrix optimizer [D]
AUX_LR = 1e-3
#: AlgoPerf's τ_max for the profile score
TAU_MAX = 4.0
#: learning-rate grid span in decades relative to each optimizer's default lr [D]: short budgets
#: favour larger steps than the long-run defaults, so the grid reaches further up than down
GRID_DECADES = (-1.0, 2.0)


class BenchmarkInterrupted(RuntimeError):
    """Raised by the test hook ``stop_after`` after that many newly computed cells."""


class BenchConfigError(ValueError):
    """A configuration the benchmark cannot run (unknown names, bad sizes); raised before any cell runs."""


class CacheError(ValueError):
    """The benchmark cache cannot be used: not SQLite, damaged, another program's tables, a bad cell.
    The message names the file and what to do."""


@dataclass
class BenchConfig:
    """What to run: mode sizes, lr grid points, seeds and the subset of problems/optimizers."""

    mode: str = "quick"
    n_lr: int = 4
    tune_seeds: int = 1
    seeds: int = 3
    problems: tuple[str, ...] | None = None
    optimizers: tuple[str, ...] | None = None
    gpt: bool = False
    budget_scale: float = 1.0
    threads: int = 1

    @classmethod
    def preset(cls, mode: str, **kw) -> "BenchConfig":
        base = dict(quick=dict(n_lr=4, tune_seeds=1, seeds=3), full=dict(n_lr=6, tune_seeds=1, seeds=5))
        V.one_of("mode", mode, tuple(base))
        return cls(mode=mode, **{**base[mode], **{k: v for k, v in kw.items() if v is not None}})

    def validate(self) -> None:
        """Raise :class:`BenchConfigError` (a ValueError) naming the first bad field."""
        for name in ("n_lr", "tune_seeds", "seeds", "threads"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise BenchConfigError(f"{name} must be an integer >= 1, got {v!r}")
        if not (isinstance(self.budget_scale, (int, float)) and not isinstance(self.budget_scale, bool)
                and 0 < self.budget_scale <= 10):
            raise BenchConfigError(f"budget_scale must be in (0, 10], got {self.budget_scale!r}")


# ---------------------------------------------------------------------------------------------
# optimizers
# ---------------------------------------------------------------------------------------------
def default_lr(name: str) -> float:
    """The ``lr`` default of the registry class ``name`` (the centre of its tuning grid)."""
    from convexlab.optim import REGISTRY

    for klass in REGISTRY[name].__mro__:  # a schedule-free mixin's __init__ passes lr on in **kwargs
        init = klass.__dict__.get("__init__")
        p = inspect.signature(init).parameters.get("lr") if init is not None else None
        if p is not None and p.default is not inspect.Parameter.empty:
            return float(p.default)
    raise ValueError(f"registry optimizer {name!r} has no default lr")


def lr_grid(name: str, n: int) -> list[float]:
    r"""n learning rates lr_default · 10^{a_k}, a_k = −1 + 3k/(n−1) (n = 1: the default only).

    >>> [round(v, 6) for v in lr_grid("AdamW", 4)]
    [0.0001, 0.001, 0.01, 0.1]
    """
    V.integer("n", n, 1)
    c = default_lr(name)
    if n == 1:
        return [c]
    lo, hi = GRID_DECADES
    return [c * 10 ** (lo + (hi - lo) * k / (n - 1)) for k in range(n)]


#: the budget-dependent settings [D], by name: (budget, seed) -> constructor kwargs
_SETTINGS = {
    # EMA momentum (Softsign [SS-Q1], the paper's form)
    "ema_momentum": lambda budget, seed: dict(momentum=0.9, dampening=0.9),
    # sign phase = the first half of the budget, transition = the second half
    "phases": lambda budget, seed: dict(sign_iters=budget // 2, transition_iters=budget - budget // 2),
    # Newton–Schulz in float32 (bf16 is slow on a CPU)
    "ns_float32": lambda budget, seed: dict(ns_dtype=torch.float32),
    # schedule-free warm-up: 5 % of the budget
    "warmup": lambda budget, seed: dict(warmup_steps=max(1, budget // 20)),
    # the run's seed for the optimizer's own random draws
    "seed": lambda budget, seed: dict(seed=seed),
    # the hard switch at half the budget (as SoftSignum's transition)
    "switch": lambda budget, seed: dict(switch_iters=budget // 2),
}

#: registry name → the settings of :data:`_SETTINGS` it takes besides ``lr`` and ``weight_decay = 0``
#: [D]; ``()``: the constructor's defaults. Every registry optimizer must have an entry:
#: :func:`bench_kwargs` raises for one without and ``tests/test_bench_entries.py`` fails.
BENCH_SETTINGS: dict[str, tuple[str, ...]] = {
    "SignSGD": (),
    "Signum": (),
    "Lion": (),
    "StoSignSGD": ("seed",),
    "IEStoSignSGD": (),
    "SignConverted": ("seed",),
    "AdamW": (),
    "AdaMax": (),
    "SFAdamW": ("warmup",),
    "SoftSignum": ("ema_momentum", "phases"),
    "Muon": ("ns_float32",),
    "NorMuon": ("ns_float32",),
    "SoftMuon": ("phases", "ns_float32"),
    "SFNorMuon": ("ns_float32", "warmup"),
    "NesterovStoSignSGD": ("seed",),
    "SFLion": ("warmup",),
    "AlgebraicSoftSignum": (),
    "SGDMomentum": (),
    "HardSwitch": ("switch",),
}


def bench_kwargs(name: str, budget: int, seed: int) -> dict:
    r"""Constructor kwargs besides ``lr`` [D]: ``weight_decay = 0`` and the budget-dependent settings
    :data:`BENCH_SETTINGS` lists for ``name`` (module docstring).

    Raises:
        ValueError: ``name`` has no :data:`BENCH_SETTINGS` entry (an optimizer added to the registry
            without benchmark settings; add it there, ``()`` for the constructor's defaults).
    """
    if name not in BENCH_SETTINGS:
        raise ValueError(f"optimizer {name!r} has no benchmark settings: add an entry to "
                         "convexlab.bench.compare.BENCH_SETTINGS (() for the constructor's defaults)")
    kw: dict = {"weight_decay": 0.0}
    for setting in BENCH_SETTINGS[name]:
        kw.update(_SETTINGS[setting](budget, seed))
    return kw


#: the output layers of the suite's models are named ``head`` and every other 2-D weight (the
#: softmax regression's W included) is a hidden matrix, so the routing makes no structural guess
_HEAD = False


def hidden_matrices(module: torch.nn.Module) -> list:
    """The parameters of ``module`` a matrix-only optimizer updates: the matrix part of
    :func:`convexlab.optim.split_params` (``head=False``: :data:`_HEAD`)."""
    from convexlab.optim import split_params

    return split_params(module, head=_HEAD)[0]


def build_optimizer(name: str, module: torch.nn.Module, lr: float, budget: int, seed: int):
    r"""The optimizer ``name`` on ``module`` (matrix-only ones through MatrixAndAdamW), or raise ValueError."""
    from convexlab.optim import REGISTRY, MatrixAndAdamW

    cls = REGISTRY[name]
    kw = bench_kwargs(name, budget, seed)
    if getattr(cls, "matrix_only", False):
        if not hidden_matrices(module):
            raise ValueError("matrix_only optimizer: the problem has no hidden 2-D weight")
        aux = dict(lr=AUX_LR, weight_decay=0.0)
        return MatrixAndAdamW.from_model(module, name, head=_HEAD, matrix_kwargs=dict(lr=lr, **kw), adamw_kwargs=aux)
    return cls(module.parameters(), lr=lr, **kw)


def skip_reason(name: str, problem: BenchProblem) -> str:
    """Why ``name`` does not run on ``problem`` ("" when it does)."""
    from convexlab.optim import REGISTRY

    if getattr(REGISTRY[name], "matrix_only", False):
        if not hidden_matrices(problem.make_task(0, "val").module):
            return "matrix-only optimizer; the problem has no 2-D weight (vector parameter)"
    return ""


def implementation_lines(name: str) -> tuple[int, int]:
    r"""(lines of the class's own source, lines of it plus its ``convexlab.optim`` base classes)."""
    from convexlab.optim import REGISTRY

    cls = REGISTRY[name]
    own = len(inspect.getsource(cls).splitlines())
    total = sum(len(inspect.getsource(k).splitlines()) for k in cls.__mro__
                if k.__module__.startswith("convexlab.optim"))
    return own, total


# ---------------------------------------------------------------------------------------------
# one cell
# ---------------------------------------------------------------------------------------------
def _finite(problem: BenchProblem, v: float) -> float:
    return v if math.isfinite(v) else problem.worst()


def train_run(problem: BenchProblem, name: str, lr: float, seed: int, split: str, *, timing: bool,
              peak: bool = False) -> dict:
    r"""One run of ``name`` at ``lr`` for the problem's budget; the metric every ``eval_every`` steps."""
    task = problem.make_task(seed, split)
    opt = build_optimizer(name, task.module, lr, problem.budget, seed)
    task.module.optimizer_ref.append(opt)
    params = [p for p in task.module.parameters() if p.requires_grad]
    curve_steps, curve = [], []
    step_times, opt_times = [], []
    diverged = False
    for t in range(1, problem.budget + 1):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        task.step(t)
        t1 = time.perf_counter()
        opt.step()
        t2 = time.perf_counter()
        step_times.append(t2 - t0)
        opt_times.append(t2 - t1)
        if t % problem.eval_every == 0 or t == problem.budget:
            v = task.evaluate()
            if not math.isfinite(v) or not all(bool(torch.isfinite(p).all()) for p in params):
                diverged = True
                v = problem.worst()
            curve_steps.append(t)
            curve.append(float(v))
            if diverged:
                break
    n_params = sum(p.numel() for p in params)
    out = dict(final=curve[-1], curve_steps=curve_steps, curve=curve, diverged=diverged,
               state_bytes_per_param=state_bytes(opt).nonscalar / n_params, n_params=n_params)
    if timing:
        out["step_time"] = statistics.median(step_times)
        out["opt_time"] = statistics.median(opt_times)
    if peak:
        out["peak_bytes"] = _peak_bytes(problem, name, lr, seed, split)
    return out


@contextlib.contextmanager
def _quiet_stderr():
    """Send file descriptor 2 to /dev/null (the profiler backend logs its start/stop there)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _peak_bytes(problem: BenchProblem, name: str, lr: float, seed: int, split: str) -> int:
    r"""Parameter bytes + peak live torch CPU allocation over two steps from a fresh optimizer."""
    from torch.profiler import ProfilerActivity, profile

    task = problem.make_task(seed, split)
    opt = build_optimizer(name, task.module, lr, problem.budget, seed)
    task.module.optimizer_ref.append(opt)
    param_bytes = sum(p.numel() * p.element_size() for p in task.module.parameters())
    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        for t in (1, 2):
            opt.zero_grad(set_to_none=True)
            task.step(t)
            opt.step()
    cur = peak = 0
    # self memory of every event in start order: allocations minus frees attributed to that event
    for e in sorted(prof.events(), key=lambda e: e.time_range.start):
        cur += e.self_cpu_memory_usage
        peak = max(peak, cur)
    return int(param_bytes + peak)


# ---------------------------------------------------------------------------------------------
# cache
# ---------------------------------------------------------------------------------------------
#: the columns of the ``cells`` table, in order
CACHE_COLUMNS = ("key", "problem", "optimizer", "phase", "payload", "created")
#: keys of one final run in a cached ``final`` cell (``peak_bytes`` only in seed 0's, so not required)
RUN_KEYS = ("final", "curve_steps", "curve", "diverged", "state_bytes_per_param", "n_params", "step_time",
            "opt_time")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def cell_defect(payload, phase: str, seeds: int | None = None) -> str:
    r"""What is wrong with a cached cell of ``phase`` ("tune" or "final") over ``seeds`` seeds ("" if nothing).

    A tuning cell is ``{"lr": x, "scores": [one number per seed]}``; a final cell is
    ``{"lr": x, "runs": [one run per seed]}`` (``seeds=None``: any non-empty number), each run
    holding :data:`RUN_KEYS` with ``curve`` and ``curve_steps`` of the same, non-zero length.

    >>> cell_defect({"lr": 0.1, "scores": [0.5]}, "tune", 1)
    ''
    >>> cell_defect({"lr": 0.1}, "tune", 1)
    "missing key 'scores'"
    """
    if not isinstance(payload, dict):
        return f"a JSON {type(payload).__name__}, not an object"
    need = ("lr", "scores") if phase == "tune" else ("lr", "runs")
    for k in need:
        if k not in payload:
            return f"missing key {k!r}"
    if not _is_number(payload["lr"]):
        return f"lr is {payload['lr']!r}, not a number"
    items = payload[need[1]]
    if not isinstance(items, list) or not items or (seeds is not None and len(items) != seeds):
        return f"{need[1]} must be a list of {seeds or 'one or more'} entries, got {str(items)[:60]}"
    if phase == "tune":
        bad = [v for v in items if not _is_number(v)]
        return f"scores holds {bad[0]!r}, not a number" if bad else ""
    for i, run in enumerate(items):
        if not isinstance(run, dict):
            return f"runs[{i}] is not an object"
        missing = [k for k in RUN_KEYS if k not in run]
        if missing:
            return f"runs[{i}] misses key(s) {', '.join(missing)}"
        c, t = run["curve"], run["curve_steps"]
        if not (isinstance(c, list) and isinstance(t, list) and len(c) == len(t) > 0):
            return f"runs[{i}]: curve and curve_steps must be lists of the same non-zero length"
        if not all(_is_number(v) for v in (*c, *t, run["final"], run["step_time"], run["opt_time"],
                                           run["state_bytes_per_param"], run["n_params"])):
            return f"runs[{i}] holds a value that is not a number"
    return ""


class Cache:
    r"""Per-cell results in SQLite: key → JSON payload, with the time each cell was computed.

    ``path=None`` keeps the cells in memory only (``--no-cache``). Opening checks that the file is
    this benchmark's cache (SQLite, no table but ``cells`` with :data:`CACHE_COLUMNS`, SQLite's
    ``quick_check`` passes); an empty or new file becomes one. Every failure, at opening, reading a
    cell (:meth:`get` with ``phase``: :func:`cell_defect`) or writing one, is a :class:`CacheError`
    whose message names the file and what to do; nothing in a damaged file is overwritten.
    """

    def __init__(self, path: str | Path | None):
        self.path = None if path is None else Path(path)
        self.con = None
        if self.path is None:
            self.con = sqlite3.connect(":memory:")
            self._create()
        else:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise CacheError(f"cannot create the directory of the benchmark cache {self.path} "
                                 f"({err.strerror or err}); pass another --out or --no-cache") from None
            if self.path.is_dir():
                raise CacheError(f"{self.path} is a directory, not a convexlab benchmark cache; move it away or "
                                 "pass another --out or --no-cache")
            try:
                self.con = sqlite3.connect(str(self.path))
                self._check_schema()
                self._create()
            except sqlite3.Error as err:
                self._close_quietly()
                raise self._error(err) from None
            except CacheError:
                self._close_quietly()
                raise

    def _create(self) -> None:
        self.con.execute("CREATE TABLE IF NOT EXISTS cells (key TEXT PRIMARY KEY, problem TEXT, optimizer TEXT, "
                         "phase TEXT, payload TEXT, created REAL)")
        self.con.commit()

    # -- errors ----------------------------------------------------------------------------
    @property
    def _name(self) -> str:
        return ":memory:" if self.path is None else str(self.path)

    def _invalid(self, reason: str) -> CacheError:
        reason = " ".join(reason.split())  # one line, whatever SQLite or json said
        return CacheError(f"{self._name} is not a valid convexlab benchmark cache ({reason}); move it away "
                          "or pass --no-cache")

    def _error(self, err: sqlite3.Error, doing: str = "open") -> CacheError:
        text = " ".join(str(err).split()) or type(err).__name__
        if isinstance(err, sqlite3.OperationalError):
            if "locked" in text or "busy" in text:
                return CacheError(f"{self._name} is in use by another process ({text}); wait for the other "
                                  "`convexlab bench compare` to finish or pass another --out")
            return CacheError(f"cannot {doing} the benchmark cache {self._name} ({text}); check its permissions and "
                              "the free disk space, or pass another --out or --no-cache")
        return self._invalid(text)  # SQLITE_NOTADB, SQLITE_CORRUPT: "file is not a database", "malformed"

    def _close_quietly(self) -> None:
        if self.con is not None:
            with contextlib.suppress(sqlite3.Error):
                self.con.close()
            self.con = None

    def _check_schema(self) -> None:
        tables = [r[0] for r in self.con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        if not tables:
            return  # a new or empty file
        if tables != ["cells"]:
            raise self._invalid(f"it holds the table(s) {', '.join(sorted(tables))}, expected only 'cells'")
        cols = tuple(r[1] for r in self.con.execute("PRAGMA table_info(cells)"))
        if cols != CACHE_COLUMNS:
            raise self._invalid(f"table 'cells' has the columns {', '.join(cols)}, expected "
                                f"{', '.join(CACHE_COLUMNS)}")
        verdict = [r[0] for r in self.con.execute("PRAGMA quick_check")]
        if verdict != ["ok"]:
            raise self._invalid(f"SQLite quick_check: {'; '.join(str(v) for v in verdict[:2])}")

    # -- cells -----------------------------------------------------------------------------
    def get(self, key: str, *, phase: str | None = None, seeds: int | None = None) -> dict | None:
        r"""The payload of ``key``, or None when it is not cached. With ``phase`` ("tune"/"final") and
        ``seeds``, a payload that :func:`cell_defect` rejects raises :class:`CacheError`, as does bad JSON."""
        try:
            row = self.con.execute("SELECT payload, problem, optimizer, phase FROM cells WHERE key = ?",
                                   (key,)).fetchone()
        except sqlite3.Error as err:
            raise self._error(err, "read") from None
        if row is None:
            return None
        where = f"cell {row[1]}/{row[2]}/{row[3]}"
        try:
            payload = json.loads(row[0])
        except (TypeError, ValueError) as err:
            raise self._invalid(f"{where} is not valid JSON: {err}") from None
        if phase is not None:
            defect = cell_defect(payload, phase, seeds)
            if defect:
                raise self._invalid(f"{where}: {defect}")
        return payload

    def put(self, key: str, problem: str, optimizer: str, phase: str, payload: dict) -> None:
        try:
            self.con.execute("INSERT OR REPLACE INTO cells VALUES (?, ?, ?, ?, ?, ?)",
                             (key, problem, optimizer, phase, json.dumps(payload), time.time()))
            self.con.commit()  # one commit per cell: an interruption loses at most the running cell
        except sqlite3.Error as err:
            raise self._error(err, "write to") from None

    def rows(self) -> list[tuple]:
        return self.con.execute("SELECT key, problem, optimizer, phase, created FROM cells ORDER BY created").fetchall()

    def close(self) -> None:
        self._close_quietly()


def _key(*parts) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# the benchmark
# ---------------------------------------------------------------------------------------------
def _mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95 % Student-t interval (0 for one value)."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return float(v.mean()), 0.0
    from scipy.stats import t as student_t

    return float(v.mean()), float(student_t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))


def _progress(problem: BenchProblem, v: float) -> float:
    """Higher-is-better progress: balanced accuracy, or 1 − normalised gap / loss."""
    return v if problem.higher_is_better else -v if problem.metric == "val loss" else 1.0 - v


def lr_sensitivity(lrs: list[float], progress: list[float], within: float = 0.10) -> float:
    r"""Width in decades of the contiguous grid range around the best lr with progress ≥ best − 10 %·|best|.

    >>> lr_sensitivity([1e-3, 1e-2, 1e-1, 1.0], [0.5, 0.95, 1.0, 0.2])
    1.0
    """
    p = np.asarray(progress, dtype=float)
    p = np.where(np.isfinite(p), p, -np.inf)
    b = int(np.argmax(p))
    thr = p[b] - within * abs(p[b])
    lo = hi = b
    while lo > 0 and p[lo - 1] >= thr:
        lo -= 1
    while hi < len(p) - 1 and p[hi + 1] >= thr:
        hi += 1
    return float(math.log10(lrs[hi] / lrs[lo]))


def _steps_to_target(problem: BenchProblem, run: dict) -> float:
    for t, v in zip(run["curve_steps"], run["curve"]):
        if problem.meets(v):
            return float(t)
    return math.inf


def run_benchmark(config: BenchConfig, out_dir: str | Path, *, progress: bool = True,
                  stop_after: int | None = None, cache: bool = True) -> dict:
    r"""Run (or resume from the cache in ``out_dir``) every cell; return the raw results.

    Runs on ``config.threads`` torch threads (restored afterwards).

    Args:
        stop_after: test hook — raise :class:`BenchmarkInterrupted` after this many newly computed
            cells (simulates an interruption; finished cells are in the cache).
        cache: False computes every cell and stores nothing (no ``cache.sqlite`` is opened).

    Raises:
        BenchConfigError: a bad configuration (unknown problem or optimizer, sizes), before any cell runs.
        CacheError: ``out_dir/cache.sqlite`` is not a usable cache, or one of its cells is damaged.

    Returns:
        ``{"config", "problems", "left_out", "cells": {problem: {optimizer: {...}}}, "computed", "cached"}``.
    """
    from tqdm.auto import tqdm

    from convexlab.optim import RECOMBINED, REGISTRY

    config.validate()
    if config.mode not in ("quick", "full"):
        raise BenchConfigError(f"mode must be 'quick' or 'full', got {config.mode!r}")
    problems, left_out = build_suite(config.mode, gpt=config.gpt)
    if config.budget_scale != 1.0:
        for p in problems:
            p.budget = max(2, int(round(p.budget * config.budget_scale)))
            p.eval_every = max(1, p.budget // 20)
    names = list(config.optimizers or [n for n in REGISTRY if n not in RECOMBINED])
    for n in names:
        if n not in REGISTRY:
            raise BenchConfigError(f"optimizers must be registry names ({sorted(REGISTRY)}), got {n!r}")
    # before any cell runs: a new registry optimizer without its benchmark entries
    for table, where in ((BENCH_SETTINGS, "convexlab.bench.compare.BENCH_SETTINGS (() for the constructor's "
                                          "defaults)"),
                         (TAXONOMY_PLACEMENT, "convexlab.bench.taxonomy.TAXONOMY_PLACEMENT")):
        unset = [n for n in names if n not in table]
        if unset:
            raise BenchConfigError(f"no benchmark entry for {', '.join(unset)}: add "
                                   f"{'their entries' if len(unset) > 1 else 'an entry'} to {where}")
    if config.problems is not None:
        known = {p.name for p in problems}
        for n in config.problems:
            if n in left_out:
                raise BenchConfigError(f"problems: {n!r} is left out of this run: {left_out[n]}")
            if n not in known:
                raise BenchConfigError(f"problems must be among {sorted(known)} in {config.mode} mode, got {n!r}")
        problems = [p for p in problems if p.name in config.problems]
    if "AdamW" not in names:
        names = ["AdamW"] + names  # the step-time reference of the same run
    # the key of a cell: a thread count other than the default 1 keeps its timings apart (1 keeps
    # the keys of caches written before --threads existed)
    threads_key = () if config.threads == 1 else (("threads", config.threads),)
    plan = []
    cells: dict = {}
    for prob in problems:
        cells[prob.name] = {}
        for n in names:
            reason = skip_reason(n, prob)
            cells[prob.name][n] = {"skipped": reason} if reason else {}
            if not reason:
                plan.append((prob, n))
    total = len(plan) * (config.n_lr + 1)
    computed = cached = 0
    store = Cache(Path(out_dir) / "cache.sqlite" if cache else None)  # checked before any cell runs
    old_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)  # step-time ratios at one thread count, the same for every cell
    bar = tqdm(total=total, desc="bench compare", disable=not progress, mininterval=0.5)
    try:
        for prob, n in plan:
            base = (BENCH_VERSION, config.mode, prob.name, prob.budget, n, *threads_key)
            grid = lr_grid(n, config.n_lr)
            tune = []
            for k, lr in enumerate(grid):
                key = _key(*base, "tune", lr, config.tune_seeds)
                res = store.get(key, phase="tune", seeds=config.tune_seeds)
                if res is None:
                    runs = [train_run(prob, n, lr, 1000 + s, "val", timing=False) for s in range(config.tune_seeds)]
                    res = dict(lr=lr, scores=[r["final"] for r in runs])
                    store.put(key, prob.name, n, f"tune{k}", res)
                    computed += 1
                    if stop_after is not None and computed >= stop_after:
                        raise BenchmarkInterrupted(f"stopped after {computed} computed cells (test hook)")
                else:
                    cached += 1
                tune.append(res)
                bar.update(1)
            scores = [float(np.mean([_finite(prob, v) for v in r["scores"]])) for r in tune]
            prog = [_progress(prob, v) for v in scores]
            best = int(np.argmax(prog))
            key = _key(*base, "final", grid[best], config.seeds)
            res = store.get(key, phase="final", seeds=config.seeds)
            if res is None:
                runs = [train_run(prob, n, grid[best], s, "test", timing=True, peak=(s == 0))
                        for s in range(config.seeds)]
                res = dict(lr=grid[best], runs=runs)
                store.put(key, prob.name, n, "final", res)
                computed += 1
                if stop_after is not None and computed >= stop_after:
                    raise BenchmarkInterrupted(f"stopped after {computed} computed cells (test hook)")
            else:
                cached += 1
            bar.update(1)
            cells[prob.name][n] = dict(grid=grid, tune_scores=scores, best_lr=grid[best],
                                       lr_sensitivity=lr_sensitivity(grid, prog), final=res)
    finally:
        bar.close()
        store.close()
        torch.set_num_threads(old_threads)
    meta = {p.name: dict(family=p.family, metric=p.metric, higher_is_better=p.higher_is_better, target=p.target,
                         budget=p.budget, eval_every=p.eval_every, samples_per_step=p.samples_per_step,
                         description=p.description) for p in problems}
    return dict(config=config.__dict__ | {"problems": config.problems, "optimizers": config.optimizers},
                problems=meta, left_out=left_out, cells=cells, computed=computed, cached=cached,
                optimizers=names)


# ---------------------------------------------------------------------------------------------
# summaries
# ---------------------------------------------------------------------------------------------
def summarize(raw: dict) -> list[dict]:
    r"""One row per problem × optimizer with every metric of the module docstring."""
    from convexlab.bench.suite import BenchProblem

    rows = []
    for pname, per_opt in raw["cells"].items():
        meta = raw["problems"][pname]
        prob = BenchProblem(pname, meta["family"], meta["metric"], meta["higher_is_better"], meta["target"],
                            meta["budget"], meta["eval_every"], meta["samples_per_step"], lambda s, sp: None)
        ref = per_opt.get("AdamW", {}).get("final")
        ref_time = statistics.median(r["step_time"] for r in ref["runs"]) if ref else math.nan
        for n, cell in per_opt.items():
            own, total = implementation_lines(n)
            if "skipped" in cell:
                rows.append(dict(problem=pname, optimizer=n, skipped=cell["skipped"], impl_lines=own,
                                 impl_lines_with_bases=total))
                continue
            runs = cell["final"]["runs"]
            finals = [_finite(prob, r["final"]) for r in runs]
            mean, ci = _mean_ci(finals)
            stt = [_steps_to_target(prob, r) for r in runs]
            solved = sum(math.isfinite(s) for s in stt)
            med_steps = float(np.median(stt)) if solved * 2 > len(stt) else math.inf
            step_time = statistics.median(r["step_time"] for r in runs)
            rows.append(dict(
                problem=pname, optimizer=n, skipped="", higher_is_better=meta["higher_is_better"], best_lr=cell["best_lr"], final_mean=mean, final_ci=ci,
                seed_std=float(np.std(finals, ddof=1)) if len(finals) > 1 else 0.0,
                steps_to_target=med_steps, seeds_at_target=f"{solved}/{len(stt)}",
                samples_to_target=med_steps * meta["samples_per_step"],
                time_to_target=med_steps * step_time, lr_sensitivity=cell["lr_sensitivity"],
                state_bytes_per_param=float(np.mean([r["state_bytes_per_param"] for r in runs])),
                peak_mib=float(np.mean([r["peak_bytes"] for r in runs if "peak_bytes" in r])) / 2**20,
                step_time_ms=1e3 * step_time, step_time_ratio=step_time / ref_time,
                opt_time_ratio=(statistics.median(r["opt_time"] for r in runs)
                                / statistics.median(r["opt_time"] for r in ref["runs"])) if ref else math.nan,
                diverged=sum(bool(r["diverged"]) for r in runs), impl_lines=own, impl_lines_with_bases=total))
    return rows


def performance_profile(rows: list[dict], key: str = "steps_to_target", taus=None) -> dict[str, np.ndarray]:
    r"""AlgoPerf performance profiles ρ_o(τ) = |{p : t_{p,o} ≤ τ · min_o' t_{p,o'}}| / |P|.

    Problems are those with at least one row; a skipped or unsolved (t = ∞) cell never counts; a
    problem no optimizer solves counts against everyone. Returns ``{"tau": τ grid, name: ρ}``.

    >>> rows = [dict(problem="a", optimizer="x", skipped="", steps_to_target=10.0),
    ...         dict(problem="a", optimizer="y", skipped="", steps_to_target=20.0)]
    >>> prof = performance_profile(rows, taus=[1.0, 2.0])
    >>> prof["x"].tolist(), prof["y"].tolist()
    ([1.0, 1.0], [0.0, 1.0])
    """
    taus = np.asarray(taus if taus is not None else np.linspace(1.0, TAU_MAX, 121), dtype=float)
    problems = sorted({r["problem"] for r in rows})
    names = list(dict.fromkeys(r["optimizer"] for r in rows))
    t = {(r["problem"], r["optimizer"]): (r.get(key, math.inf) if not r.get("skipped") else math.inf) for r in rows}
    out: dict[str, np.ndarray] = {"tau": taus}
    best = {p: min((t.get((p, n), math.inf) for n in names), default=math.inf) for p in problems}
    for n in names:
        ratios = np.array([t.get((p, n), math.inf) / best[p] if math.isfinite(best[p]) else math.inf
                           for p in problems])
        out[n] = np.array([(ratios <= tau).mean() for tau in taus])
    return out


def profile_score(prof: dict[str, np.ndarray]) -> dict[str, float]:
    """Area under ρ on [1, τ_max] divided by τ_max − 1 (1 = fastest on every problem)."""
    taus = prof["tau"]
    span = taus[-1] - taus[0]
    return {n: float(np.trapezoid(v, taus) / span) for n, v in prof.items() if n != "tau"}


def ranking(rows: list[dict]) -> list[dict]:
    r"""Per optimizer: profile scores (steps, wall-clock), mean rank of the final metric, problems solved."""
    by_problem: dict[str, list[dict]] = {}
    for r in rows:
        by_problem.setdefault(r["problem"], []).append(r)
    ranks: dict[str, list[float]] = {}
    for p, rs in by_problem.items():
        ok = [r for r in rs if not r.get("skipped")]
        sign = -1.0 if ok and ok[0]["higher_is_better"] else 1.0
        order = sorted(ok, key=lambda r: sign * r["final_mean"])
        for i, r in enumerate(order):
            ranks.setdefault(r["optimizer"], []).append(i + 1)
    s_steps = profile_score(performance_profile(rows, "steps_to_target"))
    s_time = profile_score(performance_profile(rows, "time_to_target"))
    out = []
    for n in dict.fromkeys(r["optimizer"] for r in rows):
        mine = [r for r in rows if r["optimizer"] == n]
        ran = [r for r in mine if not r.get("skipped")]
        out.append(dict(optimizer=n, category=CATEGORIES[placement_of(n).primary][0],
                        score_steps=s_steps[n], score_time=s_time[n],
                        mean_rank=float(np.mean(ranks[n])) if ranks.get(n) else math.nan,
                        solved=sum(math.isfinite(r["steps_to_target"]) for r in ran), ran=len(ran), of=len(mine),
                        median_step_ratio=float(np.median([r["step_time_ratio"] for r in ran])) if ran else math.nan,
                        state_bytes=float(np.median([r["state_bytes_per_param"] for r in ran])) if ran else math.nan,
                        impl_lines=mine[0]["impl_lines"]))
    out.sort(key=lambda r: (-r["score_steps"], r["mean_rank"]))
    return out


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------
def _fmt(v, spec=".3g"):
    if isinstance(v, float):
        if math.isinf(v):
            return "∞"
        if math.isnan(v):
            return "—"
        return format(v, spec)
    return str(v)


def _table(rows: list[dict], cols: list[tuple[str, str]]) -> str:
    head = "| " + " | ".join(h for _, h in cols) + " |\n|" + "---|" * len(cols) + "\n"
    return head + "".join("| " + " | ".join(_fmt(r.get(k, "")) for k, _ in cols) + " |\n" for r in rows)


def ranking_markdown(rank: list[dict]) -> str:
    """The ranking table as Markdown."""
    return _table(rank, [("optimizer", "optimizer"), ("category", "category"), ("score_steps", "profile score (steps)"),
                         ("score_time", "profile score (time)"), ("mean_rank", "mean rank (final)"),
                         ("solved", "solved"), ("ran", "ran"), ("median_step_ratio", "step × AdamW"),
                         ("state_bytes", "state B/param"), ("impl_lines", "impl. lines")])


def plot_profiles(rows: list[dict], path=None):
    """Two-panel performance profile (steps, wall-clock); saved to ``path`` when given."""
    from convexlab.plotting import save_figure
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(6.4, 4.0), dpi=100, sharey=True)
    for ax, key, title in zip(axes, ("steps_to_target", "time_to_target"), ("steps to target", "wall-clock to target")):
        prof = performance_profile(rows, key)
        for i, (n, v) in enumerate((k, v) for k, v in prof.items() if k != "tau"):
            ax.step(prof["tau"], v, where="post", label=n, linestyle=("-", "--", ":", "-.")[i % 4])
        ax.set_xlabel("τ (× best on the problem)")
        ax.set_title(f"performance profile: {title}", fontsize=8)
        ax.set_xlim(1, TAU_MAX)
        ax.set_ylim(-0.02, 1.02)
    axes[0].set_ylabel("fraction of problems solved")
    fig.tight_layout(rect=(0, 0.2, 1, 1))
    fig.legend(*axes[0].get_legend_handles_labels(), fontsize=6, ncol=5, loc="lower center", frameon=False)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_final(rows: list[dict], path=None):
    """Final metric per problem (mean ± 95 % CI) for every optimizer; saved to ``path`` when given."""
    from convexlab.plotting import save_figure
    import matplotlib.pyplot as plt

    problems = list(dict.fromkeys(r["problem"] for r in rows))
    names = list(dict.fromkeys(r["optimizer"] for r in rows))
    fig, axes = plt.subplots(1, len(problems), figsize=(min(2.2 * len(problems), 16), 3.6), dpi=100, squeeze=False)
    for ax, p in zip(axes[0], problems):
        rs = {r["optimizer"]: r for r in rows if r["problem"] == p and not r.get("skipped")}
        ys = [rs[n]["final_mean"] if n in rs else np.nan for n in names]
        es = [rs[n]["final_ci"] if n in rs else 0.0 for n in names]
        ax.barh(range(len(names)), ys, xerr=es, color="C0")
        ax.set_yticks(range(len(names)), names if ax is axes[0][0] else [""] * len(names), fontsize=6)
        ax.set_title(p, fontsize=7)
        if not p.startswith("digits") and all(y > 0 for y in ys if np.isfinite(y)):
            ax.set_xscale("log")
        ax.tick_params(axis="x", labelsize=6)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def write_report(raw: dict, out_dir: str | Path, *, elapsed: float | None = None) -> Path:
    r"""Write ``report.md``, ``results.json`` and the figures into ``out_dir``; return the report path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = summarize(raw)
    rank = ranking(rows)
    cfg = raw["config"]
    atomic_write(out_dir / "results.json", json.dumps(dict(raw=raw, rows=rows, ranking=rank), indent=1,
                                                      default=str) + "\n")
    plot_profiles(rows, out_dir / "performance_profile.png")
    plot_final(rows, out_dir / "final_metric.png")
    import matplotlib.pyplot as plt

    plt.close("all")
    lines = [f"# Optimizer comparison ({cfg['mode']})", ""]
    lines += [f"Every registry optimizer on {len(raw['problems'])} problems; "
              f"{raw['computed']} cells computed, {raw['cached']} read from the cache"
              + (f"; {elapsed:.0f} s." if elapsed is not None else "."), ""]
    lines += ["## Tuning budget (the same for every optimizer)", "",
              f"- learning-rate grid: {cfg['n_lr']} points, lr_default × 10^a, a evenly spaced in "
              f"[{GRID_DECADES[0]:g}, {GRID_DECADES[1]:g}] decades "
              f"({(GRID_DECADES[1] - GRID_DECADES[0]) / max(1, cfg['n_lr'] - 1):.2g} decades apart)",
              f"- tuning: {cfg['tune_seeds']} seed(s) per lr, scored on the validation split; "
              f"final: the best lr on {cfg['seeds']} fresh seeds, scored on the test split",
              f"- matrix-only optimizers: MatrixAndAdamW, AdamW part at fixed lr {AUX_LR:g}",
              "- peak memory: torch.profiler(profile_memory=True) over two steps + parameter bytes",
              f"- torch threads: {cfg.get('threads', 1)} (every step time and ratio)",
              ""]
    lines += ["| optimizer | lr grid |", "|---|---|"]
    for n in raw["optimizers"]:
        lines.append(f"| {n} | " + ", ".join(f"{v:.3g}" for v in lr_grid(n, cfg["n_lr"])) + " |")
    lines += ["", "## Problems", "", _table([dict(name=k, **v) for k, v in raw["problems"].items()],
              [("name", "problem"), ("family", "family"), ("metric", "metric"), ("target", "target"),
               ("budget", "step budget"), ("samples_per_step", "samples/step"), ("description", "description")])]
    for k, why in raw["left_out"].items():
        lines.append(f"- left out: `{k}` — {why}")
    lines += ["", "## Ranking", "", "Sorted by the AlgoPerf profile score (area under ρ(τ) on [1, 4] / 3; steps to "
              "target); mean rank of the final test metric over the problems each optimizer ran on.", "",
              ranking_markdown(rank), "", "![performance profile](performance_profile.png)", "",
              "![final metric](final_metric.png)", "", "## Taxonomy (survey arXiv 2605.09176)", "",
              _table(category_table(raw["optimizers"]), [("category", "category"), ("primary", "primary"),
                                                         ("secondary", "also"), ("meaning", "criterion")]),
              "", _table(placement_table(raw["optimizers"]), [("optimizer", "optimizer"), ("primary", "primary"),
                                                             ("secondary", "also"), ("reason", "why")]), ""]
    lines += ["## All cells", "", "Final metric: mean ± 95 % t-interval over seeds; steps to target: median over "
              "seeds (∞ when most seeds miss); lr sens.: decades within 10 % of the best; step × AdamW: median "
              "training-step time over AdamW's on the same problem.", ""]
    for p in raw["problems"]:
        rs = [r for r in rows if r["problem"] == p]
        ran = [dict(r, final=f"{r['final_mean']:.4g} ± {r['final_ci']:.2g}") for r in rs if not r["skipped"]]
        lines += [f"### {p}", "", _table(ran, [
            ("optimizer", "optimizer"), ("best_lr", "best lr"), ("final", "final"), ("seed_std", "seed std"),
            ("steps_to_target", "steps→target"), ("seeds_at_target", "seeds at target"),
            ("samples_to_target", "samples→target"), ("lr_sensitivity", "lr sens. (dec)"),
            ("state_bytes_per_param", "state B/param"), ("peak_mib", "peak MiB"), ("step_time_ratio", "step × AdamW"),
            ("opt_time_ratio", "opt.step × AdamW"), ("diverged", "diverged"), ("impl_lines", "impl. lines"),
            ("impl_lines_with_bases", "with bases")])]
        for r in rs:
            if r["skipped"]:
                lines.append(f"- {r['optimizer']}: skipped — {r['skipped']}")
        lines.append("")
    path = out_dir / "report.md"
    atomic_write(path, "\n".join(lines))
    return path


def load_results(out_dir: str | Path) -> dict:
    """``results.json`` of a finished run: ``{"raw", "rows", "ranking"}``."""
    path = Path(out_dir) / "results.json"
    if not path.exists():
        raise ValueError(f"out_dir must hold a results.json of a finished run, got {str(out_dir)!r}")
    try:
        res = json.loads(path.read_text())
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"{path} is not a results.json of `convexlab bench compare` ({err}); "
                         "rerun the benchmark into that directory") from None
    if not (isinstance(res, dict) and {"raw", "rows", "ranking"} <= set(res)):
        raise ValueError(f"{path} is not a results.json of `convexlab bench compare` (it needs the keys raw, "
                         "rows and ranking); rerun the benchmark into that directory")
    return res


def ensure_results(results_dir=None, *, problems=None, budget_scale: float = 1.0, n_lr: int | None = None,
                   seeds: int | None = None) -> tuple[dict, Path]:
    r"""``results.json`` of ``results_dir`` when it holds one, else a ``--quick`` run into a new temp dir.

    The keyword arguments restrict the fresh run (a notebook's FAST mode). Returns
    ``(results, directory)`` with results = ``{"raw", "rows", "ranking"}``.
    """
    if results_dir is not None and (Path(results_dir) / "results.json").exists():
        return load_results(results_dir), Path(results_dir)
    import tempfile

    out = Path(results_dir) if results_dir is not None else Path(tempfile.mkdtemp(prefix="bench_compare_"))
    argv = ["--quick", "--out", str(out), "--no-progress", "--budget-scale", str(budget_scale)]
    argv += ["--problems", *problems] if problems else []
    argv += ["--n-lr", str(n_lr)] if n_lr else []
    argv += ["--seeds", str(seeds)] if seeds else []
    main(argv)
    return load_results(out), out


def best_per_dimension(rank: list[dict]) -> dict[str, str]:
    r"""The best optimizer on each ranking dimension (profile score in steps and in wall-clock, mean
    rank of the final metric, step time, state bytes, implementation lines); ties go to the first.

    A single optimizer best on every dimension would make a one-number comparison sufficient;
    the survey (arXiv 2605.09176) argues that this does not happen.
    """
    ok = [r for r in rank if r["ran"] > 0]
    return {
        "profile score (steps)": max(ok, key=lambda r: r["score_steps"])["optimizer"],
        "profile score (time)": max(ok, key=lambda r: r["score_time"])["optimizer"],
        "mean rank (final)": min(ok, key=lambda r: r["mean_rank"])["optimizer"],
        "step time": min(ok, key=lambda r: r["median_step_ratio"])["optimizer"],
        "state bytes": min(ok, key=lambda r: r["state_bytes"])["optimizer"],
        "implementation lines": min(ok, key=lambda r: r["impl_lines"])["optimizer"],
    }


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------
def _budget_scale(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 10], got {text!r}") from None
    if not (0 < v <= 10):  # NaN fails too
        raise argparse.ArgumentTypeError(f"must be a number in (0, 10], got {text}")
    return v


def build_parser():
    r"""The parser of ``convexlab bench compare`` (the project grammar, :mod:`convexlab._cli`)."""
    from convexlab import _cli
    from convexlab._validation import argparse_int_at_least
    from convexlab.bench.suite import problem_names
    from convexlab.optim import REGISTRY

    import textwrap

    ap = _cli.parser("bench compare", textwrap.fill(
        "Every registry optimizer on a problem suite, many dimensions at once: fair learning-rate tuning, final "
        "metric, steps to target, lr sensitivity, seed spread, memory, step time against AdamW in the same run, "
        "implementation size.", 78) + "\n\n"
                     "Examples:\n"
                     "  convexlab bench compare --quick --out bench_out\n"
                     "  convexlab bench compare --full --out bench_full --gpt\n"
                     "  convexlab bench compare --problems logreg,digits_mlp --optimizers AdamW,Signum\n\n"
                     "Finished cells are cached in OUT/cache.sqlite: rerunning the same command resumes.")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true",
                   help="small budgets, 4 lr points, 3 seeds, imbalance ratios 1 and 10 (the default)")
    g.add_argument("--full", action="store_true", help="larger budgets, 6 lr points, 5 seeds, imbalance up to 100")
    ap.add_argument("--out", default="bench_compare", metavar="DIR",
                    help="output directory: report.md, results.json, figures and cache.sqlite (default bench_compare)")
    full_names = problem_names("full", gpt=True)
    _cli.add_list(ap, "problems", choices=full_names,
                  help="run only these problems (commas and/or spaces; default: every problem of the mode): "
                       + ", ".join(full_names) + " (imb100 and gpt: --full only)")
    _cli.add_list(ap, "optimizers", choices=list(REGISTRY),
                  help="run only these registry optimizers (commas and/or spaces; AdamW, the step-time reference, "
                       "is always added; default: every registry optimizer except the recombined ones)")
    ap.add_argument("--n-lr", type=argparse_int_at_least("", 1), default=None, metavar="N",
                    help="learning-rate grid points per optimizer (default 4 quick, 6 full)")
    ap.add_argument("--seeds", type=argparse_int_at_least("", 1), default=None, metavar="N",
                    help="fresh seeds of the final runs (default 3 quick, 5 full)")
    ap.add_argument("--tune-seeds", type=argparse_int_at_least("", 1), default=None, metavar="N",
                    help="seeds per tuning run (default 1)")
    ap.add_argument("--budget-scale", type=_budget_scale, default=1.0, metavar="X",
                    help="multiply every step budget by X, 0 < X <= 10 (default 1; the tests use < 1)")
    _cli.add_threads(ap, default=1, help="CPU threads for torch (integer >= 1, default 1: the step-time ratios "
                                         "are of one thread, as in the project's other benchmarks)")
    _cli.add_flag(ap, "gpt", default=False, help="add the GPT preset problem (--full only, when convexlab.llm "
                                                 "provides it; default: no)")
    _cli.add_flag(ap, "cache", default=True, help="reuse and store finished cells in OUT/cache.sqlite (default: "
                                                  "yes; --no-cache computes every cell and stores none)")
    _cli.add_flag(ap, "progress", default=True, help="show a progress bar on stderr (default: yes)")
    ap.add_argument("--stop-after-cells", type=int, default=None, help=argparse.SUPPRESS)  # test hook
    return ap


def main(argv=None) -> int:
    """``convexlab bench compare``: run, cache, summarise, write the report; print the ranking.

    A bad option, an unusable ``--out`` or ``cache.sqlite``, or a damaged cell: one line on stderr
    and exit status 2 (``SystemExit``). Ctrl-C: one line saying where the finished cells are, and
    status 130."""
    ap = build_parser()
    a = ap.parse_args(argv)
    mode = "full" if a.full else "quick"
    out = Path(a.out)
    if out.exists() and not out.is_dir():
        ap.error(f"--out must be a directory, got the file {str(out)!r}")
    try:
        out.mkdir(parents=True, exist_ok=True)  # before any cell runs, not when the report is written
    except OSError as err:
        ap.error(f"--out: cannot create the directory {str(out)!r} ({err.strerror or err})")
    cfg = BenchConfig.preset(mode, n_lr=a.n_lr, seeds=a.seeds, tune_seeds=a.tune_seeds, gpt=a.gpt,
                             problems=tuple(dict.fromkeys(a.problems)) if a.problems else None,
                             optimizers=tuple(dict.fromkeys(a.optimizers)) if a.optimizers else None,
                             budget_scale=a.budget_scale, threads=a.threads)
    t0 = time.perf_counter()
    try:
        raw = run_benchmark(cfg, out, progress=a.progress, stop_after=a.stop_after_cells, cache=a.cache)
    except BenchConfigError as err:
        ap.error(str(err))
    except CacheError as err:
        ap.exit(2, f"{ap.prog}: error: {err}\n")
    except KeyboardInterrupt:
        kept = (f"the finished cells are kept in {out / 'cache.sqlite'}; rerun the same command to resume"
                if a.cache else "nothing was kept (--no-cache)")
        print(f"{ap.prog}: interrupted; {kept}", file=sys.stderr)
        return 130
    report = write_report(raw, out, elapsed=time.perf_counter() - t0)
    rank = ranking(summarize(raw))
    print(ranking_markdown(rank))
    print(f"report: {report}  ({raw['computed']} cells computed, {raw['cached']} cached, "
          f"{time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
