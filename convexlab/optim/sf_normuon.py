r"""SF-NorMuon: schedule-free NorMuon (Apte et al., "Anytime Training with Schedule-Free Spectral
Optimization", arXiv 2605.23061; SF-NorMuon [SFN-ALG1]).

Algorithm 1 as reconstructed by the project ([SFN-ALG1] [T, DEV, P]), per hidden matrix W ∈ R^{m×n}, with
z_1 = x_1 = W_0, M_0 = 0, v_0 = 0 and a scalar S_0 = 0 per group::

    y_t = (1 − β) z_t + β x_t                               # the live weights (held in p)
    G_t = ∇f(y_t; ξ_t)
    M_t = μ M_{t−1} + (1 − μ) G_t                           # plain EMA, before the polar factor
    P_t = polar(M_t) ≈ NS5(M_t)
    v_t = β2 v_{t−1} + (1 − β2) rowmean(P_t ⊙ P_t)          # v ∈ R^m
    P̂_t = P_t ⊘ (√v_t + ε)
    η_t = η · min(1, t/T_w)                                  # linear warmup, the only schedule
    η̂_t = 0.2 · η_t · √(mn) / ‖P̂_t‖_F                        # ‖η̂_t P̂_t‖_F = 0.2 η_t √(mn)
    z_{t+1} = z_t − η_t λ A_t − η̂_t P̂_t                      # A_t = z_t (default), y_t or x_t
    S_t = S_{t−1} + η_t²,  c_{t+1} = η_t²/S_t                 # lr²-weighted average (c_2 = 1)
    x_{t+1} = (1 − c_{t+1}) x_t + c_{t+1} z_{t+1}             # the "anytime" iterate (eval mode)

It is :class:`~convexlab.optim.spectral.NorMuon` (``variant="paper"``) under the schedule-free
iterate rule of :class:`~convexlab.optim.schedule_free.ScheduleFreeMixin` (only z is stored, y is
updated in closed form; ``opt.eval()`` puts x in the parameters, ``opt.train()`` puts y back).
"""

from __future__ import annotations

import math

import torch

from convexlab import _validation as V
from convexlab.optim.schedule_free import DECAY_AT_EXTENDED, ScheduleFreeMixin
from convexlab.optim.spectral import NorMuon


class SFNorMuon(ScheduleFreeMixin, NorMuon):
    r"""Schedule-free NorMuon, SF-NorMuon Algorithm 1 (module docstring;
    [SFN-ALG1, SFN-DEFAULTS, SFN-ROUTING, SFN-DECAY, SFN-IMPL]).

    Defaults ([SFN-DEFAULTS]): η = 0.008, β = 0.9 (``sf_beta``), μ = 0.8 (``momentum``), β2 = 0.95,
    ε = 1e-8, λ = 0.05 at z, T_w = 2000 warmup steps, r = 0, weight power 2, NS5 in bfloat16.
    The decay multiplier is the warmed-up η_t (SF-NorMuon [SFN-Q2]: all code versions; the zij rendering's base
    η differs only during warmup). The averaging weights use η_t, not η̂_t.

    Geometry: ``Spectral(Sign())`` + ``RowNormalized`` (as NorMuon) with the schedule-free iterate
    rule. With decay at z, z_{t+1} = (1 − η_tλ) z_t − η̂_t P̂_t. For exact polar and no row scaling, a
    full-rank polar factor P of an m×n matrix has ‖P‖_op = 1 and ‖P‖_F = √min(m, n), so the RMS-matched
    step η̂_t P_t has spectral norm 0.2η_t√max(m, n) = η_tλR with R = 0.2√max(m, n)/λ, and
    ‖z_{t+1}‖_op ≤ (1 − η_tλ)‖z_t‖_op + η_tλR: z stays in the spectral ball ‖·‖_op ≤ max(‖z_1‖_op, R),
    and from a start outside the bound contracts to R like Π(1 − η_tλ); x and y, convex combinations
    of the z's, stay in the same ball (SF-NorMuon [SFN-T31] [I]).

    Ablation switches: ``momentum=0`` (Fig. 3 left), ``row_norm=False`` (Fig. 3 right; P̂ = P, still
    RMS-matched), ``polar="svd"``, ``nesterov=True``, and the decay placement ``weight_decay_at``
    ([SFN-DECAY], Fig. 2 [SFN-FIG2]; write z_{t+1} = z_t − D_t):

    * ``"z"`` (default): D_t = η_tλ z_t + η̂_t P̂_t;  ``"y"``: η_tλ y_t + η̂_t P̂_t;  ``"x"``: η_tλ x_t + η̂_t P̂_t;
    * ``"none"``: D_t = η̂_t P̂_t, λ ignored (the same trajectory as ``weight_decay=0``, bit for bit);
    * ``"all"``: y_t ← (1 − η_tλ) y_t and z_t ← (1 − η_tλ) z_t before the undecayed step, so that
      x_t = (y_t − (1 − β) z_t)/β shrinks by the same factor: every sequence is decayed at once. This
      is the first author's development code (``normuon_schedulefree_original.py`` in
      github.com/apteanuj/nanogpt_data_files multiplies the parameter, y, and z by 1 − η_tλ [CODE/D]); SF-NorMuon
      [SFN-DECAY] keeps it only as an ablation, not one of the paper's placements.

    ``decay_lr`` picks the lr of the decay term: ``"scheduled"`` (default) the warmed-up η_t, as every
    code version [SFN-Q2]; ``"base"`` the base η, as the zij rendering of Algorithm 1's step 9 [T]
    (η λ z_t; the two differ only during warmup).

    Diagnostics (``diagnostics=True``): after each step ``state["rho"]`` = ρ_t = RMS(z_t) and
    ``state["alpha"]`` = α_t = ⟨z_t, P̂_t⟩/(‖z_t‖_F ‖P̂_t‖_F) (0 if either vanishes) for the z_t the step
    started from (SF-NorMuon [SFN-H31, SFN-L32]: λρ_t ≈ 0.1[−α_t + √(α_t² + 2ηλ)] at the quasi steady state); 0-d
    tensors, no host synchronization (a zero-size parameter has ρ = α = 0). ``group["c"]`` is c_{t+1} and
    ``group["scheduled_lr"]`` is η_t.

    Args:
        lr: η ≥ 0. sf_beta: β ∈ [0, 1]. momentum: μ ∈ [0, 1). beta2: β2 ∈ [0, 1). eps: ε ≥ 0.
        weight_decay: λ ≥ 0. weight_decay_at: ``"z"`` (default), ``"y"``, ``"x"``, ``"none"`` or ``"all"``.
        decay_lr: ``"scheduled"`` (default) or ``"base"``.
        warmup_steps: T_w (integer ≥ 0). r, weight_lr_power: averaging exponents.
        row_norm, polar, nesterov, ns_steps, ns_dtype, ns_form: as :class:`~convexlab.optim.spectral.NorMuon`.
        diagnostics: record ρ_t and α_t.

    >>> import torch
    >>> w = torch.nn.Parameter(torch.zeros(3, 4, dtype=torch.float64))
    >>> opt = SFNorMuon([w], lr=0.5, warmup_steps=0, polar="svd", weight_decay=0.0)
    >>> w.grad = torch.randn(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> _ = opt.step()  # c_2 = 1: x_2 = z_2 = −η̂P̂ with RMS 0.2·η
    >>> with opt.evaluating():
    ...     round(float(w.detach().square().mean().sqrt()), 12)
    0.1
    """

    def __init__(self, params, lr: float = 0.008, sf_beta: float = 0.9, momentum: float = 0.8, beta2: float = 0.95,
                 eps: float = 1e-8, weight_decay: float = 0.05, weight_decay_at: str = "z", warmup_steps: int = 2000,
                 r: float = 0.0, weight_lr_power: float = 2.0, *, row_norm: bool = True, polar: str = "ns5",
                 nesterov: bool = False, ns_steps: int = 5, ns_dtype: torch.dtype = torch.bfloat16,
                 diagnostics: bool = True, decay_lr: str = "scheduled", **kw):
        self.diagnostics = V.boolean("diagnostics", diagnostics)
        super().__init__(params, sf_beta=sf_beta, warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power,
                         weight_decay_at=weight_decay_at, decay_lr=decay_lr, lr=lr, momentum=momentum, beta2=beta2, eps=eps,
                         weight_decay=weight_decay, variant="paper", nesterov=nesterov, row_norm=row_norm, polar=polar,
                         ns_steps=ns_steps, ns_dtype=ns_dtype, **kw)

    decay_at_choices = DECAY_AT_EXTENDED

    def _directions(self, group, params, us, states, geo=None):
        ds = super()._directions(group, params, us, states, geo)
        if self.diagnostics:
            for d, state in zip(ds, states):
                z = state["z"]
                zn, dn = z.norm(), d.norm()
                state["rho"] = zn / math.sqrt(max(z.numel(), 1))
                ok = (zn > 0) & (dn > 0)
                den = torch.where(ok, zn * dn, torch.ones_like(zn))
                state["alpha"] = torch.where(ok, (z * d).sum() / den, torch.zeros_like(zn))
        return ds
