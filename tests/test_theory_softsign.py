"""Softsign's reconstructed one-step inequality R1 holds, and fails when its ingredients are wrong."""

import pytest

from convexlab.geometry import SoftSign
from convexlab.theory import CheckContext
from convexlab.theory import softsign as C

CTX = CheckContext()


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
