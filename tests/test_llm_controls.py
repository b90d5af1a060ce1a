r"""The controls of the GPT experiments of issue 15 (item 1: FP8 and Soft*; item 6: the GPU presets).

* the sweep presets: every arm of ``configs/{fp8,softstar}_{cpu,gpu}.json`` has ≥ 3 learning rates ×
  3 seeds, the GPU presets ≥ 1B tokens per run, the Soft* controls (HardSwitch, SGDMomentum, α_sign
  and tmax arms) are there and scale with ``--scale``;
* the Figure 3/4 statistics of StoSignSGD logged by the training loop (``diagnostics_every``): off by
  default (no record), read-only (the same losses with and without), null with a reason for an
  optimizer without (m, σ);
* the summaries' arms, best lrs and paired intervals over seeds on synthetic runs, and the fp8 and
  softstar verdicts of ``claim_verdict`` in all three statuses (the other four rows' verdicts are
  tested in ``tests/test_claims_ledger.py``).
"""

from __future__ import annotations

import json
import math

import pytest

from convexlab.llm import experiments as ex
from convexlab.llm.config import TrainConfig
from convexlab.llm.train import apply_overrides, train


# ---------------------------------------------------------------------------------------------
# the presets
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["fp8", "softstar"])
@pytest.mark.parametrize("preset", ["cpu", "gpu"])
def test_every_main_arm_is_swept_over_three_lrs_and_three_seeds(kind, preset):
    cfgs = ex.preset_configs(kind, preset)
    grid: dict[str, dict] = {}
    for c in cfgs:
        arm = ex.arm_of({"name": c.run_name})
        grid.setdefault(arm, {}).setdefault(c.lr, set()).add(c.seed)
    assert all(seeds == {0, 1, 2} for g in grid.values() for seeds in g.values()), grid
    one_lr = {a for a, g in grid.items() if len(g) < 3}
    # only the Soft* ablation arms run at one lr (the reference arm's middle lr)
    assert one_lr == (set() if kind == "fp8" else {"softsignum_a0.3", "softsignum_a0.5", "softsignum_a0.7",
                                                   "softsignum_tmax1e9"})
    assert len({c.run_name for c in cfgs}) == len(cfgs)
    if preset == "gpu":
        c = cfgs[0]
        assert c.model == "124m" and c.max_steps * c.batch_size * c.grad_accum * 1024 >= 1e9


def test_softstar_preset_controls_and_alpha_sign():
    cfgs = {c.run_name: c for c in ex.preset_configs("softstar", "cpu")}
    hs = cfgs["hardswitch"]
    assert hs.optimizer == "HardSwitch" and hs.opt_kwargs["switch_iters"] == 270
    assert cfgs["sgdmomentum_lr0.3_s1"].optimizer == "SGDMomentum"
    for a in (0.3, 0.5, 0.7):
        k = cfgs[f"softsignum_a{a:g}_lr0.001_s2"].opt_kwargs
        assert k["sign_iters"] == round(a * 300) and k["sign_iters"] + k["transition_iters"] == 300
    assert cfgs["softsignum_tmax1e9"].opt_kwargs["tmax"] == 1e9
    scaled = {c.run_name: c for c in ex.preset_configs("softstar", "cpu", scale=0.4)}
    assert scaled["hardswitch"].opt_kwargs["switch_iters"] == 108  # the switch scales with the run
    assert scaled["softsignum_a0.3"].opt_kwargs["sign_iters"] == 36


def test_subset_configs_keeps_every_arm():
    fp8 = ex.subset_configs(ex.preset_configs("fp8", "cpu"), seeds=[0], middle_lr_only=True)
    # seed 0 at the middle lr is the arm's reference run, named by the arm alone
    assert sorted((c.run_name, c.lr, c.seed) for c in fp8) == [
        ("adamw", 3e-3, 0), ("adamw_bf16", 3e-3, 0), ("lion", 1e-3, 0), ("signum", 1e-3, 0), ("stosignsgd", 1e-3, 0)]
    soft = ex.subset_configs(ex.preset_configs("softstar", "cpu"), seeds=[0], middle_lr_only=True)
    assert len(soft) == 11 and {c.lr for c in soft if c.optimizer.startswith("SoftSignum")} == {1e-3}
    assert len(ex.subset_configs(ex.preset_configs("fp8", "cpu"), seeds=[1, 2])) == 40
    with pytest.raises(ValueError, match="seeds must select at least one run"):
        ex.subset_configs(ex.preset_configs("fp8", "cpu"), seeds=[9])
    with pytest.raises(ValueError, match="seeds must be"):
        ex.subset_configs(ex.preset_configs("fp8", "cpu"), seeds=[-1])


# ---------------------------------------------------------------------------------------------
# Figure 3/4 statistics in the training log
# ---------------------------------------------------------------------------------------------
def _tiny(tmp_path, name, optimizer, opt_kwargs, **kw):
    cfg = apply_overrides(None, dict(out_dir=str(tmp_path), run_name=name, device="cpu", num_threads=1, progress=False,
                                     model="toy", block_size=16, batch_size=2, max_steps=5, eval_every=0,
                                     eval_batches=1, checkpoint_every=0, precision="fp8", optimizer=optimizer,
                                     lr=1e-3, opt_kwargs=opt_kwargs, **kw))
    d = train(cfg)
    return [json.loads(ln) for ln in (d / "log.jsonl").read_text().splitlines() if ln.strip()]


def test_diagnostics_are_logged_at_their_cadence_and_change_nothing(tmp_path):
    sto = {"betas": [0.9, 1.0]}
    on = _tiny(tmp_path, "on", "StoSignSGD", sto, diagnostics_every=2, diagnostics_bins=6)
    off = _tiny(tmp_path, "off", "StoSignSGD", sto)
    assert [r["step"] for r in on if "diagnostics" in r] == [2, 4, 5]  # every 2 steps and the last
    assert not any("diagnostics" in r for r in off)                     # off by default: nothing logged
    # read-only: the same training losses bit for bit (the optimizer's noise generator is untouched)
    assert [r.get("loss") for r in on] == [r.get("loss") for r in off]
    d = on[-1]["diagnostics"]
    for g in d["noise"].values():
        assert 0 <= g["mean_noise"] <= 1 and g["violation_share"] == 0.0  # StoSignSGD: σ = envelope ≥ |m|
        assert len(g["m_abs_hist"]["edges"]) == 7 and g["m_abs_hist"]["edges"][0] == -12.0
    assert set(d["update_rms_pre_lr"]) == set(d["noise"]) and "unsupported" not in d


def test_diagnostics_of_an_optimizer_without_m_and_sigma_are_null_with_the_reason(tmp_path):
    recs = _tiny(tmp_path, "lion", "Lion", {"betas": [0.9, 0.99]}, diagnostics_every=5)
    d = recs[-1]["diagnostics"]
    assert d["noise"] is None and d["update_rms_pre_lr"] is None and "Lion" in d["unsupported"]["noise"]
    with pytest.raises(ValueError, match="diagnostics_every must be an integer >= 0, got -1"):
        TrainConfig(diagnostics_every=-1)


# ---------------------------------------------------------------------------------------------
# arms, best lrs and intervals
# ---------------------------------------------------------------------------------------------
def _run(name, optimizer, lr, seed, losses, precision="fp8", status="done", **kw):
    val = [(10 * i, 100 * i, v) for i, v in enumerate(losses)]
    return {"name": name, "dir": "", "val": val, "status": status, "summary": {"step": 7} if status != "done" else {},
            "table12": None, "records": [],
            "config": {"optimizer": optimizer, "precision": precision, "lr": lr, "seed": seed,
                       "max_steps": 10 * (len(losses) - 1), "opt_kwargs": kw.pop("opt_kwargs", {}), **kw}}


def test_arm_names_and_the_interval():
    assert ex.arm_of({"name": "adamw_bf16_lr0.003_s2"}) == "adamw_bf16"
    assert ex.arm_of({"name": "softsignum_a0.3_lr0.001_s0"}) == "softsignum_a0.3"
    assert ex.arm_of({"name": "adamw"}) == "adamw"
    iv = ex.mean_interval([1.0, 2.0, 3.0])
    assert iv["mean"] == 2.0 and iv["se"] == pytest.approx(1 / math.sqrt(3)) and iv["n"] == 3
    assert iv["lo"] == pytest.approx(2 - math.sqrt(3)) and iv["hi"] == pytest.approx(2 + math.sqrt(3))
    assert ex.mean_interval([2.5])["se"] == 0.0 and ex.mean_interval([])["n"] == 0
    assert ex.mean_interval([1.0, math.inf])["hi"] == math.inf


def test_best_lr_ranks_a_diverged_seed_last():
    runs = []
    for s in range(3):
        runs += [_run(f"a_lr0.001_s{s}", "AdamW", 1e-3, s, [5.0, 3.0]),
                 # lower mean loss, but one seed diverged: never the best
                 _run(f"a_lr0.003_s{s}", "AdamW", 3e-3, s, [5.0, 2.0 if s else 9.0]),
                 _run(f"a_lr0.01_s{s}", "AdamW", 1e-2, s, [5.0, 3.5])]
    arm = ex.group_arms(runs)["a"]
    assert ex.best_lr(arm) == 1e-3
    row = ex.arm_rows(runs)[1][0]
    assert row["best_lr"] == 1e-3 and row["at_grid_edge"] and row["diverged_by_lr"]["0.003"] == [1, 3]


def _fp8_sweep(adamw_final_by_lr, sto_div_seeds=()):
    runs = []
    for lr, finals in adamw_final_by_lr.items():
        for s, f in enumerate(finals):
            runs.append(_run(f"adamw_lr{lr:g}_s{s}", "AdamW", lr, s, [5.0, 4.0, f]))
    for lr in (3e-4, 1e-3, 3e-3):
        for s in range(3):
            bad = s in sto_div_seeds
            runs.append(_run(f"stosignsgd_lr{lr:g}_s{s}", "StoSignSGD", lr, s, [5.0, 4.0, 9.0 if bad else 3.0]))
            runs.append(_run(f"signum_lr{lr:g}_s{s}", "Signum", lr, s, [5.0, 4.0, 3.2]))
    return ex.summarize_fp8(runs)


DIVERGED = {1e-3: [9.0] * 3, 3e-3: [9.0] * 3, 1e-2: [9.0] * 3}


@pytest.mark.parametrize("summary, expected", [
    (_fp8_sweep(DIVERGED), "supported"),
    (_fp8_sweep({**DIVERGED, 1e-3: [3.1, 3.2, 3.1]}), "not supported"),   # one lr rescues AdamW in every seed
    (_fp8_sweep(DIVERGED, sto_div_seeds=(1,)), "not supported"),           # StoSignSGD diverges at every lr
    (_fp8_sweep({**DIVERGED, 1e-3: [3.1, 9.0, 9.0]}), "inconclusive"),     # AdamW survives in one seed of nine
])
def test_fp8_stability_verdict_reads_every_lr_and_seed(summary, expected):
    cid, status, numbers = ex.claim_verdict(summary, min_seeds=3)
    assert cid == "stosignsgd.fp8_pretraining_stability" and status == expected, numbers
    assert "diverged seeds by lr" in numbers and "(n=3)" in numbers
    assert ex.claim_verdict(summary, reduced=True, min_seeds=3)[1] == "inconclusive"


def test_fp8_stability_verdict_needs_the_seeds():
    one = ex.summarize_fp8([_run("adamw_lr0.001_s0", "AdamW", 1e-3, 0, [5.0, 9.0]),
                            _run("stosignsgd_lr0.001_s0", "StoSignSGD", 1e-3, 0, [5.0, 3.0])])
    assert ex.claim_verdict(one)[1] == "supported"  # min_seeds = 1: the single-run reading
    _, status, numbers = ex.claim_verdict(one, min_seeds=3)
    assert status == "inconclusive" and "fewer than 3 seeds" in numbers
    with pytest.raises(ValueError, match="min_seeds must be"):
        ex.claim_verdict(one, min_seeds=0)


def _softstar(soft_final, seeds=3, lrs=(3e-4, 1e-3, 3e-3)):
    r"""Signum, SoftSignum (the same until S = 8: identical curves there), HardSwitch, AdamW, and the
    α_sign and tmax arms at lr 1e-3; SoftSignum's final loss of seed s is ``soft_final[s]``."""
    runs = []
    S = {"sign_iters": 8, "transition_iters": 2}
    for lr in lrs:
        pen = 0.0 if lr == 1e-3 else 0.1
        for s in range(seeds):
            runs += [_run(f"signum_lr{lr:g}_s{s}", "Signum", lr, s, [5.0, 3.0, 2.9 + pen], precision="fp32"),
                     _run(f"softsignum_lr{lr:g}_s{s}", "SoftSignum", lr, s, [5.0, 3.0, soft_final[s] + pen],
                          precision="fp32", opt_kwargs=S),
                     _run(f"hardswitch_lr{lr:g}_s{s}", "HardSwitch", lr, s, [5.0, 3.0, 3.0 + pen], precision="fp32"),
                     _run(f"adamw_lr{lr * 3:g}_s{s}", "AdamW", lr * 3, s, [5.0, 3.0, 2.85 + pen], precision="fp32")]
    for s in range(seeds):
        for name, kw, fin in (("softsignum_a0.3", {"sign_iters": 6, "transition_iters": 14}, 2.95),
                              ("softsignum_tmax1e9", {**S, "tmax": 1e9}, soft_final[s] + 0.001)):
            runs.append(_run(f"{name}_lr0.001_s{s}", "SoftSignum", 1e-3, s, [5.0, 3.0, fin], precision="fp32",
                             opt_kwargs=kw))
    return ex.summarize_softstar(runs)


@pytest.mark.parametrize("soft, expected", [
    ([2.80, 2.81, 2.79], "supported"),        # 0.1 nats ahead of Signum in every seed
    ([2.97, 2.95, 2.96], "not supported"),    # 0.06 behind
    ([2.80, 3.00, 2.90], "inconclusive"),     # the interval spans ±0.01
])
def test_softstar_transition_verdict_is_paired_over_seeds(soft, expected):
    s = _softstar(soft)
    p = s["pairs"][0]
    assert p["soft"] == "softsignum" and p["hard"] == "signum" and p["lr"] == p["hard_lr"] == 1e-3
    assert p["before_step"] == 0 and p["hard_minus_soft_before_max_abs"] == 0.0
    cid, status, numbers = ex.claim_verdict(s, min_seeds=3)
    assert cid == "softsign.llm_transition" and status == expected, numbers
    assert "control hardswitch − softsignum" in numbers
    assert ex.claim_verdict(_softstar(soft[:1], seeds=1), min_seeds=3)[1] == "inconclusive"


def test_softstar_summary_controls_alpha_and_tmax():
    s = _softstar([2.80, 2.81, 2.79])
    ctrl = {c["control"]: c for c in s["controls"]}
    assert ctrl["hardswitch"]["control_lr"] == 1e-3 and ctrl["hardswitch"]["mean"] == pytest.approx(0.2, abs=1e-9)
    va = s["vs_adamw"][0]
    assert va["adamw_lr"] == pytest.approx(3e-3) and va["mean"] == pytest.approx(2.80 - 2.85, abs=0.011)
    a = s["alpha_ablation"][0]
    assert a["alpha_sign"] == pytest.approx(6 / 20) and a["reference"] == "softsignum" and a["n"] == 3
    assert a["mean"] == pytest.approx(2.95 - 2.80, abs=0.011)
    t = s["tmax"][0]
    assert t["tmax"] == 1e9 and t["reference_tmax"] == 20.0 and t["mean"] == pytest.approx(0.001)
    md = ex.to_markdown(s)
    assert "α_sign ablation" in md and "softsignum_tmax1e9" in md


def test_experiment_command_runs_a_subset_of_a_sweep(tmp_path, capsys):
    out = tmp_path / "fp8"
    tiny = ["--device=cpu", "--num_threads=1", "--progress=false", "--block_size=16", "--batch_size=2",
            "--eval_batches=1", "--max_steps=3", "--warmup_steps=1", "--eval_every=1", "--stats_step=2", "--diagnostics_every=3"]
    assert ex.main(["fp8", "--out", str(out), "--seeds", "0", "--middle-lr", *tiny]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert sorted(r["run"] for r in s["all_runs"]) == ["adamw", "adamw_bf16", "lion", "signum", "stosignsgd"]
    sto = next(r for r in s["runs"] if r["run"] == "stosignsgd")
    assert sto["diagnostics"]["mean_noise"] is not None and sto["diagnostics"]["violation_share"] == 0.0
    assert "Tokens to target" in (out / "summary.md").read_text()
    assert ex.main(["fp8", "--seeds", "x", "--summarize-only", "--out", str(out)]) == 2
    assert "--seeds must list integers >= 0, got 'x'" in capsys.readouterr().err
