r"""convexlab.bench.optim_speed: one row per optimizer, finite ratios, exact state bytes, the public
column, counted syncs and ATen ops, targets, several thread counts, clear errors.

No timing assertions: step times are noisy. The run uses ``--threads 1``, so that a test running
beside other processes on a small machine does not pay for OpenMP threads waiting on busy cores.
"""

from __future__ import annotations

import argparse
import doctest
import json
import math

import pytest
import torch

from convexlab.bench import optim_speed
from convexlab.bench.optim_speed import (
    BENCH_KWARGS,
    PUBLIC,
    REF_ADAMW,
    REF_ADAMW_2D,
    REF_MUON,
    REFERENCES,
    SIZES,
    SYNC_TARGET,
    VARIANTS,
    PublicImpl,
    Target,
    main,
)
from convexlab.optim import REGISTRY

REPEATS = 2


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    js, md = out / "bench.json", out / "bench.md"
    threads = torch.get_num_threads()
    code = main(["--size", "tiny", "--repeats", str(REPEATS), "--warmup", "1", "--threads", "1", "--no-progress",
                 "--json", str(js), "--markdown", str(md)])
    assert torch.get_num_threads() == threads  # --threads is restored after the run
    return code, json.loads(js.read_text()), md.read_text()


def _rows(data) -> dict[str, dict]:
    (run,) = data["runs"]
    return {r["name"]: r for r in run["rows"]}


def _positive_finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def _public_labels() -> set[str]:
    return {impl.label for impl in PUBLIC.values() if isinstance(impl, PublicImpl) and impl.available() is None}


def test_tiny_run_has_a_row_per_registry_optimizer_variant_reference_and_public_implementation(tiny_run):
    code, data, _ = tiny_run
    assert code == 0
    rows = _rows(data)
    assert set(rows) == set(REFERENCES) | set(REGISTRY) | set(VARIANTS) | _public_labels()
    assert data["config"]["n_params"] == SIZES["tiny"].numel()
    assert data["config"]["threads"] == [1] and data["runs"][0]["threads"] == 1
    for name, r in rows.items():
        if r["skipped"] is not None:
            # classes listed in BENCH_KWARGS must build with those kwargs (catches a renamed argument)
            assert name not in BENCH_KWARGS and name not in REFERENCES, f"{name} skipped: {r['skipped']}"
            assert r["skipped"].strip()
            continue
        assert len(r["times_ms"]) == REPEATS and all(_positive_finite(t) for t in r["times_ms"]), name
        assert _positive_finite(r["median_ms"]), name
        assert _positive_finite(r["ratio_adamw"]), name
        assert isinstance(r["state_bytes"], int) and r["state_bytes"] >= 0, name
        assert math.isfinite(r["state_bytes_per_param"]) and r["state_bytes_per_param"] >= 0, name
        if r["params"] == "2-D":
            assert _positive_finite(r["ratio_torch_muon"]), name
            assert r["n_params"] == data["config"]["n_matrix_params"]
        else:
            assert r["ratio_torch_muon"] is None
            assert r["n_params"] == data["config"]["n_params"]
    assert rows[REF_ADAMW]["ratio_adamw"] == 1.0
    assert rows[REF_ADAMW_2D]["ratio_adamw"] == 1.0
    assert rows[REF_MUON]["ratio_torch_muon"] == 1.0


def test_matrix_optimizers_run_on_all_layers_by_default(tiny_run):
    config = tiny_run[1]["config"]
    assert config["matrix_layers"] == SIZES["tiny"].layers
    assert config["n_matrix_params"] == 6 * SIZES["tiny"].layers * SIZES["tiny"].d ** 2 * 2  # 4 d² + 2·4d²


def test_every_row_has_counted_syncs_and_aten_ops(tiny_run):
    rows = _rows(tiny_run[1])
    for name, r in rows.items():
        if r["skipped"] is not None:
            continue
        assert r["count_error"] is None, (name, r["count_error"])
        assert isinstance(r["host_syncs"], int) and r["host_syncs"] >= 0, name
        assert sum(r["sync_ops"].values()) == r["host_syncs"] == sum(r["sync_sites"].values()), name
        assert isinstance(r["aten_ops"], int) and r["aten_ops"] > 0, name
        assert sum(r["aten_op_counts"].values()) == r["aten_ops"], name
    # torch's AdamW-foreach reads only its host-resident step counters: no device sync, and its
    # multi-tensor step is a handful of foreach operators
    assert rows[REF_ADAMW]["host_syncs"] == 0
    assert all(n.startswith("aten._foreach_") for n in rows[REF_ADAMW]["aten_op_counts"])


def test_targets_of_the_issue_and_the_sync_target_on_every_registry_row(tiny_run):
    rows = _rows(tiny_run[1])
    for name in [*REGISTRY, *VARIANTS]:
        r = rows[name]
        labels = [t["label"] for t in r["targets"]]
        assert SYNC_TARGET.label() in labels, name
        assert all(t["status"] in ("met", "missed") for t in r["targets"]), (name, r["targets"])
        expected = "met" if all(t["status"] == "met" for t in r["targets"]) else "missed"
        assert r["target_status"] == expected, name
        sync = next(t for t in r["targets"] if t["label"] == SYNC_TARGET.label())
        assert sync["value"] == r["host_syncs"] and (sync["status"] == "met") == (r["host_syncs"] <= 1)
    for name in (*REFERENCES, *_public_labels()):
        assert rows[name]["targets"] == [] and rows[name]["target_status"] is None
    sf = {t["label"]: t for t in rows["SFAdamW"]["targets"]}
    assert set(sf) == {f"≤ 1× {REF_ADAMW}", "≤ 8 B/param", "≤ 1× public", SYNC_TARGET.label()}
    assert sf["≤ 8 B/param"]["value"] == rows["SFAdamW"]["state_bytes_per_param"]
    soft_muon = {t["label"]: t for t in rows["SoftMuon"]["targets"]}
    ratio = rows["SoftMuon"]["median_ms"] / rows["Muon"]["median_ms"]
    assert soft_muon["≤ 1.3× Muon"]["value"] == pytest.approx(ratio)
    for name in ("SoftSignum", "SoftSignum[sign phase]"):  # "in every phase"
        assert f"≤ 0.8× {REF_ADAMW}" in [t["label"] for t in rows[name]["targets"]]


def test_public_column(tiny_run):
    rows = _rows(tiny_run[1])
    assert rows["AdamW"]["public"] == REF_ADAMW and rows["AdamW"]["ratio_public"] == rows["AdamW"]["ratio_adamw"]
    assert rows["Muon"]["public"] == REF_MUON
    assert rows["Muon"]["ratio_public"] == rows["Muon"]["ratio_torch_muon"]
    assert rows["AdaMax"]["public"] == "torch.Adamax-foreach" and _positive_finite(rows["AdaMax"]["ratio_public"])
    # schedulefree is a test dependency (pyproject [test])
    sf = rows["SFAdamW"]
    assert sf["public"] == "schedulefree.AdamWScheduleFree" and _positive_finite(sf["ratio_public"])
    assert sf["ratio_public"] == pytest.approx(sf["median_ms"] / rows["schedulefree.AdamWScheduleFree"]["median_ms"])
    assert rows["schedulefree.AdamWScheduleFree"]["state_bytes_per_param"] == 8.0  # z and exp_avg_sq
    lion = rows["Lion"]
    if lion["ratio_public"] is None:  # lion-pytorch is optional: n/a, never an error
        assert lion["public_status"].startswith("n/a (lion_pytorch.foreach is not installed"), lion["public_status"]
    else:
        assert _positive_finite(lion["ratio_public"]) and lion["public_status"] is None
    assert rows["Signum"]["public"] is None and rows["Signum"]["ratio_public"] is None


def test_schedulefree_steps_a_private_copy_and_leaves_the_shared_gradients_alone():
    params = optim_speed.build_parameters(optim_speed.ModelShape(d=8, layers=1, vocab=16))
    grads = [p.grad.clone() for p in params.all]
    values = [p.detach().clone() for p in params.all]
    cases = optim_speed._build_cases([REF_ADAMW, "SFAdamW"], REGISTRY, params)
    public = next(c for c in cases if c.kind == "public")
    assert public.name == "schedulefree.AdamWScheduleFree" and public.before_step is not None
    assert not any(q is p for q, p in zip(public.params, params.all))
    optim_speed._measure(cases, repeats=2, warmup=1, device=torch.device("cpu"), progress=False)
    assert all(c.skipped is None for c in cases), [c.skipped for c in cases]
    assert all(torch.equal(p.grad, g) for p, g in zip(params.all, grads))  # schedulefree divides its own grads
    assert not all(torch.equal(q.grad, g) for q, g in zip(public.params, grads))
    # shared values moved (AdamW and SFAdamW stepped them); the private copy moved on its own
    assert not all(torch.equal(p, v) for p, v in zip(params.all, values))


def test_a_missing_public_package_is_n_a_not_an_error(tmp_path, monkeypatch, capsys):
    def never(params):
        raise AssertionError("a missing package must not be built")

    monkeypatch.setitem(PUBLIC, "Lion", PublicImpl("nosuch.Lion", "convexlab_no_such_package", never))
    js = tmp_path / "b.json"
    assert main(["--size", "tiny", "--only", "Lion", "--repeats", "1", "--warmup", "1", "--threads", "1",
                 "--no-progress", "--json", str(js)]) == 0
    rows = _rows(json.loads(js.read_text()))
    assert set(rows) == {REF_ADAMW, "Lion"}
    assert rows["Lion"]["public"] == "nosuch.Lion" and rows["Lion"]["ratio_public"] is None
    assert rows["Lion"]["public_status"].startswith("n/a (convexlab_no_such_package is not installed")
    out = capsys.readouterr().out
    assert "public: Lion: nosuch.Lion: n/a (convexlab_no_such_package is not installed" in out


def test_several_thread_counts_repeat_the_run(tmp_path):
    js, md = tmp_path / "b.json", tmp_path / "b.md"
    threads = torch.get_num_threads()
    assert main(["--size", "tiny", "--only", "Signum", "--repeats", "1", "--warmup", "1", "--threads", "1", "2",
                 "--no-progress", "--json", str(js), "--markdown", str(md)]) == 0
    assert torch.get_num_threads() == threads
    data = json.loads(js.read_text())
    assert data["config"]["threads"] == [1, 2] and [r["threads"] for r in data["runs"]] == [1, 2]
    for run in data["runs"]:
        assert [r["name"] for r in run["rows"]] == [REF_ADAMW, "Signum"]
        assert _positive_finite(run["matmul"]["fp32_ms"]) and _positive_finite(run["matmul"]["bf16_ms"])
        assert run["matmul"]["fp32_over_bf16"] == pytest.approx(run["matmul"]["fp32_ms"] / run["matmul"]["bf16_ms"])
    text = md.read_text()
    assert "threads=1," in text and "threads=2," in text and text.count("| optimizer |") == 2


def test_state_bytes_per_param_exact_values(tiny_run):
    rows = _rows(tiny_run[1])
    assert rows[REF_ADAMW]["state_bytes_per_param"] == 8.0  # exp_avg, exp_avg_sq in float32
    assert rows[REF_ADAMW]["state_scalar_bytes"] > 0  # torch's step counters: left out of the figure above
    assert rows["Signum"]["state_bytes_per_param"] == 4.0  # one momentum buffer
    assert rows["SignSGD"]["state_bytes_per_param"] == 0.0  # no state


def test_markdown_table(tiny_run):
    md = tiny_run[2]
    assert ("| optimizer | params updated | median step ms | × torch.AdamW-foreach | × torch.Muon | public | "
            "× public | state B/param | syncs/step | ATen ops/step | target | met? |") in md
    for name in ("Signum", REF_ADAMW, REF_MUON, "SoftSignum[sign phase]"):
        assert f"| {name} |" in md
    assert "matmul 2048×512 · 512×2048" in md


def test_only_selects_and_adds_the_references_it_needs(tmp_path):
    js = tmp_path / "b.json"
    assert main(["--size", "tiny", "--only", "Signum", "--repeats", "1", "--warmup", "1", "--threads", "1",
                 "--no-progress", "--json", str(js)]) == 0
    assert list(_rows(json.loads(js.read_text()))) == [REF_ADAMW, "Signum"]


def test_only_adds_the_rows_named_by_targets_and_public_columns():
    parser = argparse.ArgumentParser()
    assert optim_speed._select(parser, ["SoftMuon"], REGISTRY) == [REF_ADAMW, REF_ADAMW_2D, REF_MUON, "Muon",
                                                                   "SoftMuon"]
    assert optim_speed._select(parser, ["SoftSignum[sign phase]"], REGISTRY) == [REF_ADAMW, "SoftSignum[sign phase]"]
    assert optim_speed._select(parser, ["Muon"], REGISTRY) == [REF_ADAMW, REF_ADAMW_2D, REF_MUON, "Muon"]


def test_unknown_only_name_is_a_clear_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--size", "tiny", "--only", "NoSuchOptimizer"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown optimizer 'NoSuchOptimizer' in --optimizers" in err
    assert "Signum" in err and REF_MUON in err and "SoftMuon[Muon phase]" in err  # the valid names are listed


@pytest.mark.parametrize("argv, option", [(["--warmup", "0"], "--warmup"), (["--threads", "0"], "--threads"),
                                          (["--threads"], "--threads")])
def test_bad_options_are_clear_errors(capsys, argv, option):
    with pytest.raises(SystemExit) as exc:
        main(["--size", "tiny", *argv])
    assert exc.value.code == 2
    assert option in capsys.readouterr().err


def test_target_validation():
    with pytest.raises(ValueError, match="metric must be .* got 'speed'"):
        Target("speed", 1.0)
    with pytest.raises(ValueError, match="reference must be given exactly for metric 'ratio'"):
        Target("ratio", 1.0)
    with pytest.raises(ValueError, match="reference must be given exactly for metric 'ratio'"):
        Target("host_syncs", 1, REF_ADAMW)


def test_sizes_match_their_documented_parameter_counts():
    assert SIZES["small"].numel() == 25_171_968
    assert SIZES["tiny"].numel() == 1_049_088


def test_doctests():
    assert doctest.testmod(optim_speed).failed == 0
