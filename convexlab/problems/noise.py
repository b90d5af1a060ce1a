r"""Stochastic-gradient noise models for the toy problems' oracles.

A noise model turns the exact (sub)gradient g(x) of a batch of points (shape (S, d)) into an
unbiased stochastic gradient g̃ with E[g̃ | x] = g(x), drawing from an explicit
``torch.Generator`` so that simulations are deterministic given a seed. Each model also states the
coordinate bound it preserves: ``oracle_bound(L)`` is the vector L̃ with |g̃_i| ≤ L̃_i almost surely
(``inf`` when the noise is unbounded), which is the constant the StoSignSGD theorems need
(Assumption A3, [SSG-A] [R]).

* :class:`Exact`: g̃ = g.
* :class:`Gaussian`: g̃ = g + s·N(0, I) (unbounded; for the smooth Softsign bounds, σ² = d s²).
* :class:`SignFlip`: bounded, unbiased randomised rounding to the envelope,
  g̃_i = L_i·ξ_i with ξ_i = ±1 and P(ξ_i = 1) = (1 + g_i/L_i)/2, applied to each coordinate with
  probability ``p`` (``p = 0`` is exact). |g̃_i| ≤ L_i keeps the theorem's constant L unchanged —
  the "random sign flips of subgradient parts" of the StoSignSGD [SSG-PROTO] [D].
* :class:`HeavyTailed`: g̃ = g + s·t_ν (Student t with ν > 2 degrees of freedom: finite variance,
  heavy tails; unbounded).

Draws and speed. The oracle runs once per simulated step on every seed, so its random draws are a
large part of a simulation's time; float64 draws cost 1.5–5× more than the ones :class:`SignFlip`,
:class:`Gaussian` and :class:`HeavyTailed` use:

* two-point coins (:class:`SignFlip`) compare 32-bit random integers (:func:`random_int32`, two per
  64-bit Mersenne-Twister draw) with a threshold computed in the gradient's dtype: a coin of
  probability q is right to |P − q| ≤ 2⁻³², so E g̃ = g to within 2⁻³¹·L_i, and its two outcomes
  are written exactly (the almost-sure bound |g̃_i| ≤ L_i is exact, never a rounding of a draw);
* Gaussian entries are drawn in float32 and added to the float64 gradient (relative rounding
  2⁻²⁴ of a unit normal, tails truncated beyond ≈ 5.7σ, P ≈ 10⁻⁸).

These three use no ``torch.where`` on a full batch (on CPU it runs several times slower than
arithmetic): their exact selections are products with 0/1 masks. :func:`random_int32` and
:func:`coin` are the building blocks for a new two-point noise.
"""

from __future__ import annotations

import math

import torch

from convexlab import _validation as V


def random_int32(shape, generator: torch.Generator | None, device=None) -> torch.Tensor:
    """Independent integers uniform on all 2³² values of int32, shape ``shape``: the two halves of
    full-range 64-bit Mersenne-Twister draws (one generator call per two entries)."""
    shape = tuple(shape)
    n = math.prod(shape)
    words = torch.empty((n + 1) // 2, dtype=torch.int64, device=device)
    halves = words.random_(-(2**63), None, generator=generator).view(torch.int32)
    return (halves if n % 2 == 0 else halves[:n]).view(shape)


def coin(p: float, shape, generator: torch.Generator | None, device=None) -> torch.Tensor:
    """Boolean tensor with P(True) = p per entry, to within 2⁻³² (exactly 0 for p = 0, 1 for p = 1)."""
    return random_int32(shape, generator, device) < (p * 2.0**32 - 2.0**31)


class NoiseModel:
    """Base class: ``__call__(g, L, generator)`` returns an unbiased perturbation of ``g``."""

    bounded: bool = True

    def __call__(self, g: torch.Tensor, L: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover

    def oracle_bound(self, L: torch.Tensor) -> torch.Tensor:
        """Almost-sure coordinate bound of the noisy oracle, given |g_i| ≤ L_i for the exact one."""
        return L if self.bounded else torch.full_like(L, math.inf)

    def variance(self, g: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
        """E‖g̃ − g‖² per row of a batch g of shape (S, *shape) (returns shape (S,))."""
        raise NotImplementedError  # pragma: no cover

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Exact(NoiseModel):
    """g̃ = g (a deterministic oracle)."""

    def __call__(self, g, L, generator):
        return g

    def variance(self, g, L):
        return torch.zeros(g.shape[:1], dtype=g.dtype)


class Gaussian(NoiseModel):
    r"""g̃ = g + s·ξ, ξ ~ N(0, I): E‖g̃ − g‖² = d s² (unbounded)."""

    bounded = False

    def __init__(self, scale: float):
        self.scale = V.positive_finite("scale", scale)

    def __call__(self, g, L, generator):
        z = torch.randn(g.shape, generator=generator, dtype=torch.float32, device=g.device)
        return g.add(z, alpha=self.scale)

    def variance(self, g, L):
        return torch.full(g.shape[:1], g[0].numel() * self.scale**2, dtype=g.dtype)


class SignFlip(NoiseModel):
    r"""Bounded unbiased noise: with probability ``p`` per coordinate, replace g_i by L_i·ξ_i,
    ξ_i = ±1 with P(ξ_i = +1) = (1 + g_i/L_i)/2, so E g̃_i = g_i and |g̃_i| ≤ L_i.

    E(g̃_i − g_i)² = p(L_i² − g_i²).

    Draw: ξ_i = +1 iff r_i < 2³¹·g_i/L_i for r_i uniform on the 2³² int32 values, so
    |P(ξ_i = 1) − (1 + g_i/L_i)/2| ≤ 2⁻³² (ξ_i = sign(g_i) exactly when |g_i| = L_i), and
    g̃_i = 2L_i·[ξ_i = 1] − L_i ∈ {−L_i, L_i} exactly.
    """

    def __init__(self, p: float = 1.0):
        p = float(p) if not isinstance(p, bool) else math.nan
        if not (0.0 <= p <= 1.0):
            raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
        self.p = p

    def __call__(self, g, L, generator):
        L = L.to(g.dtype)
        # threshold 2³¹·g/L (scaling by a power of 2 is exact); |g| > L saturates, and where L_i = 0
        # (then g_i = 0) 0/0 is NaN, the comparison false and the output −0
        up = random_int32(g.shape, generator, g.device) < g / (L * 2.0**-31)
        rounded = torch.mul(up, 2.0 * L).sub_(L)  # 2L − L = L and 0 − L = −L, both exact
        if self.p >= 1.0:
            return rounded
        flip = coin(self.p, g.shape, generator, g.device).to(g.dtype)
        # exact selection: r·1 + g·0 = r and r·0 + g·1 = g for finite r, g
        return rounded.mul_(flip).add_(g * (1.0 - flip))

    def variance(self, g, L):
        return (self.p * (L.to(g.dtype) ** 2 - g**2)).reshape(g.shape[0], -1).sum(-1)


class HeavyTailed(NoiseModel):
    r"""g̃ = g + s·t_ν with Student-t entries (ν > 2: finite variance sν/(ν−2) per coordinate,
    heavy tails; unbounded)."""

    bounded = False

    def __init__(self, scale: float, df: float = 3.0):
        self.scale = V.positive_finite("scale", scale)
        df = V.positive_finite("df", df)
        if df <= 2:
            raise ValueError(f"df must be > 2 (finite variance), got {df!r}")
        self.df = df

    def __call__(self, g, L, generator):
        z = torch.randn(g.shape, generator=generator, dtype=torch.float32, device=g.device).to(g.dtype)
        # chi-square with ν dof as a Gamma(ν/2, 2); torch's _standard_gamma has no generator argument,
        # so draw it by inverse-CDF (in float64: the tails of the quantile function need it).
        u = torch.rand(g.shape, generator=generator, dtype=torch.float64, device=g.device)
        from scipy.stats import chi2

        c = torch.as_tensor(chi2.ppf(u.cpu().numpy(), self.df), dtype=g.dtype, device=g.device)
        return g + self.scale * z / torch.sqrt(c / self.df)

    def variance(self, g, L):
        return torch.full(g.shape[:1], g[0].numel() * self.scale**2 * self.df / (self.df - 2), dtype=g.dtype)


NOISE_MODELS = {"exact": Exact, "gaussian": Gaussian, "sign_flip": SignFlip, "heavy_tailed": HeavyTailed}


class LopsidedSign(NoiseModel):
    r"""Bounded unbiased noise whose *sign* misleads: per coordinate, with L̃_i = ``scale``·L_i and
    σ_i = sign(g_i) (sign(0) := +1), a two-point draw

        g̃_i = σ_i·L̃_i        with probability π_i = (|g_i|/L̃_i + ε)/(1 + ε)   (rare, large),
        g̃_i = −σ_i·ε·L̃_i     otherwise                                        (frequent, small),

    so E g̃_i = σ_i L̃_i(π_i − ε(1 − π_i)) = g_i and |g̃_i| ≤ L̃_i (``oracle_bound(L)`` = scale·L; an
    oracle whose bound exceeds |∂f| is allowed by Assumption A3, StoSignSGD [SSG-A] [R]). The draw has
    |g̃_i| = εL̃_i < L̃_i with probability 1 − π_i, so the structural noise of StoSignSGD acts on it
    (E sign(g̃ + L̃⊙n) = g/L̃, unbiased), while the sign of the draw points *uphill* on average
    wherever |g_i|/L̃_i < (1 − ε)/2: E sign(g̃_i) = σ_i(2π_i − 1) (for every g when
    scale > 2/(1 − ε)). signSGD then climbs, and a noise n ~ U[−a, a] with a < 1 over-weights the
    small atom (E sign(g̃ + aL̃⊙n) = σ(|g|/L̃ − (1/a − 1)ε(1 − |g|/L̃)/(1 + ε))): both are biased
    against the descent direction. The construction of the adversaries of Theorem 1
    (:mod:`convexlab.problems.online`) turned into an oracle [D].

    E(g̃_i − g_i)² = π_i L̃_i² + (1 − π_i)ε²L̃_i² − g_i².

    Args:
        scale: L̃/L ≥ 1, the oracle's bound relative to the subgradient bound.
        eps: ε ∈ (0, 1), the relative size of the frequent small atom.
    """

    def __init__(self, scale: float = 4.0, eps: float = 0.25):
        scale = V.positive_finite("scale", scale)
        if scale < 1.0:
            raise ValueError(f"scale must be >= 1 (the oracle bound is at least the subgradient bound), got {scale!r}")
        eps = float(eps) if not isinstance(eps, bool) else math.nan
        if not (0.0 < eps < 1.0):
            raise ValueError(f"eps must lie in (0, 1), got {eps!r}")
        self.scale, self.eps = scale, eps

    def _atoms(self, g, L):
        Lt = self.scale * L.to(g.dtype)
        safe = torch.where(Lt > 0, Lt, torch.ones_like(Lt))
        r = (g.abs() / safe).clamp(max=1.0)
        sigma = torch.where(g >= 0, 1.0, -1.0).to(g.dtype)
        return Lt, sigma, (r + self.eps) / (1.0 + self.eps)

    def __call__(self, g, L, generator):
        Lt, sigma, pi = self._atoms(g, L)
        u = torch.rand(g.shape, generator=generator, dtype=g.dtype, device=g.device)
        return torch.where(u < pi, sigma * Lt, -self.eps * sigma * Lt)

    def oracle_bound(self, L):
        return self.scale * L

    def variance(self, g, L):
        Lt, _, pi = self._atoms(g, L)
        v = pi * Lt**2 + (1 - pi) * (self.eps * Lt) ** 2 - g**2
        return v.reshape(g.shape[0], -1).sum(-1)
