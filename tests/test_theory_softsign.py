"""Softsign's reconstructed results R1–R3, the τ-limits of SoftSignum trajectories and the
heterogeneity claim hold, and each check fails when its ingredients are wrong."""

import math

import pytest
import torch

from convexlab.geometry import SoftSign
from convexlab.optim import Signum, SoftSignum
from convexlab.theory import REGISTRY, CheckContext
from convexlab.theory import softsign as C

CTX = CheckContext()
SHORT = 300  # steps for the broken variants: each flips by a wide margin already there


# ---- R1 ------------------------------------------------------------------------------------
def test_r1_holds_under_its_condition():
    res = C.r1_violation(CTX)
    assert res.passed and res.measured < 0


def test_r1_fails_without_the_momentum_error_term():
    assert not C.r1_violation(CTX, error_term=0.0).passed


def test_r1_fails_with_the_wrong_temperature_scaling():
    assert not C.r1_violation(CTX, step_geometry=SoftSign(1 / 18, "tanh")).passed


def test_r1_refuses_a_temperature_outside_its_condition():
    with pytest.raises(ValueError, match="R1 needs τδ ≤ μ/L"):
        C.r1_violation(CTX, tau=100.0)


@pytest.mark.parametrize("kind", ["algebraic", "euclidean"])
def test_r1_other_geometries(kind):
    res = REGISTRY[f"softsign.r1_one_step[{kind}]"].func(CTX)
    assert res.passed and res.measured < 0 and res.details["kind"] == kind
    assert not C.r1_violation(CTX, kind=kind, error_term=0.0, steps=SHORT).passed
    assert not C.r1_violation(CTX, kind=kind, step_geometry=C.tempered(kind, 1 / 18), steps=SHORT).passed


def test_r1_tau_sweep_holds_and_reports_the_outside_temperature():
    res = C.r1_tau_sweep(CTX)
    d = res.details
    assert res.passed and d["worst_stated_form"] < 0 and d["worst_sharp_form"] < 0
    assert d["worst_sharp_form_outside"] <= C.ROUND  # the sharp form needs no condition on τ
    out = d["outside"]
    assert set(out) == {f"{k}_beta{b:g}" for k in C.KINDS for b in (0.0, 0.9)}
    # τδ = 5 > μ/L: the stated form is violated (Euclidean V: gradient descent with step 5 diverges),
    # and the check still passes: outside the condition R1 is allowed to fail
    assert out["euclidean_beta0"]["violated_step_fraction"] > 0 and out["euclidean_beta0"]["diverged_runs"] > 0


def test_r1_tau_sweep_fails_when_broken():
    assert not C.r1_tau_sweep(CTX, error_term=0.0, steps=SHORT).passed
    assert not C.r1_tau_sweep(CTX, step_tau_scale=0.5, steps=SHORT).passed


def test_r1_tau_sweep_rejects_taus_outside_the_condition():
    with pytest.raises(ValueError, match="taus must satisfy τδ ≤ μ/L"):
        C.r1_tau_sweep(CTX, taus=(1.0, 30.0))


# ---- R2, R3 --------------------------------------------------------------------------------
@pytest.mark.parametrize("problem,tau", [("quadratic", 18.0), ("logistic", None)])
def test_r2_deterministic(problem, tau):
    res = C.r2_deterministic(CTX, problem=problem)
    assert res.passed and 0.5 < res.measured <= 1.0  # a tight bound: LHS is within 2x of it
    tau = res.details["tau"]
    # the step at temperature 1 instead of τ (temperature dropped), or half of it
    assert not C.r2_deterministic(CTX, problem=problem, step_tau_scale=1 / tau, steps=SHORT).passed
    assert not C.r2_deterministic(CTX, problem=problem, step_tau_scale=0.5).passed
    # the bound without its factor τ
    assert not C.r2_deterministic(CTX, problem=problem, bound_factor=1 / tau, steps=SHORT).passed


def test_r2_stochastic():
    res = C.r2_stochastic(CTX)
    assert res.passed and res.details["sigma2"] == pytest.approx(0.5)
    assert not C.r2_stochastic(CTX, noise_term=0.0, steps=SHORT).passed  # the noise floor dropped
    assert not C.r2_stochastic(CTX, bias=1.0, steps=SHORT).passed  # a biased oracle


def test_r3_momentum():
    res = C.r3_momentum(CTX)
    d = res.details
    assert res.passed and d["R"] == pytest.approx(math.sqrt(50)) and d["observed_sup_d"] <= d["R"]
    assert not C.r3_momentum(CTX, error_terms=0.0, steps=SHORT).passed  # the momentum-error terms dropped


# ---- τ-limits of whole trajectories --------------------------------------------------------
def test_fixed_temperature_softsignum_applies_a_constant_tau():
    h = torch.logspace(-3, 0, 5, dtype=torch.float64)
    p = torch.nn.Parameter(torch.ones(5, dtype=torch.float64))
    opt = C.fixed_temperature_softsignum(p, 0.7, 6, lr=0.1, momentum=0.5, momentum_form="ema")
    x, m = torch.ones(5, dtype=torch.float64), None
    for _ in range(6):
        p.grad = h * p.detach()
        opt.step()
        g = h * x
        m = g if m is None else 0.5 * m + 0.5 * g
        x = x - 0.1 * torch.tanh(0.7 * m)
    torch.testing.assert_close(p.detach(), x, rtol=1e-14, atol=1e-15)  # the EMA helper lerps: round-off only
    assert bool((opt.param_groups[0]["schedule"] == 0.7).all())


@pytest.mark.parametrize("limit", ["infinity", "zero"])
def test_trajectory_limits(limit):
    res = C.trajectory_limit(CTX, limit=limit)
    assert res.passed, res.details
    devs = [v["max_deviation"] for v in res.details["deviation_by_tau"].values()]
    assert devs == sorted(devs, reverse=True) and devs[-1] < 1e-5  # the deviation vanishes along the ladder
    if limit == "zero":
        assert res.details["observed_order"] == pytest.approx(2.0, abs=0.1)


def test_trajectory_limits_fail_when_broken():
    # the optimizer run at half the temperature the remainder bound assumes
    assert not C.trajectory_limit(CTX, "infinity", temperature_scale=0.5).passed
    assert not C.trajectory_limit(CTX, "zero", temperature_scale=2.0).passed
    # the wrong limit: Signum / SGD with a different step than lr / lr·τ
    assert not C.trajectory_limit(CTX, "infinity", reference_lr_scale=1.01).passed
    assert not C.trajectory_limit(CTX, "zero", reference_lr_scale=2.0).passed


# ---- heterogeneity -------------------------------------------------------------------------
def test_heterogeneity_claim():
    res = C.heterogeneity(CTX)
    d = res.details
    assert res.passed and res.measured > 0
    assert d["gap_at_switch"] == 0.0  # SoftSignum's sign phase is Signum, same noise: identical
    assert d["soft_decrease_ratio"] < 0.7  # SoftSignum keeps decreasing after the switch
    assert 0.7 < d["signum_plateau_ratio"] < 1.4  # Signum does not
    # the derived floor d·lr·σ_m·κ_β·√(π/2)/4 and its proportionality to lr
    assert 0.7 < d["signum_floor_ratio"] < 1.4 and 1.5 < d["floor_lr_scaling"] < 3.0
    assert d["schedule_tau"]["first"] == 20.0 and d["schedule_tau"]["last"] < 20.0


def test_heterogeneity_fails_with_signum_in_place_of_softsignum():
    res = C.heterogeneity(CTX, soft="Signum", steps=400)
    assert not res.passed and res.measured == 0.0


def test_signum_floor_formula():
    # β = 0: κ = 1, σ_m = s, floor = d·lr·s·√(π/2)/4
    assert C.signum_floor(10, 0.1, 0.2, 0.0) == pytest.approx(10 * 0.1 * 0.2 * math.sqrt(math.pi / 2) / 4)
    assert C.signum_floor(50, 0.02, 0.1, 0.9) == pytest.approx(2 * C.signum_floor(50, 0.01, 0.1, 0.9))


def test_registered_names():
    names = {n for n in REGISTRY if n.startswith("softsign.") and "tau_limits" not in n}
    assert {"softsign.r1_one_step[tanh]", "softsign.r1_one_step[algebraic]", "softsign.r1_one_step[euclidean]",
            "softsign.r1_one_step[tau_sweep]", "softsign.r2_deterministic[quadratic]",
            "softsign.r2_deterministic[logistic]", "softsign.r2_stochastic", "softsign.r3_momentum",
            "softsign.trajectory_limit[tau_to_infinity]", "softsign.trajectory_limit[tau_to_zero]",
            "softsign.heterogeneity"} <= names
    assert all(REGISTRY[n].provenance == "DER" for n in names)
    assert Signum and SoftSignum  # the real registry classes are what the checks drive
