"""Every registry optimizer is its parts: one step from a random state equals

    momentum part (opt.momentum(group)) → opt.geometry(group).direction (the validated, certified map)
    → iterate rule → weight decay at the named place,

rebuilt here by hand from the docstring equations, in float32 and float64; and every geometry a
registry optimizer declares is one the identity checks certify (convexlab check, geometry.*)."""

import copy

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


def _label(geo) -> str:
    """The identity-check label of a declared geometry (temperatures and solvers aside)."""
    if isinstance(geo, Spectral):
        return f"Spectral({_label(geo.g)})"
    if isinstance(geo, SoftSign):
        return f"SoftSign({geo.kind})"
    if isinstance(geo, StochasticSign):
        return "StochasticSign.mean"
    return type(geo).__name__


@pytest.mark.parametrize("name", NAMES)
def test_declared_geometries_are_certified_by_the_identity_checks(name):
    certified = set(identities.standard_geometries())
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
