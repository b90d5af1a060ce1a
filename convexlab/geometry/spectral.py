r"""Spectral lift of a scalar geometry: act on the singular values of a matrix.

For an absolutely symmetric separable geometry with scalar pair (v, v*) the unitarily invariant
matrix function ψ(D) = Σ_i v(σ_i(D)) has conjugate ψ*(M) = Σ_i v*(σ_i(M)) and gradient
∇ψ*(M) = U diag((v*)'(σ)) Vᵀ for M = U diag(σ) Vᵀ (Lewis 1995/1996, "Convex analysis on the
Hermitian matrices" and "The convex analysis of unitarily invariant matrix functions", cited by
Softsign, arXiv 2605.31371, [SS-FAMILY] [THR]).

* ``Spectral(Sign())``: ψ = indicator of the spectral-norm ball, ψ* = nuclear norm, ∇ψ* = UVᵀ
  (Muon's polar factor; zero singular values stay zero).
* ``Spectral(SoftSign(tau, "algebraic"))``: ∇ψ* = U diag(τσ/√(1+τ²σ²)) Vᵀ
  = M(MᵀM + τ⁻²I)^{-1/2} = Φ_τ(M), SoftMuon's map (Softsign [SS-PHI] [3P][DER]).

Solvers. The direction is computed exactly (SVD) unless a ``solver`` is given:

==============================  ===========================  ======================================
solver                          lifts                        computes
==============================  ===========================  ======================================
``None`` / ``"svd"``            any ``g``                    U diag(g.(v*)'(σ)) Vᵀ from the SVD (exact)
``"eigh"``                      ``SoftSign(τ, "algebraic")``  (MMᵀ + τ⁻²I)^{−1/2} M by eigh (exact)
:class:`NewtonSchulz`           ``Sign()``                   Muon's NS5 (approximate: σ ↦ band ≈ [0.68, 1.13])
:class:`RegularizedNewtonSchulz` ``SoftSign(τ, "algebraic")``  official SoftMuon RegNS (approximate)
==============================  ===========================  ======================================

``regularizer`` and ``conjugate`` are always exact. A geometry with an approximate solver
(``approximate = True``) has a ``direction`` that is *not* ∇ψ* exactly, so the identity checks
(Fenchel–Young, autograd of ψ*) run on :meth:`Spectral.exact`, and the solver's distance from the
exact map is what :func:`convexlab.linalg.audit_spectral_map` measures.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from convexlab import _validation as V
from convexlab.geometry.base import Geometry, SeparableGeometry
from convexlab.geometry.euclidean import Euclidean
from convexlab.geometry.sign import Clip, Sign
from convexlab.geometry.soft_sign import SoftSign
from convexlab.linalg.inverse_root import regularized_newton_schulz_kernel, soft_polar_exact_kernel
from convexlab.linalg.polar_newton_schulz import (
    ITERATION_DTYPES,
    NS_FORMS,
    NS_QUINTIC_JORDAN,
    _coefficients,
    newton_schulz_kernel,
)

_SVD_DTYPES = (torch.float32, torch.float64)
EXACT_SOLVERS = ("svd", "eigh")


def _svd_dtype(x) -> torch.dtype:
    dtype = x if isinstance(x, torch.dtype) else x.dtype
    return dtype if dtype in _SVD_DTYPES else torch.float32


def _is_algebraic(g) -> bool:
    return isinstance(g, SoftSign) and g.kind == "algebraic"


class _IterativeSolver:
    """What the iterative solvers share: their working precision and where they batch."""

    dtype: torch.dtype
    batch: bool | None = None

    def batches(self, device: torch.device) -> bool:
        """Whether :meth:`solve` stacks same-shape matrices on ``device`` (``batch``, or by default on
        every device but the CPU)."""
        return self.batch if self.batch is not None else torch.device(device).type != "cpu"

    def work_dtype(self, dtype: torch.dtype) -> torch.dtype:
        return self.dtype


class NewtonSchulz(_IterativeSolver):
    r"""Muon's quintic Newton–Schulz iteration as the solver of ``Spectral(Sign())`` (approximate).

    :func:`convexlab.linalg.newton_schulz_kernel`: X/(‖X‖_F + eps), then ``steps`` times
    A = XXᵀ, B = bA + cA², X ← aX + BX in ``dtype`` (wide orientation). Its output is
    U diag(h(σ/‖M‖_F)) Vᵀ with h the 5-fold quintic (singular values in a band around 1, not on 1).

    Args:
        steps: integer ≥ 0 (5). coefficients: (a, b, c), finite (Jordan's quintic).
        dtype: working precision, bfloat16 (Muon, default), float16, float32 or float64.
        eps: Frobenius-norm guard, finite > 0 (1e-7, as KellerJordan/Muon and torch.optim.Muon).
        form: ``"fused"`` (addmm; torch.optim.Muon's arithmetic, bit for bit) or ``"reference"``
            (KellerJordan/Muon's and the official SoftMuon's arithmetic, bit for bit).

    Raises:
        ValueError: for an argument outside its range (the message names it).
    """

    approximate = True

    def __init__(self, steps: int = 5, coefficients=NS_QUINTIC_JORDAN, dtype: torch.dtype = torch.bfloat16,
                 eps: float = 1e-7, form: str = "fused"):
        self.steps = V.integer("steps", steps)
        self.coefficients = _coefficients("coefficients", coefficients)
        self.dtype = V.one_of("dtype", dtype, ITERATION_DTYPES)
        self.eps = V.positive_finite("eps", eps)
        self.form = V.one_of("form", form, NS_FORMS)

    def supports(self, g) -> bool:
        return isinstance(g, Sign)

    def __call__(self, X: torch.Tensor, g) -> torch.Tensor:
        return newton_schulz_kernel(X, self.steps, self.coefficients, self.dtype, self.eps, self.form)

    def _key(self):
        return (type(self), self.steps, self.coefficients, self.dtype, self.eps, self.form)

    def __eq__(self, other) -> bool:
        return isinstance(other, NewtonSchulz) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"NewtonSchulz(steps={self.steps}, coefficients={self.coefficients}, dtype={self.dtype}, "
                f"eps={self.eps:g}, form={self.form!r})")


class RegularizedNewtonSchulz(_IterativeSolver):
    r"""The official SoftMuon RegNS as the solver of ``Spectral(SoftSign(τ, "algebraic"))`` (approximate).

    :func:`convexlab.linalg.regularized_newton_schulz_kernel`: A = XXᵀ + I/τ², s = ‖A‖_F, ``steps``
    coupled Newton–Schulz steps on A/s, output (Z X)/√s, in ``dtype`` (official order; bit for bit the
    official ``muon_regularized_update`` in bfloat16). A coarse approximation of Φ_τ for
    ill-conditioned inputs (Softsign [SS-REGNS]).

    Args:
        steps: integer ≥ 0 (5, official). dtype: bfloat16 (official, default), float16, float32, float64.
    """

    approximate = True

    def __init__(self, steps: int = 5, dtype: torch.dtype = torch.bfloat16):
        self.steps = V.integer("steps", steps)
        self.dtype = V.one_of("dtype", dtype, ITERATION_DTYPES)

    def supports(self, g) -> bool:
        return _is_algebraic(g)

    def __call__(self, X: torch.Tensor, g) -> torch.Tensor:
        return regularized_newton_schulz_kernel(X, g.tau, self.steps, self.dtype)

    def _key(self):
        return (type(self), self.steps, self.dtype)

    def __eq__(self, other) -> bool:
        return isinstance(other, RegularizedNewtonSchulz) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"RegularizedNewtonSchulz(steps={self.steps}, dtype={self.dtype})"


class Spectral(Geometry):
    r"""Lift a scalar geometry ``g`` to matrices through singular values.

    ψ(D) = Σ g.v(σ_i(D)), ψ*(M) = Σ g.v*(σ_i(M)), ∇ψ*(M) = U diag(g.(v*)'(σ)) Vᵀ, acting on the last
    two dimensions of tensors of shape (..., rows, cols). Strong convexity (w.r.t. Frobenius) is
    inherited from ``g``.

    ``direction`` (validated) and ``step_directions`` (the optimizers' path: unvalidated, no host
    synchronisation, batched by shape) compute the direction with ``solver`` (module docstring);
    ``regularizer`` and ``conjugate`` are exact. With an approximate solver (``approximate``) the
    direction is an approximation of ∇ψ*; :meth:`exact` is the same geometry without the solver,
    on which the identity checks run.

    Args:
        g: an absolutely symmetric :class:`SeparableGeometry` (Euclidean, Sign, Clip, SoftSign).
        solver: ``None`` or ``"svd"`` (exact, any ``g``), ``"eigh"`` (exact; ``SoftSign(τ,
            "algebraic")`` only), a :class:`NewtonSchulz` (``Sign()`` only) or a
            :class:`RegularizedNewtonSchulz` (``SoftSign(τ, "algebraic")`` only).
        batch: how :meth:`step_directions` treats same-shape matrices: ``True`` one batched solver
            call per shape, ``False`` one call per matrix, ``None`` (default) batched on
            accelerators and per matrix on the CPU (see :meth:`step_directions`).

    Raises:
        ValueError: if ``g`` is not a separable, absolutely symmetric geometry (e.g. a
            StochasticSign, whose envelope differs per coordinate), ``solver`` is unknown or does
            not compute this ``g``'s map, or an input has < 2 dims.

    >>> from convexlab.geometry import Sign
    >>> Spectral(Sign()).direction(torch.tensor([[2.0, 0.0], [0.0, -0.5]]))
    tensor([[ 1.,  0.],
            [ 0., -1.]])
    >>> ns = Spectral(Sign(), NewtonSchulz(dtype=torch.float64))
    >>> torch.linalg.svdvals(ns.direction(torch.diag(torch.tensor([2.0, 1.0], dtype=torch.float64))))
    tensor([1.1142, 0.6888], dtype=torch.float64)
    """

    event_ndim = 2
    source = "Softsign (arXiv 2605.31371) [SS-FAMILY] + Lewis 1996"

    @classmethod
    def examples(cls) -> dict:
        """The lift of every deterministic, absolutely symmetric separable example, plus SoftMuon's
        exact transition map with ``solver="eigh"`` (the eigh solver of the same ∇ψ*)."""
        from convexlab.geometry.base import geometry_classes

        out = {}
        for c in geometry_classes():
            if issubclass(c, SeparableGeometry) and not issubclass(c, cls):
                for label, g in c.examples().items():
                    if g.absolutely_symmetric and not g.stochastic:
                        out[f"Spectral({label})"] = cls(g)
        out["Spectral(SoftSign(algebraic), eigh)"] = cls(SoftSign(SoftSign.EXAMPLE_TAU, "algebraic"), "eigh")
        return out

    def cvxpy_regularizer(self, d):
        import cvxpy as cp

        g = self.g
        cons = [cp.sigma_max(d) <= 1] if isinstance(g, (Sign, Clip)) else []
        if isinstance(g, Sign):
            return 0, cons
        if isinstance(g, (Clip, Euclidean)):
            return 0.5 * cp.sum_squares(d), cons
        raise NotImplementedError(f"no cvxpy form for {self!r}")

    def __init__(self, g: SeparableGeometry, solver=None, *, batch: bool | None = None):
        if batch not in (None, False, True):
            raise ValueError(f"batch must be None (automatic), False or True, got {batch!r}")
        if not isinstance(g, SeparableGeometry) or not g.absolutely_symmetric:
            raise ValueError(
                f"g must be an absolutely symmetric SeparableGeometry (Euclidean, Sign, Clip, SoftSign), got {g!r}"
            )
        if solver == "svd":
            solver = None
        if solver == "eigh":
            if not _is_algebraic(g):
                raise ValueError(f"solver='eigh' computes SoftSign(tau, 'algebraic') only, got g={g!r}")
        elif solver is not None:
            if not isinstance(solver, (NewtonSchulz, RegularizedNewtonSchulz)):
                raise ValueError(
                    "solver must be None, 'svd', 'eigh', a NewtonSchulz or a RegularizedNewtonSchulz, "
                    f"got {solver!r}"
                )
            if not solver.supports(g):
                raise ValueError(f"solver {solver!r} does not compute the spectral map of {g!r}")
        self.g = g
        self.solver = solver
        self.batch = batch
        self.approximate = bool(getattr(solver, "approximate", False))
        self.strong_convexity = g.strong_convexity

    def exact(self) -> Spectral:
        """The same geometry with the exact (SVD) direction."""
        return self if self.solver is None else Spectral(self.g, batch=self.batch)

    def _svdvals(self, x):
        return torch.linalg.svdvals(x.to(_svd_dtype(x))).to(x.dtype)

    def _regularizer(self, d):
        return self.g.elem_regularizer(self._svdvals(d)).sum(-1)

    def _conjugate(self, m):
        return self.g.elem_conjugate(self._svdvals(m)).sum(-1)

    def _direction(self, m):
        return self.step_directions([m])[0]

    # -- the multi-tensor path -----------------------------------------------------------------
    def batches(self, device: torch.device) -> bool:
        """Whether :meth:`solve` stacks same-shape matrices on ``device`` (``batch``, or by default on
        every device but the CPU)."""
        return self.batch if self.batch is not None else torch.device(device).type != "cpu"

    def work_dtype(self, dtype: torch.dtype) -> torch.dtype:
        """The dtype :meth:`solve` computes in (and returns) for inputs of ``dtype``."""
        return self._work_dtype(dtype)

    def _work_dtype(self, dtype: torch.dtype) -> torch.dtype:
        if self.solver is None or self.solver == "eigh":
            return _svd_dtype(dtype)
        return self.solver.work_dtype(dtype)

    def _solve(self, X: torch.Tensor) -> torch.Tensor:
        """The direction of each matrix of X ((rows, cols) or (k, rows, cols), in the work dtype),
        returned in the work dtype."""
        if self.solver is None:
            U, S, Vh = torch.linalg.svd(X, full_matrices=False)
            return (U * self.g.elem_direction(S).unsqueeze(-2)) @ Vh
        if self.solver == "eigh":
            return soft_polar_exact_kernel(X, self.g.tau, "eigh")
        return self.solver(X, self.g)

    def solve(self, ms: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        r"""∇ψ*(m) (by ``solver``) for each tensor of ``ms``, in the solver's working dtype (no cast back).

        The core of :meth:`step_directions` and :meth:`add_direction_`. Unvalidated (the optimizers'
        path): no NaN scan and no host synchronisation. When batching, tensors of the same (shape,
        dtype, device) are stacked into one (k, rows, cols) batch in the working dtype (one cast in)
        and solved with one batched call per matrix product; the results of a batch are views of one
        tensor. For the Newton–Schulz solvers (and, measured on CPU, the SVD) batching is bit for bit
        the per-matrix computation (tested); the batched LAPACK eigh rounds differently from the
        per-matrix one (float32 rounding). ``batch=None`` (the
        constructor's default) batches on accelerators, where a step is bound by kernel launches (15
        per matrix for NS5), and not on the CPU, where one bf16 GEMM per matrix measured 3–12 % faster
        than the batched GEMM (CPU, torch 2.13, 1 and 2 threads, GPT-2-small shapes: 24 × 512²,
        6 × 2048×512, 6 × 512×2048). A tensor with more than two dimensions is itself a batch of
        matrices over its last two. A zero-size tensor gets a zero-size (empty) result. Each result
        has the shape of its input and is a fresh tensor (never an input).

        The working dtype is the solver's ``dtype`` for Newton–Schulz solvers (bfloat16 by default),
        else float32 for half-precision inputs and the input's dtype otherwise.
        """
        out: list = [None] * len(ms)
        groups: dict = {}
        for i, m in enumerate(ms):
            if m.numel() == 0:
                out[i] = torch.zeros_like(m, dtype=self._work_dtype(m.dtype))
            else:
                groups.setdefault((tuple(m.shape), m.dtype, m.device), []).append(i)
        for (shape, dtype, device), idx in groups.items():
            rows, cols = shape[-2:]
            work = self._work_dtype(dtype)
            if (len(idx) == 1 or not self.batches(device)) and len(shape) == 2:
                for i in idx:
                    X = ms[i]
                    out[i] = self._solve(X if X.dtype == work else X.to(work))
                continue
            per = 1
            for n in shape[:-2]:
                per *= n
            if torch.is_grad_enabled() and any(ms[i].requires_grad for i in idx):
                # keep the autograd graph (the direct path: Spectral.direction on a batch of matrices)
                stack = torch.stack([ms[i] for i in idx]).to(work).reshape(len(idx) * per, rows, cols)
            else:
                stack = torch.empty((len(idx) * per, rows, cols), dtype=work, device=device)
                torch._foreach_copy_(list(stack.view(len(idx), *shape).unbind(0)), [ms[i] for i in idx])
            res = self._solve(stack).reshape(len(idx), *shape).unbind(0)
            for i, r in zip(idx, res):
                out[i] = r
        return out

    def step_directions(self, ms: Sequence[torch.Tensor], *, scales=None, generator=None) -> list[torch.Tensor]:
        r"""∇ψ*(m) (by ``solver``) for each tensor of ``ms``, in the dtype of each input.

        :meth:`solve` (batching, working dtype, zero-size tensors: see there), then one cast back to
        each input's dtype where the working dtype differs. Each result has the shape and dtype of
        its input and is a fresh tensor.

        Args:
            ms: the dual points (momenta), each with at least 2 dimensions.
            scales: must be None (a spectral geometry has no per-coordinate perspective scale).
            generator: unused (deterministic geometry).

        Raises:
            ValueError: if ``scales`` is given.
        """
        if scales is not None:
            raise ValueError("scales must be None for a Spectral geometry (no per-coordinate scale), got a list")
        return [d if d.dtype == m.dtype else d.to(m.dtype) for d, m in zip(self.solve(ms), ms)]

    def add_direction_(self, xs, ms, alpha, *, scales=None, generator=None, scratch=False) -> None:
        r"""x ← x + α·∇ψ*(m) in place for each pair, adding the working-precision result directly.

        ``torch.Tensor.add_`` of the :meth:`solve` output (for example bfloat16) into x (for example
        float32) computes x + α·d in x's precision without materialising the cast d, as
        ``torch.optim.Muon`` does (``param.add_(update, alpha=-adjusted_lr)``); so with ``alpha`` a list
        (one float per pair, e.g. −η·s with Muon's shape factor s) the result is torch's bit for bit.

        Args:
            xs: tensors updated in place, each of the shape of its m.
            ms: the dual points. alpha: a float, or one float per pair.
            scales: must be None. generator: unused.
        """
        if scales is not None:
            raise ValueError("scales must be None for a Spectral geometry (no per-coordinate scale), got a list")
        alphas = [alpha] * len(xs) if isinstance(alpha, (int, float)) else list(alpha)
        for x, d, a in zip(xs, self.solve(ms), alphas):
            x.add_(d, alpha=a)

    def __repr__(self) -> str:
        return f"Spectral({self.g!r})" if self.solver is None else f"Spectral({self.g!r}, solver={self.solver!r})"
