"""Every registry optimizer is its parts: one step from a random state equals

    momentum part (opt.momentum(group)) → opt.geometry(group).direction (the validated, certified map)
    → iterate rule → weight decay at the named place,

rebuilt here by hand from the docstring equations, in float32 and float64; and every geometry a
registry optimizer declares is one the identity checks certify (convexlab check, geometry.*)."""

import copy
import math

import pytest
import torch

from convexlab.geometry import Clip, Euclidean, Sign, SoftSign, Spectral, StochasticSign
from convexlab.optim import REGISTRY
from convexlab.theory import identities
from test_optim_registry import KWARGS

NAMES = sorted(REGISTRY)
DTYPES = [torch.float32, torch.float64]


def _kw(name):
    kw = dict(KWARGS.get(name, dict(lr=0.01)))
    if "weight_decay" in REGISTRY[name].__init__.__code__.co_varnames:
        kw["weight_decay"] = 0.1  # so that the decay placement is part of what is compared
    return kw


def _setup(name, dtype, warm=6):
    cls = REGISTRY[name]
    gen = torch.Generator().manual_seed(3)
    shapes = [(6, 4), (3, 5)] if cls.matrix_only else [(6, 4), (5,)]
    params = [torch.nn.Parameter(torch.randn(s, generator=gen, dtype=dtype)) for s in shapes]
    opt = cls(params, **_kw(name))
    for _ in range(warm):
        for p in params:
            p.grad = torch.randn(p.shape, generator=gen, dtype=dtype)
        opt.step()
    grads = [torch.randn(p.shape, generator=gen, dtype=dtype) for p in params]
    return opt, params, grads


#: approximate solvers and the audit check that certifies each against the exact map
SOLVER_AUDITS = {"NewtonSchulz": "newton_schulz.quintic_band", "RegularizedNewtonSchulz": "newton_schulz.regns_table"}


def _label(geo) -> str:
    """The identity-check label of a declared geometry (temperatures aside); an approximate solver
    is named after ``+``."""
    if isinstance(geo, Spectral):
        solver = getattr(geo, "solver", None)
        if solver in (None, "svd"):
            return f"Spectral({_label(geo.g)})"
        if solver == "eigh":
            return f"Spectral({_label(geo.g)}, eigh)"
        return f"Spectral({_label(geo.g)})+{type(solver).__name__}"
    if isinstance(geo, SoftSign):
        return f"SoftSign({geo.kind})"
    if isinstance(geo, StochasticSign):
        return f"{type(geo).__name__}.mean"
    return type(geo).__name__


@pytest.mark.parametrize("name", NAMES)
def test_declared_geometries_are_certified_by_the_identity_checks(name):
    from convexlab.theory.registry import REGISTRY as CHECKS

    certified = set(identities.standard_geometries())
    if "geometry.step_path.sample[LatticeStochasticSign]" in CHECKS:  # the same maps, another draw
        certified.add("LatticeStochasticSign.mean")
    for solver, audit in SOLVER_AUDITS.items():  # an approximate map: its exact map and its audit
        if audit in CHECKS:
            certified |= {f"{label}+{solver}" for label in set(certified) if label.startswith("Spectral(")}
    opt, params, grads = _setup(name, torch.float64, warm=0)
    seen = set()
    for k in range(8):  # through SoftSignum's / SoftMuon's transition (KWARGS: S = 3)
        for group in opt.param_groups:
            seen.add(_label(opt.geometry(group)))
        for p in params:
            p.grad = torch.randn_like(p)
        opt.step()
    assert seen and seen <= certified, (name, seen - certified)


def _plain_reference(opt, params, grads, family):
    """x ← x(1 − lr·λ) − lr·d with d from the momentum part and the declared geometry."""
    group = opt.param_groups[0]
    old = [copy.deepcopy(opt.state[p]) for p in params]
    states = copy.deepcopy(old)
    for st in states:
        st["step"] += 1
    us = opt.momentum(group).update([g.clone() for g in grads], states, group)
    ds = family(opt, group, old, states, us, grads)
    lr, wd = group["lr"], group.get("weight_decay", 0.0)
    return [p.detach() * (1 - lr * wd) - lr * d for p, d in zip(params, ds)]


def _sign_family(opt, group, old, states, us, grads):
    geo = opt.geometry(group)
    assert isinstance(geo, (Sign, SoftSign))
    return [geo.direction(u) for u in us]


def _adam_family(opt, group, old, states, us, grads):
    """AdamW / AdaMax / IE-StoSignSGD: num/σ through the declared geometry (StoSignSGD Algs. 6, 7, 10)."""
    beta1, beta2 = group["betas"]
    geo = opt.geometry(group)
    out = []
    for o, st, u, g in zip(old, states, us, grads):
        t = st["step"]
        if opt.base == "ie_stosignsgd":
            num, sigma = u, torch.maximum(beta2 * o["envelope"], u.abs())
        else:
            num = u if beta1 == 0 else u / (1 - beta1 ** t)
            if opt.base == "adamw":
                sigma = ((beta2 * o["exp_avg_sq"] + (1 - beta2) * g * g) / (1 - beta2 ** t)).sqrt() + group["eps"]
            else:
                sigma = torch.maximum(beta2 * o["exp_inf"], g.abs()) + group["eps"]
        pos = sigma > 0
        safe = torch.where(pos, sigma, torch.ones_like(sigma))
        if isinstance(geo, Euclidean):  # 0/0 := 0 where the envelope vanishes
            out.append(torch.where(pos, geo.direction(num / safe), torch.zeros_like(num)))
        elif isinstance(geo, Clip):
            out.append(torch.where(pos, geo.direction(num / safe), torch.sign(num)))
        elif isinstance(geo, Sign):
            out.append(geo.direction(num))
        else:
            raise AssertionError(f"unexpected geometry {geo!r}")
    return out


FAMILIES = {
    "SignSGD": _sign_family,
    "Signum": _sign_family,
    "Lion": _sign_family,
    "SoftSignum": _sign_family,
    "AdamW": _adam_family,
    "AdaMax": _adam_family,
    "IEStoSignSGD": _adam_family,
}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_one_step_is_momentum_then_geometry_then_iterate_then_decay(name, dtype):
    opt, params, grads = _setup(name, dtype)
    want = _plain_reference(opt, params, grads, FAMILIES[name])
    for p, g in zip(params, grads):
        p.grad = g
    opt.step()
    exact = name in ("SignSGD", "Signum", "Lion")
    eps = torch.finfo(dtype).eps
    for p, w in zip(params, want):
        torch.testing.assert_close(p.detach(), w, rtol=0 if exact else 8 * eps, atol=0 if exact else 8 * eps)


# ---- the spectral family: u → view → declared geometry → post-map → W(1 − ηλ) − η·s·d ----------
def _spectral_family(opt, group, old, states, us, grads):
    from convexlab.optim.spectral import as_matrix, shape_factor

    geo = opt.geometry(group)
    out = []
    for o, st, u in zip(old, states, us):
        X = as_matrix(u)
        O = geo.direction(X)
        m, n = X.shape
        if type(opt).__name__ in ("Muon", "SoftMuon"):
            d = shape_factor(m, n, group.get("adjust_lr", "original")) * O
        else:  # NorMuon, paper variant (SF-NorMuon [SFN-NORMUON]): row second moment, RMS matched to 0.2
            O = O.to(u.dtype)
            v = o["v"] + (1 - group["beta2"]) * (O.square().mean(1) - o["v"])
            O_hat = O / (v.sqrt() + group["eps"]).unsqueeze(1)
            d = 0.2 * math.sqrt(m * n) / O_hat.norm() * O_hat
        out.append(d.reshape(u.shape).to(u.dtype))
    return out


SPECTRAL = {"Muon": dict(lr=0.02), "SoftMuon": dict(lr=0.02, tau=4.0), "NorMuon": dict(lr=0.02, polar="svd")}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", sorted(SPECTRAL))
def test_spectral_step_is_momentum_then_geometry_then_iterate_then_decay(name, dtype):
    cls = REGISTRY[name]
    gen = torch.Generator().manual_seed(4)
    shapes = [(6, 4), (3, 5), (4, 2, 3)]
    params = [torch.nn.Parameter(torch.randn(s, generator=gen, dtype=dtype)) for s in shapes]
    opt = cls(params, weight_decay=0.1, **SPECTRAL[name])
    for _ in range(3):
        for p in params:
            p.grad = torch.randn(p.shape, generator=gen, dtype=dtype)
        opt.step()
    grads = [torch.randn(p.shape, generator=gen, dtype=dtype) for p in params]
    want = _plain_reference(opt, params, grads, _spectral_family)
    for p, g in zip(params, grads):
        p.grad = g
    opt.step()
    # Muon-like steps fold the shape factor into the step size (as torch.optim.Muon): round-off only
    tol = 4 * torch.finfo(dtype).eps
    for p, w in zip(params, want):
        torch.testing.assert_close(p.detach(), w, rtol=tol, atol=tol)


# ---- the schedule-free rule: z ← z − lr(d + λA), y ← (1 − c)y + cz − (1 − β + βc)·lr(d + λA) -----
def _sf_directions(opt, group, old, states, us, grads):
    name = type(opt).__name__
    if name == "SFAdamW":
        beta2 = group["betas"][1]
        out = []
        for o, st, g in zip(old, states, grads):
            v = beta2 * o["exp_avg_sq"] + (1 - beta2) * g * g
            out.append(opt.geometry(group).direction(g / ((v / (1 - beta2 ** st["step"])).sqrt() + group["eps"])))
        return out
    if name == "SFLion":
        return [opt.geometry(group).direction(u) for u in us]
    return _spectral_family(opt, group, old, states, us, grads)


SCHEDULE_FREE = {"SFAdamW": dict(lr=0.01, warmup_steps=3), "SFLion": dict(lr=0.01, warmup_steps=3),
                 "SFNorMuon": dict(lr=0.01, warmup_steps=3, polar="svd")}


@pytest.mark.parametrize("decay_at", ["x", "y", "z"])
@pytest.mark.parametrize("name", sorted(SCHEDULE_FREE))
def test_schedule_free_step_is_momentum_then_geometry_then_the_schedule_free_rule(name, decay_at):
    dtype = torch.float64
    cls = REGISTRY[name]
    gen = torch.Generator().manual_seed(6)
    shapes = [(6, 4), (3, 5)]
    params = [torch.nn.Parameter(torch.randn(s, generator=gen, dtype=dtype)) for s in shapes]
    opt = cls(params, weight_decay=0.1, weight_decay_at=decay_at, **SCHEDULE_FREE[name])
    for _ in range(2):  # inside the warmup: the scheduled lr differs from the group lr
        for p in params:
            p.grad = torch.randn(p.shape, generator=gen, dtype=dtype)
        opt.step()
    group = opt.param_groups[0]
    beta = group["betas"][0] if name == "SFAdamW" else group["sf_beta"]
    grads = [torch.randn(p.shape, generator=gen, dtype=dtype) for p in params]
    old = [copy.deepcopy(opt.state[p]) for p in params]
    states = copy.deepcopy(old)
    for st in states:
        st["step"] += 1
    us = opt.momentum(group).update([g.clone() for g in grads], states, group)
    ds = _sf_directions(opt, group, old, states, us, grads)
    ys = [p.detach().clone() for p in params]
    for p, g in zip(params, grads):
        p.grad = g
    opt.step()
    lr, c, wd = group["scheduled_lr"], group["c"], 0.1  # the values this step used
    for p, y, o, d in zip(params, ys, old, ds):
        z = o["z"]
        A = {"y": y, "z": z, "x": (y - (1 - beta) * z) / beta}[decay_at]
        D = lr * (d + wd * A)
        torch.testing.assert_close(opt.state[p]["z"], z - D, rtol=1e-13, atol=1e-13)
        torch.testing.assert_close(p.detach(), (1 - c) * y + c * z - (1 - beta + beta * c) * D, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("name", ["SignSGD", "Signum", "Lion", "SoftSignum", "AlgebraicSoftSignum"])
def test_cpu_blocks_take_the_same_steps_as_whole_tensors(name, monkeypatch):
    """The default step runs in CPU blocks of 2^18 elements (big tensors cut into views): bit for bit
    the whole-tensor step, through SoftSignum's transition."""
    from convexlab.optim import base

    cls = REGISTRY[name]
    shapes = [(base.CPU_BLOCK + 5,), (300, 7), (3,), (2, base.CPU_BLOCK // 2 + 1)]
    kw = dict(_kw(name), **({"sign_iters": 2, "transition_iters": 5} if name == "SoftSignum" else {}))
    runs = []
    for blocked in (True, False):
        if not blocked:
            monkeypatch.setattr(cls, "_blockable", lambda self, group, params, geo: False)
        gen = torch.Generator().manual_seed(8)
        params = [torch.nn.Parameter(torch.randn(s, generator=gen)) for s in shapes]
        opt = cls(params, **kw)
        for _ in range(6):
            for p in params:
                p.grad = torch.randn(p.shape, generator=gen)
            opt.step()
        runs.append([p.detach().clone() for p in params])
    for a, b in zip(*runs):
        assert torch.equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_nesterov_stosignsgd_is_the_stochastic_sign_of_the_look_ahead(dtype):
    """The recombination in expectation mode: x ← x(1 − ηλ) − η·clip(u/G), u = (1 − β1)g + β1 m_t,
    G = max(β2 G, |u|); and its stochastic steps are ±η (plus decay) with that mean's sign support."""
    cls = REGISTRY["NesterovStoSignSGD"]
    gen = torch.Generator().manual_seed(9)
    params = [torch.nn.Parameter(torch.randn(s, generator=gen, dtype=dtype)) for s in [(6, 4), (5,)]]
    opt = cls(params, lr=0.01, betas=(0.9, 0.99), weight_decay=0.1, mode="expectation")
    m = [None, None]
    G = [torch.zeros_like(p) for p in params]
    x = [p.detach().clone() for p in params]
    for _ in range(5):
        gs = [torch.randn(p.shape, generator=gen, dtype=dtype) for p in params]
        for i, (p, g) in enumerate(zip(params, gs)):
            p.grad = g
            m[i] = g.clone() if m[i] is None else 0.9 * m[i] + 0.1 * g
            u = 0.1 * g + 0.9 * m[i]
            G[i] = torch.maximum(0.99 * G[i], u.abs())
            d = torch.where(G[i] > 0, u / torch.where(G[i] > 0, G[i], torch.ones_like(G[i])), torch.zeros_like(u))
            x[i] = x[i] * (1 - 0.01 * 0.1) - 0.01 * d.clamp(-1, 1)
        opt.step()
    eps = 16 * torch.finfo(dtype).eps
    for p, w in zip(params, x):
        torch.testing.assert_close(p.detach(), w, rtol=eps, atol=eps)
    # the plain StoSignSGD (no look-ahead) takes a different step from the same state
    plain = REGISTRY["StoSignSGD"]([torch.nn.Parameter(torch.zeros(3, dtype=dtype))], lr=0.01, mode="expectation")
    nest = cls([torch.nn.Parameter(torch.zeros(3, dtype=dtype))], lr=0.01, mode="expectation")
    for g in (torch.tensor([1.0, -1.0, 0.5], dtype=dtype), torch.tensor([-1.0, 0.2, 0.5], dtype=dtype)):
        for o in (plain, nest):
            o.param_groups[0]["params"][0].grad = g
            o.step()
    assert not torch.equal(plain.param_groups[0]["params"][0], nest.param_groups[0]["params"][0])
