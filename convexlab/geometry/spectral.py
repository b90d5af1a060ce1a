r"""Spectral lift of a scalar geometry: act on the singular values of a matrix.

For an absolutely symmetric separable geometry with scalar pair (v, v*) the unitarily invariant
matrix function ψ(D) = Σ_i v(σ_i(D)) has conjugate ψ*(M) = Σ_i v*(σ_i(M)) and gradient
∇ψ*(M) = U diag((v*)'(σ)) Vᵀ for M = U diag(σ) Vᵀ (Lewis 1995/1996, "Convex analysis on the
Hermitian matrices" and "The convex analysis of unitarily invariant matrix functions", cited by
Softsign, arXiv 2605.31371, §6.2 [THR]).

* ``Spectral(Sign())``: ψ = indicator of the spectral-norm ball, ψ* = nuclear norm, ∇ψ* = UVᵀ
  (Muon's polar factor; zero singular values stay zero).
* ``Spectral(SoftSign(tau, "algebraic"))``: ∇ψ* = U diag(τσ/√(1+τ²σ²)) Vᵀ
  = M(MᵀM + τ⁻²I)^{-1/2} = Φ_τ(M), SoftMuon's map (Softsign §4.1 [3P][DER]).
"""

from __future__ import annotations

import torch

from convexlab import _validation as V
from convexlab.geometry.base import Geometry, SeparableGeometry

_SVD_DTYPES = (torch.float32, torch.float64)


def _svd_dtype(x: torch.Tensor) -> torch.dtype:
    return x.dtype if x.dtype in _SVD_DTYPES else torch.float32


class Spectral(Geometry):
    r"""Lift a scalar geometry ``g`` to matrices through singular values.

    ψ(D) = Σ g.v(σ_i(D)), ψ*(M) = Σ g.v*(σ_i(M)), ∇ψ*(M) = U diag(g.(v*)'(σ)) Vᵀ, acting on the last
    two dimensions of tensors of shape (..., rows, cols). Strong convexity (w.r.t. Frobenius) is
    inherited from ``g``.

    Args:
        g: an absolutely symmetric :class:`SeparableGeometry` (Euclidean, Sign, Clip, SoftSign).

    Raises:
        ValueError: if ``g`` is not a separable, absolutely symmetric geometry (e.g. a
            StochasticSign, whose envelope differs per coordinate), or an input has < 2 dims.

    >>> from convexlab.geometry import Sign
    >>> Spectral(Sign()).direction(torch.tensor([[2.0, 0.0], [0.0, -0.5]]))
    tensor([[ 1.,  0.],
            [ 0., -1.]])
    """

    event_ndim = 2

    def __init__(self, g: SeparableGeometry):
        if not isinstance(g, SeparableGeometry) or not g.absolutely_symmetric:
            raise ValueError(
                f"g must be an absolutely symmetric SeparableGeometry (Euclidean, Sign, Clip, SoftSign), got {g!r}"
            )
        self.g = g
        self.strong_convexity = g.strong_convexity

    def _svdvals(self, x):
        return torch.linalg.svdvals(x.to(_svd_dtype(x))).to(x.dtype)

    def _regularizer(self, d):
        return self.g.elem_regularizer(self._svdvals(d)).sum(-1)

    def _conjugate(self, m):
        return self.g.elem_conjugate(self._svdvals(m)).sum(-1)

    def _direction(self, m):
        U, S, Vh = torch.linalg.svd(m.to(_svd_dtype(m)), full_matrices=False)
        h = self.g.elem_direction(S)
        return ((U * h.unsqueeze(-2)) @ Vh).to(m.dtype)

    def __repr__(self) -> str:
        return f"Spectral({self.g!r})"
