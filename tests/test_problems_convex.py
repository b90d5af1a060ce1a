"""The non-smooth convex box problems and the linear OCO loss sequences: constants, subgradients, f*."""

import pytest
import torch

from convexlab.problems import SignFlip
from convexlab.problems.convex import HingeSVM, L1Regression, MaxAffine, SignGame, WeightedL1Coupling
from convexlab.problems.online import AdaptiveSignAdversary, ObliviousCoinLosses

F64 = torch.float64
FACTORIES = {
    "weighted_l1_coupling": lambda **kw: WeightedL1Coupling(**kw),
    "l1_regression": lambda **kw: L1Regression(**kw),
    "hinge_svm": lambda **kw: HingeSVM(**kw),
    "hinge_svm_reg": lambda **kw: HingeSVM(reg=0.1, **kw),
    "max_affine": lambda **kw: MaxAffine(**kw),
    "sign_game": lambda **kw: SignGame(**kw),
}


def _box_points(p, n, seed):
    gen = torch.Generator().manual_seed(seed)
    return p.low + (p.high - p.low) * torch.rand(n, p.dim, generator=gen, dtype=F64)


def _kink_points(p, n, seed):
    """Points on the kinks, where the tie rule of the oracle is exercised."""
    x = _box_points(p, n, seed)
    if isinstance(p, WeightedL1Coupling):
        x[: n // 2, ::2] = p.c[::2]  # x_i = c_i
        x[n // 2:, -1] = -x[n // 2:, :-1].sum(-1)  # Σx = 0 (may leave the box: fine for the inequality)
    elif isinstance(p, L1Regression):
        x[:, 0] = (p.b[0] - x[:, 1:] @ p.A[0, 1:]) / p.A[0, 0]  # residual 0 of the first row
    elif isinstance(p, HingeSVM):
        x[:, 0] = (p.y[0] - x[:, 1:] @ p.X[0, 1:]) / p.X[0, 0]  # margin exactly 1 on the first row
        x[: n // 2, 1] = 0.0  # w_1 = 0 (the ℓ1 kink)
    elif isinstance(p, MaxAffine):
        # make rows 0 and 1 tie: ⟨a_0 − a_1, x⟩ = b_1 − b_0
        diff = p.A[0] - p.A[1]
        x[:, 0] = ((p.b[1] - p.b[0]) - x[:, 1:] @ diff[1:]) / diff[0]
    return x


@pytest.mark.parametrize("name", FACTORIES)
def test_subgradient_inequality_and_coordinate_bounds(name):
    p = FACTORIES[name]()
    for x in (_box_points(p, 300, 1), _kink_points(p, 200, 2)):
        y = _box_points(p, x.shape[0], 3)
        g = p.subgradient(x)
        assert g.shape == x.shape
        # f(y) ≥ f(x) + ⟨g, y − x⟩ for every y: g ∈ ∂f(x) (also at the kinks)
        assert (p.f(y) - p.f(x) - (g * (y - x)).sum(-1) >= -1e-10).all()
        assert (g.abs() <= p.L + 1e-12).all()


@pytest.mark.parametrize("name", FACTORIES)
def test_minimum_is_consistent(name):
    p = FACTORIES[name]()
    x_star = p.x_star
    assert ((x_star >= p.low) & (x_star <= p.high)).all()
    assert float(p.f(x_star[None])[0]) == pytest.approx(p.f_star, abs=1e-9)
    x = torch.cat([_box_points(p, 2000, 4), _kink_points(p, 200, 5).clamp(-1, 1)])
    assert (p.f(x) >= p.f_star - 1e-7).all()
    # a local perturbation of x* inside the box does not go below f* (solver accuracy)
    gen = torch.Generator().manual_seed(6)
    near = p.project(x_star + 1e-3 * torch.randn(500, p.dim, generator=gen, dtype=F64))
    assert (p.f(near) >= p.f_star - 1e-7).all()


def test_weighted_l1_coupling_constants():
    p = WeightedL1Coupling(d=5, radius=2.0, seed=3)
    assert p.D_inf == 4.0 and p.dim == 5
    assert torch.allclose(p.L, p.a + 1)
    assert p.a.max() / p.a.min() == pytest.approx(100.0)  # heterogeneous by default
    # a closed-form case: with c = 0 the minimiser is 0
    q = WeightedL1Coupling(a=[1.0, 2.0], c=[0.0, 0.0])
    assert q.f_star == pytest.approx(0.0, abs=1e-8)


def test_l_vectors_follow_their_formulas():
    lr = L1Regression(d=4, n=10, seed=1)
    assert torch.allclose(lr.L, lr.A.abs().sum(0) / 10)
    svm = HingeSVM(reg=0.3, d=4, n=10, seed=1)
    assert torch.allclose(svm.L, svm.X.abs().sum(0) / 10 + 0.3)
    ma = MaxAffine(d=4, n=6, seed=1)
    assert torch.allclose(ma.L, ma.A.abs().amax(0))
    # the bound is attained: at x = (R, 0) row 0 is the maximiser and |∂_0 f| = max_j |a_j0| = 2
    small = MaxAffine(A=[[2.0, -1.0], [0.5, 3.0]], b=[0.0, 0.0])
    assert small.L.tolist() == [2.0, 3.0]
    assert small.subgradient(torch.tensor([[1.0, 0.0]], dtype=F64))[0].tolist() == [2.0, -1.0]


def test_sign_game_is_a_coin_with_bias_q():
    p = SignGame(d=3, q=0.25, noise=SignFlip(1.0), seed=2)
    assert torch.equal(p.x_star, -p.s) and p.f_star == pytest.approx(-0.25 * float(p.L.sum()))
    gen = torch.Generator().manual_seed(0)
    g = p.oracle(torch.zeros(200_000, 3, dtype=F64), gen)
    assert torch.equal(g.abs(), p.L.expand_as(g))  # every coordinate is ±L_i
    assert torch.allclose(g.mean(0) / p.L, 0.25 * p.s, atol=0.01)  # E ξ = q s


@pytest.mark.parametrize("name", ["weighted_l1_coupling", "l1_regression", "hinge_svm", "max_affine"])
def test_sign_flip_oracle_is_bounded_and_unbiased(name):
    p = FACTORIES[name](noise=SignFlip(1.0))
    assert torch.equal(p.oracle_L, p.L)  # bounded noise keeps Assumption A3's L
    gen = torch.Generator().manual_seed(7)
    x = _box_points(p, 1, 8).expand(100_000, p.dim)
    g = p.oracle(x, gen)
    assert (g.abs() <= p.L + 1e-12).all()
    exact = p.subgradient(x[:1])[0]
    se = (p.L**2 - exact**2).clamp_min(0).sqrt() / 100_000**0.5
    assert ((g.mean(0) - exact).abs() <= 5 * se + 1e-12).all()


def test_cvxpy_solution_is_cached(monkeypatch):
    import cvxpy as cp

    calls = []
    solve = cp.Problem.solve

    def counting(self, *a, **k):
        calls.append(1)
        return solve(self, *a, **k)

    monkeypatch.setattr(cp.Problem, "solve", counting)
    p = MaxAffine(d=5, n=7, seed=4242)
    f1 = p.f_star
    assert len(calls) == 1
    _ = p.x_star, p.f_star  # second access on the same problem
    q = MaxAffine(d=5, n=7, seed=4242)  # same data: shares the cached solve
    assert q.f_star == f1 and torch.equal(q.x_star, p.x_star)
    assert len(calls) == 1
    MaxAffine(d=5, n=7, seed=4243).f_star  # different data: a new solve
    assert len(calls) == 2


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="radius must be a finite number > 0"):
        WeightedL1Coupling(radius=0.0)
    with pytest.raises(ValueError, match="a must be positive"):
        WeightedL1Coupling(a=[1.0, -1.0])
    with pytest.raises(ValueError, match="c must have the shape of a"):
        WeightedL1Coupling(a=[1.0, 2.0], c=[0.0])
    with pytest.raises(ValueError, match="d must be an integer >= 1"):
        L1Regression(d=0)
    with pytest.raises(ValueError, match="A and b must be given together"):
        L1Regression(A=torch.ones(3, 2))
    with pytest.raises(ValueError, match="b must have A.shape"):
        MaxAffine(A=torch.ones(3, 2), b=torch.ones(2))
    with pytest.raises(ValueError, match="reg must be a finite number >= 0"):
        HingeSVM(reg=-1.0)
    with pytest.raises(ValueError, match="y must contain labels"):
        HingeSVM(X=torch.ones(2, 2), y=torch.tensor([1.0, 0.5]))
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        HingeSVM(n=0)
    with pytest.raises(ValueError, match="q must lie in"):
        SignGame(q=0.0)
    with pytest.raises(ValueError, match="seed must be an integer"):
        MaxAffine(seed=1.5)


# ---- online loss sequences ------------------------------------------------------------------
L8 = torch.logspace(0, 1, 8, dtype=F64)


def test_adaptive_adversary_reacts_to_the_play_and_stays_bounded():
    adv = AdaptiveSignAdversary(L8, D_inf=2.0, eps=0.25, seed=0)
    assert adv.adaptive and adv.box[1].tolist() == [1.0] * 8
    gen = torch.Generator().manual_seed(1)
    x = 2 * torch.rand(50, 8, generator=gen, dtype=F64) - 1
    past = torch.randn(50, 8, generator=gen, dtype=F64)
    c = adv.loss(1, x, past)
    assert (c.abs() <= L8 + 1e-15).all()
    assert ((c * x) >= 0).all()  # the learner never gains
    sigma = torch.sign(past)
    assert torch.equal(c, torch.where(sigma * x >= 0, sigma * L8, -0.25 * sigma * L8))
    # flipping the play flips the choice (it reads x_t)
    c_flip = adv.loss(1, -x, past)
    assert not torch.equal(c, c_flip)
    # with no history the seeded orientation decides, and a play at 0 is punished (the full loss):
    # a learner that stays at the centre has linear regret
    c0 = adv.loss(1, torch.zeros(1, 8, dtype=F64), torch.zeros(1, 8, dtype=F64))
    assert torch.equal(c0[0], adv.s * L8)


def test_oblivious_losses_ignore_the_learner_and_replay():
    adv = ObliviousCoinLosses(L8, D_inf=2.0, eps=0.25, seed=3)
    x = torch.zeros(4, 8, dtype=F64)
    seq = [adv.loss(t, x, x) for t in range(1, 200)]
    assert all(torch.equal(c[0], c[3]) for c in seq)  # the same loss in every row
    assert all(set((c[0] / (adv.s * L8)).tolist()) <= {1.0, -0.25} for c in seq)
    adv.reset()
    again = [adv.loss(t, x + 0.5, x) for t in range(1, 200)]  # other plays, same sequence
    assert all(torch.equal(a, b) for a, b in zip(seq, again))


def test_oblivious_losses_with_a_skewed_coin():
    adv = ObliviousCoinLosses(L8, D_inf=2.0, eps=0.25, seed=3, p=0.3)
    x = torch.zeros(1, 8, dtype=F64)
    up = torch.stack([adv.loss(t, x, x)[0] / (adv.s * L8) for t in range(1, 4001)]) > 0
    assert abs(float(up.double().mean()) - 0.3) < 0.02
    with pytest.raises(ValueError, match="p must lie in"):
        ObliviousCoinLosses(L8, p=1.0)


def test_lopsided_sign_noise_is_unbiased_bounded_and_misleads_the_sign():
    from convexlab.problems.noise import LopsidedSign

    noise = LopsidedSign(scale=4.0, eps=0.25)
    L = torch.tensor([1.0, 1.0, 2.0, 0.5], dtype=F64)
    g = torch.tensor([0.5, -1.0, 0.0, 0.25], dtype=F64).expand(200_000, 4)
    gen = torch.Generator().manual_seed(0)
    draws = noise(g, L, gen)
    assert torch.equal(noise.oracle_bound(L), 4 * L) and (draws.abs() <= 4 * L).all()
    assert ((draws.mean(0) - g[0]).abs() < 5 * draws.std(0) / 200_000**0.5).all()
    assert ((draws.abs() < 4 * L).double().mean(0) > 0.5).all()  # the small atom is the frequent one
    # the sign points uphill on average: E sign(g̃) = σ(2π − 1) with π < ½
    assert (draws.sign().mean(0) * torch.where(g[0] >= 0, 1.0, -1.0) < 0).all()
    var = ((draws - g[0]) ** 2).mean(0).sum()
    assert float(var) == pytest.approx(float(noise.variance(g[:1], L)[0]), rel=0.02)
    with pytest.raises(ValueError, match="scale must be >= 1"):
        LopsidedSign(scale=0.5)
    with pytest.raises(ValueError, match="eps must lie in"):
        LopsidedSign(eps=1.0)


def test_loss_sequences_validate_their_arguments():
    with pytest.raises(ValueError, match="L must be a non-empty 1-D tensor"):
        AdaptiveSignAdversary(torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="eps must lie in"):
        ObliviousCoinLosses(L8, eps=1.0)
    with pytest.raises(ValueError, match="D_inf must be a finite number > 0"):
        ObliviousCoinLosses(L8, D_inf=0)
