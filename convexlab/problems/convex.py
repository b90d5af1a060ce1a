r"""Non-smooth convex problems on boxes with exact coordinate Lipschitz vectors (StoSignSGD tests).

Every problem lives on the box X = [−R, R]^d (so D∞ = 2R), is batched (rows of a (S, d) tensor are
independent points) and declares the vector L of Assumptions A2/A3 of the StoSignSGD [SSG-A] [R]:
|∂_i f(x)| ≤ L_i for every subgradient the oracle can return at every x ∈ X. The Theorem-4 bound
√2·D∞‖L‖₁/√T (StoSignSGD [SSG-T4] [P]) is stated with this L (with a bounded noise model, ``oracle_L`` = L).

Subgradient oracles pick one element of ∂f at kinks, always a valid one, documented per class; the
default choice is sign(0) := +1 for |·| terms (as in :class:`~convexlab.problems.TwoDimensionalAbs`).
f* and x* come from a cvxpy solve (Clarabel) cached on first use under a key built from the data,
so two problems built from the same data share one solve (:func:`~convexlab.problems.cached_solution`);
the cached x* is clipped to the box and f* := f(x*) in this module's arithmetic, which exceeds the
exact minimum by at most the solver tolerance (about 1e−8, negligible against the bounds checked).

* :class:`WeightedL1Coupling` — Σ_i a_i|x_i − c_i| + |Σ_i x_i|, L_i = a_i + 1 (StoSignSGD [SSG-PROTO] [D]).
* :class:`L1Regression` — (1/n)‖Ax − b‖₁, L_i = (1/n)Σ_j |A_ji|.
* :class:`HingeSVM` — (1/n)Σ_j max(0, 1 − y_j⟨x_j, w⟩) + λ‖w‖₁, L_i = (1/n)Σ_j |X_ji| + λ.
* :class:`MaxAffine` — max_j (⟨a_j, x⟩ + b_j), L_i = max_j |a_ji|.
* :class:`SignGame` — the linear product-of-1-D-games instance ⟨q ⊙ s ⊙ L, x⟩ whose oracle bound L
  exceeds |∇f| = qL: with pure sign-flip noise every oracle coordinate is a ±L_i coin of bias q
  (the Ω(D∞‖L‖₁/√T) lower-bound construction, StoSignSGD [SSG-LB] [R]).
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import torch

from convexlab import _validation as V
from convexlab.problems.base import Problem, cached_solution, sign_plus


def _data(name: str, value, dtype, ndim: int) -> torch.Tensor:
    """A finite float tensor of ``ndim`` dimensions (data passed by the user)."""
    t = torch.as_tensor(value, dtype=dtype)
    if t.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite, got {int((~torch.isfinite(t)).sum())} non-finite entries")
    return t


def _digest(*tensors: torch.Tensor) -> str:
    h = hashlib.sha1()
    for t in tensors:
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().to(torch.float64).numpy().tobytes())
    return h.hexdigest()


def _column_scales(d: int, span: float = 1.0) -> torch.Tensor:
    """Heterogeneous coordinate scales 10^{−span/2} … 10^{span/2} (so that ‖L‖₁ ≪ √d‖L‖₂ matters)."""
    return torch.logspace(-span / 2, span / 2, d, dtype=torch.float64)



def _paired_data(names: tuple[str, str], M, v, default, *, seed, d, n, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """A data matrix M (n×d) and vector v (n) given together, or the seeded ``default(gen, d, n)``;
    validated, with matching lengths."""
    a, b = names
    if (M is None) != (v is None):
        raise ValueError(f"{a} and {b} must be given together (or both None for the seeded default)")
    if M is None:
        gen = torch.Generator().manual_seed(V.integer("seed", seed, None))
        M, v = default(gen, V.integer("d", d, 1), V.integer("n", n, 1))
    M, v = _data(a, M, dtype, 2), _data(b, v, dtype, 1)
    if v.shape[0] != M.shape[0]:
        raise ValueError(f"{b} must have {a}.shape[0] = {M.shape[0]} entries, got {v.shape[0]}")
    return M, v

class _BoxProblem(Problem):
    """A problem on [−R, R]^d whose f* and x* come from a cached cvxpy solve of ``_cvxpy``."""

    def __init__(self, d: int, L: torch.Tensor, radius: float, noise, dtype):
        self.radius = V.positive_finite("radius", radius)
        super().__init__((d,), L, -self.radius, self.radius, noise=noise, dtype=dtype)

    def _key(self) -> tuple:  # pragma: no cover - abstract
        raise NotImplementedError

    def _cvxpy(self, x, cp):  # pragma: no cover - abstract
        """The cvxpy objective in the variable ``x``."""
        raise NotImplementedError

    def _solve(self) -> tuple[float, torch.Tensor]:
        def solve():
            import cvxpy as cp

            x = cp.Variable(self.dim)
            prob = cp.Problem(cp.Minimize(self._cvxpy(x, cp)), [x >= -self.radius, x <= self.radius])
            prob.solve(solver=cp.CLARABEL)
            if prob.status not in ("optimal", "optimal_inaccurate"):
                raise RuntimeError(f"cvxpy could not solve {type(self).__name__}: status {prob.status}")
            x_star = self.project(torch.as_tensor(np.asarray(x.value), dtype=self.dtype))
            return float(self.f(x_star[None])[0]), x_star

        return cached_solution((type(self).__name__, self.radius, self._key()), solve)


class WeightedL1Coupling(_BoxProblem):
    r"""f(x) = Σ_i a_i|x_i − c_i| + |Σ_i x_i| on [−R, R]^d (StoSignSGD [SSG-PROTO] [D]).

    Subgradient: a ⊙ sign(x − c) + sign(Σ_i x_i)·1 with sign(0) := +1 at the kinks (a valid element
    of ∂f), so |∂_i f| ≤ L_i = a_i + 1 (attained). The coupling term |Σx| moves x* off c, so x* is
    not separable; f* and x* by cvxpy, cached.

    Args:
        d: dimension (used when ``a`` is None).
        a: positive weights (default: logspace 10^{−1} … 10^{1}, heterogeneous L).
        c: centres (default: seeded uniform on [−R/2, R/2]^d, or with ``centres="outside"`` seeded
            c_i = ±R(1.2 + 0.8u_i), u_i ~ U[0, 1]: outside the box, so x* sits on its faces).
        radius: R > 0, the box half-width (D∞ = 2R).
        seed: seed of the default data.
        noise: the oracle's noise model (:class:`~convexlab.problems.SignFlip` keeps oracle_L = L).

    >>> p = WeightedL1Coupling(d=3, a=[1.0, 2.0, 3.0], c=[0.0, 0.0, 0.0])
    >>> p.L.tolist(), p.D_inf, round(p.f_star, 6)
    ([2.0, 3.0, 4.0], 2.0, 0.0)
    """

    def __init__(self, d: int = 8, a=None, c=None, *, radius: float = 1.0, seed: int = 0, noise=None,
                 dtype: torch.dtype = torch.float64, centres: str = "inside"):
        if centres not in ("inside", "outside"):
            raise ValueError(f"centres must be 'inside' or 'outside', got {centres!r}")
        gen = torch.Generator().manual_seed(V.integer("seed", seed, None))
        if a is None:
            a = torch.logspace(-1, 1, V.integer("d", d, 1), dtype=dtype)
        a = _data("a", a, dtype, 1)
        if not bool((a > 0).all()):
            raise ValueError(f"a must be positive, got min {float(a.min())!r}")
        d = a.numel()
        R = V.positive_finite("radius", radius)
        if c is None and centres == "outside":
            mag = R * (1.2 + 0.8 * torch.rand(d, generator=gen, dtype=torch.float64))
            c = mag * torch.where(torch.rand(d, generator=gen, dtype=torch.float64) < 0.5, -1.0, 1.0)
        elif c is None:
            c = (torch.rand(d, generator=gen, dtype=torch.float64) - 0.5) * R
        c = _data("c", c, dtype, 1)
        if c.shape != a.shape:
            raise ValueError(f"c must have the shape of a, {tuple(a.shape)}, got {tuple(c.shape)}")
        self.a, self.c = a, c
        super().__init__(d, a + 1.0, R, noise, dtype)

    def _key(self):
        return _digest(self.a, self.c)

    def _cvxpy(self, x, cp):
        return self.a.numpy() @ cp.abs(x - self.c.numpy()) + cp.abs(cp.sum(x))

    def f(self, x):
        return (self.a * (x - self.c).abs()).sum(-1) + x.sum(-1).abs()

    def subgradient(self, x):
        return self.a * sign_plus(x - self.c) + sign_plus(x.sum(-1, keepdim=True))


class L1Regression(_BoxProblem):
    r"""f(x) = (1/n)‖Ax − b‖₁ on [−R, R]^d (least absolute deviations).

    Subgradient: (1/n)Aᵀ sign(Ax − b) with sign(0) := +1 on residuals that vanish (valid), so
    |∂_i f| ≤ L_i = (1/n)Σ_j |A_ji|. Default data: A_ji = N(0, 1)·s_i with heterogeneous column scales
    s (logspace over one decade), b = A x° + Laplace(0.1) noise with x° uniform in [−R/2, R/2]^d, or
    x° = ``planted``·(seeded ±1) (outside the box for planted > R: x* then sits on its faces).

    Args:
        A, b: the data (n×d and n), or None for the seeded default of size ``n``×``d``.
        planted: the planted solution's ℓ∞ size (None: uniform in [−R/2, R/2]^d).
        d, n, radius, seed, noise: as in :class:`WeightedL1Coupling`.
    """

    def __init__(self, A=None, b=None, *, d: int = 8, n: int = 32, radius: float = 1.0, seed: int = 0, noise=None,
                 dtype: torch.dtype = torch.float64, planted: float | None = None):
        R = V.positive_finite("radius", radius)
        if planted is not None:
            planted = V.positive_finite("planted", planted)

        def default(gen, d, n):
            A = torch.randn(n, d, generator=gen, dtype=torch.float64) * _column_scales(d)
            u0 = torch.rand(d, generator=gen, dtype=torch.float64)
            x0 = (u0 - 0.5) * R if planted is None else planted * torch.where(u0 < 0.5, -1.0, 1.0).to(torch.float64)
            # seeded Laplace(0.1) residuals by the inverse CDF (torch's sampler takes no generator)
            u = torch.rand(n, generator=gen, dtype=torch.float64).clamp(1e-12, 1 - 1e-12)
            return A, A @ x0 + torch.distributions.Laplace(0.0, 0.1).icdf(u)

        A, b = _paired_data(("A", "b"), A, b, default, seed=seed, d=d, n=n, dtype=dtype)
        self.A, self.b = A, b
        super().__init__(A.shape[1], A.abs().mean(0), R, noise, dtype)

    def _key(self):
        return _digest(self.A, self.b)

    def _cvxpy(self, x, cp):
        return cp.norm1(self.A.numpy() @ x - self.b.numpy()) / self.A.shape[0]

    def f(self, x):
        return (x @ self.A.T - self.b).abs().mean(-1)

    def subgradient(self, x):
        return sign_plus(x @ self.A.T - self.b) @ self.A / self.A.shape[0]


class HingeSVM(_BoxProblem):
    r"""f(w) = (1/n)Σ_j max(0, 1 − y_j⟨x_j, w⟩) + λ‖w‖₁ on [−R, R]^d (ℓ1-regularised SVM).

    Subgradient: −(1/n)Σ_{j: margin < 1} y_j x_j + λ sign(w), taking the element 0 of the hinge's
    subdifferential [−y_j x_j, 0] where the margin is exactly 1 and sign(0) := +1 (both valid).
    |∂_i f| ≤ L_i = (1/n)Σ_j |X_ji| + λ. Default data: x_j = N(0, I)·s (heterogeneous scales),
    y_j = sign(⟨x_j, w°⟩ + 0.5·N(0, 1)) with w° ~ N(0, I) (not separable: f* > 0).

    Args:
        X, y: features (n×d) and labels in {−1, +1} (n), or None for the seeded default.
        reg: λ ≥ 0, the ℓ1 weight.
        d, n, radius, seed, noise: as in :class:`WeightedL1Coupling`.
    """

    def __init__(self, X=None, y=None, *, reg: float = 0.0, d: int = 8, n: int = 40, radius: float = 1.0,
                 seed: int = 0, noise=None, dtype: torch.dtype = torch.float64):
        R = V.positive_finite("radius", radius)
        reg = V.nonnegative_finite("reg", reg)
        def default(gen, d, n):
            X = torch.randn(n, d, generator=gen, dtype=torch.float64) * _column_scales(d)
            w0 = torch.randn(d, generator=gen, dtype=torch.float64)
            return X, sign_plus(X @ w0 + 0.5 * torch.randn(n, generator=gen, dtype=torch.float64))

        X, y = _paired_data(("X", "y"), X, y, default, seed=seed, d=d, n=n, dtype=dtype)
        if not bool((y.abs() == 1).all()):
            raise ValueError("y must contain labels in {-1, +1}")
        self.X, self.y, self.reg = X, y, reg
        super().__init__(X.shape[1], X.abs().mean(0) + reg, R, noise, dtype)

    def _key(self):
        return (_digest(self.X, self.y), self.reg)

    def _cvxpy(self, w, cp):
        hinge = cp.sum(cp.pos(1 - cp.multiply(self.y.numpy(), self.X.numpy() @ w))) / self.X.shape[0]
        return hinge + self.reg * cp.norm1(w) if self.reg else hinge

    def _margins(self, w):
        return self.y * (w @ self.X.T)

    def f(self, w):
        out = (1 - self._margins(w)).clamp_min(0).mean(-1)
        return out + self.reg * w.abs().sum(-1) if self.reg else out

    def subgradient(self, w):
        active = (self._margins(w) < 1).to(w.dtype)
        g = -(active * self.y) @ self.X / self.X.shape[0]
        return g + self.reg * sign_plus(w) if self.reg else g


class MaxAffine(_BoxProblem):
    r"""f(x) = max_j (⟨a_j, x⟩ + b_j) on [−R, R]^d (a polyhedral, everywhere-kinked objective).

    Subgradient: a_{j*} for the first maximising index j* (ties broken by the smallest index; any
    active a_j is a valid subgradient), so |∂_i f| ≤ L_i = max_j |a_ji|. Default data: a_j = N(0, I)·s
    (heterogeneous scales), b_j = 0.5·N(0, 1).

    Args:
        A, b: the rows a_j (n×d) and offsets (n), or None for the seeded default.
        d, n, radius, seed, noise: as in :class:`WeightedL1Coupling`.
    """

    def __init__(self, A=None, b=None, *, d: int = 8, n: int = 16, radius: float = 1.0, seed: int = 0, noise=None,
                 dtype: torch.dtype = torch.float64):
        R = V.positive_finite("radius", radius)
        def default(gen, d, n):
            A = torch.randn(n, d, generator=gen, dtype=torch.float64) * _column_scales(d)
            return A, 0.5 * torch.randn(n, generator=gen, dtype=torch.float64)

        A, b = _paired_data(("A", "b"), A, b, default, seed=seed, d=d, n=n, dtype=dtype)
        self.A, self.b = A, b
        super().__init__(A.shape[1], A.abs().amax(0), R, noise, dtype)

    def _key(self):
        return _digest(self.A, self.b)

    def _cvxpy(self, x, cp):
        return cp.max(self.A.numpy() @ x + self.b.numpy())

    def f(self, x):
        return (x @ self.A.T + self.b).amax(-1)

    def subgradient(self, x):
        return self.A[(x @ self.A.T + self.b).argmax(-1)]


class SignGame(Problem):
    r"""The product of 1-D coin games f(x) = Σ_i q·s_i·L_i·x_i on [−R, R]^d (a lower-bound instance).

    s_i = ±1 (seeded), q ∈ (0, 1]. f is linear, x* = −R·s, f* = −R·q‖L‖₁. The declared L is the
    bound of Assumption A3 on the *oracle* and deliberately exceeds |∇f| = qL: with
    ``noise=SignFlip(1.0)`` every oracle coordinate is L_i·ξ_i with ξ_i = ±1 and E ξ_i = q·s_i, a coin
    whose bias q is the whole signal (the Ω(D∞‖L‖₁/√T) product-of-1-D-games construction, StoSignSGD [SSG-T4]
    [R]). StoSignSGD then performs a random walk with steps ±η_t and drift qη_t towards the face
    x* of the box; the averaged gap stays of order D∞‖L‖₁/√T (the rate of Theorem 4 is attained).

    Args:
        d: dimension; L: the oracle bounds (default logspace 1 … 10, heterogeneous);
        q: the coin bias in (0, 1]; radius, seed, noise: as in :class:`WeightedL1Coupling`.
    """

    def __init__(self, d: int = 4, q: float = 0.2, L=None, *, radius: float = 1.0, seed: int = 0, noise=None,
                 dtype: torch.dtype = torch.float64):
        q = float(q) if not isinstance(q, bool) else math.nan
        if not (0.0 < q <= 1.0):
            raise ValueError(f"q must lie in (0, 1], got {q!r}")
        if L is None:
            L = torch.logspace(0, 1, V.integer("d", d, 1), dtype=dtype)
        L = _data("L", L, dtype, 1)
        if not bool((L > 0).all()):
            raise ValueError(f"L must be positive, got min {float(L.min())!r}")
        R = V.positive_finite("radius", radius)
        gen = torch.Generator().manual_seed(V.integer("seed", seed, None))
        self.s = sign_plus(torch.rand(L.numel(), generator=gen, dtype=torch.float64) - 0.5).to(dtype)
        self.q, self.radius = q, R
        self.a = q * self.s * L
        super().__init__((L.numel(),), L, -R, R, f_star=-R * q * float(L.sum()), x_star=-R * self.s, noise=noise,
                         dtype=dtype)

    def f(self, x):
        return x @ self.a

    def subgradient(self, x):
        return self.a.expand_as(x).clone()
