"""FP8 emulation (convexlab.precision) and the FP8-state experiment (convexlab.lab.fp8_states)."""

import pytest
import torch

from convexlab.optim import AdamW, SFAdamW, Signum, StoSignSGD
from convexlab.precision import (FORMATS, emulated_step, format_info, fp8_grid, quantize_state_, state_statistics,
                                 to_fp8, update_change, weighted_share)


def _reference_round(x, fmt):
    """Nearest finite value of the format by brute force over its 256 codes, ties to the even code."""
    info = format_info(fmt)
    codes = torch.arange(128, dtype=torch.uint8)  # sign bit clear: the non-negative values
    vals = codes.view(info.dtype).to(torch.float64)
    ok = torch.isfinite(vals)
    codes, vals = codes[ok].to(torch.int64), vals[ok]
    a = x.abs()
    dist = (a[:, None] - vals[None, :]).abs()
    best = dist.min(1, keepdim=True).values
    cand = dist == best
    # among ties prefer the even code (mantissa LSB 0)
    score = cand.to(torch.int64) * 2 + (cand & (codes[None, :] % 2 == 0)).to(torch.int64)
    return torch.copysign(vals[score.argmax(1)], x)


@pytest.mark.parametrize("fmt", ["e4m3", "e5m2"])
def test_to_fp8_is_round_to_nearest_even(fmt):
    info = format_info(fmt)
    grid = fp8_grid(fmt)
    gen = torch.Generator().manual_seed(0)
    # log-uniform magnitudes over the whole finite range, random signs, plus every midpoint (ties)
    mags = torch.exp(torch.empty(4000, dtype=torch.float64).uniform_(-14.0, float(torch.log(torch.tensor(info.max))),
                                                                      generator=gen))
    signs = torch.where(torch.rand(4000, generator=gen) < 0.5, -1.0, 1.0).double()
    mids = (grid[1:] + grid[:-1]) / 2
    x = torch.cat([mags * signs, grid, mids, -mids])
    assert torch.equal(to_fp8(x, fmt), _reference_round(x, fmt))


@pytest.mark.parametrize("fmt", ["e4m3", "e5m2"])
def test_format_constants_match_the_grid(fmt):
    info, grid = format_info(fmt), fp8_grid(fmt)
    assert grid.max().item() == info.max == torch.finfo(info.dtype).max
    assert grid[grid > 0].min().item() == info.smallest_subnormal
    assert info.smallest_normal == torch.finfo(info.dtype).tiny
    u = info.underflow
    x = torch.tensor([u * 0.999, u, u * 1.001, info.smallest_subnormal], dtype=torch.float64)
    assert to_fp8(x, fmt).tolist() == [0.0, 0.0, info.smallest_subnormal, info.smallest_subnormal]


def test_e4m3_flush_to_zero_of_squared_gradients():
    # StoSignSGD [SSG-FP8] [R]: E4M3's smallest subnormal is 2^-9; g² < 2^-10 is stored as 0
    g = torch.tensor([0.03, 0.0315, 0.04], dtype=torch.float64)
    assert to_fp8(g * g, "e4m3").tolist()[0] == 0.0
    assert all(v > 0 for v in to_fp8(g * g, "e4m3").tolist()[1:])


def test_overflow_is_explicit_and_selectable():
    big = torch.tensor([447.0, 464.0, 464.5, 1e9, float("inf"), -float("inf"), float("nan")])
    sat = to_fp8(big, "e4m3", saturate=True)
    assert sat[:6].tolist() == [448.0, 448.0, 448.0, 448.0, 448.0, -448.0] and sat[6].isnan()
    raw = to_fp8(big, "e4m3", saturate=False)
    assert raw[:2].tolist() == [448.0, 448.0] and raw[2:].isnan().all()  # E4M3fn has no inf: NaN
    e5 = torch.tensor([61439.0, 61440.0, -1e9, float("inf")])
    assert to_fp8(e5, "e5m2", saturate=False).tolist() == [57344.0, float("inf"), -float("inf"), float("inf")]
    assert to_fp8(e5, "e5m2", saturate=True).tolist() == [57344.0, 57344.0, -57344.0, 57344.0]


def test_to_fp8_keeps_dtype_and_shape_and_validates():
    x = torch.randn(3, 4, dtype=torch.bfloat16)
    y = to_fp8(x, "e5m2")
    assert y.dtype == torch.bfloat16 and y.shape == (3, 4)
    with pytest.raises(ValueError, match="fmt"):
        to_fp8(x, "e3m4")
    with pytest.raises(ValueError, match="t must be"):
        to_fp8(torch.arange(3), "e4m3")
    with pytest.raises(ValueError, match="t must be"):
        to_fp8([1.0], "e4m3")
    with pytest.raises(ValueError, match="saturate"):
        to_fp8(x, "e4m3", saturate=1)
    with pytest.raises(ValueError, match="fmt"):
        format_info("fp8")
    assert set(FORMATS) == {"e4m3", "e5m2"}


def _adamw_two_layers(g_small=0.01, g_big=1.0, steps=3):
    a = torch.nn.Parameter(torch.zeros(4, 5, dtype=torch.float64))
    b = torch.nn.Parameter(torch.zeros(7, dtype=torch.float64))
    opt = AdamW([a, b], lr=1e-3, betas=(0.9, 0.95), weight_decay=0.0)
    for _ in range(steps):
        a.grad = torch.full_like(a, g_small)
        b.grad = torch.full_like(b, g_big)
        opt.step()
    return opt, a, b


def test_state_statistics_table12_rows():
    opt, a, b = _adamw_two_layers()
    rows = state_statistics(opt, names={a: "embed", b: "gain"})
    ra, rb = rows
    # v = (1 − 0.95^3)·1e-4 ≈ 1.4e-5 < 2^-10: all zeros; m = (1 − 0.9^3)·0.01 ≈ 2.7e-3: survives
    assert ra["param"] == "embed" and ra["v_zeros"] == 1.0 and ra["flushed_exp_avg_sq"] == 1.0 and ra["m_zeros"] == 0.0
    assert ra["max_abs_grad"] == pytest.approx(0.01) and ra["max_grad_sq"] == pytest.approx(1e-4)
    assert rb["v_zeros"] == 0.0 and rb["m_zeros"] == 0.0 and rb["numel"] == 7
    assert weighted_share(rows, "v_zeros") == pytest.approx(20 / 27)
    # discrimination: the wider E5M2 range (smallest subnormal 2^-16) keeps the same v
    assert state_statistics(opt, "e5m2")[0]["v_zeros"] == 0.0
    # and larger gradients keep v in E4M3 too
    opt2, *_ = _adamw_two_layers(g_small=0.5)
    assert state_statistics(opt2)[0]["v_zeros"] == 0.0
    with pytest.raises(ValueError, match="key"):
        weighted_share(rows, "nope")
    with pytest.raises(ValueError, match="fmt"):
        state_statistics(opt, "e4")


def test_state_statistics_default_names_and_other_optimizers():
    w = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    opt = StoSignSGD([w], lr=0.1, seed=0)
    w.grad = torch.tensor([1e-4, 0.5, -0.2], dtype=torch.float64)
    opt.step()
    (row,) = state_statistics(opt)
    assert row["param"] == "group0.param0" and "zeros_envelope" in row and "v_zeros" not in row
    assert row["m_zeros"] == pytest.approx(1 / 3)


def test_quantize_state_rounds_moments_and_keeps_iterates():
    opt, a, b = _adamw_two_layers(g_small=0.3)
    assert quantize_state_(opt) == 4
    for st in opt.state.values():
        for key in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(st[key], to_fp8(st[key]))
        assert st["step"] == 3
    w = torch.nn.Parameter(torch.full((5,), 0.123456, dtype=torch.float64))
    sf = SFAdamW([w], lr=0.01)
    w.grad = torch.ones_like(w)
    sf.step()
    z = sf.state[w]["z"].clone()
    quantize_state_(sf)
    assert torch.equal(sf.state[w]["z"], z)  # an iterate, not a moment


def test_emulated_step_rounds_gradients_states_and_master_weights():
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(50, dtype=torch.float32))
    opt = AdamW([w], lr=1e-2, weight_decay=0.0)
    w.grad = torch.randn(50) * 3
    emulated_step(opt)
    assert torch.equal(w.grad, to_fp8(w.grad, "e5m2"))
    assert torch.equal(w.detach(), w.detach().to(torch.bfloat16).float())
    st = opt.state[w]
    assert torch.equal(st["exp_avg"], to_fp8(st["exp_avg"])) and torch.equal(st["exp_avg_sq"], to_fp8(st["exp_avg_sq"]))
    with pytest.raises(ValueError, match="master_dtype"):
        emulated_step(opt, master_dtype=torch.int32)
    with pytest.raises(ValueError, match="fmt"):
        emulated_step(opt, grad_fmt="e4")


def _signum_and_adamw(scale):
    out = {}
    for name, make in {"Signum": lambda p: Signum(p, lr=0.1, momentum=0.9),
                       "AdamW": lambda p: AdamW(p, lr=0.1, betas=(0.9, 0.95), weight_decay=0.0)}.items():
        gen = torch.Generator().manual_seed(1)
        w = torch.nn.Parameter(torch.zeros(400, dtype=torch.float64))
        opt = make([w])
        for _ in range(20):
            w.grad = scale * (2.0 + 0.3 * torch.randn(400, generator=gen, dtype=torch.float64))
            opt.step()
        w.grad = scale * (2.0 + 0.3 * torch.randn(400, generator=gen, dtype=torch.float64))
        before = (w.detach().clone(), {k: v.clone() for k, v in opt.state[w].items() if torch.is_tensor(v)})
        out[name] = (update_change(opt), w, opt, before)
    return out


def test_update_change_counts_underflow_not_rounding():
    big = _signum_and_adamw(1.0)  # states far inside the E4M3 range: rounding only
    assert big["Signum"][0]["changed"] == 0.0 and big["AdamW"][0]["changed"] == 0.0
    small = _signum_and_adamw(0.01)  # |m| ~ 2e-2 survives, v ~ 4e-4 flushes
    assert small["Signum"][0]["changed"] < 0.02
    assert small["AdamW"][0]["changed"] > 0.5
    # stored v = 0: the fresh v is (1 − β2)g², so the step m̂/√v̂ grows by about 1/√(1 − β2) ≈ 4.5
    assert small["AdamW"][0]["max_abs_update_q"] / 0.1 > 3 > 1.5 > small["AdamW"][0]["max_abs_update"] / 0.1
    assert small["Signum"][0]["max_abs_update_q"] <= 0.1 * (1 + 1e-12)
    for _, w, opt, (w0, st0) in small.values():  # the optimizer is left untouched
        assert torch.equal(w.detach(), w0)
        assert all(torch.equal(opt.state[w][k], v) for k, v in st0.items())


def test_update_change_validates():
    w = torch.nn.Parameter(torch.zeros(3))
    opt = Signum([w], lr=0.1)
    with pytest.raises(ValueError, match="grad"):
        update_change(opt)
    w.grad = torch.ones(3)
    with pytest.raises(ValueError, match="factor"):
        update_change(opt, factor=0.5)
    with pytest.raises(ValueError, match="fmt"):
        update_change(opt, "e5")


# -- the notebook's experiment --------------------------------------------------------------
def test_bigram_model_and_training_are_scale_invariant_in_full_precision():
    from convexlab.lab.fp8_states import OPTIMIZERS, BigramMLP, markov_chain, train

    P = markov_chain(32, 0)
    assert torch.allclose(P.sum(1), torch.ones(32))
    params = {}
    for s in (1.0, 64.0):  # powers of two: the scaled gradients are exact, so Signum's steps are equal
        model = BigramMLP(32, 8, seed=0)
        losses = train(model, OPTIMIZERS["Signum"](list(model.parameters())), 5, P, batch=16, loss_scale=s)
        params[s] = [p.detach().clone() for p in model.parameters()]
        assert len(losses) == 5
    assert all(torch.equal(a, b) for a, b in zip(params[1.0], params[64.0]))
    with pytest.raises(ValueError, match="vocab"):
        BigramMLP(1, 8)
    with pytest.raises(ValueError, match="steps"):
        train(BigramMLP(32, 8), OPTIMIZERS["AdamW"](list(BigramMLP(32, 8).parameters())), 0, P)


def test_table12_and_scale_sweep_small():
    from convexlab.lab.fp8_states import scale_sweep, table12

    rows, losses = table12(4, vocab=32, dim=8, fp8=True)
    assert [r["param"] for r in rows] == ["token_embedding.weight", "mlp_fc.weight", "mlp_proj.weight", "lm_head.weight"]
    assert len(losses) == 4 and all("v_zeros" in r and "max_grad_sq" in r for r in rows)
    sweep = scale_sweep([1e-3, 100.0], steps=4, vocab=32, dim=8)
    assert len(sweep) == 6
    tiny = {r["optimizer"]: r for r in sweep if r["scale"] == 1e-3}
    assert tiny["AdamW"]["v_zeros"] == 1.0 and tiny["AdamW"]["m_zeros"] == 1.0
    assert all(r["max_update_over_lr"] <= 1.001 for r in sweep if r["optimizer"] != "AdamW")
    with pytest.raises(ValueError, match="optimizer"):
        table12(2, optimizer="SGD")
