r"""The "general optimizer" x ← x − η·num/σ − ηλx and its unbiased sign conversion (StoSignSGD).

StoSignSGD (Yu, Pan, Liu, Zhang; arXiv 2604.15416) App. B.3–B.5 [P for the principle]: many
adaptive optimizers take the step num_t/σ_t with a first-moment-like numerator and a positive
scale; the *sign conversion* replaces it by the stochastic sign

    x_{t+1} = x_t − η_t·sign(num_t + σ_t ⊙ n_t) − η_t λ x_t,   n_t ~ U[−1, 1]^d,

whose expectation is clip(num_t/σ_t, −1, 1) (Proposition 1): the original step wherever
σ_t ≥ |num_t|. In geometry terms the converted step samples ``StochasticSign(σ)`` at num.

``base`` picks (num, σ) (t the parameter's own step count):

==================  =============================================  ==============================
base                num                                            σ
==================  =============================================  ==============================
``"adamw"``         m̂ = m/(1 − β1^t), m ← β1 m + (1 − β1) g        √v̂ + ε, v̂ = v/(1 − β2^t) (Alg. 6)
``"adamax"``        m̂                                              u + ε, u ← max(β2 u, |g|) (Alg. 7)
``"ie_stosignsgd"`` m, m ← β1 m + (1 − β1) g, m₁ = g₁               G ← max(β2 G, |m|) (Alg. 10)
==================  =============================================  ==============================

(with ``first_moment="g1"`` num is m itself, no bias correction; with β1 = 0, num = g.)

``mode`` picks the direction, each a :mod:`convexlab.geometry` map (:meth:`GeneralOptimizer.geometry`):

* ``"original"``: num/σ, ``Euclidean()`` in the metric σ (AdamW, AdaMax, IE-StoSignSGD; 0/0 := 0);
* ``"stochastic"``: sign(num + σ⊙n), ``StochasticSign`` with scales σ (Algs. 8, 9 and
  StoSignSGD, Alg. 3); the noise n is by default uniform on a 16-bit symmetric lattice of (−1, 1)
  (:class:`LatticeStochasticSign`: four draws per 64-bit word, bias < 2^-15 per coordinate, proved
  there), or the continuous U[−1, 1) of :class:`~convexlab.geometry.StochasticSign` with
  ``noise="uniform"`` (the default of the theory form, ``envelope="gradient"``);
* ``"expectation"``: clip(num/σ, −1, 1), ``Clip()`` with scales σ, the exact mean of the stochastic step;
* ``"deterministic_sign"``: sign(num), ``Sign()`` (signSGD-like, the biased 1-bit step).

The parts of a step (:mod:`convexlab.optim.base`): momentum ``EMA(("betas", 0), first=...)`` on the
state entry ``exp_avg`` (:class:`~convexlab.optim.momentum.NoMomentum` when β1 = 0: then no
``exp_avg`` is kept, so SFAdamW holds 8 bytes per parameter), the σ state (``exp_avg_sq``,
``exp_inf`` or ``envelope``), the geometry above, the plain iterate rule with decoupled decay.

Violations. Where |num| > σ the conversion is biased (it saturates at sign(num)); the fraction of
such coordinates over the group's stepped parameters is recorded after every step in
``group["violation_fraction"]`` (StoSignSGD [SSG-SC]: log, do not clamp) by the sign-conversion modes
(``"stochastic"``, ``"expectation"``, ``"deterministic_sign"``): a 0-d float32 tensor on the
parameters' device, so that no host synchronisation happens (``float()`` it to read it); the float
0.0 where the base makes a violation impossible (the envelope G ≥ |m| by construction:
``"ie_stosignsgd"`` with the momentum envelope, or with β1 = 0). The ``"original"`` mode (plain
AdamW, AdaMax, IE-StoSignSGD) computes nothing for it and has no such entry.

Speed (CPU, issue 12): a param group is stepped per device, dtype and step count (a parameter
that starts late has its own bias corrections and anytime step) in a few multi-tensor passes
(``torch._foreach_*``). On a CPU the passes run over blocks of at most :data:`CPU_BLOCK` elements
(large contiguous tensors are cut into flat views), so that the several passes of a block run in
the processor's cache and every parameter, gradient and state tensor crosses main memory about
once per step; the temporaries of a block live in per-group scratch buffers of one block (never in
``state_dict``). The arithmetic is elementwise, so the blocks change no result (block boundaries
inside a tensor are multiples of 2^18 elements, so not even the vectorised/scalar split of a
kernel moves; tested bit for bit for other block sizes too), and ``foreach=False`` (one tensor at
a time, the same blocks) gives identical results. On other devices a block is a whole device/dtype
group (few kernel launches). The bias corrections are folded into scalars
(m̂/(√v̂ + ε) = m·(√bc2/bc1)/(√v + ε√bc2), bc_i = 1 − β_i^t), so no full-size temporary is made for
them. One host synchronisation per step (the core's gradient check); the violation count adds none.
"""

from __future__ import annotations

import math

import torch

from convexlab import _validation as V
from convexlab.geometry import Clip, Euclidean, Sign, StochasticSign
from convexlab.geometry.stochastic_sign import LatticeNoise, LatticeStochasticSign, _views  # noqa: F401
from convexlab.optim.base import ComposedOptimizer, cpu_blocks
from convexlab.optim.momentum import EMA, FIRST, NoMomentum

BASES = ("adamw", "adamax", "ie_stosignsgd")
MODES = ("original", "stochastic", "expectation", "deterministic_sign")
ENVELOPES = ("momentum", "gradient")
#: the noise n of the ``"stochastic"`` mode: the continuous U[−1, 1) draw of ``StochasticSign``
#: (``"uniform"``) or the 16-bit symmetric lattice of :class:`LatticeStochasticSign` (``"lattice16"``)
NOISES = ("uniform", "lattice16")

#: elements per block of the multi-tensor passes on a CPU (2^18: 1 MiB per float32 tensor, so that
#: the 6–8 tensors a block touches stay in the last-level cache; on the 2-core test machine,
#: 2 MiB L2 and 32 MiB L3, 2^18–2^20 were fastest and 2^16 lost to the per-block Python overhead)
CPU_BLOCK = 1 << 18

_SIGMA_KEY = {"adamw": "exp_avg_sq", "adamax": "exp_inf", "ie_stosignsgd": "envelope"}


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _like(ts: list, ref: list) -> list:
    """``ts`` in the dtype of ``ref`` (a copy only where they differ)."""
    return [t if t.dtype == r.dtype else t.to(r.dtype) for t, r in zip(ts, ref)]


class GeneralOptimizer(ComposedOptimizer):
    r"""x ← x − η·direction(num, σ) − ηλx for the (num, σ) of ``base`` and the direction of ``mode``
    (module docstring). The named classes below fix ``base`` and ``mode``.

    Args:
        params: parameters or param groups.
        lr: η ≥ 0. Ignored when ``anytime_diameter`` is set.
        betas: (β1, β2); β1 ∈ [0, 1), β2 ∈ [0, 1) for Adam/AdaMax and [0, 1] for the envelope.
        eps: ε ≥ 0 added to σ (Adam, AdaMax; unused by the envelope base).
        weight_decay: λ ≥ 0, decoupled, applied as x ← x(1 − ηλ) at the current iterate.
        base: ``"adamw" | "adamax" | "ie_stosignsgd"``.
        mode: ``"original" | "stochastic" | "expectation" | "deterministic_sign"``.
        first_moment: ``"g1"`` (m₁ = g₁, Alg. 5/10; num = m, no bias correction) or ``"zero"``
            (m₀ = 0, Adam's convention, num = m/(1 − β1^t)). Default: ``"g1"`` for the envelope base,
            ``"zero"`` otherwise.
        envelope: ``"momentum"`` (G tracks |m|, Alg. 3) or ``"gradient"`` (G tracks |g|, the theory
            form Alg. 1; only for ``"ie_stosignsgd"``).
        anytime_diameter: D∞ > 0 switches to the anytime step η_t = D∞/√(2t) of Theorem 4 (t the
            per-parameter step count); ``None`` uses ``lr``.
        noise: the noise of the ``"stochastic"`` mode: ``"lattice16"`` (:class:`LatticeStochasticSign`,
            bias < 2^-15 per coordinate, stated and proved there) or ``"uniform"`` (the continuous
            U[−1, 1) of :class:`~convexlab.geometry.StochasticSign`, 24/53-bit). Default (``None``):
            ``"uniform"`` for ``envelope="gradient"`` (Alg. 1, the theory form, whose analysis and
            checks use the continuous noise; its draws are those of one ``uniform_`` per step),
            ``"lattice16"`` otherwise (the practical forms, where the draw dominates the step's cost).
        nonfinite, seed, box, maximize, foreach: see :class:`ComposedOptimizer`.

    Division by σ = 0 (``"original"`` and ``"expectation"``; the ``"stochastic"`` mode divides by
    nothing): the ``"original"`` direction is num/σ where σ > 0 and 0 where σ = 0 (0/0 := 0; also
    where num ≠ 0, which happens only with ε = 0 or the gradient envelope with β1 > 0); the
    ``"expectation"`` direction is clip(num/σ, −1, 1) where σ > 0 and sign(num) where σ = 0 (the mean
    of sign(num + 0·n)). Both are exact for every σ ≥ 0, subnormal σ included: a σ that cannot vanish
    (ε > 0) takes the fused path x ← x + α·num/σ (one ``addcdiv``); the envelope base with
    G ≥ |m| by construction divides and maps 0/0 = NaN to 0 (no other NaN or inf can occur there);
    the remaining cases use ``torch.where(σ > 0, …)`` per tensor (slower, rare settings).
    """

    coordinatewise = True
    internal_keys = ("violation_fraction",)

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 *, base: str = "adamw", mode: str = "original", first_moment: str | None = None,
                 envelope: str = "momentum", anytime_diameter: float | None = None, noise: str | None = None,
                 **kwargs):
        V.one_of("base", base, BASES)
        V.one_of("mode", mode, MODES)
        V.one_of("envelope", envelope, ENVELOPES)
        if noise is None:
            noise = "uniform" if envelope == "gradient" else "lattice16"
        V.one_of("noise", noise, NOISES)
        if envelope == "gradient" and base != "ie_stosignsgd":
            raise ValueError(f"envelope='gradient' is defined for base='ie_stosignsgd' only, got base={base!r}")
        if first_moment is None:
            first_moment = "g1" if base == "ie_stosignsgd" else "zero"
        V.one_of("first_moment", first_moment, FIRST)
        V.betas("betas", betas, allow_one=(False, base == "ie_stosignsgd"))
        V.nonnegative_finite("eps", eps)
        if anytime_diameter is not None:
            V.positive_finite("anytime_diameter", anytime_diameter)
        self.base, self.mode, self.first_moment, self.envelope = base, mode, first_moment, envelope
        self.anytime_diameter = anytime_diameter
        self.noise = noise
        self._sigma_key = _SIGMA_KEY[base]
        self._noise_bufs: dict = {}
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults, **kwargs)

    def _validate_group(self, group):
        super()._validate_group(group)
        V.betas("betas", group["betas"], allow_one=(False, self.base == "ie_stosignsgd"))
        V.nonnegative_finite("eps", group["eps"])

    # -- the parts -----------------------------------------------------------------------------
    def momentum(self, group):
        """:class:`~convexlab.optim.momentum.EMA` on ``betas[0]`` (m₁ = g₁ or m₀ = 0 per
        ``first_moment``), :class:`~convexlab.optim.momentum.NoMomentum` when β1 = 0."""
        if float(group["betas"][0]) == 0.0:
            return NoMomentum()
        return EMA(("betas", 0), first=self.first_moment)

    def geometry(self, group):
        """The direction's geometry: ``Euclidean()`` (original, in the metric σ),
        ``StochasticSign()`` or :class:`LatticeStochasticSign` (stochastic, scales σ), ``Clip()``
        (expectation, scales σ) or ``Sign()`` (deterministic_sign). The same for every group (the
        scales carry the group's σ)."""
        geo = self.__dict__.get("_geometry")
        if geo is None:
            if self.mode == "original":
                geo = Euclidean()
            elif self.mode == "stochastic":
                geo = LatticeStochasticSign() if self.noise == "lattice16" else StochasticSign()
            else:
                geo = Clip() if self.mode == "expectation" else Sign()
            self._geometry = geo
        return geo

    def _violation_free(self, group) -> bool:
        """|num| ≤ σ holds by construction: the envelope is a running max of |m| itself (or of
        |g| = |m| when β1 = 0)."""
        return self.base == "ie_stosignsgd" and (self.envelope == "momentum" or float(group["betas"][0]) == 0.0)

    def _sigma_may_vanish(self, group) -> bool:
        """σ = 0 is possible (ε = 0, or the envelope base)."""
        return self.base == "ie_stosignsgd" or float(group["eps"]) == 0.0

    def _lr(self, p, state, group):
        if self.anytime_diameter is not None:
            return self.anytime_diameter / (2.0 * state["step"]) ** 0.5
        return group["lr"]

    def _init_state(self, p, state, group):
        self.momentum(group).init(p, state, group)
        state[self._sigma_key] = torch.zeros_like(p, memory_format=torch.preserve_format)

    # -- pickling: the noise buffers are scratch space, rebuilt on demand ----------------------
    def __getstate__(self):
        d = super().__getstate__()
        d.pop("_noise_bufs", None)
        return d

    def __setstate__(self, state):
        super().__setstate__(state)
        self._noise_bufs = {}

    # -- σ -------------------------------------------------------------------------------------
    def _bias_corrections(self, group, t: int) -> tuple[float, float]:
        """(bc1, bc2): 1 − β1^t for the Adam bases with m₀ = 0 (1 for m₁ = g₁ or β1 = 0), 1 − β2^t."""
        beta1, beta2 = float(group["betas"][0]), float(group["betas"][1])
        bc1 = 1.0 - beta1**t if (self.first_moment == "zero" and beta1 != 0.0) else 1.0
        return bc1, 1.0 - beta2**t

    def _update_sigma(self, group, grads: list, us: list, sigmas: list) -> None:
        """Advance the σ state in place: v ← β2 v + (1 − β2) g², u ← max(β2 u, |g|) or
        G ← max(β2 G, |m|) (|g| for the gradient envelope)."""
        beta2 = float(group["betas"][1])
        if self.base == "adamw":
            gs = _like(grads, sigmas)
            torch._foreach_mul_(sigmas, beta2)
            torch._foreach_addcmul_(sigmas, gs, gs, value=1.0 - beta2)
            return
        src = us if (self.base == "ie_stosignsgd" and self.envelope == "momentum") else grads
        mags = torch._foreach_abs(_like(src, sigmas))
        if beta2 != 1.0:
            torch._foreach_mul_(sigmas, beta2)
        torch._foreach_maximum_(sigmas, mags)

    def _sigma(self, group, sigmas: list, t: int) -> list:
        """σ for the point u = the momentum output, so that num/σ_base = u/σ: bc1·(√v̂ + ε) (AdamW),
        bc1·(u + ε) (AdaMax), as new tensors; G itself (the envelope)."""
        bc1, bc2 = self._bias_corrections(group, t)
        eps = float(group["eps"])
        if self.base == "ie_stosignsgd":
            return sigmas
        if self.base == "adamw":
            den = torch._foreach_mul(sigmas, bc1 * bc1 / bc2)
            torch._foreach_sqrt_(den)
        else:
            den = torch._foreach_mul(sigmas, bc1)
        if eps:
            torch._foreach_add_(den, eps * bc1)
        return den

    def _scales(self, group, params, us, states):
        """The per-coordinate σ of this step with the momentum output ``us`` as the point:
        ∇ψ_σ*(u) is the step's direction (σ = bc1·(√v̂ + ε) for AdamW, bc1·(u + ε) for AdaMax, G for
        the envelope). Advances the σ state from the gradients ``p.grad`` (their magnitudes, so
        ``maximize`` changes nothing); :meth:`_group_step` does the same in fused passes."""
        sigmas = [st[self._sigma_key] for st in states]
        self._update_sigma(group, [p.grad for p in params], us, sigmas)
        return self._sigma(group, sigmas, states[0]["step"])

    # -- the step ------------------------------------------------------------------------------
    def _block_limit(self, device: torch.device) -> int | None:
        return CPU_BLOCK if device.type == "cpu" else None

    def _group_step(self, group, params, grads, states):
        r"""The step of one group: per device, dtype, step count and step size, the momentum part,
        the σ update and the geometry's direction in multi-tensor passes over blocks (module
        docstring), then the plain rule x ← x(1 − lr·λ) − lr·d (or the subclass's iterate rule)."""
        if type(self)._direction is not ComposedOptimizer._direction:
            return super()._group_step(group, params, grads, states)  # a legacy per-tensor subclass
        momentum = self.momentum(group)
        mkey = momentum.state_keys[0] if momentum.state_keys else None
        skey = self._sigma_key
        parts: dict = {}
        for p, g, st in zip(params, grads, states):
            if p.numel() == 0:
                continue
            if skey not in st:  # σ starts at 0 (v₀ = u₀ = G₀ = 0)
                st[skey] = torch.zeros_like(p, memory_format=torch.preserve_format)
            lr = self._lr(p, st, group)
            if isinstance(lr, torch.Tensor):
                lr = float(lr)
            parts.setdefault((p.device, p.dtype, g.dtype, st["step"], lr), []).append((p, g, st))
        sign_mode = self.mode != "original"
        counts: list | None = [] if sign_mode and not self._violation_free(group) else None
        numel = 0
        one_at_a_time = group.get("foreach", None) is False
        streams: dict = {}
        for (device, _, _, t, lr), rows in parts.items():
            limit = self._block_limit(device) if self.iterate == "plain" else None
            stream = None
            if self.mode == "stochastic" and self.noise == "lattice16":
                stream = streams.get(device)
                if stream is None:
                    stream = streams[device] = LatticeNoise(self.generator(device), device,
                                                            self._noise_bufs.get((id(group), device, "words")))
            ps_, gs_, sts_ = (list(col) for col in zip(*rows))
            keys = tuple(k for k in (mkey, skey) if k is not None)
            for ps, gs, sts in cpu_blocks(ps_, gs_, sts_, keys, limit, one_at_a_time):
                numel += sum(p.numel() for p in ps)
                self._block_step(group, ps, gs, sts, t, lr, momentum, counts, stream)
            if stream is not None:
                self._noise_bufs[(id(group), device, "words")] = stream._words
        if self._box is not None and self.iterate == "plain":
            self._project(params)
        if sign_mode:
            group["violation_fraction"] = self._fraction(counts, numel) if counts is not None else 0.0

    def _flat(self, group, slot: str, device: torch.device, dtype: torch.dtype, n: int) -> torch.Tensor:
        """A flat scratch buffer of at least ``n`` elements. Kept per group (reused from block to
        block and step to step; never in ``state_dict``, not pickled) on a CPU, where it is one
        block, and for the noise on every device (the preallocated draw buffer); elsewhere a block
        is a whole device/dtype group, so the other temporaries are allocated per step (the caching
        allocator reuses them) rather than held."""
        key = (id(group), device, dtype, slot)
        buf = self._noise_bufs.get(key)
        if buf is None or buf.numel() < n:
            cpu = device.type == "cpu"
            buf = torch.empty(max(n, CPU_BLOCK) if cpu else n, dtype=dtype, device=device)
            if cpu or slot == "noise":
                self._noise_bufs[key] = buf
        return buf

    def _scratch(self, group, slot: str, like: list, dtype: torch.dtype | None = None) -> list:
        """Views shaped like the tensors of ``like`` into the flat scratch buffer ``slot``."""
        buf = self._flat(group, slot, like[0].device, dtype or like[0].dtype, sum(t.numel() for t in like))
        return _views(buf, like)

    def _update_sigma_block(self, group, gs, us, sigmas) -> None:
        """:meth:`_update_sigma` with the |·| temporaries in scratch space."""
        if self.base == "adamw":
            return self._update_sigma(group, gs, us, sigmas)
        beta2 = float(group["betas"][1])
        src = _like(us if (self.base == "ie_stosignsgd" and self.envelope == "momentum") else gs, sigmas)
        mags = self._scratch(group, "abs", sigmas)
        for a, x in zip(mags, src):
            torch.abs(x, out=a)
        if beta2 != 1.0:
            torch._foreach_mul_(sigmas, beta2)
        torch._foreach_maximum_(sigmas, mags)

    def _block_step(self, group, ps, gs, sts, t, lr, momentum, counts, stream) -> None:
        """One block: momentum part, σ update, direction, iterate rule (see :meth:`_group_step`)."""
        us = momentum.update(gs, sts, group)
        sigmas = [st[self._sigma_key] for st in sts]
        self._update_sigma_block(group, gs, us, sigmas)
        mode = self.mode
        plain = self.iterate == "plain"
        wd = float(group.get("weight_decay", 0.0))
        if plain and wd and lr:
            torch._foreach_mul_(ps, 1.0 - lr * wd)
        if mode == "original":
            ds = self._original_directions(group, ps, us, sigmas, t, lr, plain)
            if ds is None:
                return
        else:
            den = None
            if mode != "deterministic_sign" or counts is not None:
                den = self._sign_scales(group, sigmas, t)
            if counts is not None:
                counts.extend(self._count_violations(group, us, den))
            if mode == "stochastic":
                ds = self._draw(group, us, den, stream)
            elif mode == "expectation":
                ds = self.geometry(group).step_directions(us, scales=den)
                if self._sigma_may_vanish(group):  # 0/0 = NaN where σ = 0 = num: sign(0) = 0
                    for d in ds:
                        torch.nan_to_num_(d, nan=0.0)
            else:
                ds = self.geometry(group).step_directions(us)  # Sign(): sign(u), new tensors
        if plain:
            torch._foreach_add_(ps, _like(ds, ps), alpha=-lr)
        else:
            self._apply_all(group, ps, ds, sts)

    def _original_directions(self, group, ps, us, sigmas, t, lr, plain):
        """num/σ (0/0 := 0); None when already added to the parameters by the fused path."""
        if not self._sigma_may_vanish(group):  # σ ≥ ε > 0: x ← x − lr·c·u/σ' in one addcdiv
            den = self._scratch(group, "den", sigmas)
            bc1, bc2 = self._bias_corrections(group, t)
            eps = float(group["eps"])
            if self.base == "adamw":  # σ' = √v + ε√bc2, c = √bc2/bc1
                for d, v in zip(den, sigmas):
                    torch.sqrt(v, out=d)
                torch._foreach_add_(den, eps * math.sqrt(bc2))
                c = math.sqrt(bc2) / bc1
            else:  # AdaMax: σ' = u + ε, c = 1/bc1
                for d, v in zip(den, sigmas):
                    torch.add(v, eps, out=d)
                c = 1.0 / bc1
            if plain:
                self.geometry(group).add_direction_(ps, us, -lr * c, scales=den)
                return None
            ds = torch._foreach_div(us, den)
            if c != 1.0:
                torch._foreach_mul_(ds, c)
            return ds
        den = self._sigma(group, sigmas, t)
        if self._violation_free(group):  # |m| ≤ G: the only NaN is 0/0, and no inf
            ds = torch._foreach_div(us, den)
            for d in ds:
                torch.nan_to_num_(d, nan=0.0)
            return ds
        return [torch.where(s > 0, u / torch.where(s > 0, s, torch.ones_like(s)), torch.zeros_like(u))
                for u, s in zip(us, den)]

    def _sign_scales(self, group, sigmas, t) -> list:
        """:meth:`_sigma` (the same arithmetic) in scratch space."""
        if self.base == "ie_stosignsgd":
            return sigmas
        bc1, bc2 = self._bias_corrections(group, t)
        eps = float(group["eps"])
        den = self._scratch(group, "den", sigmas)
        k = bc1 * bc1 / bc2 if self.base == "adamw" else bc1
        for d, v in zip(den, sigmas):
            torch.mul(v, k, out=d)
        if self.base == "adamw":
            torch._foreach_sqrt_(den)
        if eps:
            torch._foreach_add_(den, eps * bc1)
        return den

    def _count_violations(self, group, us, den) -> list:
        """Per tensor, the number of coordinates with |u| > σ as a 0-d float tensor (exact: at most
        2^24 per tensor of a block), computed as Σ sign(max(|u| − σ, 0)) in scratch space (float
        passes, no comparison to a bool tensor, no host synchronisation)."""
        tmp = self._scratch(group, "count", us)
        for a, u in zip(tmp, us):
            torch.abs(u, out=a)
        torch._foreach_sub_(tmp, _like(den, tmp))
        torch._foreach_clamp_min_(tmp, 0.0)
        torch._foreach_sign_(tmp)
        return [a.sum(dtype=torch.float32) if a.numel() <= 2**24 else a.sum(dtype=torch.float64) for a in tmp]

    def _draw(self, group, us, den, stream) -> list:
        """The stochastic direction sign(u + σ⊙n), drawn into the group's noise buffer (views of it)."""
        geo = self.geometry(group)
        dev = us[0].device
        work = torch.promote_types(us[0].dtype, torch.float32)
        buf = self._flat(group, "noise", dev, work, sum(u.numel() for u in us))
        if self.noise == "lattice16":
            return geo.step_directions(us, scales=den, noise=buf, stream=stream)
        return geo.step_directions(us, scales=den, generator=self.generator(dev), noise=buf)

    @staticmethod
    def _fraction(counts: list, numel: int):
        """Σ counts / numel as a 0-d float32 tensor (summed in float64, so exact; no host
        synchronisation)."""
        if not counts or not numel:
            return 0.0
        dev = counts[0].device
        total = torch.stack([c.to(device=dev, dtype=torch.float64) for c in counts]).sum()
        return (total / numel).to(torch.float32)

    # -- the per-tensor form (for subclasses that override ``_direction``) ----------------------
    def _moments(self, g, state, group):
        """Update the state of one parameter from g and return (num, σ) unfolded (new tensors where
        the maps need them): the per-tensor form used by subclasses that write their own
        ``_direction`` (the theory checks' deliberately broken variants)."""
        t = state["step"]
        us = self.momentum(group).update([g], [state], group)
        m = us[0]
        sigma = state.get(self._sigma_key)
        if sigma is None:
            sigma = state[self._sigma_key] = torch.zeros_like(g, memory_format=torch.preserve_format)
        self._update_sigma(group, [g], [m], [sigma])
        if self.base == "ie_stosignsgd":
            return m, sigma
        bc1, bc2 = self._bias_corrections(group, t)
        num = m / bc1 if bc1 != 1.0 else m
        if self.base == "adamw":
            return num, (sigma / bc2).sqrt_().add_(group["eps"])
        return num, sigma + group["eps"]


class AdamW(GeneralOptimizer):
    r"""AdamW (Loshchilov & Hutter 2019; StoSignSGD Alg. 6 [P]): x ← x − η m̂/(√v̂ + ε) − ηλx with
    m ← β1 m + (1 − β1) g, v ← β2 v + (1 − β2) g², m̂ = m/(1 − β1^t), v̂ = v/(1 − β2^t) (m₀ = v₀ = 0).

    The general optimizer with base ``"adamw"``, mode ``"original"``; the building block of
    :class:`SFAdamW`. Parts: ``EMA(("betas", 0), first="zero")`` (none at β1 = 0: no ``exp_avg``),
    geometry ``Euclidean()`` in the diagonal metric σ = (1 − β1^t)(√v̂ + ε) at u = m. Computed as
    x ← x(1 − ηλ) − η·(√bc2/bc1)·m/(√v + ε√bc2), the bias corrections folded into scalars (``torch``
    divides √v by √bc2 in one more pass), so the moments equal ``torch.optim.AdamW``'s bit for bit
    and the parameters to float32 round-off (tested: 20 steps, two param groups, ``OneCycleLR``
    cycling lr and β1, a parameter that starts late). At β1 = 0 no first moment is kept (4 bytes of
    state per float32 parameter), as :class:`SFAdamW` needs.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2, **kw):
        super().__init__(params, lr, betas, eps, weight_decay, base="adamw", mode="original", **kw)


class AdaMax(GeneralOptimizer):
    r"""AdaMax with decoupled decay (Kingma & Ba 2015 §7.1; StoSignSGD Alg. 7 [P header, R body])::

        m ← β1 m + (1 − β1) g,   u ← max(β2 u, |g|),   x ← x − η·m/((1 − β1^t)(u + ε)) − ηλx

    with m₀ = u₀ = 0. Parts: ``EMA(("betas", 0), first="zero")``, geometry ``Euclidean()`` in the
    metric σ = (1 − β1^t)(u + ε).

    Differences from ``torch.optim.Adamax`` (tested): torch puts ε inside the running max,
    u_torch ← max(β2 u_torch, |g| + ε), and divides by u_torch; here σ = u + ε with ε outside. Both
    are max_k β2^{t−k}|g_k| when ε = 0; with ε > 0, max(u_t, ε) ≤ u_torch,t ≤ u_t + ε, with equality
    u_torch,t = u_t + ε (identical steps) at every step where the current gradient sets the running
    max (|g_t| ≥ β2 u_{t−1}), and a smaller torch denominator (by up to ε(1 − β2^{t−k})) where an
    earlier gradient g_k sets it. torch's ``weight_decay`` is the coupled L2 term g + λx; here it is
    decoupled (x ← x(1 − ηλ)).
    """

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0, **kw):
        super().__init__(params, lr, betas, eps, weight_decay, base="adamax", mode="original", **kw)


class IEStoSignSGD(GeneralOptimizer):
    r"""In-expectation StoSignSGD (StoSignSGD Alg. 10 [P header, R body]): x ← x − η m/G − ηλx,
    m ← β1 m + (1 − β1) g (m₁ = g₁), G ← max(β2 G, |m|), 0/0 := 0.

    The deterministic general optimizer whose sign conversion is :class:`StoSignSGD`; since
    |m| ≤ G always, its step equals the exact expectation of StoSignSGD's step. Parts:
    ``EMA(("betas", 0), first="g1")`` (none at β1 = 0), geometry ``Euclidean()`` in the metric G.

    Division: d = m/G computed by one ``torch._foreach_div``, then 0/0 = NaN set to 0 (G = 0
    implies m = 0; since |m| ≤ G no other NaN and no inf can occur), so d is exactly m/G wherever
    G > 0 (subnormal G included) and 0 where G = 0, with one temporary per block.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 1.0), weight_decay: float = 0.0, **kw):
        super().__init__(params, lr, betas, 0.0, weight_decay, base="ie_stosignsgd", mode="original", **kw)


class SignConverted(GeneralOptimizer):
    r"""The unbiased sign conversion of ``base`` (StoSignSGD App. B.3–B.5; Alg. 8 for AdamW [R],
    Alg. 9 for AdaMax [P]): x ← x − η sign(num + σ⊙n) − ηλx, n uniform on [−1, 1] (the 16-bit
    lattice of :class:`LatticeStochasticSign` by default, ``noise="uniform"`` for the continuous draw).

    ``mode="stochastic"`` (default) is the conversion; ``"expectation"`` its exact mean
    clip(num/σ, −1, 1); ``"deterministic_sign"`` the biased sign(num). The fraction of coordinates
    with |num| > σ is in ``group["violation_fraction"]`` (a 0-d tensor; module docstring).
    """

    def __init__(self, params, base: str = "adamw", mode: str = "stochastic", lr: float = 1e-3, betas=(0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, **kw):
        V.one_of("mode", mode, MODES[1:])
        super().__init__(params, lr, betas, eps, weight_decay, base=base, mode=mode, **kw)


class StoSignSGD(GeneralOptimizer):
    r"""StoSignSGD (Yu et al., arXiv 2604.15416): the unbiased structural stochastic sign.

    Practical form, Alg. 3 [S] (defaults)::

        m_t = β1 m_{t−1} + (1 − β1) g_t        (m_1 = g_1)
        G_t = max(β2 G_{t−1}, |m_t|)            (β2 = 1: running max; an optional decay, [SSG-Q3])
        x_{t+1} = x_t − η_t sign(m_t + G_t ⊙ n_t) − η_t λ x_t,   n_t uniform on [−1, 1]^d

    E[step] = η_t m_t/G_t (IE-StoSignSGD, Alg. 10); the update has RMS exactly 1 where G > 0.
    Geometry: ``StochasticSign`` with scales G, sampled at m. The noise is by default the 16-bit
    symmetric lattice of :class:`LatticeStochasticSign` (|E[step]/η − m/G| < 2^-15 per coordinate,
    proved there; four draws per 63-bit word, the cheap draw of issue 12), ``noise="uniform"`` the
    continuous U[−1, 1) of the paper.

    Theory form, Alg. 1 [R] (``StoSignSGD.theory``, or ``envelope="gradient"``): β1 = 0,
    G_t = max(G_{t−1}, |g_t|), projection onto a box, anytime step η_t = D∞/√(2t), the continuous
    noise; Theorem 4 [P]:
    E f(x̄_T) − f* ≤ √2·D∞‖L‖₁/√T.

    Args:
        lr, betas=(β1, β2), weight_decay: as above (β2 ∈ [0, 1]).
        mode: ``"stochastic"`` (default), ``"expectation"`` (= IE-StoSignSGD), ``"deterministic_sign"``.
        envelope: ``"momentum"`` (Alg. 3) or ``"gradient"`` (Alg. 1).
        noise: ``"lattice16"`` (default with the momentum envelope) or ``"uniform"`` (default with
            the gradient envelope); see :class:`GeneralOptimizer`.
        seed: the noise generator's seed (its state is saved in ``state_dict``; identical on every rank).

    >>> import torch
    >>> w = torch.nn.Parameter(torch.zeros(3))
    >>> opt = StoSignSGD([w], lr=0.1, seed=0)
    >>> w.grad = torch.tensor([1.0, -2.0, 0.0]); _ = opt.step()
    >>> w.detach().abs().tolist()  # the first step has |m| = G, so it is sign(g); sign(0) = 0
    [0.10000000149011612, 0.10000000149011612, 0.0]
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 1.0), weight_decay: float = 0.0,
                 mode: str = "stochastic", envelope: str = "momentum", **kw):
        V.one_of("mode", mode, MODES[1:])
        super().__init__(params, lr, betas, 0.0, weight_decay, base="ie_stosignsgd", mode=mode, envelope=envelope, **kw)

    @classmethod
    def theory(cls, params, diameter: float, box=None, mode: str = "stochastic", noise: str | None = None,
               **kw) -> "StoSignSGD":
        """Alg. 1: no momentum, envelope from |g|, anytime step D∞/√(2t), optional box projection,
        the continuous noise n ~ U[−1, 1) (the default for the gradient envelope;
        ``noise="lattice16"`` for the cheap draw)."""
        return cls(params, lr=0.0, betas=(0.0, 1.0), mode=mode, envelope="gradient", anytime_diameter=diameter,
                   box=box, noise=noise, **kw)
