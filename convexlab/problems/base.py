r"""The problem interface shared by the simulator and the theory checks.

A problem is batched: a point is a tensor of shape (S, *shape) — one row per independent run —
and :meth:`Problem.f`, :meth:`Problem.subgradient` and :meth:`Problem.oracle` act row by row, so
simulations of many seeds never mix rows. ``shape`` is ``(d,)`` for vector problems and ``(m, n)``
for matrix problems.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from convexlab.problems.noise import Exact, NoiseModel

_SOLUTIONS: dict[tuple, tuple[float, torch.Tensor]] = {}


def sign_plus(x: torch.Tensor) -> torch.Tensor:
    """sign with sign(0) := +1 (also for −0): a valid subgradient of |·| at 0 (∂|·|(0) = [−1, 1]).

    Computed as sign(sign(x) + ½), two elementwise passes with no mask tensors."""
    return torch.sign(x).add_(0.5).sign_()


def cached_solution(key: tuple, solve: Callable[[], tuple[float, torch.Tensor]]) -> tuple[float, torch.Tensor]:
    """(f*, x*) from ``solve()`` (e.g. a cvxpy solve), computed on first use and cached under ``key``
    for the life of the process (problems built with the same data share one solve)."""
    if key not in _SOLUTIONS:
        f_star, x_star = solve()
        _SOLUTIONS[key] = (float(f_star), x_star.detach().clone())
    f_star, x_star = _SOLUTIONS[key]
    return f_star, x_star.clone()


class Problem:
    r"""An objective on a box X = Π[low_i, high_i] (or unconstrained: ±inf), with the constants the
    theorems need.

    Attributes:
        shape: the shape of one point ((d,) or (m, n)); ``dim`` = its number of entries.
        L: coordinate bounds on the exact subgradients, |∂_i f| ≤ L_i (tensor of ``shape``), or
            None when f is not Lipschitz (a quadratic).
        low, high: the box; D∞ = max_i (high_i − low_i).
        smoothness: L-smoothness constant of f (w.r.t. ‖·‖₂ unless the class says otherwise), or
            None for non-smooth f.
        noise: the :class:`~convexlab.problems.noise.NoiseModel` of :meth:`oracle`.
        convex: whether f is convex.

    Subclasses implement ``f`` and ``subgradient`` and either pass ``f_star``/``x_star`` or
    override :meth:`_solve` (closed form or a cvxpy solve, cached on first use).
    """

    convex: bool = True

    def __init__(self, shape, L, low, high, *, f_star: float | None = None, x_star: torch.Tensor | None = None,
                 smoothness: float | None = None, noise: NoiseModel | None = None, dtype=torch.float64):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.L = None if L is None else torch.as_tensor(L, dtype=dtype).expand(self.shape).clone()
        self.low = torch.as_tensor(low, dtype=dtype).expand(self.shape).clone()
        self.high = torch.as_tensor(high, dtype=dtype).expand(self.shape).clone()
        if not bool((self.low < self.high).all()):
            raise ValueError("low must be < high in every coordinate")
        self._f_star = None if f_star is None else float(f_star)
        self._x_star = None if x_star is None else torch.as_tensor(x_star, dtype=dtype)
        self.smoothness = smoothness
        if noise is not None and not isinstance(noise, NoiseModel):
            raise ValueError(f"noise must be a convexlab.problems.noise.NoiseModel, got {noise!r}")
        self.noise = noise or Exact()

    # ---- constants -------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return math.prod(self.shape)

    @property
    def D_inf(self) -> float:
        """ℓ∞ diameter of the box, sup_{x,y∈X} ‖x − y‖∞."""
        return float((self.high - self.low).max())

    @property
    def box(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.low, self.high

    @property
    def bounded(self) -> bool:
        return bool(torch.isfinite(self.low).all() and torch.isfinite(self.high).all())

    @property
    def oracle_L(self) -> torch.Tensor:
        """Almost-sure coordinate bound of :meth:`oracle`'s output (the L of Assumption A3)."""
        if self.L is None:
            return torch.full(self.shape, math.inf, dtype=self.dtype)
        return self.noise.oracle_bound(self.L)

    def _solve(self) -> tuple[float, torch.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} has no known minimiser")

    @property
    def f_star(self) -> float:
        """min_X f (closed form, or solved on first use and cached)."""
        if self._f_star is None:
            self._f_star, self._x_star = self._solve()
        return self._f_star

    @property
    def x_star(self) -> torch.Tensor:
        """A minimiser of f on X."""
        if self._x_star is None:
            self._f_star, self._x_star = self._solve()
        return self._x_star

    def delta_f(self, x0: torch.Tensor) -> float:
        """Δf = f(x0) − f* (the initial gap of the non-convex and averaged bounds)."""
        return float(self.f(x0.reshape(1, *self.shape).to(self.dtype))[0]) - self.f_star

    def start_point(self) -> torch.Tensor:
        """The default x_1: ``self.start`` if set, else the box centre (0 where unbounded)."""
        start = getattr(self, "start", None)
        if start is not None:
            return start
        centre = (self.low + self.high) / 2
        return torch.where(torch.isfinite(centre), centre, torch.zeros_like(centre))

    # ---- evaluation ------------------------------------------------------------------------
    def f(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Objective at each row of x (shape (S, *shape)) → (S,)."""
        raise NotImplementedError

    def subgradient(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """An exact (sub)gradient at each row of x → (S, *shape)."""
        raise NotImplementedError

    def oracle(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A stochastic (sub)gradient: the exact one passed through :attr:`noise` (unbiased)."""
        g = self.subgradient(x)
        L = self.L if self.L is not None else torch.zeros(self.shape, dtype=g.dtype)
        return self.noise(g, L, generator)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """Euclidean (= every weighted-diagonal) projection onto the box."""
        return torch.maximum(torch.minimum(x, self.high), self.low)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self.shape}, D_inf={self.D_inf:g}, noise={self.noise!r})"


class Instance:
    r"""The ``problem`` a subject factory receives: a problem (or a game, or a setting) plus the
    constants of the statement under test, readable as attributes.

    ``Instance(problem, horizon=T, seed=s)`` answers ``.D_inf``, ``.box``, ``.L`` … from
    ``problem`` and ``.horizon``, ``.seed`` … from the keywords (keywords win). Each subject kind
    documents which constants it carries (:data:`convexlab.theory.mutants.SUBJECT_KINDS`).
    """

    def __init__(self, problem=None, **constants):
        object.__setattr__(self, "problem", problem)
        object.__setattr__(self, "constants", dict(constants))

    def __getattr__(self, name):
        constants = object.__getattribute__(self, "constants")
        if name in constants:
            return constants[name]
        problem = object.__getattribute__(self, "problem")
        if problem is not None:
            return getattr(problem, name)
        raise AttributeError(f"this instance carries no constant {name!r}; it has {sorted(constants)}")

    def __setattr__(self, name, value):
        raise AttributeError("an Instance is read-only")

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.constants.items())
        return f"Instance({self.problem!r}, {inner})"
