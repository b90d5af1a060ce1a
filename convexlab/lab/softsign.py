r"""Per-step data behind notebook 08 (Softsign's reconstructed convergence results, [SS-THM, SS-EXP]).

The registered checks of :mod:`convexlab.theory.softsign` report one number per run (the worst
violation, a ratio to the bound); the figures need the curves behind those numbers. The functions
here run those checks with ``per_seed=True``, so that the checks record their runs step by step
(``CheckResult.series``), and reshape the recorded series into arrays: a curve and the verdict it
illustrates come from the same run, and no loop of a check is written twice.

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
from convexlab.problems.matrix import MatrixLeastSquares
from convexlab.problems.noise import Gaussian
from convexlab.theory import softsign as ss
from convexlab.theory.registry import CheckContext

DT = torch.float64
KINDS = ss.KINDS
#: τ of the registered one-step checks: τδ = 0.9·μ/L with δ = 0.05, L = 1 (Softsign [SS-PROTO])
TAU_R1 = 0.9 * ss.MU / ss.DELTA


def _count(name: str, value) -> int:
    return V.integer(name, value, 1)


def _beta(value) -> float:
    return V.beta("beta", value)


def _by_run(rows: list[dict], *keys: str) -> dict[tuple, np.ndarray]:
    """A check's per-seed record (:func:`convexlab.theory.softsign.per_seed_rows`) as one (steps, seeds)
    array per (series, *keys) of its rows."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["series"], *(r[k] for k in keys)), []).append(r)
    out = {}
    for key, sel in groups.items():
        arr = np.full((1 + max(r["x"] for r in sel), 1 + max(r["seed"] for r in sel)), np.nan)
        for r in sel:
            arr[r["x"], r["seed"]] = r["y"]
        out[key] = arr
    return out


def r1_terms(kind: str = "tanh", tau: float = TAU_R1, beta: float = ss.BETA, *, steps: int = 2000, seeds: int = 8,
             seed: int = 0, noise_scale: float = ss.R1_NOISE) -> dict[str, np.ndarray]:
    r"""Both sides of Lemma R1 at every step of the Softsign [SS-PROTO] protocol [DER]: the series the
    registered check :func:`convexlab.theory.softsign.r1_violation` records for its own run.

    f = ½θᵀHθ, H = diag(logspace(−3, 0, 50)) (L = 1), g_k = ∇f(θ_k) + N(0, s²I) (s = ``noise_scale``,
    default the check's :data:`~convexlab.theory.softsign.R1_NOISE`), m₀ = g₀,
    m_k = βm_{k−1} + (1−β)g_k, θ_{k+1} the step of the check's subject (the registry optimizer of
    ``kind``: θ_k − δ∇V*(τm_k)) with δ = 0.05 and θ₀ ~ N(0, I), the V of ``kind`` (μ = 1), run as
    ``r1_violation(CheckContext(seed=seed), kind=kind, tau=tau, beta=beta, steps=steps, seeds=seeds,
    noise_scale=noise_scale, per_seed=True)``. Per step k and seed (arrays of shape (steps, seeds)):

    * ``lhs``       f(θ_{k+1});
    * ``rhs``       f(θ_k) − (δ/τ)V*(τ∇f(θ_k)) + (δτ/μ)‖m_k − ∇f(θ_k)‖²   (the stated form, needs τδ ≤ μ/L);
    * ``rhs_sharp`` ``rhs`` − (δ/τ)V(d_k) + (Lδ²/2)‖d_k‖², d_k = −∇V*(τm_k)  (the first line, any τ);
    * ``f``, ``measure`` = (δ/τ)V*(τ∇f), ``error`` = (δτ/μ)‖m − ∇f‖²;
    * ``relative_gap`` (resp. ``relative_gap_sharp``) = (lhs − rhs)/max(1, sum of the magnitudes of
      the terms), the normalisation of ``softsign.r1_one_step[tau_sweep]``; ``valid`` (bool): False
      from the first step at which a run's terms are non-finite or ≥ 1e100.

    max(lhs − rhs) is the check's ``measured`` (the same run; tested).

    Raises:
        ValueError: ``kind`` not in ('tanh', 'algebraic', 'euclidean'), τ not finite and > 0 or
            τδ > μ/L (the check claims nothing there; :func:`r1_gap_by_tau` covers that range),
            β not in [0, 1), ``steps``/``seeds`` not integers ≥ 1.
    """
    V.one_of("kind", kind, KINDS)
    tau = V.positive_finite("tau", tau)
    beta = _beta(beta)
    noise_scale = V.positive_finite("noise_scale", noise_scale)
    K, S = _count("steps", steps), _count("seeds", seeds)
    if tau * ss.DELTA > ss.MU:
        raise ValueError(f"tau must satisfy τδ ≤ μ/L = 1 (δ = {ss.DELTA}), got {tau!r}")
    res = ss.r1_violation(CheckContext(seed=seed), tau=tau, kind=kind, beta=beta, steps=K, seeds=S,
                          noise_scale=noise_scale, per_seed=True)
    arrays = _by_run(res.series)
    out = {name: arrays[(name,)] for name in ss.R1_SERIES}
    out["valid"] = out["valid"] > 0.5
    return out


def r1_gap_by_tau(taus, kinds=KINDS, betas=(0.0, ss.BETA), *, steps: int = 500, seeds: int = 4,
                  seed: int = 0) -> dict[tuple[str, float], dict[str, np.ndarray]]:
    r"""Lemma R1's worst relative gap per τ, for each (V, β) [DER, Softsign SS-PROTO sweep]: the
    series the registered check :func:`convexlab.theory.softsign.r1_tau_sweep` records for its own
    runs (``per_seed=True``, with ``CheckContext(seed=seed)``; a τ with τδ > μ/L is the check's
    ``outside_tau``, one check run per such τ).

    Returns, keyed by (kind, β), arrays over ``taus``:

    * ``max_gap``       max over valid steps and seeds of the stated form's relative gap (≤ 0 means R1 held);
    * ``max_gap_sharp`` the same for the sharper first line (holds for every τ);
    * ``violated_fraction`` the fraction of (step, seed) pairs that are valid with a relative gap
      > the checks' round-off allowance :data:`convexlab.theory.softsign.ROUND`;
    * ``diverged``      the number of seeds whose run left the finite range (Euclidean V, τδ > 2/L).

    Raises:
        ValueError: an empty ``taus``/``kinds``/``betas``, a τ not finite and > 0, a kind not in
            ('tanh', 'algebraic', 'euclidean'), ``steps``/``seeds`` not integers ≥ 1.
    """
    taus, kinds, betas = list(taus), list(kinds), list(betas)
    for name, seq in (("taus", taus), ("kinds", kinds), ("betas", betas)):
        if not seq:
            raise ValueError(f"{name} must be non-empty, got {seq!r}")
    taus = [V.positive_finite("taus", t) for t in taus]
    for k in kinds:
        V.one_of("kinds", k, KINDS)
    betas = [_beta(b) for b in betas]
    K, S = _count("steps", steps), _count("seeds", seeds)
    inside = [t for t in dict.fromkeys(taus) if t * ss.DELTA <= ss.MU]
    outside = [t for t in dict.fromkeys(taus) if t * ss.DELTA > ss.MU]
    runs = [(inside, outside[0] if outside else None)] + [([], t) for t in outside[1:]]
    rows: list[dict] = []
    for inner, out_tau in runs:
        res = ss.r1_tau_sweep(CheckContext(seed=seed), taus=inner, betas=betas, outside_tau=out_tau, steps=K,
                              kinds=kinds, seeds=S, per_seed=True)
        rows += res.series
    arrays = _by_run(rows, "kind", "tau", "beta")
    out = {}
    for kind in kinds:
        for beta in betas:
            cols = {n: [] for n in ("max_gap", "max_gap_sharp", "violated_fraction", "diverged")}
            for tau in taus:
                gap, sharp, ok = (arrays[(name, kind, tau, beta)] for name in ss.SWEEP_SERIES)
                ok = ok > 0.5
                cols["max_gap"].append(np.max(gap[ok]) if ok.any() else np.nan)
                cols["max_gap_sharp"].append(np.max(sharp[ok]) if ok.any() else np.nan)
                cols["violated_fraction"].append(float(np.mean(ok & (gap > ss.ROUND))))
                cols["diverged"].append(int((~ok[-1]).sum()))
            out[(kind, float(beta))] = {n: np.asarray(v, dtype=float) for n, v in cols.items()}
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
