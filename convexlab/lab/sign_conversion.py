r"""StoSignSGD's sign-conversion ablation at CPU scale (notebook 19): fine-tuning a pretrained toy GPT
on held-out text with Algs. 5–11 under shared fixed betas and a per-method lr search.

The paper (StoSignSGD, arXiv 2604.15416, §3.2 and App. B.3–B.5 [P]; [SSG-FT], [SSG-NOISE], [SSG-RMS]) fine-tunes 7B
models (GSM8K, MathQA, instruction following) with every optimizer of App. B.5 — SignSGD (Alg. 5),
AdamW (Alg. 6), AdaMax (Alg. 7), their unbiased sign conversions (Alg. 8 [R numbering], Alg. 9),
IE-StoSignSGD (Alg. 10) and StoSignSGD (Alg. 3; Alg. 11 is read as StoSignSGD with a general β2,
[SSG-SC] [R]) — with β1 and β2 **held fixed and shared** and the learning rate swept per optimizer
[P]; Fig. 4 [P caption] compares the structural noise of the sign conversions, and §3 [P] reports
AdamW's pre-lr update RMS ≈ 0.2 against 1 for a sign update.

The stand-in here is ours [D]:

* base model: the toy GPT (``convexlab.llm.GPT``, 2 layers, width 64, byte vocabulary, tied head,
  context :data:`BLOCK`) pretrained with AdamW on ``convexlab.llm.default_corpus()`` (137 Python
  standard-library *source* files, 4.2 MB), one fixed seed: the "pretrained model" every fine-tuning
  run starts from;
* fine-tuning text: the English prose of the Python language reference that ``help()`` shows — the
  string values of the ``topics`` dict in ``pydoc_data/topics.py`` of the same Python's standard
  library, read with ``ast.literal_eval`` (not imported) and joined in key order (0.47 MB in Python 3.11; that
  file is not in the pretraining corpus) — cut into 2 KiB chunks, chunk k going to validation if
  k ≡ 8 (mod 10), to test if k ≡ 9, else to training (:func:`finetune_splits`);
* every method with betas :data:`BETAS` = (0.9, 0.999) (``transformers``' AdamW default, the paper's
  LMFlow/``transformers`` defaults [P]; StoSignSGD and IE-StoSignSGD then decay their envelope with
  β2 = 0.999, Alg. 10/11 [R]), ε = 1e-8, no weight decay, a linear decay of the lr to 0 over the run
  without warmup (``transformers``' default schedule), the lr chosen from :data:`LR_GRIDS` by the mean
  validation loss over the seeds; the test loss at that lr is reported, mean ± 3 s.e. A seed fixes
  the minibatch order and the sign noise, the same for every method (the pretrained model is the same
  for all), so differences between methods are paired per seed.

Diagnostics (:mod:`convexlab.optim.diagnostics`): every ``log_every`` steps the structural noise
(mean |m|/σ, mean 1 − (m/σ)², share of |m| > σ; [P] Fig. 4 caption, [R] metric of [SSG-NOISE]) of the
general-optimizer methods and the pre-lr update RMS ([SSG-RMS]) of every method, per parameter group
(group 0: the tied embedding/head; group 1: the block matrices); the verdicts use the numel-weighted
mean over the groups (= over all coordinates), averaged over the logged steps.

Verdicts, fixed before the run (each returns (status, numbers, criterion); ``reduced``: a FAST run,
always *inconclusive*):

* :func:`ablation_verdict` (``stosignsgd.sign_conversion_ablation``): with paired test-loss
  differences d_A = StoSignSGD − AdamW and d_S = StoSignSGD − SignSGD (nats), *supported* iff
  mean(d_A) + 3 se ≤ ``tol`` (matches or beats AdamW) and mean(d_S) + 3 se < 0 (beats SignSGD);
  *not supported* iff mean(d_A) − 3 se > ``tol`` or mean(d_S) − 3 se > 0 (clearly worse than one of
  them); otherwise, or when the chosen lr of StoSignSGD, AdamW or SignSGD sits at an end of its grid,
  *inconclusive*.
* :func:`noise_verdict` (``stosignsgd.structural_noise``): *supported* iff StoSignSGD records no
  violation at any logged step of any seed, sign-AdamW some violation (share > 0 in the seeds' mean),
  every method's mean violation share is below :data:`USUAL` (σ ⪰ |m| "usually holds"), and the paired
  noise differences StoSignSGD − sign-AdaMax, StoSignSGD − sign-AdamW and sign-AdaMax − sign-AdamW all
  have mean − 3 se > 0 (StoSignSGD most noise, sign-AdamW least); *not supported* iff StoSignSGD
  violates, or sign-AdamW never violates, or some method's violation share has mean − 3 se > USUAL,
  or one of the three noise differences has mean + 3 se < 0; else *inconclusive*.
* :func:`rms_verdict` (``stosignsgd.update_rms``): *supported* iff AdamW's pre-lr RMS has its
  interval mean ± 3 se inside :data:`ADAMW_RMS_RANGE` = [0.1, 0.35] (our reading of "≈ 0.2" [D]) and
  every sign method's RMS is within :data:`SIGN_RMS_TOL` of 1 at every logged step; *not supported*
  iff the AdamW interval lies wholly outside the range or a sign method's RMS is off 1 by more than
  that; else *inconclusive*. (A sign update moves every coordinate by exactly ±1 except where its
  numerator is exactly 0 with σ = 0 — for Signum and StoSignSGD a coordinate that has never had a
  nonzero gradient, e.g. a ReLU² unit dead on every token so far — so its RMS is √(share of moving
  coordinates): exactly 1 for sign-AdamW/sign-AdaMax (σ ≥ ε > 0), possibly just below 1 for the others.)

=====================================  ===============================================================
function                               used by
=====================================  ===============================================================
:func:`finetune_splits`                19: the fine-tuning text and its train/val/test chunks
:func:`pretrain`                       19: the base model (AdamW on the default corpus)
:func:`finetune_once`                  one fine-tuning run: val/test loss and the diagnostics log
:func:`sweep`                          19: every (method, lr, seed), lr picked on validation
:func:`ablation_verdict` …             19: the three ledger rows
:func:`plot_sweep`                     19: test losses, noise, update RMS, the |m| histogram
=====================================  ===============================================================
"""

from __future__ import annotations

import ast
import copy
import hashlib
import math
import sysconfig
from pathlib import Path

import numpy as np
import torch

from convexlab import _validation as V
from convexlab.lab import sweeps as SW
from convexlab.lab.threads import torch_threads
from convexlab.llm import GPT, GPTConfig, TokenData, default_corpus, get_batch
from convexlab.optim import AdaMax, AdamW, IEStoSignSGD, SignConverted, Signum, StoSignSGD
from convexlab.optim.diagnostics import noise_statistics, update_rms

#: the methods of App. B.5 (Algs. 5–11), in the figure's order
METHODS = ("SignSGD", "AdamW", "AdaMax", "sign-AdamW", "sign-AdaMax", "IE-StoSignSGD", "StoSignSGD")
#: the algorithm box of each method ([SSG-ALG5], [SSG-SC], [SSG-ALG10], [SSG-ALG3])
ALGS = {"SignSGD": "Alg. 5", "AdamW": "Alg. 6", "AdaMax": "Alg. 7", "sign-AdamW": "Alg. 8",
        "sign-AdaMax": "Alg. 9", "IE-StoSignSGD": "Alg. 10", "StoSignSGD": "Alg. 3/11"}
#: the unbiased sign conversions (σ ⪰ |m| decides their bias) and the methods whose update is a pure sign
CONVERSIONS = ("sign-AdamW", "sign-AdaMax", "StoSignSGD")
SIGN_METHODS = ("SignSGD",) + CONVERSIONS
#: the pairs (conversion, original) of the ablation
PAIRS = (("sign-AdamW", "AdamW"), ("sign-AdaMax", "AdaMax"), ("StoSignSGD", "IE-StoSignSGD"))
#: shared fixed betas and ε [P: fixed and shared; D: the values, transformers' AdamW defaults]
BETAS = (0.9, 0.999)
EPS = 1e-8
#: lr grids [D]: three points a factor ≈ √10 apart, placed by a one-seed pilot over 3e-4 … 3e-2 (batch 16,
#: 100 steps) so that the choices fall inside. An unbiased conversion has its original's expected step, so
#: it shares its original's grid (the pilot's best lr was the same for both: 3e-3 for AdamW and AdaMax
#: and their conversions, 1e-3 for SignSGD, IE-StoSignSGD and StoSignSGD)
LR_GRIDS: dict[str, tuple[float, ...]] = {
    "SignSGD": (3e-4, 1e-3, 3e-3),
    "AdamW": (1e-3, 3e-3, 1e-2),
    "AdaMax": (1e-3, 3e-3, 1e-2),
    "sign-AdamW": (1e-3, 3e-3, 1e-2),
    "sign-AdaMax": (1e-3, 3e-3, 1e-2),
    "IE-StoSignSGD": (3e-4, 1e-3, 3e-3),
    "StoSignSGD": (3e-4, 1e-3, 3e-3),
}
#: the base model's shape: the ``toy`` preset with a context of BLOCK tokens
BLOCK = 64
MODEL = dict(vocab_size=256, block_size=BLOCK, n_layer=2, n_head=2, n_embd=64)
#: effect threshold of the ablation verdict, in nats of test loss [D]
TOL = 0.01
#: "σ ⪰ |m| usually holds": a mean violation share below this [D]
USUAL = 0.05
#: AdamW's pre-lr update RMS "≈ 0.2" read as this range [D]
ADAMW_RMS_RANGE = (0.1, 0.35)
#: a sign method's RMS counts as 1 within this (coordinates that never had a gradient do not move) [D]
SIGN_RMS_TOL = 0.01
#: |num| histogram edges (log10) of the figure
HIST_EDGES = tuple(np.linspace(-9.0, 0.0, 37).tolist())
#: the fine-tuning text: a file of the Python standard library
FINETUNE_FILE = "pydoc_data/topics.py"


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
def reference_prose(path: str | Path | None = None) -> bytes:
    """The string values of the ``topics = {...}`` dict of ``pydoc_data/topics.py`` (default: the
    standard library's :data:`FINETUNE_FILE`), read with ``ast.literal_eval`` (nothing is imported or
    executed), joined in key order with blank lines, UTF-8 encoded."""
    p = Path(path) if path is not None else Path(sysconfig.get_paths()["stdlib"]) / FINETUNE_FILE
    if not p.is_file():
        raise ValueError(f"path must name an existing pydoc topics file, got {str(p)!r}")
    tree = ast.parse(p.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "topics" for t in node.targets):
            topics = ast.literal_eval(node.value)
            if isinstance(topics, dict) and topics and all(isinstance(v, str) for v in topics.values()):
                return "\n\n".join(topics[k] for k in sorted(topics)).encode("utf-8")
    raise ValueError(f"path {str(p)!r} has no `topics = {{name: text}}` assignment")


def finetune_splits(chunk: int = 2048, path: str | Path | None = None) -> dict:
    """The fine-tuning text as byte tokens in train/val/test splits of whole chunks: chunk k (``chunk``
    bytes) goes to ``val`` if k ≡ 8 (mod 10), ``test`` if k ≡ 9, else ``train``. ``path``: a text file
    used as it is (default: :func:`reference_prose`). Returns {``train``, ``val``, ``test``: uint16 arrays,
    ``source``, ``n_bytes``, ``sha256``}."""
    V.integer("chunk", chunk, BLOCK + 2)
    if path is None:
        raw, name = reference_prose(), f"the reference prose of {FINETUNE_FILE}"
    else:
        p = Path(path)
        if not p.is_file():
            raise ValueError(f"path must name an existing text file, got {str(p)!r}")
        raw, name = p.read_bytes(), p.name
    if len(raw) < 10 * chunk:
        raise ValueError(f"the fine-tuning text {name!r} has {len(raw)} bytes; it needs at least 10·chunk = "
                         f"{10 * chunk} (chunk={chunk})")
    toks = np.frombuffer(raw, dtype=np.uint8).astype(np.uint16)
    parts: dict = {"train": [], "val": [], "test": []}
    for k in range(0, len(toks), chunk):
        r = (k // chunk) % 10
        parts["val" if r == 8 else "test" if r == 9 else "train"].append(toks[k:k + chunk])
    out = {name: np.concatenate(v) for name, v in parts.items()}
    out.update(source=name, n_bytes=len(raw),
               sha256=hashlib.sha256(raw).hexdigest())
    return out


def eval_loss(model: GPT, tokens: np.ndarray, windows: int = 128, block: int = BLOCK) -> float:
    """Mean next-token cross-entropy (nats) over ``windows`` windows of ``block`` + 1 tokens whose
    starts are evenly spaced over ``tokens`` (deterministic: the same windows for every method)."""
    V.integer("windows", windows, 1)
    V.integer("block", block, 1)
    if len(tokens) < block + 1:
        raise ValueError(f"tokens has {len(tokens)} entries; block={block} needs at least {block + 1}")
    starts = np.linspace(0, len(tokens) - block - 1, windows).astype(np.int64)
    rows = torch.from_numpy(np.asarray(tokens)[starts[:, None] + np.arange(block + 1)].astype(np.int64))
    was = model.training
    model.eval()
    with torch.no_grad():
        _, loss = model(rows[:, :-1].contiguous(), rows[:, 1:].contiguous(), return_logits=False)
    model.train(was)
    return float(loss)


# ---------------------------------------------------------------------------------------------
# models and optimizers
# ---------------------------------------------------------------------------------------------
def new_model(seed: int = 0) -> GPT:
    """The base model's architecture (:data:`MODEL`), initialised from ``seed``."""
    torch.manual_seed(seed)
    return GPT(GPTConfig(**MODEL))


def param_groups(model: GPT) -> list[dict]:
    """Group 0: the tied token embedding / output head; group 1: the block matrices."""
    emb = [p for n, p in model.named_parameters() if not n.startswith("blocks.")]
    blocks = [p for n, p in model.named_parameters() if n.startswith("blocks.")]
    return [{"params": emb}, {"params": blocks}]


def make_optimizer(name: str, groups: list, lr: float, seed: int):
    """The method ``name`` of :data:`METHODS` with the shared betas, ε = 1e-8, no weight decay."""
    V.one_of("name", name, METHODS)
    b1, b2 = BETAS
    if name == "SignSGD":  # Alg. 5: Signum with decoupled decay (β1 = 0.9; m₁ = g₁)
        return Signum(groups, lr=lr, momentum=b1, weight_decay=0.0)
    if name == "AdamW":
        return AdamW(groups, lr=lr, betas=BETAS, eps=EPS, weight_decay=0.0)
    if name == "AdaMax":
        return AdaMax(groups, lr=lr, betas=BETAS, eps=EPS, weight_decay=0.0)
    if name == "sign-AdamW":
        return SignConverted(groups, base="adamw", lr=lr, betas=BETAS, eps=EPS, weight_decay=0.0, seed=seed)
    if name == "sign-AdaMax":
        return SignConverted(groups, base="adamax", lr=lr, betas=BETAS, eps=EPS, weight_decay=0.0, seed=seed)
    if name == "IE-StoSignSGD":
        return IEStoSignSGD(groups, lr=lr, betas=(b1, b2), weight_decay=0.0)
    return StoSignSGD(groups, lr=lr, betas=(b1, b2), weight_decay=0.0, seed=seed)


def _schedule(opt, base_lr: float, k: int, steps: int, warm: int = 0, floor: float = 0.0) -> None:
    """lr of step k (0-based): linear warmup over ``warm`` steps, then linear decay to ``floor``·base."""
    if k < warm:
        f = (k + 1) / warm
    else:
        f = 1.0 - (1.0 - floor) * (k - warm) / max(1, steps - warm)
    for g in opt.param_groups:
        g["lr"] = base_lr * f


def pretrain(steps: int = 400, batch: int = 16, lr: float = 3e-3, seed: int = 0) -> dict:
    """Pretrain the base model with AdamW (betas (0.9, 0.95), no decay, 5 % warmup, linear decay to
    0.1·lr) on ``default_corpus()`` (its 5 % validation tail held out) at one thread. Returns
    {``state``: the model's state_dict, ``val_loss``: on the corpus' held-out tail, ``steps``,
    ``batch``, ``tokens``}."""
    V.integer("steps", steps, 1)
    V.integer("batch", batch, 1)
    V.positive_finite("lr", lr)
    V.integer("seed", seed, 0)
    data = TokenData(np.frombuffer(default_corpus(), dtype=np.uint8).astype(np.uint16))
    with torch_threads(1):
        model = new_model(seed)
        opt = AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), eps=EPS, weight_decay=0.0)
        gen = torch.Generator().manual_seed(seed)
        for k in range(steps):
            _schedule(opt, lr, k, steps, warm=max(1, steps // 20), floor=0.1)
            x, y = get_batch(data, "train", batch, BLOCK, gen)
            _, loss = model(x, y, return_logits=False)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        val = eval_loss(model, data.val)
    return {"state": copy.deepcopy(model.state_dict()), "val_loss": val, "steps": steps, "batch": batch,
            "tokens": steps * batch * BLOCK}


def _pooled(rows: list[dict], key: str) -> float:
    """numel-weighted mean of ``key`` over the groups (the mean over all coordinates)."""
    n = sum(r["numel"] for r in rows)
    return sum(r[key] * r["numel"] for r in rows) / n if n else math.nan


def finetune_once(name: str, lr: float, base: dict, splits: dict, seed: int, steps: int, batch: int = 16,
                  log_every: int = 10, windows: int = 128, hist: bool = False) -> dict:
    """Fine-tune the base model (``base["state"]``) with method ``name`` at ``lr`` for ``steps`` steps
    of ``batch`` windows of :data:`BLOCK` tokens of ``splits["train"]``, lr decaying linearly to 0.

    Returns {``val``, ``test``: final losses (inf if the loss left the finite range), ``log``: {``step``,
    and per logged step the pooled ``rms`` and, for the general-optimizer methods, ``noise``,
    ``ratio``, ``violation`` (pooled) and ``noise_groups``/``violation_groups``/``rms_groups``
    (per group)}, ``hist``: the final log10|num| histogram (pooled over groups) when ``hist``}."""
    V.one_of("name", name, METHODS)
    V.positive_finite("lr", lr)
    V.integer("seed", seed, 0)
    V.integer("steps", steps, 1)
    V.integer("batch", batch, 1)
    V.integer("log_every", log_every, 1)
    model = new_model(0)
    model.load_state_dict(base["state"])
    opt = make_optimizer(name, param_groups(model), lr, seed)
    gen = torch.Generator().manual_seed(10_000 + seed)
    data = TokenData(splits["train"], val_tokens=splits["val"])
    general = name not in ("SignSGD",)
    log: dict = {k: [] for k in ("step", "rms", "rms_groups", "noise", "ratio", "violation", "noise_groups",
                                 "violation_groups")}
    out: dict = {"val": math.inf, "test": math.inf, "log": log, "hist": None}
    for k in range(steps):
        _schedule(opt, lr, k, steps)
        x, y = get_batch(data, "train", batch, BLOCK, gen)
        _, loss = model(x, y, return_logits=False)
        if not SW.train_step(opt, loss):
            return out
        if (k + 1) % log_every == 0 or k + 1 == steps:
            rms = update_rms(opt)
            log["step"].append(k + 1)
            n_all = sum(r["numel"] for r in rms)  # pooled RMS: √(Σ_groups rms²·numel / Σ numel)
            log["rms"].append(math.sqrt(sum(r["rms"] ** 2 * r["numel"] for r in rms) / n_all))
            log["rms_groups"].append([r["rms"] for r in rms])
            if general:
                ns = noise_statistics(opt, bins=list(HIST_EDGES) if (hist and k + 1 == steps) else None)
                log["noise"].append(_pooled(ns, "mean_noise"))
                log["ratio"].append(_pooled(ns, "mean_abs_m_over_sigma"))
                log["violation"].append(_pooled(ns, "violation_share"))
                log["noise_groups"].append([r["mean_noise"] for r in ns])
                log["violation_groups"].append([r["violations"] for r in ns])
                if "m_abs_hist" in ns[0]:
                    h = ns[0]["m_abs_hist"]
                    counts = np.sum([r["m_abs_hist"]["counts"] for r in ns], axis=0)
                    out["hist"] = {"edges": h["edges"], "counts": counts.tolist(),
                                   "zeros": sum(r["m_abs_hist"]["zeros"] for r in ns)}
    out["val"] = eval_loss(model, splits["val"], windows)
    out["test"] = eval_loss(model, splits["test"], windows)
    if not (math.isfinite(out["val"]) and math.isfinite(out["test"])):
        out["val"] = out["test"] = math.inf
    return out


# ---------------------------------------------------------------------------------------------
# the sweep
# ---------------------------------------------------------------------------------------------
def sweep(methods=METHODS, seeds: int = 3, steps: int = 100, batch: int = 16, pretrain_steps: int = 400,
          log_every: int = 10, windows: int = 128, lr_grids: dict | None = None, splits: dict | None = None,
          base: dict | None = None) -> dict:
    r"""Pretrain the base model once, then every (method, lr, seed) fine-tuning run; the lr of each
    method picked by the mean validation loss over the seeds (at one thread, restored afterwards).

    Args:
        methods: names of :data:`METHODS`. seeds: ≥ 2 (an interval needs two). steps, batch,
            pretrain_steps, log_every, windows: ≥ 1. lr_grids: name → lrs (default :data:`LR_GRIDS`).
        splits: the fine-tuning splits (default :func:`finetune_splits`). base: a :func:`pretrain`
            result (default: pretrained here with ``pretrain_steps``).

    Returns a dict: the arguments, ``base_val``/``base_test`` (the pretrained model's losses on the
    fine-tuning text), ``pretrain_val`` (on the pretraining corpus' tail), ``pretrain_tokens``,
    ``text`` (source, bytes, sha256), ``val``/``test`` ([method, lr, seed], NaN-padded), ``best``
    ([method]), ``lr`` (chosen), ``test_at_best`` ([method, seed]), ``mean``/``se``/``lo``/``hi``,
    ``edge`` (methods whose chosen lr is at an end of its grid), ``logs`` (method → seed → the log of
    the chosen-lr run), ``logs_all`` (method → lr → seed → log), ``hist`` (method → final |num|
    histogram of seed 0 at the chosen lr)."""
    methods = SW.names("methods", methods, METHODS)
    if len(set(methods)) != len(methods):
        raise ValueError(f"methods must not repeat a name, got {methods!r}")
    V.integer("seeds", seeds, 2)
    for n_, v_ in (("steps", steps), ("batch", batch), ("pretrain_steps", pretrain_steps),
                   ("log_every", log_every), ("windows", windows)):
        V.integer(n_, v_, 1)
    grids = SW.lr_grids(methods, lr_grids, LR_GRIDS)
    splits = finetune_splits() if splits is None else splits
    if base is None:
        base = pretrain(steps=pretrain_steps)
    n_lr = max(len(grids[n]) for n in methods)
    shape = (len(methods), n_lr, seeds)
    val, test = np.full(shape, np.nan), np.full(shape, np.nan)
    runs: dict = {}
    with torch_threads(1):  # one thread: the numbers do not depend on the machine (convexlab.lab.threads)
        m0 = new_model(0)
        m0.load_state_dict(base["state"])
        base_val, base_test = eval_loss(m0, splits["val"], windows), eval_loss(m0, splits["test"], windows)
        for i, name in enumerate(methods):
            for a, lr in enumerate(grids[name]):
                for s in range(seeds):
                    r = finetune_once(name, lr, base, splits, s, steps, batch, log_every, windows, hist=(s == 0))
                    val[i, a, s], test[i, a, s] = r["val"], r["test"]
                    runs[(i, a, s)] = r
    mean_val = np.where(np.isnan(val), np.inf, val).mean(axis=2)
    best = np.argmin(np.where(np.isfinite(mean_val), mean_val, np.inf), axis=1)
    test_at_best = np.stack([test[i, best[i]] for i in range(len(methods))])
    with np.errstate(invalid="ignore"):
        mean = test_at_best.mean(axis=1)
        se = test_at_best.std(axis=1, ddof=1) / math.sqrt(seeds)
    lr = [grids[n][best[i]] for i, n in enumerate(methods)]
    edge = [n for i, n in enumerate(methods) if len(grids[n]) > 1 and best[i] in (0, len(grids[n]) - 1)]
    logs = {n: [runs[(i, best[i], s)]["log"] for s in range(seeds)] for i, n in enumerate(methods)}
    logs_all = {n: {lr_: [runs[(i, a, s)]["log"] for s in range(seeds)] for a, lr_ in enumerate(grids[n])}
                for i, n in enumerate(methods)}
    hist = {n: runs[(i, best[i], 0)]["hist"] for i, n in enumerate(methods)}
    return dict(methods=methods, seeds=seeds, steps=steps, batch=batch, block=BLOCK, log_every=log_every,
                windows=windows, lr_grids={n: tuple(grids[n]) for n in methods}, betas=BETAS,
                pretrain_steps=base["steps"], pretrain_tokens=base["tokens"], pretrain_val=base["val_loss"],
                base_val=base_val, base_test=base_test,
                text={k: splits.get(k) for k in ("source", "n_bytes", "sha256")},
                n_params=sum(p.numel() for p in new_model(0).parameters()),
                val=val, test=test, best=best, lr=lr, test_at_best=test_at_best, mean=mean, se=se,
                lo=mean - 3 * se, hi=mean + 3 * se, edge=edge, logs=logs, logs_all=logs_all, hist=hist)


def paired(result: dict, name: str, baseline: str) -> tuple[float, float]:
    """(mean, se) over seeds of the test-loss difference ``name`` − ``baseline``, each at its chosen lr."""
    return SW.interval(SW.difference(result["test_at_best"], result["methods"], name, baseline, what="method"))


def series(result: dict, name: str, key: str) -> np.ndarray:
    """[seed, logged step] array of the pooled diagnostic ``key`` (``rms``, ``noise``, ``ratio``,
    ``violation``) of method ``name`` at its chosen lr."""
    if name not in result["methods"]:
        raise ValueError(f"method {name!r} was not run; the sweep ran {result['methods']!r}")
    V.one_of("key", key, ("rms", "noise", "ratio", "violation"))
    rows = [log.get(key) for log in result["logs"].get(name, [])]
    if not rows or not all(rows) or len({len(r) for r in rows}) != 1:
        raise ValueError(f"method {name!r} has no complete {key!r} log (a diverged run, or a method without σ)")
    return np.asarray(rows, dtype=float)


def _per_seed(result: dict, name: str, key: str) -> np.ndarray:
    """The per-seed mean over the logged steps of ``series(result, name, key)``."""
    return series(result, name, key).mean(axis=1)


def _common_lr_noise(result: dict) -> str:
    """Seed-mean noise and violation share of the conversions at every lr all three ran (context for the
    verdict, which uses each method's chosen lr: the noise grows with the lr)."""
    la = result.get("logs_all") or {}
    if not all(n in la for n in CONVERSIONS):
        return ""
    lrs = sorted(set.intersection(*(set(la[n]) for n in CONVERSIONS)))
    out = []
    for lr in lrs:
        vals = []
        for n in CONVERSIONS:
            logs = la[n][lr]
            if not all(log.get("noise") for log in logs):
                break
            noise = float(np.mean([np.mean(log["noise"]) for log in logs]))
            viol = float(np.mean([np.mean(log["violation"]) for log in logs]))
            vals.append(f"{n} {noise:.3f} ({viol:.1e})")
        else:
            out.append(f"lr {lr:g}: noise (violation share) " + ", ".join(vals))
    return "; ".join(out)


def ablation_verdict(result: dict, reduced: bool = False, tol: float = TOL) -> tuple[str, str, str]:
    r"""``stosignsgd.sign_conversion_ablation`` (module docstring): (status, numbers, criterion)."""
    tol = V.nonnegative_finite("tol", tol)
    crit = (f"test loss at each method's validation-chosen lr, paired over seeds: StoSignSGD − AdamW mean + 3se ≤ "
            f"{tol:g} nats and StoSignSGD − SignSGD mean + 3se < 0 (supported); StoSignSGD − AdamW mean − 3se > "
            f"{tol:g} or StoSignSGD − SignSGD mean − 3se > 0 (not supported); inconclusive otherwise or when the "
            f"chosen lr of StoSignSGD, AdamW or SignSGD is at a grid end")
    ms = result["methods"]
    status = "inconclusive"
    parts = []
    if all(n in ms for n in ("StoSignSGD", "AdamW", "SignSGD")):
        (ma, sa), (mS, sS) = paired(result, "StoSignSGD", "AdamW"), paired(result, "StoSignSGD", "SignSGD")
        parts.append(f"StoSignSGD − AdamW {ma:+.4f} ± {3 * sa:.4f}")
        parts.append(f"StoSignSGD − SignSGD {mS:+.4f} ± {3 * sS:.4f}")
        if ma - 3 * sa > tol or mS - 3 * sS > 0:
            status = "not supported"
        elif ma + 3 * sa <= tol and mS + 3 * sS < 0:
            status = "supported"
        if status != "inconclusive" and any(n in result["edge"] for n in ("StoSignSGD", "AdamW", "SignSGD")):
            parts.append(f"(the criterion gives {status!r}, but a compared method's lr is at a grid end)")
            status = "inconclusive"
    for conv, orig in PAIRS:
        if conv in ms and orig in ms:
            m, s = paired(result, conv, orig)
            parts.append(f"{conv} − {orig} {m:+.4f} ± {3 * s:.4f}")
    cells = ", ".join(f"{n} {result['mean'][i]:.4f}±{3 * result['se'][i]:.4f} (lr {result['lr'][i]:g})"
                      for i, n in enumerate(ms))
    numbers = (f"fine-tuning test loss, nats (mean ± 3 s.e., {result['seeds']} seeds; pretrained model "
               f"{result['base_test']:.4f}): {cells}; paired: {'; '.join(parts) or 'baselines not run'}")
    status, numbers = SW.finish_verdict(status, numbers, result["edge"], reduced)
    return status, numbers, crit


def noise_verdict(result: dict, reduced: bool = False, usual: float = USUAL) -> tuple[str, str, str]:
    r"""``stosignsgd.structural_noise`` (module docstring): (status, numbers, criterion)."""
    usual = V.positive_finite("usual", usual)
    crit = ("per seed, the mean over logged fine-tuning steps of the pooled mean 1 − (m/σ)² and share of |m| > σ at the "
            "chosen lr: StoSignSGD has 0 violations at every logged step, sign-AdamW a share > 0, every mean share "
            f"< {usual:g}, and StoSignSGD − sign-AdaMax, StoSignSGD − sign-AdamW, sign-AdaMax − sign-AdamW noise "
            "differences all have mean − 3se > 0 (supported); StoSignSGD violates, sign-AdamW never violates, a share "
            f"has mean − 3se > {usual:g}, or a noise difference has mean + 3se < 0 (not supported); else inconclusive")
    ms = result["methods"]
    if not all(n in ms for n in CONVERSIONS):
        status, numbers = "inconclusive", f"the conversions {CONVERSIONS} were not all run (ran {ms})"
        status, numbers = SW.finish_verdict(status, numbers, (), reduced)
        return status, numbers, crit
    noise = {n: _per_seed(result, n, "noise") for n in CONVERSIONS}
    ratio = {n: _per_seed(result, n, "ratio") for n in CONVERSIONS}
    viol = {n: _per_seed(result, n, "violation") for n in CONVERSIONS}
    sto_any = float(series(result, "StoSignSGD", "violation").max())
    adam_share = SW.interval(viol["sign-AdamW"])
    diffs = {f"{a} − {b}": SW.interval(noise[a] - noise[b]) for a, b in
             (("StoSignSGD", "sign-AdaMax"), ("StoSignSGD", "sign-AdamW"), ("sign-AdaMax", "sign-AdamW"))}
    shares = {n: SW.interval(viol[n]) for n in CONVERSIONS}
    if (sto_any > 0 or adam_share[0] == 0 or any(m - 3 * s > usual for m, s in shares.values())
            or any(m + 3 * s < 0 for m, s in diffs.values())):
        status = "not supported"
    elif all(m - 3 * s > 0 for m, s in diffs.values()) and all(m < usual for m, _ in shares.values()) \
            and adam_share[0] > 0:
        status = "supported"
    else:
        status = "inconclusive"
    cells = "; ".join(
        f"{n}: noise {SW.interval(noise[n])[0]:.3f}±{3 * SW.interval(noise[n])[1]:.3f}, mean |m|/σ "
        f"{SW.interval(ratio[n])[0]:.3f}, violation share {shares[n][0]:.2e}±{3 * shares[n][1]:.1e}" for n in CONVERSIONS)
    numbers = (f"{result['seeds']} seeds, logged every {result['log_every']} of {result['steps']} steps, chosen lr: "
               f"{cells}; StoSignSGD max violation share at any logged step {sto_any:g}; noise differences "
               + "; ".join(f"{k} {m:+.3f} ± {3 * s:.3f}" for k, (m, s) in diffs.items()))
    common = _common_lr_noise(result)
    if common:
        numbers += f"; at a common lr (not the verdict's): {common}"
    status, numbers = SW.finish_verdict(status, numbers, (), reduced)
    return status, numbers, crit


def rms_verdict(result: dict, reduced: bool = False, rms_range: tuple = ADAMW_RMS_RANGE) -> tuple[str, str, str]:
    r"""``stosignsgd.update_rms`` (module docstring): (status, numbers, criterion)."""
    if not (isinstance(rms_range, (tuple, list)) and len(rms_range) == 2):
        raise ValueError(f"rms_range must be a pair (low, high) with 0 ≤ low < high, got {rms_range!r}")
    lo_r, hi_r = V.nonnegative_finite("rms_range[0]", rms_range[0]), V.positive_finite("rms_range[1]", rms_range[1])
    if lo_r >= hi_r:
        raise ValueError(f"rms_range must be a pair (low, high) with 0 ≤ low < high, got {rms_range!r}")
    crit = (f"AdamW's pre-lr update RMS (pooled over groups, mean over logged steps, per seed) has mean ± 3se inside "
            f"[{lo_r:g}, {hi_r:g}] and every sign method's RMS is 1 within {SIGN_RMS_TOL:g} at every logged step "
            f"(supported); the AdamW interval wholly outside the range or a sign method's RMS off 1 by > "
            f"{SIGN_RMS_TOL:g} (not supported); else inconclusive")
    ms = result["methods"]
    signs = [n for n in SIGN_METHODS if n in ms]
    if "AdamW" not in ms or not signs:
        status, numbers = "inconclusive", f"AdamW or the sign methods were not run (ran {ms})"
        status, numbers = SW.finish_verdict(status, numbers, (), reduced)
        return status, numbers, crit
    m, s = SW.interval(_per_seed(result, "AdamW", "rms"))
    lo, hi = m - 3 * s, m + 3 * s
    dev = {n: float(np.abs(series(result, n, "rms") - 1.0).max()) for n in signs}
    if hi < lo_r or lo > hi_r or any(d > SIGN_RMS_TOL for d in dev.values()):
        status = "not supported"
    elif lo >= lo_r and hi <= hi_r:
        status = "supported"
    else:
        status = "inconclusive"
    others = "; ".join(f"{n} {SW.interval(_per_seed(result, n, 'rms'))[0]:.3f}" for n in ("AdaMax", "IE-StoSignSGD")
                       if n in ms)
    numbers = (f"AdamW pre-lr update RMS {m:.3f} ± {3 * s:.3f} ({result['seeds']} seeds, mean over logged fine-tuning "
               f"steps at the chosen lr {result['lr'][ms.index('AdamW')]:g}); sign methods' max |RMS − 1|: "
               + ", ".join(f"{n} {d:.1e}" for n, d in dev.items()) + (f"; other originals: {others}" if others else ""))
    status, numbers = SW.finish_verdict(status, numbers, (), reduced)
    return status, numbers, crit


def scale_text(result: dict) -> str:
    """The ``scale`` of the ledger records: model, tokens, text, seeds, grids."""
    ft_tokens = result["steps"] * result["batch"] * result["block"]
    return (f"toy GPT, {result['n_params']:,} params, pretrained on {result['pretrain_tokens']:,} tokens of Python "
            f"source, fine-tuned on {ft_tokens:,} tokens of {result['text']['source']} (English), "
            f"{result['seeds']} seeds, {len(result['methods'])} methods with "
            f"{len(next(iter(result['lr_grids'].values())))}-point lr grids")


def plot_sweep(result: dict):
    """Four panels: test loss at the chosen lr per method (mean ± 3 s.e.; dashed: the pretrained
    model), structural noise and update RMS against the fine-tuning step (seed means), and the final
    log10|num| histogram of seed 0 (Fig. 3/4 stand-ins)."""
    from convexlab.plotting import new_figure

    fig, ax0 = new_figure(figsize=(11, 7.5))
    fig.delaxes(ax0)
    axes = fig.subplots(2, 2)
    ax = axes[0][0]
    ms = result["methods"]
    xs = np.arange(len(ms))
    ax.errorbar(xs, result["mean"], yerr=3 * result["se"], fmt="o", capsize=4)
    ax.set_xticks(xs)
    ax.set_xticklabels([f"{n} ({ALGS[n]})" for n in ms], fontsize=7, rotation=30, ha="right")
    ax.set_ylabel("test loss (nats)")
    ax.set_title(f"test loss after fine-tuning (pretrained: {result['base_test']:.3f}), lr tuned on validation, "
                 f"± 3 s.e., {result['seeds']} seeds", fontsize=8)
    ax = axes[0][1]
    for n in CONVERSIONS:
        if n in ms:
            ser = series(result, n, "noise")
            ax.plot(result["logs"][n][0]["step"], ser.mean(axis=0), label=f"{n}: mean 1 − (m/σ)²")
    ax.set_xlabel("fine-tuning step")
    ax.set_ylabel("structural noise")
    ax.set_title("noise intensity of the unbiased sign conversions (Fig. 4 stand-in)", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[1][0]
    dashes = iter([(6, 2), (2, 2), (4, 1, 1, 1), (1, 3)])
    for n in ms:
        ser = series(result, n, "rms")
        kw = {"dashes": next(dashes, (1, 1))} if n in SIGN_METHODS else {}  # the sign methods overlap at 1
        ax.plot(result["logs"][n][0]["step"], ser.mean(axis=0), label=n, **kw)
    ax.set_xlabel("fine-tuning step")
    ax.set_ylabel("pre-lr update RMS")
    ax.set_title("update RMS before lr and decay (paper: AdamW ≈ 0.2, sign = 1)", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[1][1]
    for n in CONVERSIONS:
        h = result["hist"].get(n) if n in ms else None
        if h:
            e = np.asarray(h["edges"])
            ax.step(e[:-1], np.asarray(h["counts"]) / max(1, sum(h["counts"])), where="post", label=n)
    ax.set_xlabel("log10 |m| (the numerator of the conversion)")
    ax.set_ylabel("share of coordinates")
    ax.set_title("final |m| distribution, seed 0 (Fig. 3 stand-in)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


__all__ = ["METHODS", "ALGS", "CONVERSIONS", "SIGN_METHODS", "PAIRS", "BETAS", "EPS", "LR_GRIDS", "BLOCK", "MODEL",
           "TOL", "USUAL", "ADAMW_RMS_RANGE", "SIGN_RMS_TOL", "HIST_EDGES", "FINETUNE_FILE", "reference_prose", "finetune_splits", "eval_loss", "new_model",
           "param_groups", "make_optimizer", "pretrain", "finetune_once", "sweep", "paired", "series",
           "ablation_verdict", "noise_verdict", "rms_verdict", "scale_text", "plot_sweep"]
