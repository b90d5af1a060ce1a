"""SF-NorMuon decay-placement checks, and their failure when the decay sits at the other iterate."""

import math

from convexlab.theory import CheckContext
from convexlab.theory import sf_normuon as C

CTX = CheckContext()


def test_prediction_formula():
    assert math.isclose(C.predicted_rms(0.01, 0.1), 0.2 * 0.01 / math.sqrt(2e-3 - 1e-6))
    assert math.isclose(C.predicted_rms(), 0.0447, rel_tol=1e-3)  # spec §4.2


def test_steady_state_check_fails_with_decay_at_x():
    res = C.steady_state_at_z(CTX, decay_at="x")
    assert not res.passed and res.measured > 1.5


def test_growth_check_fails_with_decay_at_z():
    res = C.growth_exponent(CTX, decay_at="z")
    assert not res.passed and abs(res.measured) < 0.2


# -- Lemma 3.2, Hypothesis 3.1 and the spectral ball on the real SF-NorMuon -------------------
import torch  # noqa: E402

from convexlab.problems import HeavyTailed  # noqa: E402
from convexlab.theory.registry import REGISTRY  # noqa: E402


def test_lemma_formula_and_exact_root():
    eta, lam = 0.008, 0.05
    assert math.isclose(float(C.lemma_rho(0.0, eta, lam)), 0.1 * math.sqrt(2 * eta / lam))  # spec §4.4: 0.057
    for a in (-0.3, 0.0, 0.2):
        r = float(C.lemma_rho(a, eta, lam, exact=True))
        q = 2 * eta * lam - (eta * lam) ** 2
        assert abs(q * r * r + 0.4 * eta * (1 - eta * lam) * a * r - 0.04 * eta**2) < 1e-15
        assert math.isclose(r, float(C.lemma_rho(a, eta, lam)), rel_tol=5 * eta * lam)


def test_lemma32_holds_on_the_real_optimizer():
    res = C.lemma32_error(CTX)
    assert res.passed and res.details["exact_root_error"] < C.LEMMA_TOL


def test_lemma32_fails_with_decay_at_y():
    assert not C.lemma32_error(CTX, decay_at="y").passed


def test_lemma32_fails_with_a_wrong_rms_factor():
    assert not C.lemma32_error(CTX, step_factor=1.5).passed  # s = 0.3 instead of 0.2


def test_hypothesis31_holds_under_heavy_tails_and_fails_without_normalization():
    noise = HeavyTailed(5.0, 2.5)
    assert C.hypothesis31_ratio(CTX, noise=noise).passed
    res = C.hypothesis31_ratio(CTX, noise=noise, raw=True)  # schedule-free momentum SGD: step ∝ gradient
    assert not res.passed and res.details["slack_ratio"] > 1.5


def test_ball_invariant_fails_with_decay_at_x():
    res = C.ball_invariant(CTX, decay_at="x")
    assert not res.passed and res.measured > 0.1


def test_fw_gap_is_nonnegative_on_the_ball():
    prob = C.factorization_problem()
    R = C.ball_radius(prob.shape, C.B_LAM)
    W = torch.randn(50, *prob.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    W = W * (R / torch.linalg.svdvals(W)[:, :1])[:, :, None] * torch.rand(50, 1, 1, dtype=torch.float64)
    assert bool((C.fw_gap(prob, W, R) >= -1e-12).all())


def test_new_checks_are_registered_as_reconstructed():
    for name in ("sf_normuon.lemma32_steady_rms", "sf_normuon.hypothesis31_quasi_steady",
                 "sf_normuon.spectral_ball_decay_at_z"):
        assert REGISTRY[name].provenance == "DER"
    assert "sf_normuon.fw_gap_rate" not in REGISTRY  # not observed at CPU scale; see fw_gap_rate
