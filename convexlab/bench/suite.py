r"""The problem suite of ``convexlab bench compare``: convex toys, digits classifiers, an optional GPT.

Every problem is a :class:`BenchProblem`: a name, a metric with its direction, a **target** and a
**step budget**. ``make_task(seed, split)`` builds one run: an ``nn.Module`` holding the parameters
(seeded initialisation), ``step(t)`` that leaves (stochastic) gradients in ``p.grad``, and
``evaluate()`` returning the metric on the evaluation split (``"val"`` while tuning the learning
rate, ``"test"`` for the final runs on fresh seeds).

Problems (sizes per mode in :func:`build_suite`):

* ``l1_regression`` / ``hinge_svm`` — non-smooth convex (:class:`convexlab.problems.convex.L1Regression`,
  :class:`~convexlab.problems.convex.HingeSVM`), oracle = exact subgradient plus Gaussian noise;
  metric: normalised gap (f(x_T) − f*)/(f(x_0) − f*), lower is better. There is no data split:
  tuning runs use oracle-noise seeds disjoint from the final runs' seeds ("val" = other seeds).
* ``logreg`` — smooth convex :class:`convexlab.problems.LogisticRegression` with Gaussian oracle
  noise, same metric.
* ``matrix_lsq`` — :class:`convexlab.problems.MatrixLeastSquares` (a 2-D parameter, so the matrix
  optimizers run too), same metric.
* ``digits_softmax`` — multinomial logistic regression (convex) on scikit-learn's digits.
* ``digits_mlp[_imbK]`` / ``digits_cnn[_imbK]`` — a 2-hidden-layer MLP and a 2-conv CNN on digits,
  trained on an exponentially imbalanced training set: class c keeps ⌈n_c·K^{−c/9}⌉ of its training
  images (imbalance ratio K between the largest and the smallest class; Softsign [SS-PLAN] E2 [D]).
  The validation and test splits are balanced; metric: balanced accuracy, higher is better.
* ``gpt`` — the CPU-sized GPT preset of :mod:`convexlab.llm` on the offline byte corpus, metric
  validation loss; only built when ``convexlab.llm.model`` and ``convexlab.llm.data`` provide the
  contract's ``GPT``, ``PRESETS``, ``default_corpus``, ``TokenData`` and ``get_batch`` (see
  :func:`gpt_problem`).

Targets are fixed constants [D] (not tuned per optimizer), set once from what a tuned AdamW run
reaches in the quick budget, like AlgoPerf's targets from baseline runs; the GPT target (val loss
2.8 nats/byte) is a guess not calibrated by a full run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from convexlab import _validation as V
from convexlab.problems.digits import balanced_accuracy, digits_splits, imbalance_counts  # noqa: F401  (part of this API)

__all__ = ["BenchProblem", "Task", "build_suite", "problem_names", "digits_splits", "imbalance_counts",
           "balanced_accuracy", "gpt_problem"]


@dataclass
class Task:
    """One run: ``module`` holds the parameters; ``step(t)`` fills ``p.grad``; ``evaluate()`` → metric."""

    module: nn.Module
    step: Callable[[int], None]
    evaluate: Callable[[], float]


@dataclass
class BenchProblem:
    """A benchmark problem: metric, direction, target, budget and a task factory (module docstring)."""

    name: str
    family: str
    metric: str
    higher_is_better: bool
    target: float
    budget: int
    eval_every: int
    samples_per_step: int
    make_task: Callable[[int, str], Task] = field(repr=False)
    description: str = ""

    def meets(self, value: float) -> bool:
        """Whether ``value`` reaches the target (NaN never does)."""
        if not math.isfinite(value):
            return False
        return value >= self.target if self.higher_is_better else value <= self.target

    def worst(self) -> float:
        """The value recorded for a diverged run (NaN/inf metric)."""
        return 0.0 if self.higher_is_better else 1e6


# ---------------------------------------------------------------------------------------------
# convex toys
# ---------------------------------------------------------------------------------------------
class _Vector(nn.Module):
    def __init__(self, x0: torch.Tensor, name: str):
        super().__init__()
        self.pname = name
        self.register_parameter(name, nn.Parameter(x0.clone()))

    @property
    def value(self) -> torch.Tensor:
        return getattr(self, self.pname)


def _eval_point(module: nn.Module, optimizer_ref: list) -> torch.Tensor:
    """The evaluation iterate: x of a schedule-free optimizer (``evaluating()``), else the parameter."""
    opt = optimizer_ref[0] if optimizer_ref else None
    if opt is not None and hasattr(opt, "evaluating"):
        with opt.evaluating():
            return module.value.detach().clone()
    return module.value.detach().clone()


def _toy(name: str, family: str, problem, noise_scale: float, budget: int, target: float,
         description: str) -> BenchProblem:
    r"""A :class:`~convexlab.problems.Problem` as a bench problem; metric (f(x)−f*)/(f(x_0)−f*)."""
    x0 = problem.start_point()
    f_star = float(problem.f_star)
    f0 = float(problem.f(x0[None])[0])
    scale = max(f0 - f_star, 1e-300)
    pname = "W" if x0.ndim == 2 else "x"

    def make_task(seed: int, split: str) -> Task:
        # "val" and "test" seeds never coincide: tuning uses a disjoint oracle-noise stream
        salt = 7_919 if split == "val" else 104_729
        gen = torch.Generator().manual_seed(seed * 1_000_003 + salt)
        module = _Vector(x0, pname)
        ref: list = []
        module.optimizer_ref = ref  # set by the runner so evaluate() can use a schedule-free x

        def step(t: int) -> None:
            x = module.value.detach()
            g = problem.subgradient(x[None])[0]
            g = g + noise_scale * torch.randn(g.shape, generator=gen, dtype=g.dtype)
            module.value.grad = g

        def evaluate() -> float:
            x = _eval_point(module, ref)
            return (float(problem.f(x[None])[0]) - f_star) / scale

        return Task(module, step, evaluate)

    return BenchProblem(name, family, "normalised gap", False, target, budget, max(1, budget // 20), 1,
                        make_task, description)


# ---------------------------------------------------------------------------------------------
# digits
# ---------------------------------------------------------------------------------------------
class _MLP(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(64, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, 10)  # "head": routed to AdamW beside a matrix optimizer

    def forward(self, x):
        return self.head(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


class _CNN(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, 2 * channels, 3, padding=1)
        self.head = nn.Linear(2 * channels * 4 * 4, 10)

    def forward(self, x):
        h = torch.relu(self.conv1(x.view(-1, 1, 8, 8)))
        h = torch.max_pool2d(torch.relu(self.conv2(h)), 2)  # 8×8 → 4×4
        return self.head(h.flatten(1))


class _Softmax(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(64, 10)  # a hidden-style name: the matrix optimizers act on W

    def forward(self, x):
        return self.linear(x)


def _digits(name: str, family: str, build: Callable[[], nn.Module], ratio: float, budget: int, batch: int,
            target: float, description: str) -> BenchProblem:
    def make_task(seed: int, split: str) -> Task:
        data = digits_splits(ratio)
        Xtr, ytr = data["train"]
        Xev, yev = data[split]
        torch.manual_seed(seed)  # initialisation
        module = build()
        gen = torch.Generator().manual_seed(seed + 31_337)  # minibatch order
        ref: list = []
        module.optimizer_ref = ref

        def step(t: int) -> None:
            idx = torch.randint(0, Xtr.shape[0], (batch,), generator=gen)
            module.train()
            loss = nn.functional.cross_entropy(module(Xtr[idx]), ytr[idx])
            loss.backward()

        def evaluate() -> float:
            opt = ref[0] if ref else None
            module.eval()
            with torch.no_grad():
                if opt is not None and hasattr(opt, "evaluating"):
                    with opt.evaluating():
                        pred = module(Xev).argmax(1)
                else:
                    pred = module(Xev).argmax(1)
            return balanced_accuracy(pred, yev, 10)

        return Task(module, step, evaluate)

    return BenchProblem(name, family, "balanced accuracy", True, target, budget, max(1, budget // 20), batch,
                        make_task, description)


# ---------------------------------------------------------------------------------------------
# GPT (optional)
# ---------------------------------------------------------------------------------------------
def gpt_problem(budget: int = 100, batch: int = 8, target: float = 2.8, preset: str = "toy"):
    r"""The CPU-sized GPT preset on the offline byte corpus, or ``(None, reason)`` when unavailable.

    Uses the ``convexlab.llm`` contract: ``model.GPT``, ``model.PRESETS[preset]``,
    ``data.default_corpus()``, ``data.TokenData(tokens)`` and
    ``data.get_batch(data, split, batch_size, block_size, generator)``. Metric: mean
    cross-entropy (nats/byte) on 4 fixed validation (or, for "test", other fixed) batches; samples
    per step = batch·block_size tokens. Returns ``(problem, "")``.
    """
    try:
        from convexlab.llm import data as llm_data
        from convexlab.llm import model as llm_model

        GPT, PRESETS = llm_model.GPT, llm_model.PRESETS
        default_corpus, TokenData, get_batch = llm_data.default_corpus, llm_data.TokenData, llm_data.get_batch
        cfg = PRESETS[preset]
    except Exception as exc:  # the harness is being written in parallel; skip, with the reason
        return None, f"convexlab.llm does not provide the GPT contract yet ({type(exc).__name__}: {exc})"
    tokens = np.frombuffer(default_corpus(), dtype=np.uint8).astype(np.uint16)
    data = TokenData(tokens)
    block = cfg.block_size

    def make_task(seed: int, split: str) -> Task:
        torch.manual_seed(seed)
        module = GPT(cfg)
        gen = torch.Generator().manual_seed(seed + 4_242)
        egen = torch.Generator().manual_seed(0 if split == "val" else 1)
        evals = [get_batch(data, "val", batch, block, egen) for _ in range(4)]
        ref: list = []
        module.optimizer_ref = ref

        def step(t: int) -> None:
            x, y = get_batch(data, "train", batch, block, gen)
            module.train()
            _, loss = module(x, y)
            loss.backward()

        def evaluate() -> float:
            module.eval()
            opt = ref[0] if ref else None
            with torch.no_grad():
                if opt is not None and hasattr(opt, "evaluating"):
                    with opt.evaluating():
                        losses = [float(module(x, y)[1]) for x, y in evals]
                else:
                    losses = [float(module(x, y)[1]) for x, y in evals]
            return float(np.mean(losses))

        return Task(module, step, evaluate)

    return BenchProblem("gpt", "GPT (byte-level LM)", "val loss", False, target, budget, max(1, budget // 5),
                        batch * block, make_task, f"GPT preset {preset!r} on the offline byte corpus"), ""


# ---------------------------------------------------------------------------------------------
# the suite
# ---------------------------------------------------------------------------------------------
#: per mode: step budgets (toys, nets) and the imbalance ratios [D]
MODES = {
    "quick": dict(toy_budget=150, net_budget=150, ratios=(1, 10), hidden=32, channels=4, batch=32),
    "full": dict(toy_budget=400, net_budget=400, ratios=(1, 10, 100), hidden=64, channels=8, batch=64),
}

#: targets [D], fixed once from a tuned AdamW quick run (module docstring)
TARGETS = {"l1_regression": 0.05, "hinge_svm": 0.05, "logreg": 0.03, "matrix_lsq": 0.01,
           "digits_softmax": 0.90, "mlp": 0.90, "cnn": 0.90, "mlp_imb": 0.80, "cnn_imb": 0.80, "gpt": 2.8}


#: the problems that do not depend on the mode, in suite order
_FIXED = ("l1_regression", "hinge_svm", "logreg", "matrix_lsq", "digits_softmax")


def _digits_suffix(ratio: int) -> str:
    return "" if ratio == 1 else f"_imb{ratio}"


def problem_names(mode: str = "quick", *, gpt: bool = False) -> list[str]:
    r"""The names :func:`build_suite` gives the problems of ``mode``, in order, without building them
    (the command line checks ``--problems`` with it). ``gpt=True`` appends ``"gpt"`` in full mode,
    whether or not :func:`gpt_problem` can build it.

    >>> problem_names("quick")[-2:]
    ['digits_mlp_imb10', 'digits_cnn_imb10']
    """
    V.one_of("mode", mode, tuple(MODES))
    names = list(_FIXED)
    for k in MODES[mode]["ratios"]:
        names += [f"digits_mlp{_digits_suffix(k)}", f"digits_cnn{_digits_suffix(k)}"]
    return names + (["gpt"] if gpt and mode == "full" else [])


def build_suite(mode: str = "quick", *, gpt: bool = False) -> tuple[list[BenchProblem], dict[str, str]]:
    r"""The problems of ``mode`` ("quick" or "full") and ``{name: reason}`` of those left out.

    The GPT problem is built only with ``gpt=True`` in full mode and when :func:`gpt_problem` finds
    the ``convexlab.llm`` contract; otherwise it is listed as left out with the reason.
    """
    V.one_of("mode", mode, tuple(MODES))
    from convexlab.problems import LogisticRegression
    from convexlab.problems.convex import HingeSVM, L1Regression

    m = MODES[mode]
    T, N = m["toy_budget"], m["net_budget"]
    probs = [
        _toy("l1_regression", "convex non-smooth", L1Regression(d=16, n=64, radius=10.0, seed=0), 0.05, T,
             TARGETS["l1_regression"], "(1/n)‖Ax − b‖₁, d = 16, n = 64, subgradient + N(0, 0.05²) noise"),
        _toy("hinge_svm", "convex non-smooth", HingeSVM(d=16, n=64, reg=0.01, radius=10.0, seed=0), 0.05, T,
             TARGETS["hinge_svm"], "hinge loss + 0.01‖w‖₁, d = 16, n = 64, subgradient + N(0, 0.05²) noise"),
        _toy("logreg", "convex smooth", LogisticRegression(n_samples=200, dim=20, seed=0), 0.05, T,
             TARGETS["logreg"], "logistic regression, N = 200, d = 20, λ = 1e-3, gradient + N(0, 0.05²) noise"),
        _toy("matrix_lsq", "convex smooth (matrix)", _matrix_lsq(), 0.05, T, TARGETS["matrix_lsq"],
             "½‖AW − B‖²_F, W ∈ R^{16×12}, gradient + N(0, 0.05²) noise"),
        _digits("digits_softmax", "convex (digits)", _Softmax, 1, N, m["batch"], TARGETS["digits_softmax"],
                "multinomial logistic regression on digits"),
    ]
    for k in m["ratios"]:
        suffix = _digits_suffix(k)
        key = "" if k == 1 else "_imb"
        probs.append(_digits(f"digits_mlp{suffix}", "MLP (digits)", lambda h=m["hidden"]: _MLP(h), k, N, m["batch"],
                             TARGETS["mlp" + key], f"MLP 64-{m['hidden']}-{m['hidden']}-10, imbalance ratio {k}"))
        probs.append(_digits(f"digits_cnn{suffix}", "CNN (digits)", lambda c=m["channels"]: _CNN(c), k, N,
                             m["batch"], TARGETS["cnn" + key],
                             f"CNN conv{m['channels']}-conv{2 * m['channels']}-pool-linear, imbalance ratio {k}"))
    left_out: dict[str, str] = {}
    if not gpt:
        left_out["gpt"] = "not requested (pass --gpt)"
    elif mode == "quick":
        left_out["gpt"] = "skipped in --quick (the GPT preset needs minutes per optimizer)"
    else:
        # ≈ 60 ms per step on one CPU thread (toy preset, 8×128 tokens): a quarter of the net budget
        # keeps the GPT cells to ≈ 15 minutes for all optimizers
        prob, reason = gpt_problem(budget=max(20, N // 4), target=TARGETS["gpt"])
        if prob is None:
            left_out["gpt"] = reason
        else:
            probs.append(prob)
    return probs, left_out


def _matrix_lsq():
    from convexlab.problems import MatrixLeastSquares

    gen = torch.Generator().manual_seed(0)
    A = torch.randn(32, 16, generator=gen, dtype=torch.float64) / math.sqrt(32)
    B = torch.randn(32, 12, generator=gen, dtype=torch.float64)
    return MatrixLeastSquares(A, B)
