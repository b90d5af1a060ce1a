r"""Read-only diagnostics of the sign-conversion family: structural noise and pre-lr update RMS.

Both functions read the optimizer's ``state`` *after* a step and change nothing, so they cost
nothing when not called (no hook, no state of their own, no work inside ``step``). Call them right
after ``optimizer.step()``: the state then holds the (num, σ) of the step just taken.

The pair (num, σ) [SSG-SC] (StoSignSGD App. B.3–B.5, P for the principle; convexlab.optim.general). For
the general optimizer x ← x − η·num/σ − ηλx and its sign conversion
x ← x − η·sign(num + σ⊙n) − ηλx, n ~ U[−1, 1]^d, with t the parameter's own ``state["step"]``:

=========================================  ===================================  ======================================
optimizer (``base``)                       num                                  σ
=========================================  ===================================  ======================================
AdamW, ``SignConverted(base="adamw")``     m̂ = m/(1 − β1^t) (``exp_avg``)      √(v/(1 − β2^t)) + ε (``exp_avg_sq``)
AdaMax, ``SignConverted(base="adamax")``   m̂ = m/(1 − β1^t) (``exp_avg``)      u + ε (``exp_inf``)
StoSignSGD, IEStoSignSGD                   m (``exp_avg``; m₁ = g₁)             G (``envelope``)
=========================================  ===================================  ======================================

(1 − β1^t is replaced by 1 with ``first_moment="g1"`` or β1 = 0.) With β1 = 0 no ``exp_avg`` is
kept and num = g, read from ``p.grad`` (so call before ``zero_grad``). For AdamW and AdaMax
themselves σ is the scale their sign conversion would use (Algs. 6→8, 7→9).

Per coordinate, r = num/σ where σ > 0; where σ = 0 the stochastic sign is deterministic,
sign(num + 0·n) = sign(num), and r := 0 if num = 0 (0/0 := 0, [SSG-Q6]), ±∞ otherwise
(possible only with ε = 0 and the gradient envelope; counted as a violation).

:func:`noise_statistics` [P: Fig. 4 caption, "intensity of structural noise among unbiased sign
conversion optimizers", and App. B.3–B.5 "log the violating fraction"; R: the metric, [SSG-NOISE]]
per parameter group:

* ``mean_abs_m_over_sigma`` = mean |r| (the signal magnitude of the expected step; unclipped);
* ``mean_noise`` = mean Var[sign(num + σ⊙n)] = mean (1 − min(r², 1)) where σ > 0, and 0 where σ = 0
  (Proposition 1: E[S] = clip(r, −1, 1), S ∈ {±1}, so Var S = 1 − clip(r, −1, 1)²);
* ``violation_share`` = share of coordinates with |num| > σ (exactly counted; where the conversion
  is biased, E[S] = sign(num) ≠ r);
* ``m_abs_hist`` (only when ``bins`` is given) = a histogram of log10|num| over the coordinates with
  num ≠ 0 [P: Fig. 3 plots the |m_t| distribution; D: the log10 axis and the bins].

:func:`update_rms` [P: StoSignSGD App. B, the update-RMS figure, "AdamW's update RMS ≈ 0.2, pure sign updates have RMS 1";
R: the update before the learning rate and weight decay, [SSG-RMS]] per parameter group, the
RMS √(mean d²) of the pre-lr direction d of the step just taken, exact (not a noise draw):

* ``mode="original"`` (AdamW, AdaMax, IE-StoSignSGD): d = r (0/0 := 0), as the optimizer steps;
* ``"stochastic"`` (sign-AdamW, sign-AdaMax, StoSignSGD): |d| = 1 where σ > 0 and |sign(num)| where
  σ = 0, whatever the draw, so RMS = √(share of coordinates with σ > 0 or num ≠ 0), which is 1
  unless some coordinate has σ = 0 = num (e.g. a gradient that has always been exactly 0);
* ``"expectation"``: d = clip(r, −1, 1); ``"deterministic_sign"``: d = sign(num);
* Signum / SignSGD (Alg. 5): d = sign(m) (``exp_avg``; sign(g) from ``p.grad`` when β = 0).

Optimizers that keep no such (num, σ) (Lion, Muon, SoftSignum, ...) raise ``ValueError`` naming the
class. Arithmetic in float64 (the statistics are exact sums of at most 2^53 terms). A parameter
that has not been stepped yet (no state) is left out; ``numel`` counts the parameters included.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from convexlab import _validation as V
from convexlab.optim.general import GeneralOptimizer
from convexlab.optim.sign import Signum

__all__ = ["noise_statistics", "update_rms", "ratio_and_scale"]

_SIGMA_KEY = {"adamw": "exp_avg_sq", "adamax": "exp_inf", "ie_stosignsgd": "envelope"}


def _require_general(optimizer, what: str) -> GeneralOptimizer:
    if not isinstance(optimizer, GeneralOptimizer):
        raise ValueError(f"{what} needs an optimizer of the sign-conversion family (AdamW, AdaMax, IEStoSignSGD, "
                         f"SignConverted, StoSignSGD: a convexlab GeneralOptimizer keeping m and σ in its state), "
                         f"got optimizer={type(optimizer).__name__}")
    return optimizer


def _numerator(optimizer, p: torch.Tensor, state: dict, group: dict, beta1: float) -> torch.Tensor:
    """m from ``exp_avg`` (float64), or g from ``p.grad`` when β1 = 0 keeps no first moment."""
    m = state.get("exp_avg")
    if m is not None and beta1 != 0.0:
        return m.detach().to(torch.float64)
    if p.grad is None:
        raise ValueError(f"{type(optimizer).__name__} with β1 = 0 keeps no exp_avg: num = g is read from p.grad, "
                         f"which is None for a parameter of shape {tuple(p.shape)}; call before zero_grad")
    g = p.grad.detach().to(torch.float64)
    return -g if group.get("maximize", False) else g


def ratio_and_scale(optimizer, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""(num, σ) of parameter ``p`` of a :class:`~convexlab.optim.general.GeneralOptimizer` after its
    last step, in float64 (module table): num = m̂ and σ = √v̂ + ε (AdamW base), num = m̂ and
    σ = u + ε (AdaMax base), num = m and σ = G (envelope base). ValueError for other optimizers or
    a parameter without state."""
    opt = _require_general(optimizer, "ratio_and_scale")
    state = opt.state.get(p)
    if not state or "step" not in state:
        raise ValueError(f"parameter of shape {tuple(p.shape)} has no optimizer state (not stepped yet)")
    group = next((g for g in opt.param_groups if any(q is p for q in g["params"])), None)
    if group is None:
        raise ValueError(f"parameter of shape {tuple(p.shape)} is not in any param group of the optimizer")
    return _pair(opt, p, state, group)


def _pair(opt: GeneralOptimizer, p, state, group) -> tuple[torch.Tensor, torch.Tensor]:
    key = _SIGMA_KEY[opt.base]
    if key not in state:
        raise ValueError(f"{type(opt).__name__} state has no {key!r} for a parameter of shape {tuple(p.shape)}")
    t = int(state["step"])
    beta1, beta2 = float(group["betas"][0]), float(group["betas"][1])
    num = _numerator(opt, p, state, group, beta1)
    s = state[key].detach().to(torch.float64)
    if opt.base == "ie_stosignsgd":
        return num, s
    if opt.first_moment == "zero" and beta1 != 0.0:
        num = num / (1.0 - beta1**t)
    eps = float(group["eps"])
    if opt.base == "adamw":
        return num, (s / (1.0 - beta2**t)).sqrt_().add_(eps)
    return num, s + eps


def _ratio(num: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """r = num/σ where σ > 0; 0 where σ = 0 = num; ±∞ where σ = 0 ≠ num."""
    pos = sigma > 0
    r = torch.where(pos, num / torch.where(pos, sigma, torch.ones_like(sigma)), num.sign() * math.inf)
    return torch.nan_to_num(r, nan=0.0, posinf=math.inf, neginf=-math.inf)


def _groups(optimizer):
    """(index, group, [(p, state)]) over the param groups, parameters without state left out."""
    for i, group in enumerate(optimizer.param_groups):
        yield i, group, [(p, optimizer.state[p]) for p in group["params"]
                         if optimizer.state.get(p) and "step" in optimizer.state[p] and p.numel() > 0]


def _check_bins(bins):
    if bins is None:
        return None
    if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
        return V.integer("bins", int(bins), 1)
    try:
        edges = np.asarray(bins, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"bins must be None, an int >= 1 or an increasing sequence of >= 2 finite "
                         f"log10 edges, got {bins!r}") from None
    if edges.ndim != 1 or edges.size < 2 or not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
        raise ValueError(f"bins must be None, an int >= 1 or an increasing sequence of >= 2 finite "
                         f"log10 edges, got {bins!r}")
    return edges


def noise_statistics(optimizer, *, bins=None) -> list[dict]:
    r"""Structural-noise statistics per parameter group (module docstring; [P] Fig. 4 caption,
    [R] metric of [SSG-NOISE]), from the state after the last step.

    Args:
        optimizer: AdamW, AdaMax, IEStoSignSGD, SignConverted or StoSignSGD (any
            :class:`~convexlab.optim.general.GeneralOptimizer`); anything else → ``ValueError``.
        bins: ``None`` (no histogram), an int ≥ 1 (that many equal bins of log10|num| between the
            group's smallest and largest nonzero |num|), or an increasing sequence of log10 edges.

    Returns one dict per param group: ``group`` (index), ``numel`` (coordinates of the stepped
    parameters), ``mean_abs_m_over_sigma`` = mean |num/σ|, ``mean_noise`` = mean (1 − min((num/σ)², 1))
    (0 where σ = 0), ``violation_share`` = #{|num| > σ}/numel, ``violations`` (that count, an int),
    ``sigma_zero_share`` = #{σ = 0}/numel; with ``bins``, ``m_abs_hist`` = {``edges``: log10 edges,
    ``counts``: per bin, ``zeros``: #{num = 0}, ``below``/``above``: nonzero coordinates outside the
    edges}. A group with no stepped parameter has numel 0 and NaN means.
    """
    opt = _require_general(optimizer, "noise_statistics")
    edges_or_n = _check_bins(bins)
    out = []
    for i, group, rows in _groups(opt):
        n = 0
        s_abs = s_noise = 0.0
        viol = zero_sigma = 0
        logs = []
        zeros = 0
        for p, st in rows:
            num, sigma = _pair(opt, p, st, group)
            r = _ratio(num, sigma)
            ar = r.abs()
            n += num.numel()
            s_abs += float(ar.sum())
            s_noise += float(torch.where(sigma > 0, 1.0 - ar.clamp(max=1.0).square(), torch.zeros_like(ar)).sum())
            viol += int((num.abs() > sigma).sum())
            zero_sigma += int((sigma == 0).sum())
            if edges_or_n is not None:
                nz = num[num != 0].abs()
                zeros += num.numel() - nz.numel()
                logs.append(torch.log10(nz).cpu().numpy())
        row = {"group": i, "numel": n,
               "mean_abs_m_over_sigma": s_abs / n if n else math.nan,
               "mean_noise": s_noise / n if n else math.nan,
               "violation_share": viol / n if n else math.nan,
               "violations": viol,
               "sigma_zero_share": zero_sigma / n if n else math.nan}
        if edges_or_n is not None:
            row["m_abs_hist"] = _histogram(np.concatenate(logs) if logs else np.zeros(0), edges_or_n, zeros)
        out.append(row)
    return out


def _histogram(x: np.ndarray, edges_or_n, zeros: int) -> dict:
    if isinstance(edges_or_n, int):
        if x.size:
            lo, hi = float(x.min()), float(x.max())
            if hi <= lo:
                lo, hi = lo - 0.5, hi + 0.5
        else:
            lo, hi = -1.0, 0.0
        edges = np.linspace(lo, hi, edges_or_n + 1)
    else:
        edges = edges_or_n
    counts, _ = np.histogram(x, bins=edges)
    below, above = int((x < edges[0]).sum()), int((x > edges[-1]).sum())
    return {"edges": edges.tolist(), "counts": counts.astype(int).tolist(), "zeros": int(zeros),
            "below": below, "above": above}


def update_rms(optimizer) -> list[dict]:
    r"""RMS of the update before the learning rate and weight decay, per param group, of the step
    just taken ([P] StoSignSGD App. B update-RMS figure: AdamW ≈ 0.2, a pure sign update 1; [R] pre-lr, pre-decay
    direction, [SSG-RMS]). Exact: for the stochastic sign |d| = 1 wherever σ > 0, so no draw is
    needed (module docstring for every mode).

    Args:
        optimizer: a :class:`~convexlab.optim.general.GeneralOptimizer` (AdamW, AdaMax,
            IEStoSignSGD, SignConverted, StoSignSGD) or a :class:`~convexlab.optim.sign.Signum`
            (SignSGD, Alg. 5); anything else → ``ValueError``.

    Returns one dict per param group: ``group``, ``numel``, ``rms`` = √(Σ d²/numel) (NaN for a group
    with no stepped parameter).
    """
    if isinstance(optimizer, Signum):
        out = []
        for i, group, rows in _groups(optimizer):
            n = nz = 0
            for p, st in rows:
                m = st.get("exp_avg") if float(group["momentum"]) != 0.0 else None
                if m is None:
                    if p.grad is None:
                        raise ValueError(f"{type(optimizer).__name__} with momentum 0 keeps no exp_avg: the "
                                         f"update sign(g) is read from p.grad, which is None; call before zero_grad")
                    m = p.grad
                n += m.numel()
                nz += int((m != 0).sum())
            out.append({"group": i, "numel": n, "rms": math.sqrt(nz / n) if n else math.nan})
        return out
    opt = _require_general(optimizer, "update_rms")
    out = []
    for i, group, rows in _groups(opt):
        n = 0
        sq = 0.0
        for p, st in rows:
            num, sigma = _pair(opt, p, st, group)
            n += num.numel()
            if opt.mode == "original":
                d = torch.where(sigma > 0, _ratio(num, sigma), torch.zeros_like(num))
            elif opt.mode == "stochastic":
                d = torch.where(sigma > 0, torch.ones_like(num), num.sign())
            elif opt.mode == "expectation":
                d = torch.where(sigma > 0, _ratio(num, sigma).clamp(-1.0, 1.0), num.sign())
            else:
                d = num.sign()
            sq += float(d.square().sum())
        out.append({"group": i, "numel": n, "rms": math.sqrt(sq / n) if n else math.nan})
    return out
