r"""SF-NorMuon's GPT experiment with its controls (notebook 20): anytime training, decay placement,
the μ and row-normalization ablations, SF-AdamW without decay, the gap to cosine NorMuon, and the lr
sweep of SF-NorMuon against SF-AdamW (Fig. 5).

Paper: Apte et al., "Anytime Training with Schedule-Free Spectral Optimization", arXiv 2605.23061
(SF-NorMuon): Fig. 1 (one SF-NorMuon configuration matches or beats AdamW + cosine tuned per horizon)
[P], Fig. 2 (decay placement; SF-AdamW without decay diverges) [P], Fig. 3 (μ = 0 raises the final
loss 3.14 → 3.28; row normalization off: a smaller gap) [P], the v2 abstract's remaining gap of
≈ 0.03 nats to horizon-aware cosine NorMuon [SFN-BASELINES]. The protocol at our scale is the
project's reconstruction [I] (SF-NorMuon [SFN-PLAN]); the runs are the presets
``configs/anytime_{cpu,gpu}.json`` of ``convexlab experiment anytime`` and the summary is
``convexlab.llm.experiments.summarize_anytime`` (per-seed values kept, so that every difference
below is paired by seed: seed s fixes the initialisation, the data order and the optimizer's
generator, the same for every arm).

Intervals: mean ± 3 standard errors of the per-seed differences (se = s/√n, n − 1 in s) [D]. Every
verdict needs ≥ :data:`MIN_SEEDS` seeds on both sides, else it is *inconclusive*; a reduced (FAST)
run is always *inconclusive*. The rules, fixed before the runs ([D]; "tol" in nats):

=====================================================  ==============================================
row                                                    rule (d paired over seeds)
=====================================================  ==============================================
``sf_normuon.anytime_llm``                             d_h = SF-NorMuon (at x) − AdamW + cosine tuned
                                                       at horizon h: supported iff hi(d_h) ≤ 0.02 at
                                                       every h and no tuned lr at a grid end; not
                                                       supported iff lo(d_h) > 0.02 at some h
``sf_normuon.gap_to_cosine_normuon``                   the same with NorMuon + cosine tuned per h
``sf_normuon.momentum_ablation``                       d = final(μ = 0) − final(μ = 0.8): supported
                                                       iff lo(d) > 0.01; not supported iff hi(d) < 0.01
``sf_normuon.rownorm_ablation``                        the same with row normalization off
``sf_normuon.decay_placement_llm``                     d = final(x) − final(z): supported iff z never
                                                       diverged and (x diverged in every seed or lo(d)
                                                       > 0.01); not supported iff z diverged where x
                                                       did not, or lo(−d) > 0.01, or (longest horizon
                                                       ≥ 1× Chinchilla, x never diverged and hi(d) <
                                                       0.01)
``sf_normuon.sf_adamw_diverges_without_decay``         d = final(no decay) − final(decay at y), rise =
                                                       final − own minimum of the no-decay run:
                                                       supported iff no decay diverged in every seed
                                                       and decay in none, or lo(d) > 0.01 and
                                                       lo(rise) > 0.01; not supported iff the longest
                                                       horizon ≥ 1× Chinchilla, no seed diverged,
                                                       hi(d) < 0.01 and hi(rise) < 0.01
``sf_normuon.lr_robustness``                           per seed, spread = max − min final loss over the
                                                       lr multipliers {1/4, 1/2, 1, 2, 4} (a diverged
                                                       run is +inf, so its spread is inf); d =
                                                       spread(SF-AdamW) − spread(SF-NorMuon): supported
                                                       iff lo(d) > 0 (or SF-AdamW diverged at some
                                                       multiplier in every seed, SF-NorMuon never);
                                                       not supported iff hi(d) < 0 (or the mirror
                                                       image); an inf in some seeds only: inconclusive
=====================================================  ==============================================

The two stability rows read "not supported" only from runs of at least 1× Chinchilla (20 tokens per
parameter): a short run that stays stable says nothing about a long one; a divergence, in contrast,
is evidence at any length. The tuned baselines are picked on the validation split that also reports
their loss (the harness has no third split), which favours the baselines (against the SF claims).

=====================================  ===============================================================
function                               used by
=====================================  ===============================================================
:func:`run_anytime`                    20: the preset's runs (one thread), then the summary
:func:`verdicts`                       20: the seven ledger rows (the ``*_verdict`` functions)
:func:`scale_text`                     20: the ``scale`` of every record
:func:`plot_anytime`                   20: the anytime curves, the paired ablation differences, the lr sweep
=====================================  ===============================================================
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Sequence

from convexlab import _validation as V
from convexlab.lab.threads import torch_threads
from convexlab.lab import sweeps as SW
from convexlab.llm.experiments import LR_SWEEP_MULTIPLIERS, mean_interval

#: seeds every compared arm needs for a verdict
MIN_SEEDS = 3
#: half-width of the intervals in standard errors
K_SE = 3.0
#: SF-NorMuon "matches" a tuned baseline when it is at most this much higher (nats) [D]
MATCH_TOL = 0.02
#: smallest loss difference (nats) read as an effect of an ablation at our scale [D]
EFFECT_TOL = 0.01
#: tokens per parameter of 1× Chinchilla (Hoffmann et al. 2022; SF-NorMuon [SFN-PLAN] horizons)
CHINCHILLA = 20.0

ROWS = ("sf_normuon.anytime_llm", "sf_normuon.gap_to_cosine_normuon", "sf_normuon.momentum_ablation",
        "sf_normuon.rownorm_ablation", "sf_normuon.decay_placement_llm", "sf_normuon.sf_adamw_diverges_without_decay",
        "sf_normuon.lr_robustness")
#: the lr multipliers of the Fig. 5 sweep (relative to each method's default lr) every seed needs
LR_MULTIPLIERS = LR_SWEEP_MULTIPLIERS


# ---------------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------------
def run_anytime(out_dir, preset: str = "cpu", *, scale: float | None = None, overrides: Sequence[str] = (),
                runs: Sequence[str] | None = None, threads: int = 1) -> dict:
    r"""Train the runs of ``configs/anytime_<preset>.json`` into ``out_dir`` (``--scale`` and
    ``convexlab train`` ``overrides`` as in ``convexlab experiment``) with torch pinned to
    ``threads`` intra-op threads (restored afterwards), then return the summary
    (``convexlab.llm.experiments.summarize``, also written to ``out_dir``)."""
    from convexlab.llm import experiments as ex

    V.one_of("preset", preset, ex.PRESET_SIZES)
    V.integer("threads", threads, 1)
    over = [f"--num_threads={threads}", "--progress=false", *overrides]
    configs = ex.preset_configs("anytime", preset, out=str(out_dir), runs=runs, overrides=over, scale=scale)
    with torch_threads(threads):
        ex.run_experiment("anytime", configs, progress_out=io.StringIO())
    return ex.summarize("anytime", Path(out_dir))


# ---------------------------------------------------------------------------------------------
# intervals
# ---------------------------------------------------------------------------------------------
def interval(values: Sequence[float | None]) -> dict:
    r"""Mean ± :data:`K_SE` standard errors of ``values`` (None dropped):
    :func:`convexlab.llm.experiments.mean_interval` (an infinite value, a diverged run, gives an infinite mean
    and lo = hi = mean; one value gives se = 0; none gives every field None and n = 0)."""
    return mean_interval([v for v in values if v is not None], K_SE)


def paired(a: dict, b: dict) -> dict:
    r""":func:`interval` of a[s] − b[s] over the seeds s both dicts hold with a value (paired by seed)."""
    return interval([a[s] - b[s] for s in a if s in b and a[s] is not None and b[s] is not None])


def _iv(d: dict, signed: bool = True) -> str:
    if d["mean"] is None:
        return "n/a (no common seed)"
    f = (lambda v: f"{v:+.4f}") if signed else (lambda v: f"{v:.4f}")
    if d["se"] is None:
        return f"{f(d['mean'])} (a seed diverged; n={d['n']})"
    return f"{f(d['mean'])} [{f(d['lo'])}, {f(d['hi'])}] (n={d['n']})"


def _check(summary) -> dict:
    if not isinstance(summary, dict) or summary.get("experiment") != "anytime":
        raise ValueError(f"summary must be an anytime experiment summary (summarize_anytime), got "
                         f"{type(summary).__name__}{'' if not isinstance(summary, dict) else ' of ' + repr(summary.get('experiment'))}")
    return summary


def _arm(summary: dict, role: str, lr=None) -> dict | None:
    """The arm with ``role`` (at ``lr`` when given and present, else the main arm's lr, else any)."""
    arms = [a for a in summary.get("arms", {}).values() if a["role"] == role]
    for want in (lr, (summary["arms"].get(summary.get("main_arm") or "") or {}).get("lr")):
        hit = [a for a in arms if want is not None and a["lr"] == want]
        if hit:
            return hit[0]
    return arms[0] if arms else None


def _finals(arm: dict) -> dict:
    return {s: v["final"] for s, v in arm["per_seed"].items()}


def _at(arm: dict, i: int) -> dict:
    return {s: v["curve"][i] for s, v in arm["per_seed"].items()}


def _diverged(arm: dict) -> int:
    return sum(bool(v["diverged"]) for v in arm["per_seed"].values())


def chinchilla_multiple(summary: dict) -> float | None:
    """Tokens of the longest horizon over 20 × the model's parameters (None if unknown)."""
    sc = summary.get("scale") or {}
    toks = [t for t in sc.get("horizon_tokens") or [] if t]
    if not toks or not sc.get("num_params"):
        return None
    return max(toks) / (CHINCHILLA * sc["num_params"])


# ---------------------------------------------------------------------------------------------
# the verdicts
# ---------------------------------------------------------------------------------------------
def _horizon_verdict(summary: dict, tuned_key: str, name: str, reduced: bool, tol: float):
    tol = V.nonnegative_finite("tol", tol)
    crit = (f"d_h = SF-NorMuon at x (one run per seed, read at each horizon h) − {name} + cosine with the lr tuned at "
            f"h, paired over ≥ {MIN_SEEDS} seeds: mean + {K_SE:g}se ≤ {tol:g} nats at every h and no tuned lr at a "
            f"grid end (supported); mean − {K_SE:g}se > {tol:g} at some h (not supported); otherwise inconclusive")
    main = summary.get("arms", {}).get(summary.get("main_arm") or "")
    tuned = summary.get(tuned_key) or []
    if main is None or not tuned:
        return SW.finish_verdict("inconclusive", f"no {'SF-NorMuon' if main is None else name + ' + cosine'} runs", (), reduced) + (crit,)
    hs = summary["horizons"]
    parts, his, los, ns, edge = [], [], [], [], []
    for t in tuned:
        i = hs.index(t["horizon_steps"])
        d = paired(_at(main, i), t["per_seed"])
        sf = interval(list(_at(main, i).values()))
        parts.append(f"{t['multiple']:g}x ({t['horizon_steps']} steps, {t['tokens']:,} tokens): SF-NorMuon "
                     f"{_iv(sf, False)} vs {name} {t['best_val_loss']:.4f} (lr {t['best_lr']:g}"
                     f"{', grid end' if t['at_grid_edge'] else ''}) → d {_iv(d)}")
        his.append(d["hi"])
        los.append(d["lo"])
        ns.append(d["n"])
        if t["at_grid_edge"]:
            edge.append(t["horizon_steps"])
    few = len(tuned) < len(hs) or min(ns) < MIN_SEEDS
    if few:
        status = "inconclusive"
    elif any(lo is not None and lo > tol for lo in los):
        status = "not supported"
    elif all(hi is not None and hi <= tol for hi in his) and not edge:
        status = "supported"
    else:
        status = "inconclusive"
    numbers = (f"validation loss, mean [± {K_SE:g} s.e.] over seeds; " + "; ".join(parts)
               + f"; match tolerance {tol:g} nats"
               + (f"; tuned lr at a grid end at horizons {edge} (baseline possibly under-tuned)" if edge else "")
               + (f"; fewer than {MIN_SEEDS} paired seeds or a horizon without {name} runs" if few else ""))
    return SW.finish_verdict(status, numbers, (), reduced) + (crit,)


def anytime_verdict(summary: dict, reduced: bool = False, tol: float = MATCH_TOL) -> tuple[str, str, str]:
    r"""``sf_normuon.anytime_llm`` (Fig. 1 [P]): SF-NorMuon against AdamW + cosine tuned per horizon
    (module docstring). Returns (status, numbers, criterion); the numbers also give SF-AdamW's
    seed-mean gap (the paper: SF-AdamW lags)."""
    _check(summary)
    status, numbers, crit = _horizon_verdict(summary, "tuned_adamw", "AdamW", reduced, tol)
    sfa = [c.get("sf_adamw_gap") for c in summary.get("comparison", [])]
    if any(g is not None for g in sfa):
        numbers += "; SF-AdamW − tuned AdamW (seed means) " + ", ".join(
            f"{c['multiple']:g}x {c['sf_adamw_gap']:+.4f}" for c in summary["comparison"] if c.get("sf_adamw_gap") is not None)
    return status, numbers, crit


def gap_to_cosine_normuon_verdict(summary: dict, reduced: bool = False, tol: float = MATCH_TOL) -> tuple[str, str, str]:
    r"""``sf_normuon.gap_to_cosine_normuon`` ([SFN-BASELINES], Figs. 6–7; the v2 abstract's ≈ 0.03
    nats): SF-NorMuon against NorMuon + cosine tuned per horizon, the control that separates the
    schedule-free effect from the Muon-family effect (module docstring)."""
    _check(summary)
    return _horizon_verdict(summary, "tuned_normuon", "NorMuon", reduced, tol)


def _ablation_verdict(summary: dict, role: str, what: str, reduced: bool, tol: float):
    tol = V.nonnegative_finite("tol", tol)
    crit = (f"d = final validation loss ({what}) − SF-NorMuon default (μ = 0.8, row normalization, decay at z), paired "
            f"over ≥ {MIN_SEEDS} seeds: mean − {K_SE:g}se > {tol:g} nats (supported); mean + {K_SE:g}se < {tol:g} "
            f"(not supported); otherwise inconclusive")
    main = summary.get("arms", {}).get(summary.get("main_arm") or "")
    abl = _arm(summary, role)
    if main is None or abl is None:
        return SW.finish_verdict("inconclusive", f"no {'SF-NorMuon default' if main is None else what} runs", (), reduced) + (crit,)
    d = paired(_finals(abl), _finals(main))
    status = ("inconclusive" if d["n"] < MIN_SEEDS else "supported" if d["lo"] > tol else
              "not supported" if d["hi"] < tol else "inconclusive")
    numbers = (f"final validation loss at x after {abl['max_steps']} steps, mean [± {K_SE:g} s.e.]: {what} "
               f"{_iv(interval(list(_finals(abl).values())), False)} vs default "
               f"{_iv(interval(list(_finals(main).values())), False)}; paired d {_iv(d)}; diverged seeds "
               f"{_diverged(abl)}/{abl['n_seeds']} vs {_diverged(main)}/{main['n_seeds']}; effect threshold {tol:g} nats"
               + (f"; fewer than {MIN_SEEDS} paired seeds" if d["n"] < MIN_SEEDS else ""))
    return SW.finish_verdict(status, numbers, (), reduced) + (crit,)


def momentum_verdict(summary: dict, reduced: bool = False, tol: float = EFFECT_TOL) -> tuple[str, str, str]:
    r"""``sf_normuon.momentum_ablation`` (Fig. 3 left [P]: μ = 0 raises the final loss, 3.14 → 3.28)."""
    _check(summary)
    status, numbers, crit = _ablation_verdict(summary, "mu0", "μ = 0", reduced, tol)
    return status, numbers + "; paper: +0.14 nats (3.14 → 3.28) at 125M", crit


def rownorm_verdict(summary: dict, reduced: bool = False, tol: float = EFFECT_TOL) -> tuple[str, str, str]:
    r"""``sf_normuon.rownorm_ablation`` (Fig. 3 right [P], [SFN-PLAN]: row normalization off, still RMS-matched)."""
    _check(summary)
    return _ablation_verdict(summary, "no_row_norm", "row normalization off", reduced, tol)


def decay_placement_verdict(summary: dict, reduced: bool = False, tol: float = EFFECT_TOL) -> tuple[str, str, str]:
    r"""``sf_normuon.decay_placement_llm`` (Fig. 2 [P]): decay at z against decay at x, paired over
    seeds (module docstring); the other placements (y, none, all, z with the base lr) are reported."""
    _check(summary)
    tol = V.nonnegative_finite("tol", tol)
    crit = (f"d = final(decay at x) − final(decay at z), paired over ≥ {MIN_SEEDS} seeds: z diverged in no seed and (x "
            f"diverged in every seed or mean − {K_SE:g}se of d > {tol:g} nats) (supported); z diverged in a seed where x "
            f"did not, or mean − {K_SE:g}se of −d > {tol:g}, or (longest horizon ≥ 1× Chinchilla, x never diverged and "
            f"mean + {K_SE:g}se of d < {tol:g}) (not supported); otherwise inconclusive")
    main = summary.get("arms", {}).get(summary.get("main_arm") or "")
    x = _arm(summary, "decay_x")
    if main is None or x is None:
        return SW.finish_verdict("inconclusive", "placements z and x are both needed", (), reduced) + (crit,)
    d = paired(_finals(x), _finals(main))
    nd = paired(_finals(main), _finals(x))
    zs, xs = main["per_seed"], x["per_seed"]
    z_div = [s for s, v in zs.items() if v["diverged"]]
    x_div = [s for s, v in xs.items() if v["diverged"]]
    ch = chinchilla_multiple(summary)
    long_enough = ch is not None and ch >= 1.0
    if d["n"] < MIN_SEEDS:
        status = "inconclusive"
    elif not z_div and (len(x_div) == len(xs) or (d["lo"] is not None and d["lo"] > tol)):
        status = "supported"
    elif any(s not in x_div for s in z_div) or (nd["lo"] is not None and nd["lo"] > tol) or \
            (long_enough and not x_div and d["hi"] is not None and d["hi"] < tol):
        status = "not supported"
    else:
        status = "inconclusive"
    others = []
    for role, label in (("decay_y", "y"), ("decay_none", "none"), ("decay_all", "all"),
                        ("decay_z_base", "z with decay_lr=base")):
        a = _arm(summary, role)
        if a is not None:
            others.append(f"{label} − z {_iv(paired(_finals(a), _finals(main)))}, diverged {_diverged(a)}/{a['n_seeds']}")
    numbers = (f"final validation loss at x after {main['max_steps']} steps: z {_iv(interval(list(_finals(main).values())), False)}"
               f" (diverged {len(z_div)}/{len(zs)}), x {_iv(interval(list(_finals(x).values())), False)} (diverged "
               f"{len(x_div)}/{len(xs)}); paired x − z {_iv(d)}" + "".join("; " + o for o in others)
               + (f"; longest horizon {ch:.3g}× Chinchilla" if ch is not None else ""))
    numbers += f"; effect threshold {tol:g} nats" + (f"; fewer than {MIN_SEEDS} paired seeds" if d["n"] < MIN_SEEDS else "")
    return SW.finish_verdict(status, numbers, (), reduced) + (crit,)


def sf_adamw_decay_verdict(summary: dict, reduced: bool = False, tol: float = EFFECT_TOL) -> tuple[str, str, str]:
    r"""``sf_normuon.sf_adamw_diverges_without_decay`` (Fig. 2 left [P]; the dev log's x-loss climbing
    3.63 → 11.83 without decay [SFN-FIG2]): SF-AdamW without decay against decay at y (module docstring)."""
    _check(summary)
    tol = V.nonnegative_finite("tol", tol)
    crit = (f"no-decay SF-AdamW against decay at y (same lr), paired over ≥ {MIN_SEEDS} seeds, d = final(no decay) − "
            f"final(decay), rise = final − minimum of the no-decay run's own curve at x: no decay diverged in every seed "
            f"and decay in none, or mean − {K_SE:g}se > {tol:g} nats for both d and rise (supported); longest horizon "
            f"≥ 1× Chinchilla, no seed diverged and mean + {K_SE:g}se < {tol:g} for both (not supported); otherwise "
            f"inconclusive")
    dec = _arm(summary, "sfadamw")
    if dec is None:
        return SW.finish_verdict("inconclusive", "no SF-AdamW runs with decay", (), reduced) + (crit,)
    nod = _arm(summary, "sfadamw_nodecay", dec["lr"])
    if nod is None:
        return SW.finish_verdict("inconclusive", "no SF-AdamW runs without decay", (), reduced) + (crit,)
    d = paired(_finals(nod), _finals(dec))
    rise = interval([v["rise"] for v in nod["per_seed"].values()])
    n_div, d_div = _diverged(nod), _diverged(dec)
    ch = chinchilla_multiple(summary)
    if d["n"] < MIN_SEEDS:
        status = "inconclusive"
    elif (n_div == nod["n_seeds"] and d_div == 0) or (d["lo"] is not None and d["lo"] > tol and
                                                       rise["lo"] is not None and rise["lo"] > tol):
        status = "supported"
    elif ch is not None and ch >= 1.0 and n_div == 0 and d_div == 0 and d["hi"] is not None and d["hi"] < tol \
            and rise["hi"] is not None and rise["hi"] < tol:
        status = "not supported"
    else:
        status = "inconclusive"
    numbers = (f"SF-AdamW lr {dec['lr']:g}, {dec['max_steps']} steps, final validation loss at x: no decay "
               f"{_iv(interval(list(_finals(nod).values())), False)} (diverged {n_div}/{nod['n_seeds']}), decay "
               f"{dec['weight_decay']:g} at {dec['weight_decay_at']} {_iv(interval(list(_finals(dec).values())), False)} "
               f"(diverged {d_div}/{dec['n_seeds']}); paired d {_iv(d)}; no-decay rise above its minimum {_iv(rise)}"
               + (f"; longest horizon {ch:.3g}× Chinchilla" if ch is not None else "") + f"; effect threshold {tol:g} nats"
               + (f"; fewer than {MIN_SEEDS} paired seeds" if d["n"] < MIN_SEEDS else ""))
    return SW.finish_verdict(status, numbers, (), reduced) + (crit,)


def _sweep_seeds(method: dict) -> dict:
    """Seed → {multiplier: final} for the seeds that have every multiplier of :data:`LR_MULTIPLIERS`."""
    by_m = {float(e["multiplier"]): e["per_seed"] for e in method["multipliers"].values()}
    if not all(m in by_m for m in LR_MULTIPLIERS):
        return {}
    seeds = set.intersection(*(set(by_m[m]) for m in LR_MULTIPLIERS))
    return {s: {m: by_m[m][s] for m in LR_MULTIPLIERS} for s in sorted(seeds)
            if all(by_m[m][s] is not None for m in LR_MULTIPLIERS)}


def _spread(finals: dict) -> float:
    """max − min of one seed's final losses over the multipliers; inf when a run diverged (+inf)."""
    vals = list(finals.values())
    return math.inf if any(math.isinf(v) for v in vals) else max(vals) - min(vals)


def lr_robustness_verdict(summary: dict, reduced: bool = False) -> tuple[str, str, str]:
    r"""``sf_normuon.lr_robustness`` (Fig. 5 [P]: SF-NorMuon's final loss varies less over an lr sweep
    than SF-AdamW's; [SFN-PLAN] (f)). Per seed s and method, spread_s = max_m L_s(m) − min_m L_s(m)
    over m ∈ {1/4, 1/2, 1, 2, 4} × the default lr, L the final validation loss at x at the sweep's
    horizon (``summary["lr_sweep"]``, a diverged run +inf, so its spread is inf); d_s =
    spread_s(SF-AdamW) − spread_s(SF-NorMuon), paired by seed, mean ± 3 s.e. [D]: supported iff
    mean − 3se > 0, or SF-AdamW diverged at some multiplier in every seed and SF-NorMuon never; not
    supported iff mean + 3se < 0, or the mirror image (SF-NorMuon diverged in every seed, SF-AdamW
    never); otherwise inconclusive: fewer than :data:`MIN_SEEDS` seeds with all five multipliers on
    both sides, or a divergence in some seeds only (an infinite d makes mean ± 3se undefined)."""
    _check(summary)
    mults = "{" + ", ".join(f"{m:g}" for m in LR_MULTIPLIERS) + "}"
    crit = (f"per seed, spread = max − min final validation loss at x over lr × {mults} of each method's default (a "
            f"diverged run counts +inf, so its spread is inf); d = spread(SF-AdamW) − spread(SF-NorMuon), paired over "
            f"≥ {MIN_SEEDS} seeds: mean − {K_SE:g}se > 0, or SF-AdamW diverged at some multiplier in every seed while "
            f"SF-NorMuon never did (supported); mean + {K_SE:g}se < 0, or SF-NorMuon diverged at some multiplier in every "
            f"seed while SF-AdamW never did (not supported); otherwise inconclusive (also when a divergence in some "
            f"seeds only makes mean ± {K_SE:g}se undefined)")
    methods = (summary.get("lr_sweep") or {}).get("methods") or {}
    nm, aw = methods.get("SFNorMuon"), methods.get("SFAdamW")
    if nm is None or aw is None:
        missing = " and ".join(n for n, m in (("SF-NorMuon", nm), ("SF-AdamW", aw)) if m is None)
        return SW.finish_verdict("inconclusive", f"no {missing} lr-sweep runs", (), reduced) + (crit,)
    snm, saw = _sweep_seeds(nm), _sweep_seeds(aw)
    common = [s for s in snm if s in saw]
    sp_nm = {s: _spread(snm[s]) for s in common}
    sp_aw = {s: _spread(saw[s]) for s in common}
    ds = [sp_aw[s] - sp_nm[s] for s in common]
    d = interval(ds)
    div_aw = [s for s in common if math.isinf(sp_aw[s])]
    div_nm = [s for s in common if math.isinf(sp_nm[s])]
    finite = not div_aw and not div_nm  # with an inf, mean ± 3se is undefined: only the divergence clauses decide
    if len(common) < MIN_SEEDS:
        status = "inconclusive"
    elif (len(div_aw) == len(common) and not div_nm) or (finite and d["lo"] > 0):
        status = "supported"
    elif (len(div_nm) == len(common) and not div_aw) or (finite and d["hi"] < 0):
        status = "not supported"
    else:
        status = "inconclusive"

    def curve(name, method, seeds):
        pts, means = [], {}
        for e in method["multipliers"].values():  # every seed run at each multiplier, common or not
            vals = [v for v in e["per_seed"].values() if v is not None]
            iv, div = interval(vals), sum(math.isinf(v) for v in vals)
            pts.append(f"×{e['multiplier']:g} {_iv(iv, False)}" + (f" diverged {div}" if div else ""))
            if iv["mean"] is not None:
                means[float(e["multiplier"])] = iv["mean"]
        best = min(means, key=lambda m: (means[m], m)) if means else None
        return (f"{name} (default lr {method['default_lr']:g}, {method['horizon_steps']} steps): " + ", ".join(pts)
                + f"; spread {_iv(interval([_spread(seeds[s]) for s in common]), False)}"
                + (f"; lowest seed-mean loss at ×{best:g}" + (" (a sweep end: the default may sit off the optimum)"
                                                           if best in (LR_MULTIPLIERS[0], LR_MULTIPLIERS[-1]) else "")
                   if best is not None else ""))

    numbers = (f"final validation loss at x, mean [± {K_SE:g} s.e.] over seeds, by lr multiplier: "
               + curve("SF-NorMuon", nm, snm) + "; " + curve("SF-AdamW", aw, saw)
               + f"; paired d = spread(SF-AdamW) − spread(SF-NorMuon) {_iv(d)}"
               + (f"; {len(common)} seed(s) with all {len(LR_MULTIPLIERS)} multipliers on both sides, fewer than {MIN_SEEDS}"
                  if len(common) < MIN_SEEDS else ""))
    return SW.finish_verdict(status, numbers, (), reduced) + (crit,)


VERDICTS = {"sf_normuon.anytime_llm": anytime_verdict,
            "sf_normuon.gap_to_cosine_normuon": gap_to_cosine_normuon_verdict,
            "sf_normuon.momentum_ablation": momentum_verdict,
            "sf_normuon.rownorm_ablation": rownorm_verdict,
            "sf_normuon.decay_placement_llm": decay_placement_verdict,
            "sf_normuon.sf_adamw_diverges_without_decay": sf_adamw_decay_verdict,
            "sf_normuon.lr_robustness": lr_robustness_verdict}


def verdicts(summary: dict, reduced: bool = False) -> dict[str, tuple[str, str, str]]:
    """Every row of :data:`ROWS`: claim id → (status, numbers, criterion)."""
    _check(summary)
    return {cid: VERDICTS[cid](summary, reduced) for cid in ROWS}


def scale_text(summary: dict) -> str:
    """The ``scale`` of the ledger records: model and parameters, seeds, runs, horizons in steps and
    tokens, the longest as a multiple of Chinchilla, and the training tokens in all."""
    _check(summary)
    sc = summary.get("scale") or {}
    p = sc.get("num_params")
    ptxt = "?" if not p else f"{p / 1e6:.3g}M" if p >= 1e6 else f"{p / 1e3:.3g}k"
    toks = sc.get("horizon_tokens") or []
    ch = chinchilla_multiple(summary)
    return (f"{'/'.join(sc.get('models') or ['?'])} GPT, {ptxt} params; {len(sc.get('seeds') or [])} seeds; "
            f"{sc.get('n_runs')} runs; horizons " + "/".join(str(h) for h in summary["horizons"]) + " steps = "
            + "/".join(f"{t:,}" if t else "?" for t in toks) + " tokens"
            + (f" (longest {ch:.3g}× Chinchilla)" if ch is not None else "")
            + f"; {sc.get('total_tokens', 0):,} training tokens in all")


# ---------------------------------------------------------------------------------------------
# the figure
# ---------------------------------------------------------------------------------------------
def ablation_differences(summary: dict) -> list[tuple[str, dict]]:
    """(label, paired interval) of each control against its reference at the end of the run: the
    SF-NorMuon ablations − the default, SF-AdamW without decay − with decay."""
    _check(summary)
    main = summary.get("arms", {}).get(summary.get("main_arm") or "")
    out = []
    if main is not None:
        for role, label in (("mu0", "μ = 0"), ("no_row_norm", "no row norm"), ("decay_y", "decay y"),
                            ("decay_x", "decay x"), ("decay_none", "no decay"), ("decay_all", "decay all"),
                            ("decay_z_base", "z, base lr")):
            a = _arm(summary, role)
            if a is not None:
                out.append((label, paired(_finals(a), _finals(main))))
    dec = _arm(summary, "sfadamw")
    nod = _arm(summary, "sfadamw_nodecay", dec["lr"]) if dec else None
    if dec is not None and nod is not None:
        out.append(("SF-AdamW no decay", paired(_finals(nod), _finals(dec))))
    return out


def plot_anytime(summary: dict):
    r"""Left: validation loss against tokens — the per-horizon tuned AdamW and NorMuon + cosine (mean
    ± 3 s.e. over seeds) and the seed-mean anytime curves at x of SF-NorMuon and SF-AdamW. Right:
    the paired differences of the controls at the end of the run (mean ± 3 s.e.), with ±tol marked.
    Third panel: the lr sweep (Fig. 5), final loss against the lr multiplier for both methods."""
    from convexlab.plotting import new_figure

    _check(summary)
    fig, ax = new_figure(figsize=(16.5, 4.3))
    ax.remove()
    a1, a2, a3 = fig.add_subplot(1, 3, 1), fig.add_subplot(1, 3, 2), fig.add_subplot(1, 3, 3)
    lows = []
    for key, label, color in (("tuned_adamw", "AdamW + cosine, tuned per horizon", "#1b9e77"),
                              ("tuned_normuon", "NorMuon + cosine, tuned per horizon", "#7570b3")):
        pts = [(t["tokens"], interval(list(t["per_seed"].values()))) for t in summary.get(key) or []]
        pts = [(x, iv) for x, iv in pts if x and iv["mean"] is not None and math.isfinite(iv["mean"])]
        if pts:
            a1.errorbar([x for x, _ in pts], [iv["mean"] for _, iv in pts],
                        yerr=[K_SE * (iv["se"] or 0.0) for _, iv in pts], fmt="o-", ms=4, capsize=3, color=color,
                        label=label)
            lows += [iv["mean"] for _, iv in pts]
    for role, label, color in (("main", "SF-NorMuon (one run per seed, at x)", "#d95f02"),
                               ("sfadamw", "SF-AdamW (at x)", "#e7298a")):
        key = summary.get("main_arm") if role == "main" else summary.get("sf_adamw_arm")
        arm = summary.get("arms", {}).get(key or "")
        if arm and arm["mean_val"]:
            pts = [(t, v) for _, t, v in arm["mean_val"] if t and v is not None and math.isfinite(v)]
            a1.plot([t for t, _ in pts], [v for _, v in pts], color=color, lw=1.5, label=label)
    if lows:
        lo, hi = min(lows), max(lows)
        span = max(hi - lo, 0.05)
        a1.set_ylim(lo - 0.5 * span, hi + 1.0 * span)
    a1.set_xscale("log")
    a1.set_xlabel("training tokens")
    a1.set_ylabel("validation loss (nats)")
    a1.set_title("anytime: one SF run vs per-horizon tuned cosine")
    a1.legend(fontsize=8, loc="upper right")
    diffs = [(lab, iv) for lab, iv in ablation_differences(summary) if iv["mean"] is not None]
    ys = list(range(len(diffs)))
    for y, (lab, iv) in zip(ys, diffs):
        m = iv["mean"] if math.isfinite(iv["mean"]) else 0.0
        a2.errorbar([m], [y], xerr=[[K_SE * (iv["se"] or 0.0)], [K_SE * (iv["se"] or 0.0)]], fmt="o", capsize=3,
                    color="#444444" if math.isfinite(iv["mean"]) else "#d73027")
    a2.set_yticks(ys)
    a2.set_yticklabels([lab for lab, _ in diffs])
    for x in (-EFFECT_TOL, 0.0, EFFECT_TOL):
        a2.axvline(x, color="#999999", lw=0.8, ls="-" if x == 0 else "--")
    a2.set_xlabel("paired Δ final validation loss vs reference (nats), mean ± 3 s.e.")
    a2.set_title("controls at the longest horizon (> 0: worse than reference)")
    _plot_lr_sweep(a3, summary)
    fig.tight_layout()
    return fig


def lr_sweep_curves(summary: dict) -> dict[str, list[tuple[float, dict, int]]]:
    r"""Fig. 5 [P]: per method (``"SFNorMuon"``, ``"SFAdamW"``), (lr multiplier, :func:`interval` of
    the per-seed final losses over the seeds without divergence, diverged seeds) per multiplier of
    ``summary["lr_sweep"]``."""
    _check(summary)
    out = {}
    for opt, m in ((summary.get("lr_sweep") or {}).get("methods") or {}).items():
        pts = []
        for e in m["multipliers"].values():
            vals = [v for v in e["per_seed"].values() if v is not None]
            pts.append((float(e["multiplier"]), interval([v for v in vals if math.isfinite(v)]),
                        sum(math.isinf(v) for v in vals)))
        out[opt] = pts
    return out


def _plot_lr_sweep(ax, summary: dict) -> None:
    """The lr-sweep panel: final loss against the lr multiplier (log2), mean ± 3 s.e. over the
    non-diverged seeds; a multiplier with a diverged seed is marked with an x at the top."""
    names = {"SFNorMuon": ("SF-NorMuon", "#d95f02"), "SFAdamW": ("SF-AdamW", "#e7298a")}
    curves = lr_sweep_curves(summary)
    for opt, pts in curves.items():
        label, color = names.get(opt, (opt, "#444444"))
        ok = [(m, iv) for m, iv, _ in pts if iv["mean"] is not None]
        if ok:
            ax.errorbar([m for m, _ in ok], [iv["mean"] for _, iv in ok],
                        yerr=[K_SE * (iv["se"] or 0.0) for _, iv in ok], fmt="o-", ms=4, capsize=3, color=color,
                        label=label)
        div = [m for m, _, n in pts if n]
        if div:
            ax.plot(div, [1.0] * len(div), "x", color=color, ms=8, transform=ax.get_xaxis_transform(),
                    label=f"{label}: a seed diverged")
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(LR_MULTIPLIERS))
    ax.set_xticklabels([f"{m:g}" for m in LR_MULTIPLIERS])
    h = {m.get("horizon_steps") for m in ((summary.get("lr_sweep") or {}).get("methods") or {}).values()}
    ax.set_xlabel("lr / default lr")
    ax.set_ylabel("final validation loss at x (nats), mean ± 3 s.e.")
    ax.set_title("lr sweep (Fig. 5)" + (f" at {h.pop()} steps" if len(h) == 1 else ""))
    if curves:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no lr-sweep runs", ha="center", va="center", transform=ax.transAxes)


__all__ = ["MIN_SEEDS", "K_SE", "MATCH_TOL", "EFFECT_TOL", "CHINCHILLA", "ROWS", "VERDICTS", "run_anytime", "interval",
           "paired", "chinchilla_multiple", "anytime_verdict", "gap_to_cosine_normuon_verdict", "momentum_verdict",
           "rownorm_verdict", "decay_placement_verdict", "sf_adamw_decay_verdict", "lr_robustness_verdict", "LR_MULTIPLIERS",
           "verdicts", "scale_text",
           "ablation_differences", "lr_sweep_curves", "plot_anytime"]
