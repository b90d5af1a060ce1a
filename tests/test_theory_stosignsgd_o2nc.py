"""The O2NC checks pass on Alg. 12 and fail on broken variants (biased oracle, no projection
of the learner onto its box, gradient ascent)."""

import pytest

from convexlab.theory import CheckContext
from convexlab.theory import stosignsgd_o2nc as C
from convexlab.theory.registry import REGISTRY

CTX = CheckContext()


def test_checks_are_registered():
    for name in ("stosignsgd.o2nc_inequality10", "stosignsgd.o2nc_guarantee", "stosignsgd.o2nc_spread",
                 "stosignsgd.o2nc_relu_witness"):
        assert name in REGISTRY


def test_paper_run_passes_every_check():
    r10 = C.inequality10(CTX)
    assert r10.passed and 0 < r10.details["slack_ratio"] < 1
    g = C.guarantee(CTX)
    assert g.passed and g.expected == C.o2nc_setting(CTX)[1].eps
    assert 0 <= g.details["goldstein_expected_over_x_hat"] <= g.details["eps"]
    assert C.spread(CTX).passed


def test_biased_oracle_fails_inequality10_and_the_guarantee():
    assert not C.inequality10(CTX, "biased_oracle").passed
    assert not C.guarantee(CTX, "biased_oracle").passed


def test_no_projection_fails_the_spread_bound_and_the_guarantee():
    assert not C.spread(CTX, "no_projection").passed
    assert not C.guarantee(CTX, "no_projection").passed


def test_relu_witness_passes_and_fails_for_gradient_ascent():
    assert C.relu_witness(CTX).passed
    assert not C.relu_witness(CTX, "ascent").passed


def test_unknown_variant_raises():
    with pytest.raises(ValueError, match="variant must be one of"):
        C.run_sumabssin(CTX, "small_steps")
    with pytest.raises(ValueError, match="variant must be one of"):
        C.relu_witness(CTX, "descent")
