"""The folded-Cauchy temperature schedule reproduces the Softsign [SS-SCHED] test vectors."""

import math

import pytest
import torch

from convexlab.optim.temperature import folded_cauchy_quantiles, saturation_point, temperature_schedule

DT = torch.float64


def sample(mu, sigma):
    # median mu, unscaled MAD sigma
    return torch.tensor([mu - 2 * sigma, mu - sigma, mu, mu + sigma, mu + 2 * sigma], dtype=DT)


def test_saturation_points():
    assert saturation_point(1e-4, "tanh") == pytest.approx(4.951718775643, rel=1e-12)
    assert saturation_point(1e-4, "algebraic") == pytest.approx(70.70537470732, rel=1e-11)


def test_quantiles_match_spec_vector():
    q = folded_cauchy_quantiles(sample(0.0, 1e-3), 1000)
    assert q[0].item() == 0.0
    assert q[1].item() == pytest.approx(1.57081e-6, rel=1e-5)
    assert q[500].item() == pytest.approx(1.00001e-3, rel=1e-5)
    assert q[999].item() == pytest.approx(0.636626, rel=1e-5)
    # Newton converges to the exact folded-Cauchy quantile σ·tan(πp/2) when μ = 0
    assert q[500].item() == pytest.approx(1e-3 * math.tan(math.pi / 4), rel=2e-5)


def test_tanh_schedule_matches_spec_vector():
    tau = temperature_schedule(sample(0.0, 1e-3), 1000, tmax=20.0)
    assert (tau[:998] == 20.0).all()
    assert tau[998].item() == pytest.approx(15.556, rel=1e-4)
    assert tau[999].item() == pytest.approx(7.778, rel=1e-4)


def test_algebraic_schedule_matches_spec_vector():
    tau = temperature_schedule(sample(0.0, 1e-3), 1000, tmax=1e9, kind="algebraic")
    assert tau[0].item() == 1e9
    assert tau[1].item() == pytest.approx(4.5012e7, rel=1e-4)
    assert tau[500].item() == pytest.approx(7.0705e4, rel=1e-4)
    assert tau[999].item() == pytest.approx(111.06, rel=1e-4)


def test_shifted_sample_matches_spec_vector():
    z = sample(0.02, 0.01)
    q = folded_cauchy_quantiles(z, 1000)
    assert q[500].item() == pytest.approx(math.sqrt(5) * 0.01, rel=1e-5)
    tau = temperature_schedule(z, 1000, tmax=20.0)
    assert tau[998].item() == pytest.approx(1.5556, rel=1e-4)
    assert tau[999].item() == 1.0


def test_float32_uses_the_float32_saturation_constant():
    tau32 = temperature_schedule(sample(0.0, 1e-3).float(), 1000, tmax=1e9, dtype=torch.float32)
    q32 = folded_cauchy_quantiles(sample(0.0, 1e-3).float(), 1000, dtype=torch.float32)
    assert (tau32[500] * q32[500]).item() == pytest.approx(4.9516358, rel=2e-7)


def test_zero_scale_warns_and_guard_restores_a_gradual_schedule():
    z = torch.tensor([0.0] * 7 + [1e-3, -2e-3, 3e-3], dtype=DT)
    with pytest.warns(RuntimeWarning, match="median absolute deviation"):
        flat = temperature_schedule(z, 100, tmax=1e9)
    assert (flat == 1e9).all()  # q_j = |μ̂| = 0 for every j: no transition at all
    with pytest.warns(RuntimeWarning, match="guarding"):
        guarded = temperature_schedule(z, 100, tmax=1e9, guard_zero_scale=True)
    assert (guarded[2:] < guarded[1:-1]).all() and guarded[-1] < 1e3


@pytest.mark.parametrize("kwargs,msg", [
    (dict(length=0), "length must be an integer >= 1"),
    (dict(length=10, eps=0.0), "eps must be a finite number > 0"),
    (dict(length=10, eps=1.0), r"eps must be in \(0, 1\)"),
    (dict(length=10, tmax=0.5), "tmax must be >= 1"),
    (dict(length=10, kind="cubic"), "kind must be one of"),
    (dict(length=10, newton_iters=-1), "newton_iters must be an integer >= 0"),
])
def test_bad_arguments(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        temperature_schedule(sample(0.0, 1.0), **kwargs)


def test_nonfinite_sample_is_rejected():
    with pytest.raises(ValueError, match="non-finite"):
        temperature_schedule(torch.tensor([1.0, float("nan")]), 10)
