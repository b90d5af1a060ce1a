"""Schedule-free: SFAdamW against ``schedulefree.AdamWScheduleFree`` (the reference, bit for bit on the
CPU) in the cases where the two used to differ (per-group betas, OneCycleLR cycling betas[0], a group
without gradients, a parameter that starts late), per-group validation of the schedule-free settings,
the 8-byte state, the fused step against the composed one, and step hooks."""

import math
import sys

import pytest
import schedulefree
import torch

from convexlab.optim import REGISTRY, AdamW, NorMuon, SFAdamW, SFNorMuon, Signum, schedule_free
from convexlab.optim.base import ComposedOptimizer
from convexlab.optim.schedule_free import CPU_BUCKET, SF_INTERNAL_KEYS

SF_MODULE = sys.modules["convexlab.optim.schedule_free"]
#: the CPU bucket of most tests (the default one is exercised by test_default_cpu_bucket_*)
SMALL_BUCKET = 1000
# with SMALL_BUCKET: a contiguous tensor cut into three flat views, a larger non-contiguous one (its
# own bucket), small ones that share buckets
SHAPES = ((7, 5), (2500,), (60, 40), (4,))


@pytest.fixture(autouse=True)
def small_bucket(monkeypatch, request):
    if "default_cpu_bucket" not in request.node.name:
        monkeypatch.setattr(SF_MODULE, "CPU_BUCKET", SMALL_BUCKET)


def make_params(dtype, shapes=SHAPES, seed=0):
    gen = torch.Generator().manual_seed(seed)
    out = []
    for s in shapes:
        t = torch.randn(s, generator=gen, dtype=dtype)
        out.append(t.t() if s == (60, 40) else t)  # (40, 60), non-contiguous
    return out


def two_groups(ps, **g1):
    """Group 0 with its own lr and betas (the interpolation β differs from the constructor's)."""
    return [{"params": ps[:1], "betas": (0.8, 0.99), "lr": 0.02}, {"params": ps[1:], **g1}]


def compare(dtype, *, steps=30, ref_kw=None, groups=two_groups, has_grad=lambda t, i: True, sched=None,
            foreach=None, maximize=False, shapes=SHAPES):
    """Run schedulefree and SFAdamW side by side; return the largest |difference| in train and eval mode."""
    kw = dict(lr=0.01, betas=(0.9, 0.999), warmup_steps=5, weight_decay=0.05)
    kw.update(ref_kw or {})
    w0 = make_params(dtype, shapes)
    A = [torch.nn.Parameter(w.clone()) for w in w0]
    B = [torch.nn.Parameter(w.clone()) for w in w0]
    ref = schedulefree.AdamWScheduleFree(groups(A), foreach=True, **kw)
    ref.train()
    opt = SFAdamW(groups(B), foreach=foreach, maximize=maximize, **kw)
    scheds = [sched(o) for o in (ref, opt)] if sched else []
    gen = torch.Generator().manual_seed(1)
    worst = 0.0
    for t in range(steps):
        for i, (a, b) in enumerate(zip(A, B)):
            if has_grad(t, i):
                g = torch.randn(a.shape, generator=gen, dtype=dtype)
                a.grad = -g if maximize else g.clone()
                b.grad = g.clone()
            else:
                a.grad = b.grad = None
        ref.step()
        opt.step()
        for s in scheds:
            s.step()
        worst = max(worst, max(float((a - b).detach().abs().max()) for a, b in zip(A, B)))
    ref.eval()
    opt.eval()
    worst_x = max(float((a - b).detach().abs().max()) for a, b in zip(A, B))
    for ga, gb in zip(ref.param_groups, opt.param_groups):
        assert (ga["k"], ga["weight_sum"], ga["lr_max"], ga["scheduled_lr"]) == (
            gb["k"], gb["weight_sum"], gb["lr_max"], gb["scheduled_lr"])
    return worst, worst_x


DTYPES = [torch.float32, torch.float64]


# -- 1. per-group betas ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_per_group_betas_equal_schedulefree_bit_for_bit(dtype):
    assert compare(dtype) == (0.0, 0.0)


def test_default_cpu_bucket_equals_schedulefree_bit_for_bit():
    big = ((7, 5), (CPU_BUCKET + 1000,), (4,))  # one tensor cut into two flat views
    assert SF_MODULE.CPU_BUCKET == CPU_BUCKET == 1 << 18
    assert compare(torch.float32, steps=8, shapes=big) == (0.0, 0.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_cycle_lr_cycling_betas0_equals_schedulefree_bit_for_bit(dtype):
    def one_cycle(opt):
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[0.05, 0.02], total_steps=31, cycle_momentum=True)

    assert compare(dtype, sched=one_cycle) == (0.0, 0.0)


def test_one_cycle_lr_writes_the_interpolation_beta():
    ps = [torch.nn.Parameter(torch.zeros(3))]
    opt = SFAdamW(ps, lr=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=10, base_momentum=0.8, max_momentum=0.9)
    ps[0].grad = torch.ones(3)
    betas = []
    for _ in range(4):
        opt.step()
        sched.step()
        betas.append(opt._beta(opt.param_groups[0]))
    assert len(set(betas)) == 4 and all(0.8 <= b <= 0.9 for b in betas)


# -- 3. groups without gradients, late and intermittent parameters -------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["group_without_grads", "late_parameter", "intermittent"])
def test_missing_gradients_follow_schedulefree_bit_for_bit(dtype, case):
    has_grad = {
        "group_without_grads": lambda t, i: i == 0 or t >= 10,  # group 1: no gradient for 10 steps
        "late_parameter": lambda t, i: i != 2 or t >= 7,  # one parameter of group 1 starts at step 8
        "intermittent": lambda t, i: (t + i) % 3 != 0,
    }[case]
    assert compare(dtype, has_grad=has_grad) == (0.0, 0.0)


def test_counters_advance_for_a_group_without_gradients_as_in_schedulefree():
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.ones(2))
    opt = SFAdamW([{"params": [a]}, {"params": [b]}], lr=0.1, warmup_steps=4)
    for _ in range(3):
        a.grad = torch.ones(2)
        opt.step()
    g1 = opt.param_groups[1]
    assert g1["k"] == 3 and g1["scheduled_lr"] == pytest.approx(0.075) and g1["weight_sum"] > 0
    assert torch.equal(b.detach(), torch.ones(2)) and not opt.state[b]  # untouched, no state


@pytest.mark.parametrize("dtype", DTYPES)
def test_decay_placements_warmup_weights_and_one_tensor_at_a_time(dtype):
    # weight_decay_at="y" is schedulefree's; r, weight_lr_power and foreach=False take the same path
    assert compare(dtype, ref_kw=dict(r=0.5, weight_lr_power=1.0), foreach=False) == (0.0, 0.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_maximize_equals_schedulefree_on_the_negated_gradient(dtype):
    assert compare(dtype, steps=10, maximize=True) == (0.0, 0.0)


# -- 2. per-group schedule-free settings, validated ------------------------------------------------------
SFSignum = schedule_free(Signum)


@pytest.mark.parametrize("make", [
    lambda ps: SFSignum([{"params": ps, "sf_beta": float("nan")}], lr=0.1),
    lambda ps: SFAdamW([{"params": ps, "betas": (float("nan"), 0.9)}]),
])
def test_nan_interpolation_beta_in_a_group_raises_naming_it(make):
    with pytest.raises(ValueError, match=r"(sf_beta|betas\[0\]) must be in \[0, 1\], got nan"):
        make([torch.nn.Parameter(torch.zeros(2))])


@pytest.mark.parametrize("key,value,message", [
    ("sf_beta", float("nan"), r"sf_beta must be in \[0, 1\], got nan"),
    ("sf_beta", 1.5, r"sf_beta must be in \[0, 1\], got 1.5"),
    ("weight_decay_at", "nowhere", r"weight_decay_at must be one of \('x', 'y', 'z'\), got 'nowhere'"),
    ("warmup_steps", 2.5, "warmup_steps must be an integer >= 0, got 2.5"),
    ("r", -1.0, "r must be a finite number >= 0, got -1.0"),
    ("weight_lr_power", float("inf"), "weight_lr_power must be a finite number >= 0, got inf"),
])
def test_schedule_free_settings_per_group_and_via_add_param_group(key, value, message):
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match=message):
        SFSignum([{"params": [a], key: value}], lr=0.1)
    opt = SFSignum([a], lr=0.1)
    with pytest.raises(ValueError, match=message):
        opt.add_param_group({"params": [b], key: value})
    assert len(opt.param_groups) == 1
    # a valid per-group value is used by that group only
    opt.add_param_group({"params": [b], "sf_beta": 0.5, "weight_decay_at": "z", "warmup_steps": 3})
    assert (opt.param_groups[1]["sf_beta"], opt.param_groups[0]["sf_beta"]) == (0.5, 0.9)
    assert opt.param_groups[1]["k"] == 0 and opt.param_groups[1]["train_mode"]


@pytest.mark.parametrize("key,value,message", [
    ("betas", (1.5, 0.99), r"betas\[0\] must be in \[0, 1\], got 1.5"),
    ("betas", (0.9, 1.0), r"betas\[1\] must be in \[0, 1\), got 1.0"),
    ("weight_decay_at", "nowhere", "weight_decay_at must be one of"),
    ("warmup_steps", -1, "warmup_steps must be an integer >= 0, got -1"),
    ("eps", -1.0, "eps must be a finite number >= 0"),
])
def test_a_changed_group_is_revalidated_at_the_step_before_anything_changes(key, value, message):
    w = torch.nn.Parameter(torch.randn(3))
    opt = SFAdamW([w], lr=0.1, weight_decay=0.1)
    w.grad = torch.ones(3)
    opt.step()
    before = (w.detach().clone(), {k: v.clone() for k, v in opt.state[w].items() if torch.is_tensor(v)},
              {k: opt.param_groups[0][k] for k in SF_INTERNAL_KEYS})
    opt.param_groups[0][key] = value  # as an LR scheduler or a hand edit would
    with pytest.raises(ValueError, match=message):
        opt.step()
    assert torch.equal(w.detach(), before[0])
    assert all(torch.equal(opt.state[w][k], v) for k, v in before[1].items())
    assert {k: opt.param_groups[0][k] for k in SF_INTERNAL_KEYS} == before[2]


def test_beta_may_be_one_for_sfadamw_and_not_leave_zero_after_the_first_step():
    w = torch.nn.Parameter(torch.randn(3))
    opt = SFAdamW([w], betas=(1.0, 0.999))  # primal averaging: y = x
    w.grad = torch.ones(3)
    opt.step()
    y = w.detach().clone()
    with opt.evaluating():
        assert torch.equal(w.detach(), y)
    opt.param_groups[0]["betas"] = (0.0, 0.999)  # x was not stored: refused, nothing changed
    with pytest.raises(ValueError, match=r"betas\[0\] of a param group must stay 0 \(or stay > 0\)"):
        opt.step()
    assert torch.equal(w.detach(), y)


def test_sfadamw_takes_its_beta_as_betas0():
    with pytest.raises(ValueError, match="betas\\[0\\], not sf_beta"):
        SFAdamW([torch.nn.Parameter(torch.zeros(2))], sf_beta=0.5)
    opt = SFAdamW([torch.nn.Parameter(torch.zeros(2))], betas=(0.95, 0.99))
    g = opt.param_groups[0]
    assert g["betas"] == (0.95, 0.99) and "sf_beta" not in g and opt.defaults["betas"] == (0.95, 0.99)


def test_internal_keys_are_the_schedule_free_bookkeeping():
    for cls in (SFAdamW, SFNorMuon, SFSignum):
        assert set(SF_INTERNAL_KEYS) <= set(cls.internal_keys)
    assert set(SF_INTERNAL_KEYS) == {"k", "lr_max", "weight_sum", "train_mode", "scheduled_lr", "c"}


# -- 4. eight bytes per parameter ------------------------------------------------------------------------
@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.5, 0.9), (1.0, 0.99)])
def test_state_is_exactly_z_exp_avg_sq_and_step(betas):
    ps = [torch.nn.Parameter(torch.randn(5, 4)), torch.nn.Parameter(torch.randn(6))]
    opt = SFAdamW(ps, betas=betas, weight_decay=0.1)
    for _ in range(2):
        for p in ps:
            p.grad = torch.randn_like(p)
        opt.step()
    for p in ps:
        st = opt.state[p]
        assert set(st) == {"z", "exp_avg_sq", "step"} and st["step"] == 2
    n = sum(p.numel() for p in ps)
    assert sum(t.nbytes for st in opt.state.values() for t in st.values() if torch.is_tensor(t)) == 8 * n
    assert isinstance(opt, AdamW) and type(opt.momentum(opt.param_groups[0])).__name__ == "NoMomentum"


# -- the fused step is the composed one ------------------------------------------------------------------
class _Composed(SFAdamW):
    """SFAdamW through the base's default group step: momentum → _scales → geometry → _apply_all."""

    _group_step = ComposedOptimizer._group_step


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("at", ["x", "y", "z"])
def test_fused_step_equals_momentum_geometry_iterate_composition(dtype, at):
    w0 = make_params(dtype)
    A = [torch.nn.Parameter(w.clone()) for w in w0]
    B = [torch.nn.Parameter(w.clone()) for w in w0]
    kw = dict(lr=0.01, warmup_steps=3, weight_decay=0.1, weight_decay_at=at)
    fused, composed = SFAdamW(two_groups(A), **kw), _Composed(two_groups(B), **kw)
    gen = torch.Generator().manual_seed(2)
    for _ in range(6):
        for a, b in zip(A, B):
            a.grad = torch.randn(a.shape, generator=gen, dtype=dtype)
            b.grad = a.grad.clone()
        fused.step()
        composed.step()
    for a, b in zip(A, B):
        assert torch.equal(a, b)


# -- 5. step hooks -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda: SFAdamW([torch.nn.Parameter(torch.randn(4, 3))], lr=0.01),
    lambda: SFNorMuon([torch.nn.Parameter(torch.randn(4, 3))], lr=0.01, warmup_steps=0, polar="svd"),
])
def test_step_hooks_fire_once_per_step(make):
    # instances of every registry class (AdamW and NorMuon among them) exist, so torch has wrapped
    # their step methods too
    others = [AdamW([torch.nn.Parameter(torch.zeros(2, 2))]), NorMuon([torch.nn.Parameter(torch.zeros(2, 2))])]
    assert "SFAdamW" in REGISTRY and others
    opt = make()
    calls = {"pre": 0, "post": 0}
    opt.register_step_pre_hook(lambda *a: calls.__setitem__("pre", calls["pre"] + 1))
    opt.register_step_post_hook(lambda *a: calls.__setitem__("post", calls["post"] + 1))
    p = opt.param_groups[0]["params"][0]
    for _ in range(3):
        p.grad = torch.randn_like(p)
        opt.step()
    assert calls == {"pre": 3, "post": 3}


# -- the generic mixin ---------------------------------------------------------------------------------------
def test_generic_rule_keeps_y_equal_z_for_polyak_averaging_and_counts_every_group():
    a, b = torch.nn.Parameter(torch.randn(4, dtype=torch.float64)), torch.nn.Parameter(torch.randn(4))
    opt = SFSignum([{"params": [a], "sf_beta": 0.0}, {"params": [b]}], lr=0.1, momentum=0.0, weight_decay=0.2)
    zs = [a.detach().clone()]
    for t in range(5):
        a.grad = torch.randn(4, dtype=torch.float64)
        z = zs[-1]
        zs.append(z - 0.1 * (torch.sign(a.grad) + 0.2 * z))
        opt.step()
        assert torch.equal(a.detach(), opt.state[a]["z"])  # β = 0: y is z exactly
    torch.testing.assert_close(a.detach(), zs[-1], rtol=0, atol=1e-14)
    with opt.evaluating():
        torch.testing.assert_close(a.detach(), torch.stack(zs[1:]).mean(0), rtol=0, atol=1e-14)
    assert opt.param_groups[1]["k"] == 5 and not opt.state[b]


def test_eval_mode_step_raises_and_changes_nothing():
    w = torch.nn.Parameter(torch.randn(3))
    opt = SFAdamW([w], lr=0.1)
    w.grad = torch.ones(3)
    opt.step()
    opt.eval()
    x = w.detach().clone()
    with pytest.raises(RuntimeError, match="eval mode"):
        opt.step()
    assert torch.equal(w.detach(), x) and opt.param_groups[0]["k"] == 1


def test_a_group_added_in_eval_mode_starts_in_eval_mode():
    a, b = torch.nn.Parameter(torch.randn(3)), torch.nn.Parameter(torch.randn(3))
    opt = SFAdamW([a], lr=0.1)
    a.grad = torch.ones(3)
    opt.step()
    opt.eval()
    opt.add_param_group({"params": [b]})
    assert not opt.training and opt.param_groups[1]["train_mode"] is False
    opt.train()
    assert opt.training
    b.grad = torch.ones(3)
    opt.step()
    assert math.isfinite(float(b.detach().sum()))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_equals_schedulefree_on_cuda():
    # one bucket per device/dtype group on CUDA: the same foreach operations as schedulefree's
    dev, dtype = torch.device("cuda"), torch.float64
    w0 = [w.to(dev) for w in make_params(dtype)]
    A = [torch.nn.Parameter(w.clone()) for w in w0]
    B = [torch.nn.Parameter(w.clone()) for w in w0]
    kw = dict(lr=0.01, betas=(0.9, 0.999), warmup_steps=3, weight_decay=0.05)
    ref = schedulefree.AdamWScheduleFree(two_groups(A), foreach=True, **kw)
    ref.train()
    opt = SFAdamW(two_groups(B), **kw)
    gen = torch.Generator(device=dev).manual_seed(3)
    for _ in range(10):
        for a, b in zip(A, B):
            g = torch.randn(a.shape, generator=gen, dtype=dtype, device=dev)
            a.grad, b.grad = g.clone(), g.clone()
        ref.step()
        opt.step()
    for a, b in zip(A, B):
        torch.testing.assert_close(a.detach(), b.detach(), rtol=0, atol=1e-12)
