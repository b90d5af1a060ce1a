r"""The structural stochastic sign of StoSignSGD and the conjugate pair behind its expectation.

Definition 1 of StoSignSGD (arXiv 2604.15416, [SSG-DEF1] [P for the form]): for an envelope
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
    float32 (StoSignSGD [SSG-DEF1]); returned in ``m``'s dtype. No validation (the shared kernel)."""
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

    source = "StoSignSGD (arXiv 2604.15416) Prop. 1 [SSG-P1]; pair derived in proofs_checks.huber_clip"

    @classmethod
    def examples(cls) -> dict:
        # a fixed envelope with a zero entry (the 0/0 := 0 convention of StoSignSGD [SSG-DEF1])
        G = torch.tensor([0.5, 1.0, 2.0, 0.0, 0.25, 1.5, 3.0, 0.75], dtype=torch.float64)
        return {"StochasticSign.mean": cls(G)}

    def cvxpy_regularizer(self, d):
        import cvxpy as cp

        return 0.5 * cp.sum(cp.multiply(self.envelope.numpy(), cp.square(d))), [cp.abs(d) <= 1]

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
        r"""Draw sign(m + noise_scale·G⊙n), n ~ U[−1,1] i.i.d., in at least float32 (StoSignSGD [SSG-DEF1])."""
        m = V.tensor("m", m)
        return stochastic_sign_sample(m, self._G(m), generator, self.noise_scale)

    def step_directions(self, ms, *, scales=None, generator=None, noise: torch.Tensor | None = None, stream=None):
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
        self._fill(flat, generator, stream)
        ns = _views(flat, ms)
        if self.noise_scale != 1.0:
            torch._foreach_mul_(ns, self.noise_scale)
        self._combine(ns, ms, scales, work)
        torch._foreach_sign_(ns)
        return [n if n.dtype == m.dtype else n.to(m.dtype) for n, m in zip(ns, ms)]

    def _fill(self, flat: torch.Tensor, generator, stream) -> None:
        """The noise n ~ U[−1, 1), all of the call in one draw."""
        flat.uniform_(-1.0, 1.0, generator=generator)

    @staticmethod
    def _combine(ns: list, ms: list, scales: list, work: torch.dtype) -> None:
        """n ← m + G·n in place (two multi-tensor passes)."""
        torch._foreach_mul_(ns, [G if G.dtype == work else G.to(work) for G in scales])
        torch._foreach_add_(ns, [m if m.dtype == work else m.to(work) for m in ms])

    def __repr__(self) -> str:
        if self.envelope is None:
            return "StochasticSign()" if self.noise_scale == 1.0 else f"StochasticSign(noise_scale={self.noise_scale:g})"
        env = f"{float(self.envelope):g}" if self.envelope.numel() == 1 else f"<{tuple(self.envelope.shape)}>"
        extra = "" if self.noise_scale == 1.0 else f", noise_scale={self.noise_scale:g}"
        return f"StochasticSign(envelope={env}{extra})"


# ---------------------------------------------------------------------------------------------
# the 16-bit lattice stochastic sign
# ---------------------------------------------------------------------------------------------
LATTICE_BITS = 16
#: n = k·2^-15 + 2^-16 for a signed 16-bit k ∈ {−2^15, …, 2^15 − 1}: the odd multiples of 2^-16 in (−1, 1)
_LATTICE_STEP = 2.0 ** (1 - LATTICE_BITS)
_LATTICE_OFFSET = 2.0 ** -LATTICE_BITS


class LatticeNoise:
    r"""A stream of lattice noise values n = (2k + 1)/2^16, k uniform on the signed 16-bit integers
    {−2^15, …, 2^15 − 1}: n is uniform on the 2^16 odd multiples of 2^-16 in (−1, 1).

    The integers k are the four 16-bit fields of 64-bit words drawn by ``random_(−2^63, None)`` on
    an int64 tensor (torch's full-range draw: the generator's 64 output bits unchanged, every bit a
    fair, independent bit), read through an int16 view. The stream is consumed in order:
    :meth:`fill` hands out the next values, keeping the fields of a partly used word for the next
    call, so that filling a buffer in pieces gives the same values as filling it at once (the
    optimizer fills one block at a time). A stream lives for one step of one param group (no carry
    between steps, so a run resumed from ``state_dict`` draws exactly what an uninterrupted one does).
    """

    def __init__(self, generator: torch.Generator | None, device: torch.device, words: torch.Tensor | None = None):
        self.generator = generator
        self.device = device
        self._words = words
        self._carry: torch.Tensor | None = None

    def _word_buffer(self, n: int) -> torch.Tensor:
        if self._words is None or self._words.numel() < n:
            self._words = torch.empty(n, dtype=torch.int64, device=self.device)
        return self._words[:n]

    def fill(self, out: torch.Tensor) -> torch.Tensor:
        """Write the next ``out.numel()`` noise values into the contiguous 1-D float tensor ``out``."""
        n = out.numel()
        done = 0
        if self._carry is not None:
            done = min(n, self._carry.numel())
            out[:done].copy_(self._carry[:done])
            self._carry = self._carry[done:] if done < self._carry.numel() else None
        need = n - done
        if need:
            words = self._word_buffer((need + 3) // 4)
            words.random_(-(2**63), None, generator=self.generator)
            fields = words.view(torch.int16)
            out[done:].copy_(fields[:need])
            if fields.numel() > need:
                self._carry = fields[need:].clone()
        return out.mul_(_LATTICE_STEP).add_(_LATTICE_OFFSET)


class LatticeStochasticSign(StochasticSign):
    r"""The structural stochastic sign S = sign(m + G⊙n) with the noise n uniform on the symmetric
    16-bit lattice L = {(2k + 1)/2^16 : k = −2^15, …, 2^15 − 1} (the odd multiples of 2^-16 in
    (−1, 1)) instead of the continuous U[−1, 1]: four draws per 64-bit word of the generator
    (:class:`LatticeNoise`), about 3× cheaper on a CPU than ``uniform_`` (the draw dominates
    StoSignSGD's step there).

    Regularizer, conjugate and ``direction`` (the mean clip(m/G, −1, 1)) are those of
    :class:`~convexlab.geometry.StochasticSign`; only the draw differs.

    Exact bias bound [DER, proved here; checked exhaustively over L and by Monte Carlo in
    ``tests/test_optim_general.py``]. For m, G in the work dtype (float32 or float64; bfloat16 and
    float16 inputs are promoted to float32), S computed as sign(m + G·n) with the product and the sum
    rounded to nearest, separately or fused:

    * |m| > G or G = 0: S = sign(m) for every n ∈ L, so E[S] = clip(m/G, −1, 1) = sign(m) exactly
      (0/0 := 0), as for the continuous noise;
    * |m| ≤ G and G ≥ 2^-110 (float32; 2^-1006 in float64): |E[S] − m/G| < 2^-15, m/G the exact
      real quotient; E[S] = m/G exactly when a lattice point equals −m/G, in particular E[S] = 0 at
      m = 0 (L is symmetric and excludes 0).

    Proof of the second case (float32; float64 alike with its exponents). (i) Exact arithmetic: with
    s = 2^15(1 + m/G) ∈ [0, 2^16], the number of lattice points below −m/G is ⌈s − ½⌉ clamped to
    [0, 2^16], and one point equals −m/G iff s − ½ is an integer in [0, 2^16 − 1]; the lattice mean
    (#above − #below)/2^16 therefore differs from m/G = 1 − 2s/2^16 by (2s − 2⌈s − ½⌉ − [tie])/2^16:
    0 at a tie, in (−2^-16, 2^-16) otherwise. (ii) Rounding, unfused: fl(m + y) has the sign of
    m + y (round-to-nearest keeps signs; a nonzero sum of two floats is exact in the subnormal range,
    so it never rounds to 0), and y = fl(G·n) is monotone in n with −m a float, so a draw can only
    change from ±1 to 0, and only where fl(G·n) = −m ≠ G·n, i.e. |G·n + m| ≤ ulp(m)/2; the points
    G·n are 2^-15·G apart while ulp(m) ≤ max(2^-149, 2^-23·G) < 2^-15·G (G ≥ 2^-110), so at most
    one point does, and not a tie point: the mean moves by at most 2^-16. Fused: m + G·n is a
    nonzero multiple of 2^-149 or 0 (m a multiple of 2^-149, G·n of 2^(e_G − 39) with 2^e_G ≤ G,
    e_G ≥ −110), so its single rounding keeps its sign and no draw changes. Hence the bias is
    < 2^-16 + 2^-16 = 2^-15 (0 at a tie point).
    """

    @classmethod
    def examples(cls) -> dict:
        """None here: its maps are :class:`StochasticSign`'s (checked on that class's example); what
        differs, the draw, is checked by ``geometry.step_path.sample[LatticeStochasticSign]``
        (registered in :mod:`convexlab.theory.identities`)."""
        return {}

    # step_directions is StochasticSign's: sign(m + G⊙n) for every tensor of ``ms`` (G the matching
    # entry of ``scales``, or this geometry's envelope), computed in ``noise`` or a fresh buffer, with
    # the noise the next part of ``stream`` (a fresh :class:`LatticeNoise` on ``generator`` when None:
    # one call draws like one flat draw over all tensors, in order)

    def _fill(self, flat, generator, stream) -> None:
        (stream or LatticeNoise(generator, flat.device)).fill(flat)

    @staticmethod
    def _combine(ns, ms, scales, work) -> None:
        for n, m, G in zip(ns, ms, scales):  # n ← m + G·n, one fused pass (the bias proof's "fused" case)
            torch.addcmul(m if m.dtype == work else m.to(work), G if G.dtype == work else G.to(work), n, out=n)

    def sample(self, m: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        r"""Draw sign(m + noise_scale·G⊙n), n uniform on L (the optimizers' draw)."""
        m = V.tensor("m", m)
        return self.step_directions([m], scales=[self._G(m).expand(m.shape)], generator=generator)[0]

    def __repr__(self) -> str:
        return "Lattice" + super().__repr__()


def _views(flat: torch.Tensor, like: list) -> list:
    """Consecutive pieces of the 1-D ``flat`` shaped like the tensors of ``like`` (no reshape for
    the 1-D blocks of a cut tensor)."""
    out, off = [], 0
    for t in like:
        n = t.numel()
        piece = flat[off:off + n]
        out.append(piece if t.dim() == 1 else piece.view(t.shape))
        off += n
    return out
