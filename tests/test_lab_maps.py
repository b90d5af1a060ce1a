"""Tests of convexlab.lab.maps: each helper against an independent value, plus a broken variant
that the notebook's criterion must reject."""

import math

import numpy as np
import pytest
import torch

from convexlab.lab.maps import (
    cauchy_fit_gap,
    coupled_ns_scalar_map,
    dkw_epsilon,
    fenchel_young_residuals,
    folded_cauchy_cdf,
    saturated_fraction,
    sign_conversion_steps,
    spectral_error_vs_condition,
    stochastic_sign_moments,
    tau_limit_errors,
)
from convexlab.geometry import Euclidean, Sign, SoftSign, Spectral
from convexlab.linalg import newton_schulz, soft_polar
from convexlab.optim.temperature import temperature_schedule

DT = torch.float64


def test_tau_limit_errors_shrink_in_the_right_direction():
    m = torch.tensor([[0.3, -1.2, 2.0], [-0.5, 0.7, 0.1]], dtype=DT)
    taus = [1e-3, 1.0, 1e3]
    e = tau_limit_errors(lambda t: SoftSign(t, "tanh"), taus, m)
    assert e["sign"][2] < 1e-30 < e["sign"][0]  # tanh(1000·0.1) = 1 to double precision
    assert e["sgd"][0] < 1e-5 < e["sgd"][2]
    assert e["l1"][2] <= 3 * math.log(2) / 1e3 + 1e-12
    # exact values at τ = 1: |tanh(0.1) − 1| is the largest sign error
    assert e["sign"][1] == pytest.approx(1 - math.tanh(0.1), rel=1e-12)
    # a τ-independent geometry (Sign) does not converge to SGD: the "sgd" error grows as τ → 0
    bad = tau_limit_errors(lambda t: Sign(), taus, m)
    assert bad["sgd"][0] > 100


def test_tau_limit_errors_spectral_uses_polar_and_nuclear():
    M = torch.randn(2, 4, 3, generator=torch.Generator().manual_seed(0), dtype=DT)
    e = tau_limit_errors(lambda t: Spectral(SoftSign(t, "algebraic")), [1e6], M)
    assert e["sign"][0] < 1e-6 and e["l1"][0] < 3 / 1e6 + 1e-9


def test_fenchel_young_residuals_zero_and_broken():
    m = torch.randn(50, 6, generator=torch.Generator().manual_seed(1), dtype=DT) * 3
    for geo in (SoftSign(2.0, "tanh"), SoftSign(2.0, "algebraic"), Euclidean(), Sign()):
        assert fenchel_young_residuals(geo, m).max().item() < 1e-12
    M = torch.randn(5, 4, 3, generator=torch.Generator().manual_seed(2), dtype=DT)
    assert fenchel_young_residuals(Spectral(SoftSign(2.0, "algebraic")), M).max().item() < 1e-12

    class WrongConjugate(SoftSign):  # ψ* of the algebraic map paired with the tanh direction
        def elem_conjugate(self, x):
            return SoftSign(self.tau, "algebraic").elem_conjugate(x)

    assert fenchel_young_residuals(WrongConjugate(2.0, "tanh"), m).max().item() > 1e-3


def test_spectral_error_vs_condition_exact_and_regns():
    gen = torch.Generator().manual_seed(3)
    exact = spectral_error_vs_condition(lambda X: soft_polar(X, 30.0, "svd"),
                                        lambda s: s * 30 / torch.sqrt(1 + 900 * s * s), [1, 100], 16, 24, 16, gen)
    assert exact["abs"].max() < 1e-12
    code = spectral_error_vs_condition(lambda X: soft_polar(X, 30.0, "ns5_official", dtype=DT),
                                       lambda s: s * 30 / torch.sqrt(1 + 900 * s * s), [1, 1e3], 16, 24, 16, gen)
    assert code["rel"][1] > 0.1 > code["rel"][0]  # RegNS is coarse only for ill-conditioned inputs
    ns = spectral_error_vs_condition(lambda X: newton_schulz(X, dtype=DT), None, [1.0], 8, 8, 8, gen)
    assert ns["abs"][0] < 0.35  # a well-conditioned spectrum lands in the quintic's band
    with pytest.raises(ValueError, match="kappa"):
        spectral_error_vs_condition(lambda X: X, None, [0.5], 4, 4, 4)


def test_coupled_ns_scalar_map_matches_spec_44():
    lam = np.array([0.1, 0.03, 0.01, 1e-3])
    rel = np.abs(coupled_ns_scalar_map(lam) - lam**-0.5) * lam**0.5
    # Softsign [SS-REGNS]: 0.26 %, 10 %, 34 %, 76 % (printed to 2 digits)
    assert np.allclose(rel, [0.0026, 0.10, 0.34, 0.76], atol=[5e-5, 5e-3, 5e-3, 5e-3])
    assert coupled_ns_scalar_map([1e-12])[0] == pytest.approx(1.5**5, rel=1e-6)  # the cap
    assert coupled_ns_scalar_map([0.25], steps=30)[0] == pytest.approx(2.0, rel=1e-12)
    with pytest.raises(ValueError, match="lam"):
        coupled_ns_scalar_map([0.0])


def test_stochastic_sign_moments():
    r = torch.tensor([-1.5, -0.5, 0.0, 0.8, 1.2], dtype=DT)
    G = torch.tensor([1.0, 2.0, 0.5, 1.0, 3.0], dtype=DT)
    mo = stochastic_sign_moments(r, G, 40_000, torch.Generator().manual_seed(4))
    z = (mo["mean"] - r.clamp(-1, 1)).abs() / torch.sqrt((1 - r.clamp(-1, 1) ** 2) / 40_000).clamp_min(1e-300)
    assert z[1:4].max() < 4.5 and mo["mean"][0] == -1 and mo["mean"][4] == 1
    target = 1 - r.clamp(-1, 1) ** 2
    assert bool(((mo["var_lo"] <= target + 1e-12) & (target <= mo["var_hi"] + 1e-12)).all())
    assert torch.equal(mo["second_moment"], torch.ones_like(r))  # every draw is ±1
    assert torch.allclose(mo["var"], 1 - mo["mean"] ** 2)
    assert mo["var_hi"][2] == 1.0  # the interval of the mean contains 0 at r = 0
    # broken variant: a biased sign (noise scale 0.5) puts 1 − r² outside the intervals
    from convexlab.geometry import StochasticSign

    s = StochasticSign(G, noise_scale=0.5).sample((r * G).expand(40_000, 5).contiguous(),
                                                  generator=torch.Generator().manual_seed(7))
    assert (s.mean(0) - r.clamp(-1, 1)).abs()[1:4].max() > 0.1
    with pytest.raises(ValueError, match="n"):
        stochastic_sign_moments(r, G, 1)


def test_sign_conversion_steps_unbiased_where_sigma_covers():
    gen = torch.Generator().manual_seed(5)
    grads = [0.3 * torch.randn(16, generator=gen, dtype=DT) for _ in range(299)]
    grads.append(torch.logspace(-1, 1.5, 16, dtype=DT))
    out = sign_conversion_steps("adamw", grads, 3000, betas=(0.9, 0.999), seed=1)
    inside = ~out["violates"]
    r = out["original"].clamp(-1, 1)
    se = torch.sqrt((1 - r**2) / 3000)
    z = ((out["converted_mean"] - out["original"]).abs() / se.clamp_min(1e-300))[inside]
    assert inside.any() and out["violates"].any()
    assert z.max() < 4.5
    # where |num/σ| > 1 the conversion is saturated: every draw is sign(num), a biased step
    assert torch.equal(out["converted_mean"][~inside], out["original"][~inside].sign())
    assert out["violation_fraction"] == pytest.approx(out["violates"].double().mean().item())
    # broken variant: the deterministic sign is not the original step
    from convexlab.optim import GeneralOptimizer

    p = torch.nn.Parameter(torch.zeros(1, 16, dtype=DT))
    opt = GeneralOptimizer([p], lr=1.0, betas=(0.9, 0.999), base="adamw", mode="deterministic_sign")
    for g in grads:
        before = p.detach().clone()
        p.grad = g.reshape(1, 16).clone()
        opt.step()
    det = (before - p.detach())[0]
    assert ((det - out["original"]).abs() / se.clamp_min(1e-300))[inside].max() > 10
    # IE-StoSignSGD: |m| ≤ G by construction, so no coordinate violates (m/G = 1 up to round-off included)
    ie = sign_conversion_steps("ie_stosignsgd", grads, 100, betas=(0.9, 1.0))
    assert not ie["violates"].any() and ie["original"].abs().max() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="rows"):
        sign_conversion_steps("adamw", grads, 1)


def test_saturated_fraction_and_linear_schedule_criterion():
    gen = torch.Generator().manual_seed(6)
    n, T = 50_000, 500
    z = torch.tan(math.pi * (torch.rand(n, generator=gen, dtype=DT) - 0.5)) * 1e-3  # Cauchy(0, 1e-3)
    target = 1 - np.arange(T) / T
    allowance = cauchy_fit_gap(z, 0.0, 1e-3) + dkw_epsilon(n, 1e-3)
    tau = temperature_schedule(z, T, tmax=1e9)
    assert np.abs(saturated_fraction(z, tau) - target).max() <= allowance
    # broken variants: the code's tmax = 20 clamp ([SS-DIFF] D1), and a schedule twice too hot
    assert np.abs(saturated_fraction(z, temperature_schedule(z, T, tmax=20.0)) - target).max() > 0.5
    assert np.abs(saturated_fraction(z, 2 * tau) - target).max() > allowance
    # exact count on a tiny sample: threshold atanh(1 − 1e-4)/τ
    zz = torch.tensor([0.1, -1.0, 2.0, 10.0], dtype=DT)
    assert saturated_fraction(zz, torch.tensor([5.0, 1.0], dtype=DT)).tolist() == [0.75, 0.25]


def test_folded_cauchy_and_bounds():
    assert folded_cauchy_cdf(1.0, 0.0, 1.0) == pytest.approx(0.5)
    assert folded_cauchy_cdf(math.sqrt(5) * 0.01, 0.02, 0.01) == pytest.approx(0.5, abs=1e-12)  # Softsign [SS-SCHED]
    assert dkw_epsilon(1000, 0.05) == pytest.approx(math.sqrt(math.log(40) / 2000))
    z = torch.tensor([-2e-3, -1e-3, 0.0, 1e-3, 2e-3], dtype=DT)  # μ̂ = 0, σ̂ = 1e-3 exactly
    assert cauchy_fit_gap(z, 0.0, 1e-3) < 1e-3
    assert cauchy_fit_gap(z, 0.0, 2e-3) == pytest.approx(0.21635, abs=1e-3)  # max of 2/π(atan x − atan(x/2)) at x = √2
    with pytest.raises(ValueError, match="alpha"):
        dkw_epsilon(10, 1.5)
    with pytest.raises(ValueError, match="deviation"):
        cauchy_fit_gap(torch.zeros(5, dtype=DT), 0.0, 1.0)
