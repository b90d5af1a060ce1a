"""SumAbsSin and ReLUNetL1: values, a.e. gradients, derivative hulls, oracles, validation."""

import math

import pytest
import torch

from convexlab.problems.noise import Gaussian, SignFlip
from convexlab.problems.nonconvex import ReLUNetL1, SumAbsSin

F64 = torch.float64


def test_sumabssin_values_constants_and_gradient():
    p = SumAbsSin([1.0, 2.0, 0.5])
    assert not p.convex and p.f_star == 0.0 and float(p.L.sum()) == 3.5
    assert p.delta_f(p.start_point()) == pytest.approx(3.5 * math.sin(1.0))
    x = torch.tensor([[math.pi / 2, 0.0, -1.0], [3.0, -2.0, 10.0]], dtype=F64)
    assert p.f(x).tolist() == pytest.approx([1.0 + 0.5 * math.sin(1.0), math.sin(3.0) + 2 * math.sin(2.0) + 0.5 * abs(math.sin(10.0))])
    # central differences away from the kinks
    gen = torch.Generator().manual_seed(0)
    y = torch.rand(50, 3, generator=gen, dtype=F64) * 20 - 10
    y = y[(torch.remainder(y, math.pi) > 1e-3).all(-1) & (torch.remainder(y, math.pi) < math.pi - 1e-3).all(-1)]
    h = 1e-6
    fd = torch.stack([(p.f(y + h * e) - p.f(y - h * e)) / (2 * h) for e in torch.eye(3, dtype=F64)], -1)
    assert torch.allclose(p.subgradient(y), fd, atol=1e-6)
    assert (p.subgradient(y).abs() <= p.L).all()
    # at the kink 0 the oracle picks +L (a Clarke subgradient)
    assert p.subgradient(torch.zeros(1, 3, dtype=F64)).tolist() == [[1.0, 2.0, 0.5]]


def test_sumabssin_sign_flip_oracle_is_bounded_and_unbiased():
    p = SumAbsSin([1.0, 2.0], noise=SignFlip(1.0))
    assert torch.equal(p.oracle_L, p.L)
    x = torch.tensor([0.7, -2.0], dtype=F64).expand(200_000, 2)
    g = p.oracle(x, torch.Generator().manual_seed(1))
    assert torch.equal(g.abs(), p.L.expand_as(g))
    se = p.L / math.sqrt(200_000)
    assert ((g.mean(0) - p.subgradient(x[:1])[0]).abs() <= 5 * se).all()
    assert math.isinf(float(SumAbsSin([1.0], noise=Gaussian(0.1)).oracle_L.max()))


def test_derivative_range_matches_a_dense_grid():
    p = SumAbsSin([1.0, 3.0])
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(40, 2, generator=gen, dtype=F64) * 12 - 6
    for r in (0.0, 0.05, 0.4, 1.0, 2.0):
        lo, hi = p.derivative_range(x, r)
        u = x.unsqueeze(0) + torch.linspace(-r, r, 20001, dtype=F64).view(-1, 1, 1)
        w = torch.remainder(u, math.pi)
        vals = p.L * torch.cos(w)
        kink = ((torch.floor((x - r) / math.pi) != torch.floor((x + r) / math.pi)))
        assert torch.equal(lo[kink], (-p.L).expand_as(lo)[kink]) and torch.equal(hi[kink], p.L.expand_as(hi)[kink])
        ok = ~kink
        assert torch.allclose(lo[ok], vals.amin(0)[ok], atol=1e-9) and torch.allclose(hi[ok], vals.amax(0)[ok], atol=1e-9)
    # at a kink with r = 0 the hull is the Clarke subdifferential [−L, L]
    lo, hi = p.derivative_range(torch.zeros(1, 2, dtype=F64), 0.0)
    assert lo.tolist() == [[-1.0, -3.0]] and hi.tolist() == [[1.0, 3.0]]


def test_sumabssin_rejects_bad_input():
    with pytest.raises(ValueError, match="L must be finite and > 0"):
        SumAbsSin([1.0, -1.0])
    with pytest.raises(ValueError, match="L must be a non-empty vector"):
        SumAbsSin([[1.0]])
    with pytest.raises(ValueError, match="start must have shape"):
        SumAbsSin([1.0, 1.0], start=torch.ones(3, dtype=F64))
    with pytest.raises(ValueError, match="radius must be a finite number >= 0"):
        SumAbsSin([1.0]).derivative_range(torch.zeros(1, 1, dtype=F64), -0.1)


def test_relu_net_is_realizable_and_its_gradient_is_autograd_exact():
    p = ReLUNetL1(inputs=2, width=4, samples=16, seed=3)
    assert p.dim == 4 * 2 + 2 * 4 + 1 and not p.convex and p.L is None
    assert float(p.f(p.x_star.unsqueeze(0))[0]) < 1e-12 and p.f_star == 0.0
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(3, p.dim, generator=gen, dtype=F64)
    assert (p.f(x) >= 0).all()
    h = 1e-6
    fd = torch.stack([(p.f(x + h * e) - p.f(x - h * e)) / (2 * h) for e in torch.eye(p.dim, dtype=F64)], -1)
    assert torch.allclose(p.subgradient(x), fd, atol=1e-5)
    # rows are independent: the gradient of one row does not depend on the others
    assert torch.allclose(p.subgradient(x[1:2])[0], p.subgradient(x)[1])


def test_relu_minibatch_oracle_is_unbiased_and_row_independent():
    p = ReLUNetL1(inputs=2, width=3, samples=8, batch=2, seed=5)
    x = p.start_point().expand(40_000, p.dim)
    g = p.oracle(x, torch.Generator().manual_seed(6))
    full = p.subgradient(x[:1])[0]
    se = g.std(0) / math.sqrt(g.shape[0])
    assert ((g.mean(0) - full).abs() <= 5 * se + 1e-12).all()
    assert not torch.equal(g[0], g[1])


def test_relu_net_rejects_bad_input():
    with pytest.raises(ValueError, match="width must be an integer >= 1"):
        ReLUNetL1(width=0)
    with pytest.raises(ValueError, match="batch must be None or an integer >= 1"):
        ReLUNetL1(batch=0)
    with pytest.raises(ValueError, match="SignFlip needs a coordinate bound"):
        ReLUNetL1(noise=SignFlip(1.0))
