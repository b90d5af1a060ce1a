r"""Small computations behind the notebook figures (geometry, Newton–Schulz, stochastic sign, schedule).

Each function turns package objects into the arrays a notebook plots or asserts on; none implements
an optimizer or a map of its own — they call :mod:`convexlab.geometry`, :mod:`convexlab.linalg`,
:mod:`convexlab.optim` and measure.

=====================================  ===============================================================
function                               used by
=====================================  ===============================================================
:func:`tau_limit_errors`               01_geometry_relaxation (Softsign [SS-LIMITS] limits in τ)
:func:`fenchel_young_residuals`        01_geometry_relaxation (Softsign [SS-FW] Fenchel–Young equality)
:func:`spectral_error_vs_condition`    02_polar_newton_schulz (Softsign [SS-REGNS], RegNS vs Φ_τ)
:func:`coupled_ns_scalar_map`          02_polar_newton_schulz (Softsign [SS-REGNS] scalar view)
:func:`stochastic_sign_moments`        03_stochastic_sign (StoSignSGD Prop. 1)
:func:`sign_conversion_steps`          03_stochastic_sign (StoSignSGD App. B.3–B.5)
:func:`saturated_fraction`             07_softsign_temperature (Softsign [SS-SCHED], step 5)
:func:`folded_cauchy_cdf`,             07_softsign_temperature (sampling allowance of the linear
:func:`cauchy_fit_gap`,                saturated-fraction target)
:func:`dkw_epsilon`
=====================================  ===============================================================
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from convexlab import _validation as V

DT = torch.float64


# ------------------------------------------------------------------------------------------
# 01: geometry family
# ------------------------------------------------------------------------------------------
def tau_limit_errors(make: Callable, taus, m: torch.Tensor) -> dict[str, np.ndarray]:
    r"""Distances of a temperature family ψ_τ from its two limits (Softsign [SS-LIMITS] [DER]), per τ.

    For ``geo = make(τ)`` and the dual points ``m`` (vectors in the last dimension, or matrices in
    the last two for a spectral ``geo``), with S(m) = sign(m) (the polar factor U Vᵀ for matrices)
    and ‖m‖₁ (the nuclear norm for matrices):

    * ``"sign"``:      max |∇ψ_τ*(m) − S(m)|          → 0 as τ → ∞ (sign / Muon limit);
    * ``"sgd"``:       max |∇ψ_τ*(m)/τ − m|            → 0 as τ → 0 (SGD with step lr·τ);
    * ``"l1"``:        max |‖m‖₁ − ψ_τ*(m)|            → 0 as τ → ∞ (sign stationarity measure);
    * ``"quadratic"``: max |½‖m‖₂² − ψ_τ*(m)/τ|        → 0 as τ → 0.

    Maxima run over all entries (resp. all points). Returns float arrays of ``len(taus)``.

    Raises:
        ValueError: if a τ is not finite and > 0 (from the geometry) or ``m`` is not a tensor.
    """
    from convexlab.linalg import polar_svd

    m = V.tensor("m", m, min_ndim=1)
    out = {k: [] for k in ("sign", "sgd", "l1", "quadratic")}
    for tau in taus:
        geo = make(float(tau))
        if geo.event_ndim == 2:
            target, l1 = polar_svd(m), torch.linalg.svdvals(m).sum(-1)
            half_sq = 0.5 * (m * m).sum((-2, -1))
        else:
            target, l1, half_sq = m.sign(), m.abs().sum(-1), 0.5 * (m * m).sum(-1)
        d, conj = geo.direction(m), geo.conjugate(m)
        out["sign"].append((d - target).abs().max().item())
        out["sgd"].append((d / tau - m).abs().max().item())
        out["l1"].append((l1 - conj).abs().max().item())
        out["quadratic"].append((half_sq - conj / tau).abs().max().item())
    return {k: np.asarray(v) for k, v in out.items()}


def fenchel_young_residuals(geo, m: torch.Tensor) -> torch.Tensor:
    r"""Relative Fenchel–Young residual |ψ(∇ψ*(m)) + ψ*(m) − ⟨m, ∇ψ*(m)⟩| / (1 + |⟨m, ∇ψ*(m)⟩|) per point
    (Softsign [SS-FW] [THR]: the equality holds exactly at the maximiser, so the residual is round-off)."""
    m = V.tensor("m", m, min_ndim=geo.event_ndim)
    d = geo.direction(m)
    inner = (m * d).sum(dim=tuple(range(-geo.event_ndim, 0)))
    return (geo.regularizer(d) + geo.conjugate(m) - inner).abs() / (1 + inner.abs())


# ------------------------------------------------------------------------------------------
# 02: Newton–Schulz
# ------------------------------------------------------------------------------------------
def spectral_error_vs_condition(fn: Callable, target: Callable | None, kappas, rows: int, cols: int, k: int,
                                generator: torch.Generator | None = None, dtype: torch.dtype = DT) -> dict[str, np.ndarray]:
    r"""Errors of a spectral map on matrices with k singular values ``logspace(0, −log10 κ, k)`` per κ.

    For each condition number κ a (rows, cols) matrix with that spectrum (Haar singular vectors,
    :func:`convexlab.linalg.matrix_with_spectrum`, cast to ``dtype``) is audited with
    :func:`convexlab.linalg.audit_spectral_map`: ``"abs"`` = max_i |h(σ_i) − target(σ_i)|,
    ``"rel"`` = max_i |h(σ_i) − target(σ_i)|/|target(σ_i)| (``target`` None: the polar factor, 1).

    Raises:
        ValueError: for κ < 1 or non-finite, or an invalid shape (from ``matrix_with_spectrum``).
    """
    from convexlab.linalg import audit_spectral_map, matrix_with_spectrum

    abs_err, rel_err = [], []
    for kappa in kappas:
        kappa = V.positive_finite("kappa", kappa)
        if kappa < 1:
            raise ValueError(f"kappa must be >= 1 (a condition number), got {kappa!r}")
        sigma = torch.logspace(0, -math.log10(kappa), k, dtype=DT)
        a = audit_spectral_map(fn, matrix_with_spectrum(sigma, rows, cols, generator=generator, dtype=dtype), target)
        err = (a.sigma_out - a.sigma_target).abs()
        abs_err.append(err.max().item())
        rel_err.append((err / a.sigma_target.abs()).max().item())
    return {"abs": np.asarray(abs_err), "rel": np.asarray(rel_err)}


def coupled_ns_scalar_map(lam, steps: int = 5) -> np.ndarray:
    r"""z(λ): what :func:`convexlab.linalg.coupled_inverse_sqrt` returns on an eigenvalue λ ∈ (0, 1] of the
    Frobenius-normalised matrix A/‖A‖_F (Softsign [SS-REGNS] scalar view), float64.

    Each λ is embedded as A = diag(λ, √(1 − λ²)), which has ‖A‖_F = 1, so the normalisation is the
    identity and the (1, 1) entry of the output is the iteration's value at λ; exact: λ^{−1/2}.

    Raises:
        ValueError: if some λ is outside (0, 1].
    """
    from convexlab.linalg import coupled_inverse_sqrt

    lam = torch.as_tensor(np.asarray(lam, dtype=np.float64)).reshape(-1)
    if bool(((lam <= 0) | (lam > 1) | torch.isnan(lam)).any()):
        raise ValueError(f"lam must lie in (0, 1], got values in [{lam.min().item()}, {lam.max().item()}]")
    A = torch.diag_embed(torch.stack([lam, (1 - lam * lam).clamp_min(0).sqrt()], dim=-1))
    return coupled_inverse_sqrt(A, steps=steps)[:, 0, 0].numpy()


# ------------------------------------------------------------------------------------------
# 03: stochastic sign
# ------------------------------------------------------------------------------------------
def stochastic_sign_moments(r: torch.Tensor, G: torch.Tensor, n: int, generator: torch.Generator | None = None,
                            z: float = 3.2905) -> dict[str, torch.Tensor]:
    r"""Monte Carlo mean and variance of S_G(x) = sign(x + G n), x = r·G, n draws per grid point.

    StoSignSGD Prop. 1 [S/R]: E S = clip(r, −1, 1), Var S = 1 − clip(r)². Returns ``mean``,
    ``mean_se`` (sample std/√n), ``var`` (1/n normalisation), ``second_moment`` (mean of S², which is 1
    exactly iff every draw is ±1) and the interval ``var_lo``, ``var_hi`` for the variance.

    Because every draw is ±1, Var S = 1 − (E S)²: the variance is a function of the mean, and its
    estimate 1 − mean² is *not* asymptotically normal at E S = 0 (there n·(1 − var) ~ χ²₁). So the
    interval is the exact image {1 − μ²: |μ − mean| ≤ z·mean_se} of the mean's z-interval (default
    z = 3.2905, a two-sided 99.9 % interval) rather than a delta-method one.

    Raises:
        ValueError: for n < 2, z ≤ 0, or shapes of r and G that differ.
    """
    from convexlab.geometry import StochasticSign

    n = V.integer("n", n)
    if n < 2:
        raise ValueError(f"n must be >= 2 (a variance needs two draws), got {n}")
    z = V.positive_finite("z", z)
    r, G = V.tensor("r", r).to(DT), V.tensor("G", G).to(DT)
    V.same_shape("r", r, "G", G)
    s = StochasticSign(G).sample((r * G).expand(n, *r.shape).contiguous(), generator=generator).to(DT)
    mean = s.mean(0)
    mean_se = s.std(0) / math.sqrt(n)
    lo, hi = mean - z * mean_se, mean + z * mean_se
    # 1 − μ² over [lo, hi]: largest at the point of the interval closest to 0, smallest at the farthest
    closest = torch.where((lo <= 0) & (hi >= 0), torch.zeros_like(mean), torch.minimum(lo.abs(), hi.abs()))
    farthest = torch.maximum(lo.abs(), hi.abs())
    return {"mean": mean, "mean_se": mean_se, "var": s.var(0, correction=0), "second_moment": (s * s).mean(0),
            "var_lo": 1 - farthest**2, "var_hi": 1 - closest**2}


def sign_conversion_steps(base: str, grads: list[torch.Tensor], rows: int, betas=(0.9, 0.99),
                          eps: float = 1e-8, seed: int = 0) -> dict[str, torch.Tensor]:
    r"""The last step of the sign conversion of ``base`` (``"adamw"``, ``"adamax"``, ``"ie_stosignsgd"``)
    against the original optimizer's step, after the gradient history ``grads``.

    The history is fed identically to ``rows`` independent copies of the converted optimizer
    (:class:`convexlab.optim.SignConverted`, one row each, lr = 1; the steps before the last run on
    one row whose state is then copied, which is exact because num and σ do not depend on the
    noise) and to one copy of the original
    (:class:`convexlab.optim.GeneralOptimizer`, ``mode="original"``), so num_t and σ_t agree and only
    the noise n_t differs between rows (StoSignSGD App. B.3–B.5 [P]; same protocol as
    ``convexlab.theory.stosignsgd.conversion_unbiased``). Returns per coordinate ``original`` (num/σ),
    ``converted_mean`` and ``converted_se`` (mean and standard error over rows of sign(num + σ⊙n)),
    ``violates`` (|num/σ| > 1 beyond round-off of the division, 8 ulps: the conversion is biased there)
    and ``violation_fraction`` (the optimizer's own count of |num| > σ).

    Raises:
        ValueError: for rows < 2, an empty or ragged history, or invalid optimizer arguments.
    """
    from convexlab.optim import GeneralOptimizer, SignConverted

    rows = V.integer("rows", rows)
    if rows < 2:
        raise ValueError(f"rows must be >= 2 (a standard error needs two rows), got {rows}")
    if not grads:
        raise ValueError("grads must be a non-empty list of 1-D tensors of one length")
    d = grads[0].numel()
    if any(g.ndim != 1 or g.numel() != d for g in grads):
        raise ValueError(f"grads must be 1-D tensors of one length, got shapes {[tuple(g.shape) for g in grads]}")
    # The history before the last step is the same in every row (num and σ do not depend on the
    # noise), so it runs on one row; its state is then copied to ``rows`` rows for the last step.
    one = torch.nn.Parameter(torch.zeros(1, d, dtype=DT))
    ref = torch.nn.Parameter(torch.zeros(1, d, dtype=DT))
    make = lambda p: SignConverted([p], base=base, mode="stochastic", lr=1.0, betas=betas, eps=eps, seed=seed)  # noqa: E731
    conv, orig = make(one), GeneralOptimizer([ref], lr=1.0, betas=betas, eps=eps, base=base, mode="original")
    for g in grads:
        ref_before = ref.detach().clone()
        ref.grad = g.to(DT).reshape(1, d).clone()
        orig.step()
    for g in grads[:-1]:
        one.grad = g.to(DT).reshape(1, d).clone()
        conv.step()
    x = torch.nn.Parameter(torch.zeros(rows, d, dtype=DT))
    sd = conv.state_dict()
    sd["state"] = {k: {n: (v.expand(rows, d).clone() if torch.is_tensor(v) else v) for n, v in st.items()}
                   for k, st in sd["state"].items()}
    conv = make(x)
    conv.load_state_dict(sd)
    before = x.detach().clone()
    x.grad = grads[-1].to(DT).expand(rows, d).clone()
    conv.step()
    step = before - x.detach()
    original = (ref_before - ref.detach())[0]
    return {"original": original, "converted_mean": step.mean(0), "converted_se": step.std(0) / math.sqrt(rows),
            "violates": original.abs() > 1 + 8 * torch.finfo(DT).eps, "violation_fraction": conv.param_groups[0].get("violation_fraction", 0.0)}


# ------------------------------------------------------------------------------------------
# 07: temperature schedule
# ------------------------------------------------------------------------------------------
def saturated_fraction(z: torch.Tensor, tau: torch.Tensor, eps: float = 1e-4, kind: str = "tanh") -> np.ndarray:
    r"""Fraction of the entries of ``z`` that are saturated at each temperature τ_j (Softsign [SS-SCHED], step 5):
    φ(τ_j|z|) ≥ 1 − ε ⇔ |z| ≥ φ⁻¹(1 − ε)/τ_j, φ = tanh or x/√(1 + x²). Returns an array of len(tau).

    Raises:
        ValueError: for an empty ``z``, or an unknown ``kind``.
    """
    from convexlab.optim.temperature import saturation_point

    z = V.tensor("z", z).reshape(-1).to(DT)
    tau = V.tensor("tau", tau).reshape(-1).to(DT)
    if z.numel() == 0:
        raise ValueError("z must contain at least one entry")
    a = torch.sort(z.abs()).values
    thresholds = saturation_point(eps, kind) / tau
    below = torch.searchsorted(a, thresholds, right=False)  # entries with |z| < threshold
    return (1.0 - below.to(DT) / a.numel()).numpy()


def folded_cauchy_cdf(q, mu: float, sigma: float) -> np.ndarray:
    r"""P(|Z| ≤ q) for Z ~ Cauchy(μ, σ): C((q − μ)/σ) − C((−q − μ)/σ), C(x) = ½ + arctan(x)/π (q ≥ 0).

    Raises:
        ValueError: if ``sigma`` is not finite and > 0.
    """
    sigma = V.positive_finite("sigma", sigma)
    q = np.asarray(q, dtype=np.float64)
    return (np.arctan((q - mu) / sigma) - np.arctan((-q - mu) / sigma)) / np.pi


def cauchy_fit_gap(z: torch.Tensor, mu: float, sigma: float, grid: int = 20_001) -> float:
    r"""An upper bound on sup_q |F̂(q) − F(q)| between the folded-Cauchy law the schedule fits to ``z``
    (μ̂ = torch's lower median, σ̂ = unscaled MAD, Softsign [SS-SCHED] step 1) and the true folded
    Cauchy(μ, σ) law the sample was drawn from.

    On a sorted grid 0 = q_0 < … < q_N (the true quantiles of ``grid`` equally spaced probabilities,
    a log grid around |μ|, and a far end point) both CDFs are non-decreasing, so on [q_i, q_{i+1}]
    |F̂ − F| ≤ max(|F̂ − F|(q_i), |F̂ − F|(q_{i+1})) + F(q_{i+1}) − F(q_i); the bound is the maximum of
    that over the intervals. It depends on ``z`` only through (μ̂, σ̂), not on the schedule's
    quantiles, so it is an independent allowance for the sampling error of the fit.

    Raises:
        ValueError: if the sample's MAD is 0 (degenerate fit), or sigma/grid are invalid.
    """
    sigma = V.positive_finite("sigma", sigma)
    grid = V.integer("grid", grid)
    if grid < 3:
        raise ValueError(f"grid must be >= 3, got {grid}")
    z = V.tensor("z", z).reshape(-1).to(DT)
    mu_hat = torch.median(z)
    sigma_hat = torch.median((z - mu_hat).abs()).item()
    if sigma_hat <= 0:
        raise ValueError("the sample's median absolute deviation is 0; the folded-Cauchy fit is degenerate")
    p = np.linspace(0, 1, grid)[1:-1]
    far = 1e12 * (abs(mu) + sigma + abs(mu_hat.item()) + sigma_hat)
    q = np.sort(np.concatenate([[0.0, far, np.inf], sigma * np.tan(np.pi * p / 2) + abs(mu),
                                abs(mu) + sigma * np.logspace(-6, 6, grid)]))
    F = folded_cauchy_cdf(q, mu, sigma)
    gap = np.abs(folded_cauchy_cdf(q, mu_hat.item(), sigma_hat) - F)
    return float((np.maximum(gap[:-1], gap[1:]) + np.diff(F)).max())


def dkw_epsilon(n: int, alpha: float = 1e-3) -> float:
    r"""Dvoretzky–Kiefer–Wolfowitz (Massart 1990): P(sup_q |F_n(q) − F(q)| > ε) ≤ 2e^{−2nε²}, so
    ε = √(ln(2/α)/(2n)) holds with probability ≥ 1 − α."""
    n = V.integer("n", n)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    alpha = V.positive_finite("alpha", alpha)
    if alpha >= 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    return math.sqrt(math.log(2 / alpha) / (2 * n))
