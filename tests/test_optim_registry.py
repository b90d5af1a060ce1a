"""Contracts every optimizer in convexlab.optim.REGISTRY keeps (new entries are covered automatically)."""

import copy

import pytest
import torch

from convexlab.optim import REGISTRY, schedule_free
from convexlab.optim.schedule_free import ScheduleFreeMixin

# constructor kwargs where the defaults are not meant for a toy problem
KWARGS = {
    "SoftSignum": dict(lr=0.01, sign_iters=3, transition_iters=60, momentum=0.9),
    "SoftMuon": dict(lr=0.01, sign_iters=3, transition_iters=20, inv_root="eigh"),
    "SFNorMuon": dict(lr=0.01, warmup_steps=2),
    "HardSwitch": dict(lr=0.01, switch_iters=3, momentum=0.9),
    "StoSignSGD": dict(lr=0.01, seed=0),
    "SignConverted": dict(lr=0.01, seed=0),
    "NesterovStoSignSGD": dict(lr=0.01, seed=0),
    "AlgebraicSoftSignum": dict(lr=0.01, tau=3.0, momentum=0.9),
}


def build(name, params, cls=None):
    cls = cls or REGISTRY[name]
    return cls(params, **KWARGS.get(name, dict(lr=0.01)))


def make_problem(matrix_only, seed=0):
    gen = torch.Generator().manual_seed(seed)
    shapes = [(6, 4), (3, 5)] if matrix_only else [(6, 4), (5,)]
    targets = [torch.randn(s, generator=gen) for s in shapes]
    params = [torch.nn.Parameter(torch.randn(s, generator=gen)) for s in shapes]
    return params, targets


def loss_fn(params, targets):
    return sum(((p - t) ** 2).sum() for p, t in zip(params, targets))


def train(opt, params, targets, steps):
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(params, targets).backward()
        opt.step()


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_loss_falls_on_a_quadratic(name):
    cls = REGISTRY[name]
    params, targets = make_problem(cls.matrix_only)
    opt = build(name, params)
    start = loss_fn(params, targets).item()
    train(opt, params, targets, 40)
    if isinstance(opt, ScheduleFreeMixin):
        opt.eval()
    assert loss_fn(params, targets).item() < start


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_round_trip_and_grad_untouched(name):
    cls = REGISTRY[name]
    params, targets = make_problem(cls.matrix_only, seed=1)
    init = [p.detach().clone() for p in params]
    opt = build(name, params)
    train(opt, params, targets, 8)
    full = [p.detach().clone() for p in params]

    params = [torch.nn.Parameter(x.clone()) for x in init]
    opt = build(name, params)
    train(opt, params, targets, 5)
    saved = copy.deepcopy(opt.state_dict())
    params2 = [torch.nn.Parameter(p.detach().clone()) for p in params]
    opt2 = build(name, params2)
    opt2.load_state_dict(saved)
    for _ in range(3):
        opt2.zero_grad()
        loss_fn(params2, targets).backward()
        grads = [p.grad.clone() for p in params2]
        opt2.step()
        assert all(torch.equal(p.grad, g) for p, g in zip(params2, grads))
    assert all(torch.equal(a, b.detach()) for a, b in zip(full, params2))


@pytest.mark.parametrize("name", sorted(n for n, c in REGISTRY.items() if not issubclass(c, ScheduleFreeMixin)))
def test_every_optimizer_can_be_made_schedule_free(name):
    cls = REGISTRY[name]
    SF = schedule_free(cls)
    assert issubclass(SF, ScheduleFreeMixin) and SF is schedule_free(cls)
    params, targets = make_problem(cls.matrix_only, seed=2)
    opt = build(name, params, cls=SF)
    start = loss_fn(params, targets).item()
    train(opt, params, targets, 40)
    with opt.evaluating():
        at_x = loss_fn(params, targets).item()
    assert opt.training and at_x < start


@pytest.mark.parametrize("name", sorted(n for n, c in REGISTRY.items() if c.matrix_only))
def test_matrix_optimizers_reject_vectors_with_routing_advice(name):
    with pytest.raises(ValueError, match="split_params"):
        build(name, [torch.nn.Parameter(torch.zeros(3))])


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_step_hooks_fire_once_per_step(name):
    """torch wraps each class's step with the hooks; an override that calls super().step() must not
    run them again once the parent class has been instantiated (here: every registry class first)."""
    for other in REGISTRY:
        other_params, _ = make_problem(REGISTRY[other].matrix_only, seed=3)
        build(other, other_params)
    params, targets = make_problem(REGISTRY[name].matrix_only, seed=4)
    opt = build(name, params)
    calls = {"pre": 0, "post": 0}
    pre = opt.register_step_pre_hook(lambda *a: calls.__setitem__("pre", calls["pre"] + 1))
    post = opt.register_step_post_hook(lambda *a: calls.__setitem__("post", calls["post"] + 1))
    train(opt, params, targets, 3)
    assert calls == {"pre": 3, "post": 3}
    pre.remove()
    post.remove()
    # and the schedule-free version of the class, whose step override calls the hooked parent step
    if not issubclass(REGISTRY[name], ScheduleFreeMixin):
        sf = build(name, params, cls=schedule_free(REGISTRY[name]))
        n = [0]
        sf.register_step_post_hook(lambda *a: n.__setitem__(0, n[0] + 1))
        train(sf, params, targets, 2)
        assert n[0] == 2
