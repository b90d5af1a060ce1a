r"""The structural stochastic sign of StoSignSGD and the conjugate pair behind its expectation.

Definition 1 of StoSignSGD (arXiv 2604.15416, §1 of the spec [P for the form]): for an envelope
G ≥ 0,

.. math::  S_G(m) = \operatorname{sign}(m + G ⊙ n),\qquad n \sim U[-1, 1]^d\ \text{i.i.d.}

Proposition 1 [S/R]: E[S_G(m)] = clip(m/G, −1, 1) (0/0 := 0, and sign(m) where G = 0), so for
|m| ≤ G the sign is an unbiased 1-bit estimate of m/G with variance 1 − (m/G)²; where |m| > G it
saturates at sign(m) and is biased.

The expectation is itself a geometry (derived in ``proofs_checks.huber_clip`` [DER]): with
ψ(d) = Σ_i (G_i/2) d_i² on the ℓ∞ unit ball, ψ*(m) = Σ_i G_i·h(m_i/G_i) (h the Huber function;
|m_i| where G_i = 0) and ∇ψ*(m) = clip(m/G, −1, 1). So ``direction`` is that deterministic map
and ``sample`` is its unbiased random rounding to ±1.
"""

from __future__ import annotations

import torch

from convexlab import _validation as V
from convexlab.geometry.base import SeparableGeometry, indicator_box


def stochastic_sign_mean(m: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    r"""E[sign(m + G⊙n)] = clip(m/G, −1, 1), and sign(m) where G = 0 (0/0 := 0). No validation:
    the kernel shared by :class:`StochasticSign` and the optimizers."""
    pos = G > 0
    G_safe = torch.where(pos, G, torch.ones_like(G))
    return torch.where(pos, (m / G_safe).clamp(-1.0, 1.0), torch.sign(m))


def stochastic_sign_sample(m: torch.Tensor, G: torch.Tensor, generator: torch.Generator | None = None,
                           noise_scale: float = 1.0) -> torch.Tensor:
    r"""Draw sign(m + noise_scale·G⊙n), n ~ U[−1, 1] i.i.d., with the noise drawn in at least
    float32 (StoSignSGD spec §1); returned in ``m``'s dtype. No validation (the shared kernel)."""
    work = torch.promote_types(m.dtype, torch.float32)
    n = torch.rand(m.shape, generator=generator, dtype=work, device=m.device).mul_(2.0).sub_(1.0)
    n.mul_(G.to(work) if noise_scale == 1.0 else noise_scale * G.to(work)).add_(m.to(work))
    return n.sign_().to(m.dtype)


def _envelope(envelope) -> torch.Tensor:
    G = torch.as_tensor(envelope)
    if not G.is_floating_point():
        G = G.to(torch.get_default_dtype())
    G = V.tensor("envelope", G)
    if not bool(torch.isfinite(G).all()):
        raise ValueError(f"envelope must be finite, got {int((~torch.isfinite(G)).sum())} non-finite entries")
    n_neg = int((G < 0).sum())
    if n_neg:
        raise ValueError(
            f"envelope must be >= 0 everywhere (it is a per-coordinate noise scale), "
            f"got {n_neg} negative entr{'y' if n_neg == 1 else 'ies'} (min {float(G.min()):g})"
        )
    return G


class StochasticSign(SeparableGeometry):
    r"""Unbiased structural stochastic sign with envelope G: ``sample`` = sign(m + G⊙n), n ~ U[−1,1].

    Args:
        envelope: G ≥ 0, a tensor broadcastable to the inputs (a scalar is allowed).
        noise_scale: multiplies G in the noise only. 1 is the unbiased operator of the paper;
            other values exist to demonstrate that the unbiasedness checks can fail.

    Raises:
        ValueError: negative, non-finite or NaN envelope entries; an input whose shape the
            envelope does not broadcast to; a non-positive ``noise_scale``.

    >>> g = torch.Generator().manual_seed(0)
    >>> geo = StochasticSign(torch.tensor([1.0, 2.0]))
    >>> geo.direction(torch.tensor([0.5, -3.0]))
    tensor([ 0.5000, -1.0000])
    >>> geo.sample(torch.tensor([0.5, -3.0]), generator=g).abs().tolist()
    [1.0, 1.0]
    """

    absolutely_symmetric = False  # the envelope differs per coordinate
    stochastic = True

    def __init__(self, envelope=None, noise_scale: float = 1.0):
        self.envelope = None if envelope is None else _envelope(envelope)
        self.noise_scale = V.positive_finite("noise_scale", noise_scale)
        gmin = float(self.envelope.min()) if self.envelope is not None and self.envelope.numel() else 0.0
        self.strong_convexity = gmin if gmin > 0 else None

    def _G(self, x: torch.Tensor) -> torch.Tensor:
        if self.envelope is None:
            raise ValueError("this StochasticSign has no envelope (envelope=None: the optimizers pass it per step "
                             "as `scales`); build StochasticSign(G) to evaluate its maps")
        G = self.envelope.to(device=x.device, dtype=x.dtype)
        V.broadcastable("m", x, "envelope", G)
        return G

    def elem_regularizer(self, d):
        G = self._G(d)
        return 0.5 * G * d * d + indicator_box(d)

    def elem_conjugate(self, m):
        G = self._G(m)
        a = m.abs()
        pos = G > 0
        G_safe = torch.where(pos, G, torch.ones_like(G))
        quad = 0.5 * m * m / G_safe
        return torch.where(pos & (a <= G), quad, a - 0.5 * G)

    def elem_direction(self, m):
        return stochastic_sign_mean(m, self._G(m))

    def variance(self, m: torch.Tensor) -> torch.Tensor:
        r"""Per-coordinate variance of ``sample``: 1 − E[S]² (a ±1 or 0 variable)."""
        e = self.direction(m)
        return 1.0 - e * e

    def sample(self, m: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        r"""Draw sign(m + noise_scale·G⊙n), n ~ U[−1,1] i.i.d., in at least float32 (spec §1)."""
        m = V.tensor("m", m)
        return stochastic_sign_sample(m, self._G(m), generator, self.noise_scale)

    def step_directions(self, ms, *, scales=None, generator=None, noise: torch.Tensor | None = None):
        r"""Draw sign(m + noise_scale·G⊙n), n ~ U[−1, 1) i.i.d., for every tensor of ``ms``, with G the
        matching entry of ``scales`` (or this geometry's envelope).

        All uniforms of the call are drawn by one ``uniform_`` into ``noise`` (a 1-D float tensor of at
        least float32 and at least the total size; the optimizer keeps one per group so that no step
        allocates it), or into a fresh buffer. The draws are computed in that buffer and returned as
        views of it (in ``m``'s dtype; a copy only for a dtype below float32)."""
        if not ms:
            return []
        if scales is None:
            scales = [self._G(m) for m in ms]
        work = torch.promote_types(ms[0].dtype, torch.float32)
        total = sum(m.numel() for m in ms)
        if noise is None or noise.numel() < total or noise.dtype != work or noise.device != ms[0].device:
            noise = torch.empty(total, dtype=work, device=ms[0].device)
        flat = noise[:total]
        flat.uniform_(-1.0, 1.0, generator=generator)
        ns, off = [], 0
        for m in ms:
            ns.append(flat[off:off + m.numel()].view(m.shape))
            off += m.numel()
        if self.noise_scale != 1.0:
            torch._foreach_mul_(ns, self.noise_scale)
        torch._foreach_mul_(ns, [G if G.dtype == work else G.to(work) for G in scales])
        torch._foreach_add_(ns, [m if m.dtype == work else m.to(work) for m in ms])
        torch._foreach_sign_(ns)
        return [n if n.dtype == m.dtype else n.to(m.dtype) for n, m in zip(ns, ms)]

    def __repr__(self) -> str:
        if self.envelope is None:
            return "StochasticSign()" if self.noise_scale == 1.0 else f"StochasticSign(noise_scale={self.noise_scale:g})"
        env = f"{float(self.envelope):g}" if self.envelope.numel() == 1 else f"<{tuple(self.envelope.shape)}>"
        extra = "" if self.noise_scale == 1.0 else f", noise_scale={self.noise_scale:g}"
        return f"StochasticSign(envelope={env}{extra})"
