"""SF-NorMuon: the closed-form schedule-free update against an explicit x/y/z reference written from
[SFN-ALG1, SFN-DECAY], against ``schedulefree.ScheduleFreeWrapperReference`` around plain NorMuon (SF-NorMuon [SFN-REFTESTS]
test 2), the invariants of SF-NorMuon [SFN-REFTESTS] test 5, and the optimizer contract."""

import copy
import math
from collections import defaultdict

import pytest
import torch
from schedulefree.wrap_schedulefree_reference import ScheduleFreeWrapperReference

from convexlab.optim.sf_normuon import SFNorMuon
from convexlab.optim.spectral import NorMuon

DT = torch.float64
SHAPES = [(6, 4), (3, 5)]



def make_params(shapes=SHAPES, seed=0, dtype=DT):
    gen = torch.Generator().manual_seed(1000 + seed)
    return [torch.nn.Parameter(torch.randn(s, generator=gen, dtype=dtype)) for s in shapes]


def make_targets(shapes=SHAPES, dtype=DT):
    gen = torch.Generator().manual_seed(77)
    return [torch.randn(s, generator=gen, dtype=dtype) for s in shapes]


def noisy_grad(y, target, t, i):
    """∇ of ½‖y − target‖² plus seeded noise: the gradient is taken at the point that is passed (y)."""
    gen = torch.Generator().manual_seed(10_000 * t + i)
    return (y - target) + 0.5 * torch.randn(y.shape, generator=gen, dtype=y.dtype)


def polar_naive(M):
    U, _, Vh = torch.linalg.svd(M, full_matrices=False)
    return U @ Vh


def explicit_sf_normuon(W0, steps, *, lr, beta, mu, b2, eps, wd, at, warmup, toggles=()):
    """Algorithm 1 of SF-NorMuon [SFN-ALG1] with explicit x, y, z (decay A_t ∈ {x_t, y_t, z_t}, multiplier η_t)."""
    targets = make_targets([w.shape for w in W0])
    z = [w.clone() for w in W0]
    x = [w.clone() for w in W0]
    M = [torch.zeros_like(w) for w in W0]
    v = [torch.zeros(w.shape[0], dtype=DT) for w in W0]
    S, lr_max = 0.0, -1.0
    trace = []
    for t in range(1, steps + 1):
        k = t - 1
        eta = lr * ((k + 1) / warmup if k < warmup else 1.0)
        lr_max = max(lr_max, eta)
        S += lr_max**2
        c = lr_max**2 / S
        y = [(1 - beta) * zi + beta * xi for zi, xi in zip(z, x)]
        diag = []
        for i in range(len(W0)):
            G = noisy_grad(y[i], targets[i], t, i)
            M[i] = mu * M[i] + (1 - mu) * G
            P = polar_naive(M[i])
            m, n = P.shape
            v[i] = b2 * v[i] + (1 - b2) * (P * P).mean(dim=1)
            Ph = P / (v[i].sqrt() + eps)[:, None]
            step = 0.2 * eta * math.sqrt(m * n) / Ph.norm() * Ph
            A = {"x": x[i], "y": y[i], "z": z[i]}[at]
            diag.append((z[i].norm() / math.sqrt(m * n), (z[i] * Ph).sum() / (z[i].norm() * Ph.norm())))
            z_new = z[i] - eta * wd * A - step
            x[i] = (1 - c) * x[i] + c * z_new
            z[i] = z_new
        y = [(1 - beta) * zi + beta * xi for zi, xi in zip(z, x)]
        trace.append(dict(x=[xi.clone() for xi in x], y=y, z=[zi.clone() for zi in z], c=c, eta=eta, diag=diag))
    return trace


def run_sf(opt, params, steps, toggles=()):
    targets = make_targets([p.shape for p in params])
    out = []
    for t in range(1, steps + 1):
        for i, p in enumerate(params):
            p.grad = noisy_grad(p.detach(), targets[i], t, i)
        opt.step()
        rec = dict(y=[p.detach().clone() for p in params], z=[opt.state[p]["z"].clone() for p in params],
                   c=opt.param_groups[0]["c"], eta=opt.param_groups[0]["scheduled_lr"],
                   diag=[(opt.state[p]["rho"].clone(), opt.state[p]["alpha"].clone()) for p in params])
        if t in toggles:  # evaluate at x mid-run, then continue training
            opt.eval()
            rec["x"] = [p.detach().clone() for p in params]
            opt.eval()  # idempotent
            opt.train()
            opt.train()
            rec["y_after"] = [p.detach().clone() for p in params]
        out.append(rec)
    return out


@pytest.mark.parametrize("at", ["x", "y", "z"])
@pytest.mark.parametrize("beta", [0.9, 0.5])
def test_closed_form_matches_explicit_xyz_reference(at, beta):
    kw = dict(lr=0.05, beta=beta, mu=0.8, b2=0.95, eps=1e-8, wd=0.3, at=at, warmup=4)
    params = make_params()
    W0 = [p.detach().clone() for p in params]
    opt = SFNorMuon(params, lr=kw["lr"], sf_beta=beta, momentum=0.8, beta2=0.95, eps=1e-8, weight_decay=0.3,
                    weight_decay_at=at, warmup_steps=4, polar="svd")
    toggles = (2, 5, 9)
    got = run_sf(opt, params, 12, toggles)
    want = explicit_sf_normuon(W0, 12, **kw)
    for t, (g, w) in enumerate(zip(got, want), start=1):
        assert g["c"] == pytest.approx(w["c"], rel=1e-14) and g["eta"] == pytest.approx(w["eta"], rel=1e-14)
        for a, b in zip(g["y"], w["y"]):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
        for a, b in zip(g["z"], w["z"]):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
        for (rho, alpha), (rho_w, alpha_w) in zip(g["diag"], w["diag"]):
            assert float(rho) == pytest.approx(float(rho_w), rel=1e-11)
            assert float(alpha) == pytest.approx(float(alpha_w), rel=1e-9, abs=1e-12)
        if t in toggles:
            for a, b in zip(g["x"], w["x"]):
                torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
            for a, b in zip(g["y_after"], w["y"]):
                torch.testing.assert_close(a, b, rtol=0, atol=1e-13)
    assert want[0]["c"] == 1.0  # c_2 = 1


class SeparateState:
    """The wrapper keeps x, y, z in ``base.state``; give it its own dict so NorMuon's state stays its own."""

    def __init__(self, opt):
        self.opt = opt
        self.state = defaultdict(dict)

    @property
    def param_groups(self):
        return self.opt.param_groups

    def step(self):
        return self.opt.step()


@pytest.mark.parametrize("at", ["z", "y"])
def test_equals_schedulefree_wrapper_reference_around_plain_normuon(at):
    """SF-NorMuon [SFN-REFTESTS] test 2: ScheduleFreeWrapperReference(NorMuon(paper, μ, λ as W(1 − ηλ)), momentum=β) with the
    warmup as an external LambdaLR reproduces Algorithm 1 (decay at z); decay at y is the wrapper's
    ``weight_decay_at_y``."""
    lr, beta, mu, wd, warm, steps = 0.05, 0.9, 0.8, 0.2, 3, 10
    pa, pb = make_params(), make_params()
    ours = SFNorMuon(pa, lr=lr, sf_beta=beta, momentum=mu, weight_decay=wd, weight_decay_at=at, warmup_steps=warm,
                     polar="svd")
    base = NorMuon(pb, lr=lr, momentum=mu, beta2=0.95, eps=1e-8, weight_decay=wd if at == "z" else 0.0,
                   polar="svd")
    sched = torch.optim.lr_scheduler.LambdaLR(base, lambda e: min(1.0, (e + 1) / warm))

    ref = ScheduleFreeWrapperReference(SeparateState(base), momentum=beta, weight_decay_at_y=wd if at == "y" else 0.0)
    ref.train()
    targets = make_targets()
    for t in range(1, steps + 1):
        for i, (a, b) in enumerate(zip(pa, pb)):
            a.grad = noisy_grad(a.detach(), targets[i], t, i)
            b.grad = noisy_grad(b.detach(), targets[i], t, i)
        ours.step()
        ref.step()
        sched.step()
        for a, b in zip(pa, pb):
            torch.testing.assert_close(a.detach(), b.detach(), rtol=0, atol=1e-12)
        if t % 4 == 0:
            ours.eval()
            ref.eval()
            for a, b in zip(pa, pb):
                torch.testing.assert_close(a.detach(), b.detach(), rtol=0, atol=1e-12)
            ours.train()
            ref.train()


def test_invariants_first_average_interpolation_and_mode_round_trip():
    params = make_params()
    beta = 0.9
    opt = SFNorMuon(params, lr=0.02, sf_beta=beta, warmup_steps=3, polar="svd")
    targets = make_targets()
    for t in range(1, 8):
        for i, p in enumerate(params):
            p.grad = noisy_grad(p.detach(), targets[i], t, i)
        opt.step()
        y = [p.detach().clone() for p in params]
        with opt.evaluating():
            x = [p.detach().clone() for p in params]
        for p, yi, xi in zip(params, y, x):
            z = opt.state[p]["z"]
            if t == 1:  # c_2 = 1: x_2 = z_2
                assert opt.param_groups[0]["c"] == 1.0
                torch.testing.assert_close(xi, z, rtol=0, atol=1e-15)
            torch.testing.assert_close(yi, (1 - beta) * z + beta * xi, rtol=0, atol=1e-14)
            torch.testing.assert_close(p.detach(), yi, rtol=0, atol=1e-15)  # eval → train restores p
    assert opt.training


def test_nothing_moves_with_zero_lr_and_zero_decay():
    params = make_params()
    before = [p.detach().clone() for p in params]
    opt = SFNorMuon(params, lr=0.0, weight_decay=0.0)
    targets = make_targets()
    for t in range(1, 5):
        for i, p in enumerate(params):
            p.grad = noisy_grad(p.detach(), targets[i], t, i)
        opt.step()
    for p, b in zip(params, before):
        assert torch.equal(p.detach(), b) and torch.equal(opt.state[p]["z"], b)
    with opt.evaluating():
        for p, b in zip(params, before):
            assert torch.equal(p.detach(), b)


def test_step_norm_is_0_2_eta_t_sqrt_mn():
    """‖η̂_t P̂_t‖_F = 0.2·η_t·√(mn) exactly (SF-NorMuon [SFN-ALG1]), through the warmup, with the default bf16 NS5
    (float64 parameters so that z_{t+1} − z_t is measured without cancellation)."""
    params = make_params()
    lr, warm = 0.01, 5
    opt = SFNorMuon(params, lr=lr, weight_decay=0.0, warmup_steps=warm)
    targets = make_targets()
    for t in range(1, 9):
        z_before = [opt.state[p]["z"].clone() if opt.state[p] else p.detach().clone() for p in params]
        for i, p in enumerate(params):
            p.grad = noisy_grad(p.detach(), targets[i], t, i)
        opt.step()
        eta = lr * min(1.0, t / warm)
        assert opt.param_groups[0]["scheduled_lr"] == pytest.approx(eta, rel=1e-15)
        for p, zb in zip(params, z_before):
            m, n = p.shape
            assert float((opt.state[p]["z"] - zb).norm()) == pytest.approx(0.2 * eta * math.sqrt(m * n), rel=1e-12)


def test_defaults_follow_spec_3_2():
    opt = SFNorMuon([torch.nn.Parameter(torch.zeros(4, 4))])
    g = opt.param_groups[0]
    assert (g["lr"], g["sf_beta"], g["momentum"], g["beta2"], g["eps"], g["weight_decay"]) == (
        0.008, 0.9, 0.8, 0.95, 1e-8, 0.05)
    assert (g["weight_decay_at"], g["warmup_steps"], g["r"], g["weight_lr_power"]) == ("z", 2000, 0.0, 2.0)
    assert (g["nesterov"], g["row_norm"], g["polar"], g["ns_steps"], g["ns_dtype"]) == (
        False, True, "ns5", 5, torch.bfloat16)
    assert opt.variant == "paper" and opt.training


def test_row_norm_off_and_momentum_zero_ablations_step():
    for kw in (dict(row_norm=False), dict(momentum=0.0), dict(nesterov=True)):
        params = make_params()
        opt = SFNorMuon(params, lr=0.01, warmup_steps=0, weight_decay=0.0, **kw)
        targets = make_targets()
        z0 = [p.detach().clone() for p in params]
        for i, p in enumerate(params):
            p.grad = noisy_grad(p.detach(), targets[i], 1, i)
        opt.step()
        for p, b in zip(params, z0):  # still RMS-matched
            rms = float((opt.state[p]["z"] - b).square().mean().sqrt())
            assert rms == pytest.approx(0.2 * 0.01, rel=1e-12)


def test_one_dimensional_parameter_is_refused_with_a_routing_message():
    with pytest.raises(ValueError, match="route"):
        SFNorMuon([torch.nn.Parameter(torch.zeros(4, 4)), torch.nn.Parameter(torch.zeros(4))])


def test_step_in_eval_mode_raises():
    p = make_params()[0]
    opt = SFNorMuon([p])
    opt.eval()
    p.grad = torch.ones_like(p)
    with pytest.raises(RuntimeError, match="train"):
        opt.step()


W = lambda: [torch.nn.Parameter(torch.zeros(3, 3))]  # noqa: E731
BAD = [
    (lambda: SFNorMuon(W(), lr=-1.0), "lr"),
    (lambda: SFNorMuon(W(), momentum=1.0), "momentum"),
    (lambda: SFNorMuon(W(), sf_beta=1.5), "sf_beta"),
    (lambda: SFNorMuon(W(), beta2=-0.1), "beta2"),
    (lambda: SFNorMuon(W(), eps=-1.0), "eps"),
    (lambda: SFNorMuon(W(), weight_decay=-0.05), "weight_decay"),
    (lambda: SFNorMuon(W(), weight_decay_at="w"), "weight_decay_at"),
    (lambda: SFNorMuon(W(), warmup_steps=-1), "warmup_steps"),
    (lambda: SFNorMuon(W(), polar="eig"), "polar"),
    (lambda: SFNorMuon(W(), row_norm=None), "row_norm"),
    (lambda: SFNorMuon(W(), diagnostics="yes"), "diagnostics"),
    (lambda: SFNorMuon(W(), box=(0, 1)), "box"),
]


@pytest.mark.parametrize("factory,name", BAD, ids=[f"{i}-{n}" for i, (_, n) in enumerate(BAD)])
def test_bad_hyperparameters_raise_value_error_naming_the_argument(factory, name):
    with pytest.raises(ValueError, match=name):
        factory()


def test_grad_untouched_and_state_dict_round_trip_bit_for_bit():
    """Checkpoint in eval mode (x in the parameters), resume, continue: identical trajectories."""
    targets = make_targets(dtype=torch.float32)

    def fresh(ps):
        return SFNorMuon(ps, lr=0.02, warmup_steps=3)

    def steps(opt, ps, ts):
        for t in ts:
            for i, p in enumerate(ps):
                p.grad = noisy_grad(p.detach(), targets[i], t, i)
                g = p.grad.clone()
            opt.step()
            assert torch.equal(ps[-1].grad, g)

    pa = make_params(dtype=torch.float32)
    a = fresh(pa)
    steps(a, pa, range(1, 5))
    a.eval()
    sd = copy.deepcopy(a.state_dict())
    pb = [torch.nn.Parameter(p.detach().clone()) for p in pa]  # holds x, like a checkpoint
    b = fresh(pb)
    b.load_state_dict(sd)
    assert not b.training
    a.train()
    b.train()
    steps(a, pa, range(5, 10))
    steps(b, pb, range(5, 10))
    for x, y in zip(pa, pb):
        assert torch.equal(x, y)
    assert a.param_groups[0]["k"] == b.param_groups[0]["k"] == 9


@pytest.mark.gpu
def test_cuda_step_matches_cpu():
    def fresh(ps):
        return SFNorMuon(ps, lr=0.02, warmup_steps=2, ns_dtype=DT)

    pc = make_params()
    out_c = run_sf(fresh(pc), pc, 6)
    pg = [torch.nn.Parameter(p.detach().cuda()) for p in make_params()]
    targets = make_targets()
    opt = fresh(pg)
    for t in range(1, 7):
        for i, p in enumerate(pg):
            p.grad = noisy_grad(p.detach().cpu(), targets[i], t, i).cuda()
        opt.step()
    for a, b in zip(out_c[-1]["y"], pg):
        torch.testing.assert_close(a, b.detach().cpu(), rtol=0, atol=1e-9)
