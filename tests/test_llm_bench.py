r"""The GPT speed benchmark (convexlab.llm.bench): rows, MFU, target verdicts (no timing assertions)."""

from __future__ import annotations

import json

import pytest

from convexlab.llm import bench

TINY = dict(model="toy", device="cpu", batch_size=2, block_size=16, steps=2, warmup=1)


@pytest.mark.parametrize("name, matrix", [("AdamW", False), ("Muon", True), ("StoSignSGD", False)])
def test_bench_one_row(name, matrix):
    row = bench.bench_one(name, **TINY)
    assert row["optimizer"] == name and row["matrix"] is matrix and row["tokens_per_step"] == 32
    assert row["t_fb_s"] > 0 and row["t_opt_s"] > 0 and 0 < row["overhead"] < 1
    assert row["mfu"] is None  # no peak FLOP/s for a CPU
    t = bench.target_status(row)
    assert t["overhead"].startswith("not measured") and t["overhead_bound"] == (0.15 if matrix else 0.10)


def test_mfu_with_a_given_peak_and_fp8_path():
    row = bench.bench_one("AdamW", precision="fp8", peak_flops=1e12, **TINY)
    assert row["mfu"] is not None and row["mfu"] > 0


def test_target_verdicts_on_an_h100_row():
    base = {"device_name": "NVIDIA H100 80GB HBM3", "model": "124m", "precision": "bf16", "compile": True}
    assert bench.target_status({**base, "optimizer": "AdamW", "mfu": 0.45, "overhead": 0.05, "matrix": False}) == \
        {"mfu": "met", "overhead": "met", "overhead_bound": 0.10}
    t = bench.target_status({**base, "optimizer": "AdamW", "mfu": 0.30, "overhead": 0.12, "matrix": False})
    assert t["mfu"] == "missed" and t["overhead"] == "missed"
    t = bench.target_status({**base, "optimizer": "Muon", "mfu": 0.3, "overhead": 0.12, "matrix": True})
    assert t["mfu"] == "n/a" and t["overhead"] == "met"
    t = bench.target_status({**base, "compile": False, "optimizer": "AdamW", "mfu": 0.5, "overhead": 0.0,
                             "matrix": False})
    assert t["mfu"].startswith("not measured")


def test_bad_arguments():
    with pytest.raises(ValueError, match="steps must be an integer >= 1, got 0"):
        bench.bench_one("AdamW", **{**TINY, "steps": 0})
    with pytest.raises(ValueError, match="optimizer must be one of"):
        bench.bench_one("Adam", **TINY)


def test_main_prints_and_writes_json(tmp_path, capsys):
    path = tmp_path / "b.json"
    assert bench.main(["--device=cpu", "--optimizers=AdamW,Signum", "--steps=2", "--warmup=1", "--batch-size=2",
                       "--block-size=16", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "GPU numbers were not measured" in out and "AdamW" in out
    rows = json.loads(path.read_text())
    assert [r["optimizer"] for r in rows] == ["AdamW", "Signum"]
