"""Matrix problems: gradients match autograd, the spectral/nuclear smoothness constants hold on random
pairs (and the least-squares one is attained), f ≥ f*, closed-form minimisers, simulator layout."""

import math

import pytest
import torch

from convexlab.optim import Muon
from convexlab.problems import Gaussian
from convexlab.problems.matrix import MatrixFactorization, MatrixLeastSquares, nuclear_norm, spectral_norm
from convexlab.sim import simulate

GEN = lambda s=0: torch.Generator().manual_seed(s)  # noqa: E731


def lsq(m=6, n=4, p=9, seed=0):
    g = GEN(seed)
    return MatrixLeastSquares(torch.randn(p, m, generator=g, dtype=torch.float64),
                              torch.randn(p, n, generator=g, dtype=torch.float64))


def factorization(m=6, n=5, r=2, exact=True, seed=0):
    g = GEN(seed)
    M = torch.randn(m, r, generator=g, dtype=torch.float64) @ torch.randn(r, n, generator=g, dtype=torch.float64)
    if not exact:
        M = M + 0.3 * torch.randn(m, n, generator=g, dtype=torch.float64)
    return MatrixFactorization(M, r)


@pytest.mark.parametrize("make", [lsq, lambda: lsq(4, 6, 3), factorization, lambda: factorization(exact=False)])
def test_gradient_matches_autograd(make):
    P = make()
    W = torch.randn(3, *P.shape, generator=GEN(1), dtype=torch.float64, requires_grad=True)
    P.f(W).sum().backward()
    assert torch.allclose(P.subgradient(W.detach()), W.grad, atol=1e-10)
    assert P.f(W.detach()[0]).shape == () and P.subgradient(W.detach()[0]).shape == P.shape


@pytest.mark.parametrize("shape", [(6, 4, 9), (4, 6, 9), (5, 5, 3)])
def test_least_squares_smoothness_holds_and_is_attained(shape):
    m, n, p = shape
    P = lsq(m, n, p)
    g = GEN(2)
    W1 = torch.randn(200, m, n, generator=g, dtype=torch.float64)
    W2 = torch.randn(200, m, n, generator=g, dtype=torch.float64)
    ratio = nuclear_norm(P.subgradient(W1) - P.subgradient(W2)) / spectral_norm(W1 - W2)
    assert float(ratio.max()) <= P.smoothness * (1 + 1e-12)
    # attained at Δ = the top-k eigenvectors of AᵀA (zero-padded to n columns)
    evals, evecs = torch.linalg.eigh(P.A.T @ P.A)
    k = min(m, n)
    D = torch.zeros(m, n, dtype=torch.float64)
    D[:, :k] = evecs.flip(1)[:, :k]
    assert math.isclose(float(nuclear_norm(P.subgradient(D) - P.subgradient(torch.zeros(m, n, dtype=torch.float64)))),
                        P.smoothness, rel_tol=1e-10)
    assert P.smoothness_frobenius <= P.smoothness <= k * P.smoothness_frobenius * (1 + 1e-12)


def test_least_squares_minimum():
    P = lsq()
    W = torch.randn(100, *P.shape, generator=GEN(3), dtype=torch.float64)
    assert bool((P.f(W) >= P.f_star).all())
    assert torch.allclose(P.subgradient(P.x_star), torch.zeros(P.shape, dtype=torch.float64), atol=1e-10)
    sol = torch.linalg.lstsq(P.A, P.B).solution
    assert math.isclose(P.f_star, float(P.f(sol)), rel_tol=1e-10)


@pytest.mark.parametrize("R", [0.5, 1.0, 3.0])
def test_factorization_smoothness_on_ball(R):
    P = factorization()
    g = GEN(4)
    W1 = torch.randn(300, *P.shape, generator=g, dtype=torch.float64)
    W2 = W1 + 0.3 * torch.randn(300, *P.shape, generator=g, dtype=torch.float64)
    W1 = W1 * (R / spectral_norm(W1))[:, None, None] * torch.rand(300, 1, 1, generator=g, dtype=torch.float64)
    W2 = W2 * (R / spectral_norm(W2))[:, None, None] * torch.rand(300, 1, 1, generator=g, dtype=torch.float64)
    ratio = nuclear_norm(P.subgradient(W1) - P.subgradient(W2)) / spectral_norm(W1 - W2)
    assert float(ratio.max()) <= P.smoothness_on_ball(R)
    assert P.smoothness is None and not P.convex


def test_factorization_minimum():
    P = factorization()
    assert P.f_star == pytest.approx(0.0, abs=1e-20) and float(P.f(P.x_star)) < 1e-20
    assert math.isclose(float(spectral_norm(P.x_star)), math.sqrt(2 * float(spectral_norm(P.M))), rel_tol=1e-10)
    Q = factorization(exact=False)
    s = torch.linalg.svdvals(Q.M)
    assert math.isclose(Q.f_star, 0.5 * float(s[2:].square().sum()), rel_tol=1e-12)
    assert math.isclose(Q.f_star, float(Q.f(Q.x_star)), rel_tol=1e-10)
    W = torch.randn(200, *Q.shape, generator=GEN(5), dtype=torch.float64)
    assert bool((Q.f(W) >= Q.f_star).all())
    assert float(spectral_norm(Q.start_point())) > 0  # not the saddle W = 0


def test_noise_is_unbiased_and_the_simulator_runs_per_seed():
    P = MatrixLeastSquares(lsq().A, lsq().B, noise=Gaussian(0.5))
    W = torch.zeros(4000, *P.shape, dtype=torch.float64)
    g = P.oracle(W, GEN(6))
    assert float((g.mean(0) - P.subgradient(W[0])).abs().max()) < 5 * 0.5 / math.sqrt(4000)
    res = simulate(P, lambda ps: Muon(ps, lr=0.01, polar="svd"), 50, 2, seed=1)
    assert res.meta["layout"] == "per_seed" and res.metrics["gap_last"].shape[1] == 2
    assert float(res.metrics["f"][-1].max()) < float(res.metrics["f"][0].min())


def test_bad_input():
    A = torch.randn(3, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="same number of rows"):
        MatrixLeastSquares(A, torch.randn(4, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="B must"):
        MatrixLeastSquares(A, torch.randn(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="rank must be an integer in"):
        MatrixFactorization(A, 3)
    with pytest.raises(ValueError, match="radius"):
        MatrixFactorization(A, 1).smoothness_on_ball(-1.0)
    with pytest.raises(ValueError, match="x must have shape"):
        MatrixFactorization(A, 1).f(torch.zeros(2, 2, dtype=torch.float64))
