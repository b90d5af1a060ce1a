"""Alg. 12 (O2NC with online StoSignSGD): the registry learner and the direct one agree bit for
bit, both equal a naive reference written from [SSG-ALG12], the outputs and parameters are right."""

import math

import pytest
import torch

from convexlab.problems.noise import SignFlip
from convexlab.problems.nonconvex import ReLUNetL1, SumAbsSin
from convexlab.sim.o2nc import INEQ10_CONSTANT, N_COEFFICIENT, o2nc, o2nc_parameters
from convexlab.sim.stationarity import goldstein_separable, penalized_witness, uniform_witness

F64 = torch.float64
FIELDS = ("block_means", "block_grads", "spread", "x_hat", "hat_index")


def _problem(noise=None):
    return SumAbsSin([1.0, 2.0, 0.5], noise=noise)


@pytest.mark.parametrize("kw", [{}, {"restart": False}, {"project": False}, {"scaling": "unit"}, {"lr_scale": 3.0}])
def test_direct_learner_is_the_registry_optimizer_bit_for_bit(kw):
    p = _problem(SignFlip(0.5))
    a = o2nc(p, 30, 4, 0.02, 5, seed=7, learner="registry", **kw)
    b = o2nc(p, 30, 4, 0.02, 5, seed=7, learner="direct", **kw)
    for name in FIELDS:
        assert torch.equal(getattr(a, name), getattr(b, name)), name


def _naive(problem, N, K, D, S, seed):
    """StoSignSGD [SSG-ALG12] written out (exact oracle): s ~ Exp(1); x_t = x_{t−1} + sΔ; G = max(G, |g|);
    Δ = clip(Δ − √2·D/√n · sign(g + G⊙u), −D, D); restart n, G, Δ per block."""
    gen = torch.Generator().manual_seed(seed)
    ugen = torch.Generator().manual_seed(seed)  # the learner's generator (StoSignSGD's seed)
    x = problem.start_point().expand(S, problem.dim).clone()
    means, grads = [], []
    for k in range(K):
        delta = torch.zeros(S, problem.dim, dtype=F64)
        G = torch.zeros(S, problem.dim, dtype=F64)
        s = torch.empty(N, S, 1, dtype=F64).exponential_(1.0, generator=gen)
        pts, gs = [], []
        for n in range(1, N + 1):
            x = x + s[n - 1] * delta
            g = problem.subgradient(x)
            pts.append(x)
            gs.append(g)
            G = torch.maximum(G, g.abs())
            u = torch.rand(S, problem.dim, generator=ugen, dtype=F64) * 2 - 1
            delta = (delta - math.sqrt(2) * D / math.sqrt(n) * torch.sign(g + G * u)).clamp(-D, D)
        means.append(torch.stack(pts).mean(0))
        grads.append(torch.stack(gs).mean(0))
    return torch.stack(means), torch.stack(grads)


def test_o2nc_equals_a_naive_reference_of_alg12():
    p = _problem()
    res = o2nc(p, 25, 3, 0.05, 4, seed=11)
    means, grads = _naive(p, 25, 3, 0.05, 4, 11)
    assert torch.allclose(res.block_means, means, rtol=0, atol=1e-12)
    assert torch.allclose(res.block_grads, grads, rtol=0, atol=1e-12)


def test_outputs_determinism_and_row_independence():
    p = _problem(SignFlip(1.0))
    a, b = o2nc(p, 20, 6, 0.03, 5, seed=2, learner="direct"), o2nc(p, 20, 6, 0.03, 5, seed=2, learner="direct")
    for name in FIELDS:
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert a.block_means.shape == (6, 5, 3) and a.spread.shape == (6, 5) and a.grad_l1.shape == (6, 5)
    assert torch.equal(a.x_hat, a.block_means[a.hat_index, torch.arange(5)])
    assert len(set(a.block_means[-1, :, 0].tolist())) == 5  # different noise per row
    assert a.meta["T"] == 120 and a.f_start == pytest.approx(float(p.f(p.start_point()[None])[0]))
    # the box: the learner moves x by at most s·D per step, so a block's points lie within
    # D·Σ s of each other; with the no-projection variant the spread grows past the box bound
    c = o2nc(p, 20, 6, 0.03, 5, seed=2, learner="direct", project=False)
    assert c.spread.mean() > a.spread.mean()


def test_witness_and_goldstein_on_a_recorded_block():
    p = _problem(SignFlip(1.0))
    res = o2nc(p, 40, 3, 0.05, 4, seed=5, learner="direct")
    w = penalized_witness(res.block_grads, res.spread, 2.0)
    assert torch.allclose(w, res.grad_l1 + 2.0 * res.spread)
    # uniform_witness from raw points equals the recorded statistics
    pts = torch.randn(40, 4, 3, generator=torch.Generator().manual_seed(0), dtype=F64)
    g = p.subgradient(pts.reshape(-1, 3)).reshape(40, 4, 3)
    centre = pts.mean(0)
    manual = g.mean(0).abs().sum(-1) + 2.0 * ((pts - centre).abs().amax(-1) ** 2).mean(0)
    assert torch.allclose(uniform_witness(pts, g, 2.0), manual)
    # the Goldstein measure with radius r is at most ‖mean of the gradients at points within r‖₁
    # (their mean lies in the convex hull of the derivative sets over the ball)
    r = 0.5
    x = torch.tensor([[0.3, 1.0, -2.0]], dtype=F64)
    near = x + (torch.rand(200, 3, generator=torch.Generator().manual_seed(1), dtype=F64) * 2 - 1) * r
    assert goldstein_separable(p, x, r)[0] <= p.subgradient(near).mean(0).abs().sum() + 1e-12
    assert goldstein_separable(p, x, 0.0)[0] == pytest.approx(float(p.subgradient(x).abs().sum()))
    assert goldstein_separable(p, torch.full((1, 3), math.pi / 2, dtype=F64), 1.6)[0] == 0.0
    with pytest.raises(ValueError, match="lam_pen must be a finite number >= 0"):
        penalized_witness(res.block_grads, res.spread, -1.0)
    with pytest.raises(ValueError, match="spread must have shape"):
        penalized_witness(res.block_grads, res.spread[0], 1.0)
    with pytest.raises(ValueError, match="derivative_range"):
        goldstein_separable(ReLUNetL1(), torch.zeros(1, 31, dtype=F64), 0.1)


def test_o2nc_parameters_make_the_three_terms_sum_to_eps():
    # the constants of proofs_checks.stosign_arithmetic (sympy), StoSignSGD [SSG-O2NC]
    assert N_COEFFICIENT == pytest.approx(187.68, abs=5e-3)
    assert INEQ10_CONSTANT**2 == pytest.approx(33 + 20 * math.sqrt(2))
    for eps, delta, L1, df in [(1.0, 1.0, 1.0, 1.0), (2.5, 10.0, 5.0, 4.2), (0.3, 0.05, 2.0, 7.0)]:
        P = o2nc_parameters(eps, delta, L1, df)
        assert P.N == math.ceil(49 * (33 + 20 * math.sqrt(2)) * L1**2 / (16 * eps**2))
        assert P.D == pytest.approx(math.sqrt(eps / (14 * delta)) / P.N)
        assert P.K == math.ceil(7 * df / (2 * eps * P.D * P.N)) and P.T == P.N * P.K
        descent, noise, spread = df / (P.D * P.K * P.N), INEQ10_CONSTANT * L1 / math.sqrt(P.N), 2 * delta * P.N**2 * P.D**2
        assert descent <= 2 * eps / 7 + 1e-12 and noise <= 4 * eps / 7 + 1e-12
        assert spread == pytest.approx(eps / 7) and descent + noise + spread <= eps * (1 + 1e-12)


def test_bad_arguments_raise():
    p = _problem()
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        o2nc_parameters(0.0, 1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="N must be an integer >= 1"):
        o2nc(p, 0, 1, 0.1, 1)
    with pytest.raises(ValueError, match="D must be a finite number > 0"):
        o2nc(p, 1, 1, -0.1, 1)
    with pytest.raises(ValueError, match="scaling must be one of"):
        o2nc(p, 1, 1, 0.1, 1, scaling="uniform")
    with pytest.raises(ValueError, match="learner must be one of"):
        o2nc(p, 1, 1, 0.1, 1, learner="adam")
    with pytest.raises(ValueError, match="x0 must have the problem's shape"):
        o2nc(p, 1, 1, 0.1, 1, x0=torch.zeros(2, dtype=F64))


def test_a_learner_factory_is_the_registry_learner_and_records_its_plays():
    from convexlab.optim import StoSignSGD

    p = _problem(SignFlip(0.5))
    seen = []

    def factory(params, problem):
        seen.append((problem.D_inf, problem.box, problem.horizon, problem.seed, problem.step, problem.L.tolist()))
        return StoSignSGD.theory(params, diameter=problem.D_inf, box=problem.box, seed=problem.seed)

    a = o2nc(p, 30, 4, 0.02, 5, seed=7, learner="registry")
    b = o2nc(p, 30, 4, 0.02, 5, seed=7, learner=factory)
    for name in FIELDS + ("max_play",):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert seen == [(0.04, (-0.02, 0.02), 30, 7, "anytime", [1.0, 2.0, 0.5])]  # built once, restarted per block
    assert b.meta["learner"] == "factory" and a.feasible and 0 < float(a.max_play.max()) <= 0.02
    c = o2nc(p, 30, 4, 0.02, 5, seed=7, learner="direct", project=False)
    assert not c.feasible and float(c.max_play.max()) > 0.02


def test_rotated_sum_abs_sin():
    from convexlab.problems.nonconvex import RotatedSumAbsSin

    p = RotatedSumAbsSin([1.0, 0.5], [3.0, 1.5])
    assert p.L.tolist() == [4.0, 4.0, 2.0, 2.0] and p.f_star == 0.0
    x = torch.randn(20, 4, generator=torch.Generator().manual_seed(0), dtype=F64, requires_grad=True)
    p.f(x).sum().backward()
    assert torch.allclose(x.grad, p.subgradient(x.detach()), rtol=0, atol=1e-12)
    # on the ridge v = 0 the deterministic sign points across it: (±1, ∓1) per pair
    g = p.subgradient(p.start_point()[None])[0]
    assert torch.sign(g).tolist() == [1.0, -1.0, 1.0, -1.0]
    assert float(g.abs().sum()) == pytest.approx(2 * (3.0 + 1.5))
    # the Goldstein brackets: lower ≤ upper, ordered in r, and 0 where a kink of both u and v is within r
    pts = torch.randn(50, 4, generator=torch.Generator().manual_seed(1), dtype=F64)
    lo, hi = p.goldstein_bounds(pts, 0.1)
    assert bool((lo <= hi + 1e-12).all()) and bool((hi <= p.subgradient(pts).abs().sum(-1) + 1e-12).all())
    assert p.goldstein_bounds(torch.zeros(1, 4, dtype=F64), 0.01)[1].item() == 0.0
    with pytest.raises(ValueError, match="same length"):
        RotatedSumAbsSin([1.0], [1.0, 2.0])
