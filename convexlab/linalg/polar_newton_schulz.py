r"""Polar factor of a matrix: exact (SVD) and Muon's quintic Newton–Schulz iteration, plus a spectrum audit.

For a matrix M = U diag(σ) Vᵀ (thin SVD) the polar factor is polar(M) = U Vᵀ, the linear-minimization
oracle of the spectral-norm ball (argmax_{‖D‖₂ ≤ 1} ⟨M, D⟩) and Muon's update direction. Muon does not
compute it exactly: it runs five steps of an odd quintic polynomial in M/‖M‖_F, which maps every singular
value into a band around 1 instead of onto 1. :func:`audit_spectral_map` measures that band for any
spectral iteration.

References
----------
- K. Jordan et al., "Muon: An optimizer for hidden layers in neural networks", blog post, 2024,
  https://kellerjordan.github.io/posts/muon/ (quintic coefficients, bf16, Frobenius pre-scaling).
- D. Feoktistov et al., "Softsign: Smooth Sign in Your Optimizer For Better Parameter Heterogeneity
  Handling", arXiv 2605.31371, 2026 (SoftMuon's sign phase uses exactly this NS5).
- N. J. Higham, "Functions of Matrices: Theory and Computation", SIAM 2008, ch. 8 (polar decomposition).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from convexlab import _validation

__all__ = [
    "NS_FORMS",
    "NS_QUINTIC_JORDAN",
    "SpectrumAudit",
    "audit_spectral_map",
    "matrix_with_spectrum",
    "newton_schulz",
    "newton_schulz_kernel",
    "newton_schulz_scalar_map",
    "polar_svd",
]

# Jordan 2024, Muon (modded-nanogpt `zeropower_via_newtonschulz5`; copied verbatim by the official
# SoftMuon code, softsign@77526d8 softmuon/softmuon.py). Chosen to maximise the slope at 0 (a = 3.4445)
# while keeping the 5-step image of (0, 1] inside roughly [0.7, 1.2]; not a convergent iteration to 1.
NS_QUINTIC_JORDAN: tuple[float, float, float] = (3.4445, -4.7750, 2.0315)

ITERATION_DTYPES = (torch.bfloat16, torch.float16, torch.float32, torch.float64)


def _coefficients(name: str, value: Any) -> tuple[float, float, float]:
    """Return ``value`` as a 3-tuple of finite floats, else raise ``ValueError``."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 3:
        raise ValueError(f"{name} must be a length-3 tuple (a, b, c) of finite floats, got {value!r}")
    out = []
    for v in value:
        if isinstance(v, bool):
            raise ValueError(f"{name} must be a length-3 tuple (a, b, c) of finite floats, got {value!r}")
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a length-3 tuple (a, b, c) of finite floats, got {value!r}") from None
        if not math.isfinite(f):
            raise ValueError(f"{name} must be a length-3 tuple (a, b, c) of finite floats, got {value!r}")
        out.append(f)
    return (out[0], out[1], out[2])


def _svd_dtype(dtype: torch.dtype) -> torch.dtype:
    # torch.linalg.svd/eigh have no bf16/fp16 kernels; half-precision inputs are factorized in float32.
    return dtype if dtype in (torch.float32, torch.float64) else torch.float32


def polar_svd(M: Tensor) -> Tensor:
    r"""Polar factor U Vᵀ of each matrix in ``M``, computed from the thin SVD.

    With the thin SVD M = U diag(σ) Vᵀ (k = min(rows, cols) singular values) the result is

        polar(M) = U diag(sign(σ)) Vᵀ,

    i.e. U Vᵀ when M has full rank. ``torch.sign`` of the singular values makes directions with an
    exactly zero singular value map to zero, which is the τ → ∞ limit of SoftMuon's Φ_τ (Softsign [SS-PHI])
    and the minimum-norm solution of argmax_{‖D‖₂ ≤ 1} ⟨M, D⟩. Singular values that are merely tiny
    (rounding noise of a rank-deficient matrix) are positive and map to 1: the polar factor is
    discontinuous at rank deficiency, so no threshold would be right for every use.

    Args:
        M: tensor of shape (..., rows, cols), floating dtype. Half-precision inputs are factorized
            in float32.

    Returns:
        Tensor of the shape and dtype of ``M``; rows (if rows ≤ cols) or columns are orthonormal
        when M has full rank.

    Raises:
        ValueError: if ``M`` is not a floating tensor with at least 2 dimensions, or contains NaN.

    Examples:
        >>> import torch
        >>> M = torch.tensor([[3.0, 0.0], [0.0, -0.5]], dtype=torch.float64)
        >>> polar_svd(M)
        tensor([[ 1.,  0.],
                [ 0., -1.]], dtype=torch.float64)

    References:
        N. J. Higham, "Functions of Matrices: Theory and Computation", SIAM 2008, ch. 8.
    """
    M = _validation.tensor("M", M, min_ndim=2)
    work = M.to(_svd_dtype(M.dtype))
    U, S, Vh = torch.linalg.svd(work, full_matrices=False)
    return ((U * torch.sign(S).unsqueeze(-2)) @ Vh).to(M.dtype)


def newton_schulz_kernel(
    X: Tensor,
    steps: int = 5,
    coefficients: tuple[float, float, float] = NS_QUINTIC_JORDAN,
    dtype: torch.dtype = torch.bfloat16,
    eps: float = 1e-7,
    form: str = "fused",
) -> Tensor:
    r"""Unvalidated NS5 for optimizers: no argument checks, no NaN scan, no host synchronisation.

    The arithmetic of :func:`newton_schulz` (see there for the equations and the two ``form``\ s) on a
    single matrix (rows, cols) or a batch (k, rows, cols) of matrices of one shape, which is computed
    with one batched matmul per product (``torch.baddbmm``) instead of k calls. The result is returned
    in the working ``dtype`` (the caller casts it), so a caller that stacks a group of matrices into one
    batch pays one cast in and one cast out.

    The caller guarantees: ``X`` has 2 or 3 dimensions and a floating dtype, ``steps`` is an integer ≥ 0,
    ``coefficients`` are three floats, ``dtype`` is a floating dtype, ``eps`` > 0 and ``form`` is
    ``"fused"`` or ``"reference"``. A NaN or inf in ``X`` propagates to the output (no error): the
    optimizers check their gradients once per step instead of scanning each matrix.

    Bit-level agreement (measured on CPU, torch 2.13, bfloat16; tested in tests/test_linalg.py):
    ``form="fused"`` equals ``torch.optim._muon._zeropower_via_newtonschulz`` bit for bit on 2-D
    inputs, and the batched call equals the per-matrix call bit for bit; ``form="reference"`` equals
    KellerJordan/Muon ``zeropower_via_newtonschulz5`` and the official SoftMuon copy of it bit for bit.
    The two forms differ from each other by bfloat16 rounding (about 95 % of the entries of a 64 × 128
    output differ, by at most 2 bf16 ulps of 1); in float64 by ≤ 3e-15.
    """
    a, b, c = coefficients
    W = X if X.dtype == dtype else X.to(dtype)
    tall = X.size(-2) > X.size(-1)
    if tall:
        # the wide orientation keeps the Gram matrix X Xᵀ the smaller one (a view, as the references)
        W = W.mT
    W = W / (W.norm(dim=(-2, -1), keepdim=True) + eps)
    if form == "reference":
        for _ in range(steps):
            A = W @ W.mT
            # Python's `b * A + c * A @ A` is b·A + (c·A)·A: each product rounded on its own
            B = b * A + (c * A) @ A
            W = a * W + B @ W
    elif W.ndim == 2:
        for _ in range(steps):
            A = W @ W.mT
            B = torch.addmm(A, A, A, beta=b, alpha=c)  # b·A + c·A·A, one rounding
            W = torch.addmm(W, B, W, beta=a)  # a·W + B·W
    else:
        for _ in range(steps):
            A = torch.bmm(W, W.mT)
            B = torch.baddbmm(A, A, A, beta=b, alpha=c)
            W = torch.baddbmm(W, B, W, beta=a)
    return W.mT if tall else W


NS_FORMS = ("fused", "reference")


def newton_schulz(
    M: Tensor,
    steps: int = 5,
    coefficients: tuple[float, float, float] = NS_QUINTIC_JORDAN,
    dtype: torch.dtype = torch.bfloat16,
    eps: float = 1e-7,
    *,
    form: str = "fused",
) -> Tensor:
    r"""Muon's quintic Newton–Schulz iteration ("NS5"), an approximate polar factor of each matrix.

    The official Muon / SoftMuon sign-phase map (Softsign [SS-SOFTMUON], NS5): with (a, b, c) = ``coefficients``,

        X ← cast(M, dtype);  X ← Xᵀ if rows > cols;  X ← X / (‖X‖_F + eps)
        repeat ``steps`` times:  A = X Xᵀ,  B = b A + c A²,  X ← a X + B X
        transpose back, cast to M.dtype.

    ``form`` chooses how the two updates are rounded (the maths is the same):

    - ``"fused"`` (default): B = addmm(A, A, A, β=b, α=c) and X = addmm(X, B, X, β=a), one rounding
      per update, as ``torch.optim.Muon`` (PyTorch ≥ 2.9, ``_zeropower_via_newtonschulz``). In
      bfloat16 on CPU the result equals torch's bit for bit (tested) whenever ‖X‖_F > 2.6e-5
      (torch divides by max(‖X‖_F, eps), we by ‖X‖_F + eps; the two agree in bfloat16 above that
      norm). Fewer passes over memory than ``"reference"`` (1.25× faster on a 2048 × 512 bf16 matrix
      on a CPU with AVX512-BF16).
    - ``"reference"``: B = b·A + (c·A)·A and X = a·X + B·X with every product rounded, exactly as
      KellerJordan/Muon ``zeropower_via_newtonschulz5`` and the official SoftMuon code
      (softsign@77526d8) write it; equal to them bit for bit in bfloat16 (tested).

    The two forms differ by bfloat16 rounding (most entries, by ≤ 2 bf16 ulps of 1 after 5 steps), by
    ≤ 5e-7 in float32 and ≤ 3e-15 in float64.

    On singular values the iteration is the odd polynomial p(x) = a x + b x³ + c x⁵ applied ``steps``
    times to σ_i/‖M‖_F (see :func:`newton_schulz_scalar_map`), so the output is U diag(p∘…∘p(σ/‖M‖_F)) Vᵀ:
    an approximation of U Vᵀ whose singular values lie in a band around 1 (about [0.68, 1.13] for
    σ/‖M‖_F ≥ 0.01 with Jordan's coefficients), not on 1. Singular values much smaller than
    ‖M‖_F/a^steps are not lifted into the band.

    This is the validated user entry point (it scans ``M`` for NaN, one host synchronisation); the
    optimizers call :func:`newton_schulz_kernel` on whole batches of same-shape matrices instead.

    Args:
        M: tensor of shape (..., rows, cols), floating dtype; leading dimensions are a batch.
        steps: number of iterations, an integer ≥ 0 (0 returns M/(‖M‖_F + eps)).
        coefficients: (a, b, c) of the quintic, finite floats. Default :data:`NS_QUINTIC_JORDAN`.
        dtype: working precision, one of bfloat16 (Muon's choice), float16, float32, float64.
        eps: guard added to the Frobenius norm so that a zero matrix maps to zero; finite > 0.
        form: ``"fused"`` (torch.optim.Muon's arithmetic) or ``"reference"`` (KellerJordan/Muon's).

    Returns:
        Tensor of the shape and dtype of ``M``.

    Raises:
        ValueError: for a non-matrix or NaN input, ``steps`` not an integer ≥ 0, malformed
            ``coefficients``, an unsupported ``dtype``, a non-positive ``eps`` or an unknown ``form``.

    Examples:
        >>> import torch
        >>> M = torch.diag(torch.tensor([2.0, 1.0], dtype=torch.float64))
        >>> torch.linalg.svdvals(newton_schulz(M, dtype=torch.float64))
        tensor([1.1142, 0.6888], dtype=torch.float64)

    References:
        K. Jordan et al., "Muon: An optimizer for hidden layers in neural networks", 2024.
        PyTorch ``torch.optim.Muon`` (2.9+), ``torch/optim/_muon.py``.
        D. Feoktistov et al., "Softsign", arXiv 2605.31371, 2026 (SoftMuon sign phase).
    """
    M = _validation.tensor("M", M, min_ndim=2)
    steps = _validation.integer("steps", steps)
    coefficients = _coefficients("coefficients", coefficients)
    _validation.one_of("dtype", dtype, ITERATION_DTYPES)
    eps = _validation.positive_finite("eps", eps)
    _validation.one_of("form", form, NS_FORMS)
    if M.numel() == 0:
        return M.clone()
    rows, cols = M.shape[-2:]
    X = M.reshape(-1, rows, cols) if M.ndim > 3 else M
    out = newton_schulz_kernel(X, steps, coefficients, dtype, eps, form)
    return out.to(M.dtype).reshape(M.shape)


def newton_schulz_scalar_map(x: Any, steps: int = 5, coefficients: tuple[float, float, float] = NS_QUINTIC_JORDAN):
    r"""The scalar polynomial that :func:`newton_schulz` applies to each normalized singular value.

        x ← a x + b x³ + c x⁵,  applied ``steps`` times (no normalization of x).

    For a matrix, newton_schulz(M) = U diag(h(σ/‖M‖_F)) Vᵀ with h this map (up to the eps guard and
    rounding), which makes the band of output singular values easy to plot.

    Args:
        x: a torch tensor, a numpy array, or anything ``numpy.asarray`` accepts.
        steps: number of iterations, an integer ≥ 0.
        coefficients: (a, b, c), finite floats.

    Returns:
        float64 values of the same shape: a torch tensor (on x's device) for torch input, else a
        numpy array.

    Raises:
        ValueError: for ``steps`` not an integer ≥ 0, malformed ``coefficients`` or NaN in ``x``.

    Examples:
        >>> newton_schulz_scalar_map([0.0, 1.0], steps=1)
        array([0.   , 0.701])
    """
    steps = _validation.integer("steps", steps)
    a, b, c = _coefficients("coefficients", coefficients)
    if isinstance(x, Tensor):
        y = x.to(torch.float64)
        nan = bool(torch.isnan(y).any())
    else:
        y = np.asarray(x, dtype=np.float64)
        nan = bool(np.isnan(y).any())
    if nan:
        raise ValueError("x contains NaN")
    for _ in range(steps):
        y2 = y * y
        # Horner form: fewer roundings than a x + b x³ + c x⁵ evaluated term by term.
        y = y * (a + y2 * (b + c * y2))
    return y


def matrix_with_spectrum(
    sigma: Any,
    rows: int,
    cols: int,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    r"""A random (rows, cols) matrix U diag(σ) Vᵀ with prescribed singular values.

    U (rows × k) and V (cols × k), k = len(σ) ≤ min(rows, cols), are the Q factors of the QR
    decomposition of Gaussian matrices drawn with ``generator``, with column signs fixed by the sign of
    diag(R) so that the distribution is Haar. The factorization is done in float64 and the result cast
    to ``dtype``.

    Args:
        sigma: 1-D sequence or tensor of k ≥ 1 non-negative finite singular values (any order).
        rows, cols: the shape, positive integers with k ≤ min(rows, cols).
        generator: a ``torch.Generator`` for reproducibility (CPU); None uses the global RNG.
        dtype: floating dtype of the result.

    Returns:
        Tensor of shape (rows, cols) on the CPU.

    Raises:
        ValueError: for a malformed ``sigma`` (not 1-D, empty, negative, non-finite, too long) or
            non-positive ``rows``/``cols``.

    Examples:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> M = matrix_with_spectrum([3.0, 1.0], 4, 2, generator=g)
        >>> torch.linalg.svdvals(M)
        tensor([3., 1.], dtype=torch.float64)
    """
    rows, cols = _validation.integer("rows", rows, 1), _validation.integer("cols", cols, 1)
    _validation.one_of("dtype", dtype, ITERATION_DTYPES)
    s = torch.as_tensor(sigma, dtype=torch.float64).cpu()
    if s.ndim != 1 or s.numel() == 0:
        raise ValueError(f"sigma must be a non-empty 1-D sequence, got shape {tuple(s.shape)}")
    if not bool(torch.isfinite(s).all()) or bool((s < 0).any()):
        raise ValueError(f"sigma must contain finite values >= 0, got {s.tolist()!r}")
    k = s.numel()
    if k > min(rows, cols):
        raise ValueError(f"sigma has {k} values but a ({rows}, {cols}) matrix has at most {min(rows, cols)}")

    def haar(n: int) -> Tensor:
        Q, R = torch.linalg.qr(torch.randn(n, k, generator=generator, dtype=torch.float64))
        # QR of a Gaussian is Haar only after fixing the sign ambiguity of each column.
        d = torch.sign(torch.diagonal(R))
        return Q * torch.where(d == 0, torch.ones_like(d), d)

    U, V = haar(rows), haar(cols)
    return ((U * s) @ V.T).to(dtype)


@dataclass
class SpectrumAudit:
    r"""What a spectral map did to the singular values of one matrix (see :func:`audit_spectral_map`).

    Attributes:
        sigma_in: input singular values σ, descending (float64).
        sigma_out: u_iᵀ fn(M) v_i for the input's singular pairs (u_i, v_i), in the order of
            ``sigma_in`` (float64). For a spectral map fn(M) = U diag(h(σ)) Vᵀ this is h(σ_i); it is
            *signed*, so a map that flips a direction shows up as a negative value.
        sigma_target: what an exact map gives, target(σ) (ones for the polar factor).
        condition_number: σ_max/σ_min (inf if σ_min = 0).
        max_abs_error: max_i |sigma_out_i − sigma_target_i|.
        band: (min sigma_out, max sigma_out).
    """

    sigma_in: Tensor
    sigma_out: Tensor
    sigma_target: Tensor
    condition_number: float
    max_abs_error: float
    band: tuple[float, float]


def audit_spectral_map(
    fn: Callable[[Tensor], Tensor],
    M: Tensor,
    target: Callable[[Tensor], Tensor] | None = None,
) -> SpectrumAudit:
    r"""Measure the output singular values of a spectral iteration, paired with the input's directions.

    With the thin SVD M = U diag(σ) Vᵀ (computed in float64) the audit reports

        sigma_out_i = u_iᵀ fn(M) v_i,

    which equals h(σ_i) when fn is spectral, fn(M) = U diag(h(σ)) Vᵀ. Pairing by direction instead of
    re-sorting the output's singular values keeps each h(σ_i) next to its σ_i, which matters because
    Newton–Schulz polynomials are not monotone (a smaller input can land above a larger one).

    Args:
        fn: a map from a (rows, cols) tensor to a tensor of the same shape, e.g.
            ``lambda X: newton_schulz(X, dtype=torch.float64)``. It receives ``M`` unchanged (same dtype).
        M: a single matrix, shape (rows, cols).
        target: callable σ ↦ exact output singular values (float64 tensor of σ's shape);
            default ones (the polar factor).

    Returns:
        A :class:`SpectrumAudit`.

    Raises:
        ValueError: if ``M`` is not a single NaN-free floating matrix, ``fn``/``target`` is not
            callable, or their outputs have the wrong shape or contain NaN.

    Examples:
        >>> import torch
        >>> M = torch.diag(torch.tensor([2.0, 1.0], dtype=torch.float64))
        >>> audit = audit_spectral_map(polar_svd, M)
        >>> audit.band, audit.max_abs_error, audit.condition_number
        ((1.0, 1.0), 0.0, 2.0)
    """
    if not callable(fn):
        raise ValueError(f"fn must be callable, got {type(fn).__name__}")
    if target is not None and not callable(target):
        raise ValueError(f"target must be callable or None, got {type(target).__name__}")
    M = _validation.tensor("M", M, min_ndim=2)
    if M.ndim != 2:
        raise ValueError(f"M must be a single matrix of shape (rows, cols), got shape {tuple(M.shape)}")

    U, S, Vh = torch.linalg.svd(M.to(torch.float64), full_matrices=False)
    out = fn(M)
    if not isinstance(out, Tensor) or out.shape != M.shape:
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"fn(M) must return a tensor of shape {tuple(M.shape)}, got {shape}")
    out = _validation.tensor("fn(M)", out).to(device=M.device, dtype=torch.float64)
    # diag(Uᵀ out V) without forming the k × k product.
    sigma_out = ((U.mT @ out) * Vh).sum(dim=-1)

    if target is None:
        sigma_target = torch.ones_like(S)
    else:
        sigma_target = torch.as_tensor(target(S.clone()), dtype=torch.float64, device=S.device)
        if sigma_target.shape != S.shape:
            raise ValueError(f"target(sigma) must have shape {tuple(S.shape)}, got {tuple(sigma_target.shape)}")
        _validation.tensor("target(sigma)", sigma_target)

    smin, smax = float(S.min()), float(S.max())
    return SpectrumAudit(
        sigma_in=S,
        sigma_out=sigma_out,
        sigma_target=sigma_target,
        condition_number=smax / smin if smin > 0 else math.inf,
        max_abs_error=float((sigma_out - sigma_target).abs().max()),
        band=(float(sigma_out.min()), float(sigma_out.max())),
    )
