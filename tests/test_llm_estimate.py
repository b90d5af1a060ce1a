"""The GPU-hours estimate of an experiment preset (issue 15, item 6): tokens, Chinchilla multiple and
FLOPs follow the stated formulas, the parameter count is the model's, and bad assumptions are refused."""

import math

import pytest

from convexlab.llm.config import TrainConfig
from convexlab.llm.estimate import DEFAULT_PEAK, estimate, estimate_markdown, run_cost


def _cfg(**kw):
    base = dict(model="toy", device="cpu", block_size=32, batch_size=4, grad_accum=2, max_steps=100, eval_every=25,
                eval_batches=3, run_name="r")
    base.update(kw)
    return TrainConfig(**base)


def test_run_cost_follows_the_formulas():
    from convexlab.llm.build import model_config
    from convexlab.llm.model import GPT

    cfg = _cfg()
    model = GPT(model_config(cfg))
    r = run_cost(cfg, mfu=0.5, peak_flops=1e12)
    assert r["params"] == sum(p.numel() for p in model.parameters())
    assert r["tokens"] == 100 * 2 * 4 * 32
    assert r["eval_tokens"] == (100 // 25 + 1) * 3 * 4 * 32
    assert math.isclose(r["flops"], model.flops_per_token() * (r["tokens"] + r["eval_tokens"] / 3))
    assert math.isclose(r["gpu_hours"], r["flops"] / (1e12 * 0.5) / 3600)
    assert math.isclose(r["chinchilla"], r["tokens"] / (20 * r["params"]))
    assert run_cost(_cfg(eval_every=0))["eval_tokens"] == 0


def test_estimate_sums_the_runs_and_the_124m_preset_has_124m_parameters():
    est = estimate([_cfg(run_name="a"), _cfg(run_name="b", max_steps=200)])
    assert est["total_tokens"] == sum(r["tokens"] for r in est["rows"]) == 300 * 2 * 4 * 32
    assert math.isclose(est["total_gpu_hours"], sum(r["gpu_hours"] for r in est["rows"]))
    big = run_cost(TrainConfig(model="124m", device="cpu", max_steps=1000, batch_size=8))
    assert 120e6 < big["params"] < 130e6 and big["tokens"] == 1000 * 8 * 1024
    md = estimate_markdown(est, "demo")
    assert "| a | AdamW |" in md and "GPU-hours" in md and f"{DEFAULT_PEAK / 1e12:.0f} TFLOP/s" in md


@pytest.mark.parametrize("kw, fragment", [
    (dict(mfu=0.0), "mfu must be"), (dict(mfu=1.5), "mfu must be a number in \\(0, 1\\]"),
    (dict(mfu=float("nan")), "mfu must be"), (dict(peak_flops=-1.0), "peak_flops must be"),
])
def test_bad_assumptions_are_refused(kw, fragment):
    with pytest.raises(ValueError, match=fragment):
        run_cost(_cfg(), **kw)


def test_estimate_needs_a_config():
    with pytest.raises(ValueError, match="at least one TrainConfig"):
        estimate([])


def test_experiment_estimate_prints_the_table_and_trains_nothing(tmp_path, capsys):
    from convexlab.llm import experiments as ex

    out = tmp_path / "never"
    assert ex.main(["anytime", "--preset", "gpu", "--estimate", "--mfu", "0.5", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| sfnormuon_s0 | SFNorMuon | 123.6M | 2.52B | 1.02 |" in text and "MFU of 50%" in text
    assert not out.exists()  # nothing trained, no directory made
    # the CPU preset and a run subset work the same way
    assert ex.main(["fp8", "--estimate", "--seeds", "0", "--middle-lr"]) == 0
    assert "5 runs" in capsys.readouterr().out


@pytest.mark.parametrize("argv, fragment", [
    (["fp8", "--estimate", "--mfu", "2"], "mfu must be a number in (0, 1], got 2.0"),
    (["fp8", "--mfu", "0.5"], "--mfu is the assumption of --estimate; give --estimate too"),
])
def test_experiment_estimate_bad_options(argv, fragment, capsys):
    from convexlab.llm import experiments as ex

    assert ex.main(argv) == 2
    assert fragment in capsys.readouterr().err
