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
