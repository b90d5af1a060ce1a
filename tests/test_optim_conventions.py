"""torch.optim conventions every registry optimizer keeps: maximize, foreach, the off-only flags,
bad parameters, atomic steps, re-validated groups, load_state_dict checks, torch.compile and hooks.

New registry entries are covered automatically (parametrized over ``convexlab.optim.REGISTRY``)."""

import copy

import pytest
import torch

from convexlab.optim import REGISTRY, SoftSignum
from convexlab.optim.schedule_free import ScheduleFreeMixin
from test_optim_registry import build

NAMES = sorted(REGISTRY)


def _params(cls, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    shapes = [(6, 4), (3, 5)] if cls.matrix_only else [(6, 4), (5,)]
    return [torch.nn.Parameter(torch.randn(s, generator=gen, dtype=dtype)) for s in shapes]


def _grads(params, seed):
    gen = torch.Generator().manual_seed(1000 + seed)
    return [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in params]


def _run(opt, params, steps, sign=1.0, seed0=0):
    for k in range(steps):
        for p, g in zip(params, _grads(params, seed0 + k)):
            p.grad = sign * g
        opt.step()


def _weights(opt, params):
    if isinstance(opt, ScheduleFreeMixin):
        with opt.evaluating():
            return [p.detach().clone() for p in params]
    return [p.detach().clone() for p in params]


@pytest.mark.parametrize("name", NAMES)
def test_maximize_equals_minimizing_the_negated_gradient(name):
    cls = REGISTRY[name]
    a, b = _params(cls), _params(cls)
    oa = build(name, a)
    ob = cls(b, **{**_kw(name), "maximize": True})
    _run(oa, a, 6, sign=1.0)
    _run(ob, b, 6, sign=-1.0)
    for x, y in zip(_weights(oa, a), _weights(ob, b)):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_foreach_false_takes_the_same_steps(name):
    cls = REGISTRY[name]
    a, b = _params(cls), _params(cls)
    oa = cls(a, **{**_kw(name), "foreach": True})
    ob = cls(b, **{**_kw(name), "foreach": False})
    _run(oa, a, 6)
    _run(ob, b, 6)
    for x, y in zip(_weights(oa, a), _weights(ob, b)):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("flag, value", [("differentiable", True), ("capturable", True), ("fused", True),
                                         ("foreach", "yes"), ("maximize", 1)])
def test_unsupported_flag_values_raise_value_error(name, flag, value):
    cls = REGISTRY[name]
    with pytest.raises(ValueError, match=flag):
        cls(_params(cls), **{**_kw(name), flag: value})


@pytest.mark.parametrize("name", NAMES)
def test_off_values_of_torch_flags_are_accepted(name):
    cls = REGISTRY[name]
    cls(_params(cls), **{**_kw(name), "differentiable": False, "capturable": False, "fused": None, "foreach": None})


@pytest.mark.parametrize("name", NAMES)
def test_complex_and_duplicate_parameters_raise_value_error(name):
    cls = REGISTRY[name]
    shape = (3, 2)
    z = torch.nn.Parameter(torch.zeros(shape, dtype=torch.complex64))
    with pytest.raises(ValueError, match="complex64"):
        cls([z], **_kw(name))
    w = torch.nn.Parameter(torch.zeros(shape))
    with pytest.warns(UserWarning, match="duplicate"), pytest.raises(ValueError, match="appears twice"):
        cls([w, w], **_kw(name))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(0, 3), (4, 0), (0,)])
def test_zero_size_parameters_step_without_error(name, shape):
    cls = REGISTRY[name]
    if cls.matrix_only and len(shape) < 2:
        pytest.skip("matrix-only optimizer")
    w = torch.nn.Parameter(torch.zeros(shape))
    v = torch.nn.Parameter(torch.ones(3, 2))
    opt = cls([w, v], **_kw(name))
    for _ in range(3):
        w.grad = torch.zeros(shape)
        v.grad = torch.ones(3, 2)
        opt.step()
    assert w.shape == shape and bool(torch.isfinite(v).all())


@pytest.mark.parametrize("name", NAMES)
def test_huge_lr_and_seed_give_value_errors(name):
    cls = REGISTRY[name]
    with pytest.raises(ValueError, match="lr must be a finite number >= 0"):
        cls(_params(cls), **{**_kw(name), "lr": 10**400})
    with pytest.raises(ValueError, match="seed must be an integer in"):
        cls(_params(cls), **{**_kw(name), "seed": 2**64})


@pytest.mark.parametrize("name", NAMES)
def test_a_raising_step_changes_nothing(name):
    """A NaN gradient in group 1 raises before group 0 (or any counter) moves."""
    cls = REGISTRY[name]
    a, b = _params(cls), _params(cls, seed=1)
    opt = cls([{"params": a}, {"params": b}], **_kw(name))
    _run(opt, a + b, 3)
    before = copy.deepcopy(opt.state_dict())
    weights = [p.detach().clone() for p in a + b]
    for p, g in zip(a + b, _grads(a + b, 99)):
        p.grad = g
    b[-1].grad = b[-1].grad.clone()
    b[-1].grad.view(-1)[0] = float("nan")
    with pytest.raises(ValueError, match="non-finite gradient"):
        opt.step()
    for w, p in zip(weights, a + b):
        assert torch.equal(w, p.detach())
    after = opt.state_dict()
    for key, v in before["convexlab"].items():
        if key == "generators":
            gens = after["convexlab"][key]
            assert gens.keys() == v.keys() and all(torch.equal(gens[d], s) for d, s in v.items())
        else:
            assert after["convexlab"][key] == v, key
    for k, st in before["state"].items():
        for key, v in st.items():
            w = after["state"][k][key]
            assert torch.equal(w, v) if isinstance(v, torch.Tensor) else w == v, (k, key)
    # and the run continues as if the failed call never happened
    b[-1].grad.view(-1)[0] = 0.0
    opt.step()


@pytest.mark.parametrize("name", NAMES)
def test_group_hyperparameters_written_after_construction_are_validated(name):
    cls = REGISTRY[name]
    params = _params(cls)
    opt = cls(params, **_kw(name))
    _run(opt, params, 1)
    opt.param_groups[0]["lr"] = float("nan")
    with pytest.raises(ValueError, match="lr must be a finite number >= 0, got nan"):
        opt.step()
    opt.param_groups[0]["lr"] = 0.01
    opt.param_groups[0]["weight_decay"] = -1.0
    with pytest.raises(ValueError, match="weight_decay must be a finite number >= 0, got -1.0"):
        opt.step()


def test_scheduler_written_momentum_is_validated_and_used():
    w = torch.nn.Parameter(torch.zeros(4))
    opt = SoftSignum([w], lr=0.1, momentum=0.5, sign_iters=100)
    opt.param_groups[0]["momentum"] = 1.5
    w.grad = torch.ones(4)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\), got 1.5"):
        opt.step()


@pytest.mark.parametrize("name", NAMES)
def test_load_state_dict_rejects_another_class_or_shape(name):
    cls = REGISTRY[name]
    params = _params(cls)
    opt = cls(params, **_kw(name))
    _run(opt, params, 2)
    sd = opt.state_dict()
    other_name = "Signum" if name != "Signum" else "Lion"
    other = REGISTRY[other_name](_params(REGISTRY[other_name]), lr=0.01)
    sd_other = other.state_dict()
    with pytest.raises(ValueError, match=f"comes from {other_name}"):
        opt.load_state_dict(sd_other)
    # the same class on parameters of another shape
    gen = torch.Generator().manual_seed(5)
    shapes = [(6, 5), (3, 5)] if cls.matrix_only else [(6, 5), (5,)]
    q = [torch.nn.Parameter(torch.randn(s, generator=gen)) for s in shapes]
    fresh = cls(q, **_kw(name))
    if not any(isinstance(v, torch.Tensor) and v.ndim for st in sd["state"].values() for v in st.values()):
        fresh.load_state_dict(sd)  # a state without tensors (signSGD) fits any shape
        return
    with pytest.raises(ValueError, match="state_dict does not match the parameters"):
        fresh.load_state_dict(sd)


@pytest.mark.parametrize("name", NAMES)
def test_compiled_step_equals_eager_and_hooks_fire_once(name):
    cls = REGISTRY[name]
    a, b = _params(cls), _params(cls)
    kw = _kw(name)
    if name == "SoftSignum":
        kw = dict(kw, sign_iters=2, transition_iters=4)  # through the transition
    oa, ob = cls(a, **kw), cls(b, **kw)
    calls = []
    oa.register_step_post_hook(lambda *args: calls.append(1))
    step = torch.compile(oa.step)
    for k in range(6):
        for p, q, g in zip(a, b, _grads(a, k)):
            p.grad = g.clone()
            q.grad = g.clone()
        step()
        ob.step()
    assert len(calls) == 6
    for x, y in zip(_weights(oa, a), _weights(ob, b)):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    if name == "SoftSignum":
        assert oa._k == ob._k == 6 and oa.param_groups[0]["schedule"] is not None


def _kw(name):
    from test_optim_registry import KWARGS

    return dict(KWARGS.get(name, dict(lr=0.01)))
