"""SF-NorMuon's weight-decay placements "none" and "all" and the base-lr decay multiplier
(``decay_lr="base"``), against a hand-written explicit-state reference of Algorithm 1 (SF-NorMuon
[SFN-ALG1, SFN-DECAY]), plus the same options on SF-AdamW and their validation."""

from __future__ import annotations

import math

import pytest
import torch

from convexlab.optim import SFAdamW, SFNorMuon
from convexlab.optim.schedule_free import DECAY_AT_EXTENDED, DECAY_LR

SHAPES = [(4, 6), (5, 3)]


def _params(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(*s, generator=g, dtype=torch.float64)) for s in SHAPES]


def _grads(steps, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [[torch.randn(*s, generator=g, dtype=torch.float64) for s in SHAPES] for _ in range(steps)]


def _polar(m):
    u, _, vh = torch.linalg.svd(m, full_matrices=False)
    return u @ vh


def reference(w0, grads, *, lr, beta, mu, beta2, eps, wd, at, warm, decay_lr="scheduled"):
    r"""Algorithm 1 written out with x, y and z stored explicitly (no closed form), exact polar,
    float64. Placement of the decay term with a = lr_dec·λ (lr_dec = η_t or the base η):
    z/y/x: z ← z − a·A − η̂P̂ with A = z_t, y_t, x_t; none: no decay; all: y, z, x ← (1 − a)(·)
    first, then the undecayed step. c_{t+1} = η_t²/Σ_{i≤t} η_i² (linear warmup: lr_max = η_t).
    Returns the list of (y, x) after every step."""
    z = [w.detach().clone() for w in w0]
    x = [w.detach().clone() for w in w0]
    M = [torch.zeros_like(w) for w in w0]
    v = [torch.zeros(w.shape[0], dtype=w.dtype) for w in w0]
    s_sum, out = 0.0, []
    for k, gs in enumerate(grads):
        eta_t = lr * ((k + 1) / warm if k < warm else 1.0)
        s_sum += eta_t ** 2
        c = eta_t ** 2 / s_sum
        a = (lr if decay_lr == "base" else eta_t) * wd
        ys = [(1 - beta) * zi + beta * xi for zi, xi in zip(z, x)]
        if at == "all":
            z = [(1 - a) * zi for zi in z]
            x = [(1 - a) * xi for xi in x]
            ys = [(1 - a) * yi for yi in ys]
        for i, g in enumerate(gs):
            M[i] = mu * M[i] + (1 - mu) * g
            P = _polar(M[i])
            v[i] = beta2 * v[i] + (1 - beta2) * (P * P).mean(dim=1)
            Ph = P / (v[i].sqrt()[:, None] + eps)
            m, n = P.shape
            eta_hat = 0.2 * eta_t * math.sqrt(m * n) / Ph.norm()
            A = {"z": z[i], "y": ys[i], "x": x[i]}.get(at)
            dec = a * A if A is not None else 0.0
            z[i] = z[i] - dec - eta_hat * Ph
            x[i] = (1 - c) * x[i] + c * z[i]
        out.append(([(1 - beta) * zi + beta * xi for zi, xi in zip(z, x)], [xi.clone() for xi in x]))
    return out


def _run(opt_factory, grads, params):
    opt = opt_factory(params)
    traj = []
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = g.clone()
        opt.step()
        y = [p.detach().clone() for p in params]
        with opt.evaluating():
            x = [p.detach().clone() for p in params]
        traj.append((y, x))
    return traj


KW = dict(lr=0.05, sf_beta=0.9, momentum=0.8, beta2=0.95, eps=1e-8, weight_decay=0.3, warmup_steps=4)


def _ours(at, decay_lr="scheduled", **extra):
    kw = {**KW, **extra}
    return lambda ps: SFNorMuon(ps, weight_decay_at=at, decay_lr=decay_lr, polar="svd", ns_dtype=torch.float64,
                                diagnostics=False, **kw)


def _ref(at, decay_lr="scheduled"):
    return dict(lr=KW["lr"], beta=KW["sf_beta"], mu=KW["momentum"], beta2=KW["beta2"], eps=KW["eps"],
                wd=KW["weight_decay"], at=at, warm=KW["warmup_steps"], decay_lr=decay_lr)


def _assert_close(ours, ref):
    for (y, x), (yr, xr) in zip(ours, ref):
        for a, b in zip(y + x, yr + xr):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("at", ["z", "y", "x"])
def test_reference_reproduces_the_existing_placements(at):
    """The hand reference is right where the optimizer was already tested (so it can judge the new ones)."""
    grads = _grads(9)
    ps = _params()
    ref = reference(ps, grads, **_ref(at))
    _assert_close(_run(_ours(at), grads, ps), ref)


@pytest.mark.parametrize("at", ["all", "z", "y", "x", "none"])
@pytest.mark.parametrize("decay_lr", ["scheduled", "base"])
def test_placements_and_decay_lr_match_the_hand_reference(at, decay_lr):
    grads = _grads(9)  # warmup 4: the base and the scheduled decay multipliers differ in steps 1-3
    ps = _params()
    ref = reference(ps, grads, **_ref(at, decay_lr))
    _assert_close(_run(_ours(at, decay_lr), grads, ps), ref)


def test_all_differs_from_every_single_placement_and_base_differs_from_scheduled():
    """The new options change the trajectory (the tests above cannot pass by doing nothing)."""
    grads = _grads(6)
    last = {}
    for at in ("all", "z", "y", "x", "none"):
        for dl in DECAY_LR:
            last[at, dl] = _run(_ours(at, dl), grads, _params())[-1][1][0]
    for at in ("z", "y", "x", "none"):
        assert (last["all", "scheduled"] - last[at, "scheduled"]).abs().max() > 1e-6
    for at in ("all", "z", "y", "x"):
        assert (last[at, "base"] - last[at, "scheduled"]).abs().max() > 1e-6
    assert torch.equal(last["none", "base"], last["none", "scheduled"])


@pytest.mark.parametrize("make", [
    lambda ps, **kw: SFNorMuon(ps, lr=0.05, warmup_steps=3, ns_dtype=torch.float32, **kw),
    lambda ps, **kw: SFAdamW(ps, lr=0.05, betas=(0.9, 0.99), warmup_steps=3, **kw),
], ids=["SFNorMuon", "SFAdamW"])
@pytest.mark.parametrize("decay_lr", DECAY_LR)
def test_none_is_weight_decay_zero_bit_for_bit(make, decay_lr):
    grads = [[g.float() for g in gs] for gs in _grads(8)]
    mk = lambda: [torch.nn.Parameter(p.detach().float()) for p in _params()]  # noqa: E731
    a = _run(lambda ps: make(ps, weight_decay=0.2, weight_decay_at="none", decay_lr=decay_lr), grads, mk())
    b = _run(lambda ps: make(ps, weight_decay=0.0), grads, mk())
    for (ya, xa), (yb, xb) in zip(a, b):
        for s, t in zip(ya + xa, yb + xb):
            assert torch.equal(s, t)


def test_sf_adamw_all_and_base_follow_the_same_rule():
    """SF-AdamW with "all": y, z ← (1 − aλ)(·) then the undecayed schedule-free AdamW step; with
    decay at y and decay_lr="base": u = g/σ + (lr/lr_t)λy (λ·lr·y in the step)."""
    torch.manual_seed(0)
    w0 = torch.randn(5, dtype=torch.float64)
    grads = [torch.randn(5, dtype=torch.float64) for _ in range(6)]
    lr, beta, beta2, eps, wd, warm = 0.1, 0.9, 0.99, 1e-8, 0.4, 3
    for at, dl in (("all", "scheduled"), ("all", "base"), ("y", "base")):
        p = torch.nn.Parameter(w0.clone())
        opt = SFAdamW([p], lr=lr, betas=(beta, beta2), eps=eps, weight_decay=wd, weight_decay_at=at, decay_lr=dl,
                      warmup_steps=warm)
        z, x, v, s_sum = w0.clone(), w0.clone(), torch.zeros(5, dtype=torch.float64), 0.0
        for k, g in enumerate(grads):
            p.grad = g.clone()
            opt.step()
            eta_t = lr * ((k + 1) / warm if k < warm else 1.0)
            s_sum += eta_t ** 2
            c = eta_t ** 2 / s_sum
            a = (lr if dl == "base" else eta_t) * wd
            y = (1 - beta) * z + beta * x
            v = beta2 * v + (1 - beta2) * g * g
            u = g / ((v / (1 - beta2 ** (k + 1))).sqrt() + eps)
            if at == "all":
                z, x = (1 - a) * z, (1 - a) * x
                z = z - eta_t * u
            else:
                z = z - a * y - eta_t * u
            x = (1 - c) * x + c * z
            torch.testing.assert_close(p.detach(), (1 - beta) * z + beta * x, rtol=1e-10, atol=1e-12)


# -- validation ---------------------------------------------------------------------------------
def test_the_allowed_sets():
    assert DECAY_AT_EXTENDED == ("x", "y", "z", "none", "all") and DECAY_LR == ("scheduled", "base")


@pytest.mark.parametrize("cls", [SFNorMuon, SFAdamW])
@pytest.mark.parametrize("key,value,message", [
    ("weight_decay_at", "everywhere",
     r"weight_decay_at must be one of \('x', 'y', 'z', 'none', 'all'\), got 'everywhere'"),
    ("decay_lr", "warm", r"decay_lr must be one of \('scheduled', 'base'\), got 'warm'"),
    ("decay_lr", None, r"decay_lr must be one of \('scheduled', 'base'\), got None"),
])
def test_bad_values_raise_in_the_constructor_per_group_via_add_param_group_and_at_the_step(cls, key, value, message):
    mk = lambda: torch.nn.Parameter(torch.zeros(3, 3))  # noqa: E731
    with pytest.raises(ValueError, match=message):
        cls([mk()], **{key: value})
    with pytest.raises(ValueError, match=message):
        cls([{"params": [mk()], key: value}])
    w = mk()
    opt = cls([w])
    with pytest.raises(ValueError, match=message):
        opt.add_param_group({"params": [mk()], key: value})
    assert len(opt.param_groups) == 1
    # a valid per-group value is used by that group only
    opt.add_param_group({"params": [mk()], "weight_decay_at": "all", "decay_lr": "base"})
    assert (opt.param_groups[1]["weight_decay_at"], opt.param_groups[1]["decay_lr"]) == ("all", "base")
    assert opt.param_groups[0]["decay_lr"] == "scheduled"
    # a hand edit is caught at the next step, before anything moves
    w.grad = torch.ones(3, 3)
    before = w.detach().clone()
    opt.param_groups[0][key] = value
    with pytest.raises(ValueError, match=message):
        opt.step()
    assert torch.equal(w.detach(), before)


def test_generic_schedule_free_classes_keep_the_three_placements():
    from convexlab.optim import Signum
    from convexlab.optim.schedule_free import schedule_free

    with pytest.raises(ValueError, match=r"weight_decay_at must be one of \('x', 'y', 'z'\), got 'all'"):
        schedule_free(Signum)([torch.nn.Parameter(torch.zeros(2))], lr=0.1, weight_decay_at="all")


def test_state_dict_round_trip_keeps_the_new_options():
    w = torch.nn.Parameter(torch.randn(3, 3))
    opt = SFNorMuon([w], weight_decay_at="all", decay_lr="base", ns_dtype=torch.float32)
    w.grad = torch.ones(3, 3)
    opt.step()
    w2 = torch.nn.Parameter(w.detach().clone())
    opt2 = SFNorMuon([w2], ns_dtype=torch.float32)
    opt2.load_state_dict(opt.state_dict())
    assert (opt2.param_groups[0]["weight_decay_at"], opt2.param_groups[0]["decay_lr"]) == ("all", "base")
