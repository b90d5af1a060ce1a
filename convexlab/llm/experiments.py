r"""The three GPT experiments of issue 6 as commands: run a preset's runs, then summarize them.

``convexlab experiment {fp8,anytime,softstar} [--preset cpu|gpu | --config PATH] [--out DIR]
[--run NAME[,NAME...]] [--scale X] [--summarize-only] [--threads N] [convexlab train options ...]``
(:func:`build_parser`; also ``python -m convexlab.llm.experiments``) runs every run of the preset
``configs/<experiment>_<preset>.json`` through :func:`convexlab.llm.train.train` (any
``convexlab train`` option overrides every run, e.g. ``--device cpu``; ``--scale 0.1`` shortens
every step count of the preset proportionally), then writes ``summary.json`` and ``summary.md`` into
the experiment directory (the preset's ``out_dir``, or ``--out``). Each summary reads only the run
directories (``config.json``, ``log.jsonl``, ``summary.json``, ``table12_step<N>.json``), so it can
be recomputed from finished runs (``--summarize-only``).

* **fp8** (:func:`summarize_fp8`; StoSignSGD, arXiv 2604.15416, §3.1 and Table 12 [P], [SSG-FP8, SSG-TAB12, SSG-SPEEDUP]
  and [SSG-Q12, SSG-Q13, SSG-Q14]): AdamW, Signum (Alg. 5), Lion and StoSignSGD under the FP8 recipe, plus a bf16
  AdamW reference. Per run: final validation loss, divergence (:func:`divergence`), and the Table-12
  statistics at ``stats_step``. The **tokens-to-target ratio** (StoSignSGD [SSG-SPEEDUP] "Results" [P/S] and [SSG-Q14]):
  for a baseline b, target = b's final validation loss, tokens_b = the first tokens at which b's
  validation curve reaches the target, tokens_S = the same for StoSignSGD (linear interpolation
  between evaluations, :func:`tokens_to_target`); ratio = tokens_b / tokens_S (> 1: StoSignSGD
  needs fewer tokens; the paper reports 1.44× and 2.14× against Alg. 5 SignSGD and Lion [P]),
  reported against every baseline. A diverged baseline has no meaningful target (its ratio is
  None, with the reason).
* **anytime** (:func:`summarize_anytime`; SF-NorMuon, arXiv 2605.23061, Fig. 1 [P], [SFN-BASELINES, SFN-RESULTS, SFN-PLAN]
  [I]): AdamW + cosine runs grouped by horizon (their ``max_steps``), tuned per horizon = the best
  final validation loss over the lr grid; the envelope of those tuned values against the single
  SF-NorMuon run's validation curve (at x) read at every horizon; SF-AdamW with its lr tuned once,
  at the base horizon; the weight-decay placement ablation (decay at z, y, x: final loss at x).
* **softstar** (:func:`summarize_softstar`; Softsign, arXiv 2605.31371, [SS-EXP] [REV][3P], [SS-PLAN]
  E4 [D]): SoftSignum / SoftMuon against their hard counterparts Signum / Muon and AdamW: final
  validation loss, the difference to the hard counterpart before the transition step S (they are
  the same algorithm until S, so it should be ≈ 0) and at the end (the claim: Soft* pulls ahead
  after S).

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
# the three summaries
# ---------------------------------------------------------------------------------------------
def summarize_fp8(runs: list[dict]) -> dict:
    r"""The fp8 experiment's summary (module docstring): per-run final loss, divergence and overall
    Table-12 shares; the tokens-to-target ratio of the StoSignSGD run(s) against every other run of
    the same precision (and the other precisions, labelled); the Table-12 rows of AdamW."""
    rows = []
    for r in runs:
        stats = (r["table12"] or {}).get("overall", {})
        stored = stored_zero_shares(r["table12"]) if r["table12"] else {}
        rows.append({"run": r["name"], "optimizer": r["config"]["optimizer"], "precision": r["config"]["precision"],
                     "final_val_loss": final_val(r), "tokens": r["val"][-1][1] if r["val"] else None,
                     **{f"divergence_{k}": v for k, v in divergence(r).items()},
                     "stats_step": (r["table12"] or {}).get("step"),
                     "v_zeros_e4m3": stats.get("v_zeros"), "m_zeros_e4m3": stats.get("m_zeros"),
                     "max_stored_v_zeros": max(stored.values()) if stored else None,
                     "min_stored_v_zeros": min(stored.values()) if stored else None})
    methods = [r for r in runs if r["config"]["optimizer"] == FP8_METHOD]
    ratios = []
    for m in methods:
        for b in runs:
            if b is m or b["config"]["optimizer"] == FP8_METHOD:
                continue
            rec = tokens_ratio(b, m)
            rec["same_precision"] = b["config"]["precision"] == m["config"]["precision"]
            ratios.append(rec)
    adamw = [r for r in runs if r["config"]["optimizer"] == "AdamW" and r["config"]["precision"] == "fp8"]
    return {"experiment": "fp8", "runs": rows, "tokens_to_target": ratios,
            "table12": {r["name"]: table12_rows(r) for r in adamw},
            "notes": ["diverged: non-finite loss, or final validation loss above the loss at initialization [D]",
                      "v_zeros_e4m3/m_zeros_e4m3: share of zeros after rounding the state to E4M3 (train.py's "
                      "statistic); for an fp32/bf16 run it is what E4M3 storage would flush",
                      "max/min_stored_v_zeros: per-layer share of v coordinates that are zero as stored",
                      "ratio = tokens the baseline needs to reach its final validation loss / tokens "
                      f"{FP8_METHOD} needs to reach it (StoSignSGD [SSG-SPEEDUP, SSG-Q14])"]}


def _is_sf(run: dict) -> bool:
    return run["config"].get("schedule_resolved") == "constant" and run["config"]["optimizer"].startswith("SF")


def summarize_anytime(runs: list[dict], match_tol: float = MATCH_TOL) -> dict:
    r"""The anytime experiment's summary (module docstring). Horizons are the distinct ``max_steps``
    of the AdamW cosine runs; multiples are relative to the smallest. SF-NorMuon's main run is the
    one with ``weight_decay_at`` "z" (the default); the others form the decay ablation."""
    cos = [r for r in runs if r["config"]["optimizer"] == "AdamW" and r["config"]["schedule_resolved"] == "cosine"]
    horizons = sorted({r["config"]["max_steps"] for r in cos})
    if not horizons:
        raise ValueError("runs must contain AdamW cosine runs (the per-horizon baselines)")
    base = horizons[0]
    tuned = []
    for h in horizons:
        cands = [(final_val(r), r) for r in cos if r["config"]["max_steps"] == h and final_val(r) is not None]
        v, best = min(cands, key=lambda t: t[0])
        grid = sorted({r["config"]["lr"] for _, r in cands})
        tuned.append({"horizon_steps": h, "multiple": h / base, "tokens": best["val"][-1][1] if best["val"] else None,
                      "best_val_loss": v, "best_run": best["name"], "best_lr": best["config"]["lr"],
                      # a best lr at the end of the grid means the baseline may be under-tuned
                      "at_grid_edge": len(grid) < 3 or best["config"]["lr"] in (grid[0], grid[-1]),
                      "all": {r["name"]: final_val(r) for _, r in cands}})
    sf = [r for r in runs if _is_sf(r)]

    def curve(run):
        return [{"horizon_steps": h, "val_loss": val_at(run, h)} for h in horizons]

    nm = [r for r in sf if r["config"]["optimizer"] == "SFNorMuon"]
    main_nm = next((r for r in nm if r["config"]["opt_kwargs"].get("weight_decay_at", "z") == "z"), None)
    sfa = [r for r in sf if r["config"]["optimizer"] == "SFAdamW"]
    sfa_best = min(sfa, key=lambda r: val_at(r, base) if val_at(r, base) is not None else math.inf, default=None)
    comparison = []
    for t in tuned:
        h = t["horizon_steps"]
        row = {"multiple": t["multiple"], "horizon_steps": h, "tuned_adamw": t["best_val_loss"]}
        for key, run in (("sf_normuon", main_nm), ("sf_adamw", sfa_best)):
            v = val_at(run, h) if run is not None else None
            row[key] = v
            row[f"{key}_gap"] = (v - t["best_val_loss"]) if v is not None else None
        comparison.append(row)
    gaps = [c["sf_normuon_gap"] for c in comparison if c["sf_normuon_gap"] is not None]
    verdict = None
    if gaps and len(gaps) == len(comparison):
        verdict = "matches or beats" if max(gaps) <= match_tol else "behind"
    ablation = [{"run": r["name"], "weight_decay_at": r["config"]["opt_kwargs"].get("weight_decay_at", "z"),
                 "final_val_loss": final_val(r), "curve": curve(r), **divergence(r)} for r in nm]
    return {"experiment": "anytime", "horizons": horizons, "tuned_adamw": tuned,
            "sf_runs": {r["name"]: curve(r) for r in sf}, "sf_adamw_choice": sfa_best["name"] if sfa_best else None,
            "sf_normuon_run": main_nm["name"] if main_nm else None, "comparison": comparison,
            "max_gap_sf_normuon": max(gaps) if gaps else None, "match_tol": match_tol, "verdict": verdict,
            "decay_ablation": ablation,
            "notes": ["tuned_adamw: best final validation loss over the lr grid at each horizon (cosine to 0 "
                      "at that horizon)", "SF runs are read at x at each horizon from one long run",
                      "SF-AdamW lr chosen once, at the base horizon",
                      f"verdict 'matches or beats' iff SF-NorMuon - tuned AdamW <= {match_tol} nats at every "
                      "horizon [D]"]}


def summarize_softstar(runs: list[dict]) -> dict:
    r"""The Soft* experiment's summary (module docstring): final losses; for each Soft* run, the
    loss difference to its hard counterpart (SoftSignum → Signum, SoftMuon → Muon) at the last
    evaluation at or before the transition start S = ``sign_iters`` and at the end (hard − soft:
    > 0 means the soft run is ahead)."""
    by_opt = {r["config"]["optimizer"]: r for r in runs}
    rows = [{"run": r["name"], "optimizer": r["config"]["optimizer"], "final_val_loss": final_val(r),
             **{f"divergence_{k}": v for k, v in divergence(r).items()}} for r in runs]
    pairs = []
    for soft, hard in (("SoftSignum", "Signum"), ("SoftMuon", "Muon")):
        if soft not in by_opt or hard not in by_opt:
            continue
        s, h = by_opt[soft], by_opt[hard]
        S = s["config"]["opt_kwargs"].get("sign_iters")
        before = [st for st, _, _ in s["val"] if S is not None and st <= S]
        sb = before[-1] if before else None
        vs_b, vh_b = (val_at(s, sb), val_at(h, sb)) if sb is not None else (None, None)
        fs, fh = final_val(s), final_val(h)
        pairs.append({"soft": s["name"], "hard": h["name"], "transition_start": S, "before_step": sb,
                      "hard_minus_soft_before": (vh_b - vs_b) if None not in (vs_b, vh_b) else None,
                      "hard_minus_soft_final": (fh - fs) if None not in (fs, fh) else None,
                      "soft_final": fs, "hard_final": fh})
    adamw = by_opt.get("AdamW")
    return {"experiment": "softstar", "runs": rows, "pairs": pairs,
            "adamw_final": final_val(adamw) if adamw else None,
            "notes": ["hard_minus_soft > 0: the Soft* run has the lower validation loss",
                      "before the transition start S the soft and hard optimizers are the same algorithm"]}


#: claim ids recorded by notebook 12 (convexlab.theory.claims)
CLAIMS = {"fp8": "stosignsgd.fp8_pretraining_stability", "softstar": "softsign.llm_transition",
          "anytime": "sf_normuon.anytime_llm"}
#: a loss difference (nats) below this is not read as an effect at CPU scale [D]
EFFECT_TOL = 0.01


def claim_verdict(summary: dict, reduced: bool = False) -> tuple[str, str, str]:
    r"""(claim id, status, numbers) for one experiment summary, by criteria fixed in advance [D]:

    * fp8 (StoSignSGD abstract, §3.1 [P]: in FP8 pretraining AdamW fails catastrophically while
      StoSignSGD trains stably): *supported* iff fp8 AdamW diverged and StoSignSGD did not;
      *not supported* iff StoSignSGD diverged or fp8 AdamW did not. The speedup (1.44–2.14× against
      Alg. 5 SignSGD and Lion [P]) is a separate claim: its tokens-to-target ratios are reported in
      the numbers string, not judged here;
    * softstar (Softsign [SS-EXP] [REV]: Soft* tracks its hard counterpart, then pulls ahead):
      *supported* iff every pair is equal before S (|Δ| ≤ 1e−3) and hard − soft > ``EFFECT_TOL`` at
      the end; *not supported* iff some pair ends with hard − soft < −``EFFECT_TOL``;
    * anytime (SF-NorMuon Fig. 1 [P]: one SF-NorMuon run matches or beats AdamW tuned per horizon):
      *supported* iff the gap is ≤ ``MATCH_TOL`` at every horizon and no horizon's tuned lr lies at
      the edge of the lr grid (else the baseline may be under-tuned); *not supported* iff the gap
      is > 5·``MATCH_TOL`` at some horizon;

    otherwise *inconclusive*. ``reduced=True`` (shortened runs, e.g. a notebook's FAST mode) makes
    every status *inconclusive*: the step counts are too small to test a pretraining claim; the
    numbers string says what the criterion would have given.
    """
    kind = summary["experiment"]
    if kind == "fp8":
        runs = {r["run"]: r for r in summary["runs"]}
        fa = [r for r in summary["runs"] if r["optimizer"] == "AdamW" and r["precision"] == "fp8"]
        st = [r for r in summary["runs"] if r["optimizer"] == FP8_METHOD]
        a_div = bool(fa) and all(r["divergence_diverged"] for r in fa)
        s_div = any(r["divergence_diverged"] for r in st)
        status = ("supported" if (a_div and st and not s_div) else
                  "not supported" if (s_div or (fa and not a_div)) else "inconclusive")
        numbers = ("final val loss " + ", ".join(f"{n} {_fmt(r['final_val_loss'])}" for n, r in runs.items())
                   + "; fp8 AdamW diverged: " + _fmt(a_div) + f"; {FP8_METHOD} diverged: " + _fmt(s_div)
                   + "; tokens-to-target ratio (baseline/StoSignSGD at the baseline's final loss; at StoSignSGD's "
                   "final loss): " + ", ".join(f"{t['baseline']} {_fmt(t['ratio'])}; {_fmt(t.get('ratio_at_method_final'))}"
                                               for t in summary["tokens_to_target"])
                   + " (speedup not judged here; paper: 1.44-2.14x at 124M/13.1B tokens)")
    elif kind == "softstar":
        pairs = summary["pairs"]
        eq = all(p["hard_minus_soft_before"] is not None and abs(p["hard_minus_soft_before"]) <= 1e-3 for p in pairs)
        fin = [p["hard_minus_soft_final"] for p in pairs]
        status = ("supported" if pairs and eq and all(f is not None and f > EFFECT_TOL for f in fin) else
                  "not supported" if any(f is not None and f < -EFFECT_TOL for f in fin) else "inconclusive")
        numbers = "; ".join(f"{p['soft']} vs {p['hard']}: hard-soft before S {_fmt(p['hard_minus_soft_before'])}, "
                            f"final {_fmt(p['hard_minus_soft_final'])} (soft {_fmt(p['soft_final'])}, hard "
                            f"{_fmt(p['hard_final'])})" for p in pairs) + \
            f"; AdamW final {_fmt(summary['adamw_final'])}; effect threshold {EFFECT_TOL} nats"
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


def to_markdown(summary: dict) -> str:
    """A Markdown report of one summary (the tables of :func:`summarize_fp8` and the others)."""
    kind = summary["experiment"]
    lines = [f"# GPT experiment: {kind}", ""]
    if kind == "fp8":
        lines += _table(["run", "optimizer", "precision", "final val loss", "diverged", "first bad step",
                         f"v zeros E4M3 (step {next((r['stats_step'] for r in summary['runs'] if r['stats_step']), '-')})",
                         "m zeros E4M3", "max stored v zeros (layer)"],
                        [(r["run"], r["optimizer"], r["precision"], r["final_val_loss"], r["divergence_diverged"],
                          r["divergence_first_step"], r["v_zeros_e4m3"], r["m_zeros_e4m3"], r["max_stored_v_zeros"])
                         for r in summary["runs"]])
        lines += ["", "Tokens to target (target = baseline's final validation loss):", ""]
        lines += _table(["baseline", "method", "target", "tokens baseline", "tokens method", "ratio",
                         "ratio at method's final loss", "note"],
                        [(t["baseline"], t["method"], t.get("target"), t.get("tokens_baseline"),
                          t.get("tokens_method"), t["ratio"], t.get("ratio_at_method_final"), t["note"])
                         for t in summary["tokens_to_target"]])
        for name, rows in summary["table12"].items():
            lines += ["", f"Table 12 ({name}):", ""]
            lines += _table(["layer", "v zeros %", "m zeros %", "stored v zeros %", "max|g|", "max g²"],
                            [(r["layer"], r["v_zeros_pct"], r["m_zeros_pct"], r["stored_v_zeros_pct"],
                              r["max_abs_grad"], r["max_grad_sq"]) for r in rows])
    elif kind == "anytime":
        lines += _table(["horizon", "steps", "tuned AdamW+cosine", "SF-NorMuon (one run)", "gap", "SF-AdamW", "gap"],
                        [(f"{c['multiple']:g}x", c["horizon_steps"], c["tuned_adamw"], c["sf_normuon"],
                          c["sf_normuon_gap"], c["sf_adamw"], c["sf_adamw_gap"]) for c in summary["comparison"]])
        lines += ["", f"Verdict (tolerance {summary['match_tol']} nats): {summary['verdict']}", "",
                  "Per-horizon lr grid (final validation loss):", ""]
        lines += _table(["horizon", "best lr", "at grid edge", "losses"],
                        [(t["horizon_steps"], t["best_lr"], t["at_grid_edge"], ", ".join(f"{k}: {_fmt(v)}" for k, v in t["all"].items()))
                         for t in summary["tuned_adamw"]])
        lines += ["", "Weight-decay placement (SF-NorMuon):", ""]
        lines += _table(["run", "decay at", "final val loss", "diverged"],
                        [(a["run"], a["weight_decay_at"], a["final_val_loss"], a["diverged"])
                         for a in summary["decay_ablation"]])
    elif kind == "softstar":
        lines += _table(["run", "optimizer", "final val loss", "diverged"],
                        [(r["run"], r["optimizer"], r["final_val_loss"], r["divergence_diverged"])
                         for r in summary["runs"]])
        lines += ["", "Soft* against its hard counterpart (hard − soft; > 0: soft ahead):", ""]
        lines += _table(["soft", "hard", "S", "eval step ≤ S", "Δ before S", "Δ final"],
                        [(p["soft"], p["hard"], p["transition_start"], p["before_step"],
                          p["hard_minus_soft_before"], p["hard_minus_soft_final"]) for p in summary["pairs"]])
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
STEP_KWARGS = ("sign_iters", "transition_iters", "warmup_steps")


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
              "[--run NAME[,NAME...]] [--scale X] [--summarize-only] [--threads N] [convexlab train options ...]",
        epilog="Any other option is a `convexlab train` option (see `convexlab train --help`) applied to every "
               "run, e.g. --device cpu --max-steps 40 --no-progress.\n"
               "examples:\n"
               "  convexlab experiment fp8 --preset cpu\n"
               "  convexlab experiment anytime --preset cpu --scale 0.1 --out runs/anytime_quick\n"
               "  convexlab experiment fp8 --out runs/fp8_cpu --summarize-only",
        allow_abbrev=False)
    p.add_argument("kind", choices=EXPERIMENTS, help="the experiment: " + ", ".join(EXPERIMENTS))
    p.add_argument("--preset", choices=PRESET_SIZES, default="cpu",
                   help="size of the preset configs/<kind>_<preset>.json: cpu (toy model) or gpu (124M) (default cpu)")
    p.add_argument("--config", metavar="PATH", help="a preset file instead of --preset")
    p.add_argument("--out", metavar="DIR", help="experiment directory (default: the preset's out_dir)")
    _cli.add_list(p, "run", help="run only these runs of the preset, by run_name (commas and/or spaces; default: all)")
    p.add_argument("--scale", type=_positive_float("--scale"), metavar="X",
                   help="multiply every step count of the preset by X > 0 (e.g. 0.1 for a quick look)")
    _cli.add_flag(p, "summarize-only", default=False,
                  help="only summarize the existing run directories of the experiment directory (default: run first)")
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
