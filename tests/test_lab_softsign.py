"""Tests of convexlab.lab.softsign: the per-step R1 data are the registered checks' recorded runs
(against their verdicts and a hand computation), the τ-sweep criterion on a τ outside τδ ≤ μ/L (where it must flag a violation), and the
matrix toy against an independent least-squares solve."""

import math

import numpy as np
import pytest
import torch

from convexlab.lab.softsign import KINDS, TAU_R1, noisy_matrix_least_squares, r1_gap_by_tau, r1_terms
from convexlab.theory import softsign as ss
from convexlab.theory.registry import CheckContext

DT = torch.float64


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [0, 3])
def test_r1_terms_is_the_registered_checks_run(kind, seed):
    t = r1_terms(kind, TAU_R1, ss.BETA, steps=120, seeds=3, seed=seed)
    r = ss.r1_violation(CheckContext(seed=seed), kind=kind, steps=120, seeds=3)
    assert t["lhs"].shape == (120, 3) and t["valid"].all()
    assert np.max(t["lhs"] - t["rhs"]) == pytest.approx(r.measured, abs=1e-15)
    # inside τδ ≤ μ/L the sharp first line is below the stated form (−V(d)/τ·δ + Lδ²‖d‖²/2 ≤ 0)
    assert np.all(t["rhs_sharp"] <= t["rhs"] + 1e-15)


def test_r1_terms_one_step_by_hand():
    tau, beta, delta = 2.0, 0.9, ss.DELTA
    t = r1_terms("tanh", tau, beta, steps=1, seeds=1, seed=5)
    gen = torch.Generator().manual_seed(5 + 11)
    th0 = torch.randn(1, ss.DIM, generator=gen, dtype=DT).numpy()[0]
    noise = torch.randn(1, ss.DIM, generator=gen, dtype=DT).numpy()[0]
    h = np.logspace(-3, 0, ss.DIM)
    grad = h * th0
    m = grad + ss.R1_NOISE * noise  # m₀ = g₀
    d = -np.tanh(tau * m)
    th1 = th0 + delta * d
    f = lambda x: 0.5 * np.sum(h * x * x)  # noqa: E731
    V = 0.5 * ((1 + d) * np.log1p(d) + (1 - d) * np.log1p(-d))
    rhs = f(th0) - (delta / tau) * np.sum(np.log(np.cosh(tau * grad))) + delta * tau * np.sum((m - grad) ** 2)
    assert t["lhs"][0, 0] == pytest.approx(f(th1), rel=1e-13)
    assert t["rhs"][0, 0] == pytest.approx(rhs, rel=1e-13)
    assert t["measure"][0, 0] == pytest.approx((delta / tau) * np.sum(np.log(np.cosh(tau * grad))), rel=1e-12)
    sharp = rhs - (delta / tau) * np.sum(V) + 0.5 * delta**2 * np.sum(d * d)
    assert t["rhs_sharp"][0, 0] == pytest.approx(sharp, rel=1e-12)


def test_r1_terms_refuses_a_temperature_outside_the_checks_condition():
    with pytest.raises(ValueError, match="tau must satisfy"):
        r1_terms("tanh", 100.0, steps=2, seeds=1)


def test_r1_gap_by_tau_reads_the_sweep_checks_run():
    taus = (1.0, 10.0, 100.0)
    out = r1_gap_by_tau(taus, kinds=("tanh", "algebraic", "euclidean"), steps=60, seeds=2, seed=1)
    check = ss.r1_tau_sweep(CheckContext(seed=1), taus=(1.0, 10.0), outside_tau=100.0, steps=60, seeds=2)
    for kind in KINDS:
        for beta in (0.0, ss.BETA):
            v, d = out[(kind, beta)], check.details["outside"][f"{kind}_beta{beta:g}"]
            assert v["max_gap"][2] == d["max_relative_violation"]
            assert round(v["violated_fraction"][2], 4) == d["violated_step_fraction"]
            assert v["diverged"][2] == d["diverged_runs"]
    assert max(np.max(v["max_gap"][:2]) for v in out.values()) == check.details["worst_stated_form"]
    assert max(np.max(v["max_gap_sharp"][:2]) for v in out.values()) == check.details["worst_sharp_form"]
    # two temperatures outside the condition: one check run each, the same rows as a run of one
    two = r1_gap_by_tau((100.0, 60.0), kinds=("euclidean",), betas=(0.0,), steps=60, seeds=2, seed=1)
    assert two[("euclidean", 0.0)]["max_gap"][0] == out[("euclidean", 0.0)]["max_gap"][2]


def test_r1_gap_by_tau_flags_the_tau_outside_the_condition():
    taus = (1.0, TAU_R1, 100.0)
    out = r1_gap_by_tau(taus, kinds=("tanh", "euclidean"), betas=(0.0,), steps=200, seeds=2, seed=0)
    for key, v in out.items():
        # τδ ≤ μ/L: never violated; the sharp first line holds at every τ
        assert np.all(v["max_gap"][:2] <= ss.ROUND), (key, v)
        assert np.all(v["max_gap_sharp"] <= ss.ROUND), (key, v)
    # broken variant: τδ = 5 > μ/L with the Euclidean V (SGD at step 5 > 2/L) — the stated form fails
    # and the runs diverge; the bounded tanh step does not
    euc = out[("euclidean", 0.0)]
    assert euc["max_gap"][2] > 0.1 and euc["violated_fraction"][2] > 0.05 and euc["diverged"][2] == 2
    tanh = out[("tanh", 0.0)]
    assert tanh["max_gap"][2] < 0 and tanh["diverged"][2] == 0


@pytest.mark.parametrize("kw, name", [
    (dict(kind="huber"), "kind"), (dict(tau=0.0), "tau"), (dict(tau=math.inf), "tau"), (dict(beta=1.0), "beta"),
    (dict(beta=True), "beta"), (dict(steps=0), "steps"), (dict(seeds=2.0), "seeds"),
])
def test_r1_terms_rejects_bad_arguments(kw, name):
    with pytest.raises(ValueError, match=name):
        r1_terms(**{**dict(steps=2, seeds=1), **kw})


def test_r1_gap_by_tau_rejects_empty_grids():
    with pytest.raises(ValueError, match="taus"):
        r1_gap_by_tau([], steps=2, seeds=1)
    with pytest.raises(ValueError, match="betas"):
        r1_gap_by_tau([1.0], betas=(), steps=2, seeds=1)


def test_noisy_matrix_least_squares_matches_an_independent_solve():
    P = noisy_matrix_least_squares(rows=6, cols=4, samples=15, noise_scale=0.3, residual=0.2, seed=2)
    assert P.shape == (6, 4)
    A, B = P.A.numpy(), P.B.numpy()
    W, *_ = np.linalg.lstsq(A, B, rcond=None)
    assert P.f_star == pytest.approx(0.5 * np.sum((A @ W - B) ** 2), rel=1e-10)
    assert P.f_star > 0
    # seeded: the same seed gives the same data, another seed other data
    assert torch.equal(P.A, noisy_matrix_least_squares(rows=6, cols=4, samples=15, seed=2).A)
    assert not torch.equal(P.A, noisy_matrix_least_squares(rows=6, cols=4, samples=15, seed=3).A)
    # the oracle adds N(0, 0.3²) per entry
    x = torch.zeros(4000, 6, 4, dtype=DT)
    noise = P.oracle(x, torch.Generator().manual_seed(0)) - P.subgradient(x)
    assert float(noise.mean()) == pytest.approx(0.0, abs=0.01)
    assert float(noise.std()) == pytest.approx(0.3, rel=0.02)
    # no residual: B is in the range of A, so f* = 0
    assert noisy_matrix_least_squares(rows=6, cols=4, samples=15, residual=0.0).f_star == pytest.approx(0.0, abs=1e-20)


@pytest.mark.parametrize("kw, name", [
    (dict(rows=0), "rows"), (dict(cols=1.5), "cols"), (dict(samples=True), "samples"),
    (dict(noise_scale=0.0), "noise_scale"), (dict(residual=-1.0), "residual"), (dict(residual=math.nan), "residual"),
])
def test_noisy_matrix_least_squares_rejects_bad_arguments(kw, name):
    with pytest.raises(ValueError, match=name):
        noisy_matrix_least_squares(**kw)
