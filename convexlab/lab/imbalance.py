r"""Softsign's imbalanced-classification experiment at CPU scale (notebook 14).

The paper (Softsign, arXiv 2605.31371, experiments section [SS-EXP]) reports SoftSignum matching or
beating Signum and AdamW on imbalanced CIFAR. Here the setup is ours [D] (Softsign [SS-PLAN] E2):
scikit-learn's digits with an exponentially imbalanced training set (class c keeps ⌈n_c k^{−c/9}⌉
of its training images, k = largest / smallest class, ``convexlab.problems.digits.imbalance_counts``),
balanced validation and test splits, a 64-h-h-10 ReLU MLP trained with minibatch cross-entropy.

For every (optimizer, k) the learning rate is chosen from a small grid by the mean balanced accuracy
on the validation split over the seeds; the cell reports the balanced test accuracy at that lr, mean
± 3 standard errors over the seeds (seed s fixes the initialisation and the minibatch order, the same
for every optimizer, so differences between optimizers are paired per seed).

The verdict (:func:`imbalance_verdict`), fixed before the run: with d = SoftSignum − baseline (paired
over seeds, baseline ∈ {Signum, AdamW} where run) at every k > 1, *supported* iff every d's interval
mean − 3·se lies above −``tol``; *not supported* iff some d's interval mean + 3·se lies below 0
(SoftSignum clearly worse); *inconclusive* otherwise, and always for a reduced (FAST) run.

The data come in through ``splits`` (``convexlab.problems.digits.digits_splits`` in the notebook): the
lab does not import the benchmark (they stand side by side, ``tests/test_architecture.py``).

=====================================  ===============================================================
function                               used by
=====================================  ===============================================================
:func:`train_once`                     one run: balanced accuracy on the validation and test splits
:func:`sweep`                          14: every (optimizer, k, lr, seed), lr picked on validation
:func:`imbalance_verdict`              14: the ledger row ``softsign.imbalanced_classification``
:func:`plot_sweep`                     14: balanced test accuracy against k with intervals
=====================================  ===============================================================
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torch import nn

from convexlab import _validation as V
from convexlab.lab import sweeps as SW
from convexlab.lab.threads import torch_threads
from convexlab.optim import REGISTRY
from convexlab.problems.digits import balanced_accuracy

#: the imbalance ratios of the paper-style sweep (largest / smallest class)
KS = (1, 10, 50, 100, 200)
#: the optimizers compared (SoftSignum against the sign, classical and adaptive baselines)
OPTIMIZERS = ("SoftSignum", "Signum", "SGDMomentum", "AdamW")
#: lr grid per optimizer [D]: four points a factor ≈ √10 apart, placed so that the full runs' choices
#: (800 steps, 5 seeds) fall inside rather than at an end (AdamW moved up one point after a run chose 3e-2)
LR_GRIDS: dict[str, tuple[float, ...]] = {
    "SoftSignum": (3e-4, 1e-3, 3e-3, 1e-2),
    "Signum": (3e-4, 1e-3, 3e-3, 1e-2),
    "SGDMomentum": (0.03, 0.1, 0.3, 1.0),
    "AdamW": (3e-3, 1e-2, 3e-2, 0.1),
}
#: the baselines the verdict compares SoftSignum with (where they were run)
BASELINES = ("Signum", "AdamW")
#: effect threshold of the verdict, in balanced accuracy [D]
TOL = 0.01
CLASSES = 10


def _kwargs(name: str, steps: int) -> dict:
    """Constructor kwargs besides lr [D]: momentum 0.9 (SoftSignum: the paper's EMA form, sign phase
    the first half of the run, transition the second half), no weight decay."""
    if name == "SoftSignum":
        return dict(momentum=0.9, momentum_form="ema", sign_iters=steps // 2, transition_iters=steps - steps // 2)
    if name in ("Signum", "SGDMomentum"):
        return dict(momentum=0.9)
    return {}


def mlp(hidden: int) -> nn.Module:
    """The 64-h-h-10 ReLU MLP of the digits problems (the suite's ``digits_mlp`` shape)."""
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, CLASSES))


def train_once(name: str, lr: float, data: dict, seed: int, steps: int, batch: int = 64,
               hidden: int = 64) -> tuple[float, float]:
    """Train the MLP with ``REGISTRY[name]`` at ``lr`` on ``data["train"]`` for ``steps`` minibatch
    steps; return the balanced accuracy on ``data["val"]`` and ``data["test"]``. A run whose loss
    leaves the finite range scores chance on both (the step is not taken)."""
    Xtr, ytr = data["train"]
    torch.manual_seed(seed)
    model = mlp(hidden)
    opt = REGISTRY[name](model.parameters(), lr=lr, **_kwargs(name, steps))
    gen = torch.Generator().manual_seed(seed + 31_337)
    for _ in range(steps):
        idx = torch.randint(0, Xtr.shape[0], (batch,), generator=gen)
        loss = nn.functional.cross_entropy(model(Xtr[idx]), ytr[idx])
        if not SW.train_step(opt, loss):  # diverged: scored as chance
            return 1.0 / CLASSES, 1.0 / CLASSES
    with torch.no_grad():
        return tuple(balanced_accuracy(model(data[s][0]).argmax(1), data[s][1], CLASSES) for s in ("val", "test"))


def sweep(splits: Callable[[float], dict], ks=KS, optimizers=OPTIMIZERS, seeds: int = 3, steps: int = 600,
          batch: int = 64, hidden: int = 64, lr_grids: dict | None = None) -> dict:
    r"""Every (optimizer, k, lr, seed) run; the lr of each (optimizer, k) picked on validation.

    Args:
        splits: ``k -> {"train", "val", "test": (X, y)}`` (``convexlab.problems.digits.digits_splits``).
        ks: imbalance ratios ≥ 1. optimizers: registry names. seeds: ≥ 2 (an interval needs two).
        steps, batch, hidden: ≥ 1. lr_grids: name → lrs (default :data:`LR_GRIDS`).

    Returns a dict: ``ks``, ``optimizers``, ``seeds``, ``steps``, ``batch``, ``hidden``, ``lr_grids``,
    ``val`` and ``test`` (arrays [optimizer, k, lr, seed]; optimizers with shorter grids padded with
    NaN), ``best`` ([optimizer, k] index of the chosen lr), ``lr`` (the chosen lrs), ``test_at_best``
    ([optimizer, k, seed]), ``mean``, ``se`` ([optimizer, k]), ``lo``/``hi`` (mean ∓ 3 se),
    ``edge`` (names of the cells whose chosen lr is at an end of its grid), and per k ``realized``
    (the training set's actual largest / smallest class count: on digits' ≈ 108 training images per
    class the ceiling ⌈n_c/k⌉ makes it ≈ 36 for k = 50, ≈ 54 for k = 100, ≈ 108 for k = 200) and
    ``n_train`` (training images).
    """
    if not callable(splits):
        raise ValueError(f"splits must be a callable k -> data splits, got {splits!r}")
    ks = tuple(ks)
    if not ks:
        raise ValueError("ks must hold at least one imbalance ratio, got ()")
    for k in ks:
        if not (isinstance(k, (int, float)) and math.isfinite(k) and k >= 1):
            raise ValueError(f"ks must hold finite numbers >= 1, got {k!r}")
    optimizers = SW.names("optimizers", optimizers, tuple(REGISTRY))
    V.integer("seeds", seeds, 2)
    V.integer("steps", steps, 1)
    V.integer("batch", batch, 1)
    V.integer("hidden", hidden, 1)
    grids = SW.lr_grids(optimizers, lr_grids, LR_GRIDS)
    n_lr = max(len(grids[n]) for n in optimizers)
    shape = (len(optimizers), len(ks), n_lr, seeds)
    val, test = np.full(shape, np.nan), np.full(shape, np.nan)
    realized, n_train = [], []
    with torch_threads(1):  # one thread: the numbers do not depend on the machine (convexlab.lab.threads)
        for j, k in enumerate(ks):
            data = splits(k)
            if data is not None:
                counts = torch.bincount(data["train"][1], minlength=CLASSES)
                realized.append(int(counts.max()) / int(counts[counts > 0].min()))
                n_train.append(int(counts.sum()))
            for i, name in enumerate(optimizers):
                for a, lr in enumerate(grids[name]):
                    for s in range(seeds):
                        val[i, j, a, s], test[i, j, a, s] = train_once(name, lr, data, s, steps, batch, hidden)
    best = np.nanargmax(val.mean(axis=3), axis=2)
    test_at_best = np.take_along_axis(test, best[:, :, None, None], axis=2)[:, :, 0, :]
    mean = test_at_best.mean(axis=2)
    se = test_at_best.std(axis=2, ddof=1) / math.sqrt(seeds)
    lr = [[grids[n][best[i, j]] for j in range(len(ks))] for i, n in enumerate(optimizers)]
    edge = [f"{n} k={k:g}" for i, n in enumerate(optimizers) for j, k in enumerate(ks)
            if len(grids[n]) > 1 and best[i, j] in (0, len(grids[n]) - 1)]
    return dict(ks=ks, realized=tuple(realized), n_train=tuple(n_train), optimizers=optimizers, seeds=seeds,
                steps=steps, batch=batch, hidden=hidden,
                lr_grids={n: tuple(grids[n]) for n in optimizers}, val=val, test=test, best=best, lr=lr,
                test_at_best=test_at_best, mean=mean, se=se, lo=mean - 3 * se, hi=mean + 3 * se, edge=edge)


def paired_differences(result: dict, baseline: str, name: str = "SoftSignum") -> dict:
    """k → (mean, se) of the per-seed difference of balanced test accuracy, ``name`` − ``baseline``,
    each at its chosen lr."""
    d = SW.difference(result["test_at_best"], result["optimizers"], name, baseline)
    return {k: SW.interval(d[j]) for j, k in enumerate(result["ks"])}


def imbalance_verdict(result: dict, reduced: bool = False, tol: float = TOL) -> tuple[str, str, str]:
    r"""``softsign.imbalanced_classification`` from a :func:`sweep` result (module docstring):
    returns (status, numbers, criterion). ``reduced``: a FAST run, always *inconclusive*."""
    tol = V.nonnegative_finite("tol", tol)
    crit = (f"at every k > 1, SoftSignum − baseline (paired over seeds, baselines {'/'.join(BASELINES)} where run) "
            f"has mean − 3se ≥ −{tol:g} (supported); some has mean + 3se < 0 (not supported)")
    opts = result["optimizers"]
    bases = [b for b in BASELINES if b in opts]
    ks = [k for k in result["ks"] if k > 1]
    status = "inconclusive"
    parts = []
    if "SoftSignum" in opts and bases and ks:
        lows, highs = [], []
        for b in bases:
            diffs = paired_differences(result, b)
            for k in ks:
                m, se = diffs[k]
                lows.append(m - 3 * se)
                highs.append(m + 3 * se)
                parts.append(f"k={k:g} vs {b} {m:+.3f} ± {3 * se:.3f}")
        if any(h < 0 for h in highs):
            status = "not supported"
        elif all(lo >= -tol for lo in lows):
            status = "supported"
    cells = "; ".join(f"{n} " + ", ".join(f"k={k:g} {result['mean'][i, j]:.3f}±{3 * result['se'][i, j]:.3f}"
                                          for j, k in enumerate(result["ks"])) for i, n in enumerate(opts))
    real = result.get("realized") or ()
    numbers = (f"realized class ratios {', '.join(f'k={k:g}: {r:.0f}' for k, r in zip(result['ks'], real))}; "
               if real else "")
    numbers += (f"balanced test accuracy (mean ± 3 s.e., {result['seeds']} seeds, lr tuned on validation): {cells}; "
               f"SoftSignum − baseline: {'; '.join(parts) or 'no baseline run'}")
    status, numbers = SW.finish_verdict(status, numbers, result["edge"], reduced)
    return status, numbers, crit


def scale_text(result: dict) -> str:
    """The ``scale`` of the ledger record: data, model, ratios, seeds, steps."""
    n_params = sum(p.numel() for p in mlp(result["hidden"]).parameters())
    return (f"sklearn digits, MLP 64-{result['hidden']}-{result['hidden']}-10 ({n_params} params), "
            f"k ∈ {{{', '.join(f'{k:g}' for k in result['ks'])}}}, {result['seeds']} seeds, {result['steps']} steps "
            f"of batch {result['batch']}, {len(next(iter(result['lr_grids'].values())))}-point lr grids")


def plot_sweep(result: dict):
    """Balanced test accuracy against k (log axis) per optimizer, with mean ± 3 s.e. bars."""
    from convexlab.plotting import new_figure

    fig, ax = new_figure(figsize=(7.5, 4.5))
    ks = np.asarray(result["ks"], dtype=float)
    for i, name in enumerate(result["optimizers"]):
        shift = ks * 1.04 ** (i - (len(result["optimizers"]) - 1) / 2)  # side by side on the log axis
        ax.errorbar(shift, result["mean"][i], yerr=3 * result["se"][i], marker="o", capsize=3, label=name)
    ax.set_xscale("log")
    real = result.get("realized") or ()
    ax.set_xlabel("imbalance ratio k (largest / smallest training class" +
                  (f"; realized {', '.join(f'{r:.0f}' for r in real)})" if real else ")"))
    ax.set_ylabel("balanced test accuracy")
    ax.set_title(f"digits MLP, lr tuned on validation, mean ± 3 s.e. over {result['seeds']} seeds")
    ax.legend()
    return fig


__all__ = ["KS", "OPTIMIZERS", "LR_GRIDS", "BASELINES", "TOL", "mlp", "balanced_accuracy", "train_once", "sweep",
           "paired_differences", "imbalance_verdict", "scale_text", "plot_sweep"]
