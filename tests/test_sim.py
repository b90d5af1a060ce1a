"""The simulator's layouts, seeding and tidy output, and the noise models of the oracles."""

import math

import pytest
import torch

from convexlab.optim import Muon, SignSGD, SoftSignum, StoSignSGD
from convexlab.problems import Problem, TwoDimensionalAbs
from convexlab.problems.noise import Exact, Gaussian, HeavyTailed, SignFlip
from convexlab.sim import simulate


class _Quadratic(Problem):
    """½‖W‖²_F on a 3×2 box, for layout tests (f* = 0 at 0)."""

    def __init__(self):
        super().__init__((3, 2), 2.0, -1.0, 1.0, f_star=0.0, x_star=torch.zeros(3, 2), smoothness=1.0)
        self.start = torch.full((3, 2), 0.5, dtype=torch.float64)

    def f(self, x):
        return 0.5 * x.pow(2).sum((-1, -2))

    def subgradient(self, x):
        return x.clone()


def test_matrix_optimizers_run_one_seed_per_optimizer():
    p = _Quadratic()
    res = simulate(p, lambda ps: Muon(ps, lr=0.01, ns_dtype=torch.float32), 20, 3)
    assert res.meta["layout"] == "per_seed"
    assert res.gap_last.shape == (len(res.steps), 3)
    assert (res.gap_last[-1] < res.gap_last[0]).all()
    with pytest.raises(ValueError, match="would mix the seeds"):
        simulate(p, lambda ps: Muon(ps, lr=0.01), 5, 2, layout="batched")


def test_pooled_schedules_do_not_leak_between_seeds():
    """SoftSignum's temperature schedule pools a whole tensor, so sharing one tensor across runs would
    couple them: row 0 of a batched run differs from the same run alone. The simulator therefore
    runs it per seed, where one run alone equals the same run inside a batch."""
    make = lambda ps: SoftSignum(ps, lr=0.01, sign_iters=5, transition_iters=40)  # noqa: E731
    alone = torch.nn.Parameter(torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64))
    batch = torch.nn.Parameter(torch.tensor([[1.0, -2.0, 0.5], [50.0, 0.1, -7.0]], dtype=torch.float64))
    oa, ob = make([alone]), make([batch])
    for _ in range(20):
        alone.grad, batch.grad = alone.detach().clone(), batch.detach().clone()
        oa.step()
        ob.step()
    assert not torch.allclose(alone[0], batch[0])  # the leak the per-seed layout avoids
    p, x0 = _Quadratic(), torch.linspace(-0.9, 0.8, 6, dtype=torch.float64).reshape(3, 2)
    one, many = simulate(p, make, 40, 1, x0, seed=5), simulate(p, make, 40, 3, x0, seed=5)
    assert many.meta["layout"] == "per_seed"
    assert torch.equal(one.f[:, 0], many.f[:, 0])


def test_oracle_noise_is_seeded_and_unbiased_on_average():
    p = TwoDimensionalAbs(noise=SignFlip(1.0))
    make = lambda ps: StoSignSGD.theory(ps, diameter=p.D_inf, box=p.box, seed=1)  # noqa: E731
    a, b, c = simulate(p, make, 50, 4, seed=2), simulate(p, make, 50, 4, seed=2), simulate(p, make, 50, 4, seed=3)
    assert torch.equal(a.f, b.f) and not torch.equal(a.f, c.f)


@pytest.mark.parametrize("noise", [Exact(), Gaussian(0.5), SignFlip(0.3), SignFlip(1.0), HeavyTailed(0.5, df=4)])
def test_noise_models_are_unbiased_with_their_variance(noise):
    g = torch.tensor([[0.3, -1.0, 2.0, 0.0]], dtype=torch.float64).expand(40000, 4)
    L = torch.tensor([1.0, 1.0, 2.0, 0.5], dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    out = noise(g, L, gen)
    var = noise.variance(g[:1], L)[0] / 4  # average per-coordinate variance
    se = math.sqrt(max(float(var), 1e-12) / 40000)
    assert (out.mean(0) - g[0]).abs().max() < 5 * se + 1e-12
    assert float((out - g).pow(2).sum(1).mean()) == pytest.approx(float(noise.variance(g[:1], L)[0]), rel=0.1, abs=1e-9)
    if noise.bounded:
        assert (out.abs() <= L + 1e-12).all()


def test_biased_noise_would_be_detected():
    """The unbiasedness test above can fail: a shifted oracle is caught."""
    g = torch.zeros(40000, 1, dtype=torch.float64)
    out = Gaussian(0.5)(g, torch.ones(1), torch.Generator().manual_seed(0)) + 0.02
    assert (out.mean(0) - g[0]).abs().max() > 5 * 0.5 / math.sqrt(40000)


@pytest.mark.parametrize("bad, match", [(lambda: SignFlip(1.5), "p must be a probability"),
                                        (lambda: Gaussian(-1), "scale must be"),
                                        (lambda: HeavyTailed(1.0, df=2), "df must be > 2")])
def test_noise_arguments_are_validated(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()


def test_tidy_rows_and_summaries():
    p = TwoDimensionalAbs()
    res = simulate(p, lambda ps: SignSGD(ps, lr=0.01), 30, 2, record=[1, 30],
                   extra={"x1": lambda x: x[:, 0]})
    rows = res.rows()
    assert {r["metric"] for r in rows} >= {"f", "gap_avg", "linear_regret", "grad_l1", "weight_rms", "x1"}
    assert len(rows) == len(res.metrics) * 2 * 2
    assert res.x1[0].tolist() == [1.0, 1.0] and res.x1[1].tolist() != [1.0, 1.0]  # views are copied
    s = res.summary("f")
    assert [r["step"] for r in s] == [1, 30] and s[0]["mean"] == 2.5
    with pytest.raises(ValueError, match="x0 must have the problem's shape"):
        simulate(p, lambda ps: SignSGD(ps), 5, 1, x0=torch.zeros(3))


def test_noise_variance_counts_every_entry_of_a_matrix_point():
    g = torch.zeros(5, 3, 4, dtype=torch.float64)
    L = torch.ones(3, 4, dtype=torch.float64)
    assert Gaussian(0.5).variance(g, L).tolist() == [12 * 0.25] * 5
    assert SignFlip(1.0).variance(g, L).tolist() == [12.0] * 5
    assert Exact().variance(g, L).shape == (5,)


def test_oracle_noise_does_not_share_the_optimizers_stream():
    """simulate(seed=s) with an optimizer seeded s: the oracle's uniforms differ from the optimizer's."""
    from convexlab.sim.run import ORACLE_SALT

    gen = torch.Generator().manual_seed((0 * 0x9E3779B1 + ORACLE_SALT) % 2**63)
    assert not torch.equal(torch.rand(8, generator=gen), torch.rand(8, generator=torch.Generator().manual_seed(0)))


# ---------------------------------------------------------------------------------------------
# the fast draws (32-bit integer coins, float32 Gaussians) against the float64 draws they replace
# ---------------------------------------------------------------------------------------------
class _SignFlip64(SignFlip):
    """The former SignFlip draw: one float64 uniform per coordinate, P(up) = (1 + g/L)/2."""

    def __call__(self, g, L, generator):
        L = L.to(g.dtype)
        u = torch.rand(g.shape, generator=generator, dtype=g.dtype)
        up = u < (1 + (g / L).clamp(-1, 1)) / 2
        rounded = torch.where(up, L, -L).expand_as(g)
        if self.p >= 1.0:
            return rounded
        return torch.where(torch.rand(g.shape, generator=generator, dtype=g.dtype) < self.p, rounded, g)


class _Gaussian64(Gaussian):
    def __call__(self, g, L, generator):
        return g + self.scale * torch.randn(g.shape, generator=generator, dtype=g.dtype)


def _equal_within_noise(a, b, z=4.0):
    (ma, sa), (mb, sb) = a, b
    assert abs(ma - mb) <= z * math.sqrt(sa**2 + sb**2), (a, b)


@pytest.mark.parametrize("p", [1.0, 0.4])
def test_signflip_simulation_equals_the_float64_draws_within_noise(p):
    """StoSignSGD's gaps f(x̄_T) − f*, f(x_T) − f* and linear regret over 3000 seeds: the oracle's
    32-bit draws and the former float64 ones give the same means within 4 standard errors
    (independent streams). The sharp test of the draw itself is the next-but-one test."""
    from convexlab.problems.convex import WeightedL1Coupling

    def run(noise, metric):
        prob = WeightedL1Coupling(d=6, noise=noise)
        make = lambda ps: StoSignSGD.theory(ps, diameter=prob.D_inf, box=prob.box, seed=11)  # noqa: E731
        return simulate(prob, make, 60, 3000, record=[60], seed=4).final(metric)

    for metric in ("avg", "last", "linear_regret"):
        _equal_within_noise(run(SignFlip(p), metric), run(_SignFlip64(p), metric))


def test_gaussian_simulation_equals_the_float64_draws_within_noise():
    from convexlab.problems import HeterogeneousQuadratic

    def run(noise):
        prob = HeterogeneousQuadratic(dim=8, h_min=0.05, noise=noise)
        return simulate(prob, lambda ps: SignSGD(ps, lr=0.05), 40, 3000, record=[40], seed=4).final("last")

    _equal_within_noise(run(Gaussian(0.7)), run(_Gaussian64(0.7)))


def test_signflip_draw_is_exactly_bounded_and_unbiased_to_high_precision():
    """Every output is exactly ±L_i (p = 1) or ±L_i / g_i (p < 1), with awkward L (0.1, 1/3, 0, huge)
    and |g| = L giving sign(g) deterministically; the mean over 2·10⁶ draws per coordinate is g
    within 5 standard errors."""
    L = torch.tensor([0.1, 1.0 / 3.0, 0.0, 7e150, 2.5, 2.5, 1.0], dtype=torch.float64)
    g = torch.tensor([0.03, -1.0 / 3.0, 0.0, -1e150, 2.5, -2.5, 1e-7], dtype=torch.float64)
    gen = torch.Generator().manual_seed(3)
    out = SignFlip(1.0)(g.expand(2_000_000, 7), L, gen)
    assert ((out == L) | (out == -L)).all()
    assert (out.abs() <= L).all()  # exactly: no tolerance
    assert (out[:, 1] == -L[1]).all() and (out[:, 4] == L[4]).all() and (out[:, 5] == -L[5]).all()
    se = torch.sqrt((L**2 - g**2).clamp(min=0) / out.shape[0])
    assert ((out.mean(0) - g).abs() <= 5 * se + 1e-12 * L).all()
    part = SignFlip(0.25)(g.expand(200_000, 7), L, gen)
    assert ((part == L) | (part == -L) | (part == g)).all() and (part.abs() <= L).all()
    kept = (part == g).double().mean(0)[[0, 3]]  # coordinates where g is neither ±L
    assert ((kept - 0.75).abs() < 5 * math.sqrt(0.25 * 0.75 / 200_000)).all()


def test_random_int32_covers_every_bit_and_coins_hit_their_probability():
    from convexlab.problems.noise import coin, random_int32

    gen = torch.Generator().manual_seed(0)
    r = random_int32((1001, 3), gen)  # odd count: the last 64-bit word is half used
    assert r.shape == (1001, 3) and r.dtype == torch.int32
    r = random_int32((400_000,), gen).long()
    bits = torch.stack([(r >> k) & 1 for k in range(32)]).double().mean(1)
    assert ((bits - 0.5).abs() < 5 * 0.5 / math.sqrt(r.numel())).all()  # the sign bit included
    for p in (0.0, 1e-3, 0.5, 0.999, 1.0):
        freq = float(coin(p, (400_000,), gen).double().mean())
        assert abs(freq - p) <= 5 * math.sqrt(p * (1 - p) / 400_000)  # exact 0 and 1 at the ends
    a, b = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(random_int32((7, 5), a), random_int32((7, 5), b))  # reproducible


# ---------------------------------------------------------------------------------------------
# the simulator loop: the bare step, the rows without copies, the regret accumulator
# ---------------------------------------------------------------------------------------------
def _hooked(make, hook=None, pre=True):
    def build(ps):
        opt = make(ps)
        fn = hook or (lambda *a: None)
        (opt.register_step_pre_hook if pre else opt.register_step_post_hook)(fn)
        return opt
    return build


@pytest.mark.parametrize("layout", ["batched", "per_seed"])
def test_the_bare_step_equals_the_wrapped_step_and_hooks_are_honoured(layout):
    """The simulator skips torch.optim's profiling wrapper only when no hook is registered: with a
    no-op hook (the wrapped path) the run is bit-identical; a hook that biases the gradient in
    place changes it, in both layouts, the same way (g's rows are passed without copies)."""
    p = TwoDimensionalAbs(noise=SignFlip(0.5))
    make = lambda ps: SignSGD(ps, lr=0.01)  # noqa: E731
    plain = simulate(p, make, 30, 3, layout=layout, seed=1)
    assert torch.equal(plain.f, simulate(p, _hooked(make), 30, 3, layout=layout, seed=1).f)
    assert torch.equal(plain.f, simulate(p, _hooked(make, pre=False), 30, 3, layout=layout, seed=1).f)

    def bias(opt, args, kwargs):
        for group in opt.param_groups:
            for q in group["params"]:
                q.grad.add_(torch.tensor([-10.0, 0.0], dtype=q.grad.dtype))  # x₁ always increases

    biased = simulate(p, _hooked(make, bias), 30, 3, layout=layout, seed=1)
    other = simulate(p, _hooked(make, bias), 30, 3, layout="per_seed" if layout == "batched" else "batched", seed=1)
    assert not torch.equal(plain.f, biased.f) and torch.equal(biased.f, other.f)
    assert not torch.equal(plain.linear_regret, biased.linear_regret)
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    handle = register_optimizer_step_pre_hook(bias)  # a global hook
    try:
        assert torch.equal(simulate(p, make, 30, 3, layout=layout, seed=1).f, biased.f)
    finally:
        handle.remove()


def test_linear_regret_and_average_match_an_explicit_loop():
    """With an exact oracle, the accumulated Σ_s ⟨g_s, x_s − x*⟩ and f(x̄_t) equal a hand-written loop."""
    p = TwoDimensionalAbs()
    x0 = torch.tensor([1.5, -0.7], dtype=torch.float64)
    res = simulate(p, lambda ps: SignSGD(ps, lr=0.03), 25, 1, x0=x0, record=[1, 7, 25])
    x = torch.nn.Parameter(x0.clone().unsqueeze(0))
    opt = SignSGD([x], lr=0.03)
    regret, total, rows = 0.0, torch.zeros(1, 2, dtype=torch.float64), {}
    for t in range(1, 26):
        xt = x.detach().clone()
        g = p.subgradient(xt)
        regret += float((g * (xt - p.x_star)).sum())
        total += xt
        rows[t] = (regret, float(p.f(total / t)[0]) - p.f_star)
        x.grad = g
        opt.step()
    for i, t in enumerate(res.steps):
        assert float(res.linear_regret[i, 0]) == pytest.approx(rows[t][0], rel=1e-12, abs=1e-12)
        assert float(res.gap_avg[i, 0]) == pytest.approx(rows[t][1], rel=1e-12, abs=1e-12)


class _Rebinding(torch.optim.Optimizer):
    """x ← x − lr·g written as a rebinding of ``p.data`` (not in place)."""

    coordinatewise = True

    def __init__(self, params, lr):
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for q in group["params"]:
                q.data = q.data - group["lr"] * q.grad


def test_an_optimizer_that_rebinds_its_parameter_is_followed():
    p = _Quadratic()
    res = simulate(p, lambda ps: _Rebinding(ps, 0.1), 20, 2, record=[20])
    sgd = simulate(p, lambda ps: torch.optim.SGD(ps, lr=0.1), 20, 2, record=[20])
    assert res.meta["layout"] == "batched" and torch.allclose(res.f, sgd.f, rtol=1e-12, atol=0)
    assert float(res.f[-1, 0]) < 0.1 * float(p.f(p.start.unsqueeze(0))[0])  # it moved: 0.0137 < 0.075
    assert res.meta["output_point"] == "average"


@pytest.mark.parametrize("layout", ["batched", "per_seed"])
def test_watch_box_records_the_largest_excursion_outside_the_box(layout):
    """meta["box_violation"]: for a run that leaves the box, the largest distance outside it over
    x_1..x_{T+1} and all runs (equal to a step hook's measurement); 0 for a projected run; absent
    unless asked."""
    p = TwoDimensionalAbs()  # box [−2, 2]²
    x0 = torch.tensor([1.9, -1.9], dtype=torch.float64)

    def watched(factory):
        worst = []

        def make(ps):
            opt = factory(ps)

            def hook(o, args, kwargs):
                x = torch.stack([q.detach() for q in o.param_groups[0]["params"]])
                worst.append(max(float((p.low - x).amax()), float((x - p.high).amax()), 0.0))

            opt.register_step_post_hook(hook)
            return opt

        return make, worst

    make, worst = watched(lambda ps: _Away(ps, 0.05))
    res = simulate(p, make, 40, 3, x0=x0, layout=layout, watch_box=True)
    assert res.meta["box_violation"] == max(worst) == pytest.approx(1.9 + 40 * 0.05 - 2.0, rel=1e-12)
    make, worst = watched(lambda ps: SignSGD(ps, lr=1.5, box=p.box))  # overshoots, clipped back
    assert simulate(p, make, 40, 2, x0=-x0.abs(), layout=layout, watch_box=True).meta["box_violation"] == 0.0
    make, worst = watched(lambda ps: SignSGD(ps, lr=1.5))  # the same run unprojected leaves the box
    res = simulate(p, make, 40, 2, x0=-x0.abs(), layout=layout, watch_box=True)
    assert res.meta["box_violation"] == max(worst) > 1.0
    assert "box_violation" not in simulate(p, make, 5, 2, layout=layout).meta


class _Away(torch.optim.Optimizer):
    """x ← x + lr·sign(x): walks out of any box centred at 0."""

    coordinatewise = True

    def __init__(self, params, lr):
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None):
        for q in self.param_groups[0]["params"]:
            q.add_(torch.sign(q), alpha=self.param_groups[0]["lr"])


def test_to_frame_gives_tidy_rows_and_summaries():
    import torch

    from convexlab.sim.run import SimResult

    res = SimResult([1, 5], {"f": torch.tensor([[1.0, 3.0], [0.5, 1.5]]), "grad_l1": torch.zeros(2, 2)})
    df = res.to_frame()
    assert list(df.columns) == ["seed", "step", "metric", "value"] and len(df) == 8
    assert df[(df.metric == "f") & (df.step == 5) & (df.seed == 1)].value.item() == 1.5
    sm = res.to_frame(summary=True)
    assert list(sm.columns) == ["step", "metric", "mean", "stderr", "min", "max"]
    assert sm[(sm.metric == "f") & (sm.step == 1)]["mean"].item() == 2.0
    with pytest.raises(ValueError, match="name must be a recorded metric"):
        res.summary("gap_avg")
