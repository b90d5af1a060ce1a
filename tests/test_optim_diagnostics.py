"""convexlab.optim.diagnostics: structural-noise statistics and pre-lr update RMS, on hand-built
states (values computed here by hand) and after real steps (against the parameters' displacement)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from convexlab.optim import AdaMax, AdamW, IEStoSignSGD, Lion, SignConverted, Signum, SignSGD, SoftSignum, StoSignSGD
from convexlab.optim.diagnostics import noise_statistics, ratio_and_scale, update_rms


def _param(values):
    return torch.nn.Parameter(torch.tensor(values, dtype=torch.float32))


def _set_state(opt, p, **tensors):
    opt.state[p] = {k: (torch.tensor(v, dtype=torch.float32) if not isinstance(v, int) else v)
                    for k, v in tensors.items()}


def test_stosignsgd_hand_state():
    p = _param([0.0, 0.0, 0.0, 0.0])
    opt = StoSignSGD([p], lr=0.1)
    _set_state(opt, p, step=3, exp_avg=[0.5, -1.0, 0.0, 0.2], envelope=[1.0, 1.0, 0.0, 0.4])
    (row,) = noise_statistics(opt)
    # r = [0.5, -1, 0 (0/0), 0.5]; Var = 1 − r² where σ > 0, 0 where σ = 0
    assert row["group"] == 0 and row["numel"] == 4
    assert row["mean_abs_m_over_sigma"] == pytest.approx((0.5 + 1.0 + 0.0 + 0.5) / 4, rel=1e-7)
    assert row["mean_noise"] == pytest.approx((0.75 + 0.0 + 0.0 + 0.75) / 4, rel=1e-7)
    assert row["violation_share"] == 0.0 and row["violations"] == 0
    assert row["sigma_zero_share"] == 0.25
    # the stochastic sign moves every coordinate with σ > 0 by ±1, the σ = 0 = m one by 0
    assert update_rms(opt)[0]["rms"] == pytest.approx(math.sqrt(3 / 4), rel=1e-12)


def test_sign_adamw_hand_state_violations_exactly_counted():
    b1, b2, eps, t = 0.9, 0.99, 1e-8, 2
    m = np.array([0.3, -0.05, 0.01, 0.0, 0.25, -0.2])
    v = np.array([0.01, 0.02, 0.0001, 0.0, 0.0199, 0.0004])
    p = _param([0.0] * 6)
    opt = SignConverted([p], base="adamw", lr=1.0, betas=(b1, b2), eps=eps)
    _set_state(opt, p, step=t, exp_avg=m.tolist(), exp_avg_sq=v.tolist())
    m32, v32 = np.float32(m).astype(np.float64), np.float32(v).astype(np.float64)
    mhat = m32 / (1 - b1**t)
    sig = np.sqrt(v32 / (1 - b2**t)) + eps
    r = mhat / sig
    expect_viol = int((np.abs(mhat) > sig).sum())
    assert expect_viol == 3  # coordinates 0, 4 and 5 (the hand-picked spikes)
    (row,) = noise_statistics(opt)
    assert row["violations"] == expect_viol and row["violation_share"] == expect_viol / 6
    assert row["mean_abs_m_over_sigma"] == pytest.approx(np.abs(r).mean(), rel=1e-12)
    assert row["mean_noise"] == pytest.approx((1 - np.minimum(r**2, 1)).mean(), rel=1e-12)
    num, s = ratio_and_scale(opt, p)
    np.testing.assert_allclose(num.numpy(), mhat, rtol=1e-12)
    np.testing.assert_allclose(s.numpy(), sig, rtol=1e-12)
    assert update_rms(opt)[0]["rms"] == 1.0


def test_sign_adamax_hand_state():
    b1, eps, t = 0.8, 1e-3, 3
    m = np.array([0.1, -0.4, 0.02])
    u = np.array([0.2, 0.3, 0.5])
    p = _param([1.0, 2.0, 3.0])
    opt = SignConverted([p], base="adamax", lr=1.0, betas=(b1, 0.999), eps=eps)
    _set_state(opt, p, step=t, exp_avg=m.tolist(), exp_inf=u.tolist())
    mhat = np.float32(m).astype(np.float64) / (1 - b1**t)
    sig = np.float32(u).astype(np.float64) + eps
    r = mhat / sig
    (row,) = noise_statistics(opt)
    assert row["violations"] == int((np.abs(mhat) > sig).sum()) == 2  # m̂ = m/0.488: 0.205 > 0.201, 0.820 > 0.301
    assert row["mean_abs_m_over_sigma"] == pytest.approx(np.abs(r).mean(), rel=1e-12)
    assert row["mean_noise"] == pytest.approx((1 - np.minimum(r**2, 1)).mean(), rel=1e-12)


def _grads(n_steps, shape, seed, ramp=False):
    """Gaussian gradients (scale 0.1); with ``ramp`` the first 3 coordinates grow linearly instead
    (0.01·k at step k), so Adam's m̂ (recent) outruns √v̂ (long memory): |m̂| > √v̂ there."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for k in range(n_steps):
        g = torch.randn(shape, generator=gen) * 0.1
        if ramp:
            g[..., :3] = 0.01 * (k + 1)
        out.append(g)
    return out


def _run(opt, params, grads):
    for g in grads:
        for p in params:
            p.grad = g.clone()
        opt.step()


def test_adamw_pre_lr_rms_equals_hand_computation_and_displacement():
    b1, b2, eps = 0.9, 0.95, 1e-8
    grads = _grads(7, (40,), seed=1)
    p = torch.nn.Parameter(torch.zeros(40))
    opt = AdamW([p], lr=1e-3, betas=(b1, b2), eps=eps, weight_decay=0.0)
    _run(opt, [p], grads[:-1])
    before = p.detach().clone()
    _run(opt, [p], grads[-1:])
    # by hand, float64 recurrences from the gradients
    m = np.zeros(40)
    v = np.zeros(40)
    for t, g in enumerate(grads, 1):
        g = g.double().numpy()
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
    t = len(grads)
    d = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    hand = float(np.sqrt((d**2).mean()))
    (row,) = update_rms(opt)
    assert row["numel"] == 40
    assert row["rms"] == pytest.approx(hand, rel=1e-5)
    moved = ((before - p.detach()) / 1e-3).double().numpy()
    assert row["rms"] == pytest.approx(float(np.sqrt((moved**2).mean())), rel=1e-3)
    assert 0.0 < row["rms"] < 1.0


@pytest.mark.parametrize("make", [
    lambda ps: StoSignSGD(ps, lr=0.01, betas=(0.9, 1.0), seed=0),
    lambda ps: SignConverted(ps, base="adamw", lr=0.01, betas=(0.9, 0.95), seed=0),
    lambda ps: SignConverted(ps, base="adamax", lr=0.01, betas=(0.9, 0.95), seed=0),
    lambda ps: Signum(ps, lr=0.01, momentum=0.9),
])
def test_sign_methods_have_pre_lr_rms_one(make):
    p = torch.nn.Parameter(torch.zeros(3, 50))
    q = torch.nn.Parameter(torch.zeros(20))
    opt = make([{"params": [p]}, {"params": [q]}])
    for k, g in enumerate(_grads(5, (3, 50), seed=2)):
        p.grad, q.grad = g, g[0, :20].clone()
        before = (p.detach().clone(), q.detach().clone())
        opt.step()
    rows = update_rms(opt)
    assert [r["rms"] for r in rows] == [1.0, 1.0] and [r["numel"] for r in rows] == [150, 20]
    # the displacement agrees: every coordinate moved by exactly lr
    for b, x in zip(before, (p, q)):
        np.testing.assert_allclose(((b - x.detach()).abs() / 0.01).numpy(), 1.0, rtol=1e-4)


def test_violations_match_the_optimizers_own_count_on_a_ramp():
    p = torch.nn.Parameter(torch.zeros(64))
    opt = SignConverted([p], base="adamw", lr=1e-3, betas=(0.9, 0.999), seed=0)
    _run(opt, [p], _grads(30, (64,), seed=3, ramp=True))
    (row,) = noise_statistics(opt)
    own = float(opt.param_groups[0]["violation_fraction"])
    assert row["violations"] >= 3  # the ramp drives |m̂| above √v̂ on its coordinates
    assert row["violation_share"] == pytest.approx(own, abs=0.5 / 64)


def test_stosignsgd_never_violates_where_sign_adamw_does():
    ps = [torch.nn.Parameter(torch.zeros(200)) for _ in range(2)]
    sto = StoSignSGD([ps[0]], lr=1e-3, betas=(0.9, 1.0), seed=0)
    sad = SignConverted([ps[1]], base="adamw", lr=1e-3, betas=(0.9, 0.999), seed=0)
    grads = _grads(40, (200,), seed=4, ramp=True)
    _run(sto, [ps[0]], grads)
    _run(sad, [ps[1]], grads)
    a, b = noise_statistics(sto)[0], noise_statistics(sad)[0]
    assert a["violations"] == 0 and b["violations"] >= 3


def test_ie_stosignsgd_original_mode_rms_is_m_over_g():
    p = _param([0.0, 0.0, 0.0])
    opt = IEStoSignSGD([p], lr=0.1)
    _set_state(opt, p, step=4, exp_avg=[0.5, -0.25, 0.0], envelope=[1.0, 1.0, 0.0])
    assert update_rms(opt)[0]["rms"] == pytest.approx(math.sqrt((0.25 + 0.0625 + 0.0) / 3), rel=1e-12)


def test_adamax_uses_its_conversion_scale():
    p = _param([0.0, 0.0])
    opt = AdaMax([p], lr=0.1, betas=(0.5, 0.9), eps=0.0)
    _set_state(opt, p, step=1, exp_avg=[0.25, -0.5], exp_inf=[0.5, 0.5])
    (row,) = noise_statistics(opt)  # m̂ = m/0.5 = [0.5, −1]; σ = u
    assert row["mean_abs_m_over_sigma"] == pytest.approx(1.5, rel=1e-12)  # r = [1, −2]
    assert row["violations"] == 1
    assert update_rms(opt)[0]["rms"] == pytest.approx(math.sqrt((1 + 4) / 2), rel=1e-12)


def test_beta1_zero_reads_the_gradient_and_refuses_after_zero_grad():
    p = torch.nn.Parameter(torch.zeros(4))
    opt = StoSignSGD([p], lr=0.1, betas=(0.0, 1.0), seed=0)
    p.grad = torch.tensor([1.0, -2.0, 0.5, 0.0])
    opt.step()
    (row,) = noise_statistics(opt)
    assert row["mean_abs_m_over_sigma"] == pytest.approx(0.75, rel=1e-12)  # |g|/|g| = 1 on 3, 0/0 on 1
    opt.zero_grad(set_to_none=True)
    with pytest.raises(ValueError, match="p.grad"):
        noise_statistics(opt)


def test_histogram_accounts_for_every_coordinate():
    p = torch.nn.Parameter(torch.zeros(100))
    opt = StoSignSGD([p], lr=1e-3, seed=0)
    g = torch.logspace(-6, 0, 100)
    g[:5] = 0.0
    p.grad = g
    opt.step()
    (row,) = noise_statistics(opt, bins=6)
    h = row["m_abs_hist"]
    assert h["zeros"] == 5 and sum(h["counts"]) + h["below"] + h["above"] == 95
    assert len(h["edges"]) == 7
    h2 = noise_statistics(opt, bins=[-3.0, -1.0])[0]["m_abs_hist"]
    assert h2["below"] > 0 and h2["above"] > 0
    assert sum(h2["counts"]) + h2["below"] + h2["above"] + h2["zeros"] == 100
    assert "m_abs_hist" not in noise_statistics(opt)[0]


def test_reading_changes_no_state():
    p = torch.nn.Parameter(torch.zeros(10))
    opt = SignConverted([p], base="adamw", lr=1e-3, seed=0)
    _run(opt, [p], _grads(3, (10,), seed=5))
    before = copy.deepcopy(opt.state_dict())
    noise_statistics(opt, bins=4)
    update_rms(opt)
    after = opt.state_dict()
    for k, st in before["state"].items():
        for name, v in st.items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(after["state"][k][name]))


def test_unstepped_group_is_empty():
    p, q = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2))
    opt = StoSignSGD([{"params": [p]}, {"params": [q]}], lr=0.1, seed=0)
    p.grad = torch.ones(3)
    opt.step()
    rows = noise_statistics(opt)
    assert rows[1]["numel"] == 0 and math.isnan(rows[1]["mean_noise"])
    assert math.isnan(update_rms(opt)[1]["rms"])


@pytest.mark.parametrize("cls", [Lion, SoftSignum, torch.optim.SGD])
def test_optimizers_without_m_and_sigma_raise_naming_the_class(cls):
    p = torch.nn.Parameter(torch.zeros(3))
    opt = cls([p], lr=0.1)
    with pytest.raises(ValueError, match=cls.__name__):
        noise_statistics(opt)
    with pytest.raises(ValueError, match=cls.__name__):
        update_rms(opt)


def test_signum_has_no_noise_statistics_but_an_rms():
    p = torch.nn.Parameter(torch.zeros(3))
    opt = SignSGD([p], lr=0.1)
    with pytest.raises(ValueError, match="SignSGD"):
        noise_statistics(opt)
    p.grad = torch.tensor([1.0, 0.0, -1.0])
    opt.step()
    assert update_rms(opt)[0]["rms"] == pytest.approx(math.sqrt(2 / 3))


@pytest.mark.parametrize("bins", [0, -1, True, [1.0], [0.0, 0.0], [1.0, 0.0], [0.0, float("nan")], "x"])
def test_bad_bins_raise(bins):
    p = torch.nn.Parameter(torch.zeros(3))
    opt = StoSignSGD([p], lr=0.1, seed=0)
    p.grad = torch.ones(3)
    opt.step()
    with pytest.raises(ValueError, match="bins"):
        noise_statistics(opt, bins=bins)


def test_ratio_and_scale_refuses_an_unstepped_parameter():
    p = torch.nn.Parameter(torch.zeros(3))
    opt = StoSignSGD([p], lr=0.1)
    with pytest.raises(ValueError, match="no optimizer state"):
        ratio_and_scale(opt, p)
