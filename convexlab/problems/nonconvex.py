r"""Non-convex, non-smooth test objectives for StoSignSGD's O2NC guarantee ([SSG-O2NC, SSG-PROTO]).

* :class:`SumAbsSin`: f(x) = Σ_i L_i |sin x_i| on R^d, separable, so the Goldstein measure is exact
  (StoSignSGD [SSG-PROTO], suggested test function [D]).
* :class:`ReLUNetL1`: a one-hidden-layer ReLU network with an ℓ1 loss on fixed synthetic data that a
  teacher network of the same architecture labels exactly, so inf f = 0 (a non-separable sanity
  check; StoSignSGD [SSG-PROTO] reports only the witness bound there [D]).
"""

from __future__ import annotations

import math

import torch

from convexlab import _validation as V
from convexlab.problems.base import Problem
from convexlab.problems.noise import NoiseModel, SignFlip


def interval_distance_to_zero(lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    r"""dist(0, [lo, hi]) elementwise: lo if lo > 0, −hi if hi < 0, else 0."""
    return lo.clamp_min(0) + (-hi).clamp_min(0)



class SumAbsSin(Problem):
    r"""f(x) = Σ_i L_i |sin x_i| on R^d (StoSignSGD [SSG-PROTO], suggested test function [D]).

    Non-convex and non-smooth: kinks at x_i = kπ (the global minima, f* = inf f = 0), smooth local
    maxima at x_i = π/2 + kπ. Coordinate-Lipschitz with |∂_i f| ≤ L_i, so the non-convex assumptions
    of StoSignSGD [SSG-A] hold with this L and Δf = f(x_0) (:meth:`Problem.delta_f`).

    Away from the kinks ∂_i f(x) = L_i·sign(sin x_i)·cos x_i = L_i cos(x_i mod π); at a kink the
    oracle picks sign(±0) := ±1 (the sign bit of sin x_i), i.e. ±L_i cos(kπ) ∈ [−L_i, L_i] (a Clarke
    subgradient). The domain
    is unbounded (low = −∞, high = +∞, so ``D_inf`` is inf): O2NC needs no domain, only the learner's
    box [−D, D]^d.

    ``noise`` is any :class:`~convexlab.problems.noise.NoiseModel`. The bounded unbiased
    :class:`~convexlab.problems.noise.SignFlip` keeps |g̃_i| ≤ L_i (the ‖L‖₁ of the theorems is
    unchanged); unbounded noise makes ``oracle_L`` infinite, and then the O2NC constants (which need
    |g̃_i| ≤ L_i a.s., StoSignSGD [SSG-A]) do not apply.

    Args:
        L: the coefficient vector (L_i > 0); its length is d.
        noise: the oracle's noise model (default exact).
        start: x_0 (default 1 in every coordinate: f = sin(1)‖L‖₁, |∂_i f| = cos(1)L_i ≠ 0).

    >>> p = SumAbsSin([1.0, 2.0])
    >>> p.f(torch.tensor([[math.pi / 2, 0.0]], dtype=torch.float64)).tolist()
    [1.0]
    """

    convex = False

    def __init__(self, L, *, noise: NoiseModel | None = None, start: torch.Tensor | None = None,
                 dtype: torch.dtype = torch.float64):
        L = torch.as_tensor(L, dtype=dtype)
        if L.ndim != 1 or L.numel() < 1:
            raise ValueError(f"L must be a non-empty vector, got shape {tuple(L.shape)}")
        if not bool(torch.isfinite(L).all() and (L > 0).all()):
            raise ValueError(f"L must be finite and > 0 in every coordinate, got {L.tolist()!r}")
        d = L.numel()
        super().__init__((d,), L, -math.inf, math.inf, f_star=0.0, x_star=torch.zeros(d, dtype=dtype), noise=noise,
                         dtype=dtype)
        if start is None:
            start = torch.ones(d, dtype=dtype)
        start = V.tensor("start", torch.as_tensor(start, dtype=dtype))
        if tuple(start.shape) != (d,):
            raise ValueError(f"start must have shape ({d},), got {tuple(start.shape)}")
        self.start = start

    def f(self, x):
        return (self.L * torch.sin(x).abs()).sum(-1)

    def subgradient(self, x):
        # L·sign(sin x)·cos x with sign(±0) := ±1 (copysign): at x = ±0 the choice ±L is a valid
        # Clarke subgradient, and copysign keeps the oracle to four tensor operations
        return torch.copysign(self.L, torch.sin(x)) * torch.cos(x)

    def derivative_range(self, x: torch.Tensor, radius: float) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Per coordinate, the interval conv{φ_i'(u) : |u − x_i| ≤ r} with φ_i = L_i|sin ·| (Clarke
        subdifferentials at the kinks included): the building block of the exact Goldstein measure
        of a separable f (StoSignSGD [SSG-PROTO], last row).

        φ_i'(u) = L_i cos(u mod π) decreases from L_i to −L_i between consecutive kinks and jumps
        back up at every kink kπ, where ∂φ_i = [−L_i, L_i]. Hence: if [x_i − r, x_i + r] contains a
        kink the interval is [−L_i, L_i]; otherwise, with w = x_i mod π, it is
        [L_i cos(w + r), L_i cos(w − r)].

        Returns:
            (lo, hi), each of x's shape.
        """
        r = V.nonnegative_finite("radius", radius)
        w = torch.remainder(x, math.pi)  # in [0, π); w = 0 exactly at a kink
        # the closed interval [x − r, x + r] meets a kink kπ (for r = 0: x is a kink)
        kink = (w - r <= 0) | (w + r >= math.pi)
        lo = torch.where(kink, -self.L, self.L * torch.cos(w + r))
        hi = torch.where(kink, self.L, self.L * torch.cos(w - r))
        return lo, hi


class ReLUNetL1(Problem):
    r"""ℓ1 regression with a one-hidden-layer ReLU network on fixed synthetic data [D]:

        f(θ) = (1/m) Σ_j | w₂ᵀ relu(W₁ a_j + b₁) + b₂ − y_j |,   θ = (W₁, b₁, w₂, b₂) flattened,

    with inputs a_j ~ N(0, I) and labels y_j given by a teacher network θ* of the same architecture,
    so f(θ*) = 0 = inf f (f ≥ 0): f* = 0 and x* = θ* exactly, and Δf = f(θ_0). Non-convex and
    non-smooth (kinks of the ReLUs and of |·|), differentiable almost everywhere; the gradient is
    the autograd derivative (an a.e. gradient, with relu'(0) = 0 and sign(0) = 0 — torch's choices).

    The gradient is not globally bounded (it grows with the weights), so no coordinate Lipschitz
    vector is claimed (``L = None``, ``oracle_L`` is inf): StoSignSGD [SSG-PROTO] reports only the witness bound
    of the [δ] measure on this problem.

    The oracle is the gradient of the loss on a minibatch of ``batch`` samples drawn uniformly with
    replacement (unbiased); ``batch=None`` gives the full-batch gradient. A noise model that needs
    L (``SignFlip``) is rejected.

    Args:
        inputs, width, samples: sizes (input dimension, hidden width, number of data points m).
        seed: seed of the data, the teacher and the default start θ_0 (an independent draw).
        batch: minibatch size of the oracle, or None.
    """

    convex = False

    def __init__(self, inputs: int = 3, width: int = 6, samples: int = 32, *, seed: int = 0,
                 batch: int | None = None, noise: NoiseModel | None = None, dtype: torch.dtype = torch.float64):
        inputs, width, samples = (V.integer("inputs", inputs, 1), V.integer("width", width, 1),
                                  V.integer("samples", samples, 1))
        if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
            raise ValueError(f"batch must be None or an integer >= 1, got {batch!r}")
        if isinstance(noise, SignFlip):
            raise ValueError("noise=SignFlip needs a coordinate bound L, which ReLUNetL1 does not have")
        self.inputs, self.width, self.samples, self.batch = inputs, width, samples, batch
        gen = torch.Generator().manual_seed(seed)
        self.a = torch.randn(samples, inputs, generator=gen, dtype=dtype)
        d = width * inputs + 2 * width + 1
        teacher = torch.randn(d, generator=gen, dtype=dtype) / math.sqrt(inputs)
        self.y = self._forward(teacher.unsqueeze(0), self.a)[0]
        super().__init__((d,), None, -math.inf, math.inf, f_star=0.0, x_star=teacher, noise=noise, dtype=dtype)
        self.start = torch.randn(d, generator=gen, dtype=dtype) / math.sqrt(inputs)

    def _unflatten(self, x):
        h, n = self.width, self.inputs
        W1 = x[:, : h * n].reshape(-1, h, n)
        b1 = x[:, h * n: h * n + h]
        w2 = x[:, h * n + h: h * n + 2 * h]
        b2 = x[:, -1]
        return W1, b1, w2, b2

    def _forward(self, x, a):
        """Network outputs, (S, m) for the rows of x and the inputs a (m, inputs)."""
        W1, b1, w2, b2 = self._unflatten(x)
        a = a.expand(x.shape[0], *a.shape[-2:])  # shared data (m, n) or per-row minibatches (S, b, n)
        hidden = torch.relu(torch.einsum("shn,smn->smh", W1, a) + b1[:, None, :])
        return (hidden * w2[:, None, :]).sum(-1) + b2[:, None]

    def _loss(self, x, idx=None):
        a, y = (self.a, self.y) if idx is None else (self.a[idx], self.y[idx])  # idx: (S, batch)
        return (self._forward(x, a) - y).abs().mean(-1)

    def f(self, x):
        return self._loss(x)

    def _grad(self, x, idx=None):
        # rows are independent, so the gradient of the summed loss is the per-row gradient
        with torch.enable_grad():
            z = x.detach().clone().requires_grad_(True)
            (g,) = torch.autograd.grad(self._loss(z, idx).sum(), z)
        return g

    def subgradient(self, x):
        return self._grad(x)

    def oracle(self, x, generator=None):
        if self.batch is None:
            g = self._grad(x)
        else:
            # an independent minibatch per row, so that the seeds' noises are independent
            idx = torch.randint(0, self.samples, (x.shape[0], self.batch), generator=generator)
            g = self._grad(x, idx)
        return self.noise(g, torch.zeros(self.shape, dtype=g.dtype), generator)


class RotatedSumAbsSin(Problem):
    r"""The |sin| test function of :class:`SumAbsSin` in rotated coordinates, pair by pair [D]:

        f(x) = Σ_j a_j |sin(x_{2j} + x_{2j+1})| + b_j |sin(x_{2j} − x_{2j+1})|   (0-based pairs),

    i.e. with u_j = x_{2j} + x_{2j+1} and v_j = x_{2j} − x_{2j+1}, a sum of a_j|sin u_j| and
    b_j|sin v_j|. Non-convex and non-smooth (kinks on the lines u_j = kπ and v_j = kπ), f* = 0 at
    x = 0, coordinate-Lipschitz with L_{2j} = L_{2j+1} = a_j + b_j.

    Why it is rotated: on the ridge v_j = 0 with b_j > a_j|cos u_j| the subgradient of the pair is
    (p + q, p − q) with p = ±a_j cos u_j and q = ±b_j, whose signs are (±1, ∓1): the
    *deterministic* sign points across the ridge and never along it, so signSGD (and any learner
    whose step is sign(g)) bounces across v_j = 0 and never decreases a_j|sin u_j| — the stall of
    StoSignSGD's Figure 1, here on the suggested non-convex test function of [SSG-PROTO]. The unbiased stochastic sign
    has mean g/G, whose component along the ridge is p/G ≠ 0. With b_j ≥ 3a_j|cos u_j| even
    sign(g + G⊙n/2) (noise of half the width) stalls: its mean clip(2g/G) is (±1, ∓1) there.

    The ℓ∞ Goldstein ball of radius r around a pair is the diamond |Δu| + |Δv| ≤ 2r in (u, v), so
    the Goldstein measure is bracketed by the boxes |Δu|, |Δv| ≤ r (inside) and ≤ 2r (outside)
    (:meth:`goldstein_bounds`).

    Args:
        a, b: the pair coefficients (> 0, same length m; d = 2m).
        noise: the oracle's noise model (default exact).
        start: x_0 (default: every pair at u = 0.2, v = 0, i.e. x = 0.1 — on the ridge, with
            |∂f| = 2 max(a_j cos 0.2, b_j) per pair).

    >>> p = RotatedSumAbsSin([1.0], [3.0])
    >>> p.L.tolist(), round(float(p.f(p.start_point()[None])[0]), 4)
    ([4.0, 4.0], 0.1987)
    """

    convex = False

    def __init__(self, a, b, *, noise: NoiseModel | None = None, start: torch.Tensor | None = None,
                 dtype: torch.dtype = torch.float64):
        a = torch.as_tensor(a, dtype=dtype)
        b = torch.as_tensor(b, dtype=dtype)
        for name, v in (("a", a), ("b", b)):
            if v.ndim != 1 or v.numel() < 1:
                raise ValueError(f"{name} must be a non-empty vector, got shape {tuple(v.shape)}")
            if not bool(torch.isfinite(v).all() and (v > 0).all()):
                raise ValueError(f"{name} must be finite and > 0 in every entry, got {v.tolist()!r}")
        if a.shape != b.shape:
            raise ValueError(f"a and b must have the same length, got {a.numel()} and {b.numel()}")
        self.a, self.b = a, b
        d = 2 * a.numel()
        L = (a + b).repeat_interleave(2)
        super().__init__((d,), L, -math.inf, math.inf, f_star=0.0, x_star=torch.zeros(d, dtype=dtype), noise=noise,
                         dtype=dtype)
        if start is None:
            start = torch.full((d,), 0.1, dtype=dtype)
        start = V.tensor("start", torch.as_tensor(start, dtype=dtype))
        if tuple(start.shape) != (d,):
            raise ValueError(f"start must have shape ({d},), got {tuple(start.shape)}")
        self.start = start

    @staticmethod
    def _uv(x):
        pairs = x.reshape(*x.shape[:-1], -1, 2)
        return pairs[..., 0] + pairs[..., 1], pairs[..., 0] - pairs[..., 1]

    def f(self, x):
        u, v = self._uv(x)
        return (self.a * torch.sin(u).abs() + self.b * torch.sin(v).abs()).sum(-1)

    def subgradient(self, x):
        # ∂/∂u of a|sin u| with sign(±0) := ±1 (copysign, a Clarke subgradient at the kinks), as in
        # SumAbsSin; the chain rule through u = x₀ + x₁, v = x₀ − x₁ gives (p + q, p − q)
        u, v = self._uv(x)
        p = torch.copysign(self.a, torch.sin(u)) * torch.cos(u)
        q = torch.copysign(self.b, torch.sin(v)) * torch.cos(v)
        return torch.stack((p + q, p - q), -1).flatten(-2)

    def goldstein_bounds(self, x: torch.Tensor, radius: float) -> tuple[torch.Tensor, torch.Tensor]:
        r"""(lower, upper) bounds of the Goldstein measure ‖∇f(x)‖^{r}_{1,∞} at each row of x.

        The measure is a sum over pairs (the ℓ∞ ball is a product over pairs); for one pair it is the
        smallest 2·max(|p|, |q|) over the convex hull of {(a φ'(u'), b φ'(v')) : |u' − u| + |v' − v| ≤ 2r}
        (φ = |sin|). The boxes |Δu|, |Δv| ≤ r and ≤ 2r lie inside and around that diamond, and over a
        box the hull is a product of intervals, whose smallest 2·max(|p|, |q|) is
        2·max(dist(0, P), dist(0, Q)).

        Returns:
            two tensors of shape (S,).
        """
        r = V.nonnegative_finite("radius", radius)
        x = V.tensor("x", x, min_ndim=2)
        u, v = self._uv(x)

        def bound(rho):
            pu = SumAbsSin(self.a).derivative_range(u, rho)
            qv = SumAbsSin(self.b).derivative_range(v, rho)
            return 2 * torch.maximum(interval_distance_to_zero(*pu), interval_distance_to_zero(*qv)).sum(-1)

        return bound(2 * r), bound(r)
