r"""Per-step data behind notebook 08 (Softsign's reconstructed convergence results, [SS-THM, SS-EXP]).

The registered checks of :mod:`convexlab.theory.softsign` report one number per run (the worst
violation, a ratio to the bound); the figures need the curves behind those numbers. The functions
here recompute them with the checks' own protocol (Softsign [SS-PROTO] [DER]) and the same random streams,
so that a curve and the verdict it illustrates come from the same run.

=====================================  ===============================================================
function                               used by
=====================================  ===============================================================
:func:`r1_terms`                       08: both sides of Lemma R1 at every step
:func:`r1_gap_by_tau`                  08: R1's worst relative gap over a τ sweep (τδ = 5 included)
:func:`noisy_matrix_least_squares`     08: the SoftMuon vs Muon toy (Softsign [SS-PLAN], matrix version of E0)
=====================================  ===============================================================

All statements are reconstructions (provenance DER): the paper's theorem text was not readable
(Softsign [SS-THM, SS-Q10]). Reference: D. Feoktistov, T. Belinsky, A. Veprikov, A. Zainullin,
A. Beznosikov, "Softsign: Smooth Sign in Your Optimizer For Better Parameter Heterogeneity
Handling", arXiv 2605.31371.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from convexlab import _validation as V
from convexlab.geometry import Euclidean, SoftSign
from convexlab.problems.matrix import MatrixLeastSquares
from convexlab.problems.noise import Gaussian
from convexlab.problems.smooth import HeterogeneousQuadratic
from convexlab.theory import softsign as ss

DT = torch.float64
KINDS = ss.KINDS
#: τ of the registered one-step checks: τδ = 0.9·μ/L with δ = 0.05, L = 1 (Softsign [SS-PROTO])
TAU_R1 = 0.9 * ss.MU / ss.DELTA


def _count(name: str, value) -> int:
    return V.int_at_least(name, value, 1)


def _beta(value) -> float:
    b = float(value) if not isinstance(value, bool) else math.nan
    if not 0.0 <= b < 1.0:
        raise ValueError(f"beta must be in [0, 1), got {value!r}")
    return b


def r1_terms(kind: str = "tanh", tau: float = TAU_R1, beta: float = ss.BETA, *, steps: int = 2000, seeds: int = 8,
             seed: int = 0, noise_scale: float = ss.R1_NOISE) -> dict[str, np.ndarray]:
    r"""Both sides of Lemma R1 at every step of the Softsign [SS-PROTO] protocol [DER].

    f = ½θᵀHθ, H = diag(logspace(−3, 0, 50)) (L = 1), g_k = ∇f(θ_k) + N(0, s²I) (s = ``noise_scale``,
    default the check's :data:`~convexlab.theory.softsign.R1_NOISE`), m₀ = g₀,
    m_k = βm_{k−1} + (1−β)g_k, d_k = −∇V*(τm_k), θ_{k+1} = θ_k + δd_k with δ = 0.05 and θ₀ ~ N(0, I),
    the V of ``kind`` (μ = 1). Per step k and seed (arrays of shape (steps, seeds)):

    * ``lhs``       f(θ_{k+1});
    * ``rhs``       f(θ_k) − (δ/τ)V*(τ∇f(θ_k)) + (δτ/μ)‖m_k − ∇f(θ_k)‖²   (the stated form, needs τδ ≤ μ/L);
    * ``rhs_sharp`` ``rhs`` − (δ/τ)V(d_k) + (Lδ²/2)‖d_k‖²                   (the first line, any τ);
    * ``f``, ``measure`` = (δ/τ)V*(τ∇f), ``error`` = (δτ/μ)‖m − ∇f‖²;
    * ``relative_gap`` (resp. ``relative_gap_sharp``) = (lhs − rhs)/max(1, sum of the magnitudes of
      the terms), the normalisation of ``softsign.r1_one_step[tau_sweep]`` (a diverging run reaches
      1e300); ``valid``: False from the first step at which a run's terms are non-finite or ≥ 1e100.

    The random stream is that of :func:`convexlab.theory.softsign.r1_violation` with
    ``CheckContext(seed=seed)``, so max(lhs − rhs) equals its ``measured`` up to round-off (the check
    drives the registry optimizer, this function the formula; tested). Unlike that
    check, any τ > 0 is accepted: outside τδ ≤ μ/L the stated form may fail (Softsign [SS-PROTO]).

    Raises:
        ValueError: ``kind`` not in ('tanh', 'algebraic', 'euclidean'), τ not finite and > 0,
            β not in [0, 1), ``steps``/``seeds`` not integers ≥ 1.
    """
    V.one_of("kind", kind, KINDS)
    tau = V.positive_finite("tau", tau)
    beta = _beta(beta)
    noise_scale = V.positive_finite("noise_scale", noise_scale)
    K, S = _count("steps", steps), _count("seeds", seeds)
    delta, mu, L = ss.DELTA, ss.MU, 1.0
    geo = ss.tempered(kind, tau)
    unit = Euclidean() if kind == "euclidean" else SoftSign(1.0, kind)  # V itself (ψ_τ at τ = 1)
    prob = HeterogeneousQuadratic(dim=ss.DIM)
    h, f = prob.h, prob.f
    gen = torch.Generator().manual_seed(seed + 11)  # r1_violation's stream
    theta = torch.randn(S, ss.DIM, generator=gen, dtype=DT)
    m = torch.zeros_like(theta)
    names = ("lhs", "rhs", "rhs_sharp", "f", "measure", "error", "relative_gap", "relative_gap_sharp", "valid")
    out = {n: [] for n in names}
    alive = torch.ones(S, dtype=torch.bool)
    for k in range(K):
        grad = h * theta
        g = grad + noise_scale * torch.randn(S, ss.DIM, generator=gen, dtype=DT)
        m = g.clone() if k == 0 else beta * m + (1 - beta) * g
        d = -geo.direction(m)
        new = theta + delta * d  # θ − δ∇V*(τm): the check's SoftSignum run up to round-off
        f0, lhs = f(theta), f(new)
        measure = delta * geo.conjugate(grad)
        err = (delta * tau / mu) * ((m - grad) ** 2).sum(-1)
        rhs = f0 - measure + err
        # a diverged row (Euclidean V, τδ > 2/L) has no finite V(d); the others are still evaluated
        bad = ~torch.isfinite(d).all(-1)
        vd = (delta / tau) * unit.regularizer(torch.where(bad[:, None], torch.zeros_like(d), d))
        vd = torch.where(bad, torch.full_like(vd, math.inf), vd)
        dd = 0.5 * L * delta**2 * (d * d).sum(-1)
        rhs_sharp = rhs - vd + dd
        scale = torch.clamp(lhs.abs() + f0.abs() + measure + err + vd + dd, min=1.0)
        gap, gap_sharp = (lhs - rhs) / scale, (lhs - rhs_sharp) / scale
        alive &= torch.isfinite(gap) & torch.isfinite(gap_sharp) & (scale < 1e100)
        for n, v in zip(names, (lhs, rhs, rhs_sharp, f0, measure, err, gap, gap_sharp, alive.clone())):
            out[n].append(v)
        theta = new
    return {n: torch.stack(v).numpy() for n, v in out.items()}


def r1_gap_by_tau(taus, kinds=KINDS, betas=(0.0, ss.BETA), *, steps: int = 500, seeds: int = 4,
                  seed: int = 0) -> dict[tuple[str, float], dict[str, np.ndarray]]:
    r"""Lemma R1's worst relative gap per τ, for each (V, β) [DER, Softsign SS-PROTO sweep].

    For every ``kind`` and β, runs :func:`r1_terms` at each τ of ``taus`` and returns, keyed by
    (kind, β), arrays over ``taus``:

    * ``max_gap``       max over valid steps and seeds of ``relative_gap`` (stated form; ≤ 0 means R1 held);
    * ``max_gap_sharp`` the same for the sharper first line (holds for every τ);
    * ``violated_fraction`` the fraction of valid (step, seed) pairs with ``relative_gap`` > the
      checks' round-off allowance :data:`convexlab.theory.softsign.ROUND`;
    * ``diverged``      the number of seeds whose run left the finite range (Euclidean V, τδ > 2/L).

    Raises:
        ValueError: as :func:`r1_terms`, or an empty ``taus``/``kinds``/``betas``.
    """
    taus, kinds, betas = list(taus), list(kinds), list(betas)
    for name, seq in (("taus", taus), ("kinds", kinds), ("betas", betas)):
        if not seq:
            raise ValueError(f"{name} must be non-empty, got {seq!r}")
    out = {}
    for kind in kinds:
        for beta in betas:
            rows = {n: [] for n in ("max_gap", "max_gap_sharp", "violated_fraction", "diverged")}
            for tau in taus:
                t = r1_terms(kind, tau, beta, steps=steps, seeds=seeds, seed=seed)
                ok = t["valid"]
                rows["max_gap"].append(np.max(t["relative_gap"][ok]) if ok.any() else np.nan)
                rows["max_gap_sharp"].append(np.max(t["relative_gap_sharp"][ok]) if ok.any() else np.nan)
                rows["violated_fraction"].append(float(np.mean(ok & (t["relative_gap"] > ss.ROUND))))
                rows["diverged"].append(int((~ok[-1]).sum()))
            out[(kind, float(beta))] = {n: np.asarray(v, dtype=float) for n, v in rows.items()}
    return out


def noisy_matrix_least_squares(rows: int = 16, cols: int = 12, samples: int = 32, noise_scale: float = 0.1,
                               residual: float = 0.1, seed: int = 0) -> MatrixLeastSquares:
    r"""A seeded noisy matrix least-squares toy f(W) = ½‖AW − B‖²_F for SoftMuon vs Muon (Softsign [SS-PLAN]).

    A ∈ R^{p×m} with i.i.d. N(0, 1/p) entries (p = ``samples``, m = ``rows``), so the eigenvalues of
    AᵀA spread over (1 ± √(m/p))² (heterogeneous curvature), B = AW° + ``residual``·N(0, 1) with a
    planted W° ∈ R^{m×n} of N(0, 1) entries (f* > 0 when residual > 0 and p > m). The oracle adds
    Gaussian noise of scale ``noise_scale`` to every gradient entry
    (:class:`~convexlab.problems.noise.Gaussian`); start W₁ = 0.

    Raises:
        ValueError: sizes not integers ≥ 1, ``noise_scale`` not finite and > 0, ``residual`` < 0.

    >>> P = noisy_matrix_least_squares(rows=4, cols=3, samples=8)
    >>> P.shape, P.f_star > 0
    ((4, 3), True)
    """
    m, n, p = _count("rows", rows), _count("cols", cols), _count("samples", samples)
    scale = V.positive_finite("noise_scale", noise_scale)
    residual = V.nonnegative_finite("residual", residual)
    gen = torch.Generator().manual_seed(seed)
    A = torch.randn(p, m, generator=gen, dtype=DT) / math.sqrt(p)
    W = torch.randn(m, n, generator=gen, dtype=DT)
    B = A @ W + residual * torch.randn(p, n, generator=gen, dtype=DT)
    return MatrixLeastSquares(A, B, noise=Gaussian(scale))
