"""The claims ledger says what each row tests (issue 15, item 5): the verdict rules of the rows fixed in
issue 15 on synthetic measurements, the rows added as "not run" with what would settle them, a settle-it
text for every LLM row, and "not run" kept distinct from "inconclusive"."""

import math

import pytest

from convexlab.llm import experiments as ex
from convexlab.theory import claims

BY_ID = {c.id: c for c in claims.CLAIMS}
#: rows added as pending in issue 15 and given evidence since (notebook number)
FORMER_PENDING = {"stosignsgd.sign_conversion_ablation": "19", "sf_normuon.momentum_ablation": "20",
                  "sf_normuon.rownorm_ablation": "20", "sf_normuon.sf_adamw_diverges_without_decay": "20",
                  "sf_normuon.gap_to_cosine_normuon": "20"}
NEW_WITH_EVIDENCE = {"stosignsgd.dimension_factor": "15", "stosignsgd.fp8_momentum_flush": "11", "stosignsgd.fp8_speedup": "12",
                     "softsign.improves_over_adamw": "12", "sf_normuon.decay_placement_llm": "20",
                     "stosignsgd.structural_noise": "19", "stosignsgd.update_rms": "19", "stosignsgd.cnn_test_loss": "18",
                     "stosignsgd.projected_sgd_heterogeneous": "15", "softsign.char_level_prediction": "16",
                     "softsign.node_prediction": "17", "softsign.alpha_sign_ablation": "12",
                     "softsign.tmax_training": "12", **FORMER_PENDING}


# ---- the ledger's rows -------------------------------------------------------------------------------------------
def test_new_rows_are_present_and_not_run_when_nothing_ran():
    for cid in NEW_WITH_EVIDENCE:
        assert cid in BY_ID, cid
    # no row of the ledger is pending any more: every headline claim has an experiment (issue 15)
    assert [c.id for c in claims.CLAIMS if c.pending] == []
    for cid, nb in NEW_WITH_EVIDENCE.items():
        c = BY_ID[cid]
        assert c.notebooks == (nb,) and not c.pending
        assert claims.status_of(c, {}, {}) == (claims.NOT_RUN, [f"not run in this run: notebook {nb}"])
        # its notebook ran but recorded nothing: that is evidence that failed, not "not run"
        assert claims.status_of(c, {}, {}, [f"{nb}_demo"])[0] == "inconclusive"


def test_every_llm_row_says_what_would_settle_it():
    llm = [c for c in claims.CLAIMS if c.llm]
    assert len(llm) >= 12
    for c in llm:
        assert c.settle and len(c.settle) > 40, c.id
    # every row evidenced by the toy GPT notebook is an LLM row, and so is every FP8 row
    for c in claims.CLAIMS:
        if "12" in c.notebooks or "fp8" in c.id:
            assert c.llm, c.id
    for c in claims.CLAIMS:
        if c.pending:
            assert c.settle, c.id


def test_fixed_rows_say_what_they_test():
    anytime = BY_ID["sf_normuon.anytime_single_configuration"]
    assert "SF-AdamW" in anytime.statement and "not SF-NorMuon" in anytime.statement and anytime.provenance == "D"
    assert "sf_normuon.anytime_llm" in anytime.note
    decay = BY_ID["sf_normuon.decay_at_fast_iterate"]
    assert "DER" in decay.provenance and "[DER]" in decay.statement and "sf_normuon.decay_placement_llm" in decay.note
    sign = BY_ID["stosignsgd.fp8_sign_updates_unaffected"]
    assert "bounded" in sign.statement and "1 %" not in sign.statement
    assert BY_ID["stosignsgd.fp8_momentum_flush"].provenance == "D"
    assert "Laplace" in BY_ID["softsign.quantile_schedule_linear"].statement
    assert BY_ID["stosignsgd.fp8_speedup"].notebooks == ("12",)


def test_claim_rejects_a_pending_row_without_settle_or_with_sources():
    with pytest.raises(ValueError, match="settle must be a non-empty string for a pending claim"):
        claims.Claim("x", "P", "§1", "P", "s", pending=True)
    with pytest.raises(ValueError, match="pending must be False for a claim with evidence sources"):
        claims.Claim("x", "P", "§1", "P", "s", notebooks=("12",), pending=True, settle="a GPU run")
    with pytest.raises(ValueError, match="settle must be None or a non-empty string, got ' '"):
        claims.Claim("x", "P", "§1", "P", "s", settle=" ")
    # a claim with no sources that is not pending keeps the old meaning: out of reach, inconclusive
    assert claims.status_of(claims.Claim("x", "P", "§1", "P", "s"), {}, {})[0] == "inconclusive"


def test_the_table_shows_settle_texts_and_counts_pending_rows_as_not_run(monkeypatch):
    rows = [claims.Claim("demo.pending", "P", "§5", "P", "an ablation", pending=True, llm=True,
                         settle="three seeds at 124M"),
            claims.Claim("demo.llm", "P", "§5", "P", "an LLM claim", notebooks=("12",), llm=True,
                         settle="the GPU preset", note="see row demo.pending")]
    monkeypatch.setattr(claims, "CLAIMS", rows)
    rec = dict(claims.record(None, "demo.llm", "inconclusive", "gap 0.003 nats", scale="toy GPT: 115k params, 1 seed"),
               notebook="12_gpt")
    md = claims.claims_markdown({"demo.llm": [rec]}, {}, [dict(notebook="12_gpt", seconds=1.0, verdict="pass")])
    assert "Totals: 0 supported, 0 not supported, 1 inconclusive, 1 not run" in md
    pending = md[md.index("### demo.pending"):md.index("### demo.llm")]
    assert "**not run**: an ablation" in pending and "- what would settle it: three seeds at 124M" in pending
    llm = md[md.index("### demo.llm"):md.index("## Notebooks")]
    assert "- what would settle it: the GPU preset" in llm and "- related evidence: see row demo.pending" in llm
    assert "scale: toy GPT: 115k params, 1 seed" in llm


# ---- softsign.quantile_schedule_linear ----------------------------------------------------------------------------
def test_schedule_linear_is_judged_off_the_fitted_model_too():
    status, crit = claims.schedule_linear_verdict({"Cauchy (model)": 0.004, "Laplace": 0.095, "Gaussian": 0.162}, 0.012)
    assert status == "not supported" and "every sample (Cauchy (model), Laplace, Gaussian)" in crit
    assert claims.schedule_linear_verdict({"Cauchy (model)": 0.004}, 0.012)[0] == "supported"
    assert claims.schedule_linear_verdict({"Cauchy": 0.004, "Laplace": 0.011}, 0.012)[0] == "supported"
    with pytest.raises(ValueError, match="deviations must be a non-empty dict"):
        claims.schedule_linear_verdict({}, 0.01)
    with pytest.raises(ValueError, match=r"deviations\['Laplace'\] must be a finite number >= 0.0, got nan"):
        claims.schedule_linear_verdict({"Laplace": math.nan}, 0.01)
    with pytest.raises(ValueError, match="allowance must be a finite number >= 0.0, got -1"):
        claims.schedule_linear_verdict({"Cauchy": 0.0}, -1)


# ---- stosignsgd.fp8_sign_updates_unaffected and fp8_momentum_flush -----------------------------------------------
def test_sign_updates_bounded_is_the_papers_reading():
    finals = {"Signum": 6.24, "StoSignSGD": 6.14}
    status, crit = claims.sign_updates_bounded_verdict({"Signum": 1.0, "StoSignSGD": 1.0000004}, finals)
    assert status == "supported" and "max |update|/lr ≤ 1 + 0.001" in crit
    assert claims.sign_updates_bounded_verdict({"Signum": 1.0, "StoSignSGD": 1.01}, finals)[0] == "not supported"
    assert claims.sign_updates_bounded_verdict({"Signum": 1.0, "StoSignSGD": 1.0},
                                               {"Signum": 6.2, "StoSignSGD": math.inf})[0] == "not supported"
    with pytest.raises(ValueError, match="final_loss must have the keys of max_update_over_lr"):
        claims.sign_updates_bounded_verdict({"Signum": 1.0}, {"Lion": 6.0})


def test_momentum_flush_is_its_own_finding():
    # notebook 11's full-size numbers: 94 % of m flushed, 44.6 % / 31.9 % of the sign updates changed
    status, crit = claims.momentum_flush_verdict(0.94, {"Signum": 0.446, "StoSignSGD": 0.319})
    assert status == "supported" and "m zeros > 50 %" in crit
    assert claims.momentum_flush_verdict(0.3, {"Signum": 0.446, "StoSignSGD": 0.319})[0] == "not supported"
    assert claims.momentum_flush_verdict(0.94, {"Signum": 0.446, "StoSignSGD": 0.005})[0] == "not supported"
    with pytest.raises(ValueError, match="changed must be a non-empty dict"):
        claims.momentum_flush_verdict(0.9, {})


# ---- stosignsgd.fp8_speedup ----------------------------------------------------------------------------------------
def _run(name, optimizer, lr, losses, precision="fp8", tokens_per_eval=1000, seed=1337):
    val = [(25 * i, tokens_per_eval * i, v) for i, v in enumerate(losses)]
    cfg = {"optimizer": optimizer, "precision": precision, "lr": lr, "num_params": 115_000, "seed": seed,
           "max_steps": 25 * (len(losses) - 1), "model": "toy"}
    return {"name": name, "config": cfg, "val": val, "status": "done", "summary": {}, "table12": None}


def _fp8_runs(sto, base, lrs=(1e-3,)):
    """StoSignSGD with loss curve ``sto`` and Signum, Lion with ``base`` at each lr (the second lr is worse)."""
    runs = []
    for k, lr in enumerate(lrs):
        worse = [v + 0.1 * k for v in base]
        runs += [_run(f"signum_{k}", "Signum", lr, worse), _run(f"lion_{k}", "Lion", lr, worse),
                 _run(f"stosignsgd_{k}", "StoSignSGD", lr, [v + 0.1 * k for v in sto])]
    runs.append(_run("adamw", "AdamW", 1e-3, [5.5, 6.0, 9.0, 40.0]))  # diverges under FP8
    return runs


SLOW = [5.5, 3.4, 2.9, 2.6]   # reaches the baselines' final loss only after their whole budget
BASE = [5.5, 3.0, 2.6, 2.4]
FAST = [5.5, 2.4, 2.2, 2.0]   # reaches 2.4 after a third of the tokens: ratio 3


def test_fp8_speedup_without_an_lr_sweep_reports_the_ratios_as_inconclusive():
    runs = _fp8_runs(SLOW, BASE)
    status, numbers, crit = claims.fp8_speedup_verdict(ex.summarize_fp8(runs), runs)
    assert status == "inconclusive" and "one lr per method: no per-method sweep" in numbers
    assert "signum_0 (Signum, fp8): never reaches its final loss; ratio at StoSignSGD's final loss 0.667" in numbers
    assert "adamw (AdamW, fp8): no ratio (baseline diverged" in numbers and "lr sweep per method" in crit


@pytest.mark.parametrize("sto, expected", [(FAST, "supported"), (SLOW, "not supported")])
def test_fp8_speedup_with_an_lr_sweep_gives_a_verdict(sto, expected):
    runs = _fp8_runs(sto, BASE, lrs=(1e-3, 3e-3))
    summary = ex.summarize_fp8(runs)
    status, numbers, _ = claims.fp8_speedup_verdict(summary, runs)
    assert status == expected, numbers
    # the best run of each method is compared: the worse lr's runs are named but not judged
    assert "stosignsgd_0 (fp8" in numbers
    reduced = claims.fp8_speedup_verdict(summary, runs, reduced=True)
    assert reduced[0] == "inconclusive" and f"the criterion alone gives {expected!r}" in reduced[1]


def test_fp8_speedup_rejects_another_summary():
    with pytest.raises(ValueError, match="summary must be an fp8 experiment summary"):
        claims.fp8_speedup_verdict({"experiment": "anytime"}, [])


# ---- sf_normuon.decay_placement_llm and softsign.improves_over_adamw ---------------------------------------------
def _ablation(z, y, x, x_div=False, z_div=False):
    rows = [dict(weight_decay_at=k, final_val_loss=v, diverged=d) for k, v, d in
            (("z", z, z_div), ("y", y, False), ("x", x, x_div))]
    return {"experiment": "anytime", "horizons": [50, 100, 200, 400], "decay_ablation": rows}


@pytest.mark.parametrize("summary, expected", [
    (_ablation(1.8654, 1.8653, 1.8653), "inconclusive"),      # the toy GPT's 400-step numbers (README)
    (_ablation(1.86, 1.87, 1.95), "supported"),
    (_ablation(1.86, 1.87, 1.86, x_div=True), "supported"),
    (_ablation(1.95, 1.87, 1.86), "not supported"),
    (_ablation(9.0, 1.87, 1.86, z_div=True), "not supported"),
])
def test_decay_placement_on_the_gpt(summary, expected):
    status, numbers, crit = claims.decay_placement_verdict(summary)
    assert status == expected, numbers
    assert numbers.startswith("SF-NorMuon final val loss by weight-decay placement: x ") and "at 400 steps" in numbers
    assert claims.decay_placement_verdict(summary, reduced=True)[0] == "inconclusive"
    assert "0.01 nats" in crit


def test_decay_placement_needs_z_and_x():
    summary = {"experiment": "anytime", "horizons": [400],
               "decay_ablation": [dict(weight_decay_at="z", final_val_loss=1.8, diverged=False)]}
    status, numbers, _ = claims.decay_placement_verdict(summary)
    assert status == "inconclusive" and "placements z and x are both needed" in numbers


def _softstar(adamw, **soft):
    runs = [dict(run=k.lower(), optimizer=k, final_val_loss=v) for k, v in soft.items()]
    return {"experiment": "softstar", "runs": runs + [dict(run="adamw", optimizer="AdamW", final_val_loss=adamw)],
            "adamw_final": adamw}


def test_softsign_against_adamw():
    # the toy GPT's softstar numbers (README): SoftSignum 2.110, SoftMuon 1.974 against AdamW 2.064
    status, numbers, crit = claims.improves_over_adamw_verdict(_softstar(2.064, SoftSignum=2.110, SoftMuon=1.974))
    assert status == "not supported" and "SoftSignum 2.11 (Soft* − AdamW 0.046)" in numbers
    assert claims.improves_over_adamw_verdict(_softstar(2.064, SoftSignum=2.07, SoftMuon=1.974))[0] == "supported"
    assert claims.improves_over_adamw_verdict(_softstar(None, SoftSignum=2.07))[0] == "inconclusive"
    reduced = claims.improves_over_adamw_verdict(_softstar(2.064, SoftSignum=2.110), reduced=True)
    assert reduced[0] == "inconclusive" and "'not supported'" in reduced[1]
    assert "≤ AdamW's + 0.01 nats" in crit


def test_runs_scale_states_params_seeds_steps_and_tokens():
    runs = _fp8_runs(SLOW, BASE)
    assert claims.runs_scale(runs) == "toy GPT: 115k params, 1 seed, 4 runs, ≤ 75 steps, ≤ 3,000 tokens per run"
    runs[0]["config"]["seed"] = 7
    assert "2 seeds" in claims.runs_scale(runs)
    with pytest.raises(ValueError, match="runs must be a non-empty list"):
        claims.runs_scale([])
