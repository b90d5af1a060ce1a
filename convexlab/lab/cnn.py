r"""StoSignSGD's Figure 5 at CPU scale: a small CNN on scikit-learn's digits (notebook 18; ledger row
``stosignsgd.cnn_test_loss``).

The paper (StoSignSGD, arXiv 2604.15416, Fig. 5 [P], [SSG-CIFAR]) trains ResNet18 on CIFAR-10 with
StoSignSGD, SignSGD and AdamW and reports that StoSignSGD converges fastest and reaches a markedly lower
final test loss at comparable (slightly higher) test accuracy; no numbers or hyperparameters were
recovered. The stand-in here is ours [D]:

* data: scikit-learn's digits (8×8 grey images, 10 classes), the package's stratified split
  (``convexlab.problems.digits.digits_splits``: 60 % train, 15 % validation, 25 % test), pixels in [0, 1];
* model: :func:`small_cnn`, conv 3×3 (1→c) – ReLU – conv 3×3 (c→2c) – ReLU – max-pool 2 – linear
  (2c·4·4 → 10), PyTorch's default initialisation under ``torch.manual_seed(seed)``;
* training: minibatch cross-entropy, ``epochs`` passes over the training set in a seeded shuffled order
  (seed s fixes the initialisation and the order, the same for every optimizer: differences between
  optimizers are paired per seed), a cosine learning-rate schedule η_t = η·½(1 + cos(π(t−1)/T)) over the
  T steps of the run (the CIFAR plan of [SSG-CIFAR]), decoupled weight decay λ = 5·10⁻⁴ scaled by η_t for every method;
* optimizers (:data:`OPTIMIZERS`, registry names):
  - ``StoSignSGD``: Alg. 3 [S], m_t = β1 m_{t−1} + (1−β1) g_t, G_t = max(G_{t−1}, |m_t|),
    x ← x − η_t sign(m_t + G_t⊙n_t) − η_tλx, β1 = 0.9 (the registry defaults);
  - ``Signum`` as the paper's "SignSGD": Alg. 5 [P], "Practical Implementation of SignSGD",
    m_t = β1 m_{t−1} + (1−β1) g_t (m_1 = g_1), x ← x − η_t sign(m_t) − η_tλx, β1 = 0.9. The paper's
    experiments call this Alg. 5 "SignSGD" ([SSG-ALG5]); with the same β1 it differs from StoSignSGD
    only in the sign conversion, which is the comparison the figure is about; plain signSGD (β1 = 0)
    would confound the conversion with momentum [D];
  - ``AdamW``: β = (0.9, 0.999), ε = 10⁻⁸.
* the learning rate of each optimizer is picked from its grid (:data:`LR_GRIDS`, a factor √10 apart) by
  the mean final **validation** loss over the seeds (the quantity of the claim: each baseline gets its
  best shot at it); the curves and the verdict use the **test** split at that lr.

The verdict (:func:`cnn_verdict`), fixed before the run: with Δloss = StoSignSGD − baseline final test
loss and Δacc = StoSignSGD − baseline final test accuracy (paired over seeds; baselines Signum and AdamW):
*supported* iff for each baseline Δloss has mean + 3se < 0 and Δacc has mean − 3se ≥ −``tol``;
*not supported* iff for some baseline Δloss has mean − 3se > 0 (the baseline reaches a lower test loss,
its interval excluding 0); *inconclusive* otherwise, and always for a reduced (FAST) run. "Converges
fastest" is reported, not judged: the paired difference of the mean test loss over the epochs (the area
under the curve).

=====================================  ===============================================================
function                               used by
=====================================  ===============================================================
:func:`small_cnn`                      the model
:func:`train_curves`                   one run: loss and accuracy on validation and test per epoch
:func:`sweep`                          18: every (optimizer, lr, seed), lr picked on validation loss
:func:`paired`                         18: StoSignSGD − baseline per seed, (mean, se)
:func:`cnn_verdict`                    18: the ledger row ``stosignsgd.cnn_test_loss``
:func:`scale_text`, :func:`plot_curves`  18: the ledger's scale, the figure
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

#: the optimizers of Figure 5 (``Signum`` is the paper's "SignSGD", Alg. 5; module docstring)
OPTIMIZERS = ("StoSignSGD", "Signum", "AdamW")
#: the baselines the verdict compares StoSignSGD with
BASELINES = ("Signum", "AdamW")
#: lr grids [D]: four points a factor ≈ √10 apart, placed after pilots so that the best mean validation loss
#: falls inside: a one-seed 30-epoch pilot put StoSignSGD at 3e-3/1e-2, AdamW at 3e-3/1e-2, Signum at 1e-3,
#: and the first 5-seed 20-epoch run moved Signum to 3e-3 (then the top of a 1e-4 … 3e-3 grid; 1e-4 scored
#: 1.94): its grid moved up one point. StoSignSGD's expected step is η·m/G ≤ η, so it sits higher than
#: Signum's (the CIFAR plan of [SSG-CIFAR] sweeps {1e-4, 3e-4, 1e-3} for the sign methods and {1e-3, 3e-3} for AdamW)
LR_GRIDS: dict[str, tuple[float, ...]] = {
    "StoSignSGD": (1e-3, 3e-3, 1e-2, 3e-2),
    "Signum": (3e-4, 1e-3, 3e-3, 1e-2),
    "AdamW": (1e-3, 3e-3, 1e-2, 3e-2),
}
#: decoupled weight decay of every method (the CIFAR plan of [SSG-CIFAR]: 5e-4, scaled by the lr)
WEIGHT_DECAY = 5e-4
#: accuracy margin of "comparable test accuracy" in the verdict [D]
TOL = 0.01
CLASSES = 10


def small_cnn(channels: int = 8) -> nn.Module:
    r"""conv3×3(1→c, pad 1) – ReLU – conv3×3(c→2c, pad 1) – ReLU – maxpool 2 – flatten – linear(2c·16 → 10)
    for 8×8 inputs of shape (N, 1, 8, 8) [D].

    Raises:
        ValueError: ``channels`` < 1.
    """
    c = V.integer("channels", channels, 1)
    return nn.Sequential(nn.Conv2d(1, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, 2 * c, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2 * c * 16, CLASSES))


def _images(X: torch.Tensor) -> torch.Tensor:
    """(N, 64) flattened digits → (N, 1, 8, 8)."""
    return X.reshape(-1, 1, 8, 8)


def _kwargs(name: str) -> dict:
    """Constructor kwargs besides lr (module docstring): β1 = 0.9 for the sign methods, the decay λ."""
    if name == "Signum":
        return dict(momentum=0.9, weight_decay=WEIGHT_DECAY)
    return dict(weight_decay=WEIGHT_DECAY)


def _evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    with torch.no_grad():
        logits = model(X)
        loss = float(nn.functional.cross_entropy(logits, y))
        if not math.isfinite(loss):
            return math.inf, 1.0 / CLASSES
        return loss, float((logits.argmax(1) == y).double().mean())


def train_curves(name: str, lr: float, data: dict, seed: int, epochs: int, batch: int = 32,
                 channels: int = 8) -> dict[str, np.ndarray]:
    r"""Train :func:`small_cnn` with ``REGISTRY[name]`` at peak lr ``lr`` (cosine schedule over the run,
    module docstring) on ``data["train"]`` for ``epochs`` epochs of minibatches of ``batch``; return the
    cross-entropy and accuracy on ``data["val"]`` and ``data["test"]`` after every epoch (index 0: at
    initialisation), arrays of length epochs + 1 under keys ``val_loss``, ``val_acc``, ``test_loss``,
    ``test_acc``. A run whose training loss leaves the finite range stops there: its remaining losses are
    +inf and accuracies chance (1/10).
    """
    V.one_of("name", name, tuple(REGISTRY))
    V.positive_finite("lr", lr)
    epochs = V.integer("epochs", epochs, 1)
    batch = V.integer("batch", batch, 1)
    Xtr, ytr = data["train"]
    Xtr = _images(Xtr)
    evals = {s: (_images(data[s][0]), data[s][1]) for s in ("val", "test")}
    torch.manual_seed(seed)
    model = small_cnn(channels)
    opt = REGISTRY[name](model.parameters(), lr=lr, **_kwargs(name))
    gen = torch.Generator().manual_seed(seed + 31_337)
    n = Xtr.shape[0]
    per_epoch = math.ceil(n / batch)
    total = per_epoch * epochs
    out = {f"{s}_{m}": np.full(epochs + 1, np.inf if m == "loss" else 1.0 / CLASSES)
           for s in ("val", "test") for m in ("loss", "acc")}

    def record(e):
        model.eval()
        for s, (X, y) in evals.items():
            out[f"{s}_loss"][e], out[f"{s}_acc"][e] = _evaluate(model, X, y)
        model.train()

    record(0)
    t = 0
    for e in range(1, epochs + 1):
        order = torch.randperm(n, generator=gen)
        for b in range(per_epoch):
            idx = order[b * batch:(b + 1) * batch]
            eta = lr * 0.5 * (1.0 + math.cos(math.pi * t / total))
            for group in opt.param_groups:
                group["lr"] = eta
            loss = nn.functional.cross_entropy(model(Xtr[idx]), ytr[idx])
            if not SW.train_step(opt, loss):
                return out
            t += 1
        record(e)
    return out


def sweep(data: dict, optimizers=OPTIMIZERS, seeds: int = 3, epochs: int = 30, batch: int = 32,
          channels: int = 8, lr_grids: dict | None = None, threads: int = 1,
          trainer: Callable | None = None) -> dict:
    r"""Every (optimizer, lr, seed) run of :func:`train_curves`; the lr of each optimizer picked by the
    lowest mean final validation loss over the seeds. Runs at ``threads`` torch threads (restored after).

    Args:
        data: ``{"train", "val", "test": (X (N, 64), y)}`` (``convexlab.problems.digits.digits_splits()``).
        optimizers: registry names. seeds: ≥ 2 (an interval needs two). epochs, batch, channels, threads: ≥ 1.
        lr_grids: name → lrs (default :data:`LR_GRIDS`). trainer: stand-in for :func:`train_curves` (tests).

    Returns a dict: ``optimizers``, ``seeds``, ``epochs``, ``batch``, ``channels``, ``n_params``,
    ``n_train``/``n_val``/``n_test``, ``lr_grids``, ``curves`` (key → array [optimizer, lr, seed, epoch],
    NaN-padded for shorter grids), ``best`` (chosen lr index per optimizer), ``lr`` (chosen lrs),
    ``at_best`` (key → [optimizer, seed, epoch] at the chosen lr), ``edge`` (optimizers whose chosen lr
    is at an end of their grid).

    Raises:
        ValueError: a bad argument (named, with its value and range).
    """
    if not isinstance(data, dict) or not all(k in data for k in ("train", "val", "test")):
        raise ValueError(f"data must be a dict with 'train', 'val' and 'test' splits, got {type(data).__name__}")
    optimizers = SW.names("optimizers", optimizers, tuple(REGISTRY))
    seeds = V.integer("seeds", seeds, 2)
    epochs = V.integer("epochs", epochs, 1)
    batch = V.integer("batch", batch, 1)
    channels = V.integer("channels", channels, 1)
    threads = V.integer("threads", threads, 1)
    grids = SW.lr_grids(optimizers, lr_grids, LR_GRIDS)
    trainer = train_curves if trainer is None else trainer
    n_lr = max(len(grids[n]) for n in optimizers)
    keys = ("val_loss", "val_acc", "test_loss", "test_acc")
    curves = {k: np.full((len(optimizers), n_lr, seeds, epochs + 1), np.nan) for k in keys}
    with torch_threads(threads):
        for i, name in enumerate(optimizers):
            for a, lr in enumerate(grids[name]):
                for s in range(seeds):
                    run = trainer(name, lr, data, s, epochs, batch, channels)
                    for k in keys:
                        curves[k][i, a, s] = run[k]
    final_val = curves["val_loss"][..., -1].mean(axis=2)  # [optimizer, lr]; +inf for a diverged run
    final_val = np.where(np.isnan(final_val), np.inf, final_val)
    best = np.argmin(final_val, axis=1)
    at_best = {k: v[np.arange(len(optimizers)), best] for k, v in curves.items()}
    edge = [n for i, n in enumerate(optimizers) if len(grids[n]) > 1 and best[i] in (0, len(grids[n]) - 1)]
    return dict(optimizers=optimizers, seeds=seeds, epochs=epochs, batch=batch, channels=channels,
                n_params=sum(p.numel() for p in small_cnn(channels).parameters()),
                n_train=int(data["train"][1].numel()), n_val=int(data["val"][1].numel()),
                n_test=int(data["test"][1].numel()), lr_grids={n: tuple(grids[n]) for n in optimizers},
                curves=curves, best=best, lr=[grids[n][best[i]] for i, n in enumerate(optimizers)],
                at_best=at_best, edge=edge)


def paired(result: dict, baseline: str, key: str = "test_loss", name: str = "StoSignSGD",
           epoch: int | None = None) -> tuple[float, float]:
    r"""(mean, se) over seeds of ``name`` − ``baseline`` in ``key`` at the chosen lrs: at the final epoch
    (``epoch=None``), at ``epoch``, or averaged over epochs 1..E (``epoch="mean"``: the area under the
    curve, the "converges fastest" number)."""
    if key not in result["at_best"]:
        raise ValueError(f"key must be one of {tuple(result['at_best'])}, got {key!r}")
    c = result["at_best"][key]
    if epoch is None:
        x = c[:, :, -1]
    elif epoch == "mean":
        x = c[:, :, 1:].mean(axis=2)
    else:
        x = c[:, :, V.integer("epoch", epoch, 0, c.shape[2] - 1)]
    return SW.interval(SW.difference(x, result["optimizers"], name, baseline))


def cnn_verdict(result: dict, reduced: bool = False, tol: float = TOL) -> tuple[str, str, str]:
    r"""``stosignsgd.cnn_test_loss`` from a :func:`sweep` result (module docstring): returns
    (status, numbers, criterion). ``reduced``: a FAST run, always *inconclusive*.

    Raises:
        ValueError: a negative or non-finite ``tol``.
    """
    tol = V.nonnegative_finite("tol", tol)
    crit = (f"for each baseline ({'/'.join(BASELINES)}), paired over seeds at the lr chosen on validation loss: "
            f"StoSignSGD − baseline final test loss mean + 3se < 0 and final test accuracy mean − 3se ≥ −{tol:g} "
            f"(supported); some baseline's test-loss difference has mean − 3se > 0 (not supported)")
    opts = result["optimizers"]
    bases = [b for b in BASELINES if b in opts]
    status = "inconclusive"
    parts = []
    if "StoSignSGD" in opts and bases:
        ok, worse = [], []
        for b in bases:
            ml, sl = paired(result, b, "test_loss")
            ma, sa = paired(result, b, "test_acc")
            mc, sc = paired(result, b, "test_loss", epoch="mean")
            ok.append(ml + 3 * sl < 0 and ma - 3 * sa >= -tol)
            worse.append(ml - 3 * sl > 0)
            parts.append(f"vs {b}: Δloss {ml:+.4f} ± {3 * sl:.4f}, Δacc {ma:+.4f} ± {3 * sa:.4f}, "
                         f"Δ(mean test loss over epochs) {mc:+.4f} ± {3 * sc:.4f}")
        if any(worse):
            status = "not supported"
        elif all(ok):
            status = "supported"
    cells = []
    for i, n in enumerate(opts):
        lm, ls = SW.interval(result["at_best"]["test_loss"][i, :, -1])
        am, as_ = SW.interval(result["at_best"]["test_acc"][i, :, -1])
        cells.append(f"{n} (lr {result['lr'][i]:g}) loss {lm:.4f}±{3 * ls:.4f} acc {am:.4f}±{3 * as_:.4f}")
    numbers = (f"final test loss / accuracy (mean ± 3 s.e., {result['seeds']} seeds, {result['epochs']} epochs): "
               f"{'; '.join(cells)}; StoSignSGD − baseline (± 3 s.e.): {'; '.join(parts) or 'no baseline run'}")
    status, numbers = SW.finish_verdict(status, numbers, result["edge"], reduced)
    return status, numbers, crit


def scale_text(result: dict) -> str:
    """The ``scale`` of the ledger record: data, model, seeds, epochs, steps, grids."""
    steps = math.ceil(result["n_train"] / result["batch"]) * result["epochs"]
    return (f"sklearn digits 8×8 ({result['n_train']} train / {result['n_val']} val / {result['n_test']} test), "
            f"2-conv CNN with {result['channels']}/{2 * result['channels']} channels ({result['n_params']} params), "
            f"{result['epochs']} epochs = {steps} steps of batch {result['batch']}, cosine lr, {result['seeds']} seeds, "
            f"{len(next(iter(result['lr_grids'].values())))}-point lr grids tuned on validation loss")


def plot_curves(result: dict):
    """Test loss and test accuracy against epochs per optimizer at its chosen lr, mean ± 3 s.e. bands."""
    from convexlab.plotting import new_figure

    fig, ax0 = new_figure(figsize=(8.0, 3.4))
    fig.delaxes(ax0)
    axes = fig.subplots(1, 2)
    epochs = np.arange(result["epochs"] + 1)
    for key, ax, label in (("test_loss", axes[0], "test cross-entropy"), ("test_acc", axes[1], "test accuracy")):
        for i, name in enumerate(result["optimizers"]):
            c = result["at_best"][key][i]
            m = c.mean(axis=0)
            se = c.std(axis=0, ddof=1) / math.sqrt(c.shape[0])
            ax.plot(epochs, m, label=f"{name} (lr {result['lr'][i]:g})")
            ax.fill_between(epochs, m - 3 * se, m + 3 * se, alpha=0.25)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
    axes[0].set_yscale("log")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"digits CNN, lr tuned on validation loss, mean ± 3 s.e. over {result['seeds']} seeds", fontsize=9)
    fig.tight_layout()
    return fig


__all__ = ["OPTIMIZERS", "BASELINES", "LR_GRIDS", "WEIGHT_DECAY", "TOL", "small_cnn", "train_curves", "sweep",
           "paired", "cnn_verdict", "scale_text", "plot_curves"]
