r"""convexlab.bench.optim_speed: one row per registry optimizer, finite ratios, exact state bytes, clear errors.

No timing assertions: step times are noisy. The run uses ``--threads 1``, so that a test running
beside other processes on a small machine does not pay for OpenMP threads waiting on busy cores.
"""

from __future__ import annotations

import doctest
import json
import math

import pytest
import torch

from convexlab.bench import optim_speed
from convexlab.bench.optim_speed import BENCH_KWARGS, REF_ADAMW, REF_ADAMW_2D, REF_MUON, REFERENCES, SIZES, main
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


def _positive_finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_tiny_run_has_a_row_per_registry_optimizer_and_reference(tiny_run):
    code, data, _ = tiny_run
    assert code == 0
    rows = {r["name"]: r for r in data["rows"]}
    assert set(rows) == set(REFERENCES) | set(REGISTRY)
    assert data["config"]["n_params"] == SIZES["tiny"].numel()
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
        if r["target"] is not None:
            assert r["target_status"] in ("met", "missed"), (name, r["target_status"])
    assert rows[REF_ADAMW]["ratio_adamw"] == 1.0
    assert rows[REF_ADAMW_2D]["ratio_adamw"] == 1.0
    assert rows[REF_MUON]["ratio_torch_muon"] == 1.0


def test_state_bytes_per_param_exact_values(tiny_run):
    rows = {r["name"]: r for r in tiny_run[1]["rows"]}
    assert rows[REF_ADAMW]["state_bytes_per_param"] == 8.0  # exp_avg, exp_avg_sq in float32
    assert rows[REF_ADAMW]["state_scalar_bytes"] > 0  # torch's step counters: left out of the figure above
    assert rows["Signum"]["state_bytes_per_param"] == 4.0  # one momentum buffer
    assert rows["SignSGD"]["state_bytes_per_param"] == 0.0  # no state


def test_markdown_table(tiny_run):
    md = tiny_run[2]
    assert "| optimizer | params updated | median step ms |" in md
    for name in ("Signum", REF_ADAMW, REF_MUON):
        assert f"| {name} |" in md


def test_only_selects_and_adds_the_references_it_needs(tmp_path):
    js = tmp_path / "b.json"
    assert main(["--size", "tiny", "--only", "Signum", "--repeats", "1", "--warmup", "1", "--threads", "1",
                 "--no-progress", "--json", str(js)]) == 0
    assert [r["name"] for r in json.loads(js.read_text())["rows"]] == [REF_ADAMW, "Signum"]


def test_unknown_only_name_is_a_clear_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--size", "tiny", "--only", "NoSuchOptimizer"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown optimizer 'NoSuchOptimizer' in --only" in err
    assert "Signum" in err and REF_MUON in err  # the valid names are listed


def test_warmup_must_be_positive(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--size", "tiny", "--warmup", "0"])
    assert exc.value.code == 2
    assert "--warmup" in capsys.readouterr().err


def test_sizes_match_their_documented_parameter_counts():
    assert SIZES["small"].numel() == 25_171_968
    assert SIZES["tiny"].numel() == 1_049_088


def test_doctests():
    assert doctest.testmod(optim_speed).failed == 0
