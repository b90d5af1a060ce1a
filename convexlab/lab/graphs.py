r"""Softsign's node property prediction at CPU scale (notebook 17).

The paper (Softsign, arXiv 2605.31371, experiments section [SS-EXP]) reports that on node property
prediction (7 GraphLand datasets, graph transformers) SoftMuon has the best average rank over the
datasets (provenance [REV]). The stand-in here is ours [D] (Softsign [SS-PLAN] E3):

- **graphs** (:func:`sbm_graph`): stochastic block models from our own generator. A family fixes the
  number of nodes n, classes C, mean degree k̄, homophily h (the expected fraction of a node's edges
  that join its own class) and feature noise σ. Classes are balanced (node i has class i mod C, then
  permuted); an edge joins two nodes of one class with probability p_in = k̄h/(n/C − 1) and of two
  classes with p_out = k̄(1 − h)/(n − n/C), independently (undirected, no self-loops). Features:
  x_i = μ_{y_i} + σ ε_i with class means μ_c ~ N(0, I_F) and ε_i ~ N(0, I_F). Node masks: a seeded
  permutation, the first 20 % train, the next 20 % validate, the remaining 60 % test.
  Everything is a function of (family, ``graph_seed``); the four :data:`FAMILIES` differ in
  homophily, feature noise and class count.
- **model** (:class:`GCN`): the two-layer graph convolutional network of Kipf & Welling (2017),
  logits = Â · dropout(ReLU(Â X W₁ + b₁)) W₂ + b₂ with Â = D̃^{−1/2}(A + I)D̃^{−1/2} (dense;
  Â X is computed once per graph), hidden width 32, dropout 0.5, full-batch cross-entropy on the
  training nodes, ``steps`` steps, constant lr, no weight decay.

Optimizers [D]: SoftMuon and Muon on the two weight matrices W₁, W₂ (the GCN has no other 2-D
weight, so the output layer is routed to them too: ``split_params(head=False)``), the biases with
AdamW (lr :data:`AUX_LR`, the ``MatrixAndAdamW`` defaults otherwise); AdamW, SoftSignum and Signum on
every parameter. SoftMuon: Muon phase the first half of the run, the transition (fitted schedule,
official RegNS in float32) over the second half; SoftSignum: EMA momentum 0.9, the same halves;
Signum: EMA momentum 0.9; Muon and SoftMuon: momentum 0.95 with Nesterov (their defaults),
Newton–Schulz in float32.

Tuning (:func:`sweep`): for each (optimizer, family) the lr with the best mean validation accuracy over
the seeds is picked from the optimizer's grid; test accuracy at that lr is reported per seed. Seed s
fixes the initialisation and the dropout masks, the same for every optimizer (paired).

Ranks (:func:`average_ranks`): for every seed and family the optimizers are ranked by test accuracy
(1 = best, ties share the mean rank); a seed's average rank is the mean over the families. The
verdict (:func:`node_verdict`), fixed before the run: with r(o) the per-seed average rank and
Δ(o) = r(o) − r(SoftMuon) paired over ≥ 3 seeds, *supported* iff SoftMuon's mean average rank is the
lowest and every other optimizer has mean(Δ) − 3·se(Δ) > 0 (each is resolved as worse ranked);
*not supported* iff some optimizer has mean(Δ) + 3·se(Δ) < 0 (it is resolved as better ranked than
SoftMuon); *inconclusive* otherwise, with fewer than 3 seeds, and always for a reduced (FAST) run.

=====================================  ===============================================================
function                               used by
=====================================  ===============================================================
:func:`sbm_graph`                      17: one synthetic graph of a family
:func:`train_once`                     one run: validation and test accuracy
:func:`sweep`                          17: every (optimizer, family, lr, seed), lr picked on validation
:func:`average_ranks`                  17: per-seed average rank over the families
:func:`node_verdict`                   17: the ledger row ``softsign.node_prediction``
:func:`scale_text`                     17: the scale of the record
:func:`plot_sweep`                     17: test accuracy per family and the average ranks
=====================================  ===============================================================
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import torch
from torch import nn

from convexlab import _validation as V
from convexlab.lab import sweeps as SW
from convexlab.lab.threads import one_thread_recording_warnings
from convexlab.optim import REGISTRY, MatrixAndAdamW

#: graph families [D]: nodes, classes, mean degree, homophily h, feature noise σ, feature dimension
FAMILIES: dict[str, dict] = {
    "homophilous": dict(nodes=600, classes=3, degree=4.0, homophily=0.8, noise=4.0, features=16),
    "heterophilous": dict(nodes=600, classes=3, degree=6.0, homophily=0.2, noise=1.5, features=16),
    "noisy": dict(nodes=600, classes=5, degree=6.0, homophily=0.6, noise=3.5, features=16),
    "many-class": dict(nodes=600, classes=8, degree=5.0, homophily=0.7, noise=3.5, features=16),
}
#: the optimizers compared
OPTIMIZERS = ("SoftMuon", "Muon", "AdamW", "SoftSignum", "Signum")
#: optimizers whose matrix part runs through ``MatrixAndAdamW``
MATRIX = ("SoftMuon", "Muon")
#: AdamW lr for the biases of a matrix-optimizer run [D]
AUX_LR = 1e-2
#: lr grids [D], points a factor ≈ 3 apart, placed from a two-seed probe; SoftSignum's and Signum's grids got
#: 3e-2 after a full run (4 seeds, 150 steps) picked their old upper end 1e-2 on the heterophilous family
LR_GRIDS: dict[str, tuple[float, ...]] = {
    "SoftMuon": (0.003, 0.01, 0.03, 0.1),
    "Muon": (0.003, 0.01, 0.03, 0.1),
    "AdamW": (1e-3, 3e-3, 1e-2, 3e-2),
    "SoftSignum": (3e-4, 1e-3, 3e-3, 1e-2, 3e-2),
    "Signum": (3e-4, 1e-3, 3e-3, 1e-2, 3e-2),
}
HIDDEN = 32
DROPOUT = 0.5
#: fractions of the nodes in the training and validation masks (the rest is the test mask)
TRAIN_FRACTION = VAL_FRACTION = 0.2


def _family(name: str, family) -> dict:
    """A family's parameters, checked (``family`` a dict, or a name of :data:`FAMILIES`)."""
    if isinstance(family, str):
        V.one_of(name, family, tuple(FAMILIES))
        family = FAMILIES[family]
    if not isinstance(family, dict) or set(family) != set(FAMILIES["noisy"]):
        raise ValueError(f"{name} must be a name of {tuple(FAMILIES)!r} or a dict with keys "
                         f"{sorted(FAMILIES['noisy'])!r}, got {family!r:.120}")
    n = V.integer(f"{name}['nodes']", family["nodes"], 10)
    c = V.integer(f"{name}['classes']", family["classes"], 2, n // 5)
    V.integer(f"{name}['features']", family["features"], 1)
    deg = V.positive_finite(f"{name}['degree']", family["degree"])
    h = V.nonnegative_finite(f"{name}['homophily']", family["homophily"])
    if h > 1:
        raise ValueError(f"{name}['homophily'] must be in [0, 1], got {h!r}")
    V.nonnegative_finite(f"{name}['noise']", family["noise"])
    size = n // c
    if deg * h / (size - 1) > 1 or deg * (1 - h) / (n - size) > 1:
        raise ValueError(f"{name}['degree'] = {deg!r} is too large for {n} nodes in {c} classes "
                         f"(an edge probability would exceed 1)")
    return dict(family)


def sbm_graph(family, graph_seed: int = 0) -> dict:
    r"""One stochastic-block-model graph of ``family`` (a name of :data:`FAMILIES` or a dict like them),
    a deterministic function of (family, ``graph_seed``) (module docstring).

    Returns ``{"adj": Â (n × n, dense, symmetric), "ax": Â X, "x": X, "y": labels, "train", "val",
    "test": boolean masks, "edges": undirected edge count, "homophily": the realized fraction of edges
    inside a class, "classes": C}``.

    >>> g = sbm_graph("homophilous", 0)
    >>> g["x"].shape, int(g["train"].sum() + g["val"].sum() + g["test"].sum()), 0.7 < g["homophily"] < 0.9
    (torch.Size([600, 16]), 600, True)
    """
    f = _family("family", family)
    V.integer("graph_seed", graph_seed, 0)
    n, c, d = f["nodes"], f["classes"], f["features"]
    gen = torch.Generator().manual_seed(1_000_003 * graph_seed + 17)
    y = (torch.arange(n) % c)[torch.randperm(n, generator=gen)]
    size = n / c
    p_in = f["degree"] * f["homophily"] / (size - 1)
    p_out = f["degree"] * (1 - f["homophily"]) / (n - size)
    same = y[:, None] == y[None, :]
    prob = torch.where(same, torch.tensor(p_in), torch.tensor(p_out)).double()
    upper = torch.triu(torch.rand(n, n, generator=gen, dtype=torch.float64) < prob, diagonal=1)
    a = (upper | upper.T).float()
    means = torch.randn(c, d, generator=gen)
    x = means[y] + f["noise"] * torch.randn(n, d, generator=gen)
    a_tilde = a + torch.eye(n)
    dinv = a_tilde.sum(1).rsqrt()
    adj = dinv[:, None] * a_tilde * dinv[None, :]
    perm = torch.randperm(n, generator=gen)
    n_tr, n_va = int(TRAIN_FRACTION * n), int(VAL_FRACTION * n)
    masks = {}
    for name, idx in (("train", perm[:n_tr]), ("val", perm[n_tr:n_tr + n_va]), ("test", perm[n_tr + n_va:])):
        m = torch.zeros(n, dtype=torch.bool)
        m[idx] = True
        masks[name] = m
    edges = int(upper.sum())
    inside = int((upper & same).sum())
    return dict(adj=adj, ax=adj @ x, x=x, y=y, edges=edges, homophily=inside / max(edges, 1), classes=c, **masks)


class GCN(nn.Module):
    r"""Two-layer GCN (Kipf & Welling 2017) [D sizes]: logits = Â · dropout(ReLU(ÂX W₁ + b₁)) W₂ + b₂;
    ``forward`` takes the precomputed ÂX and Â."""

    def __init__(self, features: int, classes: int, hidden: int = HIDDEN, dropout: float = DROPOUT):
        super().__init__()
        self.lin1 = nn.Linear(V.integer("features", features, 1), V.integer("hidden", hidden, 1))
        self.lin2 = nn.Linear(hidden, V.integer("classes", classes, 2))
        self.dropout = V.beta("dropout", dropout)

    def forward(self, ax: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        h = nn.functional.dropout(torch.relu(self.lin1(ax)), self.dropout, self.training)
        return adj @ self.lin2(h)


def n_params(features: int, classes: int, hidden: int = HIDDEN) -> int:
    """Parameters of :class:`GCN`: F·h + h + h·C + C."""
    return features * hidden + hidden + hidden * classes + classes


def _optimizer(name: str, net: nn.Module, lr: float, steps: int):
    """The optimizer of one run (module docstring) [D]."""
    half = steps // 2
    if name in MATRIX:
        kw = dict(ns_dtype=torch.float32)
        if name == "SoftMuon":
            kw.update(sign_iters=half, transition_iters=steps - half)
        return MatrixAndAdamW.from_model(net, name, head=False, matrix_kwargs=dict(lr=lr, **kw),
                                         adamw_kwargs=dict(lr=AUX_LR, weight_decay=0.0))
    if name == "SoftSignum":
        kw = dict(momentum=0.9, momentum_form="ema", sign_iters=half, transition_iters=steps - half)
    elif name == "Signum":
        kw = dict(momentum=0.9)
    else:
        kw = {}
    return REGISTRY[name](net.parameters(), lr=lr, weight_decay=0.0, **kw)


def _accuracy(logits: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> float:
    return float((logits[mask].argmax(1) == y[mask]).float().mean())


def train_once(name: str, lr: float, graph: dict, seed: int, steps: int, hidden: int = HIDDEN) -> tuple[float, float]:
    r"""Train :class:`GCN` on ``graph`` (:func:`sbm_graph`) with optimizer ``name`` at ``lr`` for ``steps``
    full-batch steps; return the accuracy on the validation and the test nodes. A run whose loss or
    gradient leaves the finite range (diverged) scores 0 on both (the step is not taken)."""
    V.one_of("name", name, OPTIMIZERS)
    lr = V.positive_finite("lr", lr)
    torch.manual_seed(seed)
    net = GCN(graph["x"].shape[1], graph["classes"], hidden)
    opt = _optimizer(name, net, lr, steps)
    ax, adj, y, train = graph["ax"], graph["adj"], graph["y"], graph["train"]
    for _ in range(steps):
        loss = nn.functional.cross_entropy(net(ax, adj)[train], y[train])
        if not SW.train_step(opt, loss):  # diverged: scored 0
            return 0.0, 0.0
    net.eval()
    with torch.no_grad():
        logits = net(ax, adj)
    return _accuracy(logits, y, graph["val"]), _accuracy(logits, y, graph["test"])



def _warning_counts(seen) -> dict:
    """message (first 120 characters) → how often it was raised during a sweep."""
    return dict(Counter(str(w.message)[:120] for w in seen))


def sweep(families=tuple(FAMILIES), optimizers=OPTIMIZERS, seeds: int = 3, steps: int = 200, graph_seed: int = 0,
          hidden: int = HIDDEN, lr_grids: dict | None = None) -> dict:
    r"""Every (optimizer, family, lr, seed) run; the lr of each (optimizer, family) picked by the mean
    validation accuracy over the seeds. One torch thread during the sweep (restored after).

    Args:
        families: names of :data:`FAMILIES` (or dicts like them), ≥ 1. optimizers: names of
            :data:`OPTIMIZERS`, ≥ 1. seeds: ≥ 2. steps: ≥ 2. graph_seed: ≥ 0 (the graphs). hidden: ≥ 1.
        lr_grids: name → lrs (default :data:`LR_GRIDS`).

    Returns a dict: the arguments (``families`` as labels), ``graphs`` (per family: nodes, edges,
    classes, realized homophily), ``val``/``test`` [optimizer, family, lr, seed] (shorter grids padded
    with NaN), ``best`` [optimizer, family], ``lr``, ``test_at_best`` [optimizer, family, seed],
    ``mean``, ``se``, ``lo``/``hi`` [optimizer, family], ``ranks`` (:func:`average_ranks`) and ``edge``.
    """
    families = tuple(families)
    if not families:
        raise ValueError(f"families must name at least one of {tuple(FAMILIES)!r}, got ()")
    optimizers = SW.names("optimizers", optimizers, OPTIMIZERS)
    specs = [_family("families", f) for f in families]
    labels = tuple(f if isinstance(f, str) else f"family{j}" for j, f in enumerate(families))
    V.integer("seeds", seeds, 2)
    V.integer("steps", steps, 2)
    V.integer("graph_seed", graph_seed, 0)
    V.integer("hidden", hidden, 1)
    grids = SW.lr_grids(optimizers, lr_grids, LR_GRIDS)
    n_lr = max(len(grids[n]) for n in optimizers)
    shape = (len(optimizers), len(families), n_lr, seeds)
    val, test = np.full(shape, np.nan), np.full(shape, np.nan)
    graphs = []
    with one_thread_recording_warnings() as seen:
        for j, spec in enumerate(specs):
            g = sbm_graph(spec, graph_seed)
            graphs.append(dict(nodes=spec["nodes"], edges=g["edges"], classes=g["classes"], homophily=g["homophily"],
                               noise=spec["noise"], features=spec["features"]))
            for i, name in enumerate(optimizers):
                for a, lr in enumerate(grids[name]):
                    for s in range(seeds):
                        val[i, j, a, s], test[i, j, a, s] = train_once(name, lr, g, s, steps, hidden)
    best = np.nanargmax(val.mean(axis=3), axis=2)
    test_at_best = np.take_along_axis(test, best[:, :, None, None], axis=2)[:, :, 0, :]
    mean = test_at_best.mean(axis=2)
    se = test_at_best.std(axis=2, ddof=1) / math.sqrt(seeds)
    lr = [[grids[n][best[i, j]] for j in range(len(families))] for i, n in enumerate(optimizers)]
    edge = [f"{n} {labels[j]}" for i, n in enumerate(optimizers) for j in range(len(families))
            if len(grids[n]) > 1 and best[i, j] in (0, len(grids[n]) - 1)]
    out = dict(families=labels, optimizers=optimizers, seeds=seeds, steps=steps, graph_seed=graph_seed,
               hidden=hidden, graphs=graphs, lr_grids={n: tuple(grids[n]) for n in optimizers}, val=val, test=test,
               best=best, lr=lr, test_at_best=test_at_best, mean=mean, se=se, lo=mean - 3 * se, hi=mean + 3 * se,
               edge=edge, warnings=_warning_counts(seen))
    out["ranks"] = average_ranks(test_at_best)
    return out


def _rank_desc(x: np.ndarray) -> np.ndarray:
    """Ranks of the entries of a 1-D array, 1 = largest, ties sharing their mean rank."""
    order = np.argsort(-x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(1, len(x) + 1)
    for v in np.unique(x):
        tie = x == v
        ranks[tie] = ranks[tie].mean()
    return ranks


def average_ranks(test_at_best: np.ndarray) -> np.ndarray:
    r"""Per-seed average rank [optimizer, seed]: rank the optimizers by test accuracy (1 = best, ties share
    the mean rank) within every (family, seed), then average over the families.

    >>> average_ranks(np.array([[[0.9], [0.5]], [[0.8], [0.6]]])).tolist()
    [[1.5], [1.5]]
    """
    t = np.asarray(test_at_best, dtype=float)
    if t.ndim != 3 or not np.isfinite(t).all():
        raise ValueError(f"test_at_best must be a finite array [optimizer, family, seed], got shape {t.shape}")
    ranks = np.empty_like(t)
    for j in range(t.shape[1]):
        for s in range(t.shape[2]):
            ranks[:, j, s] = _rank_desc(t[:, j, s])
    return ranks.mean(axis=1)


def node_verdict(result: dict, reduced: bool = False, name: str = "SoftMuon") -> tuple[str, str, str]:
    r"""``softsign.node_prediction`` from a :func:`sweep` result (module docstring): returns (status,
    numbers, criterion). ``reduced``: a FAST run, always *inconclusive*."""
    opts = result["optimizers"]
    V.one_of("name", name, tuple(opts))
    crit = (f"average rank over the graph families per seed (test accuracy, 1 = best), Δ(o) = rank(o) − rank({name}) "
            f"paired over ≥ 3 seeds: supported iff {name}'s mean rank is the lowest and every other o has "
            f"mean(Δ) − 3se > 0; not supported iff some o has mean(Δ) + 3se < 0; otherwise inconclusive")
    ranks = average_ranks(result["test_at_best"])
    i0 = opts.index(name)
    rank_ci = [SW.interval(ranks[i]) for i in range(len(opts))]
    deltas = {o: SW.interval(ranks[i] - ranks[i0]) for i, o in enumerate(opts) if i != i0}
    status = "inconclusive"
    if deltas and result["seeds"] >= 3:
        lowest = all(rank_ci[i0][0] < rank_ci[i][0] for i in range(len(opts)) if i != i0)
        if any(m + 3 * se < 0 for m, se in deltas.values()):
            status = "not supported"
        elif lowest and all(m - 3 * se > 0 for m, se in deltas.values()):
            status = "supported"
    ranks_txt = ", ".join(f"{o} {m:.2f}±{3 * se:.2f}" for o, (m, se) in zip(opts, rank_ci))
    delta_txt = ", ".join(f"{o} {m:+.2f}±{3 * se:.2f}" for o, (m, se) in deltas.items())
    cells = "; ".join(f"{fam}: " + ", ".join(f"{o} {result['mean'][i, j]:.3f}±{3 * result['se'][i, j]:.3f}"
                                             for i, o in enumerate(opts)) for j, fam in enumerate(result["families"]))
    numbers = (f"average rank over {len(result['families'])} families (mean ± 3 s.e., {result['seeds']} seeds): "
               f"{ranks_txt}; rank(o) − rank({name}): {delta_txt or 'no other optimizer run'}; test accuracy "
               f"(lr tuned on validation): {cells}")
    status, numbers = SW.finish_verdict(status, numbers, result["edge"], reduced)
    return status, numbers, crit


def scale_text(result: dict) -> str:
    """The ``scale`` of the ledger record: graphs (nodes, edges, classes), GCN parameters, steps, seeds."""
    gs = ", ".join(f"{fam} (n={g['nodes']}, {g['edges']} edges, C={g['classes']}, h={g['homophily']:.2f}, "
                   f"σ={g['noise']:g}, {n_params(g['features'], g['classes'], result['hidden'])} params)"
                   for fam, g in zip(result["families"], result["graphs"]))
    return (f"synthetic SBM graphs: {gs}; 2-layer GCN hidden {result['hidden']}; {result['steps']} full-batch steps; "
            f"{result['seeds']} seeds; {SW.grid_sizes(result)} lr grids")


def plot_sweep(result: dict):
    """Left: test accuracy per family and optimizer (mean ± 3 s.e.); right: average rank (mean ± 3 s.e.)."""
    from convexlab.plotting import new_figure

    fig, ax0 = new_figure(figsize=(11, 4.5))
    fig.delaxes(ax0)
    ax, ax2 = fig.subplots(1, 2)
    opts, fams = result["optimizers"], result["families"]
    width = 0.8 / len(opts)
    for i, name in enumerate(opts):
        xs = np.arange(len(fams)) + (i - (len(opts) - 1) / 2) * width
        ax.bar(xs, result["mean"][i], width, yerr=3 * result["se"][i], capsize=2, label=name)
    ax.set_xticks(np.arange(len(fams)))
    ax.set_xticklabels(fams)
    ax.set_ylim(max(0.0, float(np.nanmin(result["lo"])) - 0.05), min(1.0, float(np.nanmax(result["hi"])) + 0.05))
    ax.set_ylabel("test accuracy")
    ax.set_title("GCN on SBM graphs, lr tuned on validation")
    ax.legend(fontsize=8)
    ranks = result["ranks"]
    m = ranks.mean(axis=1)
    se = ranks.std(axis=1, ddof=1) / math.sqrt(ranks.shape[1])
    ax2.bar(np.arange(len(opts)), m, yerr=3 * se, capsize=3, color=[f"C{i}" for i in range(len(opts))])
    ax2.set_xticks(np.arange(len(opts)))
    ax2.set_xticklabels(opts, rotation=20)
    ax2.set_ylabel("average rank over families (lower is better)")
    ax2.set_title(f"mean ± 3 s.e. over {result['seeds']} seeds")
    return fig


__all__ = ["FAMILIES", "OPTIMIZERS", "LR_GRIDS", "AUX_LR", "HIDDEN", "sbm_graph", "GCN", "n_params", "train_once",
           "sweep", "average_ranks", "node_verdict", "scale_text", "plot_sweep"]
