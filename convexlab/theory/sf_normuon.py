r"""SF-NorMuon's decay-placement counterexample (Apte et al., arXiv 2605.23061, Fig. 2 [P];
construction and prediction reconstructed in the SF-NorMuon spec §4.2 [I]).

A schedule-free method with fixed-size steps on pure noise (f ≡ const, update direction ξ_t
i.i.d. ±1, the situation of a spectral/sign method far from any signal), with decay λ and step
0.2η so that z_{t+1} = z_t − 0.2η ξ_t − ηλ A_t:

* decay at the fast iterate z (A = z): RMS(z_t)² → (0.2η)²/(2ηλ − η²λ²), bounded (the α = 0 case
  of Lemma 3.2);
* decay at the slow iterate x (A = x): the restoring term acts through an average that moves with
  weight 1/t, so z is a random walk and RMS(z_t) grows like √t.

The runs use ``schedule_free(SignSGD)`` with lr = 0.2η and weight_decay = λ/0.2 (so lr·λ' = ηλ),
η = 0.01, λ = 0.1, β = 0.9, 64 coordinates, seeds as rows (spec §4.2 toy).
"""

from __future__ import annotations

import math
from functools import partial

import torch

from convexlab.optim import SignSGD, schedule_free
from convexlab.theory.registry import Check, CheckContext, CheckResult, identity_result, register

SOURCE = "SF-NorMuon (arXiv 2605.23061) Fig. 2; spec §4.2"
ETA, LAM, BETA, DIM = 0.01, 0.1, 0.9, 64


def predicted_rms(eta: float = ETA, lam: float = LAM) -> float:
    """0.2η/√(2ηλ − η²λ²): the steady-state RMS of z with decay at z."""
    return 0.2 * eta / math.sqrt(2 * eta * lam - (eta * lam) ** 2)


def rms_of_z(decay_at: str, steps: int, seeds: int, seed: int, record: list[int]) -> dict[int, float]:
    """RMS over seeds and coordinates of z_t at the ``record`` steps, on ±1 noise gradients."""
    SF = schedule_free(SignSGD)
    x = torch.nn.Parameter(torch.zeros(seeds, DIM, dtype=torch.float64))
    opt = SF([x], lr=0.2 * ETA, weight_decay=LAM / 0.2, sf_beta=BETA, weight_decay_at=decay_at, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    want, out = set(record), {}
    for t in range(1, steps + 1):
        x.grad = torch.randint(0, 2, (seeds, DIM), generator=gen).to(torch.float64).mul_(2).sub_(1)
        opt.step()
        if t in want:
            z = opt.state[x]["z"]
            out[t] = float(z.pow(2).mean().sqrt())
    return out


def steady_state_at_z(ctx: CheckContext, decay_at: str = "z") -> CheckResult:
    r"""Decay at z: the time-averaged RMS(z_t) over the second half of the run equals the prediction
    (relative tolerance 10 %, a few times the Monte-Carlo spread of 16×64 coordinates)."""
    T = ctx.size(20_000, 200_000)
    rec = list(range(T // 2, T + 1, max(1, T // 40)))
    vals = rms_of_z(decay_at, T, ctx.size(16, 64), ctx.seed, rec)
    measured = sum(vals.values()) / len(vals)
    pred = predicted_rms()
    return identity_result(measured / pred, 1.0, 0.1, measured_rms=measured, predicted_rms=pred, T=T)


def growth_exponent(ctx: CheckContext, decay_at: str = "x") -> CheckResult:
    r"""Decay at x: least-squares slope of log RMS(z_t) against log t over t ∈ [T/10, T] equals 1/2
    (tolerance 0.1)."""
    T = ctx.size(100_000, 1_000_000)
    rec = [int(round(T / 10 * 10 ** (k / 10))) for k in range(11)]
    vals = rms_of_z(decay_at, T, ctx.size(4, 16), ctx.seed, rec)
    xs = [math.log(t) for t in vals]
    ys = [math.log(v) for v in vals.values()]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((a - mx) * (b - my) for a, b in zip(xs, ys)) / sum((a - mx) ** 2 for a in xs)
    return identity_result(slope, 0.5, 0.1, T=T, rms_first=ys[0], rms_last=ys[-1])


register(Check(
    "sf_normuon.decay_at_z_steady_state", SOURCE + " (Lemma 3.2, α = 0)", "DER", "tight",
    "decay at z on noise: RMS(z) → 0.2η/√(2ηλ − η²λ²); measured/predicted = 1 ± 0.1",
    steady_state_at_z,
))
register(Check(
    "sf_normuon.decay_at_x_random_walk", SOURCE, "DER", "rate",
    "decay at the slow iterate x on noise: RMS(z_t) ∝ t^(1/2) (fitted exponent 0.5 ± 0.1)",
    growth_exponent,
))
