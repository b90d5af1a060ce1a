r"""Smooth convex toy problems for the Softsign bounds: a heterogeneous quadratic and ℓ2-regularised
logistic regression.

Both are unconstrained (the box is ℝ^d, ``low = −inf``, ``high = +inf``) and carry the constants of
the reconstructed Softsign theory (Softsign [SS-ASSUME] [DER], A1–A2): the smoothness constant L of
f w.r.t. ‖·‖₂ (``smoothness``), f* and x*, and the noise variance σ² = E‖g − ∇f‖₂² of the
oracle (``noise_variance``). Neither f is Lipschitz on ℝ^d, so the coordinate bound ``L`` of
:class:`~convexlab.problems.base.Problem` is None.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from convexlab import _validation as V
from convexlab.problems.base import Problem, cached_solution
from convexlab.problems.noise import Gaussian, NoiseModel


def _float_tensor(name: str, value, dtype) -> torch.Tensor:
    t = torch.as_tensor(value)
    if not t.is_floating_point():
        t = t.to(dtype)
    V.tensor(name, t)
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite, got {int((~torch.isfinite(t)).sum())} non-finite entries")
    return t.to(dtype)


class _Smooth(Problem):
    """Shared parts: unconstrained box, σ² of the oracle, start point."""

    def __init__(self, dim: int, *, smoothness: float, noise: NoiseModel | None, start, dtype,
                 f_star=None, x_star=None):
        inf = float("inf")
        super().__init__((dim,), None, -inf, inf, f_star=f_star, x_star=x_star, smoothness=smoothness,
                         noise=noise, dtype=dtype)
        if start is not None:
            start = _float_tensor("start", start, dtype)
            if tuple(start.shape) != (dim,):
                raise ValueError(f"start must have shape ({dim},), got {tuple(start.shape)}")
        self.start = start

    @property
    def noise_variance(self) -> float:
        r"""σ² = E‖g̃ − ∇f‖₂² of :meth:`oracle` (Softsign A2); 0 for the exact oracle. For Gaussian
        noise of scale s this is d·s², independent of the point."""
        z = torch.zeros(1, self.dim, dtype=self.dtype)
        return float(self.noise.variance(z, torch.zeros(self.dim, dtype=self.dtype))[0])


class HeterogeneousQuadratic(_Smooth):
    r"""f(x) = ½ xᵀHx with H = diag(h), h_i > 0 spread over orders of magnitude.

    Default h = logspace(−3, 0, 50), the protocol of Softsign [SS-PROTO] [DER]: smoothness
    L = max_i h_i (= 1), f* = 0 at x* = 0, ∇f(x) = h ⊙ x. The oracle adds Gaussian noise
    N(0, s²I) by default (σ² = d s², Softsign [SS-PROTO]: s = 0.1). Start point x₁ = 1 (all ones) unless
    ``start`` is given, so Δ = f(x₁) − f* = ½Σh_i.

    Heterogeneity is what the Softsign claim is about ([SS-HET, SS-PLAN] E0): a sign method moves every
    coordinate by the full step, so the flat directions (small h_i) and the steep ones get the same
    step size.

    Args:
        h: the diagonal of H (positive, finite), or None for ``logspace(log10 h_min, log10 h_max, dim)``.
        dim, h_min, h_max: the default spectrum (0 < h_min ≤ h_max).
        noise_scale: s > 0 of the default Gaussian noise (ignored when ``noise`` is given).
        noise: a :class:`~convexlab.problems.noise.NoiseModel` (e.g. ``Exact()`` for a deterministic oracle).
        start: the start point (default all ones).

    Raises:
        ValueError: non-positive or non-finite ``h``/``h_min``/``h_max``/``noise_scale``,
            ``h_min > h_max``, ``dim < 1``, a ``start`` of the wrong shape.

    >>> p = HeterogeneousQuadratic(dim=4, h_min=0.01, h_max=1.0)
    >>> p.smoothness, p.f_star, round(p.noise_variance, 6)
    (1.0, 0.0, 0.04)
    """

    def __init__(self, h=None, *, dim: int = 50, h_min: float = 1e-3, h_max: float = 1.0,
                 noise_scale: float = 0.1, noise: NoiseModel | None = None, start=None,
                 dtype: torch.dtype = torch.float64):
        if h is None:
            dim = V.integer("dim", dim, 1)
            lo, hi = V.positive_finite("h_min", h_min), V.positive_finite("h_max", h_max)
            if lo > hi:
                raise ValueError(f"h_min must be <= h_max, got h_min={h_min!r}, h_max={h_max!r}")
            h = torch.logspace(float(np.log10(lo)), float(np.log10(hi)), dim, dtype=dtype)
        else:
            h = _float_tensor("h", h, dtype)
            if h.ndim != 1 or h.numel() < 1:
                raise ValueError(f"h must be a non-empty 1-D tensor, got shape {tuple(h.shape)}")
            if not bool((h > 0).all()):
                raise ValueError(f"h must be > 0 in every entry, got min(h) = {float(h.min())!r}")
        if noise is None:
            noise = Gaussian(noise_scale)
        d = h.numel()
        super().__init__(d, smoothness=float(h.max()), noise=noise,
                         start=torch.ones(d, dtype=dtype) if start is None else start, dtype=dtype,
                         f_star=0.0, x_star=torch.zeros(d, dtype=dtype))
        self.h = h

    def f(self, x):
        return 0.5 * (self.h * x * x).sum(-1)

    def subgradient(self, x):
        return self.h * x


class LogisticRegression(_Smooth):
    r"""f(w) = (1/N) Σ_j ln(1 + exp(−y_j⟨x_j, w⟩)) + (λ/2)‖w‖₂², labels y_j ∈ {−1, +1}.

    ∇f(w) = −(1/N) Σ_j y_j σ(−y_j⟨x_j, w⟩) x_j + λw with σ the logistic function. Since
    0 < σ' ≤ ¼, ∇²f ⪯ XᵀX/(4N) + λI, so f is L-smooth w.r.t. ‖·‖₂ with
    L = ‖X‖₂²/(4N) + λ (spectral norm; Softsign [SS-PROTO] [DER], with the ℓ2 term added). λ > 0
    makes f λ-strongly convex, so the minimiser is unique even for separable data; f* and x* are
    computed once by a trust-region Newton solve (scipy) polished by three Newton steps (gradient
    norm ≤ 1e-9 enforced) and cached with
    :func:`~convexlab.problems.base.cached_solution`.

    Without ``X``/``y`` the data are synthetic and seeded: x_j ~ N(0, I_d), a planted
    w° ~ N(0, I_d/d) and labels drawn with P(y_j = 1) = σ(⟨x_j, w°⟩) (noisy, so in general not
    separable).

    Args:
        X: (N, d) features, or None for synthetic data. y: (N,) labels in {−1, +1} (or {0, 1}).
        n_samples, dim, seed: size and seed of the synthetic data.
        l2: λ > 0 (default 1e-3).
        noise: the oracle's noise model (default exact gradients; e.g. ``Gaussian(s)``).
        start: the start point (default 0, where f = ln 2).

    Raises:
        ValueError: ``X``/``y`` of the wrong shape, non-finite, labels other than ±1/0-1, only one of
            ``X``/``y`` given, ``l2`` not > 0, sizes < 1.

    >>> p = LogisticRegression(n_samples=50, dim=3, seed=1)
    >>> bool(p.f_star < p.f(torch.zeros(1, 3, dtype=torch.float64))[0])
    True
    """

    def __init__(self, X=None, y=None, *, n_samples: int = 200, dim: int = 20, seed: int = 0, l2: float = 1e-3,
                 noise: NoiseModel | None = None, start=None, dtype: torch.dtype = torch.float64):
        if (X is None) != (y is None):
            raise ValueError("X and y must be given together (or both None for synthetic data)")
        self.l2 = V.positive_finite("l2", l2)
        if X is None:
            n_samples, dim = V.integer("n_samples", n_samples, 1), V.integer("dim", dim, 1)
            seed = V.integer("seed", seed)
            gen = torch.Generator().manual_seed(seed)
            X = torch.randn(n_samples, dim, generator=gen, dtype=torch.float64)
            w0 = torch.randn(dim, generator=gen, dtype=torch.float64) / dim**0.5
            u = torch.rand(n_samples, generator=gen, dtype=torch.float64)
            y = torch.where(u < torch.sigmoid(X @ w0), 1.0, -1.0).to(torch.float64)
        X = _float_tensor("X", X, dtype)
        if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
            raise ValueError(f"X must be a non-empty (N, d) matrix, got shape {tuple(X.shape)}")
        y = torch.as_tensor(y).to(dtype)
        if tuple(y.shape) != (X.shape[0],):
            raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got {tuple(y.shape)}")
        if bool(((y != 1) & (y != -1) & (y != 0)).any()):
            raise ValueError("y must contain labels in {-1, +1} (or {0, 1})")
        if bool((y == 0).any()):
            if bool((y == -1).any()):
                raise ValueError("y mixes the label conventions {-1, +1} and {0, 1}")
            y = 2 * y - 1
        self.X, self.y = X, y
        n = X.shape[0]
        smooth = float(torch.linalg.matrix_norm(X.to(torch.float64), ord=2)) ** 2 / (4 * n) + self.l2
        super().__init__(X.shape[1], smoothness=smooth, noise=noise, start=start, dtype=dtype)
        digest = hashlib.sha1(X.to(torch.float64).numpy().tobytes() + y.to(torch.float64).numpy().tobytes())
        self._key = ("LogisticRegression", digest.hexdigest(), self.l2, str(dtype))

    def f(self, x):
        z = (x @ self.X.T) * self.y  # margins y_j⟨x_j, w⟩, (S, N)
        # ln(1 + e^{−z}) = max(−z, 0) + log1p(e^{−|z|}), exact for every z (torch's softplus switches
        # to the linear branch at |z| > 20, an error of e^{−20} ≈ 2e-9)
        loss = torch.clamp(-z, min=0) + torch.log1p(torch.exp(-z.abs()))
        return loss.mean(-1) + 0.5 * self.l2 * (x * x).sum(-1)

    def subgradient(self, x):
        z = (x @ self.X.T) * self.y
        w = -self.y * torch.sigmoid(-z) / self.X.shape[0]
        return w @ self.X + self.l2 * x

    def _solve(self):
        def solve():
            from scipy.optimize import minimize

            X, y, lam, n = self.X.double().numpy(), self.y.double().numpy(), self.l2, self.X.shape[0]

            def fun(w):
                z = y * (X @ w)
                return float(np.logaddexp(0.0, -z).mean() + 0.5 * lam * w @ w)

            def jac(w):
                z = y * (X @ w)
                return -(X.T @ (y * _expit(-z))) / n + lam * w

            def hess(w):
                s = _expit(y * (X @ w))
                return (X.T * (s * (1 - s))) @ X / n + lam * np.eye(X.shape[1])

            res = minimize(fun, np.zeros(X.shape[1]), jac=jac, hess=hess, method="trust-exact",
                           options={"gtol": 1e-12, "maxiter": 500})
            w = res.x
            for _ in range(3):  # Newton polish: quadratic convergence from the trust-region point
                w = w - np.linalg.solve(hess(w), jac(w))
            gnorm = float(np.linalg.norm(jac(w)))
            w = torch.as_tensor(w, dtype=self.dtype)
            if not gnorm <= 1e-9:
                raise RuntimeError(f"logistic-regression solve did not converge (‖∇f‖ = {gnorm:g})")
            return float(self.f(w.unsqueeze(0))[0]), w

        return cached_solution(self._key, solve)


def _expit(z: np.ndarray) -> np.ndarray:
    from scipy.special import expit

    return expit(z)
