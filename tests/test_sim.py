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
