"""SF-NorMuon checks on the optimizer itself: each passes with the registry SFNorMuon, fails on the
panel members it declares (decay at the wrong iterate, the step constant × k, the frozen
optimizer, …), and declares every applicable member; the outside view of z and α equals the
optimizer's own state."""

import math

import pytest
import torch

from convexlab.optim import SFNorMuon
from convexlab.theory import CheckContext, mutants, run_check
from convexlab.theory import sf_normuon as C
from convexlab.theory.registry import REGISTRY

NAMES = ("sf_normuon.decay_at_z_steady_state", "sf_normuon.decay_at_x_random_walk", "sf_normuon.lemma32_steady_rms",
         "sf_normuon.lemma32_smoothed_alpha", "sf_normuon.hypothesis31_quasi_steady",
         "sf_normuon.spectral_ball_decay_at_z")
CAUGHT = [(n, m) for n in NAMES for m in REGISTRY[n].catches]


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# -- formulas ---------------------------------------------------------------------------------
def test_prediction_formula():
    assert math.isclose(C.predicted_rms(0.01, 0.1), 0.2 * 0.01 / math.sqrt(2e-3 - 1e-6))
    assert math.isclose(C.predicted_rms(), 0.0447, rel_tol=1e-3)  # SF-NorMuon [SFN-FIG2]


def test_lemma_formula_and_exact_root():
    eta, lam = 0.008, 0.05
    assert math.isclose(float(C.lemma_rho(0.0, eta, lam)), 0.1 * math.sqrt(2 * eta / lam))  # SF-NorMuon [SFN-L32]: 0.057
    for a in (-0.3, 0.0, 0.2):
        r = float(C.lemma_rho(a, eta, lam, exact=True))
        q = 2 * eta * lam - (eta * lam) ** 2
        assert abs(q * r * r + 0.4 * eta * (1 - eta * lam) * a * r - 0.04 * eta**2) < 1e-15
        assert math.isclose(r, float(C.lemma_rho(a, eta, lam)), rel_tol=5 * eta * lam)


def test_fw_gap_is_nonnegative_on_the_ball():
    prob = C.factorization_problem()
    R = C.ball_radius(prob.shape, C.B_LAM)
    W = torch.randn(50, *prob.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    W = W * (R / torch.linalg.svdvals(W)[:, :1])[:, :, None] * torch.rand(50, 1, 1, dtype=torch.float64)
    assert bool((C.fw_gap(prob, W, R) >= -1e-12).all())


# -- the subject and the outside view ----------------------------------------------------------
def test_default_subject_is_the_registry_optimizer_with_the_instance_constants():
    w = torch.nn.Parameter(torch.zeros(4, 3, dtype=torch.float64))
    problem = C.lemma_instance(seed=3)
    opt = C.sf_normuon_alg1([w], problem)
    g = opt.param_groups[0]
    assert type(opt) is SFNorMuon
    assert (g["lr"], g["weight_decay"], g["weight_decay_at"], g["sf_beta"], g["momentum"], g["warmup_steps"]) == (
        C.P_ETA, C.P_LAM, "z", 0.9, 0.8, C.P_WARM)
    assert problem.betas == (0.9, 0.8)
    assert C.decay_wrong_iterate([w], problem).param_groups[0]["weight_decay_at"] == "x"
    assert C.decay_wrong_iterate([w], C.noise_instance("x", 0.8, 0)).param_groups[0]["weight_decay_at"] == "z"
    assert C.no_momentum([w], problem).param_groups[0]["momentum"] == 0.0
    assert C.step_scaled(5)([w], problem).param_groups[0]["lr"] == 5 * C.P_ETA


def test_outside_view_equals_the_optimizer_state():
    """z read as (y − βx)/(1 − β) and α as cos(z_t, (1 − η_tλ)z_t − z_{t+1}) (warmup included)
    equal SFNorMuon's own z and diagnostics α_t, ρ_t."""
    made = []

    def recording(params, problem):
        made.append(C.sf_normuon_alg1(params, problem))
        return made[-1]

    for steps in (7, 30):  # inside and after the warmup T_w = 20
        made.clear()
        alpha, rho = C.trace_lemma_layer(CheckContext(subject=recording), steps)
        opt = made[0]
        (p,) = opt.param_groups[0]["params"]
        st = opt.state[p]
        assert torch.allclose(C.fast_iterate(opt, p, 0.9), st["z"], rtol=0, atol=1e-13)
        assert math.isclose(float(alpha[-1, 0]), float(st["alpha"]), rel_tol=1e-8)
        assert math.isclose(float(rho[-1, 0]), float(st["rho"]), rel_tol=1e-10)


def test_a_subject_that_is_not_an_optimizer_is_refused():
    out = run_check("sf_normuon.lemma32_steady_rms", subject=lambda params, problem: object())
    assert not out.passed and out.error.startswith("ValueError") and "torch.optim.Optimizer" in out.error
    out = run_check("sf_normuon.decay_at_z_steady_state",
                    subject=lambda params, problem: torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1))
    assert not out.passed and out.error.startswith("ValueError") and "parameters it was given" in out.error


def test_run_layers_keeps_the_notebook_interface():
    alpha, rho = C.run_layers(CheckContext(), 5)
    assert alpha.shape == rho.shape == (5, C.L_LAYERS)


# -- the panel ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_every_applicable_member_is_declared(name):
    c = REGISTRY[name]
    assert c.subject == "sf_normuon" and c.default_subject is C.sf_normuon_alg1 and c.provenance == "DER"
    assert set(mutants.applicable(c)) == set(c.catches) | set(c.blind)
    assert "frozen" in c.catches or "frozen" in c.blind
    for member, reason in c.blind.items():
        assert any(ch.isdigit() for ch in reason), (member, reason)  # a reason with numbers


@pytest.mark.parametrize("name", NAMES)
def test_default_passes(name):
    out = run_check(name)
    assert out.passed, (out.measured, out.expected, out.details, out.error)


@pytest.mark.parametrize("name,member", CAUGHT)
def test_declared_members_are_caught(name, member):
    out = run_check(name, subject=mutants.applicable(REGISTRY[name])[member])
    assert out.error is None and not out.passed, (member, out.measured, out.expected)


def test_the_decay_placement_and_step_sensitive_checks_catch_what_the_issue_asks():
    for name in NAMES:
        c = REGISTRY[name]
        assert "frozen" in c.catches or name == "sf_normuon.hypothesis31_quasi_steady"
        if c.step_sensitive:
            assert "step_x5" in c.catches
    for name in ("sf_normuon.decay_at_z_steady_state", "sf_normuon.decay_at_x_random_walk",
                 "sf_normuon.lemma32_steady_rms", "sf_normuon.hypothesis31_quasi_steady",
                 "sf_normuon.spectral_ball_decay_at_z"):
        assert "decay_wrong_iterate" in REGISTRY[name].catches


def test_the_smoothed_form_exists_because_the_per_step_alpha_fails_on_small_layers():
    out = run_check("sf_normuon.lemma32_smoothed_alpha")
    assert out.passed and out.details["per_step_raw_alpha_error"] > 4 * C.LEMMA_TOL
    assert "sf_normuon.fw_gap_rate" not in REGISTRY  # not observed at CPU scale; see fw_gap_rate
