"""Cross-checks: the PEP worst case of the subgradient method and the adversarial Theorem-4 search,
each with a failing variant; the parametric problem family's exact constants."""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from convexlab.problems.parametric import CoupledAbs
from convexlab.theory import crosschecks as X
from convexlab.theory import mutants
from convexlab.theory.registry import REGISTRY, CheckContext
from convexlab.theory.stosignsgd import theorem4_bound

CTX = CheckContext()


# ---- the parametric family -----------------------------------------------------------------
def _lp_f_star(p: CoupledAbs) -> float:
    """min Σ a_i u_i + w v s.t. u_i ≥ |x_i − c_i|, v ≥ |Σx − s|, x ∈ [−R, R]^d (an LP)."""
    d = p.dim
    n = 2 * d + 1
    cost = np.concatenate([np.zeros(d), p.a.numpy(), [p.w]])
    rows, rhs = [], []
    for i in range(d):
        for sgn in (1.0, -1.0):
            r = np.zeros(n)
            r[i], r[d + i] = sgn, -1.0
            rows.append(r)
            rhs.append(sgn * float(p.c[i]))
    for sgn in (1.0, -1.0):
        r = np.zeros(n)
        r[:d], r[-1] = sgn, -1.0
        rows.append(r)
        rhs.append(sgn * p.s)
    bounds = [(-p.radius, p.radius)] * d + [(0, None)] * (d + 1)
    return float(linprog(cost, A_ub=np.array(rows), b_ub=np.array(rhs), bounds=bounds, method="highs").fun)


def test_family_f_star_matches_an_lp_and_x_star_attains_it():
    rng = np.random.default_rng(0)
    for _ in range(60):
        d = int(rng.integers(1, 5))
        p = CoupledAbs.from_unit(rng.random(CoupledAbs.n_params(d)), d)
        assert abs(p.f_star - _lp_f_star(p)) <= 1e-9
        assert float(p.f(p.x_star.unsqueeze(0))[0]) == pytest.approx(p.f_star, abs=1e-12)
        assert bool((p.x_star.abs() <= p.radius).all())


def test_family_L_is_a_valid_and_attained_coordinate_bound():
    rng = np.random.default_rng(1)
    for _ in range(30):
        d = int(rng.integers(1, 5))
        p = CoupledAbs.from_unit(rng.random(CoupledAbs.n_params(d)), d)
        x = torch.as_tensor(rng.uniform(-1, 1, (500, d)))
        g = p.subgradient(x)
        assert bool((g.abs() <= p.L + 1e-15).all())
        corner = torch.full((1, d), p.radius, dtype=torch.float64)
        assert torch.equal(p.subgradient(corner)[0], p.L)  # attained: ‖L‖₁ is the tight constant
        # the noisy oracle keeps the bound and is unbiased in the mean
        gen = torch.Generator().manual_seed(2)
        noisy = p.oracle(x[:1].expand(20000, d), gen)
        assert bool((noisy.abs() <= p.oracle_L + 1e-15).all())
        assert torch.allclose(noisy.mean(0), g[0], atol=5 * float(p.L.max()) / math.sqrt(20000))
        # subgradient inequality
        y = torch.as_tensor(rng.uniform(-1, 1, (500, d)))
        assert bool((p.f(y) - p.f(x) - (g * (y - x)).sum(-1) >= -1e-12).all())


def test_family_rejects_bad_parameters():
    with pytest.raises(ValueError, match="c must lie in the box"):
        CoupledAbs([1.0], 0.0, [2.0], 0.0)
    with pytest.raises(ValueError, match="a must be finite and >= 0"):
        CoupledAbs([-1.0], 0.0, [0.0], 0.0)
    with pytest.raises(ValueError, match="w must be a finite number >= 0"):
        CoupledAbs([1.0], -0.5, [0.0], 0.0)
    with pytest.raises(ValueError, match="must not all be 0"):
        CoupledAbs([0.0, 0.0], 0.0, [0.0, 0.0], 0.0)
    with pytest.raises(ValueError, match="start must be a point of the box"):
        CoupledAbs([1.0], 0.0, [0.0], 0.0, start=[3.0])
    with pytest.raises(ValueError, match="theta must lie in"):
        CoupledAbs.from_unit([1.5] * 6, 1)
    with pytest.raises(ValueError, match="theta must have 9 entries"):
        CoupledAbs.from_unit([0.5] * 6, 2)
    with pytest.raises(ValueError, match="p must be a probability"):
        CoupledAbs([1.0], 0.0, [0.0], 0.0, p=2.0)


# ---- PEP ------------------------------------------------------------------------------------
def test_pep_check_passes_and_is_registered():
    assert "crosscheck.pep_subgradient_tight" in REGISTRY
    res = X.pep_subgradient(CTX)
    assert res.passed, res
    assert res.details["relative_duality_gap"] < X.PEP_REL_TOL
    geo = res.details["theorem4_box_translation"]["d=2"]
    assert geo["D_inf"] == 3.0 and geo["L1_class"] == 4.0  # M = 2, R = 1.5
    assert geo["bound_best"] > res.measured  # the box geometry pays at least 2√2·√d here


def test_pep_check_fails_for_a_wrong_constant_or_step():
    assert not X.pep_subgradient(CTX, claimed=lambda M, R, N: M * R / (N + 1)).passed
    assert not X.pep_subgradient(CTX, step_factor=2.0).passed
    assert not X.pep_subgradient(CTX, step_factor=1.01).passed  # a 1% step error is already visible


def test_pep_rejects_bad_input():
    with pytest.raises(ValueError, match="gamma must be a finite number > 0"):
        X.subgradient_pep(1.0, 1.0, 3, 0.0)
    with pytest.raises(ValueError, match="N must be an integer >= 1"):
        X.subgradient_pep(1.0, 1.0, 0, 0.1)


# ---- adversarial search ---------------------------------------------------------------------
def test_adversarial_check_passes_for_stosignsgd():
    assert "crosscheck.theorem4_adversarial" in REGISTRY
    res = X.theorem4_adversarial(CTX)
    assert res.passed, res.details
    assert res.details["ratio_ci"][1] < 1.0


def test_adversarial_search_finds_a_violation_with_a_10x_step():
    ten_x = mutants.step_scaled(REGISTRY["crosscheck.theorem4_adversarial"], 10)
    res = X.theorem4_adversarial(CheckContext(subject=ten_x))
    assert not res.passed, res.details
    assert res.details["ratio_ci"][0] > 1.0


def test_the_family_contains_a_signsgd_stall_that_fails_the_bound():
    # w > max a_i: sign(g) = ±(1, 1), so signSGD cannot reduce x₁ − x₂ (the default search does not
    # reliably find this narrow region at T = 100; here the instance is given directly)
    theta = np.array([1.0, 1.0, 1.01 / 2.0, 0.95, 0.05, 0.5, 0.05, 0.95, 0.0])
    p = CoupledAbs.from_unit(theta, 2)
    assert p.w > float(p.a.max())
    T = 100
    mean, se, bound = X.instance_ratio(theta, 2, mutants.PANEL["signsgd"].providers["stosignsgd"], T, 16, 0)
    assert mean - 3 * se > bound  # confidently above Theorem 4 (ratio ≈ 2)
    ok_mean, ok_se, _ = X.instance_ratio(theta, 2, mutants.stosign_alg1, T, 64, 0)
    assert ok_mean + 3 * ok_se < bound
    assert bound == pytest.approx(theorem4_bound(p, T))


def test_common_random_numbers_make_evaluations_repeatable():
    theta = np.full(CoupledAbs.n_params(2), 0.3)
    a = X.instance_ratio(theta, 2, mutants.stosign_alg1, 50, 8, 5)
    b = X.instance_ratio(theta, 2, mutants.stosign_alg1, 50, 8, 5)
    c = X.instance_ratio(theta, 2, mutants.stosign_alg1, 50, 8, 6)
    assert a == b and a != c
