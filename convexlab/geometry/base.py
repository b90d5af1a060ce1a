r"""The geometry abstraction: a regularizer ψ, its Fenchel conjugate ψ*, and the direction ∇ψ*.

Every optimizer in convexlab takes a step ``x ← x − lr · direction(m)`` where ``direction`` is the
gradient of a named conjugate (README, "What convexlab is"). Equivalently the step solves

.. math::  d = \operatorname{argmax}_d\ \langle m, d\rangle - ψ(d) = ∇ψ^*(m),

so the Fenchel–Young identities ψ(∇ψ*(m)) + ψ*(m) = ⟨m, ∇ψ*(m)⟩ can be checked for every geometry by
one piece of code (``convexlab.theory.identities``).

Shapes: a *separable* geometry acts coordinate-wise; ``regularizer`` and ``conjugate`` sum over the
last dimension (``event_ndim = 1``) and keep the leading (batch) dimensions; ``direction`` keeps the
shape. ``Spectral`` geometries act on matrices, sum over the last two dimensions (``event_ndim = 2``).
"""

from __future__ import annotations

import torch

from convexlab import _validation as V



#: every subclass of :class:`Geometry`, in definition order (filled by ``__init_subclass__``)
_CLASSES: list = []


def geometry_classes(declared: bool = True) -> list:
    """The :class:`Geometry` subclasses defined so far (importing :mod:`convexlab.geometry` defines
    the package's own), in definition order; with ``declared`` only those that declare their own
    :meth:`~Geometry.examples` (a subclass that inherits them, e.g. a deliberately broken variant in
    a test, is not a geometry to certify)."""
    return [c for c in _CLASSES if not declared or "examples" in vars(c)]


class Geometry:
    r"""Base class. Subclasses implement ``_regularizer``, ``_conjugate`` and ``_direction``.

    Attributes:
        event_ndim: number of trailing dimensions that form one vector (1) or matrix (2).
        strong_convexity: μ such that ψ is μ-strongly convex w.r.t. ‖·‖₂ (Frobenius for matrices);
            ``None`` when ψ is not strongly convex (e.g. the indicator of the ℓ∞ ball). Then ψ* is
            (1/μ)-smooth. Source: Softsign (arXiv 2605.31371) [SS-FAMILY] table.
        stochastic: whether ``sample`` draws a random direction whose mean is ``direction``.
        source: where the closed forms of this geometry come from (paper and statement id of
            docs/statements.md); the identity checks cite it.
        provenance: the provenance tag of those closed forms (docs/statements.md#provenance-legend).

    A geometry registers where it is defined: every subclass is recorded (:func:`geometry_classes`)
    and its :meth:`examples` are the instances the identity checks of ``convexlab check`` run on, so
    a new geometry is checked by defining it (``tests/test_architecture.py`` fails on a subclass
    that declares no examples).
    """

    event_ndim: int = 1
    strong_convexity: float | None = None
    stochastic: bool = False
    source: str = "Softsign (arXiv 2605.31371) [SS-FAMILY]"
    provenance: str = "DER"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _CLASSES.append(cls)

    @classmethod
    def examples(cls) -> dict:
        """Label → instance: the instances of this class that the identity checks (Fenchel–Young,
        autograd, constants, numeric conjugates, the optimizers' step path) are registered on.
        Every subclass declares its own (an empty dict says: checked elsewhere, with the reason in
        its docstring)."""
        return {}

    def provenance_of(self, identity: str) -> str:
        """The provenance tag of one identity (``"conjugate.scalar_sup"``, ...) of this geometry;
        :attr:`provenance` unless a subclass knows better."""
        return self.provenance

    def cvxpy_regularizer(self, d):
        """ψ(d) as a cvxpy expression and a list of constraints (for the numeric-conjugate checks);
        ``NotImplementedError`` where cvxpy cannot express ψ."""
        raise NotImplementedError(f"no cvxpy form for {self!r}")

    # -- public API (validated) ------------------------------------------------------------
    def regularizer(self, d: torch.Tensor) -> torch.Tensor:
        r"""ψ(d), +inf outside the domain, reduced over the last ``event_ndim`` dimensions."""
        d = V.tensor("d", d, min_ndim=self.event_ndim)
        return self._regularizer(d)

    def conjugate(self, m: torch.Tensor) -> torch.Tensor:
        r"""ψ*(m) = sup_d ⟨m, d⟩ − ψ(d), reduced over the last ``event_ndim`` dimensions."""
        m = V.tensor("m", m, min_ndim=self.event_ndim)
        return self._conjugate(m)

    def direction(self, m: torch.Tensor) -> torch.Tensor:
        r"""∇ψ*(m), the maximiser of ⟨m, d⟩ − ψ(d); same shape as ``m``."""
        m = V.tensor("m", m, min_ndim=self.event_ndim)
        return self._direction(m)

    def sample(self, m: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        r"""The direction an optimizer applies. Deterministic geometries return ``direction(m)``;
        stochastic ones draw a random direction whose expectation is ``direction(m)``."""
        return self.direction(m)

    # -- the optimizers' path (multi-tensor, unvalidated, no host synchronisation) ----------
    def step_directions(self, ms: list, *, scales: list | None = None,
                        generator: torch.Generator | None = None) -> list:
        r"""∇ψ*(m) for every tensor of ``ms`` (a stochastic geometry returns its draw, whose mean is
        ∇ψ*(m)): the map the optimizers apply, without the validation of :meth:`direction`.

        ``scales`` (one positive tensor per entry, broadcastable to it) is the per-coordinate scale σ
        of the perspective ψ_σ(d) = Σ_i σ_i v(d_i), whose conjugate is ψ_σ*(m) = Σ_i σ_i v*(m_i/σ_i)
        and direction ∇ψ_σ*(m) = (v*)'(m/σ): the metric √v̂ + ε of AdamW for :class:`Euclidean`, the
        envelope G for :class:`StochasticSign`. Only separable geometries accept it.

        The result may alias ``ms`` (the Euclidean direction is m itself): callers must not
        modify it in place while they still need m.
        """
        if scales is not None:
            raise ValueError(f"{self!r} is not separable: it takes no per-coordinate scales")
        return [self._direction(m) for m in ms]

    def add_direction_(self, xs: list, ms: list, alpha: float, *, scales: list | None = None,
                       generator: torch.Generator | None = None, scratch: bool = False) -> None:
        r"""x ← x + α·∇ψ_σ*(m) in place for every pair (x, m) (see :meth:`step_directions`), fused
        where the geometry allows it (for example one ``addcdiv`` for a scaled Euclidean step).
        ``scratch=True`` says that ``ms`` are temporaries of the caller (a Lion interpolation, a
        Nesterov look-ahead): a geometry may then compute its direction in their storage."""
        ds = self.step_directions(ms, scales=scales, generator=generator)
        torch._foreach_add_(xs, [d if d.dtype == x.dtype else d.to(x.dtype) for d, x in zip(ds, xs)], alpha=alpha)

    # -- helpers ---------------------------------------------------------------------------
    def _reduce(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(dim=tuple(range(-self.event_ndim, 0)))

    def _regularizer(self, d: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _conjugate(self, m: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _direction(self, m: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class SeparableGeometry(Geometry):
    r"""A coordinate-wise geometry ψ(d) = Σ_i v(d_i), ψ*(m) = Σ_i v*(m_i), ∇ψ*(m)_i = (v*)'(m_i).

    Subclasses implement the scalar maps ``elem_regularizer`` (v), ``elem_conjugate`` (v*) and
    ``elem_direction`` ((v*)'), applied elementwise. When ``absolutely_symmetric`` is true
    (v even and the same for every coordinate) the geometry can be lifted to matrices by
    :class:`~convexlab.geometry.Spectral`.
    """

    absolutely_symmetric: bool = True

    @classmethod
    def examples(cls) -> dict:
        """None: an abstract base (its concrete subclasses declare theirs)."""
        return {}

    def elem_regularizer(self, d: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def elem_conjugate(self, m: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def elem_direction(self, m: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _regularizer(self, d):
        return self._reduce(self.elem_regularizer(d))

    def _conjugate(self, m):
        return self._reduce(self.elem_conjugate(m))

    def _direction(self, m):
        return self.elem_direction(m)

    def direction(self, m: torch.Tensor) -> torch.Tensor:
        # A coordinate-wise map accepts tensors of any shape (0-d included).
        m = V.tensor("m", m)
        return self._direction(m)

    def step_directions(self, ms, *, scales=None, generator=None):
        if scales is None:
            return [self.elem_direction(m) for m in ms]
        return [self.elem_direction(m / s) for m, s in zip(ms, scales)]


def ball_tolerance(x: torch.Tensor) -> float:
    """Round-off allowance for membership of the unit ball: a polar factor computed by SVD has
    singular values 1 ± a few ulps, which must count as inside."""
    return 16.0 * torch.finfo(x.dtype).eps


def inside_unit_ball(d: torch.Tensor) -> torch.Tensor:
    """|d| ≤ 1 up to :func:`ball_tolerance` (elementwise)."""
    return d.abs() <= 1.0 + ball_tolerance(d)


def indicator_box(d: torch.Tensor) -> torch.Tensor:
    """0 on [-1, 1], +inf outside (elementwise)."""
    zero = torch.zeros((), dtype=d.dtype, device=d.device)
    return torch.where(inside_unit_ball(d), zero, torch.full_like(zero, float("inf")))
