"""SoftSignum (convexlab.optim.soft_sign): float64 reference, Signum limit, SGD limit, the schedule
(once, per group, scale-equivariant), the horizon S + T, state_dict / LR scheduler, bad input.

Softsign [SS-SOFTSIGNUM] (official behaviour), [SS-SCHED] (schedule), the open questions
[SS-Q1, SS-Q2, SS-Q3, SS-Q4, SS-Q5, SS-Q6], [SS-Q12, SS-Q13, SS-Q14], and [SS-ACC] tests 1–4 and 7.
"""

from __future__ import annotations

import copy
import io
import math
import warnings

import pytest
import torch

import convexlab.optim.soft_sign as soft_sign_module
from convexlab.optim.sign import SignSGD, Signum
from convexlab.optim.soft_sign import SoftSignum
from convexlab.optim.temperature import temperature_schedule

SHAPES = [[(3, 4), (4,)], [(5,)]]  # two param groups: a matrix and a vector, then a vector
SCALES = [[1.0, 0.1], [3.0]]       # gradient scale per tensor, so the two groups differ
LRS = [0.05, 0.02]


def make_params(dtype, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [[torch.nn.Parameter(torch.randn(s, generator=gen, dtype=dtype)) for s in shapes] for shapes in SHAPES]


def make_grads(n_steps, dtype, seed=1, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    return [[[scale * c * torch.randn(s, generator=gen, dtype=dtype) for s, c in zip(shapes, scales)]
             for shapes, scales in zip(SHAPES, SCALES)] for _ in range(n_steps)]


def groups_of(params, overrides=({}, {})):
    return [{"params": ps, "lr": lr, **o} for ps, lr, o in zip(params, LRS, overrides)]


def set_grads(params, grads_k):
    for ps, gs in zip(params, grads_k):
        for p, g in zip(ps, gs):
            p.grad = g.clone()


def reference(params, grads, *, sign_iters, transition_iters, momentum=0.0, dampening=0.0, weight_decay=0.0,
              nesterov=False, normalized=False, sign_norm=False, momentum_form="sgd", maximize=False,
              eps=1e-4, newton_iters=10, tmax=20.0, lr_factor=lambda k: 1.0):
    """The class docstring's equations, written out naively in float64 (one list entry per group)."""
    S, T = sign_iters, transition_iters
    x = [[p.detach().to(torch.float64).clone() for p in ps] for ps in params]
    buf = [[None] * len(ps) for ps in params]
    schedule = [None] * len(params)
    for k in range(1, len(grads) + 1):
        for gi in range(len(params)):
            lr = LRS[gi] * lr_factor(k)
            us = []
            for pi in range(len(params[gi])):
                g = grads[k - 1][gi][pi].to(torch.float64)
                if maximize:
                    g = -g
                x[gi][pi] = x[gi][pi] * (1 - lr * weight_decay)
                if momentum:
                    if buf[gi][pi] is None:
                        buf[gi][pi] = g.clone()
                    elif momentum_form == "ema":
                        buf[gi][pi] = momentum * buf[gi][pi] + (1 - momentum) * g
                    else:
                        buf[gi][pi] = momentum * buf[gi][pi] + (1 - dampening) * g
                    u = g + momentum * buf[gi][pi] if nesterov else buf[gi][pi]
                else:
                    u = g
                us.append(u)
            norm = math.sqrt(sum(float((u * u).sum()) for u in us))
            lr_eff = lr / norm if normalized else lr * norm if sign_norm else lr
            if k - 1 == S:
                z = torch.cat([u.reshape(-1) for u in us])
                schedule[gi] = temperature_schedule(z, T, eps, newton_iters, tmax, kind="tanh", dtype=torch.float64)
            for pi, u in enumerate(us):
                if k - 1 >= S:
                    d = torch.tanh(schedule[gi][min(k - 1 - S, T - 1)] * u)
                else:
                    d = torch.sign(u)
                x[gi][pi] = x[gi][pi] - lr_eff * d
    return x, schedule


def run(opt, params, grads, scheduler=None, check_grads=False):
    for grads_k in grads:
        set_grads(params, grads_k)
        before = [[p.grad.clone() for p in ps] for ps in params]
        ids = [[p.grad.data_ptr() for p in ps] for ps in params]
        opt.step()
        if scheduler is not None:
            scheduler.step()
        if check_grads:  # step() never writes into p.grad
            for ps, bs, i_s in zip(params, before, ids):
                for p, b, i in zip(ps, bs, i_s):
                    assert torch.equal(p.grad, b) and p.grad.data_ptr() == i


CONFIGS = [
    {},
    dict(momentum=0.9),
    dict(momentum=0.9, nesterov=True),
    dict(momentum=0.8, dampening=0.3),
    dict(momentum=0.5, weight_decay=0.1),
    dict(momentum=0.9, normalized=True, weight_decay=0.05),
    dict(momentum=0.9, sign_norm=True),
    dict(sign_norm=True),
    dict(momentum=0.9, momentum_form="ema"),
    dict(momentum=0.9, nesterov=True, maximize=True, weight_decay=0.1),
]


# -- 1. float64 reference ------------------------------------------------------------------------
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "plain")
def test_matches_float64_reference(cfg):
    S, T, n_steps = 3, 4, 6
    params = make_params(torch.float64)
    grads = make_grads(n_steps, torch.float64)
    expected, exp_sched = reference(params, grads, sign_iters=S, transition_iters=T, **cfg)
    opt = SoftSignum(groups_of(params), sign_iters=S, transition_iters=T, schedule_dtype=torch.float64, **cfg)
    run(opt, params, grads, check_grads=True)
    for ps, xs in zip(params, expected):
        for p, x in zip(ps, xs):
            torch.testing.assert_close(p.detach(), x, rtol=1e-12, atol=1e-14)
    for group, s in zip(opt.param_groups, exp_sched):
        torch.testing.assert_close(group["schedule"], s, rtol=1e-12, atol=0)
    # the schedule leaves the clamp [1, 20] somewhere, so the tanh steps are really exercised
    assert any(bool(((s > 1) & (s < 20)).any()) for s in exp_sched)


def test_step_lr_scheduler_matches_reference():
    S, T, n_steps = 2, 5, 6
    cfg = dict(momentum=0.9, nesterov=True, weight_decay=0.1)
    params = make_params(torch.float64)
    grads = make_grads(n_steps, torch.float64)
    expected, _ = reference(params, grads, sign_iters=S, transition_iters=T,
                            lr_factor=lambda k: 0.5 ** ((k - 1) // 2), **cfg)
    opt = SoftSignum(groups_of(params), sign_iters=S, transition_iters=T, schedule_dtype=torch.float64, **cfg)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    run(opt, params, grads, scheduler=sched)
    for ps, xs in zip(params, expected):
        for p, x in zip(ps, xs):
            torch.testing.assert_close(p.detach(), x, rtol=1e-12, atol=1e-14)
    assert [g["lr"] for g in opt.param_groups] == [lr * 0.125 for lr in LRS]


def test_ema_form_is_sgd_form_with_dampening_equal_to_momentum():
    S, T, n_steps, beta = 2, 4, 6, 0.9
    grads = make_grads(n_steps, torch.float64)
    pa, pb = make_params(torch.float64), make_params(torch.float64)
    opt_a = SoftSignum(groups_of(pa), momentum=beta, momentum_form="ema", sign_iters=S, transition_iters=T,
                       schedule_dtype=torch.float64)
    opt_b = SoftSignum(groups_of(pb), momentum=beta, dampening=beta, sign_iters=S, transition_iters=T,
                       schedule_dtype=torch.float64)
    run(opt_a, pa, grads)
    run(opt_b, pb, grads)
    for ps_a, ps_b in zip(pa, pb):
        for a, b in zip(ps_a, ps_b):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
            torch.testing.assert_close(opt_a.state[a]["momentum_buffer"], opt_b.state[b]["momentum_buffer"],
                                       rtol=1e-12, atol=1e-15)


# -- 2. sign phase = Signum / SignSGD bit for bit (float32) ---------------------------------------
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sign_phase_is_signum_bit_for_bit(momentum):
    n_steps = 8
    grads = make_grads(n_steps, torch.float32)
    pa, pb = make_params(torch.float32), make_params(torch.float32)
    opt_a = SoftSignum(groups_of(pa), momentum=momentum, momentum_form="ema", weight_decay=0.1, sign_iters=n_steps)
    if momentum:
        opt_b = Signum(groups_of(pb), momentum=momentum, weight_decay=0.1)
    else:
        opt_b = SignSGD(groups_of(pb), weight_decay=0.1)
    for grads_k in grads:
        set_grads(pa, grads_k)
        set_grads(pb, grads_k)
        opt_a.step()
        opt_b.step()
        for ps_a, ps_b in zip(pa, pb):
            for a, b in zip(ps_a, ps_b):
                assert torch.equal(a, b)
    assert all(g["schedule"] is None for g in opt_a.param_groups)


def test_sign_phase_sgd_form_is_sign_of_sgd_buffer_bit_for_bit():
    n_steps, mu, damp, wd = 8, 0.9, 0.2, 0.1
    grads = make_grads(n_steps, torch.float32)
    pa = make_params(torch.float32)
    x = [[p.detach().clone() for p in ps] for ps in pa]
    buf = [[None] * len(ps) for ps in pa]
    opt = SoftSignum(groups_of(pa), momentum=mu, dampening=damp, weight_decay=wd, sign_iters=100)
    for grads_k in grads:
        set_grads(pa, grads_k)
        opt.step()
        for gi, gs in enumerate(grads_k):
            for pi, g in enumerate(gs):
                if buf[gi][pi] is None:
                    buf[gi][pi] = g.clone()
                else:
                    buf[gi][pi].mul_(mu).add_(g, alpha=1 - damp)
                x[gi][pi].mul_(1 - LRS[gi] * wd).add_(torch.sign(buf[gi][pi]), alpha=-LRS[gi])
                assert torch.equal(pa[gi][pi], x[gi][pi])


# -- 3. small τ: momentum SGD with step lr·τ up to O((τu)³) -----------------------------------------
@pytest.mark.parametrize("tau_mode", ["tmax=1", "forced=0.25"])
def test_small_tau_is_momentum_sgd_with_lr_tau(tau_mode, monkeypatch):
    T, n_steps, lr, mu, scale = 20, 8, 0.1, 0.9, 1e-3
    if tau_mode == "tmax=1":
        tau, kw = 1.0, dict(tmax=1.0)  # τ is clamped to [1, tmax] = {1}
    else:
        tau, kw = 0.25, {}
        monkeypatch.setattr(soft_sign_module, "temperature_schedule",
                            lambda z, length, **_: torch.full((length,), tau, dtype=torch.float64))

    def one_run(s):
        grads = make_grads(n_steps, torch.float64, scale=s)
        pa, pb = make_params(torch.float64), make_params(torch.float64)
        soft = SoftSignum([p for ps in pa for p in ps], lr=lr, momentum=mu, sign_iters=0, transition_iters=T,
                          schedule_dtype=torch.float64, **kw)
        sgd = torch.optim.SGD([p for ps in pb for p in ps], lr=lr * tau, momentum=mu)
        flat_a, flat_b = [p for ps in pa for p in ps], [p for ps in pb for p in ps]
        bufs = [None] * len(flat_a)
        bound = [torch.zeros_like(p) for p in flat_a]   # Σ_k lr·|τu|³/3 ≥ |Σ_k lr(τu − tanh τu)|
        cubic = [torch.zeros_like(p) for p in flat_a]   # leading term Σ_k lr(τu)³/3
        quintic = [torch.zeros_like(p) for p in flat_a]  # next term, bounds the remainder
        for grads_k in grads:
            gs = [g for gk in grads_k for g in gk]
            for i, g in enumerate(gs):
                bufs[i] = g.clone() if bufs[i] is None else mu * bufs[i] + g
                y = tau * bufs[i]
                assert float(y.abs().max()) < 0.1  # the linear regime |τu| ≪ 1
                bound[i] += lr * y.abs() ** 3 / 3
                cubic[i] += lr * y ** 3 / 3
                quintic[i] += lr * 2 * y.abs() ** 5 / 15
            for group in (soft, sgd):
                for p, g in zip(flat_a if group is soft else flat_b, gs):
                    p.grad = g.clone()
            soft.step()
            sgd.step()
        assert all(float(g["schedule"][0]) == tau for g in soft.param_groups)
        diff = [a.detach() - b.detach() for a, b in zip(flat_a, flat_b)]
        for d, b, c, q in zip(diff, bound, cubic, quintic):
            assert bool((d.abs() <= b + 1e-14).all())           # O((τu)³), explicit constant 1/3
            assert bool(((d - c).abs() <= q + 1e-14).all())     # and (τu)³/3 is the leading error
        return max(float(d.abs().max()) for d in diff)

    err, err_half = one_run(scale), one_run(scale / 2)
    assert err > 0
    assert 0.11 < err_half / err < 0.14  # cubic: halving u divides the error by 8


# -- 4. the schedule: once at k = S + 1, from u, per group ------------------------------------------
def test_schedule_fitted_once_from_u_per_group():
    S, T = 2, 6
    params = make_params(torch.float32)
    grads = make_grads(S + 3, torch.float32)
    opt = SoftSignum(groups_of(params), momentum=0.9, sign_iters=S, transition_iters=T, tmax=1e9)
    run(opt, params, grads[:S])
    assert all(g["schedule"] is None for g in opt.param_groups)
    run(opt, params, grads[S:S + 1])  # k = S + 1
    fitted = [g["schedule"].clone() for g in opt.param_groups]
    for ps, gs, s in zip(params, grads[S], fitted):
        u = torch.cat([opt.state[p]["momentum_buffer"].reshape(-1) for p in ps])  # u = buf (no Nesterov)
        assert s.dtype == torch.float32 and s.shape == (T,)
        assert torch.equal(s, temperature_schedule(u, T, tmax=1e9, kind="tanh", dtype=torch.float32))
        raw = torch.cat([g.reshape(-1) for g in gs])
        assert not torch.equal(s, temperature_schedule(raw, T, tmax=1e9, kind="tanh", dtype=torch.float32))
    assert not torch.equal(fitted[0], fitted[1])  # one schedule per group
    # much larger, different gradients later do not refit
    later = make_grads(2, torch.float32, seed=7, scale=1e3)
    run(opt, params, later)
    for g, s in zip(opt.param_groups, fitted):
        assert torch.equal(g["schedule"], s)


def test_schedule_of_a_group_ignores_other_groups():
    S, T = 1, 5
    grads = make_grads(S + 1, torch.float32)
    other = copy.deepcopy(grads)
    other[S][1] = [10 * g + 1 for g in other[S][1]]  # change only group 1 at the fitting step
    scheds = []
    for gs in (grads, other):
        params = make_params(torch.float32)
        opt = SoftSignum(groups_of(params), momentum=0.9, sign_iters=S, transition_iters=T, tmax=1e9)
        run(opt, params, gs)
        scheds.append([g["schedule"] for g in opt.param_groups])
    assert torch.equal(scheds[0][0], scheds[1][0])
    assert not torch.equal(scheds[0][1], scheds[1][1])


# -- 5. scale equivariance (Softsign [SS-ACC] test 7) ----------------------------------------------------------
@pytest.mark.parametrize("c", [0.1, 3.7])
def test_schedule_scale_equivariance(c):
    S, T, base = 1, 50, 0.02  # gradients small enough that τ_j stays above the lower clamp 1
    scheds = []
    for s in (base, base * c):
        params = make_params(torch.float64)
        opt = SoftSignum(groups_of(params), momentum=0.9, sign_iters=S, transition_iters=T, tmax=1e9,
                         schedule_dtype=torch.float64)
        run(opt, params, make_grads(S + 1, torch.float64, scale=s))
        scheds.append([g["schedule"] for g in opt.param_groups])
    for tau, tau_c in zip(*scheds):
        free = (tau > 1) & (tau < 1e9) & (tau_c > 1) & (tau_c < 1e9)
        assert int(free.sum()) >= T - 2  # only τ_0 (q_0 = 0 → tmax) is clamped
        # exact up to the official 1e-8 guard added to the MAD (relative effect ≲ 1e-8/σ̂ ≈ 1e-6 here)
        torch.testing.assert_close(tau_c[free], tau[free] / c, rtol=1e-5, atol=0)


# -- 6. past S + T: hold the last τ and warn once; strict raises ---------------------------------------
def _horizon_setup(strict):
    w = torch.nn.Parameter(torch.randn(6, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    gen = torch.Generator().manual_seed(1)
    grads = [torch.randn(6, generator=gen, dtype=torch.float64) for _ in range(5)]
    opt = SoftSignum([w], lr=0.1, sign_iters=1, transition_iters=2, schedule_dtype=torch.float64, strict=strict)
    return w, grads, opt


def test_past_horizon_holds_last_tau_and_warns_once():
    w, grads, opt = _horizon_setup(strict=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for g in grads[:3]:  # k = 1..3 = S + T
            w.grad = g
            opt.step()
    last = opt.param_groups[0]["schedule"][-1]
    before = w.detach().clone()
    w.grad = grads[3]
    with pytest.warns(RuntimeWarning, match=r"step 4 is past sign_iters \+ transition_iters = 3"):
        opt.step()
    torch.testing.assert_close(w.detach(), before - 0.1 * torch.tanh(last * grads[3]), rtol=0, atol=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w.grad = grads[4]
        opt.step()


def test_past_horizon_strict_raises_without_updating():
    w, grads, opt = _horizon_setup(strict=True)
    for g in grads[:3]:
        w.grad = g
        opt.step()
    before = w.detach().clone()
    w.grad = grads[3]
    with pytest.raises(RuntimeError, match=r"step 4 is past sign_iters \+ transition_iters = 3"):
        opt.step()
    assert torch.equal(w.detach(), before)
    assert opt.state_dict()["convexlab"]["step"] == 3


# -- 7. state_dict round trip with an LR scheduler -------------------------------------------------------
def test_state_dict_round_trip_continues_bit_for_bit():
    S, T, k, m = 2, 6, 4, 3
    overrides = ({"nesterov": True}, {"normalized": True})

    def build(params):
        opt = SoftSignum(groups_of(params, overrides), momentum=0.9, weight_decay=0.01, sign_iters=S,
                         transition_iters=T)
        return opt, torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)

    grads = make_grads(k + m, torch.float32)
    params = make_params(torch.float32)
    opt, sched = build(params)
    run(opt, params, grads[:k], scheduler=sched, check_grads=True)
    assert opt.param_groups[0]["schedule"] is not None  # crossed the transition (k = S + 1 = 3)
    buffer = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, buffer)
    clones = [[torch.nn.Parameter(p.detach().clone()) for p in ps] for ps in params]
    run(opt, params, grads[k:], scheduler=sched, check_grads=True)

    buffer.seek(0)
    saved = torch.load(buffer, weights_only=False)
    opt2, sched2 = build(clones)
    opt2.load_state_dict(saved["opt"])
    sched2.load_state_dict(saved["sched"])
    run(opt2, clones, grads[k:], scheduler=sched2, check_grads=True)
    for ps, qs in zip(params, clones):
        for p, q in zip(ps, qs):
            assert torch.equal(p, q)
    for g, g2 in zip(opt.param_groups, opt2.param_groups):
        assert torch.equal(g["schedule"], g2["schedule"]) and g["lr"] == g2["lr"]
    assert opt2.state_dict()["convexlab"]["step"] == k + m
    assert opt.param_groups[0]["lr"] == LRS[0] * 0.5 ** 3


def test_load_state_dict_without_step_counter_is_rejected():
    params = make_params(torch.float32)
    opt = SoftSignum(groups_of(params))
    sd = opt.state_dict()
    del sd["convexlab"]["step"]
    with pytest.raises(ValueError, match="no SoftSignum step counter"):
        SoftSignum(groups_of(params)).load_state_dict(sd)


def test_box_is_applied_on_the_scaled_path():
    params = make_params(torch.float32)
    opt = SoftSignum(groups_of(params), normalized=True, sign_iters=1, transition_iters=3, box=(-0.5, 0.5))
    run(opt, params, make_grads(3, torch.float32))
    assert all(bool((p.abs() <= 0.5).all()) for ps in params for p in ps)


# -- 8. bad input ----------------------------------------------------------------------------------------
BAD = [
    (dict(lr=-1.0), r"lr must be a finite number >= 0, got -1.0"),
    (dict(momentum=1.0), r"momentum must be in \[0, 1\), got 1.0"),
    (dict(momentum=-0.1), r"momentum must be in \[0, 1\), got -0.1"),
    (dict(dampening=-0.1), r"dampening must be in \[0, 1\), got -0.1"),
    (dict(dampening=1.0), r"dampening must be in \[0, 1\), got 1.0"),
    (dict(weight_decay=-0.1), r"weight_decay must be a finite number >= 0, got -0.1"),
    (dict(momentum=0.9, dampening=0.1, nesterov=True), r"nesterov=True requires .*dampening=0.1"),
    (dict(nesterov=True), r"nesterov=True requires momentum > 0.*momentum=0.0"),
    (dict(momentum=0.9, nesterov=True, momentum_form="ema"), r"nesterov=True requires .*momentum_form='ema'"),
    (dict(momentum=0.9, dampening=0.5, momentum_form="ema"), r"dampening must be 0 with momentum_form='ema'"),
    (dict(normalized=True, sign_norm=True), r"normalized and sign_norm are mutually exclusive"),
    (dict(eps=0.0), r"eps must be a finite number > 0, got 0.0"),
    (dict(eps=1.0), r"eps must be in \(0, 1\), got 1.0"),
    (dict(tmax=0.5), r"tmax must be a finite number >= 1 .*got 0.5"),
    (dict(tmax=float("inf")), r"tmax must be a finite number > 0, got inf"),
    (dict(transition_iters=0), r"transition_iters must be an integer >= 1, got 0"),
    (dict(sign_iters=-1), r"sign_iters must be an integer >= 0, got -1"),
    (dict(sign_iters=2.5), r"sign_iters must be an integer >= 0, got 2.5"),
    (dict(newton_iters=-1), r"newton_iters must be an integer >= 0, got -1"),
    (dict(momentum_form="adam"), r"momentum_form must be one of \('sgd', 'ema'\), got 'adam'"),
    (dict(schedule_dtype=torch.float16), r"schedule_dtype must be one of .*got torch.float16"),
    (dict(strict="yes"), r"strict must be True or False, got 'yes'"),
    (dict(maximize=None), r"maximize must be True or False, got None"),
]


@pytest.mark.parametrize("kw,match", BAD, ids=[m for _, m in BAD])
def test_bad_arguments_raise(kw, match):
    w = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match=match):
        SoftSignum([w], **kw)


def test_bad_param_group_raises():
    w, v = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\), got 2.0"):
        SoftSignum([{"params": [w], "momentum": 2.0}])
    opt = SoftSignum([w])
    with pytest.raises(ValueError, match=r"transition_iters must be an integer >= 1, got 0"):
        opt.add_param_group({"params": [v], "transition_iters": 0})


def test_fixed_tau_applies_tanh_of_tau_u_at_every_step():
    w = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    opt = SoftSignum([w], lr=0.1, tau=0.7, sign_iters=5, transition_iters=1)
    gen = torch.Generator().manual_seed(0)
    x = torch.zeros(3, dtype=torch.float64)
    for _ in range(8):  # past S + T: no warning, no schedule, the same τ
        g = torch.randn(3, dtype=torch.float64, generator=gen)
        w.grad = g
        opt.step()
        x = x - 0.1 * torch.tanh(0.7 * g)
    torch.testing.assert_close(w.detach(), x, rtol=0, atol=1e-15)
    assert opt.param_groups[0]["schedule"] is None


@pytest.mark.parametrize("tau", [0.0, -1.0, float("nan"), float("inf"), "1"])
def test_fixed_tau_out_of_range_raises(tau):
    with pytest.raises(ValueError, match="tau must be a finite number > 0"):
        SoftSignum([torch.nn.Parameter(torch.zeros(2))], tau=tau)
