r"""Softsign's next-character prediction at CPU scale (notebook 16).

The paper (Softsign, arXiv 2605.31371, experiments section [SS-EXP]) reports that on next-character
prediction SoftSignum is the best coordinate-wise optimizer (Transformer: SoftSignum 57.05 %, AdamW
56.91 %, Signum 56.17 %, hard switch 56.17 %; provenance [REV]). The stand-in here is ours [D]
(Softsign [SS-PLAN] E1):

- **text**: :func:`convexlab.llm.data.default_corpus`, a fixed list of Python standard-library
  modules (Python source: code, comments and English docstrings; ≈ 4.2 MB), byte-level tokens
  (vocabulary 256). It exists on every machine without a download; it is **not** the paper's
  multilingual NLI text. Split by position, without a seed (:func:`corpus_splits`): the first
  90 % trains, the next 5 % validates, the last 5 % tests, so the three splits are different modules.
- **models**: a 1-layer byte-level LSTM (:class:`CharLSTM`, embedding e, hidden h, linear head) and a
  2-layer pre-norm causal Transformer (:class:`CharTransformer`, width d, 4 heads, learned positions,
  GELU MLP 4d, linear head), both far smaller than the paper's.
- **training**: ``steps`` minibatch steps of ``batch`` random windows of ``context`` bytes
  (cross-entropy on every position), constant lr, no weight decay, no clipping.
- **metric** (:func:`accuracy`): next-byte accuracy (argmax) over every position of the first
  ``eval_windows`` non-overlapping windows of the validation / test split (positions early in a
  window see less context, for every optimizer alike).

Optimizers [D]: SoftSignum (the paper's EMA momentum 0.9, sign phase the first half of the run, the
fitted temperature schedule over the second half), Signum (EMA momentum 0.9), AdamW (betas 0.9,
0.999) and HardSwitch (Signum for the first half, then heavy-ball SGD with momentum 0.9; its sign
phase is Signum's step for step, so its η is Signum's picked lr for that model and its grid is over
the SGD phase's lr' = s·η, Softsign [SS-PLAN]: "lr' tuned separately").

Tuning (:func:`sweep`): for each (optimizer, model) every lr of the grid is run with seed 0 and the
lr with the best validation accuracy is picked; seeds 1 … n−1 then run at the picked lr. The test
accuracy at the picked lr over seeds 0 … n−1 is reported, mean ± 3 standard errors. Seed s fixes the
initialisation and the minibatch order, the same for every optimizer, so differences between
optimizers are paired per seed.

The verdict (:func:`charlm_verdict`), fixed before the run, reads "best coordinate-wise optimizer" as
"no baseline beats SoftSignum by more than ``tol``": with d = SoftSignum − baseline (test accuracy,
paired over seeds) for every model and every baseline run (Signum, AdamW, HardSwitch): *supported*
iff every d has mean − 3·se ≥ −``tol``; *not supported* iff some d has mean + 3·se < −``tol``;
*inconclusive* otherwise, with fewer than 3 seeds, and always for a reduced (FAST) run.
``tol`` = 0.005 (half a percentage point: the paper's gaps between the optimizers are 0.1–0.9 points).

=====================================  ===============================================================
function                               used by
=====================================  ===============================================================
:func:`corpus_splits`                  16: the train / validation / test bytes
:func:`make_model`                     16: the LSTM and the Transformer
:func:`train_once`                     one run: validation and test accuracy
:func:`sweep`                          16: every (optimizer, model, lr) on seed 0, then the seeds
:func:`charlm_verdict`                 16: the ledger row ``softsign.char_level_prediction``
:func:`scale_text`                     16: the scale of the record
:func:`plot_sweep`                     16: test accuracy per optimizer and model with intervals
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
from convexlab.llm.data import default_corpus
from convexlab.optim import REGISTRY

VOCAB = 256
MODELS = ("LSTM", "Transformer")
#: the optimizers compared (SoftSignum against the coordinate-wise baselines of the paper's table)
OPTIMIZERS = ("SoftSignum", "Signum", "AdamW", "HardSwitch")
#: the baselines of the verdict (where they were run)
BASELINES = ("Signum", "AdamW", "HardSwitch")
#: lr grids [D], points a factor ≈ 3 apart; HardSwitch's grid is the SGD phase's lr' (its sign phase uses
#: Signum's picked lr). Widened after a first full run (150 steps) picked grid ends: SoftSignum and Signum
#: one point lower (their Transformer picks), HardSwitch one point each way (LSTM 1.0, Transformer 0.1).
LR_GRIDS: dict[str, tuple[float, ...]] = {
    "SoftSignum": (1e-3, 3e-3, 1e-2, 3e-2),
    "Signum": (3e-4, 1e-3, 3e-3, 1e-2),
    "AdamW": (3e-3, 1e-2, 3e-2),
    "HardSwitch": (0.03, 0.1, 0.3, 1.0, 3.0),
}
#: effect threshold of the verdict, in accuracy (half a percentage point) [D]
TOL = 0.005
#: fractions of the corpus for validation and test (the last two blocks)
VAL_FRACTION = TEST_FRACTION = 0.05


def corpus_splits(data: bytes | None = None, val_fraction: float = VAL_FRACTION,
                  test_fraction: float = TEST_FRACTION) -> dict[str, torch.Tensor]:
    r"""``{"train", "val", "test"}``: 1-D int64 byte tensors, contiguous blocks of ``data`` in that order
    (default :func:`~convexlab.llm.data.default_corpus`): the last ``test_fraction`` tests, the block before
    it of ``val_fraction`` validates, the rest trains. No seed: the split is fixed by position.

    >>> s = corpus_splits(bytes(range(100)), 0.1, 0.2)
    >>> [len(s[k]) for k in ("train", "val", "test")], int(s["val"][0]), int(s["test"][0])
    ([70, 10, 20], 70, 80)
    """
    if data is None:
        data = default_corpus()
    if not isinstance(data, (bytes, bytearray)):
        raise ValueError(f"data must be bytes or None, got {type(data).__name__}")
    for name, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        f = V.positive_finite(name, f)
        if f >= 0.5:
            raise ValueError(f"{name} must be in (0, 0.5), got {f!r}")
    n = len(data)
    n_test, n_val = int(n * test_fraction), int(n * val_fraction)
    if min(n_test, n_val, n - n_test - n_val) < 2:
        raise ValueError(f"data must hold enough bytes for three splits of >= 2 bytes each, got {n} bytes")
    t = torch.frombuffer(bytearray(data), dtype=torch.uint8).long()
    a, b = n - n_test - n_val, n - n_test
    return {"train": t[:a], "val": t[a:b], "test": t[b:]}


class CharLSTM(nn.Module):
    r"""Byte-level LSTM language model [D]: embedding (256 × e) → 1-layer LSTM (hidden h) → linear head
    (h → 256); logits for the next byte at every position."""

    def __init__(self, embed: int = 32, hidden: int = 128):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, V.integer("embed", embed, 1))
        self.lstm = nn.LSTM(embed, V.integer("hidden", hidden, 1), batch_first=True)
        self.head = nn.Linear(hidden, VOCAB)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.lstm(self.embed(x))[0])


class _Block(nn.Module):
    """Pre-norm block: x + Attn(LN(x)), then x + MLP(LN(x)) (causal self-attention, GELU MLP of width 4d)."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = (t.view(B, T, self.heads, D // self.heads).transpose(1, 2)
                   for t in self.qkv(self.ln1(x)).split(D, dim=2))
        a = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(B, T, D))
        return x + self.out(nn.functional.gelu(self.fc(self.ln2(x))))


class CharTransformer(nn.Module):
    r"""Byte-level causal Transformer [D]: token + learned position embeddings (width d), ``layers``
    pre-norm blocks with ``heads`` heads, final LayerNorm, linear head (d → 256)."""

    def __init__(self, d: int = 64, heads: int = 4, layers: int = 2, context: int = 64):
        super().__init__()
        V.integer("d", d, 1)
        V.integer("heads", heads, 1)
        if d % heads:
            raise ValueError(f"d must be a multiple of heads = {heads}, got {d!r}")
        self.context = V.integer("context", context, 1)
        self.embed = nn.Embedding(VOCAB, d)
        self.pos_embed = nn.Embedding(context, d)
        self.blocks = nn.ModuleList(_Block(d, heads) for _ in range(V.integer("layers", layers, 1)))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, VOCAB)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] > self.context:
            raise ValueError(f"input length must be <= context = {self.context}, got {x.shape[1]}")
        h = self.embed(x) + self.pos_embed(torch.arange(x.shape[1]))
        for block in self.blocks:
            h = block(h)
        return self.head(self.ln(h))


def make_model(model: str, size: int, context: int) -> nn.Module:
    """``"LSTM"``: :class:`CharLSTM` (embedding 32, hidden ``size``); ``"Transformer"``:
    :class:`CharTransformer` (d = ``size``, 4 heads, 2 layers, ``context``)."""
    V.one_of("model", model, MODELS)
    if model == "LSTM":
        return CharLSTM(32, size)
    return CharTransformer(size, 4, 2, context)


def n_params(model: str, size: int, context: int) -> int:
    """Number of parameters of :func:`make_model` (``model``, ``size``, ``context``)."""
    return sum(p.numel() for p in make_model(model, size, context).parameters())


def _windows(tokens: torch.Tensor, context: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` non-overlapping (input, target) windows of ``context`` bytes (fewer if the split is short)."""
    n = min(n, (len(tokens) - 1) // context)
    x = tokens[: n * context].view(n, context)
    y = tokens[1: n * context + 1].view(n, context)
    return x, y


@torch.no_grad()
def accuracy(net: nn.Module, tokens: torch.Tensor, context: int, windows: int, batch: int = 64) -> float:
    r"""Next-byte accuracy: the fraction of positions of the first ``windows`` non-overlapping windows of
    ``tokens`` where the argmax of the logits is the next byte."""
    x, y = _windows(tokens, context, windows)
    hits = 0
    for i in range(0, x.shape[0], batch):
        hits += int((net(x[i:i + batch]).argmax(-1) == y[i:i + batch]).sum())
    return hits / y.numel()


def _optimizer(name: str, net: nn.Module, lr: float, steps: int, sign_lr: float | None):
    """The optimizer of one run (module docstring) [D]."""
    half = steps // 2
    if name == "SoftSignum":
        kw = dict(momentum=0.9, momentum_form="ema", sign_iters=half, transition_iters=steps - half)
    elif name == "Signum":
        kw = dict(momentum=0.9)
    elif name == "HardSwitch":
        if sign_lr is None:
            raise ValueError("sign_lr must be given for HardSwitch (its sign phase's lr), got None")
        sign_lr = V.positive_finite("sign_lr", sign_lr)
        # lr here is the SGD phase's lr' = s·η
        return REGISTRY[name](net.parameters(), lr=sign_lr, momentum=0.9, switch_iters=half,
                              sgd_lr_scale=lr / sign_lr)
    else:
        kw = {}
    return REGISTRY[name](net.parameters(), lr=lr, weight_decay=0.0, **kw)


def train_once(name: str, model: str, lr: float, splits: dict, seed: int, steps: int, batch: int = 16,
               context: int = 64, size: int = 128, eval_windows: int = 256,
               sign_lr: float | None = None) -> tuple[float, float]:
    r"""Train ``make_model(model, size, context)`` with ``REGISTRY[name]`` at ``lr`` (HardSwitch: ``lr`` is
    the SGD phase's lr', ``sign_lr`` its sign phase's η) for ``steps`` steps of ``batch`` random windows of
    ``splits["train"]``; return the next-byte accuracy on ``splits["val"]`` and ``splits["test"]``.
    A run whose loss or gradient leaves the finite range (diverged) scores 0 on both (the step is not taken)."""
    V.one_of("name", name, OPTIMIZERS)
    lr = V.positive_finite("lr", lr)
    torch.manual_seed(seed)
    net = make_model(model, size, context)
    opt = _optimizer(name, net, lr, steps, sign_lr)
    train = splits["train"]
    gen = torch.Generator().manual_seed(seed + 31_337)
    offsets = torch.arange(context)
    for _ in range(steps):
        start = torch.randint(0, len(train) - context - 1, (batch, 1), generator=gen)
        x, y = train[start + offsets], train[start + 1 + offsets]
        loss = nn.functional.cross_entropy(net(x).reshape(-1, VOCAB), y.reshape(-1))
        if not SW.train_step(opt, loss):  # diverged: scored 0
            return 0.0, 0.0
    net.eval()
    return tuple(accuracy(net, splits[s], context, eval_windows) for s in ("val", "test"))


def _warning_counts(seen) -> dict:
    """message (first 120 characters) → how often it was raised during a sweep."""
    return dict(Counter(str(w.message)[:120] for w in seen))


def sweep(splits: dict | None = None, models=MODELS, optimizers=OPTIMIZERS, seeds: int = 3, steps: int = 200,
          batch: int = 16, context: int = 64, sizes: dict | None = None, eval_windows: int = 256,
          lr_grids: dict | None = None) -> dict:
    r"""Tune each (optimizer, model) on seed 0 over its lr grid by validation accuracy, then run seeds
    1 … ``seeds``−1 at the picked lr (module docstring). One torch thread during the sweep (restored after).

    Args:
        splits: :func:`corpus_splits` output (default: the default corpus's).
        models: names from :data:`MODELS`. optimizers: names from :data:`OPTIMIZERS`
            (HardSwitch needs Signum in the same sweep: its η is Signum's picked lr).
        seeds: ≥ 2. steps: ≥ 2. batch, eval_windows: ≥ 1. context: ≥ 2.
        sizes: model → LSTM hidden / Transformer width (default LSTM 128, Transformer 64; the width
            a multiple of 4). lr_grids: name → lrs (default :data:`LR_GRIDS`).

    Returns a dict: the arguments, ``val_grid`` [optimizer, model, lr] (seed 0; shorter grids padded
    with NaN), ``best`` [optimizer, model] (index of the picked lr), ``lr`` (picked lrs),
    ``sign_lr`` (model → HardSwitch's η, or None), ``val`` and ``test`` [optimizer, model, seed] at the
    picked lr, ``mean``, ``se``, ``lo``/``hi`` (mean ∓ 3 se) of ``test`` [optimizer, model], ``edge``
    (the cells whose picked lr is at an end of its grid), ``n_params`` (model → parameters),
    ``tokens`` (training tokens per run) and ``eval_tokens`` (positions scored per split).
    """
    if splits is None:
        splits = corpus_splits()
    if not (isinstance(splits, dict) and all(isinstance(splits.get(k), torch.Tensor) for k in ("train", "val", "test"))):
        raise ValueError(f"splits must be a dict of 'train', 'val', 'test' byte tensors (corpus_splits), got {splits!r:.80}")
    models = SW.names("models", models, MODELS)
    optimizers = SW.names("optimizers", optimizers, OPTIMIZERS)
    if "HardSwitch" in optimizers and "Signum" not in optimizers:
        raise ValueError(f"optimizers must include 'Signum' when 'HardSwitch' runs (its sign lr), got {optimizers!r}")
    V.integer("seeds", seeds, 2)
    V.integer("steps", steps, 2)
    V.integer("batch", batch, 1)
    V.integer("context", context, 2)
    V.integer("eval_windows", eval_windows, 1)
    sizes = dict({"LSTM": 128, "Transformer": 64}, **(sizes or {}))
    for m in models:
        V.integer(f"sizes[{m!r}]", sizes[m], 4)
        if m == "Transformer" and sizes[m] % 4:
            raise ValueError(f"sizes['Transformer'] must be a multiple of 4 (heads), got {sizes[m]!r}")
    for k in ("train", "val", "test"):
        if len(splits[k]) < context + 2:
            raise ValueError(f"splits[{k!r}] must hold more than context + 1 = {context + 1} bytes, "
                             f"got {len(splits[k])}")
    grids = SW.lr_grids(optimizers, lr_grids, LR_GRIDS)
    order = sorted(optimizers, key=lambda n: n == "HardSwitch")  # Signum's pick first
    n_lr = max(len(grids[n]) for n in optimizers)
    O, M = len(optimizers), len(models)
    val_grid = np.full((O, M, n_lr), np.nan)
    best = np.zeros((O, M), dtype=int)
    val, test = np.full((O, M, seeds), np.nan), np.full((O, M, seeds), np.nan)
    sign_lr: dict = {m: None for m in models}
    with one_thread_recording_warnings() as seen:
        for j, m in enumerate(models):
            common = dict(steps=steps, batch=batch, context=context, size=sizes[m], eval_windows=eval_windows)
            for name in order:
                i = optimizers.index(name)
                eta = sign_lr[m] if name == "HardSwitch" else None
                runs = {}
                for a, lr in enumerate(grids[name]):
                    runs[a] = train_once(name, m, lr, splits, 0, sign_lr=eta, **common)
                    val_grid[i, j, a] = runs[a][0]
                best[i, j] = int(np.nanargmax(val_grid[i, j]))
                lr = grids[name][best[i, j]]
                if name == "Signum":
                    sign_lr[m] = lr
                val[i, j, 0], test[i, j, 0] = runs[best[i, j]]
                for s in range(1, seeds):
                    val[i, j, s], test[i, j, s] = train_once(name, m, lr, splits, s, sign_lr=eta, **common)
    mean = test.mean(axis=2)
    se = test.std(axis=2, ddof=1) / math.sqrt(seeds)
    lr = [[grids[n][best[i, j]] for j in range(M)] for i, n in enumerate(optimizers)]
    edge = [f"{n} {m}" for i, n in enumerate(optimizers) for j, m in enumerate(models)
            if len(grids[n]) > 1 and best[i, j] in (0, len(grids[n]) - 1)]
    return dict(models=models, optimizers=optimizers, seeds=seeds, steps=steps, batch=batch, context=context,
                sizes={m: sizes[m] for m in models}, eval_windows=eval_windows,
                lr_grids={n: tuple(grids[n]) for n in optimizers}, val_grid=val_grid, best=best, lr=lr,
                sign_lr=sign_lr, val=val, test=test, mean=mean, se=se, lo=mean - 3 * se, hi=mean + 3 * se,
                edge=edge, n_params={m: n_params(m, sizes[m], context) for m in models},
                tokens=steps * batch * context,
                eval_tokens=min(eval_windows, (len(splits["test"]) - 1) // context) * context,
                n_bytes={k: len(splits[k]) for k in ("train", "val", "test")},
                warnings=_warning_counts(seen))


def paired_differences(result: dict, baseline: str, name: str = "SoftSignum") -> dict:
    """model → (mean, se) of the per-seed difference of test accuracy, ``name`` − ``baseline``, each at its
    picked lr."""
    d = SW.difference(result["test"], result["optimizers"], name, baseline)
    return {m: SW.interval(d[j]) for j, m in enumerate(result["models"])}


def charlm_verdict(result: dict, reduced: bool = False, tol: float = TOL) -> tuple[str, str, str]:
    r"""``softsign.char_level_prediction`` from a :func:`sweep` result (module docstring): returns
    (status, numbers, criterion). ``reduced``: a FAST run, always *inconclusive*."""
    tol = V.nonnegative_finite("tol", tol)
    crit = (f"for each model and each baseline run ({'/'.join(BASELINES)}), d = SoftSignum − baseline in test "
            f"next-byte accuracy, paired over ≥ 3 seeds: every d has mean − 3se ≥ −{tol:g} (supported); some d "
            f"has mean + 3se < −{tol:g} (not supported); otherwise inconclusive")
    opts = result["optimizers"]
    bases = [b for b in BASELINES if b in opts]
    status = "inconclusive"
    parts = []
    if "SoftSignum" in opts and bases:
        lows, highs = [], []
        for b in bases:
            diffs = paired_differences(result, b)
            for m in result["models"]:
                mu, se = diffs[m]
                lows.append(mu - 3 * se)
                highs.append(mu + 3 * se)
                parts.append(f"{m} vs {b} {mu:+.4f} ± {3 * se:.4f}")
        if result["seeds"] >= 3:
            if any(h < -tol for h in highs):
                status = "not supported"
            elif all(lo >= -tol for lo in lows):
                status = "supported"
    cells = "; ".join(f"{m}: " + ", ".join(f"{n} {result['mean'][i, j]:.4f}±{3 * result['se'][i, j]:.4f}"
                                            for i, n in enumerate(opts)) for j, m in enumerate(result["models"]))
    numbers = (f"test next-byte accuracy (mean ± 3 s.e., {result['seeds']} seeds, lr tuned on validation): {cells}; "
               f"SoftSignum − baseline: {'; '.join(parts) or 'no baseline run'}")
    status, numbers = SW.finish_verdict(status, numbers, result["edge"], reduced)
    return status, numbers, crit


def scale_text(result: dict) -> str:
    """The ``scale`` of the ledger record: text, models (parameters), steps, tokens, seeds."""
    models = ", ".join(f"{m} {'hidden' if m == 'LSTM' else 'd'}={result['sizes'][m]} ({result['n_params'][m]} params)"
                       for m in result["models"])
    return (f"Python stdlib source bytes (train {result['n_bytes']['train']} B); {models}; {result['steps']} steps "
            f"of {result['batch']}×{result['context']} bytes ({result['tokens']} training tokens per run); "
            f"{result['eval_tokens']} test positions; {result['seeds']} seeds; "
            f"{SW.grid_sizes(result)} lr grids tuned on seed 0")


def plot_sweep(result: dict):
    """Test accuracy per optimizer, one group of bars per model, with mean ± 3 s.e. error bars."""
    from convexlab.plotting import new_figure

    fig, ax = new_figure(figsize=(7.5, 4.5))
    opts, models = result["optimizers"], result["models"]
    width = 0.8 / len(opts)
    for i, name in enumerate(opts):
        xs = np.arange(len(models)) + (i - (len(opts) - 1) / 2) * width
        ax.bar(xs, result["mean"][i], width, yerr=3 * result["se"][i], capsize=3, label=name)
    lo = np.nanmin(result["lo"])
    hi = np.nanmax(result["hi"])
    pad = max(0.01, 0.2 * (hi - lo))
    ax.set_ylim(max(0.0, lo - pad), min(1.0, hi + pad))
    ax.set_xticks(np.arange(len(models)))
    ax.set_xticklabels([f"{m} ({result['n_params'][m] // 1000}k params)" for m in models])
    ax.set_ylabel("test next-byte accuracy")
    ax.set_title(f"byte-level LM on stdlib text, lr tuned on validation, mean ± 3 s.e. over {result['seeds']} seeds")
    ax.legend()
    return fig


__all__ = ["VOCAB", "MODELS", "OPTIMIZERS", "BASELINES", "LR_GRIDS", "TOL", "corpus_splits", "CharLSTM",
           "CharTransformer", "make_model", "n_params", "accuracy", "train_once", "sweep", "paired_differences",
           "charlm_verdict", "scale_text", "plot_sweep"]
