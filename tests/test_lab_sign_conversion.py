"""The sign-conversion ablation (notebook 19): data splits, optimizers, a tiny sweep, the three verdict
rules on synthetic results (each status), the scale text, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from convexlab.lab import sign_conversion as S
from convexlab.optim import AdaMax, AdamW, IEStoSignSGD, SignConverted, Signum, StoSignSGD
from convexlab.theory import claims

SEEDS = 4


# ---------------------------------------------------------------------------------------------
# data, models, optimizers
# ---------------------------------------------------------------------------------------------
def test_finetune_splits_are_disjoint_whole_chunks(tmp_path):
    text = bytes(range(256)) * 100  # 25,600 bytes
    f = tmp_path / "t.txt"
    f.write_bytes(text)
    sp = S.finetune_splits(chunk=256, path=f)
    assert len(sp["train"]) == 80 * 256 and len(sp["val"]) == 10 * 256 and len(sp["test"]) == 10 * 256
    toks = np.frombuffer(text, dtype=np.uint8).astype(np.uint16)
    assert np.array_equal(sp["val"][:256], toks[8 * 256:9 * 256]) and np.array_equal(sp["test"][:256], toks[9 * 256:10 * 256])
    assert sp["n_bytes"] == len(text) and len(sp["sha256"]) == 64


def test_default_finetune_text_is_not_in_the_pretraining_corpus():
    from convexlab.llm.data import DEFAULT_CORPUS_FILES

    assert S.FINETUNE_FILE not in DEFAULT_CORPUS_FILES
    sp = S.finetune_splits()
    assert S.FINETUNE_FILE in sp["source"] and sp["n_bytes"] > 100_000
    assert sp["n_bytes"] == len(S.reference_prose())


def test_reference_prose_reads_the_topics_dict_without_running_it(tmp_path):
    f = tmp_path / "topics.py"
    f.write_text("# header\nimport os\ntopics = {'b': 'second\\n', 'a': 'first'}\n", encoding="utf-8")
    assert S.reference_prose(f) == b"first\n\nsecond\n"
    g = tmp_path / "other.py"
    g.write_text("x = 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="topics"):
        S.reference_prose(g)
    with pytest.raises(ValueError, match="path"):
        S.reference_prose(tmp_path / "missing.py")


@pytest.mark.parametrize("kw", [dict(chunk=10), dict(chunk=1.5), dict(path="/nonexistent/x.txt")])
def test_finetune_splits_bad_arguments(kw):
    with pytest.raises(ValueError):
        S.finetune_splits(**kw)


def test_finetune_splits_refuses_a_short_text(tmp_path):
    f = tmp_path / "short.txt"
    f.write_bytes(b"x" * 1000)
    with pytest.raises(ValueError, match="at least"):
        S.finetune_splits(chunk=256, path=f)


@pytest.mark.parametrize("name,cls", [("SignSGD", Signum), ("AdamW", AdamW), ("AdaMax", AdaMax),
                                      ("sign-AdamW", SignConverted), ("sign-AdaMax", SignConverted),
                                      ("IE-StoSignSGD", IEStoSignSGD), ("StoSignSGD", StoSignSGD)])
def test_methods_share_the_fixed_betas(name, cls):
    opt = S.make_optimizer(name, S.param_groups(S.new_model(0)), 1e-3, seed=0)
    assert type(opt) is cls and len(opt.param_groups) == 2
    g = opt.param_groups[0]
    assert g["weight_decay"] == 0.0
    if name == "SignSGD":
        assert g["momentum"] == S.BETAS[0]
    else:
        assert tuple(g["betas"]) == S.BETAS
    if name in ("sign-AdamW", "sign-AdaMax"):
        assert opt.base == ("adamw" if name == "sign-AdamW" else "adamax") and opt.mode == "stochastic"


def test_make_optimizer_refuses_an_unknown_method():
    with pytest.raises(ValueError, match="name"):
        S.make_optimizer("Lion", S.param_groups(S.new_model(0)), 1e-3, seed=0)


def test_param_groups_cover_every_parameter_once():
    model = S.new_model(0)
    groups = S.param_groups(model)
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters()) and len(set(ids)) == len(ids)


def test_eval_loss_is_deterministic_and_checks_arguments():
    model = S.new_model(0)
    toks = np.arange(2000, dtype=np.uint16) % 256
    assert S.eval_loss(model, toks, windows=4) == S.eval_loss(model, toks, windows=4)
    with pytest.raises(ValueError, match="windows"):
        S.eval_loss(model, toks, windows=0)
    with pytest.raises(ValueError, match="block"):
        S.eval_loss(model, toks[:10], windows=2)


# ---------------------------------------------------------------------------------------------
# a tiny sweep
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny():
    base = S.pretrain(steps=3, batch=2)
    methods = ("SignSGD", "AdamW", "sign-AdamW", "sign-AdaMax", "StoSignSGD")
    grids = {n: (1e-3, 3e-3) for n in methods}
    grids["SignSGD"] = (1e-3,)
    return S.sweep(methods=methods, seeds=2, steps=4, batch=2, log_every=2, windows=4, lr_grids=grids, base=base)


def test_sweep_shapes_lr_pick_intervals_and_logs(tiny):
    r = tiny
    assert r["val"].shape == r["test"].shape == (5, 2, 2)
    assert np.isnan(r["val"][0, 1]).all() and not np.isnan(r["val"][0, 0]).any()  # a shorter grid is padded
    for i, name in enumerate(r["methods"]):
        a = r["best"][i]
        assert a == np.argmin(np.nan_to_num(r["val"][i], nan=np.inf).mean(axis=1))  # picked on validation
        assert r["lr"][i] == r["lr_grids"][name][a]
        x = r["test"][i, a]
        assert r["test_at_best"][i].tolist() == x.tolist()
        assert r["mean"][i] == pytest.approx(x.mean()) and r["se"][i] == pytest.approx(x.std(ddof=1) / math.sqrt(2))
        assert r["lo"][i] == pytest.approx(x.mean() - 3 * r["se"][i])
        assert [log["step"] for log in r["logs"][name]] == [[2, 4], [2, 4]]
    assert "SignSGD" not in r["edge"] and set(r["edge"]) == set(r["methods"][1:])  # 2-point grids: always an end
    # the converted Adam/AdaMax updates have pre-lr RMS exactly 1 (σ ≥ ε > 0); Signum and StoSignSGD leave
    # coordinates that never had a gradient (ReLU² units dead on every token of these tiny batches) at 0
    for n in ("sign-AdamW", "sign-AdaMax"):
        assert np.all(S.series(r, n, "rms") == 1.0)
    for n in ("SignSGD", "StoSignSGD"):
        x = S.series(r, n, "rms")
        assert np.all((x > 0.8) & (x <= 1.0))
    assert np.all(S.series(r, "AdamW", "rms") < 1.0)
    assert np.all(S.series(r, "StoSignSGD", "violation") == 0.0)
    assert r["hist"]["StoSignSGD"]["edges"] == list(S.HIST_EDGES)
    assert np.isfinite(r["base_test"]) and r["pretrain_tokens"] == 3 * 2 * S.BLOCK


def test_verdicts_run_on_a_real_result_and_reduced_is_inconclusive(tiny):
    for fn in (S.ablation_verdict, S.noise_verdict, S.rms_verdict):
        status, numbers, crit = fn(tiny, reduced=True)
        assert status == "inconclusive" and numbers.startswith("reduced-size runs") and crit
    # the conversions' noise at every lr all three ran is reported next to the verdict (which uses the chosen lr)
    assert set(tiny["logs_all"]["StoSignSGD"]) == {1e-3, 3e-3} and len(tiny["logs_all"]["StoSignSGD"][1e-3]) == 2
    numbers = S.noise_verdict(tiny)[1]
    assert "at a common lr (not the verdict's): lr 0.001:" in numbers and "lr 0.003:" in numbers
    text = S.scale_text(tiny)
    assert f"{tiny['n_params']:,} params" in text and "2 seeds" in text and "Python source" in text
    assert f"{4 * 2 * S.BLOCK:,} tokens of the reference prose of {S.FINETUNE_FILE}" in text


@pytest.mark.parametrize("kw", [dict(seeds=1), dict(methods=()), dict(methods=("Lion",)),
                                dict(methods=("AdamW", "AdamW")), dict(steps=0), dict(lr_grids={"AdamW": ()}),
                                dict(lr_grids={"SignSGD": (-1.0,)}, methods=("SignSGD",))])
def test_sweep_bad_arguments(kw):
    with pytest.raises(ValueError):
        S.sweep(**{"methods": ("AdamW",), **kw}, base={"state": None, "steps": 0, "tokens": 0, "val_loss": 0.0})


def test_finetune_once_and_pretrain_bad_arguments():
    with pytest.raises(ValueError, match="name"):
        S.finetune_once("Lion", 1e-3, {}, {}, 0, 1)
    with pytest.raises(ValueError, match="lr"):
        S.finetune_once("AdamW", 0.0, {}, {}, 0, 1)
    with pytest.raises(ValueError, match="steps"):
        S.pretrain(steps=0)


# ---------------------------------------------------------------------------------------------
# the verdict rules on synthetic results
# ---------------------------------------------------------------------------------------------
def _result(test: dict, edge=(), logs: dict | None = None) -> dict:
    methods = tuple(test)
    tab = np.array([np.asarray(test[n], dtype=float) for n in methods])
    mean = tab.mean(axis=1)
    se = tab.std(axis=1, ddof=1) / math.sqrt(tab.shape[1])
    return dict(methods=methods, seeds=tab.shape[1], test_at_best=tab, mean=mean, se=se, lr=[1e-3] * len(methods),
                edge=list(edge), base_test=2.0, logs=logs or {}, log_every=10, steps=100)


_NOISE = np.array([0.0, 0.01, -0.01, 0.005])  # per-seed jitter (mean 0.00125)


def _base_tests(sto_minus_adamw: float, sto_minus_sign: float) -> dict:
    return {"StoSignSGD": 1.2 + _NOISE * 0.1, "AdamW": 1.2 - sto_minus_adamw + _NOISE * 0.05,
            "SignSGD": 1.2 - sto_minus_sign - _NOISE * 0.05}


def test_ablation_verdict_supported():
    status, numbers, crit = S.ablation_verdict(_result(_base_tests(0.0, -0.05)))
    assert status == "supported" and "StoSignSGD − AdamW" in numbers and "mean + 3se" in crit


def test_ablation_verdict_not_supported_against_adamw():
    assert S.ablation_verdict(_result(_base_tests(0.1, -0.05)))[0] == "not supported"


def test_ablation_verdict_not_supported_against_signsgd():
    assert S.ablation_verdict(_result(_base_tests(0.0, 0.05)))[0] == "not supported"


def test_ablation_verdict_inconclusive():
    # StoSignSGD − SignSGD indistinguishable from 0
    assert S.ablation_verdict(_result(_base_tests(0.0, 0.0)))[0] == "inconclusive"
    # a compared method's lr at a grid end turns a decision into inconclusive
    status, numbers, _ = S.ablation_verdict(_result(_base_tests(0.0, -0.05), edge=("AdamW",)))
    assert status == "inconclusive" and "grid end" in numbers
    # an edge elsewhere does not
    assert S.ablation_verdict(_result(_base_tests(0.0, -0.05), edge=("AdaMax",)))[0] == "supported"


def test_ablation_verdict_tolerance_is_the_boundary():
    # StoSignSGD worse than AdamW by 0.005 ± small: within tol = 0.01, supported; with tol = 0, not decided
    r = _result(_base_tests(0.005, -0.05))
    assert S.ablation_verdict(r, tol=0.01)[0] == "supported"
    assert S.ablation_verdict(r, tol=0.0)[0] != "supported"
    with pytest.raises(ValueError, match="tol"):
        S.ablation_verdict(r, tol=-0.1)


def _log(values: dict, steps: int = 5) -> list[dict]:
    """Per seed one log whose entries are constant over the logged steps (plus a small per-seed jitter)."""
    out = []
    for s in range(SEEDS):
        j = _NOISE[s] * 0.1
        out.append({"step": list(range(10, 10 * steps + 1, 10)),
                    **{k: [v + (j if k != "violation" or v > 0 else 0.0)] * steps for k, v in values.items()}})
    return out


def _noise_result(noise: dict, viol: dict) -> dict:
    logs = {n: _log({"noise": noise[n], "ratio": 1 - noise[n], "violation": viol[n], "rms": 1.0})
            for n in S.CONVERSIONS}
    return _result({n: [1.0] * SEEDS for n in S.CONVERSIONS}, logs=logs)


def test_noise_verdict_supported():
    r = _noise_result({"StoSignSGD": 0.9, "sign-AdaMax": 0.8, "sign-AdamW": 0.7},
                      {"StoSignSGD": 0.0, "sign-AdaMax": 0.0, "sign-AdamW": 0.01})
    status, numbers, crit = S.noise_verdict(r)
    assert status == "supported" and "StoSignSGD − sign-AdaMax +0.100" in numbers and "violations" in crit


def test_noise_verdict_not_supported_when_the_order_reverses():
    # the pilot's picture: StoSignSGD the least noisy
    r = _noise_result({"StoSignSGD": 0.8, "sign-AdaMax": 0.98, "sign-AdamW": 0.93},
                      {"StoSignSGD": 0.0, "sign-AdaMax": 0.0, "sign-AdamW": 0.001})
    assert S.noise_verdict(r)[0] == "not supported"


def test_noise_verdict_not_supported_when_stosignsgd_violates_or_adamw_never_does():
    noise = {"StoSignSGD": 0.9, "sign-AdaMax": 0.8, "sign-AdamW": 0.7}
    assert S.noise_verdict(_noise_result(noise, {"StoSignSGD": 1e-4, "sign-AdaMax": 0.0,
                                                 "sign-AdamW": 0.01}))[0] == "not supported"
    assert S.noise_verdict(_noise_result(noise, {"StoSignSGD": 0.0, "sign-AdaMax": 0.0,
                                                 "sign-AdamW": 0.0}))[0] == "not supported"
    assert S.noise_verdict(_noise_result(noise, {"StoSignSGD": 0.0, "sign-AdaMax": 0.0,
                                                 "sign-AdamW": 0.2}))[0] == "not supported"


def test_noise_verdict_inconclusive_when_two_methods_tie():
    r = _noise_result({"StoSignSGD": 0.9, "sign-AdaMax": 0.9, "sign-AdamW": 0.7},
                      {"StoSignSGD": 0.0, "sign-AdaMax": 0.0, "sign-AdamW": 0.01})
    assert S.noise_verdict(r)[0] == "inconclusive"
    with pytest.raises(ValueError, match="usual"):
        S.noise_verdict(r, usual=0.0)


def _rms_result(adamw: float, sign: float = 1.0, spread: float = 0.0) -> dict:
    logs = {"AdamW": [{"step": [10, 20], "rms": [adamw + spread * _NOISE[s] * 100] * 2} for s in range(SEEDS)]}
    for n in S.SIGN_METHODS:
        logs[n] = [{"step": [10, 20], "rms": [sign, 1.0]} for _ in range(SEEDS)]
    return _result({n: [1.0] * SEEDS for n in ("AdamW",) + S.SIGN_METHODS}, logs=logs)


def test_rms_verdict_statuses():
    status, numbers, crit = S.rms_verdict(_rms_result(0.22))
    assert status == "supported" and "AdamW pre-lr update RMS 0.220" in numbers and "[0.1, 0.35]" in crit
    assert S.rms_verdict(_rms_result(0.6))[0] == "not supported"
    assert S.rms_verdict(_rms_result(0.22, sign=0.995))[0] == "supported"  # within SIGN_RMS_TOL
    assert S.rms_verdict(_rms_result(0.22, sign=0.95))[0] == "not supported"
    assert S.rms_verdict(_rms_result(0.33, spread=0.1))[0] == "inconclusive"  # the interval straddles 0.35


@pytest.mark.parametrize("rng", [(0.3, 0.1), (0.1,), (-0.1, 0.3), "ab"])
def test_rms_verdict_bad_range(rng):
    with pytest.raises(ValueError, match="rms_range"):
        S.rms_verdict(_rms_result(0.22), rms_range=rng)


def test_series_refuses_unknown_methods_and_keys():
    r = _rms_result(0.22)
    with pytest.raises(ValueError, match="method"):
        S.series(r, "Lion", "rms")
    with pytest.raises(ValueError, match="key"):
        S.series(r, "AdamW", "loss")
    with pytest.raises(ValueError, match="no complete"):
        S.series(r, "AdamW", "noise")


def test_the_ledger_rows_point_at_notebook_19():
    ids = {c.id for c in claims.CLAIMS if "19" in c.notebooks}
    assert ids == {"stosignsgd.sign_conversion_ablation", "stosignsgd.structural_noise", "stosignsgd.update_rms"}
