"""Tests of ``convexlab bench compare`` (convexlab/bench/compare.py, suite.py, taxonomy.py)."""

import dataclasses
import json
import math
import sqlite3

import numpy as np
import pytest
import torch

from convexlab.bench import compare as C
from convexlab.bench import suite as S
from convexlab.bench import taxonomy as T
from convexlab.optim import REGISTRY

pytest.importorskip("sklearn")

# a tiny subset: a vector toy (matrix-only optimizers skipped), a matrix toy and a digits model
TINY = dict(problems=("l1_regression", "matrix_lsq", "digits_softmax"), optimizers=("Signum", "Muon"),
            n_lr=2, tune_seeds=1, seeds=2, budget_scale=0.15)


def test_every_registry_optimizer_is_placed_in_the_survey_taxonomy():
    rows = T.placement_table()
    assert [r["optimizer"] for r in rows] == list(REGISTRY)
    cats = T.category_table()
    assert len(cats) == 7 and {c["category"] for c in cats} == {v[0] for v in T.CATEGORIES.values()}
    assert sum(c["count"] for c in cats) == len(REGISTRY)  # each optimizer has exactly one primary category
    # matrix-only optimizers are matrix-based
    for n, cls in REGISTRY.items():
        if getattr(cls, "matrix_only", False):
            assert T.placement_of(n).primary == "matrix_based"


def test_unplaced_optimizer_is_rejected():
    with pytest.raises(ValueError, match="name must be a placed optimizer"):
        T.placement_of("NotAnOptimizer")


def test_lr_grid_gives_every_optimizer_the_same_budget():
    grids = {n: C.lr_grid(n, 6) for n in REGISTRY}
    assert {len(g) for g in grids.values()} == {6}
    for n, g in grids.items():
        span = math.log10(g[-1] / g[0])
        assert span == pytest.approx(C.GRID_DECADES[1] - C.GRID_DECADES[0])
        assert min(abs(math.log10(v / C.default_lr(n))) for v in g) < 0.31  # centred near the default
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        C.lr_grid("AdamW", 0)


def test_lr_sensitivity_counts_the_contiguous_range_within_ten_percent():
    lrs = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    assert C.lr_sensitivity(lrs, [0.1, 0.95, 1.0, 0.91, 0.2]) == pytest.approx(2.0)
    assert C.lr_sensitivity(lrs, [0.1, 0.5, 1.0, 0.5, 0.95]) == 0.0  # not contiguous with the best
    assert C.lr_sensitivity(lrs, [0.1, 0.5, float("nan"), 0.5, 1.0]) == 0.0


def test_performance_profile_algoperf_construction():
    rows = [dict(problem="a", optimizer="x", skipped="", steps_to_target=10.0),
            dict(problem="a", optimizer="y", skipped="", steps_to_target=30.0),
            dict(problem="b", optimizer="x", skipped="", steps_to_target=math.inf),
            dict(problem="b", optimizer="y", skipped="", steps_to_target=5.0),
            dict(problem="c", optimizer="x", skipped="no 2-D weight"),
            dict(problem="c", optimizer="y", skipped="", steps_to_target=math.inf)]
    prof = C.performance_profile(rows, taus=[1.0, 2.9, 3.0, 4.0])
    # x: best on a only; y: best on b, within 3× on a; nobody solves c
    assert prof["x"].tolist() == pytest.approx([1 / 3] * 4)
    assert prof["y"].tolist() == pytest.approx([1 / 3, 1 / 3, 2 / 3, 2 / 3])
    score = C.profile_score(prof)
    assert 0 <= score["x"] <= 1 and score["y"] > score["x"]


def test_imbalance_profile_and_digits_splits():
    assert S.imbalance_counts([100] * 10, 1) == [100] * 10
    counts = S.imbalance_counts([100] * 10, 100)
    assert counts[0] == 100 and counts[-1] == 1 and all(a >= b for a, b in zip(counts, counts[1:]))
    with pytest.raises(ValueError, match="ratio must be a finite number >= 1"):
        S.imbalance_counts([10, 10], 0.5)
    d = S.digits_splits(10)
    ytr, yte = d["train"][1], d["test"][1]
    tr = torch.bincount(ytr, minlength=10)
    te = torch.bincount(yte, minlength=10)
    assert 8 <= float(tr.max()) / float(tr.min()) <= 12  # exponential profile, ratio ≈ 10
    assert float(te.max()) - float(te.min()) <= 3  # balanced test split
    assert S.balanced_accuracy(torch.tensor([0, 0, 0, 1]), torch.tensor([0, 0, 0, 1]), 2) == 1.0


def test_state_bytes_and_peak_memory_see_the_optimizer_state():
    prob = next(p for p in S.build_suite("quick")[0] if p.name == "digits_mlp")
    prob = dataclasses.replace(prob, budget=20, eval_every=10)
    a = C.train_run(prob, "AdamW", 1e-3, 0, "val", timing=True, peak=True)
    s = C.train_run(prob, "SignSGD", 1e-3, 0, "val", timing=True, peak=True)
    assert a["state_bytes_per_param"] == 8.0 and s["state_bytes_per_param"] == 0.0  # fp32 m and v; no state
    # the profiler sees AdamW's two extra state tensors (4 + 4 bytes per parameter)
    assert a["peak_bytes"] - s["peak_bytes"] >= 7 * a["n_params"]
    assert a["step_time"] > 0 and a["opt_time"] > 0


def test_bad_configuration_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="seeds must be an integer >= 1"):
        C.run_benchmark(C.BenchConfig(seeds=0), tmp_path)
    with pytest.raises(ValueError, match="optimizers must be registry names"):
        C.run_benchmark(C.BenchConfig(optimizers=("Adamm",)), tmp_path)
    with pytest.raises(ValueError, match="problems must be among"):
        C.run_benchmark(C.BenchConfig(problems=("nope",)), tmp_path)
    with pytest.raises(ValueError, match="mode must be one of"):
        S.build_suite("huge")


def test_quick_cli_writes_report_and_skips_matrix_only_on_vector_problems(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--quick", "--out", str(out), "--no-progress", "--problems", *TINY["problems"],
            "--optimizers", *TINY["optimizers"], "--n-lr", "2", "--seeds", "2", "--budget-scale", "0.15"]
    assert C.main(argv) == 0
    report = (out / "report.md").read_text()
    for piece in ("## Ranking", "## Taxonomy", "lr grid", "performance_profile.png", "matrix_lsq"):
        assert piece in report
    assert (out / "performance_profile.png").stat().st_size > 1000
    res = C.load_results(out)
    rows = {(r["problem"], r["optimizer"]): r for r in res["rows"]}
    assert rows[("l1_regression", "Muon")]["skipped"].startswith("matrix-only")
    assert rows[("matrix_lsq", "Muon")]["skipped"] == ""
    assert rows[("matrix_lsq", "AdamW")]["step_time_ratio"] == pytest.approx(1.0)
    assert {r["optimizer"] for r in res["ranking"]} == {"AdamW", "Signum", "Muon"}
    assert "profile score" in capsys.readouterr().out
    # the GPT problem is listed as left out, with its reason
    assert "gpt" in res["raw"]["left_out"]


def test_interrupted_benchmark_resumes_without_recomputing_finished_cells(tmp_path):
    cfg = C.BenchConfig(mode="quick", **TINY)
    with pytest.raises(C.BenchmarkInterrupted):
        C.run_benchmark(cfg, tmp_path, progress=False, stop_after=3)
    con = sqlite3.connect(tmp_path / "cache.sqlite")
    before = dict(con.execute("SELECT key, created FROM cells").fetchall())
    con.close()
    assert len(before) == 3
    raw = C.run_benchmark(cfg, tmp_path, progress=False)
    assert raw["cached"] == 3
    con = sqlite3.connect(tmp_path / "cache.sqlite")
    after = dict(con.execute("SELECT key, created FROM cells").fetchall())
    con.close()
    assert len(after) == raw["computed"] + 3
    assert all(after[k] == v for k, v in before.items())  # finished cells were not recomputed
    again = C.run_benchmark(cfg, tmp_path, progress=False)
    assert again["computed"] == 0 and again["cached"] == len(after)
    assert json.dumps(C.summarize(again), default=str) == json.dumps(C.summarize(raw), default=str)


def test_gpt_hook_reports_a_reason_when_unavailable():
    prob, reason = S.gpt_problem()
    assert (prob is None) == bool(reason)
    _, left_out = S.build_suite("quick", gpt=True)
    assert "quick" in left_out["gpt"]


def test_the_quick_benchmark_runs_end_to_end_from_the_cli(tmp_path, capsys):
    """`convexlab bench compare --quick` as the README runs it: every registry optimizer on every quick problem."""
    from convexlab import cli
    from convexlab.optim import RECOMBINED, REGISTRY

    out = tmp_path / "quick"
    assert cli.main(["bench", "compare", "--quick", "--out", str(out), "--no-progress"]) == 0
    res = C.load_results(out)
    assert {r["optimizer"] for r in res["ranking"]} == set(REGISTRY) - set(RECOMBINED)
    assert len({r["problem"] for r in res["rows"]}) == 9
    assert all(r["skipped"] == "" or r["skipped"].startswith("matrix-only") for r in res["rows"])
    assert "## Ranking" in (out / "report.md").read_text()
