"""The anytime experiment's verdicts (convexlab.lab.anytime_llm) on synthetic run sets: each of the seven
rows reaches all three statuses, the rules read seeds paired, and short runs cannot refute the
long-horizon stability claims."""

from __future__ import annotations

import math

import pytest

from convexlab.lab import anytime_llm as L
from convexlab.llm.experiments import summarize_anytime

SEEDS = (1, 2, 3)
HORIZONS = (10, 20)
BASE = {10: 3.0, 20: 2.8}
#: per-seed jitter patterns (different per arm, so that paired differences have a spread)
JIT = {"a": (0.0, 0.004, -0.003), "b": (0.002, -0.002, 0.001), "c": (-0.001, 0.003, 0.0), "w": (0.0, 0.04, -0.04),
       "zero": (0.0, 0.0, 0.0)}
#: lr sweeps: SF-NorMuon flat and SF-AdamW steep, the reverse, and both alike with a wide paired spread
FLAT, STEEP, ALIKE = dict(nm=0.02, aw=0.1, aw_jit="w"), dict(nm=0.1, aw=0.02, nm_jit="w"), dict(nm=0.05, aw=0.05, aw_jit="w")


def _run(name, opt, lr, steps, seed, points, *, sched="cosine", wd=0.0, kw=None, status="done", params=1000):
    val = [(0, 0, 5.0)] + [(s, 10 * s, v) for s, v in points]
    return {"name": name, "dir": "", "val": val, "status": status, "summary": {"step": points[-1][0] if points else 0},
            "table12": None, "records": [],
            "config": {"optimizer": opt, "lr": lr, "max_steps": steps, "seed": seed, "schedule_resolved": sched,
                       "weight_decay": wd, "opt_kwargs": dict(kw or {}), "model": "toy", "num_params": params,
                       "precision": "fp32"}}


def _sf(name, opt, lr, offset, jit, *, wd=0.05, kw=None, diverge=False, rise=0.0, params=1000):
    """One schedule-free arm, 3 seeds, read at both horizons: BASE + offset (+ rise at the end, after a
    dip); ``diverge``: stopped non-finite after the first horizon."""
    runs = []
    for i, s in enumerate(SEEDS):
        j = JIT[jit][i]
        pts = [(5, BASE[10] + 0.3 + j)] + [(h, BASE[h] + offset + j) for h in HORIZONS]
        if rise:
            pts = [(5, BASE[10] + 0.3 + j), (10, BASE[10] + offset + j), (15, BASE[20] + offset + j - rise),
                   (20, BASE[20] + offset + j)]
        if diverge:
            pts = pts[:2]
        runs.append(_run(f"{name}_s{i}", opt, lr, 20, s, pts, sched="constant", wd=wd, kw=kw,
                         status="nonfinite" if diverge else "done", params=params))
    return runs


def _cosine(opt, best, offset=0.0, lrs=(1e-3, 3e-3, 1e-2), jit="b", wd=0.0, params=1000):
    runs = []
    for h in HORIZONS:
        for lr in lrs:
            for i, s in enumerate(SEEDS):
                v = BASE[h] + offset + (0.0 if lr == best else 0.2) + JIT[jit][i]
                runs.append(_run(f"{opt.lower()}_cosine_{h}_lr{lr:g}_s{i}", opt, lr, h, s, [(h // 2, v + 0.3), (h, v)],
                                 wd=wd, params=params))
    return runs


def summary(*, sf=0.0, normuon=0.0, adamw_best=3e-3, mu0=0.1, rownorm=0.1, x=0.0, x_diverge=False, z_offset=0.0,
            nodecay=0.0, nodecay_rise=0.0, nodecay_diverge=False, params=1000, seeds=3, jit_mu0="c", sweep=None):
    """A synthetic anytime run set. Offsets are per arm, in nats, against the tuned AdamW (sf) or the SF
    default (the ablations); params=1 makes the 200-token horizon ≥ 1× Chinchilla."""
    runs = (_cosine("AdamW", adamw_best, params=params)
            + _cosine("NorMuon", 1e-2 / 2, offset=normuon, lrs=(2.5e-3, 5e-3, 1e-2), params=params))
    main = dict(kw={"weight_decay_at": "z"}, params=params)
    runs += _sf("sfnormuon", "SFNorMuon", 8e-3, sf + z_offset, "a", **main)
    runs += _sf("sfnormuon_mu0", "SFNorMuon", 8e-3, sf + mu0, jit_mu0, kw={"momentum": 0.0}, params=params)
    runs += _sf("sfnormuon_norownorm", "SFNorMuon", 8e-3, sf + rownorm, "c", kw={"row_norm": False}, params=params)
    runs += _sf("sfnormuon_decay_x", "SFNorMuon", 8e-3, sf + x, "c", kw={"weight_decay_at": "x"}, diverge=x_diverge,
                params=params)
    runs += _sf("sfnormuon_decay_none", "SFNorMuon", 8e-3, sf + x, "b", kw={"weight_decay_at": "none"}, params=params)
    runs += _sf("sfadamw", "SFAdamW", 1e-2, 0.05, "a", kw={"weight_decay_at": "y"}, params=params)
    runs += _sf("sfadamw_nodecay", "SFAdamW", 1e-2, 0.05 + nodecay, "c", kw={"weight_decay_at": "none"},
                diverge=nodecay_diverge, rise=nodecay_rise, params=params)
    if sweep is not None:
        runs += _sweep(sweep, sf + z_offset, params=params)
    keep = {str(s) for s in SEEDS[:seeds]}
    return summarize_anytime([r for r in runs if str(r["config"]["seed"]) in keep])


def _sweep(spec, nm_offset, *, params=1000):
    """lr-sweep runs (``<arm>_lrx<m>_s<i>``) at m ∈ {1/4, 1/2, 2, 4}: final = the default arm's loss at the
    sweep's horizon + k·|log2 m| (+ the jitter pattern at m = 4); ``spec``: {"nm": k, "aw": k, "nm_jit",
    "aw_jit", "steps", "aw_div" / "nm_div": (multiplier, seeds that diverge there)}."""
    h = spec.get("steps", 20)
    runs = []
    for arm, opt, lr0, off, key in (("sfnormuon", "SFNorMuon", 8e-3, nm_offset, "nm"), ("sfadamw", "SFAdamW", 1e-2, 0.05, "aw")):
        kw = {"weight_decay_at": "z" if opt == "SFNorMuon" else "y"}
        for m in (0.25, 0.5, 2.0, 4.0):
            for i, s in enumerate(SEEDS):
                v = BASE[h] + off + JIT["a"][i] + spec[key] * abs(math.log2(m))
                if m == 4.0:
                    v += JIT[spec.get(f"{key}_jit", "zero")][i]
                mult, div_seeds = spec.get(f"{key}_div", (None, ()))
                div = m == mult and i in div_seeds
                pts = [(h // 2, v + 0.3)] if div else [(h // 2, v + 0.3), (h, v)]
                runs.append(_run(f"{arm}_lrx{m:g}_s{i}", opt, lr0 * m, h, s, pts, sched="constant", wd=0.05, kw=kw,
                                 status="nonfinite" if div else "done", params=params))
    return runs


# -- the summary ----------------------------------------------------------------------------------
def test_summary_keeps_seeds_roles_and_tunes_per_horizon():
    s = summary()
    assert s["horizons"] == [10, 20] and s["main_arm"] == "main@0.008" and s["sf_adamw_arm"] == "sfadamw@0.01"
    roles = {a["role"] for a in s["arms"].values()}
    assert roles == {"main", "mu0", "no_row_norm", "decay_x", "decay_none", "sfadamw", "sfadamw_nodecay"}
    assert all(a["n_seeds"] == 3 for a in s["arms"].values())
    assert [t["best_lr"] for t in s["tuned_adamw"]] == [3e-3, 3e-3]
    assert [t["best_lr"] for t in s["tuned_normuon"]] == [5e-3, 5e-3]
    assert not any(t["at_grid_edge"] for t in s["tuned_adamw"])
    assert set(s["tuned_adamw"][0]["per_seed"]) == {"1", "2", "3"}
    assert [a["weight_decay_at"] for a in s["decay_ablation"]] == ["x", "none", "z"]
    assert s["comparison"][1]["sf_normuon_gap"] == pytest.approx(0.0, abs=0.01)


def test_lr_sweep_runs_stay_out_of_the_arms_and_read_the_default_at_the_sweep_horizon():
    base = summary()
    # SF-NorMuon at 2x the default lr is better than the default: it must not become the main arm
    s = summary(sweep=dict(nm=-0.05, aw=0.1, steps=10))
    assert s["main_arm"] == base["main_arm"] == "main@0.008" and s["sf_adamw_arm"] == "sfadamw@0.01"
    assert s["arms"].keys() == base["arms"].keys() and s["comparison"] == base["comparison"]
    assert s["decay_ablation"] == base["decay_ablation"] and s["tuned_adamw"] == base["tuned_adamw"]
    assert not any("_lrx" in n for n in s["sf_runs"]) and s["scale"]["n_runs"] == base["scale"]["n_runs"] + 24
    nm = s["lr_sweep"]["methods"]["SFNorMuon"]
    assert nm["default_lr"] == 8e-3 and nm["horizon_steps"] == 10
    assert list(nm["multipliers"]) == ["0.25", "0.5", "1", "2", "4"]
    one = nm["multipliers"]["1"]
    assert one["runs"] == ["sfnormuon_s0", "sfnormuon_s1", "sfnormuon_s2"]
    # the default arm (20 steps) is read at the sweep's 10 steps, not at its own end
    assert one["per_seed"]["1"] == pytest.approx(BASE[10] + JIT["a"][0])
    assert nm["multipliers"]["4"]["per_seed"]["1"] == pytest.approx(BASE[10] + JIT["a"][0] - 0.1)
    assert base["lr_sweep"]["methods"] == {}


def test_lr_sweep_divergence_is_inf_and_drawn():
    s = summary(sweep=dict(FLAT, aw_div=(4.0, (0, 1, 2))))
    aw = s["lr_sweep"]["methods"]["SFAdamW"]["multipliers"]["4"]["per_seed"]
    assert all(math.isinf(v) for v in aw.values())
    st, numbers, _ = L.lr_robustness_verdict(s)
    assert st == "supported" and "diverged 3" in numbers and "spread" in numbers
    curves = L.lr_sweep_curves(s)
    assert [m for m, _, _ in curves["SFAdamW"]] == [0.25, 0.5, 1.0, 2.0, 4.0]
    assert curves["SFAdamW"][-1][2] == 3 and curves["SFAdamW"][-1][1]["n"] == 0


def test_interval_and_paired():
    iv = L.interval([1.0, 2.0, 3.0])
    assert iv["mean"] == 2.0 and iv["se"] == pytest.approx(1 / math.sqrt(3)) and iv["hi"] == pytest.approx(2 + math.sqrt(3))
    assert L.paired({"1": 2.0, "2": 3.0, "9": 7.0}, {"1": 1.0, "2": 1.0})["n"] == 2
    inf = L.interval([1.0, math.inf])
    assert inf["mean"] == math.inf and inf["se"] is None
    assert L.interval([])["n"] == 0


# -- each row, three statuses ---------------------------------------------------------------------
CASES = {
    "sf_normuon.anytime_llm": [
        ("supported", dict(sf=-0.05)),
        ("not supported", dict(sf=0.2)),
        ("inconclusive", dict(sf=0.02)),           # the interval straddles the tolerance
        ("inconclusive", dict(sf=-0.05, adamw_best=1e-2)),  # tuned lr at a grid end: baseline possibly under-tuned
        ("inconclusive", dict(sf=-0.05, seeds=2)),
    ],
    "sf_normuon.gap_to_cosine_normuon": [
        ("supported", dict(sf=0.0, normuon=0.0)),
        ("not supported", dict(sf=0.0, normuon=-0.1)),
        ("inconclusive", dict(sf=0.0, normuon=-0.02)),
    ],
    "sf_normuon.momentum_ablation": [
        ("supported", dict(mu0=0.1)),
        ("not supported", dict(mu0=-0.05)),
        ("inconclusive", dict(mu0=0.01, jit_mu0="w")),
        ("inconclusive", dict(mu0=0.1, seeds=2)),
    ],
    "sf_normuon.rownorm_ablation": [
        ("supported", dict(rownorm=0.05)),
        ("not supported", dict(rownorm=0.0)),
        ("inconclusive", dict(rownorm=0.011)),
    ],
    "sf_normuon.decay_placement_llm": [
        ("supported", dict(x=0.1)),
        ("supported", dict(x_diverge=True)),
        ("not supported", dict(x=-0.1)),
        ("not supported", dict(x=0.0, params=1)),  # ≥ 1× Chinchilla and no difference
        ("inconclusive", dict(x=0.0)),             # a short run without a difference refutes nothing
    ],
    "sf_normuon.sf_adamw_diverges_without_decay": [
        ("supported", dict(nodecay_diverge=True)),
        ("supported", dict(nodecay=0.1, nodecay_rise=0.1)),
        ("not supported", dict(nodecay=0.0, params=1)),
        ("inconclusive", dict(nodecay=0.0)),
        ("inconclusive", dict(nodecay=0.1)),       # worse, but not rising: not a divergence
    ],
    "sf_normuon.lr_robustness": [
        ("supported", dict(sweep=FLAT)),
        ("supported", dict(sweep=dict(ALIKE, aw_div=(4.0, (0, 1, 2))))),   # SF-AdamW diverges in every seed
        ("supported", dict(sweep=dict(FLAT, steps=10))),                    # the sweep shorter than the default arm
        ("not supported", dict(sweep=STEEP)),
        ("not supported", dict(sweep=dict(ALIKE, nm_div=(0.25, (0, 1, 2))))),
        ("inconclusive", dict(sweep=ALIKE)),
        ("inconclusive", dict(sweep=dict(FLAT, aw_div=(4.0, (1,))))),       # one seed: mean ± 3se undefined
        ("inconclusive", dict(sweep=dict(ALIKE, aw_div=(4.0, (0, 1, 2)), nm_div=(4.0, (0,))))),
        ("inconclusive", dict(sweep=FLAT, seeds=2)),
        ("inconclusive", dict()),                                            # no sweep runs
    ],
}


@pytest.mark.parametrize("cid,expected,kw", [(cid, e, kw) for cid, cases in CASES.items() for e, kw in cases],
                         ids=lambda v: v if isinstance(v, str) else "-".join(f"{k}={x}" for k, x in v.items()))
def test_each_row_reaches_its_status(cid, expected, kw):
    s = summary(**kw)
    status, numbers, crit = L.VERDICTS[cid](s)
    assert status == expected, numbers
    assert "mean" in crit and ("se" in crit) and numbers
    red = L.VERDICTS[cid](s, reduced=True)
    assert red[0] == "inconclusive" and f"gives {expected!r}" in red[1]


def test_numbers_state_the_intervals_and_the_scale():
    s = summary(sf=-0.05)
    v = L.verdicts(s)
    assert set(v) == set(L.ROWS)
    assert "(n=3)" in v["sf_normuon.anytime_llm"][1] and "lr 0.003" in v["sf_normuon.anytime_llm"][1]
    assert "Chinchilla" in v["sf_normuon.decay_placement_llm"][1] and "none − z" in v["sf_normuon.decay_placement_llm"][1]
    text = L.scale_text(s)
    assert "1k params" in text and "3 seeds" in text and "200 tokens" in text and "0.01× Chinchilla" in text


def test_missing_arms_are_inconclusive_not_errors():
    runs = _cosine("AdamW", 3e-3)
    s = summarize_anytime(runs)
    for cid, (status, numbers, _) in L.verdicts(s).items():
        assert status == "inconclusive", (cid, numbers)


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match="summary must be an anytime experiment summary"):
        L.anytime_verdict({"experiment": "fp8"})
    with pytest.raises(ValueError, match="tol must be"):
        L.momentum_verdict(summary(), tol=-1.0)
    with pytest.raises(ValueError, match="preset must be one of"):
        L.run_anytime("/tmp/never", "tpu")


def test_figure_has_its_three_panels():
    fig = L.plot_anytime(summary(x_diverge=True, sweep=dict(FLAT, aw_div=(4.0, (1,)))))
    assert len(fig.axes) == 3
    assert {t.get_text() for t in fig.axes[2].get_legend().get_texts()} == {
        "SF-NorMuon", "SF-AdamW", "SF-AdamW: a seed diverged"}
    assert len(L.plot_anytime(summary()).axes) == 3  # no sweep: the panel says so
    labels = [t.get_text() for t in fig.axes[1].get_yticklabels()]
    assert "μ = 0" in labels and "SF-AdamW no decay" in labels
