r"""A parametric family of box-constrained non-smooth convex problems with exact constants.

The family (StoSignSGD [SSG-PROTO] suggests its members as Theorem-4 test functions [D]) is

    f(x) = Σ_i a_i |x_i − c_i| + w |Σ_i x_i − s|,   x ∈ X = [−R, R]^d,

with a_i ≥ 0, w ≥ 0, c ∈ X and a noisy oracle ``SignFlip(p)``. Every member has closed-form
constants, so an adversarial search over the family never depends on a numerical solve:

* L_i = a_i + w bounds |∂_i f| and is attained (at the corner x = (R, …, R) whenever s < d·R,
  with the oracle's kink convention sign(0) := +1), so ‖L‖₁ = Σ a_i + d·w is the tightest
  coordinate bound of Assumption A3 (StoSignSGD [SSG-A] [R]); ``SignFlip`` keeps it (|g̃_i| ≤ L_i).
* f* by a greedy argument (see :meth:`CoupledAbs._solve`); D∞ = 2R.
"""

from __future__ import annotations

import math

import torch

from convexlab import _validation as V
from convexlab.problems.base import Problem, sign_plus
from convexlab.problems.noise import SignFlip




#: the compact parameter ranges of :meth:`CoupledAbs.from_unit` (ranges [D], chosen so that the
#: instances span separable (w = 0) to coupling-dominated (w > max a_i) members; a_i ≥ A_MIN
#: keeps ‖L‖₁ > 0 and every coordinate in play)
A_MIN, A_MAX, W_MAX = 0.01, 1.0, 2.0


class CoupledAbs(Problem):
    r"""f(x) = Σ_i a_i|x_i − c_i| + w|Σ_i x_i − s| on the box [−R, R]^d, oracle noise ``SignFlip(p)``.

    Subgradient (sign(0) := +1 at kinks): g_i = a_i·sign(x_i − c_i) + w·sign(Σx − s), so
    |g_i| ≤ L_i = a_i + w, attained at x = (R, …, R) when s < dR (x_i − c_i ≥ 0 and Σx − s > 0).
    f* in closed form (greedy, :meth:`_solve`). When w > max_i a_i every coordinate of sign(g)
    equals sign(Σx − s): SignSGD then moves only along (1, …, 1) and cannot reduce the spread of
    x − c across coordinates (the Figure-1 mechanism of StoSignSGD [SSG-FIG1] [R], in d dimensions).

    Args:
        a: per-coordinate weights a_i ≥ 0 (length d).
        w: coupling weight ≥ 0.
        c: kink locations, inside the box (length d).
        s: the coupling target (any finite number).
        radius: R > 0 (box [−R, R]^d, D∞ = 2R).
        start: x_1 (default the box centre), inside the box.
        p: oracle noise level of :class:`~convexlab.problems.noise.SignFlip` (p = 0: exact).

    Raises:
        ValueError: negative weights, ‖L‖₁ = 0, c or start outside the box, mismatched lengths.

    >>> prob = CoupledAbs([1.0, 0.5], 0.0, [0.0, 0.0], 0.0)
    >>> prob.f_star, prob.L.tolist(), prob.D_inf
    (0.0, [1.0, 0.5], 2.0)
    """

    def __init__(self, a, w: float, c, s: float, radius: float = 1.0, start=None, p: float = 0.0,
                 dtype=torch.float64):
        a = torch.as_tensor(a, dtype=dtype).reshape(-1)
        c = torch.as_tensor(c, dtype=dtype).reshape(-1)
        d = a.numel()
        if d < 1:
            raise ValueError(f"a must have at least one entry, got {a.tolist()!r}")
        if c.numel() != d:
            raise ValueError(f"c must have the length of a ({d}), got {c.numel()}")
        R = V.positive_finite("radius", radius)
        if not bool(torch.isfinite(a).all()) or bool((a < 0).any()):
            raise ValueError(f"a must be finite and >= 0, got {a.tolist()!r}")
        w, s = V.nonnegative_finite("w", float(w)), float(s)
        if not math.isfinite(s):
            raise ValueError(f"s must be a finite number, got {s!r}")
        if float(a.sum()) + d * w <= 0:
            raise ValueError("a and w must not all be 0 (‖L‖₁ = Σa_i + d·w must be > 0)")
        if not bool(torch.isfinite(c).all()) or bool((c.abs() > R).any()):
            raise ValueError(f"c must lie in the box [−{R:g}, {R:g}]^{d}, got {c.tolist()!r}")
        super().__init__((d,), a + w, -R, R, noise=SignFlip(p), dtype=dtype)
        self.a, self.w, self.c, self.s, self.radius, self.p = a, w, c, s, R, float(p)
        if start is not None:
            start = torch.as_tensor(start, dtype=dtype).reshape(-1)
            if start.numel() != d or not bool(torch.isfinite(start).all()) or bool((start.abs() > R).any()):
                raise ValueError(f"start must be a point of the box [−{R:g}, {R:g}]^{d}, got {start.tolist()!r}")
        self.start = start

    @classmethod
    def n_params(cls, d: int) -> int:
        """Length of the unit-cube parameter vector of :meth:`from_unit`: a (d), w, c (d), s, x₁ (d), p."""
        return 3 * d + 3

    @classmethod
    def from_unit(cls, theta, d: int, radius: float = 1.0) -> "CoupledAbs":
        r"""The member with parameters θ ∈ [0, 1]^{3d+3} mapped affinely onto the compact set

            a_i ∈ [A_MIN, A_MAX], w ∈ [0, W_MAX], c ∈ [−R, R]^d, s ∈ [−dR/2, dR/2],
            x₁ ∈ [−R, R]^d, p ∈ [0, 1]

        (θ = (a, w, c, s, x₁, p) in this order). s < dR keeps L attained (class docstring).

        Raises:
            ValueError: ``d`` < 1, or θ of the wrong length or outside [0, 1].
        """
        d = V.integer("d", d, 1)
        th = torch.as_tensor(theta, dtype=torch.float64).reshape(-1)
        if th.numel() != cls.n_params(d):
            raise ValueError(f"theta must have {cls.n_params(d)} entries for d = {d}, got {th.numel()}")
        if not bool(torch.isfinite(th).all()) or bool((th < 0).any()) or bool((th > 1).any()):
            raise ValueError(f"theta must lie in [0, 1]^{cls.n_params(d)}, got {th.tolist()!r}")
        R = float(radius)
        a = A_MIN + (A_MAX - A_MIN) * th[:d]
        w = W_MAX * float(th[d])
        c = R * (2 * th[d + 1: 2 * d + 1] - 1)
        s = d * R * (float(th[2 * d + 1]) - 0.5)
        x1 = R * (2 * th[2 * d + 2: 3 * d + 2] - 1)
        p = float(th[3 * d + 2])
        return cls(a, w, c, s, radius=R, start=x1, p=p)

    def f(self, x):
        return (self.a * (x - self.c).abs()).sum(-1) + self.w * (x.sum(-1) - self.s).abs()

    def subgradient(self, x):
        return self.a * sign_plus(x - self.c) + self.w * sign_plus(x.sum(-1, keepdim=True) - self.s)

    def _solve(self) -> tuple[float, torch.Tensor]:
        r"""Closed-form minimiser (greedy on the sum).

        With δ := s − Σc ≥ 0 (else mirror), moving the total Σx from Σc towards s costs a_i per unit
        on coordinate i (capacity R − c_i upwards); moving a coordinate downwards, or past s, only
        adds cost. So f restricted to Σx = Σc + u is convex piecewise linear in u with slopes
        a_(1) ≤ a_(2) ≤ … (greedy in increasing a_i) minus w, and the optimum moves coordinates in
        increasing order of a_i while a_i < w, up to the remaining gap or the box.
        """
        x = self.c.clone()
        gap = self.s - float(self.c.sum())
        direction = 1.0 if gap >= 0 else -1.0
        remaining = abs(gap)
        for i in torch.argsort(self.a, stable=True).tolist():
            if remaining <= 0 or float(self.a[i]) >= self.w:
                break
            capacity = self.radius - direction * float(self.c[i])
            u = min(capacity, remaining)
            x[i] += direction * u
            remaining -= u
        f_star = float(self.f(x.unsqueeze(0))[0])
        return f_star, x

    def __repr__(self) -> str:
        return (f"CoupledAbs(a={[round(v, 4) for v in self.a.tolist()]}, w={self.w:.4g}, "
                f"c={[round(v, 4) for v in self.c.tolist()]}, s={self.s:.4g}, R={self.radius:g}, p={self.p:.3g})")
