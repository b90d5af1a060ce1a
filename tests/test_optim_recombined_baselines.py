"""SGDMomentum is torch.optim.SGD bit for bit; HardSwitch is Signum for S steps, then SGDMomentum
(lr scaled), with its counter in state_dict, and both rebuild from their declared parts."""

import copy

import pytest
import torch

from convexlab.geometry import Euclidean, Sign
from convexlab.optim import RECOMBINED, REGISTRY, HardSwitch, SGDMomentum, Signum
from convexlab.optim.momentum import EMA, HeavyBall


def _params(seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=gen, dtype=dtype)) for s in [(6, 4), (5,), (0,)]]


def _grads(params, gen):
    return [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in params]


def _run(opt, params, steps, seed=1):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        for p, g in zip(params, _grads(params, gen)):
            p.grad = g
        opt.step()


@pytest.mark.parametrize("kw", [dict(momentum=0.9, dampening=0.0), dict(momentum=0.9, dampening=0.3),
                                dict(momentum=0.9, nesterov=True), dict(momentum=0.0)], ids=str)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("foreach", [None, False])
def test_sgd_momentum_is_torch_sgd_bit_for_bit(kw, dtype, foreach):
    a, b = _params(dtype=dtype), _params(dtype=dtype)
    ours = SGDMomentum(a, lr=0.03, foreach=foreach, **kw)
    ref = torch.optim.SGD(b, lr=0.03, foreach=foreach, **kw)
    _run(ours, a, 12)
    _run(ref, b, 12)
    for p, q in zip(a, b):
        assert torch.equal(p, q)
    if kw["momentum"]:
        for p, q in zip(a, b):
            assert torch.equal(ours.state[p]["momentum_buffer"], ref.state[q]["momentum_buffer"])


def test_sgd_momentum_decay_is_decoupled():
    w = torch.nn.Parameter(torch.tensor([2.0]))
    opt = SGDMomentum([w], lr=0.1, momentum=0.0, weight_decay=0.5)
    w.grad = torch.tensor([1.0])
    opt.step()
    assert w.item() == pytest.approx(2.0 * (1 - 0.05) - 0.1)


@pytest.mark.parametrize("bad, match", [(dict(momentum=1.0), "momentum"), (dict(dampening=-0.1), "dampening"),
                                        (dict(momentum=0.0, nesterov=True), "nesterov"),
                                        (dict(dampening=0.1, nesterov=True), "nesterov"), (dict(lr=-1.0), "lr")])
def test_sgd_momentum_bad_arguments(bad, match):
    with pytest.raises(ValueError, match=match):
        SGDMomentum(_params(), **bad)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_hard_switch_is_signum_then_sgd_momentum(dtype):
    S, lr, s, mu, wd = 5, 0.01, 3.0, 0.9, 0.1
    a, b = _params(dtype=dtype), _params(dtype=dtype)
    hs = HardSwitch(a, lr=lr, momentum=mu, switch_iters=S, sgd_lr_scale=s, weight_decay=wd)
    sig = Signum(b, lr=lr, momentum=mu, weight_decay=wd)
    gen_a, gen_b = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    for _ in range(S):
        for p, g in zip(a, _grads(a, gen_a)):
            p.grad = g
        for p, g in zip(b, _grads(b, gen_b)):
            p.grad = g
        assert isinstance(hs.geometry(hs.param_groups[0]), Sign)
        hs.step()
        sig.step()
    for p, q in zip(a, b):
        assert torch.equal(p, q)  # the sign phase is Signum bit for bit
    # the SGD phase: an SGDMomentum(lr = s·lr) whose buffer starts at Signum's EMA m_S
    c = [torch.nn.Parameter(p.detach().clone()) for p in a]
    sgd = SGDMomentum(c, lr=lr * s, momentum=mu, weight_decay=wd)
    for p, q in zip(c, b):
        sgd.state[p]["step"] = S
        sgd.state[p]["momentum_buffer"] = sig.state[q]["exp_avg"].clone()
    assert isinstance(hs.geometry(hs.param_groups[0]), Euclidean)
    assert isinstance(hs.momentum(hs.param_groups[0]), HeavyBall)
    for _ in range(6):
        grads = _grads(a, gen_a)
        for p, g in zip(a, grads):
            p.grad = g
        for p, g in zip(c, grads):
            p.grad = g.clone()
        hs.step()
        sgd.step()
    for p, q in zip(a, c):
        assert torch.equal(p, q)


def test_hard_switch_parts_rebuild_each_step_through_the_switch():
    """u = momentum(group).update(g), d = geometry(group).direction(u), x ← x(1 − lr_k λ) − lr_k d."""
    params = _params(dtype=torch.float64)
    opt = HardSwitch(params, lr=0.02, momentum=0.9, switch_iters=3, sgd_lr_scale=0.5, weight_decay=0.1)
    gen = torch.Generator().manual_seed(7)
    seen = set()
    for k in range(1, 8):
        group = opt.param_groups[0]
        grads = _grads(params, gen)
        states = copy.deepcopy([opt.state[p] for p in params])
        for st in states:
            st.setdefault("step", 0)
            st["step"] += 1
        part, geo = opt.momentum(group), opt.geometry(group)
        seen.add((type(part).__name__, type(geo).__name__))
        us = part.update([g.clone() for g in grads], states, group)
        lr = 0.02 if k <= 3 else 0.01
        want = [p.detach() * (1 - lr * 0.1) - lr * geo.direction(u) for p, u in zip(params, us)]
        for p, g in zip(params, grads):
            p.grad = g
        opt.step()
        tol = 0 if k <= 3 else 8 * torch.finfo(torch.float64).eps  # as tests/test_optim_parts.py: sign exact
        for p, w in zip(params, want):
            torch.testing.assert_close(p.detach(), w, rtol=tol, atol=tol)
    assert seen == {("EMA", "Sign"), ("HeavyBall", "Euclidean")}


def test_hard_switch_state_dict_round_trip_across_the_switch():
    a, b = _params(), _params()
    one = HardSwitch(a, lr=0.01, switch_iters=4)
    _run(one, a, 3)
    two = HardSwitch(b, lr=0.01, switch_iters=4)
    for p, q in zip(a, b):
        q.data.copy_(p.data)
    two.load_state_dict(copy.deepcopy(one.state_dict()))
    assert two._k == 3
    _run(one, a, 4, seed=9)
    _run(two, b, 4, seed=9)
    for p, q in zip(a, b):
        assert torch.equal(p, q)
    sd = one.state_dict()
    del sd["convexlab"]["step"]
    with pytest.raises(ValueError, match="step counter"):
        two.load_state_dict(sd)


def test_hard_switch_zero_switch_and_no_momentum():
    a, b = _params(), _params()
    hs = HardSwitch(a, lr=0.01, momentum=0.9, switch_iters=0, sgd_lr_scale=2.0)
    ref = torch.optim.SGD(b, lr=0.02, momentum=0.9)
    _run(hs, a, 5)
    _run(ref, b, 5)
    for p, q in zip(a, b):
        assert torch.equal(p, q)
    c = _params()
    plain = HardSwitch(c, lr=0.01, momentum=0.0, switch_iters=2)
    _run(plain, c, 3)
    assert all("momentum_buffer" not in plain.state[p] for p in c)
    assert isinstance(HardSwitch(_params(), momentum=0.9).momentum({"momentum": 0.9, "switch_iters": 9000}), EMA)


@pytest.mark.parametrize("bad, match", [(dict(switch_iters=-1), "switch_iters"), (dict(switch_iters=1.5), "switch_iters"),
                                        (dict(sgd_lr_scale=0.0), "sgd_lr_scale"),
                                        (dict(sgd_lr_scale=float("inf")), "sgd_lr_scale"),
                                        (dict(momentum=-0.1), "momentum")])
def test_hard_switch_bad_arguments(bad, match):
    with pytest.raises(ValueError, match=match):
        HardSwitch(_params(), **bad)


def test_registered_and_left_out_of_bench_compare_defaults():
    assert REGISTRY["SGDMomentum"] is SGDMomentum and REGISTRY["HardSwitch"] is HardSwitch
    assert {"SGDMomentum", "HardSwitch"} <= set(RECOMBINED)
