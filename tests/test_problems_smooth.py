"""The smooth problems of the Softsign bounds: gradients, smoothness constants, f*, noise, validation."""

import doctest
import math

import pytest
import torch

from convexlab.problems import Exact, Gaussian
from convexlab.problems import base as problem_base
from convexlab.problems import smooth
from convexlab.problems.smooth import HeterogeneousQuadratic, LogisticRegression

DT = torch.float64


def _problems():
    return [HeterogeneousQuadratic(), HeterogeneousQuadratic(h=[3.0, 0.5, 1e-4]), LogisticRegression(),
            LogisticRegression(n_samples=30, dim=40, seed=3, l2=0.1)]  # d > N: separable, λ makes it unique


def _pairs(dim, n=64, seed=0, scale=3.0):
    gen = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(n, dim, generator=gen, dtype=DT), scale * torch.randn(n, dim, generator=gen, dtype=DT))


@pytest.mark.parametrize("prob", _problems(), ids=repr)
def test_gradient_matches_autograd(prob):
    x, _ = _pairs(prob.dim)
    x.requires_grad_(True)
    (auto,) = torch.autograd.grad(prob.f(x).sum(), x)
    torch.testing.assert_close(prob.subgradient(x.detach()), auto, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("prob", _problems(), ids=repr)
def test_smoothness_constant_is_valid(prob):
    x, y = _pairs(prob.dim, seed=1)
    lhs = (prob.subgradient(x) - prob.subgradient(y)).norm(dim=-1)
    assert (lhs <= prob.smoothness * (x - y).norm(dim=-1) * (1 + 1e-12)).all()
    # and it is the Hessian's largest eigenvalue bound: attained (quadratic) or not exceeded (logistic)
    xs = x[:1].clone().requires_grad_(True)
    H = torch.autograd.functional.hessian(lambda z: prob.f(z.unsqueeze(0))[0], xs[0].detach())
    assert float(torch.linalg.eigvalsh(H).max()) <= prob.smoothness * (1 + 1e-12)


def test_quadratic_constants():
    p = HeterogeneousQuadratic()
    assert p.dim == 50 and p.smoothness == 1.0 and p.f_star == 0.0 and torch.equal(p.x_star, torch.zeros(50, dtype=DT))
    assert float(p.h.min()) == pytest.approx(1e-3) and p.h[-1] == 1.0
    assert not p.bounded and p.low[0] == -math.inf and p.high[0] == math.inf
    assert torch.equal(p.start_point(), torch.ones(50, dtype=DT))
    assert p.delta_f(p.start_point()) == pytest.approx(0.5 * float(p.h.sum()))
    assert isinstance(p.noise, Gaussian) and p.noise_variance == pytest.approx(50 * 0.01)
    assert HeterogeneousQuadratic(noise=Exact()).noise_variance == 0.0
    # smoothness is attained along the steepest coordinate
    e = torch.zeros(1, 50, dtype=DT)
    e[0, -1] = 1.0
    assert float(p.subgradient(e).norm()) == pytest.approx(p.smoothness)


def test_gaussian_oracle_is_unbiased_with_the_stated_variance():
    p = HeterogeneousQuadratic(dim=10)
    x = torch.ones(4000, 10, dtype=DT)
    g = p.oracle(x, torch.Generator().manual_seed(5))
    dev = g - p.subgradient(x)
    n = dev.shape[0]
    assert float(dev.mean(0).abs().max()) < 5 * 0.1 / math.sqrt(n)
    sq = (dev**2).sum(-1)
    assert abs(float(sq.mean()) - p.noise_variance) < 5 * float(sq.std()) / math.sqrt(n)


@pytest.mark.parametrize("prob", _problems(), ids=repr)
def test_f_is_above_f_star_and_x_star_is_stationary(prob):
    x, y = _pairs(prob.dim, seed=2, scale=1.0)
    pts = torch.cat([x, prob.x_star + 1e-3 * y])
    assert (prob.f(pts) >= prob.f_star - 1e-14).all()
    assert float(prob.subgradient(prob.x_star.unsqueeze(0)).norm()) < 1e-9
    assert float(prob.f(prob.x_star.unsqueeze(0))[0]) == pytest.approx(prob.f_star, abs=1e-15)


def test_logistic_constants_and_cached_solve():
    p = LogisticRegression()
    X = p.X
    assert p.smoothness == pytest.approx(float(torch.linalg.matrix_norm(X, ord=2)) ** 2 / (4 * 200) + 1e-3)
    assert set(p.y.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(p.start_point(), torch.zeros(20, dtype=DT))
    f_star = p.f_star
    assert p._key in problem_base._SOLUTIONS
    q = LogisticRegression(X.clone(), (p.y > 0).to(DT))  # same data with {0, 1} labels: same cached solve
    assert q._key == p._key and q.f_star == f_star
    assert LogisticRegression(seed=1)._key != p._key


def test_logistic_f_matches_the_definition():
    p = LogisticRegression(n_samples=7, dim=3, seed=2, l2=0.5)
    w = torch.tensor([[0.3, -1.0, 2.0]], dtype=DT)
    ref = sum(math.log1p(math.exp(-float(p.y[j] * (p.X[j] @ w[0])))) for j in range(7)) / 7 + 0.25 * float(w @ w.T)
    assert float(p.f(w)[0]) == pytest.approx(ref, rel=1e-13)


def test_bad_input_raises_naming_the_argument():
    with pytest.raises(ValueError, match="h must be > 0"):
        HeterogeneousQuadratic(h=[1.0, -1.0])
    with pytest.raises(ValueError, match="h_min must be <= h_max"):
        HeterogeneousQuadratic(h_min=2.0, h_max=1.0)
    with pytest.raises(ValueError, match="h_min must be a finite number > 0"):
        HeterogeneousQuadratic(h_min=0.0)
    with pytest.raises(ValueError, match="dim must be an integer >= 1"):
        HeterogeneousQuadratic(dim=0)
    with pytest.raises(ValueError, match="scale must be a finite number > 0"):
        HeterogeneousQuadratic(noise_scale=-1.0)
    with pytest.raises(ValueError, match=r"start must have shape \(50,\)"):
        HeterogeneousQuadratic(start=torch.ones(3))
    X = torch.randn(5, 2, dtype=DT)
    with pytest.raises(ValueError, match="X and y must be given together"):
        LogisticRegression(X)
    with pytest.raises(ValueError, match=r"y must have shape \(5,\)"):
        LogisticRegression(X, torch.ones(4))
    with pytest.raises(ValueError, match="y must contain labels"):
        LogisticRegression(X, torch.full((5,), 2.0))
    with pytest.raises(ValueError, match="l2 must be a finite number > 0"):
        LogisticRegression(l2=0.0)
    with pytest.raises(ValueError, match="X contains 10 NaN entries"):
        LogisticRegression(torch.full((5, 2), math.nan), torch.ones(5))
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1"):
        LogisticRegression(n_samples=0)


def test_doctests():
    assert doctest.testmod(smooth).failed == 0
