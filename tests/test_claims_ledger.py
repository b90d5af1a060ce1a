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
                     "softsign.tmax_training": "12", "sf_normuon.lr_robustness": "20", **FORMER_PENDING}


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
    return {"name": name, "config": cfg, "val": val, "status": "done", "summary": {}, "table12": None, "records": []}


def _fp8_runs(sto, base, lrs=(1e-3,)):
    """StoSignSGD with loss curve ``sto`` and Signum, Lion with ``base`` at each lr (the second lr is worse)."""
    runs = []
    for k, lr in enumerate(lrs):
        worse = [v + 0.1 * k for v in base]
        runs += [_run(f"signum_{k}", "Signum", lr, worse), _run(f"lion_{k}", "Lion", lr, worse),
                 _run(f"stosignsgd_{k}", "StoSignSGD", lr, [v + 0.1 * k for v in sto])]
    runs.append(_run("adamw", "AdamW", 1e-3, [5.5, 6.0, 9.0, 40.0]))  # diverges under FP8
    return runs


SLOW = [5.5, 3.4, 2.9, 2.6]   # never reaches the baselines' final loss 2.4 (censored: ratio ≤ 3000/3000 = 1)
BASE = [5.5, 3.0, 2.6, 2.4]
FAST = [5.5, 2.4, 2.2, 2.0]   # reaches 2.4 after a third of the tokens: ratio 3
LRS = (3e-4, 1e-3, 3e-3)


def _sweep(sto_by_seed, lrs=LRS, seeds=(0, 1, 2)):
    r"""The fp8 sweep preset's shape: arms signum, lion, stosignsgd (and a diverging adamw) at every lr
    and seed, run names ``<arm>_lr<lr>_s<seed>``; the middle lr is the best (the others 0.1 nats
    worse); the baselines' curves move by 0.01·seed; StoSignSGD's curve of seed s is
    ``sto_by_seed[s]``."""
    runs = []
    for k, lr in enumerate(lrs):
        pen = 0.0 if k == (len(lrs) - 1) // 2 else 0.1
        for s in seeds:
            base = [v + pen + 0.01 * s for v in BASE]
            runs += [_run(f"signum_lr{lr:g}_s{s}", "Signum", lr, base, seed=s),
                     _run(f"lion_lr{lr:g}_s{s}", "Lion", lr, base, seed=s),
                     _run(f"stosignsgd_lr{lr:g}_s{s}", "StoSignSGD", lr, [v + pen for v in sto_by_seed[s]], seed=s),
                     _run(f"adamw_lr{lr:g}_s{s}", "AdamW", lr, [5.5, 6.0, 9.0, 40.0], seed=s)]
    return runs


@pytest.mark.parametrize("sto, expected", [
    ([FAST, FAST, FAST], "supported"),        # ratio ≈ 3 in every seed
    ([SLOW, SLOW, SLOW], "not supported"),    # never reaches the target: ratio ≤ 1 < 1.44 in every seed
    ([FAST, SLOW, FAST], "inconclusive"),     # mean ≈ 2.3 but one seed censored at ≤ 1: the interval spans 1
])
def test_fp8_speedup_judges_the_interval_over_seeds_at_the_best_lrs(sto, expected):
    summary = ex.summarize_fp8(_sweep(sto))
    status, numbers, crit = claims.fp8_speedup_verdict(summary)
    assert status == expected, numbers
    assert "stosignsgd at lr 0.001" in numbers and "signum (lr 0.001)" in numbers  # the best lrs, interior
    assert "(n=3)" in numbers and "lower end > 1 and mean ≥ 1.44" in crit
    reduced = claims.fp8_speedup_verdict(summary, reduced=True)
    assert reduced[0] == "inconclusive" and f"the criterion alone gives {expected!r}" in reduced[1]


def test_fp8_speedup_needs_the_sweep_and_the_seeds():
    one_lr = ex.summarize_fp8(_sweep([FAST] * 3, lrs=(1e-3,)))
    status, numbers, _ = claims.fp8_speedup_verdict(one_lr)
    assert status == "inconclusive" and "no per-method sweep" in numbers
    one_seed = ex.summarize_fp8(_sweep([FAST], seeds=(0,)))
    status, numbers, _ = claims.fp8_speedup_verdict(one_seed)
    assert status == "inconclusive" and "fewer than 3 paired seeds" in numbers
    assert claims.fp8_speedup_verdict(one_seed, min_seeds=1)[0] == "supported"
    # the diverged fp8 AdamW has no target: reported, not judged
    assert "adamw (lr" in numbers and "baseline diverged in every seed" in numbers


def test_fp8_speedup_rejects_another_summary_and_bad_arguments():
    with pytest.raises(ValueError, match="summary must be a fp8 experiment summary"):
        claims.fp8_speedup_verdict({"experiment": "anytime"}, [])
    summary = ex.summarize_fp8(_sweep([FAST] * 3))
    with pytest.raises(ValueError, match="min_seeds must be"):
        claims.fp8_speedup_verdict(summary, min_seeds=0)
    with pytest.raises(ValueError, match="paper must be a finite number >= 1.0"):
        claims.fp8_speedup_verdict(summary, paper=math.nan)


# ---- softsign.improves_over_adamw, alpha_sign and tmax -------------------------------------------------------
def _iv(mean, half, n=3):
    return {"mean": mean, "se": half / 3, "lo": mean - half, "hi": mean + half, "n": n}


def _softstar(vs_adamw=(), alpha=(), tmax=(), lrs=3):
    """A softstar summary with the fields the Soft* verdicts read (``summarize_softstar``'s shape)."""
    rows = [dict(run=n, optimizer=o, lrs=[1e-3] * lrs, final_val_loss=2.0)
            for n, o in (("adamw", "AdamW"), ("softsignum", "SoftSignum"), ("softmuon", "SoftMuon"))]
    vs = [dict(soft=n, optimizer=o, adamw="adamw", lr=1e-3, adamw_lr=3e-3, **iv)
          for (n, o), iv in zip((("softsignum", "SoftSignum"), ("softmuon", "SoftMuon")), vs_adamw)]
    al = [dict(arm=f"softsignum_a{a:g}", reference="softsignum", lr=1e-3, final=2.0, alpha_sign=a,
               reference_alpha_sign=0.9, **iv) for a, iv in alpha]
    tm = [dict(arm="softsignum_tmax1e9", reference="softsignum", lr=1e-3, final=2.0, tmax=1e9, reference_tmax=20.0, **iv)
          for iv in tmax]
    return {"experiment": "softstar", "runs": rows, "vs_adamw": vs, "alpha_ablation": al, "tmax": tm, "adamw_final": 2.0}


@pytest.mark.parametrize("gaps, expected", [
    ([_iv(-0.05, 0.02), _iv(0.0, 0.005)], "supported"),        # both at most 0.01 above AdamW, with the interval
    ([_iv(0.046, 0.02), _iv(-0.09, 0.02)], "not supported"),   # SoftSignum credibly worse (the toy's old reading)
    ([_iv(0.02, 0.05), _iv(-0.09, 0.02)], "inconclusive"),     # the interval straddles the tolerance
])
def test_softsign_against_adamw_with_intervals(gaps, expected):
    status, numbers, crit = claims.improves_over_adamw_verdict(_softstar(gaps))
    assert status == expected, numbers
    assert "softsignum (lr 0.001) − adamw (lr 0.003)" in numbers and "(n=3)" in numbers
    assert "upper end ≤ 0.01 nats for every Soft*" in crit
    reduced = claims.improves_over_adamw_verdict(_softstar(gaps), reduced=True)
    assert reduced[0] == "inconclusive" and f"{expected!r}" in reduced[1]


def test_softsign_against_adamw_needs_tuning_seeds_and_arms():
    good = [_iv(-0.05, 0.02), _iv(0.0, 0.005)]
    assert claims.improves_over_adamw_verdict(_softstar(good, lrs=1))[0] == "inconclusive"
    assert claims.improves_over_adamw_verdict(_softstar([dict(_iv(-0.05, 0.02), n=2)] * 2))[0] == "inconclusive"
    status, numbers, _ = claims.improves_over_adamw_verdict(_softstar())
    assert status == "inconclusive" and "no Soft* and AdamW arms" in numbers
    with pytest.raises(ValueError, match="summary must be a softstar experiment summary"):
        claims.improves_over_adamw_verdict({"experiment": "fp8"})
    with pytest.raises(ValueError, match="tol must be a finite number >= 0"):
        claims.improves_over_adamw_verdict(_softstar(good), tol=-1)


@pytest.mark.parametrize("diffs, expected", [
    ((_iv(0.004, 0.004), _iv(-0.002, 0.003), _iv(0.001, 0.002)), "supported"),
    ((_iv(0.2, 0.05), _iv(0.08, 0.01), _iv(0.04, 0.01)), "not supported"),   # α = 0.3 costs 0.2 nats
    ((_iv(0.008, 0.02), _iv(0.0, 0.002), _iv(0.0, 0.002)), "inconclusive"),
])
def test_alpha_sign_ablation(diffs, expected):
    summary = _softstar(alpha=list(zip((0.3, 0.5, 0.7), diffs)))
    status, numbers, crit = claims.alpha_sign_ablation_verdict(summary)
    assert status == expected, numbers
    assert "α 0.3 at lr 0.001" in numbers and "inside ±0.01 nats" in crit
    assert claims.alpha_sign_ablation_verdict(summary, reduced=True)[0] == "inconclusive"
    missing = _softstar(alpha=list(zip((0.3, 0.5), diffs)))  # α = 0.7 not run
    assert claims.alpha_sign_ablation_verdict(missing)[0] == "inconclusive"


@pytest.mark.parametrize("diff, expected", [(_iv(0.001, 0.003), "supported"), (_iv(-0.05, 0.01), "not supported"),
                                            (_iv(0.0, 0.03), "inconclusive")])
def test_tmax_training(diff, expected):
    status, numbers, crit = claims.tmax_training_verdict(_softstar(tmax=[diff]))
    assert status == expected, numbers
    assert "tmax 1e+09 vs 20" in numbers and "tmax = 1e9" in crit
    assert claims.tmax_training_verdict(_softstar(tmax=[diff]), reduced=True)[0] == "inconclusive"
    assert claims.tmax_training_verdict(_softstar(tmax=[dict(diff, n=1)]))[0] == "inconclusive"
    assert claims.tmax_training_verdict(_softstar())[0] == "inconclusive"


def test_runs_scale_states_params_seeds_steps_and_tokens():
    runs = _fp8_runs(SLOW, BASE)
    assert claims.runs_scale(runs) == "toy GPT: 115k params, 1 seed, 4 runs, ≤ 75 steps, ≤ 3,000 tokens per run"
    runs[0]["config"]["seed"] = 7
    assert "2 seeds" in claims.runs_scale(runs)
    with pytest.raises(ValueError, match="runs must be a non-empty list"):
        claims.runs_scale([])
