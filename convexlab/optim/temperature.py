r"""The quantile-based temperature schedule of SoftSignum and SoftMuon (Softsign [SS-SCHED] [CODE]).

From a 1-D sample z (SoftSignum: all entries of the momentum direction u of a param group at the
first transition step; SoftMuon: the singular values of all raw gradients of the group):

1. robust Cauchy fit: μ̂ = median(z) (torch's lower median), σ̂ = median(|z − μ̂|) (unscaled MAD);
2. probability grid p_j = j/T, j = 0..T−1;
3. folded-Cauchy quantile q_j: F(q) = C((q − μ̂)/σ̂) − C((−q − μ̂)/σ̂) = p_j, C(x) = ½ + arctan(x)/π,
   by ``newton_iters`` Newton steps from q⁰ = σ̂·tan(πp_j/2) + |μ̂|, clamped at 0; the 1e-8 guard is
   in the arguments only, as in the official code;
4. τ_j = φ⁻¹(1 − ε)/q_j clamped to [1, tmax] (q_j = 0 gives tmax), φ = tanh (SoftSignum) or
   x/√(1 + x²) (SoftMuon).

So at step j every entry with |z| ≥ q_j is saturated (φ(τ_j|z|) ≥ 1 − ε) and, under the fitted
model, a fraction p_j is not: the saturated fraction falls linearly over the transition.
"""

from __future__ import annotations

import math
import warnings

import torch

from convexlab import _validation as V

KINDS = ("tanh", "algebraic")


def saturation_point(eps: float, kind: str = "tanh") -> float:
    r"""φ⁻¹(1 − ε): atanh(1 − ε) for tanh (4.951718775643 at ε = 1e-4), y/√(1 − y²) at y = 1 − ε for
    the algebraic soft sign (70.70537470732 at ε = 1e-4)."""
    V.one_of("kind", kind, KINDS)
    y = 1.0 - eps
    return math.atanh(y) if kind == "tanh" else y / math.sqrt(1.0 - y * y)


def folded_cauchy_quantiles(z: torch.Tensor, length: int, newton_iters: int = 10,
                            dtype: torch.dtype = torch.float64, min_scale: float = 0.0) -> torch.Tensor:
    r"""q_j, j = 0..length−1, of |Z| for Z ~ Cauchy(median(z), MAD(z)) at p_j = j/length (steps 1–3).
    ``min_scale`` floors σ̂ (0: the official behaviour)."""
    z = z.detach().reshape(-1).to(dtype)
    mu = torch.median(z)
    sigma = torch.median((z - mu).abs()).clamp_min(min_scale)
    p = torch.arange(length, dtype=dtype, device=z.device) / length
    q = sigma * torch.tan(math.pi * p / 2) + mu.abs()
    for _ in range(newton_iters):
        z1 = (q - mu) / (sigma + 1e-8)
        z2 = (-q - mu) / (sigma + 1e-8)
        F = (torch.atan(z1) - torch.atan(z2)) / math.pi
        dens = (1.0 / (math.pi * (1 + z1 * z1)) + 1.0 / (math.pi * (1 + z2 * z2))) / sigma
        q = (q - (F - p) / dens).clamp_min(0.0)
    return q


def temperature_schedule(z: torch.Tensor, length: int, eps: float = 1e-4, newton_iters: int = 10,
                         tmax: float = 20.0, kind: str = "tanh", dtype: torch.dtype = torch.float64,
                         guard_zero_scale: bool = False) -> torch.Tensor:
    r"""τ_j = clamp(φ⁻¹(1 − ε)/q_j, 1, tmax), j = 0..length−1 (module docstring).

    Args:
        z: the sample (any shape; flattened). length: T ≥ 1. eps: ε ∈ (0, 1). newton_iters: N_q ≥ 0.
        tmax: upper clamp ≥ 1 (20 in the official SoftSignum, 1e9 in SoftMuon). kind: φ.
        dtype: float32 (official SoftSignum) or float64 (official SoftMuon).
        guard_zero_scale: the official code silently returns a constant schedule when σ̂ = 0
            (more than half the entries equal; [SS-Q6]) — a warning is always emitted; with the
            guard σ̂ is replaced by the smallest positive |z − μ̂| (a documented deviation).

    Returns:
        τ as a tensor of shape (length,) in ``dtype``.

    >>> import torch
    >>> tau = temperature_schedule(torch.tensor([-2e-3, -1e-3, 0.0, 1e-3, 2e-3]), 4, tmax=1e9)
    >>> bool((tau[1:] <= tau[:-1]).all())
    True
    """
    V.integer("length", length, 1)
    V.integer("newton_iters", newton_iters)
    V.positive_finite("eps", eps)
    if eps >= 1:
        raise ValueError(f"eps must be in (0, 1), got {eps!r}")
    V.positive_finite("tmax", tmax)
    if tmax < 1:
        raise ValueError(f"tmax must be >= 1 (τ is clamped to [1, tmax]), got {tmax!r}")
    V.one_of("kind", kind, KINDS)
    zf = z.detach().reshape(-1).to(dtype)
    if zf.numel() == 0:
        raise ValueError("z must contain at least one entry to fit the temperature schedule")
    if not bool(torch.isfinite(zf).all()):
        raise ValueError("z contains non-finite entries; the temperature schedule cannot be fitted")
    mu = torch.median(zf)
    dev = (zf - mu).abs()
    if float(torch.median(dev)) == 0.0:
        warnings.warn("temperature schedule: the median absolute deviation of the sample is 0 (more than half the "
                      "entries are equal), so the official schedule is constant (Softsign [SS-Q6])"
                      + ("; guarding with the smallest positive deviation" if guard_zero_scale else ""),
                      RuntimeWarning, stacklevel=2)
    min_scale = 0.0
    if guard_zero_scale and bool((dev > 0).any()):
        min_scale = float(dev[dev > 0].min())  # σ̂ ← max(σ̂, smallest positive deviation), [SS-Q6]
    q = folded_cauchy_quantiles(zf, length, newton_iters, dtype, min_scale)
    # φ⁻¹(1 − ε) evaluated in the schedule's dtype, as the official code does (4.9516358 in float32)
    y = torch.tensor(1.0 - eps, dtype=dtype, device=q.device)
    num = torch.atanh(y) if kind == "tanh" else y / torch.sqrt(1.0 - y * y)
    tau = torch.where(q > 0, num / torch.where(q > 0, q, torch.ones_like(q)), torch.full_like(q, float("inf")))
    return tau.clamp(1.0, tmax)
