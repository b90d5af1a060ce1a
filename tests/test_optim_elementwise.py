"""The elementwise optimizers (sign family, general optimizer and its sign conversion) and the
schedule-free iterate rule, against naive float64 references written from the docstrings."""

import copy
import math
import warnings

import pytest
import schedulefree
import torch

from convexlab.optim import (
    AdaMax,
    AdamW,
    IEStoSignSGD,
    Lion,
    SFAdamW,
    SignConverted,
    SignSGD,
    Signum,
    StoSignSGD,
    schedule_free,
)

DT = torch.float64
STEPS = 6


def grads_sequence(shapes, steps=STEPS, seed=0, dtype=DT):
    gen = torch.Generator().manual_seed(seed)
    return [[torch.randn(s, generator=gen, dtype=dtype) for s in shapes] for _ in range(steps)]


def run(opt_factory, shapes=((4, 3), (5,)), steps=STEPS, dtype=DT, seed=0):
    gen = torch.Generator().manual_seed(100 + seed)
    params = [torch.nn.Parameter(torch.randn(s, generator=gen, dtype=dtype)) for s in shapes]
    opt = opt_factory(params)
    for gs in grads_sequence(shapes, steps, seed, dtype):
        for p, g in zip(params, gs):
            p.grad = g.clone()
        opt.step()
    return [p.detach().clone() for p in params], opt


def naive(update, shapes=((4, 3), (5,)), steps=STEPS, seed=0):
    """Run ``update(x, g, state, t)`` per parameter in float64 from the same initial point."""
    gen = torch.Generator().manual_seed(100 + seed)
    xs = [torch.randn(s, generator=gen, dtype=DT) for s in shapes]
    states = [{} for _ in shapes]
    for t, gs in enumerate(grads_sequence(shapes, steps, seed), start=1):
        xs = [update(x, g, st, t) for x, g, st in zip(xs, gs, states)]
    return xs


def assert_params_equal(a, b, atol=1e-12):
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, rtol=0, atol=atol)


# -- naive references --------------------------------------------------------------------------
def ref_signum(lr, beta, wd):
    def upd(x, g, st, t):
        st["m"] = g.clone() if t == 1 else beta * st["m"] + (1 - beta) * g
        return x - lr * torch.sign(st["m"]) - lr * wd * x

    return upd


def ref_lion(lr, b1, b2, wd):
    def upd(x, g, st, t):
        m = st.get("m", torch.zeros_like(x))
        c = b1 * m + (1 - b1) * g
        st["m"] = b2 * m + (1 - b2) * g
        return x - lr * (torch.sign(c) + wd * x)

    return upd


def ref_adamw(lr, b1, b2, eps, wd):
    def upd(x, g, st, t):
        st["m"] = b1 * st.get("m", 0 * x) + (1 - b1) * g
        st["v"] = b2 * st.get("v", 0 * x) + (1 - b2) * g * g
        mh, vh = st["m"] / (1 - b1**t), st["v"] / (1 - b2**t)
        return x - lr * mh / (vh.sqrt() + eps) - lr * wd * x

    return upd


def ref_adamax(lr, b1, b2, eps, wd):
    def upd(x, g, st, t):
        st["m"] = b1 * st.get("m", 0 * x) + (1 - b1) * g
        st["u"] = torch.maximum(b2 * st.get("u", 0 * x), g.abs())
        return x - lr * (st["m"] / (1 - b1**t)) / (st["u"] + eps) - lr * wd * x

    return upd


def ref_ie(lr, b1, b2, wd):
    def upd(x, g, st, t):
        st["m"] = g.clone() if t == 1 else b1 * st["m"] + (1 - b1) * g
        st["G"] = torch.maximum(b2 * st.get("G", 0 * x), st["m"].abs())
        d = torch.where(st["G"] > 0, st["m"] / st["G"].clamp_min(1e-300), 0 * x)
        return x - lr * d - lr * wd * x

    return upd


@pytest.mark.parametrize("beta,wd", [(0.0, 0.0), (0.9, 0.1)])
def test_signum_and_signsgd_match_reference(beta, wd):
    got, _ = run(lambda ps: Signum(ps, lr=0.01, momentum=beta, weight_decay=wd))
    assert_params_equal(got, naive(ref_signum(0.01, beta, wd)))
    if beta == 0:
        got2, _ = run(lambda ps: SignSGD(ps, lr=0.01, weight_decay=wd))
        assert_params_equal(got2, got, atol=0)


def test_lion_matches_reference():
    got, _ = run(lambda ps: Lion(ps, lr=0.01, betas=(0.9, 0.99), weight_decay=0.1))
    assert_params_equal(got, naive(ref_lion(0.01, 0.9, 0.99, 0.1)))


def test_adamw_and_adamax_match_reference():
    got, _ = run(lambda ps: AdamW(ps, lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1))
    assert_params_equal(got, naive(ref_adamw(0.01, 0.9, 0.99, 1e-8, 0.1)))
    got, _ = run(lambda ps: AdaMax(ps, lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1))
    assert_params_equal(got, naive(ref_adamax(0.01, 0.9, 0.99, 1e-8, 0.1)))


def test_adamw_matches_torch_adamw():
    a, _ = run(lambda ps: AdamW(ps, lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1))
    b, _ = run(lambda ps: torch.optim.AdamW(ps, lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1))
    assert_params_equal(a, b, atol=1e-14)


@pytest.mark.parametrize("b2", [1.0, 0.9])
def test_ie_stosignsgd_matches_reference(b2):
    got, _ = run(lambda ps: IEStoSignSGD(ps, lr=0.01, betas=(0.9, b2), weight_decay=0.1))
    assert_params_equal(got, naive(ref_ie(0.01, 0.9, b2, 0.1)))


def test_stosignsgd_expectation_mode_equals_ie_stosignsgd():
    a, _ = run(lambda ps: StoSignSGD(ps, lr=0.01, betas=(0.9, 0.95), weight_decay=0.1, mode="expectation"))
    b, _ = run(lambda ps: IEStoSignSGD(ps, lr=0.01, betas=(0.9, 0.95), weight_decay=0.1))
    assert_params_equal(a, b, atol=1e-15)


class NoiseRef:
    """The documented noise n of the stochastic mode, drawn from a generator seeded like the
    optimizer's, handed out per parameter in the order the naive references visit them.

    ``"uniform"``: U[−1, 1) (``torch.rand·2 − 1`` tensor by tensor = one flat ``uniform_`` per step);
    ``"lattice16"``: per step, ⌈N/4⌉ 64-bit words (all 64 bits of the generator), their four 16-bit
    fields read as signed integers k in order (low field first), n = (2k + 1)/2^16 (N = the group's
    element count)."""

    def __init__(self, kind, seed, shapes=((4, 3), (5,))):
        self.kind, self.gen = kind, torch.Generator().manual_seed(seed)
        self.total = sum(math.prod(s) for s in shapes)
        self.buf, self.off = None, 0

    def __call__(self, shape):
        if self.kind == "uniform":
            return torch.rand(shape, generator=self.gen, dtype=DT) * 2 - 1
        if self.off == 0:
            words = torch.empty((self.total + 3) // 4, dtype=torch.int64).random_(-(2**63), None, generator=self.gen)
            fields = [(words >> (16 * j)) & 0xFFFF for j in range(4)]  # unsigned 16-bit fields, low first
            k = torch.stack(fields, dim=1).reshape(-1)[: self.total]
            k = torch.where(k >= 2**15, k - 2**16, k)  # as signed 16-bit integers
            self.buf = (2 * k + 1).to(DT) / 2**16
        n = math.prod(shape)
        out = self.buf[self.off:self.off + n].view(shape)
        self.off = (self.off + n) % self.total
        return out


@pytest.mark.parametrize("noise", ["lattice16", "uniform"])
def test_stosignsgd_matches_reference_with_the_same_noise(noise):
    """Alg. 3 written out, drawing the noise from a generator seeded like the optimizer's."""
    seed = 5
    got, _ = run(lambda ps: StoSignSGD(ps, lr=0.01, betas=(0.9, 1.0), weight_decay=0.1, seed=seed, noise=noise))
    draw = NoiseRef(noise, seed)

    def upd(x, g, st, t):
        st["m"] = g.clone() if t == 1 else 0.9 * st["m"] + 0.1 * g
        st["G"] = torch.maximum(st.get("G", 0 * x), st["m"].abs())
        n = draw(x.shape)
        return x - 0.01 * torch.sign(st["m"] + st["G"] * n) - 0.01 * 0.1 * x

    assert_params_equal(got, naive(upd))


def test_stosignsgd_step_is_unbiased_for_m_over_G():
    """Monte Carlo over seeds: the mean step equals lr·m/G (IE-StoSignSGD) within 5 standard errors."""
    steps = []
    for seed in range(400):
        got, _ = run(lambda ps: StoSignSGD(ps, lr=1.0, betas=(0.5, 1.0), seed=seed), steps=3)
        steps.append(torch.cat([p.reshape(-1) for p in got]))
    mean, se = torch.stack(steps).mean(0), torch.stack(steps).std(0) / 20
    expected, _ = run(lambda ps: IEStoSignSGD(ps, lr=1.0, betas=(0.5, 1.0)), steps=3)
    z = (mean - torch.cat([p.reshape(-1) for p in expected])).abs() / se.clamp_min(1e-12)
    assert z.max() < 5


def ref_num_den(base, b1, b2, eps):
    """(num, σ) of the general optimizer (module docstring of convexlab.optim.general)."""

    def nd(g, st, t):
        if base == "ie_stosignsgd":
            st["m"] = g.clone() if t == 1 else b1 * st["m"] + (1 - b1) * g
            st["G"] = torch.maximum(b2 * st.get("G", 0 * g), st["m"].abs())
            return st["m"], st["G"]
        st["m"] = b1 * st.get("m", 0 * g) + (1 - b1) * g
        if base == "adamw":
            st["v"] = b2 * st.get("v", 0 * g) + (1 - b2) * g * g
            return st["m"] / (1 - b1**t), (st["v"] / (1 - b2**t)).sqrt() + eps
        st["u"] = torch.maximum(b2 * st.get("u", 0 * g), g.abs())
        return st["m"] / (1 - b1**t), st["u"] + eps

    return nd


@pytest.mark.parametrize("base", ["adamw", "adamax", "ie_stosignsgd"])
@pytest.mark.parametrize("mode", ["expectation", "deterministic_sign", "stochastic", "stochastic-uniform"])
def test_sign_conversion_matches_reference(base, mode):
    betas = (0.9, 0.99) if base != "ie_stosignsgd" else (0.9, 1.0)
    nd = ref_num_den(base, *betas, 1e-8)
    mode, _, noise = mode.partition("-")
    noise = noise or "lattice16"
    draw = NoiseRef(noise, 11)
    fracs = []

    def upd(x, g, st, t):
        num, den = nd(g, st, t)
        if mode == "expectation":
            d = torch.where(den > 0, (num / den).clamp(-1, 1), torch.sign(num))
        elif mode == "deterministic_sign":
            d = torch.sign(num)
        else:
            d = torch.sign(num + den * draw(x.shape))
        fracs.append(((num.abs() > den).sum().item(), num.numel()))
        return x - 0.01 * d - 0.01 * 0.1 * x

    got, opt = run(lambda ps: SignConverted(ps, base=base, mode=mode, lr=0.01, betas=betas, weight_decay=0.1,
                                            seed=11, noise=noise))
    assert_params_equal(got, naive(upd))
    frac = opt.param_groups[0]["violation_fraction"]
    last = fracs[-2:]  # the last step's two parameters
    want = sum(c for c, _ in last) / sum(n for _, n in last)
    if base == "ie_stosignsgd":
        assert frac == 0.0 and want == 0.0  # |m| ≤ G by construction: nothing is computed
    else:
        assert isinstance(frac, torch.Tensor) and frac.ndim == 0  # no host synchronisation
        assert float(frac) == pytest.approx(want, rel=1e-6)


def test_sign_conversion_expectation_is_clipped_original_step():
    """One step: expectation mode = clip(original step, −lr, lr) coordinate-wise (Prop. 1)."""
    shapes = ((50,),)
    o, _ = run(lambda ps: GeneralAdamOriginal(ps), shapes=shapes, steps=1)
    e, _ = run(lambda ps: SignConverted(ps, base="adamw", mode="expectation", lr=0.01, betas=(0.9, 0.99)),
               shapes=shapes, steps=1)
    x0, _ = run(lambda ps: SignConverted(ps, base="adamw", mode="expectation", lr=0.0), shapes=shapes, steps=1)
    torch.testing.assert_close(e[0] - x0[0], (o[0] - x0[0]).clamp(-0.01, 0.01))


def GeneralAdamOriginal(ps):
    return AdamW(ps, lr=0.01, betas=(0.9, 0.99), weight_decay=0.0)


def test_adamw_sign_conversion_logs_violations_after_a_spike():
    p = torch.nn.Parameter(torch.zeros(1000))
    opt = SignConverted([p], base="adamw", lr=1e-3, betas=(0.9, 0.999), seed=0)
    for t in range(200):
        p.grad = torch.full((1000,), 1e-3)
        opt.step()
    p.grad = torch.full((1000,), 10.0)  # a spike: m̂ grows faster than √v̂ can follow
    for _ in range(3):
        opt.step()
        p.grad = torch.full((1000,), 1e-3)
    assert opt.param_groups[0]["violation_fraction"] > 0.5


def test_theory_form_projects_and_uses_anytime_step():
    D = 2.0
    p = torch.nn.Parameter(torch.zeros(4, dtype=DT))
    opt = StoSignSGD.theory([p], diameter=D, box=(-1.0, 1.0), seed=0)
    for t in range(1, 6):
        p.grad = torch.tensor([5.0, -5.0, 0.0, 1.0], dtype=DT)
        before = p.detach().clone()
        opt.step()
        step = (p.detach() - before).abs()
        moved = step[(before.abs() < 1 - D / math.sqrt(2 * t))]
        assert torch.allclose(moved[moved > 0], torch.tensor(D / math.sqrt(2 * t), dtype=DT))
        assert p.abs().max() <= 1.0
    assert p[2] == 0  # zero gradient, zero envelope: no move


# -- schedule-free ------------------------------------------------------------------------------
@pytest.mark.parametrize("wd,warmup", [(0.0, 0), (0.1, 10)])
def test_sfadamw_equals_schedulefree_package(wd, warmup):
    torch.manual_seed(0)
    w0 = torch.randn(7, 5)
    a, b = torch.nn.Parameter(w0.clone()), torch.nn.Parameter(w0.clone())
    ref = schedulefree.AdamWScheduleFree([a], lr=0.01, betas=(0.9, 0.99), weight_decay=wd, warmup_steps=warmup,
                                         foreach=False)
    ref.train()
    opt = SFAdamW([b], lr=0.01, betas=(0.9, 0.99), weight_decay=wd, warmup_steps=warmup)
    gen = torch.Generator().manual_seed(1)
    for k in range(100):
        g = torch.randn(7, 5, generator=gen)
        a.grad, b.grad = g.clone(), g.clone()
        ref.step()
        opt.step()
        assert (a - b).abs().max() < 1e-6  # train mode: y
        if k % 25 == 0:
            ref.eval()
            opt.eval()
            assert (a - b).abs().max() < 1e-6  # eval mode: x
            ref.train()
            opt.train()


def explicit_sf(base_direction, lr, beta, wd, at, steps, shapes=((3, 2),), seed=0):
    """Explicit z/x/y schedule-free with c = 1/(t+1)... weights from lr² (no warmup): c_t = 1/t."""
    gen = torch.Generator().manual_seed(100 + seed)
    xs = [torch.randn(s, generator=gen, dtype=DT) for s in shapes]
    zs = [x.clone() for x in xs]
    ys = [x.clone() for x in xs]
    st = [{} for _ in shapes]
    for t, gs in enumerate(grads_sequence(shapes, steps, seed), start=1):
        c = 1.0 / t
        for i, g in enumerate(gs):
            d = base_direction(g, st[i], t)
            A = {"x": xs[i], "y": ys[i], "z": zs[i]}[at]
            zs[i] = zs[i] - lr * (d + wd * A)
            xs[i] = (1 - c) * xs[i] + c * zs[i]
            ys[i] = (1 - beta) * zs[i] + beta * xs[i]
    return xs, ys


@pytest.mark.parametrize("at", ["x", "y", "z"])
@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9, 1.0])
def test_schedule_free_signum_equals_explicit_xyz(at, beta):
    SFSignum = schedule_free(Signum)

    def direction(g, st, t):
        st["m"] = g.clone() if t == 1 else 0.8 * st["m"] + 0.2 * g
        return torch.sign(st["m"])

    got, opt = run(lambda ps: SFSignum(ps, lr=0.01, momentum=0.8, weight_decay=0.3, sf_beta=beta,
                                       weight_decay_at=at), shapes=((3, 2),), steps=8)
    xs, ys = explicit_sf(direction, 0.01, beta, 0.3, at, 8)
    assert_params_equal(got, ys, atol=1e-12)
    opt.eval()
    assert_params_equal([p.detach() for p in opt.param_groups[0]["params"]], xs, atol=1e-12)


def test_schedule_free_beta_limits_are_primal_and_polyak_averaging():
    SFSignSGD = schedule_free(SignSGD)
    # β = 1: the gradient is taken at the running average x (primal averaging): y == x
    _, opt = run(lambda ps: SFSignSGD(ps, lr=0.01, sf_beta=1.0), shapes=((3,),))
    y = opt.param_groups[0]["params"][0].detach().clone()
    opt.eval()
    assert torch.equal(opt.param_groups[0]["params"][0].detach(), y)
    # β = 0: y = z, and x is the uniform (Polyak) average of z_1..z_T
    gen = torch.Generator().manual_seed(100)
    x0 = torch.randn(3, generator=gen, dtype=DT)
    zs, z = [x0.clone()], x0.clone()
    for gs in grads_sequence(((3,),)):
        z = z - 0.01 * torch.sign(gs[0])
        zs.append(z)
    got, opt = run(lambda ps: SFSignSGD(ps, lr=0.01, sf_beta=0.0), shapes=((3,),))
    torch.testing.assert_close(got[0], zs[-1])
    opt.eval()
    torch.testing.assert_close(opt.param_groups[0]["params"][0].detach(), torch.stack(zs[1:]).mean(0))


def test_schedule_free_modes():
    _, opt = run(lambda ps: SFAdamW(ps, lr=0.01))
    p = opt.param_groups[0]["params"][0]
    y = p.detach().clone()
    with opt.evaluating():
        x = p.detach().clone()
        with pytest.raises(RuntimeError, match="eval mode"):
            opt.step()
    torch.testing.assert_close(p.detach(), y, rtol=0, atol=1e-15)
    assert not torch.equal(x, y)
    opt.eval()
    opt.eval()  # idempotent
    torch.testing.assert_close(p.detach(), x)
    opt.train()
    torch.testing.assert_close(p.detach(), y, rtol=0, atol=1e-15)


# -- common contracts for the elementwise classes ----------------------------------------------
FACTORIES = {
    "SignSGD": lambda ps: SignSGD(ps, lr=0.01),
    "Signum": lambda ps: Signum(ps, lr=0.01, weight_decay=0.1),
    "Lion": lambda ps: Lion(ps, lr=0.01, weight_decay=0.1),
    "StoSignSGD": lambda ps: StoSignSGD(ps, lr=0.01, betas=(0.9, 0.99), weight_decay=0.1, seed=3),
    "IEStoSignSGD": lambda ps: IEStoSignSGD(ps, lr=0.01),
    "SignConverted": lambda ps: SignConverted(ps, base="adamax", lr=0.01, seed=4),
    "AdamW": lambda ps: AdamW(ps, lr=0.01),
    "AdaMax": lambda ps: AdaMax(ps, lr=0.01),
    "SFAdamW": lambda ps: SFAdamW(ps, lr=0.01, warmup_steps=3, weight_decay=0.1),
    "SFStoSignSGD": lambda ps: schedule_free(StoSignSGD)(ps, lr=0.01, seed=5, weight_decay_at="z", weight_decay=0.1),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_state_dict_round_trip_continues_bit_for_bit(name):
    shapes = ((4, 3), (5,))
    factory = FACTORIES[name]
    gs = grads_sequence(shapes, 10, seed=2, dtype=torch.float32)
    gen = torch.Generator().manual_seed(9)
    init = [torch.randn(s, generator=gen) for s in shapes]

    def fresh():
        ps = [torch.nn.Parameter(x.clone()) for x in init]
        return ps, factory(ps)

    ps, opt = fresh()
    for step in gs:
        for p, g in zip(ps, step):
            p.grad = g.clone()
        opt.step()
    full = [p.detach().clone() for p in ps]

    ps, opt = fresh()
    for step in gs[:4]:
        for p, g in zip(ps, step):
            p.grad = g.clone()
        opt.step()
    saved = copy.deepcopy(opt.state_dict())
    snapshot = [p.detach().clone() for p in ps]
    ps2 = [torch.nn.Parameter(x.clone()) for x in snapshot]
    opt2 = factory(ps2)
    opt2.load_state_dict(saved)
    for step in gs[4:]:
        for p, g in zip(ps2, step):
            p.grad = g.clone()
        opt2.step()
    for a, b in zip(full, ps2):
        assert torch.equal(a, b.detach())


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_grad_is_never_modified_and_lr_scheduler_works(name):
    ps = [torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.randn(5))]
    opt = FACTORIES[name](ps)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        grads = [torch.randn_like(p) for p in ps]
        for p, g in zip(ps, grads):
            p.grad = g.clone()
        opt.step()
        sched.step()
        for p, g in zip(ps, grads):
            assert torch.equal(p.grad, g)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01 / 8)


def test_param_groups_with_different_lr():
    a, b = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(3))
    opt = Signum([{"params": [a], "lr": 0.1}, {"params": [b]}], lr=0.01, momentum=0.0)
    a.grad, b.grad = torch.ones(3), torch.ones(3)
    opt.step()
    assert a.tolist() == pytest.approx([-0.1] * 3) and b.tolist() == pytest.approx([-0.01] * 3)


# -- non-finite gradients and bad input ----------------------------------------------------------
def test_nonfinite_raise_names_the_parameter():
    w = torch.nn.Parameter(torch.zeros(3))
    opt = Signum([("layer.weight", w)], lr=0.1)
    w.grad = torch.tensor([1.0, float("nan"), float("inf")])
    with pytest.raises(ValueError, match=r"non-finite gradient for parameter layer\.weight.*1 NaN and 1 inf"):
        opt.step()
    assert torch.equal(w.detach(), torch.zeros(3))


def test_nonfinite_skip_skips_and_counts():
    a, b = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(3))
    opt = Signum([a, b], lr=0.1, nonfinite="skip")
    a.grad, b.grad = torch.tensor([1.0, float("nan"), 0.0]), torch.ones(3)
    opt.step()
    assert torch.equal(a.detach(), torch.zeros(3)) and opt.nonfinite_skipped == 1
    assert b.tolist() == pytest.approx([-0.1] * 3)
    assert opt.state_dict()["convexlab"]["nonfinite_skipped"] == 1


def test_huge_finite_gradient_is_not_flagged():
    w = torch.nn.Parameter(torch.zeros(4))
    opt = SignSGD([w], lr=0.1)
    w.grad = torch.full((4,), 3e38)  # its norm overflows float32, the gradient itself is finite
    opt.step()
    assert w.tolist() == pytest.approx([-0.1] * 4)


BAD = [
    (lambda p: Signum(p, lr=-1.0), "lr must be a finite number >= 0, got -1.0"),
    (lambda p: Signum(p, lr=float("nan")), "lr must be a finite number >= 0"),
    (lambda p: Signum(p, momentum=1.0), r"momentum must be in \[0, 1\), got 1.0"),
    (lambda p: Signum(p, weight_decay=-0.1), "weight_decay must be a finite number >= 0"),
    (lambda p: Lion(p, betas=(0.9, 1.5)), r"betas\[1\] must be in \[0, 1\)"),
    (lambda p: Lion(p, betas=(0.9,)), "betas must be a tuple of 2 numbers"),
    (lambda p: AdamW(p, eps=-1e-8), "eps must be a finite number >= 0"),
    (lambda p: StoSignSGD(p, betas=(0.9, 0.0)), None),  # β2 = 0 is allowed: G = |m|
    (lambda p: StoSignSGD(p, betas=(1.0, 1.0)), r"betas\[0\] must be in \[0, 1\)"),
    (lambda p: StoSignSGD(p, mode="original"), "mode must be one of"),
    (lambda p: SignConverted(p, base="sgd"), "base must be one of"),
    (lambda p: StoSignSGD(p, envelope="history"), "envelope must be one of"),
    (lambda p: StoSignSGD.theory(p, diameter=0.0), "anytime_diameter must be a finite number > 0"),
    (lambda p: StoSignSGD(p, box=(1.0, -1.0)), "box must satisfy low <= high"),
    (lambda p: Signum(p, nonfinite="ignore"), "nonfinite must be one of"),
    (lambda p: Signum(p, seed=-3), "seed must be an integer in \\[0, "),
    (lambda p: SFAdamW(p, betas=(1.5, 0.9)), r"betas\[0\] must be in \[0, 1\]"),
    (lambda p: SFAdamW(p, weight_decay_at="w"), "weight_decay_at must be one of"),
    (lambda p: SFAdamW(p, warmup_steps=-1), "warmup_steps must be an integer >= 0"),
    (lambda p: AdamW([{"params": p, "betas": (0.9, 2.0)}]), r"betas\[1\] must be in \[0, 1\)"),
]


@pytest.mark.parametrize("factory,message", BAD)
def test_bad_input_raises_value_error(factory, message):
    params = [torch.nn.Parameter(torch.zeros(2))]
    if message is None:
        factory(params)
        return
    with pytest.raises(ValueError, match=message):
        factory(params)


def test_sparse_gradient_is_rejected():
    emb = torch.nn.Embedding(10, 3, sparse=True)
    opt = Signum(emb.parameters(), lr=0.1)
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(ValueError, match="sparse gradients"):
        opt.step()


def test_closure_is_evaluated_with_grad():
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = Signum([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (w**2).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == pytest.approx(5.0) and w.tolist() == pytest.approx([0.9, -1.9])


def test_bf16_parameters_work():
    w = torch.nn.Parameter(torch.randn(8, dtype=torch.bfloat16))
    opt = StoSignSGD([w], lr=0.01, seed=0)
    w.grad = torch.randn(8, dtype=torch.bfloat16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
    assert w.dtype == torch.bfloat16 and torch.isfinite(w).all()


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_cuda_step_matches_cpu_for_deterministic_optimizers(name):
    if name in ("StoSignSGD", "SignConverted", "SFStoSignSGD"):
        pytest.skip("stochastic: CUDA draws from its own generator")
    cpu, _ = run(FACTORIES[name], dtype=torch.float32)
    gen = torch.Generator().manual_seed(100)
    params = [torch.nn.Parameter(torch.randn(s, generator=gen).cuda()) for s in ((4, 3), (5,))]
    opt = FACTORIES[name](params)
    for gs in grads_sequence(((4, 3), (5,)), STEPS, 0, torch.float32):
        for p, g in zip(params, gs):
            p.grad = g.cuda()
        opt.step()
    for a, b in zip(cpu, params):
        torch.testing.assert_close(a, b.detach().cpu(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_deepcopy_and_pickle_keep_the_configuration(name):
    """A copy made after one step continues exactly like the original (generator state included)."""
    import pickle

    ps = [torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.randn(5))]
    opt = FACTORIES[name](ps)
    for p in ps:
        p.grad = torch.randn_like(p)
    opt.step()
    clones = [copy.deepcopy(opt), pickle.loads(pickle.dumps(opt))]
    for clone in clones:
        for p, q in zip(ps, clone.param_groups[0]["params"]):
            q.grad = p.grad.clone()
        clone.step()
    opt.step()
    for clone in clones:
        for p, q in zip(ps, clone.param_groups[0]["params"]):
            assert torch.equal(p, q)


def test_matrix_optimizer_error_names_the_right_group():
    from convexlab.optim import Muon

    w, b = torch.nn.Parameter(torch.zeros(3, 3)), torch.nn.Parameter(torch.zeros(3))
    with pytest.raises(ValueError, match=r"index 0 of param group 1 .*shape \(3,\)"):
        Muon([{"params": [w]}, {"params": [b]}])
