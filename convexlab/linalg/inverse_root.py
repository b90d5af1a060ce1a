r"""Inverse square roots of Gram matrices and SoftMuon's soft polar map Φ_τ.

SoftMuon (Feoktistov et al. 2026) replaces Muon's polar factor U Vᵀ by

    Φ_τ(M) = M (MᵀM + τ⁻² I)^{−1/2} = (MMᵀ + τ⁻² I)^{−1/2} M = U diag(φ(τσ)) Vᵀ,   φ(x) = x/√(1 + x²),

the gradient of the conjugate of a spectral regularizer (Softsign [SS-PHI, SS-FAMILY]). It interpolates between the
polar factor (τ → ∞) and τ·M (τ → 0). :func:`soft_polar` computes it exactly (SVD, or eigh of either
Gram matrix) or exactly as the official code does (bf16 coupled Newton–Schulz "RegNS", 5 steps), which
is a coarse approximation for ill-conditioned inputs (Softsign [SS-REGNS]).

The ``*_kernel`` functions are the unvalidated forms the optimizers call on whole batches of
same-shape matrices (no argument checks, no NaN scan, no host synchronisation).

References
----------
- D. Feoktistov et al., "Softsign: Smooth Sign in Your Optimizer For Better Parameter Heterogeneity
  Handling", arXiv 2605.31371, 2026; official code softsign@77526d8, softmuon/softmuon.py
  (`muon_regularized_update`).
- N. J. Higham, "Functions of Matrices: Theory and Computation", SIAM 2008, ch. 6 (coupled Newton–Schulz
  iteration for the matrix square root and its inverse).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from convexlab import _validation
from convexlab.linalg.polar_newton_schulz import ITERATION_DTYPES, _svd_dtype

__all__ = [
    "SOFT_POLAR_METHODS",
    "coupled_inverse_sqrt",
    "regularized_newton_schulz_kernel",
    "soft_polar",
    "soft_polar_exact_kernel",
]

SOFT_POLAR_METHODS = ("svd", "eigh", "push_through", "ns5_official")


def coupled_inverse_sqrt(A: Tensor, steps: int = 5, dtype: torch.dtype | None = None) -> Tensor:
    r"""Coupled Newton–Schulz approximation of A^{−1/2} for symmetric positive definite matrices.

    With the scaling of the official SoftMuon code (Softsign [SS-SOFTMUON], RegNS):

        s = ‖A‖_F;  A ← A/s;  Y₀ = A,  Z₀ = I
        repeat ``steps`` times:  T = ½(3I − Z Y),  Y ← Y T,  Z ← T Z
        return Z/√s

    Y_k → (A/s)^{1/2} and Z_k → (A/s)^{−1/2} quadratically when the spectrum of A/s lies in (0, 1]
    (guaranteed by the Frobenius scaling); the iteration only uses matmuls. On an eigenvalue λ of A/s
    it is the scalar iteration z ← z·½(3 − λ z²), which converges slowly for small λ: after 5 steps z is
    accurate only for λ ≳ 0.1 and is capped at 1.5⁵ ≈ 7.59 (Softsign [SS-REGNS]). A zero or indefinite A has no
    inverse square root; the iteration still runs but the result is meaningless.

    Args:
        A: tensor of shape (..., n, n), symmetric positive (semi)definite, nonzero; floating dtype.
            Symmetry is assumed, not checked.
        steps: number of coupled iterations, an integer ≥ 0 (0 returns I/√s).
        dtype: working precision (bfloat16, float16, float32 or float64); None uses A's dtype.

    Returns:
        Z/√s ≈ A^{−1/2}, same shape and dtype as ``A``.

    Raises:
        ValueError: for a non-square, NaN or all-zero matrix, ``steps`` not an integer ≥ 0, or an
            unsupported ``dtype``.

    Examples:
        >>> import torch
        >>> A = torch.diag(torch.tensor([4.0, 1.0], dtype=torch.float64))
        >>> coupled_inverse_sqrt(A, steps=20)
        tensor([[0.5000, 0.0000],
                [0.0000, 1.0000]], dtype=torch.float64)

    References:
        N. J. Higham, "Functions of Matrices", SIAM 2008, ch. 6 (coupled Newton–Schulz iteration).
        D. Feoktistov et al., "Softsign", arXiv 2605.31371, 2026 (official `muon_regularized_update`).
    """
    A = _validation.tensor("A", A, min_ndim=2)
    if A.size(-1) != A.size(-2):
        raise ValueError(f"A must be square, shape (..., n, n), got shape {tuple(A.shape)}")
    steps = _validation.integer("steps", steps)
    work_dtype = A.dtype if dtype is None else _validation.one_of("dtype", dtype, ITERATION_DTYPES)

    X = A.to(work_dtype)
    s = X.norm(dim=(-2, -1), keepdim=True)
    if bool((s == 0).any()):
        raise ValueError("A contains an all-zero matrix, whose inverse square root does not exist")
    X = X / s
    eye = torch.eye(X.size(-1), device=X.device, dtype=X.dtype)
    Y, Z = X, eye.expand_as(X)
    for _ in range(steps):
        T = 0.5 * (3 * eye - Z @ Y)
        Y = Y @ T
        Z = T @ Z
    return (Z / s.sqrt()).to(A.dtype)


def _phi_gain(lam: Tensor, tau: float) -> Tensor:
    r"""(λ + τ⁻²)^{−1/2} for Gram eigenvalues λ, written so that neither τ⁻² nor τ²λ overflows."""
    # eigh of a PSD Gram matrix returns slightly negative eigenvalues for (near-)null directions.
    lam = lam.clamp_min(0)
    if tau >= 1.0:
        # The exact gain is ≤ τ; the cap keeps λ = 0 finite when τ⁻² underflows (τ ≳ 1e19 in float32).
        cap = min(tau, torch.finfo(lam.dtype).max)
        return torch.rsqrt(lam + 1.0 / (tau * tau)).clamp_max(cap)
    return tau * torch.rsqrt(1.0 + (tau * tau) * lam)


def _gram_inverse_root(G: Tensor, tau: float, rank: int) -> Tensor:
    r"""(G + τ⁻² I)^{−1/2} restricted to the top ``rank`` eigenpairs of a batch of PSD Gram matrices G."""
    lam, Q = torch.linalg.eigh(G)
    gain = _phi_gain(lam, tau)
    n_null = G.size(-1) - rank
    if n_null > 0:
        # The larger Gram of an (a, b) matrix has b − a structurally zero eigenvalues (eigh sorts them
        # first) whose eigenvectors M annihilates in exact arithmetic. Their gain would be ≈ τ, which
        # multiplies the rounding residue M q ~ eps‖M‖ by τ; dropping them changes nothing exact.
        gain = torch.cat([torch.zeros_like(gain[..., :n_null]), gain[..., n_null:]], dim=-1)
    return (Q * gain.unsqueeze(-2)) @ Q.mT


def soft_polar(
    M: Tensor,
    tau: Any,
    method: str = "eigh",
    *,
    ns_steps: int | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    r"""SoftMuon's spectral soft sign Φ_τ(M) = U diag(τσ/√(1 + τ²σ²)) Vᵀ.

    Definition (Softsign [SS-PHI]), for M = U diag(σ) Vᵀ:

        Φ_τ(M) = M (MᵀM + τ⁻² I)^{−1/2} = (MMᵀ + τ⁻² I)^{−1/2} M = U diag(φ(τσ)) Vᵀ,  φ(x) = x/√(1+x²).

    Φ_τ = ∇ψ*_τ for the spectral lift of the algebraic soft sign, so the output has spectral norm < 1;
    τ → ∞ gives the polar factor (zero singular values stay zero), Φ_τ(M)/τ → M as τ → 0.

    Methods:

    - ``"svd"``: U diag(φ(τσ)) Vᵀ from torch.linalg.svd (the reference; robust for any conditioning).
    - ``"eigh"``: (G + τ⁻²I)^{−1/2} via eigh of the smaller Gram matrix G (MMᵀ on the left if
      rows ≤ cols, MᵀM on the right otherwise).
    - ``"push_through"``: the same via eigh of the *other* (larger) Gram matrix on the other side; a
      genuinely different computation, used as a cross-check of the push-through identity.
    - ``"ns5_official"``: the official code's RegNS (Softsign [SS-SOFTMUON]): X = M cast to ``dtype``, transposed so
      rows ≤ cols; A = XXᵀ + I/τ², s = ‖A‖_F; Z = the coupled Newton–Schulz iterate of A/s
      (:func:`coupled_inverse_sqrt`'s iteration, ``ns_steps`` steps); output (Z X)/√s in the official
      order, transposed back (:func:`regularized_newton_schulz_kernel`; bit for bit the official
      function in bfloat16). With the official 5 steps this is far from Φ_τ for ill-conditioned M
      (Softsign [SS-REGNS]).

    The eigh methods square the condition number: for rank-deficient or very ill-conditioned M at large
    τ, rounding in (near-)null directions is amplified by up to τ, so prefer ``"svd"`` there.
    ``"push_through"`` drops the |rows − cols| structurally zero eigenpairs of the larger Gram matrix
    (M maps them to zero exactly), which would otherwise amplify rounding noise by τ.

    Args:
        M: tensor of shape (..., rows, cols), floating dtype; leading dimensions are a batch.
        tau: temperature, a finite number > 0 (a 0-d tensor is accepted); e.g. 1e9 is fine.
        method: one of ``"svd"``, ``"eigh"``, ``"push_through"``, ``"ns5_official"``.
        ns_steps: coupled Newton–Schulz steps for ``"ns5_official"`` (integer ≥ 0, default 5, the
            official value). Must be left None for the exact methods.
        dtype: working precision. For ``"ns5_official"`` one of bfloat16 (default, official), float16,
            float32, float64. For the exact methods float32 or float64; default M's dtype, or float32 for
            half-precision M (no half-precision SVD/eigh kernels).

    Returns:
        Φ_τ(M) (or its RegNS approximation), same shape and dtype as ``M``.

    Raises:
        ValueError: for a non-matrix or NaN ``M``, ``tau`` not finite > 0, an unknown ``method``,
            ``ns_steps`` given to an exact method or not an integer ≥ 0, an unsupported ``dtype``, or
            (``"ns5_official"``) a τ so small that τ⁻² overflows the working dtype.

    Examples:
        >>> import torch
        >>> M = torch.diag(torch.tensor([3.0, 0.5], dtype=torch.float64))
        >>> torch.diagonal(soft_polar(M, tau=1.0))
        tensor([0.9487, 0.4472], dtype=torch.float64)
        >>> torch.allclose(soft_polar(M, 1.0, "svd"), soft_polar(M, 1.0, "push_through"))
        True

    References:
        D. Feoktistov et al., "Softsign: Smooth Sign in Your Optimizer For Better Parameter
        Heterogeneity Handling", arXiv 2605.31371, 2026.
        N. J. Higham, "Functions of Matrices", SIAM 2008, ch. 6.
    """
    M = _validation.tensor("M", M, min_ndim=2)
    tau = _validation.positive_finite("tau", tau)
    _validation.one_of("method", method, SOFT_POLAR_METHODS)

    if method == "ns5_official":
        steps = 5 if ns_steps is None else _validation.integer("ns_steps", ns_steps)
        work_dtype = torch.bfloat16 if dtype is None else _validation.one_of("dtype", dtype, ITERATION_DTYPES)
        return _regularized_newton_schulz(M, tau, steps, work_dtype)

    if ns_steps is not None:
        raise ValueError(
            f"ns_steps is only used by method='ns5_official', got ns_steps={ns_steps!r} with method={method!r}"
        )
    if dtype is None:
        work_dtype = _svd_dtype(M.dtype)
    else:
        work_dtype = _validation.one_of("dtype", dtype, (torch.float32, torch.float64))
    if M.numel() == 0:
        return M.clone()
    return soft_polar_exact_kernel(M.to(work_dtype), tau, method).to(M.dtype)


def _regularized_newton_schulz(M: Tensor, tau: float, steps: int, dtype: torch.dtype) -> Tensor:
    r"""Official RegNS (`muon_regularized_update`) with its overflow guard, for :func:`soft_polar`."""
    n = min(M.size(-2), M.size(-1))
    try:
        inv_tau2 = tau**-2.0
        # ‖A‖_F ≈ √n τ⁻² for tiny τ and the Frobenius norm squares entries: keep that finite.
        ok = math.isfinite(inv_tau2) and inv_tau2 * inv_tau2 * n < torch.finfo(dtype).max
    except OverflowError:
        ok = False
    if not ok:
        raise ValueError(
            f"tau={tau!r} is too small for method='ns5_official' in {dtype}: tau**-2 overflows the working dtype"
        )
    if M.numel() == 0:
        return M.clone()
    rows, cols = M.shape[-2:]
    X = M.reshape(-1, rows, cols) if M.ndim > 3 else M
    return regularized_newton_schulz_kernel(X, tau, steps, dtype).to(M.dtype).reshape(M.shape)


def regularized_newton_schulz_kernel(
    X: Tensor, tau: float, steps: int = 5, dtype: torch.dtype = torch.bfloat16
) -> Tensor:
    r"""Unvalidated official RegNS: Φ_τ(X) ≈ (XXᵀ + τ⁻²I)^{−1/2} X by coupled Newton–Schulz, no host sync.

    The official SoftMuon transition map (softsign@77526d8 ``muon_regularized_update``; Softsign [SS-SOFTMUON]), operation for operation and in the official order, on one matrix (rows, cols) or a batch
    (k, rows, cols) of one shape; the result is returned in the working ``dtype``::

        X ← cast(X, dtype);  X ← Xᵀ if rows > cols                       (so X is m × n, m ≤ n)
        A = X Xᵀ;  A ← A + I/τ²;  s = ‖A‖_F;  A ← A/s
        Y₀ = A, Z₀ = I;  repeat ``steps`` times:  T = ½(3I − Z Y),  Y ← Y T,  Z ← T Z
        out = (Z X)/√s,  transposed back.

    Every product and sum is rounded as in the official code, so in bfloat16 the output equals the
    official function bit for bit (tested); in particular the inverse root multiplies (Z X)/√s, not
    (Z/√s) X (one bf16 ulp apart), and adds I/τ² (a division, rounded once) rather than I·τ⁻².
    Three products are skipped because their result is known exactly: Z₀Y₀ = Y₀ and T₁Z₀ = T₁ (a
    product with the identity is exact in any precision: one nonzero term per sum), and the last Y,
    which nothing reads. So the kernel does 2 + 3·steps − 3 matrix products (14 for 5 steps) where
    the official code does 2 + 3·steps (steps ≥ 1).

    One guard the official code lacks: s is clamped below at the smallest normal number of ``dtype``.
    It changes nothing unless A = 0, which happens only when X = 0 and I/τ² underflows (τ ≳ 1e19 in
    bfloat16/float32); the official code returns NaN there, this kernel returns 0.

    The caller guarantees: X floating with 2 or 3 dimensions, τ a finite float > 0 whose τ⁻² is finite
    in ``dtype`` (see :func:`soft_polar`'s check), ``steps`` an integer ≥ 0.
    """
    W = X if X.dtype == dtype else X.to(dtype)
    tall = X.size(-2) > X.size(-1)
    if tall:
        W = W.mT
    eye = torch.eye(W.size(-2), device=W.device, dtype=dtype)
    A = W @ W.mT
    A = A + eye / (tau * tau)  # the official `I / (temp ** 2)`: τ² in float64, then one division
    s = A.norm(dim=(-2, -1), keepdim=True).clamp_min(torch.finfo(dtype).tiny)
    A = A / s
    if steps == 0:
        Z = eye
    else:
        # step 1 with Z₀ = I: Z₀Y₀ = Y₀ and T₁Z₀ = T₁ exactly
        T = 0.5 * (3 * eye - A)
        Z = T
        Y = A @ T if steps > 1 else None
        for k in range(2, steps + 1):
            T = 0.5 * (3 * eye - Z @ Y)
            if k < steps:  # the last Y is never read
                Y = Y @ T
            Z = T @ Z
    out = (Z @ W) / s.sqrt()
    return out.mT if tall else out


def soft_polar_exact_kernel(X: Tensor, tau: float, method: str = "svd") -> Tensor:
    r"""Unvalidated exact Φ_τ(X) = U diag(φ(τσ)) Vᵀ, φ(x) = x/√(1 + x²), in X's dtype (float32/float64).

    ``method="svd"``: from torch.linalg.svd; ``"eigh"``: (G + τ⁻²I)^{−1/2} from eigh of the smaller Gram
    matrix G; ``"push_through"``: eigh of the larger one (see :func:`soft_polar`, which validates and
    calls this). X has 2 or more dimensions (leading ones a batch); τ is a finite float > 0.
    """
    wide = X.size(-2) <= X.size(-1)
    k = min(X.size(-2), X.size(-1))
    if method == "svd":
        U, S, Vh = torch.linalg.svd(X, full_matrices=False)
        x = tau * S
        # φ(x) = x/√(1+x²) via hypot: (τσ)² overflows float32 already at τσ ≈ 1.8e19.
        return (U * (x / torch.hypot(torch.ones_like(x), x)).unsqueeze(-2)) @ Vh
    if method == "eigh":
        return _gram_inverse_root(X @ X.mT, tau, k) @ X if wide else X @ _gram_inverse_root(X.mT @ X, tau, k)
    return X @ _gram_inverse_root(X.mT @ X, tau, k) if wide else _gram_inverse_root(X @ X.mT, tau, k) @ X
