r"""Matrix problems for the spectral optimizers (Muon, NorMuon, SF-NorMuon): points are (m, n)
matrices, batched as (S, m, n).

* :class:`MatrixLeastSquares`: f(W) = ½‖AW − B‖²_F, convex, closed-form f* (least squares).
* :class:`MatrixFactorization`: f(W) = ½‖UVᵀ − M‖²_F with W = [U; V] stacked, non-convex,
  closed-form f* = ½Σ_{i>r} σ_i(M)² (Eckart–Young), so f* = 0 when rank M ≤ r.

Smoothness is stated in the geometry of SF-NorMuon's stationarity theorem ([SFN-T31], assumption
A2 [I]): primal norm the spectral norm ‖·‖_op, dual norm the nuclear norm ‖·‖_*,

    ‖∇f(W₁) − ∇f(W₂)‖_* ≤ L ‖W₁ − W₂‖_op,

which is the constant a spectral-LMO (Muon-type) descent lemma uses. Both classes accept
``noise=`` (e.g. :class:`~convexlab.problems.noise.Gaussian`), applied by
:meth:`~convexlab.problems.base.Problem.oracle`; the simulator runs matrix optimizers one
optimizer per seed (``layout="per_seed"``), since their polar factors act on whole matrices.
"""

from __future__ import annotations

import torch

from convexlab import _validation as V
from convexlab.problems.base import Problem


def _matrix(name: str, value) -> torch.Tensor:
    t = V.tensor(name, value, min_ndim=2)
    if t.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite (it contains inf)")
    return t


def _as_batch(W: torch.Tensor, shape: tuple) -> tuple[torch.Tensor, bool]:
    """(S, *shape) view of W, and whether W was a single point."""
    if tuple(W.shape) == shape:
        return W.unsqueeze(0), True
    if W.ndim != 3 or tuple(W.shape[1:]) != shape:
        raise ValueError(f"x must have shape {shape} or (S, *{shape}), got {tuple(W.shape)}")
    return W, False


def nuclear_norm(G: torch.Tensor) -> torch.Tensor:
    """‖G‖_* = Σσ_i for each matrix of a (..., m, n) tensor."""
    return torch.linalg.svdvals(G).sum(-1)


def spectral_norm(G: torch.Tensor) -> torch.Tensor:
    """‖G‖_op = σ_max for each matrix of a (..., m, n) tensor."""
    return torch.linalg.svdvals(G)[..., 0]


class MatrixLeastSquares(Problem):
    r"""Matrix least squares f(W) = ½‖AW − B‖²_F, W ∈ R^{m×n}, A ∈ R^{p×m}, B ∈ R^{p×n}.

    ∇f(W) = Aᵀ(AW − B); the Hessian is the linear map Δ ↦ AᵀAΔ, so f is convex and
    ∇f(W₁) − ∇f(W₂) = AᵀA(W₁ − W₂) exactly.

    Smoothness (spectral primal, nuclear dual; SF-NorMuon [SFN-T31] A2). Write k = min(m, n) and
    λ₁ ≥ … ≥ λ_m ≥ 0 for the eigenvalues of AᵀA. Then

        L = sup_{‖Δ‖_op ≤ 1} ‖AᵀAΔ‖_* = Σ_{i≤k} λ_i          (Ky Fan k-norm of AᵀA).

    Upper bound: rank(AᵀAΔ) ≤ k and σ_i(AᵀAΔ) ≤ λ_i ‖Δ‖_op, so ‖AᵀAΔ‖_* ≤ Σ_{i≤k} λ_i ‖Δ‖_op.
    Attained by Δ = the k top eigenvectors of AᵀA (orthonormal columns, n ≥ k = m: padded by
    zero columns), where AᵀAΔ = V_k diag(λ_{1..k}) has nuclear norm Σ_{i≤k} λ_i. So L is exact —
    between λ₁ (the Frobenius constant, ``smoothness_frobenius``) and k·λ₁. [I, derived here]

    f* = ½‖AW* − B‖²_F with W* = A⁺B (least squares, minimum-norm solution); unconstrained
    (box ±∞, ``L`` = None: the gradient is unbounded).

    Args:
        A: (p, m) matrix. B: (p, n) matrix (same dtype handling: both cast to ``dtype``).
        noise: oracle noise model (default exact). dtype: float64 by default.

    >>> import torch
    >>> A = torch.tensor([[2.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    >>> P = MatrixLeastSquares(A, torch.ones(2, 3, dtype=torch.float64))
    >>> P.smoothness, P.smoothness_frobenius, P.f_star   # λ = (4, 1), k = 2
    (5.0, 4.0, 0.0)
    """

    convex = True
    smoothness_norm = "spectral"

    def __init__(self, A: torch.Tensor, B: torch.Tensor, *, noise=None, dtype: torch.dtype = torch.float64):
        A = _matrix("A", A).to(dtype)
        B = _matrix("B", B).to(dtype)
        if A.shape[0] != B.shape[0]:
            raise ValueError(f"A and B must have the same number of rows, got A {tuple(A.shape)} and B {tuple(B.shape)}")
        self.A, self.B = A, B
        m, n = A.shape[1], B.shape[1]
        self._AtA = A.T @ A
        self._AtB = A.T @ B
        eig = torch.linalg.eigvalsh(self._AtA).flip(0).clamp_min(0.0)
        self.smoothness_frobenius = float(eig[0])
        super().__init__((m, n), None, -float("inf"), float("inf"), smoothness=float(eig[: min(m, n)].sum()),
                         noise=noise, dtype=dtype)

    def _solve(self):
        W = torch.linalg.pinv(self.A) @ self.B
        return float(self.f(W.unsqueeze(0))[0]), W

    def f(self, x):
        W, single = _as_batch(x, self.shape)
        out = 0.5 * (self.A @ W - self.B).square().sum((-2, -1))
        return out[0] if single else out

    def subgradient(self, x):
        W, single = _as_batch(x, self.shape)
        g = self._AtA @ W - self._AtB
        return g[0] if single else g


class MatrixFactorization(Problem):
    r"""Non-convex matrix factorization f(W) = ½‖UVᵀ − M‖²_F with the stacked parameter
    W = [U; V] ∈ R^{(m+n)×r}, U ∈ R^{m×r}, V ∈ R^{n×r}, M ∈ R^{m×n}.

    ∇f(W) = [E V; Eᵀ U] with E = UVᵀ − M. W = 0 is a saddle (∇f(0) = 0), so the default start is a
    small fixed random matrix (``init_scale``·N(0, 1), generator seed 0).

    f* = ½ Σ_{i>r} σ_i(M)² (Eckart–Young), attained at the balanced factorization
    W* = [U_r Σ_r^{1/2}; V_r Σ_r^{1/2}] of the thin SVD M = UΣVᵀ; f* = 0 when rank M ≤ r.
    ‖W*‖_op = √(2σ₁(M)) (W*ᵀW* = 2Σ_r).

    Smoothness (spectral primal, nuclear dual, SF-NorMuon [SFN-T31] A2): f is quartic, so only on a
    bounded set. On the spectral ball 𝔅_R = {‖W‖_op ≤ R} (where ‖U‖_op, ‖V‖_op ≤ R),
    :meth:`smoothness_on_ball` returns

        L(R) = 2r (3R² + ‖M‖_op).

    Derivation [I]: with Δ = W₁ − W₂, E₁V₁ − E₂V₂ = E₁ΔV + ΔU V₁ᵀV₂ + U₂ΔVᵀV₂; each term is
    m×r (rank ≤ r), so its nuclear norm is at most r times its spectral norm:
    ≤ r[(R² + ‖M‖_op) + R² + R²]‖Δ‖_op. The lower block is symmetric, and the nuclear norm of a
    stacked matrix is at most the sum of the blocks'. Not tight (a valid constant, not the best).
    ``smoothness`` is None (no global constant).

    Args:
        M: (m, n) target. rank: r ≥ 1 (the inner dimension). noise: oracle noise model.
        init_scale: scale of the default start (> 0). dtype: float64 by default.

    >>> import torch
    >>> M = torch.tensor([[3.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    >>> P = MatrixFactorization(M, rank=1)
    >>> P.shape, P.f_star    # ½·1² from the dropped singular value
    ((4, 1), 0.5)
    """

    convex = False
    smoothness_norm = "spectral"

    def __init__(self, M: torch.Tensor, rank: int, *, noise=None, init_scale: float = 0.1,
                 dtype: torch.dtype = torch.float64):
        M = _matrix("M", M).to(dtype)
        if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= min(M.shape):
            raise ValueError(f"rank must be an integer in [1, {min(M.shape)}] (min of M's shape), got {rank!r}")
        init_scale = V.positive_finite("init_scale", init_scale)
        self.M, self.rank = M, rank
        self.m, self.n = M.shape
        super().__init__((self.m + self.n, rank), None, -float("inf"), float("inf"), noise=noise, dtype=dtype)
        gen = torch.Generator().manual_seed(0)
        self.start = init_scale * torch.randn(self.shape, generator=gen, dtype=dtype)

    def smoothness_on_ball(self, radius: float) -> float:
        r"""L(R) = 2r(3R² + ‖M‖_op): ‖∇f(W₁) − ∇f(W₂)‖_* ≤ L(R)‖W₁ − W₂‖_op on ‖W‖_op ≤ R."""
        R = V.positive_finite("radius", radius)
        return 2 * self.rank * (3 * R**2 + float(spectral_norm(self.M)))

    def _solve(self):
        U, s, Vh = torch.linalg.svd(self.M, full_matrices=False)
        r = self.rank
        root = s[:r].sqrt()
        W = torch.cat([U[:, :r] * root, Vh[:r].T * root], dim=0)
        return 0.5 * float(s[r:].square().sum()), W

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(U, V) blocks of a (…, m + n, r) point."""
        return x[..., : self.m, :], x[..., self.m:, :]

    def f(self, x):
        W, single = _as_batch(x, self.shape)
        U, Vm = self.split(W)
        out = 0.5 * (U @ Vm.transpose(-2, -1) - self.M).square().sum((-2, -1))
        return out[0] if single else out

    def subgradient(self, x):
        W, single = _as_batch(x, self.shape)
        U, Vm = self.split(W)
        E = U @ Vm.transpose(-2, -1) - self.M
        g = torch.cat([E @ Vm, E.transpose(-2, -1) @ U], dim=-2)
        return g[0] if single else g
