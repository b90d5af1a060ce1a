"""The simulator, the Figure-1 problem and the StoSignSGD rate checks (with failing variants)."""

import pytest
import torch

from convexlab.optim import SignSGD, StoSignSGD
from convexlab.problems import TwoDimensionalAbs
from convexlab.sim import simulate
from convexlab.theory import CheckContext
from convexlab.theory import mutants
from convexlab.theory import stosignsgd as C

CTX = CheckContext()


def test_problem_constants_and_subgradients():
    p = TwoDimensionalAbs()
    assert p.D_inf == 4.0 and float(p.L.sum()) == 6.0
    x = torch.tensor([[1.0, 0.5], [0.0, 0.0], [-1.0, 2.0]], dtype=torch.float64)
    assert p.f(x).tolist() == [2.5, 0.0, 7.0]
    g = p.subgradient(x)
    assert g.abs().max() <= 3 and g[0].tolist() == [3.0, -1.0]
    # subgradient inequality f(y) ≥ f(x) + ⟨g, y − x⟩ at random pairs
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(200, 2, generator=gen, dtype=torch.float64), torch.randn(200, 2, generator=gen, dtype=torch.float64)
    assert (p.f(b) - p.f(a) - (p.subgradient(a) * (b - a)).sum(-1) >= -1e-12).all()


def test_signsgd_keeps_the_sum_and_stalls():
    p = TwoDimensionalAbs()
    res = simulate(p, lambda ps: SignSGD(ps, lr=0.01), 500, 1)
    assert res.gap_last[-1, 0] >= 1.5 - 1e-12


def test_simulation_is_deterministic_and_rows_are_independent():
    p = TwoDimensionalAbs()
    make = lambda ps: StoSignSGD.theory(ps, diameter=p.D_inf, box=p.box, seed=3)  # noqa: E731
    a, b = simulate(p, make, 200, 5), simulate(p, make, 200, 5)
    assert torch.equal(a.gap_avg, b.gap_avg)
    assert len(set(a.gap_last[-1].tolist())) > 1  # different noise per row
    assert len(a.rows()) == len(a.metrics) * len(a.steps) * 5  # one row per (metric, step, seed)
    assert a.meta["layout"] == "batched"


def test_simulator_rejects_bad_sizes_and_batched_matrix_optimizers():
    p = TwoDimensionalAbs()
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        simulate(p, lambda ps: SignSGD(ps), 0, 1)
    with pytest.raises(ValueError, match="seeds must be an integer >= 1"):
        simulate(p, lambda ps: SignSGD(ps), 10, 0)
    with pytest.raises(ValueError, match="layout must be one of"):
        simulate(p, lambda ps: SignSGD(ps), 10, 3, layout="rows")



SIGNSGD = CheckContext(subject=mutants.PANEL["signsgd"].providers["stosignsgd"])


def test_checks_pass():
    assert C.theorem4(CTX, anytime=True).passed
    assert C.theorem4(CTX, anytime=False).passed
    fig = C.figure1(CTX)
    assert fig.passed and fig.details["signsgd_excess"] > 0  # projected signSGD stalls above the bound


def test_theorem4_fails_without_the_noise():
    assert not C.theorem4(SIGNSGD, anytime=True).passed
    assert not C.theorem4(SIGNSGD, anytime=False).passed


def test_figure1_fails_for_signsgd_as_the_subject():
    assert not C.figure1(SIGNSGD).passed


def test_summed_inequality_passes_and_fails_without_noise():
    assert C.summed_inequality(CTX).passed
    assert not C.summed_inequality(SIGNSGD).passed


def test_summed_bound_is_below_the_closed_form():
    # Σ t^{-1/2} ≤ 2√T makes (★) ≤ √2·D∞‖L‖₁√T (Theorem 4 times T)
    p = TwoDimensionalAbs()
    T = 1000
    assert C.summed_inequality_bound(p, T) <= C.theorem4_bound(p, T) * T


def test_sign_conversion_check_passes_and_fails_for_the_biased_sign():
    for base in ("adamw", "adamax"):
        assert C.conversion_unbiased(base, "stochastic", CTX).passed
        assert not C.conversion_unbiased(base, "deterministic_sign", CTX).passed
