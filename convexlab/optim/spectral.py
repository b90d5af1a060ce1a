r"""Spectral optimizers for hidden weight matrices: Muon, NorMuon and SoftMuon.

Each step is the composed update of :mod:`convexlab.optim.base` with a matrix view and a post-map::

    u_t = momentum(g_t)                               EMA M_t = μ M_{t−1} + (1 − μ) g_t (M_0 = 0), then
                                                      u_t = (1 − μ) g_t + μ M_t (Nesterov) or u_t = M_t
    U_t = view(u_t)                                   the (shape[0], −1) matrix of the tensor
    O_t = geometry(group).step_directions(U_t)        Spectral(g, solver): polar factor, Φ_τ, ...
    d_t = post-map(O_t)                               Muon/SoftMuon: shape factor; NorMuon: row scaling
    W_{t+1} = W_t (1 − ηλ) − η d_t

==========  ==========================================================  ==================================
optimizer   direction                                                   geometry(group)
==========  ==========================================================  ==================================
Muon        NS5(u) ≈ polar(u) = U Vᵀ, times a shape factor              ``Spectral(Sign(), NewtonSchulz)``
NorMuon     polar(u) with per-row second-moment normalization,          ``Spectral(Sign(), NewtonSchulz)``
            rescaled to a fixed RMS                                     then the row post-map
SoftMuon    NS5(u) until step S, then Φ_τ(u) = U φ(τΣ) Vᵀ,              ``Spectral(SoftSign(τ,
            φ(x) = x/√(1+x²), τ from a schedule fitted once             "algebraic"), RegNS|eigh|svd)``
==========  ==========================================================  ==================================

``polar="svd"`` (Muon, NorMuon) and ``inv_root="eigh"|"svd"`` (SoftMuon) use exact solvers. No
host synchronisation happens in the direction (the step's one synchronisation is the base class's
gradient check). On an accelerator the geometry solves all matrices of one shape of a group in one
batched call (one stack in the solver's working dtype, one batched matmul per product); on the CPU,
where batched bf16 GEMMs measured slower, and with ``foreach=False`` it goes one matrix at a time
(bit for bit the same results for the Newton–Schulz solvers; tested).

Shapes: ONE rule for the three optimizers. A tensor with more than two dimensions is the
(shape[0], −1) matrix (a conv weight (out, in, kh, kw) is out × in·kh·kw); its shape factor uses the
rows and columns of that matrix. The references differ (each difference stated where it applies):

- KellerJordan/Muon and the official SoftMuon code view 4-D tensors the same way but take the shape
  factor from the last two dimensions of the original tensor (kh/kw for a conv weight: √max(1, 1/1)
  = 1 on a (16, 2, 1, 1) weight, where we use √(16/2) = 2.83), and treat a 3-D tensor as a batch of
  shape[0] matrices of shape (shape[1], shape[2]) (NS5 and its Frobenius scaling per matrix), where
  we orthogonalize the one (shape[0], shape[1]·shape[2]) matrix.
- ``torch.optim.Muon`` accepts 2-D parameters only (its factor uses shape[:2]).
- zichongli5/NorMuon (the NorMuon reference code) views 4-D tensors like KellerJordan/Muon.

A zero-size parameter ((m, 0), (0, n), ...) gets a zero-size (no-op) step and its momentum is kept.
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
import warnings

import torch

from convexlab import _validation as V
from convexlab.geometry import Sign, SoftSign
from convexlab.geometry.spectral import NewtonSchulz, RegularizedNewtonSchulz, Spectral
from convexlab.linalg import NS_FORMS, NS_QUINTIC_JORDAN
from convexlab.optim.base import ComposedOptimizer
from convexlab.optim.momentum import EMA, Nesterov

#: AdamW RMS matching factor s: an update of RMS s·lr (Liu et al. 2025, arXiv 2502.16982, §2.2; NorMuon
#: Alg. 1 uses the same 0.2).
RMS_MATCH = 0.2
#: the Frobenius-norm guard of NS5 (KellerJordan/Muon, torch.optim.Muon, official SoftMuon)
NS_EPS = 1e-7

POLARS = ("ns5", "svd")
ADJUST_LR = ("original", "match_rms_adamw")
NORMUON_VARIANTS = ("paper", "reference_code")
INV_ROOTS = ("ns5_official", "eigh", "svd")
NS_DTYPES = (torch.bfloat16, torch.float16, torch.float32, torch.float64)


def as_matrix(t: torch.Tensor) -> torch.Tensor:
    """The (shape[0], −1) matrix view of a tensor with at least two dimensions (zero-size safe:
    a (3, 0, 2) tensor is a 3 × 0 matrix)."""
    if t.ndim == 2:
        return t
    return t.reshape(t.shape[0], math.prod(t.shape[1:]))


def shape_factor(rows: int, cols: int, adjust_lr: str = "original") -> float:
    """Shape factor of the update: √max(1, m/n) (Jordan) or 0.2·√max(m, n) (Moonlight); 1 for an
    empty matrix (its update is empty)."""
    if rows == 0 or cols == 0:
        return 1.0
    if adjust_lr == "original":
        return math.sqrt(max(1.0, rows / cols))
    return RMS_MATCH * math.sqrt(max(rows, cols))


class _SpectralBase(ComposedOptimizer):
    """Shared parts: matrix-only routing, the EMA/Nesterov momentum, NS5, the batched group step."""

    matrix_only = True

    def _validate_group(self, group):
        super()._validate_group(group)
        V.beta("momentum", group["momentum"])
        V.boolean("nesterov", group["nesterov"])
        V.integer("ns_steps", group["ns_steps"])
        V.one_of("ns_dtype", group["ns_dtype"], NS_DTYPES)
        V.one_of("ns_form", group["ns_form"], NS_FORMS)

    # -- the parts -------------------------------------------------------------------------------
    def momentum(self, group):
        r""":class:`~convexlab.optim.momentum.EMA` (m_0 = 0, state ``momentum_buffer``), under
        :class:`~convexlab.optim.momentum.Nesterov` when ``nesterov``: u = lerp(g, M, μ), the
        ``torch.optim.Muon`` / KellerJordan form."""
        inner = EMA("momentum", first="zero", key="momentum_buffer")
        return Nesterov(inner) if group["nesterov"] else inner

    def _ns_geometry(self, group) -> Spectral:
        """``Spectral(Sign(), NewtonSchulz(...))`` for ``polar="ns5"``, ``Spectral(Sign())`` (exact) else."""
        key = ("sign", group.get("polar", "ns5"), group["ns_steps"], group["ns_dtype"], group["ns_form"])
        cache = self.__dict__.setdefault("_geometry_cache", {})
        geo = cache.get(key)
        if geo is None:
            if key[1] == "svd":
                geo = Spectral(Sign())
            else:
                geo = Spectral(Sign(), NewtonSchulz(group["ns_steps"], NS_QUINTIC_JORDAN, group["ns_dtype"], NS_EPS,
                                                    group["ns_form"]))
            cache[key] = geo
        return geo

    def geometry(self, group):
        """The spectral geometry whose ``step_directions`` the next step applies to the matrix views."""
        return self._ns_geometry(group)

    # -- the step --------------------------------------------------------------------------------
    @staticmethod
    def _solve(geo, group, mats) -> list:
        """geometry.solve on the matrix views: batched by shape, or one tensor at a time (foreach=False)."""
        if group.get("foreach", None) is False:
            return [geo.solve([m])[0] for m in mats]
        return geo.solve(mats)

    def _directions(self, group, params, us, states, geo=None) -> list:
        """d_t for each parameter: post-map(geometry direction of view(u)), shaped and typed like the
        parameter. (The plain rule of Muon and SoftMuon does not materialise d: see :meth:`_group_step`.)"""
        geo = self.geometry(group) if geo is None else geo
        os_ = self._solve(geo, group, [as_matrix(u) for u in us])
        ds = self._post_map(group, params, os_, states)
        return [d if d.shape == p.shape else d.reshape(p.shape) for d, p in zip(ds, params)]

    def _factors(self, group, os_) -> list:
        adjust = group.get("adjust_lr", "original")
        return [shape_factor(O.shape[0], O.shape[1], adjust) for O in os_]

    def _post_map(self, group, params, os_, states) -> list:
        """Muon, SoftMuon: O ↦ s(m, n)·O with the shape factor of the matrix view, in the parameter's
        dtype (``ns_form="reference"``: multiplied in the working dtype first, as the references)."""
        out = []
        reference = group["ns_form"] == "reference"
        for O, p, s in zip(os_, params, self._factors(group, os_)):
            if reference and s != 1.0:
                O.mul_(s)  # the solvers return fresh tensors
            d = O if O.dtype == p.dtype else O.to(p.dtype)
            if not reference and s != 1.0:
                d = d.mul_(s)
            out.append(d)
        return out

    def _fused_add(self, group, params, states) -> bool:
        """Whether the step may add the working-precision directions straight into the parameters
        (plain rule, one η for the group, the shape-factor post-map, (shape[0], −1) views that alias
        the parameters)."""
        if self.iterate != "plain" or type(self)._post_map is not _SpectralBase._post_map:
            return False
        lr = self._lr(params[0], states[0], group)
        if any(self._lr(p, st, group) != lr for p, st in zip(params, states)):
            return False
        return all(p.ndim == 2 or p.is_contiguous() for p in params)

    def _group_step(self, group, params, grads, states, geo=None):
        r"""u = momentum(g); then, for Muon and SoftMuon under the plain rule, per matrix::

            W ← W(1 − ηλ);   view(W) ← view(W) − (η·s)·O,   O = geometry.solve(view(u)) in the working dtype

        torch.optim.Muon's arithmetic and order: the shape factor folded into the step size, the
        bfloat16 O added without a cast pass, and on the CPU (no batching) one matrix at a time —
        Nesterov mix, Newton–Schulz, decay, add — so that one u is alive at a time and each matrix
        is still in cache for its update. With ``ns_form="reference"``: O ← s·O in the working dtype
        and W ← W − η·O, the KellerJordan/official arithmetic. When the geometry batches (an
        accelerator), all u are formed first and each shape is solved in one batched call.
        Otherwise (NorMuon, schedule-free, per-tensor η) d = :meth:`_directions` and the iterate rule
        (:meth:`_apply_group`)."""
        geo = self.geometry(group) if geo is None else geo
        if not self._fused_add(group, params, states):
            us = self.momentum(group).update(grads, states, group)
            ds = self._directions(group, params, us, states, geo)
            self._apply_group(group, params, ds, states)
            return
        part = self.momentum(group)
        if isinstance(part, Nesterov):
            # the Nesterov part's own arithmetic, lerp(g, M, μ), one tensor at a time
            bufs, mu = part.inner.update(grads, states, group), float(group["momentum"])

            def mix(g, b):
                return torch.lerp(g if g.dtype == b.dtype else g.to(b.dtype), b, mu)
        else:
            bufs = part.update(grads, states, group)

            def mix(g, b):
                return b

        lr, wd = self._lr(params[0], states[0], group), group.get("weight_decay", 0.0)
        decay = 1.0 - lr * wd if wd and lr else None
        reference = group["ns_form"] == "reference"
        adjust = group.get("adjust_lr", "original")

        def add(p, O):
            s = shape_factor(O.shape[0], O.shape[1], adjust)
            if reference and s != 1.0:
                O.mul_(s)  # the solvers return fresh tensors
            as_matrix(p).add_(O, alpha=-lr if reference else -lr * s)

        batched = group.get("foreach", None) is not False and geo.batches(params[0].device)
        if not batched:
            for p, g, b in zip(params, grads, bufs):
                O = geo.solve([as_matrix(mix(g, b))])[0]
                if decay is not None:
                    p.mul_(decay)
                add(p, O)
        else:
            os_ = geo.solve([as_matrix(mix(g, b)) for g, b in zip(grads, bufs)])
            if decay is not None:
                torch._foreach_mul_(params, decay)
            for p, O in zip(params, os_):
                add(p, O)
        self._project(params)

    def _apply_group(self, group, params, ds, states, no_decay=frozenset()):
        """Plain rule in two multi-tensor passes (x ← x(1 − ηλ), x ← x − η d) when every parameter has
        the same η, else the iterate rule tensor by tensor (schedule-free, scheduled η). Parameters
        whose id is in ``no_decay`` are not decayed (NorMuon's reference code, missing gradients)."""
        lrs = [self._lr(p, st, group) for p, st in zip(params, states)]
        if self.iterate != "plain" or any(lr != lrs[0] for lr in lrs):
            self._apply_all(group, params, ds, states)
            return
        lr, wd = lrs[0], group.get("weight_decay", 0.0)
        if wd and lr:
            decayed = [p for p in params if id(p) not in no_decay] if no_decay else params
            if decayed:
                torch._foreach_mul_(decayed, 1.0 - lr * wd)
        torch._foreach_add_(params, [d if d.dtype == p.dtype else d.to(p.dtype) for d, p in zip(ds, params)],
                            alpha=-lr)
        self._project(params)


class Muon(_SpectralBase):
    r"""Muon (Jordan et al. 2024; KellerJordan/Muon ``SingleDeviceMuon``, SF-NorMuon [SFN-MUON] [EXT])::

        M_t = μ M_{t−1} + (1 − μ) g_t                      (M_0 = 0)
        u_t = (1 − μ) g_t + μ M_t  (nesterov)  or  M_t
        O_t = NS5(u_t) ≈ polar(u_t) = U Vᵀ                (``polar="svd"``: exact U Vᵀ)
        W_{t+1} = W_t (1 − ηλ) − η · s(m, n) · O_t

    with the shape factor s = √max(1, m/n) (``adjust_lr="original"``, Jordan) or 0.2·√max(m, n)
    (``"match_rms_adamw"``, Moonlight: update RMS ≈ 0.2·η, since an orthogonal m × n matrix has RMS
    1/√max(m, n)); m, n are the rows and columns of the (shape[0], −1) matrix view (module
    docstring: 3-D/4-D tensors differ from KellerJordan/Muon). Decay is decoupled and applied
    first, with the same η.

    Geometry ``Spectral(Sign(), NewtonSchulz(ns_steps, dtype=ns_dtype, form=ns_form))``: ψ = indicator
    of the spectral-norm unit ball, ψ* = nuclear norm, ∇ψ* = U Vᵀ — Muon is steepest descent (an LMO
    step) in the spectral norm (Bernstein & Newhouse, arXiv 2409.20325). NS5 is Jordan's quintic,
    5 steps, Frobenius pre-scaling (eps 1e-7), in ``ns_dtype`` (bfloat16 as the references); its
    singular values lie in a band around 1, not on 1. On an accelerator all matrices of one shape in
    a group are orthogonalized in one batched call (bit for bit the per-matrix result).

    Agreement with the references (tested):

    - ``torch.optim.Muon`` (same lerp buffer, Nesterov lerp, decay W(1 − ηλ), step W − (η·s)·O with
      the bfloat16 O added in float32): with the default ``ns_form="fused"`` (torch's ``addmm``
      arithmetic) the trajectories are equal bit for bit in bfloat16 for wide, square and tall 2-D
      weights and both ``adjust_lr`` (torch divides by max(‖X‖_F, 1e-7), we by ‖X‖_F + 1e-7: equal in
      bfloat16 unless ‖u‖_F < 2.6e-5). torch.optim.Muon takes 2-D weights only.
    - KellerJordan/Muon: bit for bit in bfloat16 with ``ns_form="reference"`` (its unfused
      ``b*A + c*A@A``, and the shape factor multiplied into the bf16 update) for 2-D weights; the
      default fused form differs from it by bfloat16 rounding of NS5 (≤ 2 bf16 ulps of 1 per entry
      of O). Its p.grad is overwritten by the Nesterov mix, ours is not.

    Args:
        lr: η ≥ 0 (0.02). momentum: μ ∈ [0, 1) (0.95). nesterov: bool (True).
        weight_decay: λ ≥ 0 (0). ns_steps: integer ≥ 0 (5).
        ns_dtype: NS working precision: bfloat16 (reference), float16, float32, float64.
        ns_form: ``"fused"`` (torch.optim.Muon's arithmetic, default) or ``"reference"``
            (KellerJordan/Muon's); see :func:`convexlab.linalg.newton_schulz`.
        polar: ``"ns5"`` or ``"svd"`` (exact, in the parameter dtype or float32).
        adjust_lr: ``"original"`` or ``"match_rms_adamw"``.
        nonfinite, seed, maximize, foreach: see :class:`~convexlab.optim.base.ComposedOptimizer`.

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
                 ns_form: str = "fused", polar: str = "ns5", adjust_lr: str = "original", **kw):
        defaults = dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, ns_steps=ns_steps,
                        ns_dtype=ns_dtype, ns_form=ns_form, polar=polar, adjust_lr=adjust_lr)
        super().__init__(params, defaults, **kw)

    def _validate_group(self, group):
        super()._validate_group(group)
        V.one_of("polar", group["polar"], POLARS)
        V.one_of("adjust_lr", group["adjust_lr"], ADJUST_LR)


class NorMuon(_SpectralBase):
    r"""NorMuon (Li et al., arXiv 2510.05491): Muon with per-row (neuron-wise) second-moment normalization.

    ``variant="paper"`` — Algorithm 1 as restated in NorMuon issue #6 (SF-NorMuon [SFN-NORMUON] [EXT, T]);
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

    Geometry: ``Spectral(Sign(), NewtonSchulz)`` (the polar factor, as :class:`Muon`, all matrices of
    one shape in one batched call) followed by the row-normalization post-map in the optimizer; the
    row scaling leaves the spectral-LMO geometry (the update is no longer an orthogonal matrix).
    Tensors with more than two dimensions use their (shape[0], −1) view throughout (module
    docstring); a zero-size parameter gets an empty step and its v is left at 0.

    Args:
        lr: η ≥ 0 (0.02, the reference code's default). momentum: μ ∈ [0, 1) (0.95). beta2: β2 ∈ [0, 1) (0.95).
        eps: ε ≥ 0; ``None`` → 1e-8 (paper) or 1e-10 (reference_code).
        weight_decay: λ ≥ 0, decoupled. variant: ``"paper"`` or ``"reference_code"``.
        nesterov: ``None`` → False (paper) or True (reference_code). row_norm: bool.
        polar: ``"ns5"`` or ``"svd"``. ns_steps, ns_dtype, ns_form: as :class:`Muon`.

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
                 ns_dtype: torch.dtype = torch.bfloat16, ns_form: str = "fused", **kw):
        V.one_of("variant", variant, NORMUON_VARIANTS)
        self.variant = variant
        if eps is None:
            eps = 1e-8 if variant == "paper" else 1e-10
        if nesterov is None:
            nesterov = variant == "reference_code"
        self._without_grad: dict[int, set[int]] = {}
        defaults = dict(lr=lr, momentum=momentum, beta2=beta2, eps=eps, weight_decay=weight_decay, nesterov=nesterov,
                        row_norm=row_norm, polar=polar, ns_steps=ns_steps, ns_dtype=ns_dtype, ns_form=ns_form)
        super().__init__(params, defaults, **kw)

    def _validate_group(self, group):
        super()._validate_group(group)
        V.beta("beta2", group["beta2"])
        V.nonnegative_finite("eps", group["eps"])
        V.boolean("row_norm", group["row_norm"])
        V.one_of("polar", group["polar"], POLARS)

    def _init_state(self, p, state, group):
        super()._init_state(p, state, group)
        m = p.shape[0]
        if self.variant == "paper":
            state["v"] = torch.zeros(m, dtype=p.dtype, device=p.device)
        else:
            state["second_momentum_buffer"] = torch.zeros(m, 1, dtype=p.dtype, device=p.device)

    def _active(self, group):
        params, grads = super()._active(group)
        missing = set()
        if self.variant == "reference_code":
            # the reference steps every parameter, a missing gradient counting as zero (without decay)
            for p in group["params"]:
                if p.grad is None:
                    params.append(p)
                    grads.append(torch.zeros_like(p))
                    missing.add(id(p))
        self._without_grad[id(group)] = missing
        return params, grads

    def _apply_group(self, group, params, ds, states, no_decay=frozenset()):
        missing = self._without_grad.get(id(group)) or no_decay
        super()._apply_group(group, params, ds, states, no_decay=missing)

    def _post_map(self, group, params, os_, states):
        out = []
        eps, paper = group["eps"], self.variant == "paper"
        for O, p, st in zip(os_, params, states):
            m, n = O.shape
            O = O if O.dtype == p.dtype else O.to(p.dtype)
            if O.numel() == 0:
                out.append(O)
                continue
            if group["row_norm"]:
                row_ms = O.square().mean(dim=1)
                if paper:
                    v = st["v"]
                    v.lerp_(row_ms, 1.0 - group["beta2"])
                    O_hat = O / (v.sqrt() + eps).unsqueeze(1)
                else:
                    v = st["second_momentum_buffer"]
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
                s = shape_factor(m, n)
                if s != 1.0:
                    d = d.mul(s)
            out.append(d)
        return out


# ---------------------------------------------------------------------------------------------
# SoftMuon
# ---------------------------------------------------------------------------------------------
def softmuon_temperature_schedule(z: torch.Tensor, length: int, eps: float = 1e-4, newton_iters: int = 10,
                                  tmax: float = 1e9) -> torch.Tensor:
    r"""The official SoftMuon temperature schedule (softsign@77526d8 ``get_temperature_schedule``), in its
    arithmetic.

    From the singular values z of all raw gradients of a param group (in their own dtype: float32
    for float32 gradients, as the official code's)::

        μ̂ = median(z),  σ̂ = median(|z − μ̂|)                  (lower median, unscaled MAD; in z's dtype)
        p_j = j/T,  j = 0..T−1                                  (float64)
        q⁰_j = σ̂·tan(π((1 + p_j)/2 − ½)) + |μ̂|                 (the Cauchy(0, 1) icdf form)
        N times:  z₁ = (q − μ̂)/(σ̂ + 1e-8),  z₂ = (−q − μ̂)/(σ̂ + 1e-8)      (σ̂ + 1e-8 in z's dtype)
                  F = C(z₁) − C(z₂) − p,  C(x) = atan(x)/π + ½
                  f = (exp(c₀ − log1p(z₁²)) + exp(c₀ − log1p(z₂²)))/σ̂,  c₀ = fl32(−ln π)
                  q ← max(q − F/f, 0)
        τ_j = clamp(c/q_j, 1, tmax),  c = y/√(1 − y²) evaluated in float32 at y = fl32(1 − ε)

    so at ε = 1e-4 the saturation constant is c = 70.69774 (the float32 value the official code uses;
    the float64 value 70.70537 of :func:`~convexlab.optim.temperature.saturation_point` is 1.08e-4
    larger) and τ_j is c/q_j in float64 (q_j = 0 gives tmax). c₀ is −ln π rounded to float32 because
    the official code evaluates the Cauchy density through ``torch.distributions.Cauchy(0, 1).log_prob``
    with float32 loc and scale. The result equals the official function bit for bit given the same z
    (tested against a transcription that calls ``torch.distributions.Cauchy``).

    It is :func:`~convexlab.optim.temperature.temperature_schedule` (``kind="algebraic"``, float64) up
    to these roundings: the constant (relative 1.08e-4), σ̂ in z's dtype (float32: relative ≤ 6e-8) and
    the rounding of the quantile iteration (≤ 1e-15).

    Args:
        z: the sample (any shape; flattened), float32 or float64. length: T ≥ 1. eps: ε ∈ (0, 1).
        newton_iters: integer ≥ 0. tmax: upper clamp ≥ 1.

    Returns:
        τ, float64 tensor of shape (T,) on z's device. An empty z (every parameter of the group has
        zero size) gives τ_j = tmax (the official code fails there).

    Raises:
        ValueError: for an argument outside its range or a non-finite z (a warning is emitted when
            σ̂ = 0: the schedule is then constant, as in the official code; Softsign [SS-Q6]).
    """
    V.integer("length", length, 1)
    V.integer("newton_iters", newton_iters)
    V.positive_finite("eps", eps)
    if eps >= 1:
        raise ValueError(f"eps must be in (0, 1), got {eps!r}")
    V.positive_finite("tmax", tmax)
    if tmax < 1:
        raise ValueError(f"tmax must be >= 1 (τ is clamped to [1, tmax]), got {tmax!r}")
    z = z.detach().reshape(-1)
    if z.numel() == 0:
        return torch.full((length,), float(tmax), dtype=torch.float64, device=z.device)
    if not bool(torch.isfinite(z).all()):
        raise ValueError("z contains non-finite entries; the temperature schedule cannot be fitted")
    mu = torch.median(z)
    sigma = torch.median((z - mu).abs())
    if float(sigma) == 0.0:
        warnings.warn("SoftMuon temperature schedule: the median absolute deviation of the singular values is 0 "
                      "(more than half are equal), so the official schedule is constant (Softsign [SS-Q6])",
                      RuntimeWarning, stacklevel=3)
    p = torch.arange(length, dtype=torch.float64, device=z.device) / length
    q = sigma * torch.tan(math.pi * ((1 + p) / 2 - 0.5)) + mu.abs()
    guard = sigma + 1e-8
    c0 = float(torch.tensor(-math.log(math.pi), dtype=torch.float32))
    for _ in range(newton_iters):
        z1 = (q - mu) / guard
        z2 = (-q - mu) / guard
        F = (torch.atan(z1) / math.pi + 0.5) - (torch.atan(z2) / math.pi + 0.5) - p
        f = (torch.exp(c0 - torch.log1p(z1**2)) + torch.exp(c0 - torch.log1p(z2**2))) / sigma
        q = torch.clamp(q - F / f, min=0.0)
    y = torch.tensor(1.0 - eps, dtype=torch.float32)
    c = (y / (1 - y**2) ** 0.5).to(z.device)
    return (c / q).clamp(1.0, tmax)


class SoftMuon(_SpectralBase):
    r"""SoftMuon (Feoktistov et al., arXiv 2605.31371; official ``SingleDeviceSoftMuon``, Softsign [SS-SOFTMUON])::

        M_t = μ M_{t−1} + (1 − μ) g_t;   u_t = (1 − μ) g_t + μ M_t          (EMA + Nesterov)
        O_t = NS5(u_t)                    for k ≤ S                          (Muon phase)
        O_t = Φ_{τ_k}(u_t) = U diag(τσ/√(1 + τ²σ²)) Vᵀ   for k > S          (soft polar)
        W_{t+1} = W_t (1 − ηλ) − η · √max(1, m/n) · O_t

    k = 1, 2, … counts ``step()`` calls (``group["iteration"]``, advanced for all groups once per step
    after the step's checks, as the official optimizer-wide counter). τ_k = schedule[min(max(k − S − 1,
    0), T − 1)]: after S + T steps the last τ is held (official). The schedule is computed **once**,
    at k = S + 1, per param group, from the singular values of all **raw gradients** of the group
    (before this step's momentum update; ``torch.linalg.svdvals`` in float32, float64 for float64
    gradients; a parameter without a gradient contributes min(m, n) zeros, as the official code's
    zero gradient does) by :func:`softmuon_temperature_schedule`, the official arithmetic (saturation
    constant φ⁻¹(1 − ε) in float32: 70.69774 at ε = 1e-4). It is stored in ``group["schedule"]`` and
    the τ of the last step in ``group["tau"]`` (``None`` in the Muon phase), so both are saved by
    ``state_dict``.

    ``tau=τ`` (a finite float > 0, schedule off) steps with Φ_τ at every step: a constant
    temperature, e.g. for the theory checks (``sign_iters`` and ``transition_iters`` must then be
    None). ``tau=None`` with ``sign_iters=None`` and ``transition_iters=None`` is plain Muon (identical
    to :class:`Muon` with the same ``ns_dtype``/``ns_form``, bit for bit; tested on a (16, 2, 1, 1)
    weight). Setting only one of ``sign_iters``/``transition_iters`` is an error (the official code
    silently runs Muon).

    ``inv_root`` picks Φ_τ's solver: ``"ns5_official"`` (default) is the official RegNS —
    5 coupled Newton–Schulz steps on XXᵀ + I/τ² in ``ns_dtype`` (bfloat16 officially; float32/64 for
    CPU tests), output (Z X)/√s in the official order — a coarse approximation of Φ_τ for
    ill-conditioned u (Softsign [SS-REGNS, SS-Q7]), with a jump at the switch from NS5; ``"eigh"`` (exact, via eigh
    of the smaller Gram matrix) and ``"svd"`` (exact) compute Φ_τ in the update's dtype (float32 for
    half-precision parameters).

    Geometry: ``Spectral(SoftSign(τ, "algebraic"), RegularizedNewtonSchulz | "eigh" | None)`` for
    k > S (or a fixed ``tau``), ψ*_τ(M) = Σ_i (√(1 + τ²σ_i²) − 1)/τ and ∇ψ*_τ = Φ_τ; Muon's
    ``Spectral(Sign(), NewtonSchulz)`` for k ≤ S. τ → ∞ is the polar factor, τ → 0 is momentum SGD
    with step η·τ.

    Code-exact with the official code (tested): with ``ns_form="reference"`` (the official NS5 is
    KellerJordan's unfused form) the trajectory equals the official ``SingleDeviceSoftMuon``
    transcribed step by step bit for bit in bfloat16 through the Muon phase, the schedule fit and the
    transition, and to 1e-9 in float64 (``ns_dtype=torch.float64``). With the default
    ``ns_form="fused"`` the Muon-phase updates are torch.optim.Muon's (bfloat16 rounding apart from
    the official ones); the transition map itself is the official arithmetic either way. Remaining
    differences from the official code:

    - singular values for the schedule: exact ``torch.linalg.svdvals`` where the official code uses
      its approximate CANS SVD (``polar_svd.cans_svd``);
    - shapes: the (shape[0], −1) rule of the module docstring (official: 3-D tensors are a batch of
      matrices and the shape factor uses the original last two dimensions);
    - a parameter without a gradient is not stepped (official: stepped as if its gradient were 0,
      momentum decay, direction and weight decay included); ``p.grad`` is never written (official:
      the Nesterov mix is written into ``p.grad``, and missing gradients are set to zeros);
    - RegNS clamps ‖A‖_F below at the smallest normal number: a zero momentum at τ ≳ 1e19 gives a zero
      step where the official code gives NaN;
    - a zero-size parameter gets an empty step (official: fails in its SVD).

    Args:
        lr: η ≥ 0 (0.02). weight_decay: λ ≥ 0 (0). momentum: μ ∈ [0, 1) (0.95).
        sign_iters: S ≥ 0 or None. transition_iters: T ≥ 1 or None.
        eps: saturation tolerance ε ∈ (0, 1) (1e-4). newton_iters: quantile Newton steps ≥ 0 (10).
        tmax: upper clamp of τ, ≥ 1 (1e9). tau: None or a fixed temperature τ > 0 (finite).
        nesterov: bool (True, hard-coded officially).
        ns_steps: NS5 and RegNS steps (5). ns_dtype: their working precision (bfloat16).
        ns_form: NS5's arithmetic, ``"fused"`` or ``"reference"`` (official).
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

    internal_keys = ("iteration", "schedule")

    def __init__(self, params, lr: float = 0.02, weight_decay: float = 0.0, momentum: float = 0.95,
                 sign_iters: int | None = None, transition_iters: int | None = None, eps: float = 1e-4,
                 newton_iters: int = 10, tmax: float = 1e9, *, tau: float | None = None, nesterov: bool = True,
                 ns_steps: int = 5, ns_dtype: torch.dtype = torch.bfloat16, ns_form: str = "fused",
                 inv_root: str = "ns5_official", **kw):
        if tau is not None and (sign_iters is not None or transition_iters is not None):
            raise ValueError(f"tau (a fixed temperature) turns the schedule off: sign_iters and transition_iters must "
                             f"be None with it, got tau={tau!r}, sign_iters={sign_iters!r}, "
                             f"transition_iters={transition_iters!r}")
        defaults = dict(lr=lr, weight_decay=weight_decay, momentum=momentum, sign_iters=sign_iters,
                        transition_iters=transition_iters, eps=eps, newton_iters=newton_iters, tmax=tmax,
                        nesterov=nesterov, ns_steps=ns_steps, ns_dtype=ns_dtype, ns_form=ns_form, inv_root=inv_root,
                        iteration=0, schedule=None, tau=tau)
        self._host_schedules: dict = {}
        super().__init__(params, defaults, **kw)

    def _validate_group(self, group):
        super()._validate_group(group)
        S, T = group["sign_iters"], group["transition_iters"]
        if (S is None) != (T is None):
            raise ValueError(f"sign_iters and transition_iters must both be None (plain Muon) or both integers, "
                             f"got sign_iters={S!r}, transition_iters={T!r}")
        if S is not None:
            V.integer("sign_iters", S)
            V.integer("transition_iters", T, 1)
        if group["tau"] is not None:
            V.positive_finite("tau", group["tau"])
        V.positive_finite("eps", group["eps"])
        if group["eps"] >= 1:
            raise ValueError(f"eps must be in (0, 1), got {group['eps']!r}")
        V.integer("newton_iters", group["newton_iters"])
        V.positive_finite("tmax", group["tmax"])
        if group["tmax"] < 1:
            raise ValueError(f"tmax must be >= 1 (τ is clamped to [1, tmax]), got {group['tmax']!r}")
        V.one_of("inv_root", group["inv_root"], INV_ROOTS)

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self._host_schedules = {}

    # -- the counter and the temperature ---------------------------------------------------------
    def _advance(self):
        for group in self.param_groups:
            group["iteration"] += 1

    def _tau_at(self, group: dict, j: int) -> float:
        """schedule[min(max(j, 0), T − 1)] as a Python float (the schedule is copied to the host once)."""
        sched = group["schedule"]
        host = self._host_schedules.get(id(sched))
        if host is None or host[0] is not sched:
            host = self._host_schedules[id(sched)] = (sched, sched.tolist())
        values = host[1]
        return values[min(max(j, 0), len(values) - 1)]

    def _temperature(self, group: dict, k: int) -> float | None:
        """τ of step k: the fixed ``tau`` with the schedule off; None (Muon) for k ≤ S or before the fit."""
        S = group["sign_iters"]
        if S is None:
            return group["tau"]
        if k <= S or group["schedule"] is None:
            return None
        return self._tau_at(group, k - S - 1)

    def geometry(self, group, k: int | None = None):
        r"""The geometry of step ``k`` (default: the next step): Muon's ``Spectral(Sign(), NewtonSchulz)``
        in the Muon phase (also at k = S + 1 before the schedule is fitted, when called from outside
        ``step``), else ``Spectral(SoftSign(τ_k, "algebraic"), solver)`` with the ``inv_root`` solver."""
        k = group["iteration"] + 1 if k is None else k
        tau = self._temperature(group, k)
        if tau is None:
            return self._ns_geometry(group)
        root = group["inv_root"]
        solver = RegularizedNewtonSchulz(group["ns_steps"], group["ns_dtype"]) if root == "ns5_official" else root
        return Spectral(SoftSign(tau, "algebraic"), solver)

    @staticmethod
    def _raw_singular_values(group, params, grads) -> torch.Tensor:
        """Singular values of every gradient of the group (zeros for a parameter without one), float32
        (float64 if a gradient is float64), on the (shape[0], −1) view."""
        dtype = torch.float64 if any(g.dtype == torch.float64 for g in grads) else torch.float32
        by_id = {id(p): g for p, g in zip(params, grads)}
        out = []
        for p in group["params"]:
            g = by_id.get(id(p))
            if g is None:  # no (finite) gradient: the official code's zero gradient
                out.append(torch.zeros(min(as_matrix(p).shape), dtype=dtype, device=p.device))
            else:
                out.append(torch.linalg.svdvals(as_matrix(g.detach()).to(dtype)))
        return torch.cat(out)

    def _group_step(self, group, params, grads, states):
        S, k = group["sign_iters"], group["iteration"]
        if S is not None:
            if k > S and group["schedule"] is None:  # k == S + 1 (or the first later step with gradients)
                z = self._raw_singular_values(group, params, grads)
                group["schedule"] = softmuon_temperature_schedule(z, group["transition_iters"], group["eps"],
                                                                  group["newton_iters"], group["tmax"])
            group["tau"] = self._temperature(group, k)
        super()._group_step(group, params, grads, states, self.geometry(group, k))
