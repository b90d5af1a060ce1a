r"""Spectral optimizers for hidden weight matrices: Muon, NorMuon and SoftMuon.

All three share the momentum rule of the reference code (KellerJordan/Muon ``muon_update``)::

    M_t = μ M_{t−1} + (1 − μ) g_t                 (EMA, M_0 = 0)
    u_t = (1 − μ) g_t + μ M_t   (Nesterov)   or   u_t = M_t

and differ in the direction applied to u_t (viewed as an (m, n) matrix; tensors with more than two
dimensions are reshaped to (shape[0], −1)):

==========  ==========================================================  ===========================
optimizer   direction                                                   geometry
==========  ==========================================================  ===========================
Muon        NS5(u) ≈ polar(u) = U Vᵀ, times a shape factor              ``Spectral(Sign())``
NorMuon     polar(u) with per-row second-moment normalization,          ``Spectral(Sign())`` then
            rescaled to a fixed RMS                                     ``RowNormalized``
SoftMuon    NS5(u) until step S, then Φ_τ(u) = U φ(τΣ) Vᵀ,              ``Spectral(SoftSign(τ,
            φ(x) = x/√(1+x²), τ from a schedule fitted once             "algebraic"))``
==========  ==========================================================  ===========================

Every class is ``matrix_only``: 1-D gains and biases, embeddings and the output head belong to
AdamW (see :mod:`convexlab.optim.routing`). The gradient ``p.grad`` is never written to (the
reference implementations compute the Nesterov mix in place in ``p.grad``).

References
----------
- K. Jordan et al., "Muon: An optimizer for hidden layers in neural networks", 2024
  (github.com/KellerJordan/Muon, ``SingleDeviceMuon``); ``torch.optim.Muon`` (PyTorch ≥ 2.9).
- J. Liu et al., "Muon is Scalable for LLM Training", arXiv 2502.16982 (the 0.2·√max(m, n) RMS matching).
- J. Bernstein, L. Newhouse, "Old optimizer, new norm: an anthology", arXiv 2409.20325 (steepest
  descent in the spectral norm).
- Z. Li et al., "NorMuon: Making Muon more efficient and scalable", arXiv 2510.05491 (Algorithm 1;
  reference code github.com/zichongli5/NorMuon, ``SingleDeviceNorMuon``).
- D. Feoktistov et al., "Softsign: Smooth Sign in Your Optimizer For Better Parameter Heterogeneity
  Handling", arXiv 2605.31371 (official code brain-lab-research/softsign@77526d8,
  ``SingleDeviceSoftMuon``).
"""

from __future__ import annotations

import math

import torch

from convexlab.linalg import NS_QUINTIC_JORDAN, newton_schulz, polar_svd, soft_polar
from convexlab.optim.base import (
    ComposedOptimizer,
    check_beta,
    check_choice,
    check_int,
    check_nonneg,
    check_positive,
    unhooked,
)
from convexlab.optim.temperature import temperature_schedule

#: AdamW RMS matching factor s: an update of RMS s·lr (Liu et al. 2025, arXiv 2502.16982, §2.2; NorMuon
#: Alg. 1 uses the same 0.2).
RMS_MATCH = 0.2

POLARS = ("ns5", "svd")
ADJUST_LR = ("original", "match_rms_adamw")
NORMUON_VARIANTS = ("paper", "reference_code")
INV_ROOTS = ("ns5_official", "eigh", "svd")
NS_DTYPES = (torch.bfloat16, torch.float16, torch.float32, torch.float64)


def as_matrix(t: torch.Tensor) -> torch.Tensor:
    """The (shape[0], −1) matrix view of a tensor with at least two dimensions."""
    return t if t.ndim == 2 else t.reshape(t.shape[0], -1)


def _lr_scale(rows: int, cols: int, adjust_lr: str) -> float:
    """Shape factor of the update: √max(1, m/n) (Jordan) or 0.2·√max(m, n) (Moonlight)."""
    if adjust_lr == "original":
        return math.sqrt(max(1.0, rows / cols))
    return RMS_MATCH * math.sqrt(max(rows, cols))


def _check_bool(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


class _SpectralBase(ComposedOptimizer):
    """Shared parts: matrix-only routing, the EMA/Nesterov momentum, the polar factor."""

    matrix_only = True

    def _validate_group(self, group):
        super()._validate_group(group)
        check_beta(group["momentum"], "momentum")
        _check_bool(group["nesterov"], "nesterov")
        check_int(group["ns_steps"], "ns_steps")
        check_choice(group["ns_dtype"], "ns_dtype", NS_DTYPES)

    def _init_state(self, p, state, group):
        state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    def _momentum(self, g: torch.Tensor, state: dict, group: dict) -> torch.Tensor:
        """M ← lerp(M, g, 1 − μ); return lerp(g, M, μ) (Nesterov) or M. Never writes into g."""
        mu = group["momentum"]
        M = state["momentum_buffer"]
        g = g.to(M.dtype)
        M.lerp_(g, 1.0 - mu)
        return torch.lerp(g, M, mu) if group["nesterov"] else M

    @staticmethod
    def _polar(X: torch.Tensor, group: dict) -> torch.Tensor:
        if group.get("polar", "ns5") == "svd":
            return polar_svd(X)
        return newton_schulz(X, group["ns_steps"], NS_QUINTIC_JORDAN, dtype=group["ns_dtype"])


class Muon(_SpectralBase):
    r"""Muon (Jordan et al. 2024; KellerJordan/Muon ``SingleDeviceMuon``, SF-NorMuon spec §2.2 [R])::

        M_t = μ M_{t−1} + (1 − μ) g_t                      (M_0 = 0)
        u_t = (1 − μ) g_t + μ M_t  (nesterov)  or  M_t
        O_t = NS5(u_t) ≈ polar(u_t) = U Vᵀ                (``polar="svd"``: exact U Vᵀ)
        W_{t+1} = W_t (1 − ηλ) − η · s(m, n) · O_t

    with the shape factor s = √max(1, m/n) (``adjust_lr="original"``, Jordan) or 0.2·√max(m, n)
    (``"match_rms_adamw"``, Moonlight: update RMS ≈ 0.2·η, since an orthogonal m × n matrix has RMS
    1/√max(m, n)); m, n are the rows and columns of the (shape[0], −1) matrix view. Decay is decoupled
    and applied first, with the same η.

    Geometry ``Spectral(Sign())``: ψ = indicator of the spectral-norm unit ball, ψ* = nuclear norm,
    ∇ψ* = U Vᵀ — Muon is steepest descent (an LMO step) in the spectral norm (Bernstein & Newhouse,
    arXiv 2409.20325). NS5 = :func:`convexlab.linalg.newton_schulz` with Jordan's quintic, 5 steps,
    Frobenius pre-scaling, in ``ns_dtype`` (bfloat16 as the reference); its singular values lie in a
    band around 1, not on 1.

    Equal to ``torch.optim.Muon`` (whose buffer update is the same lerp) for ``weight_decay`` and
    ``adjust_lr_fn`` set alike, up to the NS arithmetic (torch fuses ``addmm``; tested).

    Args:
        lr: η ≥ 0 (0.02). momentum: μ ∈ [0, 1) (0.95). nesterov: bool (True).
        weight_decay: λ ≥ 0 (0). ns_steps: integer ≥ 0 (5).
        ns_dtype: NS working precision: bfloat16 (reference), float16, float32, float64.
        polar: ``"ns5"`` or ``"svd"`` (exact, in the parameter dtype or float32).
        adjust_lr: ``"original"`` or ``"match_rms_adamw"``.
        nonfinite, seed: see :class:`~convexlab.optim.base.ComposedOptimizer`.

    Raises:
        ValueError: for a parameter with fewer than 2 dimensions (route it to AdamW) or a bad
            hyperparameter (the message names it).

    >>> import torch
    >>> w = torch.nn.Parameter(torch.zeros(2, 2))
    >>> opt = Muon([w], lr=0.1, momentum=0.0, polar="svd")
    >>> w.grad = torch.tensor([[3.0, 0.0], [0.0, -0.5]]); _ = opt.step(); w.detach()
    tensor([[-0.1000,  0.0000],
            [ 0.0000,  0.1000]])
    """

    def __init__(self, params, lr: float = 0.02, momentum: float = 0.95, nesterov: bool = True,
                 weight_decay: float = 0.0, *, ns_steps: int = 5, ns_dtype: torch.dtype = torch.bfloat16,
                 polar: str = "ns5", adjust_lr: str = "original", **kw):
        defaults = dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, ns_steps=ns_steps,
                        ns_dtype=ns_dtype, polar=polar, adjust_lr=adjust_lr)
        super().__init__(params, defaults, **kw)

    def _validate_group(self, group):
        super()._validate_group(group)
        check_choice(group["polar"], "polar", POLARS)
        check_choice(group["adjust_lr"], "adjust_lr", ADJUST_LR)

    def _direction(self, p, g, state, group):
        X = as_matrix(self._momentum(g, state, group))
        O = self._polar(X, group)
        s = _lr_scale(X.shape[0], X.shape[1], group["adjust_lr"])
        if s != 1.0:
            O = O.mul(s)
        return O.reshape(p.shape)


class NorMuon(_SpectralBase):
    r"""NorMuon (Li et al., arXiv 2510.05491): Muon with per-row (neuron-wise) second-moment normalization.

    ``variant="paper"`` — Algorithm 1 as restated in NorMuon issue #6 (SF-NorMuon spec §2.3 [R, T]);
    the form SF-NorMuon builds on::

        M_t = μ M_{t−1} + (1 − μ) g_t                         (plain EMA; Nesterov off by default)
        O_t = NS5(M_t)                                        (``polar="svd"``: exact U Vᵀ)
        v_t = β2 v_{t−1} + (1 − β2) · mean_cols(O_t ⊙ O_t)    (v ∈ R^m, v_0 = 0, no bias correction)
        Ô_t = O_t ⊘ (√v_t + ε)                                (row i divided by √v_t[i] + ε)
        W_{t+1} = W_t (1 − ηλ) − η · 0.2·√(mn)/‖Ô_t‖_F · Ô_t

    so the update has RMS exactly 0.2·η (AdamW RMS matching) whatever v is. Defaults: the paper betas
    μ = β2 = 0.95, ε = 1e-8 (outside the root, as in the SF-NorMuon dev code; issue #6 writes √(v+ε)).

    ``variant="reference_code"`` — zichongli5/NorMuon ``SingleDeviceNorMuon``; three differences (NorMuon
    issues #5, #6): (i) Nesterov u = (1 − μ)g + μM by default; (ii) after the row scaling
    1/(√v + ε), ε = 1e-10, the update is rescaled to the Frobenius norm of O (not to 0.2·√(mn));
    (iii) then multiplied by √max(1, m/n). The state ``second_momentum_buffer`` has shape (m, 1). As in
    that code, a parameter without a gradient still steps (with g = 0, through its momentum) but is
    not decayed.

    ``row_norm=False`` (Fig. 3 ablation) skips the row scaling (Ô = O, v is not updated); the paper
    variant is still RMS-matched.

    Geometry: ``Spectral(Sign())`` (polar factor) followed by the ``RowNormalized`` post-map; the row
    scaling leaves the spectral-LMO geometry (the update is no longer an orthogonal matrix).
    Tensors with more than two dimensions use their (shape[0], −1) view throughout (the reference
    code's 4-D handling differs).

    Args:
        lr: η ≥ 0 (0.02, the reference code's default). momentum: μ ∈ [0, 1) (0.95). beta2: β2 ∈ [0, 1) (0.95).
        eps: ε ≥ 0; ``None`` → 1e-8 (paper) or 1e-10 (reference_code).
        weight_decay: λ ≥ 0, decoupled. variant: ``"paper"`` or ``"reference_code"``.
        nesterov: ``None`` → False (paper) or True (reference_code). row_norm: bool.
        polar: ``"ns5"`` or ``"svd"``. ns_steps, ns_dtype: as :class:`Muon`.

    >>> import torch
    >>> w = torch.nn.Parameter(torch.zeros(3, 4, dtype=torch.float64))
    >>> opt = NorMuon([w], lr=0.5, polar="svd")
    >>> w.grad = torch.randn(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> _ = opt.step(); round(float(w.detach().square().mean().sqrt()), 12)  # RMS(update) = 0.2·η
    0.1
    """

    def __init__(self, params, lr: float = 0.02, momentum: float = 0.95, beta2: float = 0.95, eps: float | None = None,
                 weight_decay: float = 0.0, *, variant: str = "paper", nesterov: bool | None = None,
                 row_norm: bool = True, polar: str = "ns5", ns_steps: int = 5,
                 ns_dtype: torch.dtype = torch.bfloat16, **kw):
        check_choice(variant, "variant", NORMUON_VARIANTS)
        self.variant = variant
        if eps is None:
            eps = 1e-8 if variant == "paper" else 1e-10
        if nesterov is None:
            nesterov = variant == "reference_code"
        self._without_grad: set[int] = set()
        defaults = dict(lr=lr, momentum=momentum, beta2=beta2, eps=eps, weight_decay=weight_decay, nesterov=nesterov,
                        row_norm=row_norm, polar=polar, ns_steps=ns_steps, ns_dtype=ns_dtype)
        super().__init__(params, defaults, **kw)

    def _validate_group(self, group):
        super()._validate_group(group)
        check_beta(group["beta2"], "beta2")
        check_nonneg(group["eps"], "eps")
        _check_bool(group["row_norm"], "row_norm")
        check_choice(group["polar"], "polar", POLARS)

    def _init_state(self, p, state, group):
        super()._init_state(p, state, group)
        m = p.shape[0]
        if self.variant == "paper":
            state["v"] = torch.zeros(m, dtype=p.dtype, device=p.device)
        else:
            state["second_momentum_buffer"] = torch.zeros(m, 1, dtype=p.dtype, device=p.device)

    def _active(self, group):
        params, grads = super()._active(group)
        self._without_grad = set()
        if self.variant == "reference_code":
            # the reference steps every parameter, a missing gradient counting as zero (without decay)
            for p in group["params"]:
                if p.grad is None:
                    params.append(p)
                    grads.append(torch.zeros_like(p))
                    self._without_grad.add(id(p))
        return params, grads

    def _apply(self, p, d, state, group):
        if id(p) not in self._without_grad:
            return super()._apply(p, d, state, group)
        wd = group["weight_decay"]
        group["weight_decay"] = 0.0
        try:
            return super()._apply(p, d, state, group)
        finally:
            group["weight_decay"] = wd

    def _direction(self, p, g, state, group):
        X = as_matrix(self._momentum(g, state, group))
        m, n = X.shape
        O = self._polar(X, group)
        eps = group["eps"]
        paper = self.variant == "paper"
        if group["row_norm"]:
            row_ms = O.square().mean(dim=1)
            if paper:
                v = state["v"]
                v.lerp_(row_ms, 1.0 - group["beta2"])
                O_hat = O / (v.sqrt() + eps).unsqueeze(1)
            else:
                v = state["second_momentum_buffer"]
                v.lerp_(row_ms.unsqueeze(1), 1.0 - group["beta2"])
                O_hat = O * (1.0 / (v.sqrt() + eps))
        else:
            O_hat = O
        norm_hat = O_hat.norm()
        if paper:
            # η̂/η = 0.2·√(mn)/‖Ô‖_F; a zero Ô (zero momentum) gives a zero step, never 0/0
            c = torch.full_like(norm_hat, RMS_MATCH * math.sqrt(m * n))
            scale = torch.where(norm_hat > 0, c / norm_hat, torch.zeros_like(norm_hat))
            d = O_hat * scale
        else:
            d = O_hat * (O.norm() / (norm_hat + eps))
            s = math.sqrt(max(1.0, m / n))
            if s != 1.0:
                d = d.mul(s)
        return d.reshape(p.shape)


class SoftMuon(_SpectralBase):
    r"""SoftMuon (Feoktistov et al., arXiv 2605.31371; official ``SingleDeviceSoftMuon``, Softsign spec §4.2–4.3)::

        M_t = μ M_{t−1} + (1 − μ) g_t;   u_t = (1 − μ) g_t + μ M_t          (EMA + Nesterov)
        O_t = NS5(u_t)                    for k ≤ S                          (Muon phase)
        O_t = Φ_{τ_k}(u_t) = U diag(τσ/√(1 + τ²σ²)) Vᵀ   for k > S          (soft polar)
        W_{t+1} = W_t (1 − ηλ) − η · √max(1, rows/cols) · O_t

    k = 1, 2, … counts ``step()`` calls (``group["iteration"]``, shared by all groups as in the
    official optimizer-wide counter). τ_k = schedule[min(max(k − S − 1, 0), T − 1)]: after S + T steps
    the last τ is held (official). The schedule is computed **once**, at k = S + 1, per param group,
    from the singular values of all **raw gradients** of the group (taken before this step's momentum
    update; ``torch.linalg.svdvals`` in float32, or float64 for float64 gradients; a parameter without
    a gradient contributes min(m, n) zeros, as the official code's zero gradient does) by
    :func:`~convexlab.optim.temperature.temperature_schedule` with ``kind="algebraic"`` (φ⁻¹(1 − ε) =
    70.705 at ε = 1e-4) in float64. It is stored in ``group["schedule"]`` and the current τ in
    ``group["tau"]`` (``None`` in the Muon phase), so both are saved by ``state_dict``. The scale uses the
    gradient's original last two dimensions (official); other tensors use the (shape[0], −1) view.

    ``inv_root`` picks Φ_τ's implementation: ``"ns5_official"`` (default) is the official RegNS —
    5 coupled Newton–Schulz steps on XXᵀ + τ⁻²I in ``ns_dtype`` (bfloat16 officially; float32/64 for
    CPU tests) — a coarse approximation of Φ_τ for ill-conditioned u (spec §4.4, Q7), with a jump
    at the switch from NS5; ``"eigh"`` (exact, via eigh of the smaller Gram matrix) and ``"svd"``
    (exact) compute Φ_τ in the update's dtype.

    ``sign_iters=None`` and ``transition_iters=None`` give plain Muon (identical to :class:`Muon` with
    the same ``ns_dtype``). Setting only one of them is an error (the official code silently runs Muon).

    Geometry: ``Spectral(SoftSign(τ, "algebraic"))``, ψ*_τ(M) = Σ_i (√(1 + τ²σ_i²) − 1)/τ and
    ∇ψ*_τ = Φ_τ; τ → ∞ is Muon's ``Spectral(Sign())``, τ → 0 is momentum SGD with step η·τ.

    Args:
        lr: η ≥ 0 (0.02). weight_decay: λ ≥ 0 (0). momentum: μ ∈ [0, 1) (0.95).
        sign_iters: S ≥ 0 or None. transition_iters: T ≥ 1 or None.
        eps: saturation tolerance ε ∈ (0, 1) (1e-4). newton_iters: quantile Newton steps ≥ 0 (10).
        tmax: upper clamp of τ, ≥ 1 (1e9). nesterov: bool (True, hard-coded officially).
        ns_steps: NS5 and RegNS steps (5). ns_dtype: their working precision (bfloat16).
        inv_root: ``"ns5_official"``, ``"eigh"`` or ``"svd"``.

    >>> import torch
    >>> w = torch.nn.Parameter(torch.zeros(4, 6, dtype=torch.float64))
    >>> opt = SoftMuon([w], sign_iters=1, transition_iters=4, inv_root="eigh", ns_dtype=torch.float64)
    >>> gen = torch.Generator().manual_seed(0)
    >>> for _ in range(3):
    ...     w.grad = torch.randn(4, 6, dtype=torch.float64, generator=gen); _ = opt.step()
    >>> opt.param_groups[0]["schedule"].shape, opt.param_groups[0]["tau"] == float(opt.param_groups[0]["schedule"][1])
    (torch.Size([4]), True)
    """

    def __init__(self, params, lr: float = 0.02, weight_decay: float = 0.0, momentum: float = 0.95,
                 sign_iters: int | None = None, transition_iters: int | None = None, eps: float = 1e-4,
                 newton_iters: int = 10, tmax: float = 1e9, *, nesterov: bool = True, ns_steps: int = 5,
                 ns_dtype: torch.dtype = torch.bfloat16, inv_root: str = "ns5_official", **kw):
        defaults = dict(lr=lr, weight_decay=weight_decay, momentum=momentum, sign_iters=sign_iters,
                        transition_iters=transition_iters, eps=eps, newton_iters=newton_iters, tmax=tmax,
                        nesterov=nesterov, ns_steps=ns_steps, ns_dtype=ns_dtype, inv_root=inv_root,
                        iteration=0, schedule=None, tau=None)
        super().__init__(params, defaults, **kw)

    def _validate_group(self, group):
        super()._validate_group(group)
        S, T = group["sign_iters"], group["transition_iters"]
        if (S is None) != (T is None):
            raise ValueError(f"sign_iters and transition_iters must both be None (plain Muon) or both integers, "
                             f"got sign_iters={S!r}, transition_iters={T!r}")
        if S is not None:
            check_int(S, "sign_iters")
            check_int(T, "transition_iters", minimum=1)
        check_positive(group["eps"], "eps")
        if group["eps"] >= 1:
            raise ValueError(f"eps must be in (0, 1), got {group['eps']!r}")
        check_int(group["newton_iters"], "newton_iters")
        check_positive(group["tmax"], "tmax")
        if group["tmax"] < 1:
            raise ValueError(f"tmax must be >= 1 (τ is clamped to [1, tmax]), got {group['tmax']!r}")
        check_choice(group["inv_root"], "inv_root", INV_ROOTS)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            group["iteration"] += 1
        return unhooked(super().step)(closure)

    @staticmethod
    def _raw_singular_values(group, params, grads) -> torch.Tensor:
        by_id = {id(p): g for p, g in zip(params, grads)}
        out = []
        for p in group["params"]:
            g = by_id.get(id(p))
            if g is None:  # no (finite) gradient: the official code's zero gradient
                out.append(torch.zeros(min(as_matrix(p).shape), dtype=torch.float64, device=p.device))
                continue
            G = as_matrix(g.detach())
            G = G.to(torch.float64 if G.dtype == torch.float64 else torch.float32)
            out.append(torch.linalg.svdvals(G).to(torch.float64))
        return torch.cat(out)

    def _group_step(self, group, params, grads, states):
        S, T, k = group["sign_iters"], group["transition_iters"], group["iteration"]
        tau = None
        if S is not None and k > S:
            if group["schedule"] is None:  # k == S + 1 (or the first later step with gradients)
                z = self._raw_singular_values(group, params, grads)
                group["schedule"] = temperature_schedule(z, T, group["eps"], group["newton_iters"], group["tmax"],
                                                         kind="algebraic", dtype=torch.float64)
            sched = group["schedule"]
            tau = float(sched[min(max(k - S - 1, 0), sched.numel() - 1)])
        group["tau"] = tau
        super()._group_step(group, params, grads, states)

    def _direction(self, p, g, state, group):
        X = as_matrix(self._momentum(g, state, group))
        tau = group["tau"]
        if tau is None:
            O = newton_schulz(X, group["ns_steps"], NS_QUINTIC_JORDAN, dtype=group["ns_dtype"])
        elif group["inv_root"] == "ns5_official":
            O = soft_polar(X, tau, "ns5_official", ns_steps=group["ns_steps"], dtype=group["ns_dtype"])
        else:
            O = soft_polar(X, tau, group["inv_root"])
        s = math.sqrt(max(1.0, g.shape[-2] / g.shape[-1]))
        if s != 1.0:
            O = O.mul(s)
        return O.reshape(p.shape)
