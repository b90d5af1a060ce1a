r"""The three GPT experiments of issue 6 as commands: run a preset's runs, then summarize them.

``convexlab experiment {fp8,anytime,softstar} [--preset cpu|gpu | --config PATH] [--out DIR]
[--run NAME[,NAME...]] [--seeds N[,N...]] [--middle-lr] [--scale X] [--summarize-only] [--threads N]
[convexlab train options ...]`` (:func:`build_parser`; also ``python -m convexlab.llm.experiments``) runs every run of the preset
``configs/<experiment>_<preset>.json`` through :func:`convexlab.llm.train.train` (any
``convexlab train`` option overrides every run, e.g. ``--device cpu``; ``--scale 0.1`` shortens
every step count of the preset proportionally; ``--seeds`` and ``--middle-lr`` run a subset of a sweep
preset, :func:`subset_configs`), then writes ``summary.json`` and ``summary.md`` into
the experiment directory (the preset's ``out_dir``, or ``--out``). Each summary reads only the run
directories (``config.json``, ``log.jsonl``, ``summary.json``, ``table12_step<N>.json``), so it can
be recomputed from finished runs (``--summarize-only``).

* **fp8** (:func:`summarize_fp8`; StoSignSGD, arXiv 2604.15416, §3.1, Fig. 2 and Table 12 [P],
  [SSG-FP8, SSG-TAB12, SSG-SPEEDUP] and [SSG-Q12, SSG-Q13, SSG-Q14]): AdamW, Signum (Alg. 5), Lion and StoSignSGD under the FP8 recipe, plus
  a bf16 AdamW reference, each an **arm** swept over four learning rates with seeds 0, 1, 2 (run names
  ``<arm>_lr<lr>_s<seed>``, and ``<arm>`` alone for seed 0 at the middle lr, the arm's reference run: :func:`arm_of`; a seed fixes initialization, data order and optimizer noise, so arms
  pair by seed). Per arm: the best lr (lowest mean final validation loss over seeds, a diverged seed counting as
  +inf: :func:`best_lr`), the final loss there as mean ± 3 s.e. over seeds (:func:`mean_interval`), diverged seeds
  per lr (:func:`divergence`), the Table-12 statistics at ``stats_step`` and the Figure 3/4 statistics logged with
  ``diagnostics_every`` (:func:`diagnostics_means`). The **tokens-to-target ratio** (StoSignSGD [SSG-SPEEDUP]
  "Results" [P/S] and [SSG-Q14]), the paper's protocol: each arm at its best lr; per seed, target = the
  baseline's final validation loss, tokens_b = the first tokens at which the baseline's validation curve reaches
  it, tokens_S = the same for StoSignSGD (linear interpolation between evaluations, :func:`tokens_to_target`);
  ratio = tokens_b / tokens_S (> 1: StoSignSGD needs fewer tokens; the paper reports 1.44× and 2.14× against
  Alg. 5 SignSGD and Lion [P]), then mean ± 3 s.e. over seeds (:func:`tokens_ratio_seeds`; a seed where
  StoSignSGD never reaches the target enters as its upper bound, "censored"). A diverged baseline has no
  meaningful target (no ratio, with the reason).
* **anytime** (:func:`summarize_anytime`; SF-NorMuon, arXiv 2605.23061, Figs. 1–3 [P], [SFN-BASELINES, SFN-RESULTS,
  SFN-FIG2, SFN-PLAN] [I]): AdamW + cosine and NorMuon + cosine runs grouped by horizon (their ``max_steps``),
  each tuned per horizon = the lr with the best seed-mean final validation loss; one SF-NorMuon run per seed
  read at x at every horizon; the controls at the longest horizon (μ = 0, row normalization off, decay at
  y / x / none / all and with the base lr; SF-AdamW with and without decay), per seed, so that
  ``convexlab.lab.anytime_llm`` can pair them by seed.
* **softstar** (:func:`summarize_softstar`; Softsign, arXiv 2605.31371, [SS-EXP] [REV][3P], [SS-PLAN]
  E4 [D]): SoftSignum / SoftMuon against their hard counterparts Signum / Muon at the same lr and seeds (the same
  algorithm until the transition step S: the difference there should be 0), AdamW, the hard-switch baseline
  HardSwitch (sign for S steps, then SGD-momentum) and SGDMomentum, each swept over three lrs with three seeds;
  the α_sign ablation (SoftSignum with S = α_sign·T_total, α_sign ∈ {0.3, 0.5, 0.7} against 0.9) and the
  temperature cap (tmax = 1e9 against the official 20) at one lr. Every difference is paired by seed, mean
  ± 3 s.e. The verdicts: :func:`claim_verdict` (``softsign.llm_transition``) and the rules of
  :mod:`convexlab.theory.claims` for the other Soft* rows.

The Table-12 zero shares that :mod:`convexlab.llm.train` logs are shares of zeros *after rounding
the state to E4M3* (:func:`convexlab.precision.state_statistics`), in any precision: for an fp32 or
bf16 run they say what E4M3 storage *would* flush, not that the state is zero.
:func:`stored_zero_shares` separates the two: stored zeros = zeros − flushed (a state stored in
FP8 already has flushed = 0; an fp32 state has stored zeros only where it is exactly 0).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Iterable, Sequence

from convexlab import _validation as V
from convexlab._validation import argparse_int_at_least

EXPERIMENTS = ("fp8", "anytime", "softstar")
PRESET_SIZES = ("cpu", "gpu")
#: the optimizer compared against every baseline in the fp8 experiment
FP8_METHOD = "StoSignSGD"
#: SF-NorMuon "matches" a tuned baseline when its loss is at most this much higher (nats) [D]
MATCH_TOL = 0.02


# ---------------------------------------------------------------------------------------------
# reading run directories
# ---------------------------------------------------------------------------------------------
def load_run(run_dir: str | os.PathLike) -> dict:
    r"""One run directory as a dict: ``name``, ``dir``, ``config`` (resolved), ``records`` (log
    lines), ``val`` (list of (step, tokens, val_loss)), ``status`` ("done", "nonfinite" or
    "incomplete"), ``summary`` and ``table12`` (the statistics file's content, or None)."""
    d = Path(run_dir)
    if not (d / "config.json").is_file():
        raise ValueError(f"run_dir must be a run directory holding config.json, got {str(d)!r}")
    cfg = json.loads((d / "config.json").read_text())
    recs = []
    if (d / "log.jsonl").is_file():
        recs = [json.loads(ln) for ln in (d / "log.jsonl").read_text().splitlines() if ln.strip()]
    val = [(int(r["step"]), int(r.get("tokens", 0)), float(r["val_loss"])) for r in recs
           if r.get("val_loss") is not None]
    summ = json.loads((d / "summary.json").read_text()) if (d / "summary.json").is_file() else {}
    tabs = sorted(d.glob("table12_step*.json"))
    return {"name": d.name, "dir": str(d), "config": cfg, "records": recs, "val": val,
            "status": summ.get("status", "incomplete"), "summary": summ,
            "table12": json.loads(tabs[0].read_text()) if tabs else None}


def load_runs(exp_dir: str | os.PathLike) -> list[dict]:
    """Every run directory (a sub-directory with ``config.json``) of an experiment directory, by name."""
    d = Path(exp_dir)
    if not d.is_dir():
        raise ValueError(f"exp_dir must be an existing directory, got {str(d)!r}")
    return [load_run(p) for p in sorted(d.iterdir()) if (p / "config.json").is_file()]


def final_val(run: dict) -> float | None:
    """The last validation loss of a run (None if it has none; inf if the run stopped non-finite)."""
    if run["status"] == "nonfinite":
        return math.inf
    return run["val"][-1][2] if run["val"] else None


def val_at(run: dict | None, step: int) -> float | None:
    r"""The validation loss at ``step``: the one logged there, else the linear interpolation between
    the evaluations just before and just after it (None outside the logged range)."""
    if run is None:
        return None
    prev = None
    for s, _, v in run["val"]:
        if s == step:
            return v
        if s > step:
            if prev is None:
                return None
            return prev[1] + (v - prev[1]) * (step - prev[0]) / (s - prev[0])
        prev = (s, v)
    return None


# ---------------------------------------------------------------------------------------------
# pieces of the summaries
# ---------------------------------------------------------------------------------------------
def divergence(run: dict) -> dict:
    r"""Did the run diverge? [D] ``diverged`` is true when it stopped on a non-finite loss, or when
    its final validation loss is above the loss at initialization (step 0): training made the
    model worse than its random start. ``first_step`` is the first evaluation step whose loss is
    above the initial one (or the non-finite step)."""
    if run["status"] == "nonfinite":
        return {"diverged": True, "reason": "non-finite loss", "first_step": run["summary"].get("step")}
    if not run["val"]:
        return {"diverged": False, "reason": "no validation loss logged", "first_step": None}
    v0 = run["val"][0][2]
    first = next((s for s, _, v in run["val"][1:] if not (v <= v0)), None)
    if not (run["val"][-1][2] <= v0):
        return {"diverged": True, "reason": f"final validation loss {run['val'][-1][2]:.4g} > initial {v0:.4g}",
                "first_step": first}
    return {"diverged": False, "reason": "", "first_step": first}


def tokens_to_target(val: Sequence[tuple[int, int, float]], target: float) -> float | None:
    r"""The first token count at which the validation curve ``val`` [(step, tokens, loss), ...]
    reaches ``target`` (loss ≤ target), linearly interpolated between the two evaluations around
    the crossing; None if it never does."""
    if not math.isfinite(target):
        raise ValueError(f"target must be finite, got {target!r}")
    prev = None
    for _, tok, v in val:
        if v <= target:
            if prev is None or prev[1] == v:
                return float(tok)
            t0, v0 = prev
            return t0 + (tok - t0) * (v0 - target) / (v0 - v)
        prev = (tok, v)
    return None


def tokens_ratio(baseline: dict, method: dict) -> dict:
    r"""The iso-loss token ratio of StoSignSGD [SSG-SPEEDUP] [P/S] and [SSG-Q14]: target = the baseline's final
    validation loss; ratio = tokens_baseline / tokens_method to reach it (None with a reason if the
    baseline diverged or the method never reaches the target). ``ratio_at_method_final`` is the
    same ratio at the method's own final loss (None if the baseline never gets there): < 1 says by
    how much the method is slower when it does not reach the baseline's target."""
    out = {"baseline": baseline["name"], "method": method["name"]}
    div = divergence(baseline)
    if div["diverged"]:
        return {**out, "target": None, "ratio": None, "note": f"baseline diverged ({div['reason']})"}
    target = final_val(baseline)
    tb = tokens_to_target(baseline["val"], target)
    tm = tokens_to_target(method["val"], target) if method["status"] != "nonfinite" else None
    out.update(target=target, tokens_baseline=tb, tokens_method=tm)
    # the converse reading: at the method's own final loss (a number also when the method is slower)
    mt = final_val(method)
    if mt is not None and math.isfinite(mt):
        tb2, tm2 = tokens_to_target(baseline["val"], mt), tokens_to_target(method["val"], mt)
        out["ratio_at_method_final"] = (tb2 / tm2) if (tb2 is not None and tm2) else None
    if tm is None:
        return {**out, "ratio": None, "note": "the method never reaches the target (ratio < 1)"}
    if tm == 0:
        return {**out, "ratio": None, "note": "target reached at initialization"}
    return {**out, "ratio": tb / tm, "note": ""}


def stored_zero_shares(table12: dict, key: str = "exp_avg_sq") -> dict[str, float]:
    r"""Per parameter: the share of coordinates of state ``key`` that are exactly zero *as stored*
    (zeros after E4M3 rounding minus those that only the rounding flushed; module docstring)."""
    out = {}
    for r in table12["rows"]:
        if f"zeros_{key}" in r:
            out[r["param"]] = r[f"zeros_{key}"] - r.get(f"flushed_{key}", 0.0)
    return out


def table12_rows(run: dict) -> list[dict]:
    """The Table-12 columns of a run's statistics file: layer, v zeros, m zeros (E4M3 shares, %),
    stored v zeros (%), max|g|, max g²."""
    if not run["table12"]:
        return []
    rows = []
    for r in run["table12"]["rows"]:
        rows.append({"layer": r["param"],
                     "v_zeros_pct": 100 * r["v_zeros"] if "v_zeros" in r else None,
                     "m_zeros_pct": 100 * r["m_zeros"] if "m_zeros" in r else None,
                     "stored_v_zeros_pct": (100 * (r["zeros_exp_avg_sq"] - r.get("flushed_exp_avg_sq", 0.0))
                                            if "zeros_exp_avg_sq" in r else None),
                     "max_abs_grad": r.get("max_abs_grad"), "max_grad_sq": r.get("max_grad_sq")})
    return rows


def _label(run: dict) -> str:
    c = run["config"]
    return f"{c['optimizer']} ({c['precision']})"


# ---------------------------------------------------------------------------------------------
# arms, seeds and intervals (the fp8 and softstar summaries)
# ---------------------------------------------------------------------------------------------
#: a run name ``<arm>_lr<lr>_s<seed>`` (the sweep presets); a name without the suffixes is its own arm
_ARM_RE = re.compile(r"^(?P<arm>.+?)(?:_lr(?P<lr>[0-9.eE+-]+))?(?:_s(?P<seed>\d+))?$")
#: half-width of the intervals, in standard errors of the mean over seeds [D]
INTERVAL_SE = 3.0


def arm_of(run: dict) -> str:
    r"""The arm of a run: its name without the sweep suffixes ``_lr<lr>`` and ``_s<seed>``
    (``"stosignsgd_lr0.001_s2"`` → ``"stosignsgd"``); a name without them (an arm's reference run in
    the sweep presets, or a run of another preset) is its own arm. The lr and seed are read from the
    run's config, never from its name."""
    m = _ARM_RE.match(run["name"])
    return m.group("arm") if m else run["name"]


def mean_interval(values: Sequence[float], k: float = INTERVAL_SE) -> dict:
    r"""Mean ± k standard errors over seeds [D]: ``{"mean", "se", "lo", "hi", "n"}`` with
    se = s/√n (s the sample standard deviation, n − 1 in the denominator); with one value se is 0
    and the interval a point (the seed count ``n`` says so); an infinite value (a diverged run)
    makes mean, lo and hi infinite. Empty: every field None and n = 0."""
    xs = [float(v) for v in values if v is not None]
    if not xs:
        return {"mean": None, "se": None, "lo": None, "hi": None, "n": 0}
    n = len(xs)
    mean = math.fsum(xs) / n
    if not all(math.isfinite(x) for x in xs):
        return {"mean": mean, "se": None, "lo": mean, "hi": mean, "n": n}
    se = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1) / n) if n > 1 else 0.0
    return {"mean": mean, "se": se, "lo": mean - k * se, "hi": mean + k * se, "n": n}


def group_arms(runs: list[dict]) -> dict[str, dict]:
    r"""Runs by arm, then by lr: ``{arm: {"optimizer", "precision", "opt_kwargs", "by_lr": {lr: [runs by seed]}}}``."""
    arms: dict[str, dict] = {}
    for r in runs:
        c = r["config"]
        a = arms.setdefault(arm_of(r), {"optimizer": c["optimizer"], "precision": c.get("precision"),
                                        "opt_kwargs": c.get("opt_kwargs", {}), "max_steps": c.get("max_steps"),
                                        "by_lr": {}})
        a["by_lr"].setdefault(c.get("lr"), []).append(r)
    for a in arms.values():
        for lr in a["by_lr"]:
            a["by_lr"][lr].sort(key=lambda r: (r["config"].get("seed") is None, r["config"].get("seed") or 0))
    return arms


def _finals(rs: list[dict]) -> list[float]:
    """Final validation losses (inf for a diverged run: divergence ranks it last; :func:`_fv`)."""
    return [v for v in map(_fv, rs) if v is not None]


def best_lr(arm: dict):
    r"""The arm's best lr: the lowest mean final validation loss over seeds (a diverged run counts
    as +inf, so an lr with a diverged seed loses to any lr without), ties to the smaller lr; None if
    no lr has a final loss. Selection is on the validation split, the only held-out split of the
    harness [D]."""
    scored = [(mean_interval(_finals(rs))["mean"], lr) for lr, rs in arm["by_lr"].items() if _finals(rs)]
    if not scored:
        return None
    return min(scored, key=lambda t: (t[0], t[1] if t[1] is not None else 0.0))[1]


def _seed(r: dict):
    return r["config"].get("seed")


def paired(a: list[dict], b: list[dict], value) -> dict:
    r"""``value(run_a) − value(run_b)`` over the seeds both lists hold (paired by seed: the same
    initialization and data order), as :func:`mean_interval` plus the per-seed ``diffs``; a seed
    where either value is None is left out."""
    bs = {_seed(r): r for r in b}
    diffs = []
    for r in a:
        o = bs.get(_seed(r))
        if o is None:
            continue
        va, vb = value(r), value(o)
        if va is not None and vb is not None:
            diffs.append(va - vb)
    return {**mean_interval(diffs), "diffs": diffs}


def arm_rows(runs: list[dict]) -> tuple[dict, list[dict]]:
    r"""(arms of :func:`group_arms`, one summary row per arm): optimizer, precision, lr grid, best lr
    and whether it is at the grid's edge, seeds, final validation loss at the best lr (mean ± 3 s.e.
    over seeds), diverged seeds at the best lr and per lr, and the mean final loss per lr.
    ``divergence_diverged`` is true when every seed at the best lr diverged."""
    arms = group_arms(runs)
    rows = []
    for name, a in arms.items():
        lr = best_lr(a)
        grid = sorted((x for x in a["by_lr"] if x is not None))
        rs = a["by_lr"].get(lr, next(iter(a["by_lr"].values())))
        iv = mean_interval(_finals(rs))
        divs = [divergence(r) for r in rs]
        firsts = [d["first_step"] for d in divs if d["first_step"] is not None]
        rows.append({"run": name, "optimizer": a["optimizer"], "precision": a["precision"], "lrs": grid,
                     "best_lr": lr, "at_grid_edge": len(grid) >= 2 and lr in (grid[0], grid[-1]),
                     "seeds": [_seed(r) for r in rs], "n_seeds": len(rs),
                     "final_val_loss": iv["mean"], "final_val_se": iv["se"], "final_val_lo": iv["lo"],
                     "final_val_hi": iv["hi"], "tokens": max((r["val"][-1][1] for r in rs if r["val"]), default=None),
                     "divergence_diverged": bool(divs) and all(d["diverged"] for d in divs),
                     "diverged_seeds": sum(d["diverged"] for d in divs),
                     "divergence_first_step": min(firsts) if firsts else None,
                     "diverged_by_lr": {str(k): [sum(divergence(r)["diverged"] for r in v), len(v)]
                                        for k, v in sorted(a["by_lr"].items(), key=lambda t: t[0] or 0)},
                     "mean_final_by_lr": {str(k): mean_interval(_finals(v))["mean"]
                                          for k, v in sorted(a["by_lr"].items(), key=lambda t: t[0] or 0)}})
    return arms, rows


def _run_row(r: dict) -> dict:
    stats = (r["table12"] or {}).get("overall", {})
    stored = stored_zero_shares(r["table12"]) if r["table12"] else {}
    return {"run": r["name"], "arm": arm_of(r), "optimizer": r["config"]["optimizer"],
            "precision": r["config"].get("precision"), "lr": r["config"].get("lr"), "seed": _seed(r),
            "final_val_loss": final_val(r), "tokens": r["val"][-1][1] if r["val"] else None,
            **{f"divergence_{k}": v for k, v in divergence(r).items()},
            "stats_step": (r["table12"] or {}).get("step"),
            "v_zeros_e4m3": stats.get("v_zeros"), "m_zeros_e4m3": stats.get("m_zeros"),
            "max_stored_v_zeros": max(stored.values()) if stored else None,
            "min_stored_v_zeros": min(stored.values()) if stored else None}


def diagnostics_means(run: dict) -> dict | None:
    r"""The run's logged Figure 3/4 statistics (``diagnostics`` records of :mod:`convexlab.llm.train`)
    averaged over its logged steps and weighted over groups by ``numel``: mean |m|/σ, mean
    1 − (m/σ)², violation share, and the pre-lr update RMS (unweighted group mean); None if none
    were logged or the optimizer has none."""
    recs = [r["diagnostics"] for r in run.get("records", []) if r.get("diagnostics")]
    out: dict[str, float] = {}
    for key in ("mean_abs_m_over_sigma", "mean_noise", "violation_share"):
        vals = []
        for d in recs:
            groups = list((d.get("noise") or {}).values())
            tot = sum(g["numel"] for g in groups)
            if tot:
                vals.append(sum(g[key] * g["numel"] for g in groups) / tot)
        if vals:
            out[key] = sum(vals) / len(vals)
    rms = [sum(d["update_rms_pre_lr"].values()) / len(d["update_rms_pre_lr"]) for d in recs
           if d.get("update_rms_pre_lr")]
    if rms:
        out["update_rms_pre_lr"] = sum(rms) / len(rms)
    return out or None


def tokens_ratio_seeds(baseline_runs: list[dict], method_runs: list[dict]) -> dict:
    r"""The iso-loss tokens ratio (:func:`tokens_ratio`) per seed, baseline and method paired by
    seed, with the mean ± 3 s.e. over seeds. Where the method never reaches the baseline's target
    within its T tokens the true ratio is below tokens_baseline / T: that bound enters the mean
    (``censored`` counts such seeds; the interval's upper end stays an upper bound, its lower end
    is then no bound). A seed whose baseline diverged has no target and is left out."""
    ms = {_seed(r): r for r in method_runs}
    per = []
    for b in baseline_runs:
        m = ms.get(_seed(b))
        if m is None:
            continue
        t = tokens_ratio(b, m)
        rec = {"seed": _seed(b), "target": t.get("target"), "tokens_baseline": t.get("tokens_baseline"),
               "tokens_method": t.get("tokens_method"), "ratio": t["ratio"], "censored": False,
               "ratio_at_method_final": t.get("ratio_at_method_final"), "note": t["note"]}
        if t["ratio"] is None and t.get("target") is not None and t.get("tokens_baseline") is not None:
            total = m["val"][-1][1] if m["val"] else None
            if total:
                rec.update(ratio=t["tokens_baseline"] / total, censored=True)
        per.append(rec)
    used = [p["ratio"] for p in per if p["ratio"] is not None]
    return {**mean_interval(used), "per_seed": per, "censored": sum(p["censored"] for p in per),
            "no_target": sum(p["target"] is None for p in per)}


# ---------------------------------------------------------------------------------------------
# the three summaries
# ---------------------------------------------------------------------------------------------
def summarize_fp8(runs: list[dict]) -> dict:
    r"""The fp8 experiment's summary (module docstring). Runs are grouped into arms (:func:`arm_of`:
    one optimizer and precision, its lr sweep and seeds); ``runs`` holds one row per arm
    (:func:`arm_rows`: best lr by mean final validation loss over seeds, the final loss there with
    its interval, diverged seeds per lr, and the Table-12 shares and Figure 3/4 statistics of the
    first seed at the best lr); ``all_runs`` one row per run. ``tokens_to_target``: for every
    baseline arm, the iso-loss tokens ratio of the StoSignSGD arm at the best lrs of both, per seed
    and as mean ± 3 s.e. (:func:`tokens_ratio_seeds`; ``ratio`` is the mean), labelled whether
    the precisions match. ``table12``: the Table-12 rows of the fp8 AdamW arm (first seed, best lr).
    ``stability``: diverged seeds per lr of every arm."""
    arms, rows = arm_rows(runs)
    for row in rows:
        a = arms[row["run"]]
        first = a["by_lr"].get(row["best_lr"], next(iter(a["by_lr"].values())))[0]
        base = _run_row(first)
        row.update({k: base[k] for k in ("stats_step", "v_zeros_e4m3", "m_zeros_e4m3", "max_stored_v_zeros",
                                         "min_stored_v_zeros")})
        row["diagnostics"] = diagnostics_means(first)
    method_arms = [n for n, a in arms.items() if a["optimizer"] == FP8_METHOD]
    ratios = []
    for mn in method_arms:
        m = arms[mn]
        m_lr = best_lr(m)
        m_runs = m["by_lr"].get(m_lr, [])
        for bn, b in arms.items():
            if b["optimizer"] == FP8_METHOD:
                continue
            b_lr = best_lr(b)
            b_runs = b["by_lr"].get(b_lr, next(iter(b["by_lr"].values())))
            t = tokens_ratio_seeds(b_runs, m_runs)
            per = t["per_seed"]
            mean_of = lambda k: (sum(p[k] for p in per if p[k] is not None) / sum(p[k] is not None for p in per)
                                 if any(p[k] is not None for p in per) else None)
            note = ("baseline diverged in every seed (no target)" if per and t["no_target"] == len(per) else
                    f"{t['censored']} of {len(per)} seeds: {FP8_METHOD} never reaches the target (ratio bounded above "
                    "by tokens_baseline / its tokens)" if t["censored"] else "")
            ratios.append({"baseline": bn, "method": mn, "baseline_lr": b_lr, "method_lr": m_lr,
                           "same_precision": b["precision"] == m["precision"],
                           "target": mean_of("target"), "tokens_baseline": mean_of("tokens_baseline"),
                           "tokens_method": mean_of("tokens_method"), "ratio": t["mean"], "ratio_se": t["se"],
                           "ratio_lo": t["lo"], "ratio_hi": t["hi"], "n": t["n"], "censored": t["censored"],
                           "ratio_at_method_final": mean_of("ratio_at_method_final"), "per_seed": per, "note": note})
    adamw = [n for n, a in arms.items() if a["optimizer"] == "AdamW" and a["precision"] == "fp8"]
    table12 = {}
    for n in adamw:
        lr = best_lr(arms[n])
        first = arms[n]["by_lr"].get(lr, next(iter(arms[n]["by_lr"].values())))
        table12[n] = table12_rows(first[0])
    return {"experiment": "fp8", "runs": rows, "all_runs": [_run_row(r) for r in runs], "tokens_to_target": ratios,
            "table12": table12, "interval": f"mean ± {INTERVAL_SE:g} s.e. over seeds",
            "notes": ["arm = run name without _lr<lr>_s<seed>; best lr = lowest mean final validation loss over "
                      "seeds (a diverged seed counts as +inf); at_grid_edge: the best lr is the smallest or largest "
                      "of the grid (possibly under-tuned)",
                      "diverged: non-finite loss, or final validation loss above the loss at initialization [D]",
                      "v_zeros_e4m3/m_zeros_e4m3: share of zeros after rounding the state to E4M3 (train.py's "
                      "statistic); for an fp32/bf16 run it is what E4M3 storage would flush",
                      "max/min_stored_v_zeros: per-layer share of v coordinates that are zero as stored",
                      "ratio = tokens the baseline needs to reach its final validation loss / tokens "
                      f"{FP8_METHOD} needs to reach it (StoSignSGD [SSG-SPEEDUP, SSG-Q14]), per seed at each arm's "
                      f"best lr, mean ± {INTERVAL_SE:g} s.e. over seeds; a seed where {FP8_METHOD} never reaches "
                      "the target enters as the upper bound tokens_baseline / its tokens (censored)"]}


def _is_sf(run: dict) -> bool:
    return run["config"].get("schedule_resolved") == "constant" and run["config"]["optimizer"].startswith("SF")


#: SF-NorMuon's default momentum μ ([SFN-DEFAULTS]); an arm with another μ is the momentum ablation
SF_NORMUON_MU = 0.8


def _seed_key(run: dict) -> str:
    """A run's seed as a string (the key of the ``per_seed`` dicts; JSON keys are strings)."""
    return str(_seed(run))


def _sf_role(c: dict) -> str:
    r"""The role of a schedule-free run in the anytime experiment, from its config [D]: SF-NorMuon
    ``"main"`` (decay at z with λ > 0, η_t as decay lr, μ = 0.8, row normalization on), ``"mu0"``
    (only μ = 0 changed: Fig. 3 left), ``"no_row_norm"`` (only row normalization off: Fig. 3
    right), ``"decay_<at>"`` (only the placement changed; ``"decay_none"`` also for λ = 0) and
    ``"decay_<at>_base"`` (decay_lr "base"); SF-AdamW ``"sfadamw"`` (λ > 0, decay at y by default)
    and ``"sfadamw_nodecay"`` (λ = 0 or placement "none"); ``"other"`` for anything else."""
    kw = c.get("opt_kwargs") or {}
    opt = c["optimizer"]
    at = kw.get("weight_decay_at", "z" if opt == "SFNorMuon" else "y")
    if c.get("weight_decay") is not None and not c["weight_decay"]:
        at = "none"  # λ = 0 acts nowhere
    if opt == "SFAdamW":
        return "sfadamw_nodecay" if at == "none" else "sfadamw"
    if opt != "SFNorMuon":
        return "other"
    changed = []
    if float(kw.get("momentum", SF_NORMUON_MU)) != SF_NORMUON_MU:
        changed.append("mu0" if float(kw["momentum"]) == 0.0 else "other")
    if kw.get("row_norm", True) is False:
        changed.append("no_row_norm")
    base = kw.get("decay_lr", "scheduled") == "base"
    if at != "z" or base:
        changed.append(f"decay_{at}" + ("_base" if base and at != "none" else ""))
    return "main" if not changed else changed[0] if len(changed) == 1 else "other"


def _per_seed(run: dict, horizons: list[int]) -> dict:
    """One seed of an arm: the validation loss at every horizon (at x for a schedule-free run), final
    loss, divergence, and the rise of the loss above its own minimum at the end (> 0: degrading)."""
    vals = [v for _, _, v in run["val"]]
    fin = final_val(run)
    div = divergence(run)
    low = min(vals[1:] or vals) if vals else None
    return {"run": run["name"], "curve": [val_at(run, h) for h in horizons], "final": fin,
            "diverged": div["diverged"], "reason": div["reason"],
            "rise": (fin - low) if (fin is not None and low is not None and math.isfinite(fin)) else None,
            "tokens": run["val"][-1][1] if run["val"] else None}


def _mean(xs) -> float | None:
    xs = [x for x in xs if x is not None]
    return math.fsum(xs) / len(xs) if xs else None


def _mean_val(rs: list[dict]) -> list[tuple[int, int, float]]:
    """(step, tokens, mean validation loss over the runs) at the evaluation steps every run has."""
    common = set.intersection(*({s for s, _, _ in r["val"]} for r in rs)) if rs else set()
    out = []
    for s in sorted(common):
        pts = [next((t, v) for st, t, v in r["val"] if st == s) for r in rs]
        out.append((s, pts[0][0], _mean(v for _, v in pts)))
    return out


def _tune_per_horizon(cos: list[dict], horizons: list[int], base: int) -> list[dict]:
    r"""Per horizon: the lr with the lowest seed-mean final validation loss (for the choice a diverged
    seed counts as +inf), its seed-mean and per-seed finals, and whether it sits at an end of the grid
    (fewer than 3 lrs count as an end: the baseline may be under-tuned)."""
    tuned = []
    for h in horizons:
        at_h = [r for r in cos if r["config"]["max_steps"] == h and final_val(r) is not None]
        if not at_h:
            continue
        by_lr: dict = {}
        for r in at_h:
            by_lr.setdefault(r["config"]["lr"], []).append(r)
        score = {lr: _mean(math.inf if divergence(r)["diverged"] else final_val(r) for r in rs)
                 for lr, rs in by_lr.items()}
        lr = min(score, key=lambda k: (score[k], k))
        grid = sorted(by_lr)
        best = sorted(by_lr[lr], key=_seed_key)
        tuned.append({"horizon_steps": h, "multiple": h / base,
                      "tokens": best[0]["val"][-1][1] if best[0]["val"] else None,
                      "best_val_loss": _mean(final_val(r) for r in best), "best_run": best[0]["name"], "best_lr": lr,
                      "diverged_seeds": sum(divergence(r)["diverged"] for r in best),
                      "runs": [r["name"] for r in best], "n_seeds": len(best),
                      "per_seed": {_seed_key(r): final_val(r) for r in best},
                      "at_grid_edge": len(grid) < 3 or lr in (grid[0], grid[-1]), "grid": grid,
                      "all": {f"{k:g}": _mean(final_val(r) for r in rs) for k, rs in sorted(by_lr.items())}})
    return tuned


#: an lr-sweep run of the anytime experiment: ``<arm>_lrx<multiplier>[_s<seed>]`` (SF-NorMuon Fig. 5 [P])
_LR_SWEEP_RE = re.compile(r"_lrx(?P<mult>[0-9.eE+-]+)(?:_s\d+)?$")
#: the lr multipliers of the Fig. 5 sweep, relative to each method's default lr ([SFN-PLAN] (f))
LR_SWEEP_MULTIPLIERS = (0.25, 0.5, 1.0, 2.0, 4.0)


def is_lr_sweep(run: dict) -> bool:
    r"""Whether a run belongs to the anytime experiment's lr sweep: its name carries the marker
    ``_lrx<multiplier>`` [D]. These runs enter only :func:`lr_sweep`, never the arms, the tuned
    baselines or the ablations (a sweep run has the default arm's role at another lr)."""
    return _LR_SWEEP_RE.search(run["name"]) is not None


def _final_at(run: dict, step: int) -> float | None:
    r"""The validation loss of ``run`` at ``step`` as a final loss [D]: +inf when the run diverged by
    then (stopped non-finite before ``step``, or the loss there is non-finite or above the loss at
    initialization, :func:`divergence`'s rule), None when the run has no evaluation there."""
    v = val_at(run, step)
    if v is None:
        return math.inf if run["status"] == "nonfinite" and run["val"] and run["val"][-1][0] < step else None
    if not math.isfinite(v) or (run["val"] and not (v <= run["val"][0][2])):
        return math.inf
    return v


def lr_sweep(runs: list[dict], default: dict[str, list[dict]]) -> dict:
    r"""The lr sweep of SF-NorMuon Fig. 5 [P] ([SFN-PLAN] (f)): per method, per lr multiplier m =
    lr / default lr, the per-seed final validation loss at x at the sweep's horizon (+inf for a
    diverged run, :func:`_final_at`). ``runs``: the sweep runs (:func:`is_lr_sweep`); ``default``:
    method → the default arm's runs (multiplier 1), which may be longer than the sweep and are
    then read at the sweep's horizon (a schedule-free run is the same run up to there). The horizon
    of a method is the largest ``max_steps`` of its sweep runs. Returns ``{"methods": {optimizer:
    {"default_lr", "horizon_steps", "multipliers": {f"{m:g}": {"lr", "runs", "per_seed"}}}},
    "multipliers": [...]}``; a method without sweep runs is left out."""
    methods: dict = {}
    for opt, base in default.items():
        sw = [r for r in runs if r["config"]["optimizer"] == opt]
        if not sw or not base:
            continue
        lr0 = base[0]["config"]["lr"]
        h = max(r["config"]["max_steps"] for r in sw)
        by_m: dict = {}
        for r in list(base) + sw:
            m = round(r["config"]["lr"] / lr0, 6)
            e = by_m.setdefault(f"{m:g}", {"multiplier": m, "lr": r["config"]["lr"], "runs": [], "per_seed": {}})
            e["runs"].append(r["name"])
            e["per_seed"][_seed_key(r)] = _final_at(r, h)
        methods[opt] = {"default_lr": lr0, "horizon_steps": h,
                        "multipliers": {k: by_m[k] for k in sorted(by_m, key=lambda k: by_m[k]["multiplier"])}}
    return {"methods": methods, "multipliers": list(LR_SWEEP_MULTIPLIERS)}


def summarize_anytime(runs: list[dict], match_tol: float = MATCH_TOL) -> dict:
    r"""The anytime experiment's summary (module docstring), seeds kept apart for paired intervals.

    Horizons are the distinct ``max_steps`` of the AdamW cosine runs; multiples are relative to the
    smallest. ``tuned_adamw`` / ``tuned_normuon``: per horizon, the lr of the AdamW / NorMuon +
    cosine runs with the lowest seed-mean final validation loss (:func:`_tune_per_horizon`; chosen
    on the validation split that also reports the loss, which favours the baselines), with the
    per-seed finals. ``arms``: the schedule-free runs grouped by role (:func:`_sf_role`) and lr, with
    per seed the loss at x at every horizon, the final loss, divergence and the late rise
    (:func:`_per_seed`), and the seed-mean curve. The main SF-NorMuon arm and the SF-AdamW arm (with
    decay) are the ones with the lowest seed-mean loss at the base horizon when several lrs were run.
    ``comparison`` holds the seed means per horizon (gaps: mean of the per-seed differences over
    the seeds both sides have); the intervals and verdicts are computed from the per-seed values
    (``convexlab.lab.anytime_llm``). ``decay_ablation``: SF-NorMuon per decay placement (the main
    arm, i.e. z, last). ``lr_sweep`` (:func:`lr_sweep`, Fig. 5): SF-NorMuon and SF-AdamW per lr
    multiplier, per-seed final loss at the sweep's horizon; the sweep runs (names with ``_lrx``,
    :func:`is_lr_sweep`) enter nothing else, so they never replace the default arms."""
    cos = [r for r in runs if r["config"]["schedule_resolved"] == "cosine"]
    cos_adamw = [r for r in cos if r["config"]["optimizer"] == "AdamW"]
    horizons = sorted({r["config"]["max_steps"] for r in cos_adamw})
    if not horizons:
        raise ValueError("runs must contain AdamW cosine runs (the per-horizon baselines)")
    base = horizons[0]
    tuned = _tune_per_horizon(cos_adamw, horizons, base)
    tuned_nm = _tune_per_horizon([r for r in cos if r["config"]["optimizer"] == "NorMuon"], horizons, base)
    sweep = [r for r in runs if _is_sf(r) and is_lr_sweep(r)]
    sf = [r for r in runs if _is_sf(r) and not is_lr_sweep(r)]
    groups: dict = {}
    for r in sf:
        c = r["config"]
        groups.setdefault((_sf_role(c), c["lr"]), []).append(r)
    arms: dict = {}
    for (role, lr), rs in sorted(groups.items(), key=lambda t: (t[0][0], t[0][1])):
        rs = sorted(rs, key=_seed_key)
        c, kw = rs[0]["config"], rs[0]["config"].get("opt_kwargs") or {}
        arms[f"{role}@{lr:g}"] = {
            "role": role, "optimizer": c["optimizer"], "lr": lr, "max_steps": max(r["config"]["max_steps"] for r in rs),
            "weight_decay": c.get("weight_decay"),
            "weight_decay_at": "none" if c.get("weight_decay") is not None and not c["weight_decay"] else
            kw.get("weight_decay_at", "z" if c["optimizer"] == "SFNorMuon" else "y"),
            "decay_lr": kw.get("decay_lr", "scheduled"), "momentum": kw.get("momentum"), "row_norm": kw.get("row_norm", True),
            "runs": [r["name"] for r in rs], "n_seeds": len(rs),
            "per_seed": {_seed_key(r): _per_seed(r, horizons) for r in rs}, "mean_val": _mean_val(rs)}

    def pick(role):
        cands = [k for k, a in arms.items() if a["role"] == role]
        at_base = lambda k: _mean(s["curve"][0] for s in arms[k]["per_seed"].values())  # noqa: E731
        return min(cands, key=lambda k: (at_base(k) if at_base(k) is not None else math.inf, k), default=None)

    main, sfa = pick("main"), pick("sfadamw")

    def seed_mean(key, i):
        return _mean(s["curve"][i] for s in arms[key]["per_seed"].values()) if key else None

    def paired_gap(key, i, t):
        if key is None or t is None:
            return None
        d = [s["curve"][i] - t["per_seed"][k] for k, s in arms[key]["per_seed"].items()
             if s["curve"][i] is not None and t["per_seed"].get(k) is not None]
        return _mean(d)

    comparison = []
    for i, h in enumerate(horizons):
        t = next((x for x in tuned if x["horizon_steps"] == h), None)
        tn = next((x for x in tuned_nm if x["horizon_steps"] == h), None)
        comparison.append({"multiple": h / base, "horizon_steps": h,
                           "tuned_adamw": t["best_val_loss"] if t else None,
                           "tuned_normuon": tn["best_val_loss"] if tn else None,
                           "sf_normuon": seed_mean(main, i), "sf_normuon_gap": paired_gap(main, i, t),
                           "sf_normuon_gap_normuon": paired_gap(main, i, tn),
                           "sf_adamw": seed_mean(sfa, i), "sf_adamw_gap": paired_gap(sfa, i, t)})
    gaps = [c["sf_normuon_gap"] for c in comparison if c["sf_normuon_gap"] is not None]
    verdict = None
    if gaps and len(gaps) == len(comparison):
        verdict = "matches or beats" if max(gaps) <= match_tol else "behind"
    order = {"decay_y": 0, "decay_x": 1, "decay_none": 2, "decay_all": 3, "decay_y_base": 4, "decay_x_base": 5,
             "decay_all_base": 6, "decay_z_base": 7, "main": 8}
    abl = sorted((k for k, a in arms.items() if a["optimizer"] == "SFNorMuon" and a["role"] in order
                  and (a["role"] != "main" or k == main)), key=lambda k: order[arms[k]["role"]])
    ablation = [{"run": arms[k]["runs"][0], "arm": k, "label": arms[k]["role"],
                 "weight_decay_at": arms[k]["weight_decay_at"], "decay_lr": arms[k]["decay_lr"],
                 "final_val_loss": _mean(s["final"] for s in arms[k]["per_seed"].values()),
                 "diverged": any(s["diverged"] for s in arms[k]["per_seed"].values()),
                 "n_seeds": arms[k]["n_seeds"],
                 "curve": [{"horizon_steps": h, "val_loss": seed_mean(k, i)} for i, h in enumerate(horizons)]}
                for k in abl]
    cfgs = [r["config"] for r in runs]
    by_name = {r["name"]: r for r in sf}
    sweep_summary = lr_sweep(sweep, {opt: [by_name[n] for n in arms[k]["runs"]] for opt, k in
                                     (("SFNorMuon", main), ("SFAdamW", sfa)) if k is not None})
    return {"experiment": "anytime", "horizons": horizons, "tuned_adamw": tuned, "tuned_normuon": tuned_nm,
            "arms": arms, "main_arm": main, "sf_adamw_arm": sfa,
            "sf_runs": {r["name"]: [{"horizon_steps": h, "val_loss": val_at(r, h)} for h in horizons] for r in sf},
            "sf_adamw_choice": arms[sfa]["runs"][0] if sfa else None,
            "sf_normuon_run": arms[main]["runs"][0] if main else None, "comparison": comparison,
            "max_gap_sf_normuon": max(gaps) if gaps else None, "match_tol": match_tol, "verdict": verdict,
            "decay_ablation": ablation, "lr_sweep": sweep_summary,
            "scale": {"models": sorted({str(c.get("model")) for c in cfgs}),
                      "num_params": max((c.get("num_params") or 0 for c in cfgs), default=0) or None,
                      "seeds": sorted({_seed_key(r) for r in runs}), "n_runs": len(runs),
                      "horizon_tokens": [next((t["tokens"] for t in tuned if t["horizon_steps"] == h), None)
                                         for h in horizons],
                      "total_tokens": sum(r["val"][-1][1] for r in runs if r["val"])},
            "notes": ["tuned_adamw / tuned_normuon: per horizon, the lr of the grid with the lowest seed-mean final "
                      "validation loss (cosine to 0 at that horizon); selected on the split that reports the loss",
                      "SF runs are read at x at each horizon from one long run per seed",
                      "gaps: seed-mean of per-seed differences (paired by seed); intervals in convexlab.lab.anytime_llm",
                      f"verdict 'matches or beats' iff the mean SF-NorMuon - tuned AdamW gap <= {match_tol} nats at "
                      "every horizon [D]"]}


#: the Soft* optimizers and their hard counterparts (Softsign [SS-EXP]: identical until S)
SOFT_PAIRS = (("SoftSignum", "Signum"), ("SoftMuon", "Muon"))
#: the class default of the temperature cap (official SoftSignum 20, SoftMuon 1e9; [SS-Q2])
SOFT_TMAX_DEFAULT = {"SoftSignum": 20.0, "SoftMuon": 1e9}


def _main_arm(arms: dict, optimizer: str) -> str | None:
    """The main arm of an optimizer: the one with the most learning rates (the swept one), then the
    shortest name (the ablations carry suffixes)."""
    names = [n for n, a in arms.items() if a["optimizer"] == optimizer]
    return min(names, key=lambda n: (-len(arms[n]["by_lr"]), len(n), n)) if names else None


def _at_lr(arm: dict, lr) -> tuple[object, list[dict]]:
    """(lr, runs) of the arm at ``lr`` if it has it, else at its own best lr."""
    if lr in arm["by_lr"]:
        return lr, arm["by_lr"][lr]
    b = best_lr(arm)
    return b, arm["by_lr"].get(b, [])


def _fv(r: dict) -> float | None:
    """The final validation loss of a run, +inf if it diverged (None if it has none)."""
    v = final_val(r)
    return math.inf if (v is not None and divergence(r)["diverged"]) else v


def alpha_sign(arm: dict) -> float | None:
    r"""α_sign = S / T_total = ``sign_iters`` / ``max_steps`` of a Soft* arm (Softsign §5.1 [REV])."""
    s, t = arm["opt_kwargs"].get("sign_iters"), arm.get("max_steps")
    return (s / t) if (s is not None and t) else None


def _iv(d: dict, prefix: str = "") -> dict:
    return {f"{prefix}{k}": d[k] for k in ("mean", "se", "lo", "hi", "n")}


def summarize_softstar(runs: list[dict]) -> dict:
    r"""The Soft* experiment's summary (module docstring). Arms as in :func:`summarize_fp8` (``runs``:
    one row per arm with its best lr and the final loss there, mean ± 3 s.e. over seeds). Every
    difference is paired by seed:

    * ``pairs``: each Soft* main arm (its swept arm, :func:`_main_arm`) at its best lr against its hard
      counterpart at the *same* lr (the same algorithm until S = ``sign_iters``): hard − soft at the
      last evaluation at or before S (mean and max |·| over seeds: ≈ 0) and at the end (> 0: soft
      ahead), plus hard at its own best lr − soft (best against best);
    * ``controls``: HardSwitch (sign for S steps, then SGD-momentum) − soft at the soft's best lr,
      and SGD-momentum at its best lr − soft;
    * ``vs_adamw``: soft at its best lr − AdamW at its best lr (< 0: soft ahead);
    * ``alpha_ablation``: every SoftSignum arm of another α_sign = S/T_total at lr L minus the main arm
      (α = 0.9) at L; ``tmax``: the arm with another temperature cap minus the main arm at its lr.
    """
    arms, rows = arm_rows(runs)
    for row in rows:
        a = arms[row["run"]]
        row["alpha_sign"] = alpha_sign(a) if a["optimizer"] in SOFT_TMAX_DEFAULT else None
        row["tmax"] = (float(a["opt_kwargs"].get("tmax", SOFT_TMAX_DEFAULT[a["optimizer"]]))
                       if a["optimizer"] in SOFT_TMAX_DEFAULT else None)
    pairs, controls, vs_adamw = [], [], []
    adamw_n = _main_arm(arms, "AdamW")
    for soft, hard in SOFT_PAIRS:
        sn, hn = _main_arm(arms, soft), _main_arm(arms, hard)
        if sn is None:
            continue
        s = arms[sn]
        lr = best_lr(s)
        s_runs = s["by_lr"].get(lr, [])
        S = s["opt_kwargs"].get("sign_iters")
        if hn is not None:
            h_lr, h_runs = _at_lr(arms[hn], lr)
            before = [st for st, _, _ in (s_runs[0]["val"] if s_runs else []) if S is not None and st <= S]
            sb = before[-1] if before else None
            db = paired(h_runs, s_runs, lambda r: val_at(r, sb)) if sb is not None else mean_interval([])
            df = paired(h_runs, s_runs, _fv)
            hb_lr = best_lr(arms[hn])
            dbest = paired(arms[hn]["by_lr"].get(hb_lr, []), s_runs, _fv)
            pairs.append({"soft": sn, "hard": hn, "lr": lr, "hard_lr": h_lr, "transition_start": S, "before_step": sb,
                          "hard_minus_soft_before": db["mean"],
                          "hard_minus_soft_before_max_abs": max((abs(x) for x in db.get("diffs", [])), default=None),
                          "hard_minus_soft_final": df["mean"], **_iv(df, "final_"),
                          "soft_final": mean_interval([_fv(r) for r in s_runs])["mean"],
                          "hard_final": mean_interval([_fv(r) for r in h_runs])["mean"],
                          "hard_best_lr": hb_lr, **_iv(dbest, "best_vs_best_")})
        for cn in (n for n in (_main_arm(arms, "HardSwitch"), _main_arm(arms, "SGDMomentum")) if n):
            c = arms[cn]
            c_lr, c_runs = (_at_lr(c, lr) if c["optimizer"] == "HardSwitch" and soft == "SoftSignum"
                            else (best_lr(c), c["by_lr"].get(best_lr(c), [])))
            d = paired(c_runs, s_runs, _fv)
            controls.append({"soft": sn, "control": cn, "optimizer": c["optimizer"], "lr": lr, "control_lr": c_lr,
                             "control_minus_soft": d["mean"], **_iv(d)})
        if adamw_n is not None:
            a_lr = best_lr(arms[adamw_n])
            d = paired(s_runs, arms[adamw_n]["by_lr"].get(a_lr, []), _fv)
            vs_adamw.append({"soft": sn, "optimizer": soft, "adamw": adamw_n, "lr": lr, "adamw_lr": a_lr,
                             "soft_minus_adamw": d["mean"], **_iv(d)})
    alpha, tmax = [], []
    main = _main_arm(arms, "SoftSignum")
    if main is not None:
        m = arms[main]
        m_alpha, m_tmax = alpha_sign(m), float(m["opt_kwargs"].get("tmax", SOFT_TMAX_DEFAULT["SoftSignum"]))
        for n, a in arms.items():
            if a["optimizer"] != "SoftSignum" or n == main:
                continue
            for lr, rs in a["by_lr"].items():
                ref = m["by_lr"].get(lr, [])
                d = paired(rs, ref, _fv)
                t = float(a["opt_kwargs"].get("tmax", SOFT_TMAX_DEFAULT["SoftSignum"]))
                entry = {"arm": n, "reference": main, "lr": lr, "final": mean_interval([_fv(r) for r in rs])["mean"],
                         "minus_reference": d["mean"], **_iv(d)}
                if t != m_tmax:
                    tmax.append({**entry, "tmax": t, "reference_tmax": m_tmax})
                elif alpha_sign(a) != m_alpha:
                    alpha.append({**entry, "alpha_sign": alpha_sign(a), "reference_alpha_sign": m_alpha})
        alpha.sort(key=lambda e: e["alpha_sign"] or 0)
    ad = next((r for r in rows if r["run"] == adamw_n), None)
    return {"experiment": "softstar", "runs": rows, "all_runs": [_run_row(r) for r in runs], "pairs": pairs,
            "controls": controls, "vs_adamw": vs_adamw, "alpha_ablation": alpha, "tmax": tmax,
            "adamw_final": ad["final_val_loss"] if ad else None, "interval": f"mean ± {INTERVAL_SE:g} s.e. over seeds",
            "notes": ["every difference is paired by seed (same initialization and data order), mean ± "
                      f"{INTERVAL_SE:g} s.e. over seeds",
                      "hard_minus_soft > 0: the Soft* run has the lower validation loss; hard and soft at the same lr",
                      "before the transition start S the soft and hard optimizers are the same algorithm",
                      "HardSwitch: Signum for S steps, then SGD-momentum (lr = sgd_lr_scale x lr) [D]",
                      "alpha_sign = S / T_total; the ablation arms run at one lr against the alpha = 0.9 arm there"]}


#: claim ids recorded by notebook 12 (convexlab.theory.claims)
CLAIMS = {"fp8": "stosignsgd.fp8_pretraining_stability", "softstar": "softsign.llm_transition",
          "anytime": "sf_normuon.anytime_llm"}
#: a loss difference (nats) below this is not read as an effect at CPU scale [D]
EFFECT_TOL = 0.01
#: the criterion strings of the fp8 and softstar rows of :func:`claim_verdict` (recorded with the verdict)
VERDICT_CRITERIA = {
    "fp8": "fp8 AdamW diverged at every lr of its sweep in every seed and StoSignSGD at its best lr in no seed "
           "(supported); fp8 AdamW stable in every seed at some lr, or StoSignSGD diverging in some seed at every "
           "lr (not supported); ≥ 3 seeds per arm",
    "softstar": f"hard − Soft* final val loss at the Soft* arm's best lr (same lr and seeds), paired mean ± 3 s.e.: "
                f"equal before S (max |Δ| ≤ 1e-3) and lower end > {EFFECT_TOL} nats for SoftSignum and SoftMuon "
                f"(supported); upper end < −{EFFECT_TOL} for one (not supported); ≥ 3 seeds",
}


def _ivt(d: dict, nd: int = 3) -> str:
    """``mean [lo, hi] (n seeds)`` of an interval dict (:func:`mean_interval` fields, maybe prefixed)."""
    m, lo, hi, n = (d.get(k) for k in ("mean", "lo", "hi", "n"))
    if m is None:
        return "n/a"
    return f"{_fmt(m, nd)} [{_fmt(lo, nd)}, {_fmt(hi, nd)}] (n={n})"


def _fp8_verdict(summary: dict, min_seeds: int) -> tuple[str, str]:
    """(status, numbers) of ``stosignsgd.fp8_pretraining_stability`` (rule: :func:`claim_verdict`)."""
    rows = summary["runs"]
    fa = [r for r in rows if r["optimizer"] == "AdamW" and r["precision"] == "fp8"]
    st = [r for r in rows if r["optimizer"] == FP8_METHOD]
    counts = lambda r: list(r.get("diverged_by_lr", {"-": [int(r["divergence_diverged"]), 1]}).values())
    a_all = bool(fa) and all(k == n and n > 0 for r in fa for k, n in counts(r))
    a_some_stable = any(k == 0 for r in fa for k, n in counts(r))
    s_ok = bool(st) and all(r.get("diverged_seeds", int(r["divergence_diverged"])) == 0 for r in st)
    s_bad = any(r.get("diverged_seeds", int(r["divergence_diverged"])) > 0 for r in st)
    few = [r["run"] for r in fa + st if r.get("n_seeds", 1) < min_seeds]
    status = ("inconclusive" if few else "supported" if (a_all and s_ok) else
              "not supported" if (s_bad or a_some_stable) else "inconclusive")
    arms = "; ".join(f"{r['run']} best lr {_fmt(r.get('best_lr'))}{' (grid edge)' if r.get('at_grid_edge') else ''}: "
                     f"final {_ivt({'mean': r['final_val_loss'], 'lo': r.get('final_val_lo'), 'hi': r.get('final_val_hi'), 'n': r.get('n_seeds', 1)})}"
                     ", diverged seeds by lr " + ", ".join(f"{lr}: {k}/{n}" for lr, (k, n) in r.get("diverged_by_lr", {}).items())
                     for r in rows)
    ratios = "; ".join(f"{t['baseline']}: {_ivt({'mean': t['ratio'], 'lo': t.get('ratio_lo'), 'hi': t.get('ratio_hi'), 'n': t.get('n')})}"
                       + (f" ({t['censored']} censored)" if t.get("censored") else "") for t in summary["tokens_to_target"])
    numbers = (f"{arms}; fp8 AdamW diverged at every lr in every seed: {_fmt(a_all)}; {FP8_METHOD} stable in every "
               f"seed at its best lr: {_fmt(s_ok)}; tokens-to-target ratio baseline/{FP8_METHOD} at the best lrs, mean "
               f"[± {INTERVAL_SE:g} s.e.]: {ratios} (judged in stosignsgd.fp8_speedup)"
               + (f"; fewer than {min_seeds} seeds: {few}" if few else ""))
    return status, numbers


def _softstar_verdict(summary: dict, min_seeds: int) -> tuple[str, str]:
    """(status, numbers) of ``softsign.llm_transition`` (rule: :func:`claim_verdict`)."""
    pairs = summary["pairs"]
    before = [p.get("hard_minus_soft_before_max_abs", p["hard_minus_soft_before"]) for p in pairs]
    eq = bool(pairs) and all(b is not None and abs(b) <= 1e-3 for b in before)
    lo = [p.get("final_lo", p["hard_minus_soft_final"]) for p in pairs]
    hi = [p.get("final_hi", p["hard_minus_soft_final"]) for p in pairs]
    few = [p["soft"] for p in pairs if (p.get("final_n") or 1) < min_seeds]
    status = ("inconclusive" if few else
              "supported" if pairs and eq and all(v is not None and v > EFFECT_TOL for v in lo) else
              "not supported" if any(v is not None and v < -EFFECT_TOL for v in hi) else "inconclusive")
    numbers = "; ".join(
        f"{p['soft']} vs {p['hard']} at lr {_fmt(p.get('lr'))}: hard − soft before S (step {p['before_step']}) "
        f"max |Δ| {_fmt(p.get('hard_minus_soft_before_max_abs', p['hard_minus_soft_before']))}, final "
        f"{_ivt({'mean': p['hard_minus_soft_final'], 'lo': p.get('final_lo'), 'hi': p.get('final_hi'), 'n': p.get('final_n', 1)})}"
        f" (soft {_fmt(p['soft_final'])}, hard {_fmt(p['hard_final'])}); hard at its own best lr "
        f"{_fmt(p.get('hard_best_lr'))} − soft {_ivt({k: p.get('best_vs_best_' + k) for k in ('mean', 'lo', 'hi', 'n')})}"
        for p in pairs)
    numbers += "".join(f"; control {c['control']} − {c['soft']} {_ivt(c)}" for c in summary.get("controls", []))
    numbers += (f"; AdamW final {_fmt(summary['adamw_final'])}; effect threshold {EFFECT_TOL} nats; intervals mean "
                f"[± {INTERVAL_SE:g} s.e.] over seeds, paired" + (f"; fewer than {min_seeds} seeds: {few}" if few else ""))
    return status, numbers


def claim_verdict(summary: dict, reduced: bool = False, min_seeds: int = 1) -> tuple[str, str, str]:
    r"""(claim id, status, numbers) for one experiment summary, by criteria fixed in advance [D]:

    * fp8 (StoSignSGD abstract, §3.1 [P]: in FP8 pretraining AdamW fails catastrophically while
      StoSignSGD trains stably; :func:`_fp8_verdict`): *supported* iff every fp8 AdamW run diverged,
      at every lr of its sweep and in every seed (no lr rescues it), and StoSignSGD at its best lr
      diverged in no seed; *not supported* iff fp8 AdamW trains at some lr in every seed, or
      StoSignSGD diverges in some seed at every lr; the speedup is the separate row
      ``stosignsgd.fp8_speedup`` (``convexlab.theory.claims.fp8_speedup_verdict``): its ratios are
      reported here;
    * softstar (Softsign [SS-EXP] [REV]: Soft* tracks its hard counterpart, then pulls ahead;
      :func:`_softstar_verdict`): each Soft* arm at its best lr against its hard counterpart at the
      same lr and seeds, hard − soft final validation loss, mean ± 3 s.e. over seeds: *supported* iff
      every pair is equal before S (max |Δ| ≤ 1e−3) and its interval lies above +``EFFECT_TOL``;
      *not supported* iff some pair's interval lies below −``EFFECT_TOL`` (the settle text: an
      interval that excludes ±0.01 nats);
    * anytime (SF-NorMuon Fig. 1 [P]: one SF-NorMuon run matches or beats AdamW tuned per horizon):
      *supported* iff the gap is ≤ ``MATCH_TOL`` at every horizon and no horizon's tuned lr lies at
      the edge of the lr grid (else the baseline may be under-tuned); *not supported* iff the gap
      is > 5·``MATCH_TOL`` at some horizon. This reads the seed means only: the ledger's verdict, with
      paired intervals over seeds and the five control rows, is ``convexlab.lab.anytime_llm`` (notebook 20);

    otherwise *inconclusive*, and *inconclusive* too when an fp8/softstar arm the rule reads has fewer
    than ``min_seeds`` seeds (notebook 12 passes 3). ``reduced=True`` (shortened runs, e.g. a notebook's FAST mode) makes
    every status *inconclusive*: the step counts are too small to test a pretraining claim; the
    numbers string says what the criterion would have given.
    """
    kind = summary["experiment"]
    V.integer("min_seeds", min_seeds, 1)
    if kind in ("fp8", "softstar"):
        status, numbers = (_fp8_verdict if kind == "fp8" else _softstar_verdict)(summary, min_seeds)
    elif kind == "anytime":
        gaps = [c["sf_normuon_gap"] for c in summary["comparison"]]
        tol = summary["match_tol"]
        edge = [t["horizon_steps"] for t in summary["tuned_adamw"] if t["at_grid_edge"]]
        status = ("not supported" if any(g is not None and g > 5 * tol for g in gaps) else
                  "supported" if gaps and all(g is not None and g <= tol for g in gaps) and not edge else
                  "inconclusive")
        numbers = ("SF-NorMuon (one run) - AdamW+cosine tuned per horizon, val loss gap at "
                   + ", ".join(f"{c['multiple']:g}x: {_fmt(c['sf_normuon_gap'])} ({_fmt(c['sf_normuon'])} vs "
                               f"{_fmt(c['tuned_adamw'])})" for c in summary["comparison"])
                   + "; SF-AdamW gap " + ", ".join(f"{c['multiple']:g}x: {_fmt(c['sf_adamw_gap'])}"
                                                   for c in summary["comparison"])
                   + f"; match tolerance {tol} nats; tuned AdamW lr per horizon "
                   + ", ".join(f"{t['horizon_steps']}: {t['best_lr']:g}" for t in summary["tuned_adamw"])
                   + (f"; best lr at the edge of the grid at horizons {edge} (baseline possibly under-tuned)"
                      if edge else ""))
    else:
        raise ValueError(f"summary['experiment'] must be one of {EXPERIMENTS}, got {kind!r}")
    if reduced:
        numbers = f"reduced-size runs (too few steps to test the claim; the criterion alone gives {status!r}): " + numbers
        status = "inconclusive"
    return CLAIMS[kind], status, numbers


SUMMARIZERS = {"fp8": summarize_fp8, "anytime": summarize_anytime, "softstar": summarize_softstar}


# ---------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------
def _fmt(v, nd=4) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if math.isinf(v):
            return "inf"
        return f"{v:.{nd}g}" if abs(v) >= 1e4 or (v != 0 and abs(v) < 1e-3) else f"{v:.{nd}f}"
    return str(v)


def _table(header: Sequence[str], rows: Iterable[Sequence]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return out


def _arm_table(summary: dict) -> list[str]:
    """The per-arm table of the fp8 and softstar summaries (best lr, final loss with its interval, divergence)."""
    return _table(["arm", "optimizer", "precision", "lr grid", "best lr", "edge", "seeds",
                   f"final val loss ({summary.get('interval', 'mean')})", "diverged seeds by lr"],
                  [(r["run"], r["optimizer"], r.get("precision"), ", ".join(f"{x:g}" for x in r.get("lrs", [])),
                    r.get("best_lr"), r.get("at_grid_edge"), r.get("n_seeds"),
                    f"{_fmt(r['final_val_loss'])} [{_fmt(r.get('final_val_lo'))}, {_fmt(r.get('final_val_hi'))}]",
                    ", ".join(f"{k}: {d}/{n}" for k, (d, n) in r.get("diverged_by_lr", {}).items()))
                   for r in summary["runs"]])


def to_markdown(summary: dict) -> str:
    """A Markdown report of one summary (the tables of :func:`summarize_fp8` and the others)."""
    kind = summary["experiment"]
    lines = [f"# GPT experiment: {kind}", ""]
    if kind == "fp8":
        lines += _arm_table(summary)
        step = next((r["stats_step"] for r in summary["runs"] if r.get("stats_step")), "-")
        lines += ["", f"Table-12 shares (first seed at the best lr, step {step}) and Figure 3/4 statistics "
                      "(mean over the logged steps):", ""]
        lines += _table(["arm", "v zeros E4M3", "m zeros E4M3", "max stored v zeros (layer)", "mean abs(m)/σ",
                         "mean 1 − (m/σ)²", "share abs(m) > σ", "pre-lr update RMS"],
                        [(r["run"], r.get("v_zeros_e4m3"), r.get("m_zeros_e4m3"), r.get("max_stored_v_zeros"),
                          *((r.get("diagnostics") or {}).get(k) for k in ("mean_abs_m_over_sigma", "mean_noise",
                                                                         "violation_share", "update_rms_pre_lr")))
                         for r in summary["runs"]])
        lines += ["", f"Tokens to target (target = baseline's final validation loss; per seed at the best lrs; "
                      f"{summary.get('interval', '')}):", ""]
        lines += _table(["baseline", "method", "lr baseline", "lr method", "target", "tokens baseline",
                         "tokens method", "ratio", "interval", "censored seeds", "note"],
                        [(t["baseline"], t["method"], t.get("baseline_lr"), t.get("method_lr"), t.get("target"),
                          t.get("tokens_baseline"), t.get("tokens_method"), t["ratio"],
                          f"[{_fmt(t.get('ratio_lo'))}, {_fmt(t.get('ratio_hi'))}] (n={t.get('n')})",
                          t.get("censored"), t["note"]) for t in summary["tokens_to_target"]])
        for name, rows in ((n, r) for n, r in summary["table12"].items() if r):
            lines += ["", f"Table 12 ({name}):", ""]
            lines += _table(["layer", "v zeros %", "m zeros %", "stored v zeros %", "max abs(g)", "max g²"],
                            [(r["layer"], r["v_zeros_pct"], r["m_zeros_pct"], r["stored_v_zeros_pct"],
                              r["max_abs_grad"], r["max_grad_sq"]) for r in rows])
    elif kind == "anytime":
        lines += ["Seed means (gaps: mean of the per-seed differences; intervals: convexlab.lab.anytime_llm):", ""]
        lines += _table(["horizon", "steps", "tuned AdamW+cosine", "tuned NorMuon+cosine", "SF-NorMuon (one run)",
                         "gap to AdamW", "gap to NorMuon", "SF-AdamW", "gap to AdamW"],
                        [(f"{c['multiple']:g}x", c["horizon_steps"], c["tuned_adamw"], c.get("tuned_normuon"),
                          c["sf_normuon"], c["sf_normuon_gap"], c.get("sf_normuon_gap_normuon"), c["sf_adamw"],
                          c["sf_adamw_gap"]) for c in summary["comparison"]])
        lines += ["", f"Seed-mean verdict (tolerance {summary['match_tol']} nats): {summary['verdict']}", ""]
        for key, name in (("tuned_adamw", "AdamW"), ("tuned_normuon", "NorMuon")):
            if summary.get(key):
                lines += ["", f"{name} + cosine, lr grid per horizon (seed-mean final validation loss):", ""]
                lines += _table(["horizon", "best lr", "at grid edge", "seeds", "losses by lr"],
                                [(t["horizon_steps"], t["best_lr"], t["at_grid_edge"], t.get("n_seeds"),
                                  ", ".join(f"{k}: {_fmt(v)}" for k, v in t["all"].items())) for t in summary[key]])
        arms = summary.get("arms") or {}
        if arms:
            lines += ["", "Schedule-free arms (final validation loss at x, seed mean; seeds; diverged seeds):", ""]
            lines += _table(["arm", "optimizer", "lr", "decay", "at", "decay lr", "steps", "final val loss", "seeds",
                             "diverged"],
                            [(k, a["optimizer"], a["lr"], a["weight_decay"], a["weight_decay_at"], a["decay_lr"],
                              a["max_steps"], _mean(v["final"] for v in a["per_seed"].values()), a["n_seeds"],
                              sum(bool(v["diverged"]) for v in a["per_seed"].values())) for k, a in arms.items()])
        sweep = (summary.get("lr_sweep") or {}).get("methods") or {}
        if sweep:
            lines += ["", "lr sweep (Fig. 5; final validation loss at x at the sweep's horizon, seed mean, a diverged "
                          "seed counting +inf; intervals and verdict in convexlab.lab.anytime_llm):", ""]
            lines += _table(["optimizer", "lr multiplier", "lr", "steps", "final val loss", "seeds", "diverged"],
                            [(opt, k, e["lr"], m["horizon_steps"], _mean(e["per_seed"].values()), len(e["per_seed"]),
                              sum(v is not None and math.isinf(v) for v in e["per_seed"].values()))
                             for opt, m in sweep.items() for k, e in m["multipliers"].items()])
    elif kind == "softstar":
        lines += _arm_table(summary)
        lines += ["", f"Soft* against its hard counterpart at the same lr (hard − soft; > 0: soft ahead; "
                      f"{summary.get('interval', '')}, paired):", ""]
        lines += _table(["soft", "hard", "lr", "S", "eval step ≤ S", "max abs(Δ) before S", "Δ final", "interval",
                         "hard best lr", "Δ best vs best"],
                        [(p["soft"], p["hard"], p.get("lr"), p["transition_start"], p["before_step"],
                          p.get("hard_minus_soft_before_max_abs"), p["hard_minus_soft_final"],
                          f"[{_fmt(p.get('final_lo'))}, {_fmt(p.get('final_hi'))}] (n={p.get('final_n')})",
                          p.get("hard_best_lr"), p.get("best_vs_best_mean")) for p in summary["pairs"]])
        lines += ["", "Controls and AdamW (difference − soft, paired; > 0: soft ahead, except soft − AdamW):", ""]
        lines += _table(["soft", "compared with", "its lr", "difference", "interval"],
                        [(c["soft"], f"{c['control']} − soft", c.get("control_lr"), c["mean"],
                          f"[{_fmt(c['lo'])}, {_fmt(c['hi'])}] (n={c['n']})") for c in summary.get("controls", [])]
                        + [(v["soft"], f"soft − {v['adamw']}", v.get("adamw_lr"), v["mean"],
                            f"[{_fmt(v['lo'])}, {_fmt(v['hi'])}] (n={v['n']})") for v in summary.get("vs_adamw", [])])
        lines += ["", "α_sign ablation and temperature cap (arm − reference at the same lr, paired):", ""]
        lines += _table(["arm", "α_sign / tmax", "reference", "lr", "final", "arm − reference", "interval"],
                        [(e["arm"], e.get("alpha_sign", e.get("tmax")), e["reference"], e["lr"], e["final"], e["mean"],
                          f"[{_fmt(e['lo'])}, {_fmt(e['hi'])}] (n={e['n']})")
                         for e in summary.get("alpha_ablation", []) + summary.get("tmax", [])])
    lines += ["", "Notes:", ""] + [f"- {n}" for n in summary.get("notes", [])]
    return "\n".join(lines) + "\n"


def summarize(kind: str, exp_dir: str | os.PathLike) -> dict:
    r"""Summarize the runs under ``exp_dir`` as experiment ``kind``; writes ``summary.json`` and
    ``summary.md`` there and returns the summary."""
    V.one_of("kind", kind, EXPERIMENTS)
    from convexlab._io import atomic_write

    runs = load_runs(exp_dir)
    if not runs:
        raise ValueError(f"exp_dir must hold run directories, got {str(exp_dir)!r} (none found)")
    summary = SUMMARIZERS[kind](runs)
    summary["exp_dir"] = str(exp_dir)
    atomic_write(Path(exp_dir) / "summary.json", json.dumps(summary, indent=1, default=str) + "\n")
    atomic_write(Path(exp_dir) / "summary.md", to_markdown(summary))
    return summary


# ---------------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------------
#: step-count fields that :func:`scale_config` multiplies (config fields, then optimizer arguments)
STEP_FIELDS = ("max_steps", "warmup_steps", "stats_step", "eval_every", "checkpoint_every")
STEP_KWARGS = ("sign_iters", "transition_iters", "warmup_steps", "switch_iters")


def scale_config(cfg, scale: float):
    r"""``cfg`` with every step count (:data:`STEP_FIELDS`, and :data:`STEP_KWARGS` in
    ``opt_kwargs``) multiplied by ``scale`` and rounded (at least 1 where it was positive): a
    shorter copy of a preset that keeps its structure (horizons 1×…8×, the transition at 0.9·T)."""
    from convexlab.llm.train import apply_overrides

    V.positive_finite("scale", scale)

    def sc(v):
        return max(1, int(round(v * scale))) if v > 0 else v

    over = {f: sc(getattr(cfg, f)) for f in STEP_FIELDS}
    over["opt_kwargs"] = {k: (sc(v) if k in STEP_KWARGS and isinstance(v, int) else v) for k, v in cfg.opt_kwargs.items()}
    return apply_overrides(cfg, over)


def preset_configs(kind: str, preset: str = "cpu", config: str | None = None, out: str | None = None,
                   runs: Sequence[str] | None = None, overrides: Sequence[str] = (), scale: float | None = None) -> list:
    r"""The :class:`~convexlab.llm.train.TrainConfig` list of an experiment: ``configs/<kind>_<preset>.json``
    (or ``config``), the runs named in ``runs`` (all if None), ``out_dir = out`` if given, then the
    ``--key=value`` ``overrides``, then :func:`scale_config` if ``scale`` is given; every run is
    written fresh (``overwrite=true``) unless an override says otherwise. ``overrides`` are
    ``convexlab train`` command-line tokens (``--key value``, ``--key=value``, ``--flag``)."""
    from convexlab.llm.train import parse_args

    V.one_of("kind", kind, EXPERIMENTS)
    if config is None:
        V.one_of("preset", preset, PRESET_SIZES)
    argv = ["--config", config or f"{kind}_{preset}", "--overwrite"]
    if runs:
        argv += ["--run", ",".join(runs)]
    if out is not None:
        argv.append(f"--out-dir={out}")
    configs, _ = parse_args(argv + list(overrides))
    return [scale_config(c, scale) for c in configs] if scale is not None else configs


def subset_configs(configs: list, seeds: Sequence[int] | None = None, middle_lr_only: bool = False) -> list:
    r"""The configs of a sweep preset restricted to the given ``seeds`` (all if None) and, with
    ``middle_lr_only``, to the middle lr of each arm's grid (:func:`arm_of`; the smaller middle of an
    even grid): a quick subset with the structure of every arm (e.g. a notebook's FAST mode)."""
    if seeds is not None:
        seeds = [V.integer("seeds", x, 0) for x in seeds]
    keep = [c for c in configs if seeds is None or c.seed in seeds]
    if middle_lr_only:
        grids: dict[str, list] = {}
        for c in keep:
            grids.setdefault(arm_of({"name": c.run_name}), []).append(c.lr)
        mid = {a: sorted(set(v))[(len(set(v)) - 1) // 2] for a, v in grids.items()}
        keep = [c for c in keep if c.lr == mid[arm_of({"name": c.run_name})]]
    if not keep:
        raise ValueError(f"seeds must select at least one run, got {seeds!r}")
    return keep


def run_experiment(kind: str, configs: list, *, progress_out=sys.stdout) -> Path:
    r"""Train every config (a non-finite loss is recorded by the run directory, not raised: the
    fp8 experiment expects divergence), then :func:`summarize`. Returns the experiment directory."""
    from convexlab.llm.train import NonFiniteLossError, final_summary, train

    if not configs:
        raise ValueError("configs must hold at least one TrainConfig")
    exp_dirs = {str(Path(c.out_dir)) for c in configs}
    if len(exp_dirs) != 1:
        raise ValueError(f"configs must share one out_dir, got {sorted(exp_dirs)!r}")
    for cfg in configs:
        try:
            d = train(cfg)
            print(f"run {cfg.run_name}: {d}\n{final_summary(d)}", file=progress_out)
        except NonFiniteLossError as err:
            print(f"run {cfg.run_name}: stopped, non-finite ({err.step}): {err}", file=progress_out)
    exp_dir = Path(next(iter(exp_dirs)))
    summarize(kind, exp_dir)
    return exp_dir


def build_parser():
    """The parser of ``convexlab experiment`` (the grammar of :mod:`convexlab._cli`). Options it does
    not know are ``convexlab train`` options (:func:`convexlab.llm.train.build_parser`) applied to every run."""
    from convexlab import _cli

    p = _cli.parser(
        "experiment",
        "Run the runs of a GPT experiment preset (configs/<kind>_<preset>.json) with convexlab train, then "
        "write summary.json and summary.md into the experiment directory.",
        usage="convexlab experiment {fp8,anytime,softstar} [--preset cpu|gpu | --config PATH] [--out DIR] "
              "[--run NAME[,NAME...]] [--seeds N[,N...]] [--middle-lr] [--scale X] [--summarize-only] [--estimate [--mfu X]] "
              "[--threads N] "
              "[convexlab train options ...]",
        epilog="Any other option is a `convexlab train` option (see `convexlab train --help`) applied to every "
               "run, e.g. --device cpu --max-steps 40 --no-progress.\n"
               "examples:\n"
               "  convexlab experiment fp8 --preset cpu\n"
               "  convexlab experiment anytime --preset cpu --scale 0.1 --out runs/anytime_quick\n"
               "  convexlab experiment fp8 --out runs/fp8_cpu --summarize-only\n"
               "  convexlab experiment fp8 --preset gpu --seeds 0 --data 'shards/train_*.bin'\n"
               "  convexlab experiment anytime --preset gpu --estimate --mfu 0.35",
        allow_abbrev=False)
    p.add_argument("kind", choices=EXPERIMENTS, help="the experiment: " + ", ".join(EXPERIMENTS))
    p.add_argument("--preset", choices=PRESET_SIZES, default="cpu",
                   help="size of the preset configs/<kind>_<preset>.json: cpu (toy model) or gpu (124M) (default cpu)")
    p.add_argument("--config", metavar="PATH", help="a preset file instead of --preset")
    p.add_argument("--out", metavar="DIR", help="experiment directory (default: the preset's out_dir)")
    _cli.add_list(p, "run", help="run only these runs of the preset, by run_name (commas and/or spaces; default: all)")
    _cli.add_list(p, "seeds", metavar="N",
                  help="run only the runs of these seeds of a sweep preset (commas and/or spaces; default: all)")
    _cli.add_flag(p, "middle-lr", default=False,
                  help="run only the middle lr of each arm's lr grid (a quick look at every arm; default: the grid)")
    p.add_argument("--scale", type=_positive_float("--scale"), metavar="X",
                   help="multiply every step count of the preset by X > 0 (e.g. 0.1 for a quick look)")
    _cli.add_flag(p, "summarize-only", default=False,
                  help="only summarize the existing run directories of the experiment directory (default: run first)")
    _cli.add_flag(p, "estimate", default=False,
                  help="train nothing: print the selected runs' tokens, Chinchilla multiples and GPU-hours at an "
                       "assumed MFU (convexlab.llm.estimate)")
    p.add_argument("--mfu", type=_positive_float("--mfu"), metavar="X", default=None,
                   help="model-FLOPs utilization assumed by --estimate, in (0, 1] (default 0.40)")
    p.add_argument("--threads", type=argparse_int_at_least("", 0), metavar="N", default=None,
                   help="torch threads of every run on a CPU (convexlab train --threads; 0: one for the toy model, "
                        "else torch's default; default: the preset's)")
    return p


def _positive_float(option: str):
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            v = math.nan
        if not (math.isfinite(v) and v > 0):
            raise argparse.ArgumentTypeError(f"{option} must be a finite number > 0, got {text!r}")
        return v

    return parse


def main(argv: list[str] | None = None) -> int:
    """Command line (module docstring). Returns 0, or 2 on bad arguments."""
    argv = sys.argv[1:] if argv is None else list(argv)
    p = build_parser()
    args, rest = p.parse_known_args(argv)
    overrides = list(rest) + ([f"--threads={args.threads}"] if args.threads is not None else [])
    try:
        configs = preset_configs(args.kind, args.preset, args.config, args.out, args.run, overrides, args.scale)
        if args.seeds is not None or args.middle_lr:
            seeds = None
            if args.seeds is not None:
                bad = [x for x in args.seeds if not x.isdigit()]
                if bad:
                    raise ValueError(f"--seeds must list integers >= 0, got {bad[0]!r}")
                seeds = [int(x) for x in args.seeds]
            configs = subset_configs(configs, seeds, args.middle_lr)
        if args.estimate:
            from convexlab.llm.estimate import DEFAULT_MFU, estimate, estimate_markdown

            est = estimate(configs, mfu=DEFAULT_MFU if args.mfu is None else args.mfu)
            print(estimate_markdown(est, f"{args.kind} ({args.config or args.preset + ' preset'})"), end="")
            return 0
        if args.mfu is not None:
            raise ValueError("--mfu is the assumption of --estimate; give --estimate too")
        if args.summarize_only:
            exp_dir = Path(configs[0].out_dir)
            summarize(args.kind, exp_dir)
        else:
            exp_dir = run_experiment(args.kind, configs)
    except ValueError as err:
        print(f"convexlab experiment: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    print((exp_dir / "summary.md").read_text())
    print(f"summary: {exp_dir / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
