r"""The "general optimizer" x ← x − η·num/σ − ηλx and its unbiased sign conversion (StoSignSGD).

StoSignSGD (Yu, Pan, Liu, Zhang; arXiv 2604.15416) App. B.3–B.5 [P for the principle]: many
adaptive optimizers take the step num_t/σ_t with a first-moment-like numerator and a positive
scale; the *sign conversion* replaces it by the stochastic sign

    x_{t+1} = x_t − η_t·sign(num_t + σ_t ⊙ n_t) − η_t λ x_t,   n_t ~ U[−1, 1]^d,

whose expectation is clip(num_t/σ_t, −1, 1) (Proposition 1): the original step wherever
σ_t ≥ |num_t|. In geometry terms the converted step samples ``StochasticSign(σ)`` at num.

``base`` picks (num, σ):

=================  =============================================  ==============================
base               num                                            σ
=================  =============================================  ==============================
``"adamw"``        m̂ = m/(1 − β1^t), m ← β1 m + (1 − β1) g        √v̂ + ε, v̂ = v/(1 − β2^t) (Alg. 6)
``"adamax"``       m̂                                              u + ε, u ← max(β2 u, |g|) (Alg. 7)
``"ie_stosignsgd"`` m, m ← β1 m + (1 − β1) g, m₁ = g₁               G ← max(β2 G, |m|) (Alg. 10)
=================  =============================================  ==============================

``mode`` picks the direction:

* ``"original"``: num/σ (the general optimizer itself: AdamW, AdaMax, IE-StoSignSGD; 0/0 := 0);
* ``"stochastic"``: sign(num + σ⊙n) (Algs. 8, 9 and StoSignSGD, Alg. 3);
* ``"expectation"``: clip(num/σ, −1, 1), the exact mean of the stochastic step;
* ``"deterministic_sign"``: sign(num) (signSGD-like, the biased 1-bit step).

The fraction of coordinates with |num| > σ (where the conversion is biased) is recorded after
every step in ``group["violation_fraction"]`` (spec §2.4: log, do not clamp).
"""

from __future__ import annotations

import torch

from convexlab.geometry.stochastic_sign import stochastic_sign_mean, stochastic_sign_sample
from convexlab.optim.base import ComposedOptimizer, check_betas, check_choice, check_nonneg, check_positive, ema_

BASES = ("adamw", "adamax", "ie_stosignsgd")
MODES = ("original", "stochastic", "expectation", "deterministic_sign")
ENVELOPES = ("momentum", "gradient")


def _safe_div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num/den with 0/0 := 0 (a zero envelope only occurs with a zero numerator)."""
    pos = den > 0
    return torch.where(pos, num / torch.where(pos, den, torch.ones_like(den)), torch.zeros_like(num))


class GeneralOptimizer(ComposedOptimizer):
    r"""x ← x − η·direction(num, σ) − ηλx for the (num, σ) of ``base`` and the direction of ``mode``
    (module docstring). The named classes below fix ``base`` and ``mode``.

    Args:
        params: parameters or param groups.
        lr: η ≥ 0. Ignored when ``anytime_diameter`` is set.
        betas: (β1, β2); β1 ∈ [0, 1), β2 ∈ [0, 1) for Adam/AdaMax and (0, 1] for the envelope.
        eps: ε ≥ 0 added to σ (Adam, AdaMax; unused by the envelope bases).
        weight_decay: λ ≥ 0, decoupled, applied as x ← x(1 − ηλ) at the current iterate.
        base: ``"adamw" | "adamax" | "ie_stosignsgd"``.
        mode: ``"original" | "stochastic" | "expectation" | "deterministic_sign"``.
        first_moment: ``"g1"`` (m₁ = g₁, Alg. 5/10) or ``"zero"`` (m₀ = 0, Adam's convention).
        envelope: ``"momentum"`` (G tracks |m|, Alg. 3) or ``"gradient"`` (G tracks |g|, the theory
            form Alg. 1; only for ``"ie_stosignsgd"``).
        anytime_diameter: D∞ > 0 switches to the anytime step η_t = D∞/√(2t) of Theorem 4 (t the
            per-parameter step count); ``None`` uses ``lr``.
        nonfinite, seed, box: see :class:`ComposedOptimizer`.
    """

    coordinatewise = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 *, base: str = "adamw", mode: str = "original", first_moment: str | None = None,
                 envelope: str = "momentum", anytime_diameter: float | None = None, **kwargs):
        check_choice(base, "base", BASES)
        check_choice(mode, "mode", MODES)
        check_choice(envelope, "envelope", ENVELOPES)
        if envelope == "gradient" and base != "ie_stosignsgd":
            raise ValueError(f"envelope='gradient' is defined for base='ie_stosignsgd' only, got base={base!r}")
        if first_moment is None:
            first_moment = "g1" if base == "ie_stosignsgd" else "zero"
        check_choice(first_moment, "first_moment", ("g1", "zero"))
        check_betas(betas, "betas", allow_one=(False, base == "ie_stosignsgd"))
        check_nonneg(eps, "eps")
        if anytime_diameter is not None:
            check_positive(anytime_diameter, "anytime_diameter")
        self.base, self.mode, self.first_moment, self.envelope = base, mode, first_moment, envelope
        self.anytime_diameter = anytime_diameter
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults, **kwargs)

    def _validate_group(self, group):
        super()._validate_group(group)
        check_betas(group["betas"], "betas", allow_one=(False, self.base == "ie_stosignsgd"))
        check_nonneg(group["eps"], "eps")

    def _lr(self, p, state, group):
        if self.anytime_diameter is not None:
            return self.anytime_diameter / (2.0 * state["step"]) ** 0.5
        return group["lr"]

    def _init_state(self, p, state, group):
        state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        key = {"adamw": "exp_avg_sq", "adamax": "exp_inf", "ie_stosignsgd": "envelope"}[self.base]
        state[key] = torch.zeros_like(p, memory_format=torch.preserve_format)

    def _moments(self, g, state, group):
        """Update the state from g and return (num, σ)."""
        beta1, beta2 = group["betas"]
        t = state["step"]
        m = state["exp_avg"]
        if t == 1 and self.first_moment == "g1":
            m.copy_(g)
        else:
            ema_(m, g, beta1)
        if self.base == "ie_stosignsgd":
            G = state["envelope"]
            src = m if self.envelope == "momentum" else g
            torch.maximum(G.mul_(beta2), src.abs(), out=G)
            return m, G
        num = m if self.first_moment == "g1" else m / (1.0 - beta1**t)
        if self.base == "adamw":
            v = state["exp_avg_sq"]
            v.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
            den = (v / (1.0 - beta2**t)).sqrt_().add_(group["eps"])
        else:
            u = state["exp_inf"]
            torch.maximum(u.mul_(beta2), g.abs(), out=u)
            den = u + group["eps"]
        return num, den

    def _direction(self, p, g, state, group):
        num, den = self._moments(g, state, group)
        group["_coordinates"] = group.get("_coordinates", 0) + num.numel()
        if not self._violation_free(group):
            # a tensor, so that no device sync happens per parameter
            group["_violations"] = group.get("_violations", 0) + (num.abs() > den).sum()
        if self.mode == "original":
            return _safe_div(num, den) if (self.base == "ie_stosignsgd" or group["eps"] == 0) else num / den
        if self.mode == "stochastic":
            return stochastic_sign_sample(num, den, self.generator(num.device))
        if self.mode == "expectation":
            return stochastic_sign_mean(num, den)
        return torch.sign(num)

    def _violation_free(self, group) -> bool:
        """|num| ≤ σ holds by construction: the envelope is a running max of |m| itself (or of
        |g| = |m| when β1 = 0)."""
        return self.base == "ie_stosignsgd" and (self.envelope == "momentum" or group["betas"][0] == 0.0)

    def _after_group(self, group):
        super()._after_group(group)
        n = group.pop("_coordinates", 0)
        v = group.pop("_violations", 0)
        if n:
            group["violation_fraction"] = float(v) / n


class AdamW(GeneralOptimizer):
    r"""AdamW (Loshchilov & Hutter 2019; StoSignSGD Alg. 6 [P]): x ← x − η m̂/(√v̂ + ε) − ηλx.

    The general optimizer with base ``"adamw"``, mode ``"original"``; the building block of
    :class:`SFAdamW`. Geometry: Euclidean in the diagonal metric √v̂ + ε.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2, **kw):
        super().__init__(params, lr, betas, eps, weight_decay, base="adamw", mode="original", **kw)


class AdaMax(GeneralOptimizer):
    r"""AdaMax with decoupled decay (StoSignSGD Alg. 7 [P header, R body]): x ← x − η m̂/(u + ε) − ηλx,
    u ← max(β2 u, |g|)."""

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0, **kw):
        super().__init__(params, lr, betas, eps, weight_decay, base="adamax", mode="original", **kw)


class IEStoSignSGD(GeneralOptimizer):
    r"""In-expectation StoSignSGD (StoSignSGD Alg. 10 [P header, R body]): x ← x − η m/G − ηλx,
    m ← β1 m + (1 − β1) g (m₁ = g₁), G ← max(β2 G, |m|), 0/0 := 0.

    The deterministic general optimizer whose sign conversion is :class:`StoSignSGD`; since
    |m| ≤ G always, its step equals the exact expectation of StoSignSGD's step.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 1.0), weight_decay: float = 0.0, **kw):
        super().__init__(params, lr, betas, 0.0, weight_decay, base="ie_stosignsgd", mode="original", **kw)


class SignConverted(GeneralOptimizer):
    r"""The unbiased sign conversion of ``base`` (StoSignSGD App. B.3–B.5; Alg. 8 for AdamW [R],
    Alg. 9 for AdaMax [P]): x ← x − η sign(num + σ⊙n) − ηλx, n ~ U[−1, 1].

    ``mode="stochastic"`` (default) is the conversion; ``"expectation"`` its exact mean
    clip(num/σ, −1, 1); ``"deterministic_sign"`` the biased sign(num). The fraction of coordinates
    with |num| > σ is in ``group["violation_fraction"]``.
    """

    def __init__(self, params, base: str = "adamw", mode: str = "stochastic", lr: float = 1e-3, betas=(0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, **kw):
        check_choice(mode, "mode", MODES[1:])
        super().__init__(params, lr, betas, eps, weight_decay, base=base, mode=mode, **kw)


class StoSignSGD(GeneralOptimizer):
    r"""StoSignSGD (Yu et al., arXiv 2604.15416): the unbiased structural stochastic sign.

    Practical form, Alg. 3 [S] (defaults)::

        m_t = β1 m_{t−1} + (1 − β1) g_t        (m_1 = g_1)
        G_t = max(β2 G_{t−1}, |m_t|)            (β2 = 1: running max; an optional decay, spec Q3)
        x_{t+1} = x_t − η_t sign(m_t + G_t ⊙ n_t) − η_t λ x_t,   n_t ~ U[−1, 1]^d

    E[step] = η_t m_t/G_t (IE-StoSignSGD, Alg. 10); the update has RMS exactly 1 where G > 0.
    Geometry: ``StochasticSign(G)`` sampled at m.

    Theory form, Alg. 1 [R] (``StoSignSGD.theory``): β1 = 0, G_t = max(G_{t−1}, |g_t|), projection
    onto a box, anytime step η_t = D∞/√(2t); Theorem 4 [P]: E f(x̄_T) − f* ≤ √2·D∞‖L‖₁/√T.

    Args:
        lr, betas=(β1, β2), weight_decay: as above (β2 ∈ (0, 1]).
        mode: ``"stochastic"`` (default), ``"expectation"`` (= IE-StoSignSGD), ``"deterministic_sign"``.
        envelope: ``"momentum"`` (Alg. 3) or ``"gradient"`` (Alg. 1).
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
        check_choice(mode, "mode", MODES[1:])
        super().__init__(params, lr, betas, 0.0, weight_decay, base="ie_stosignsgd", mode=mode, envelope=envelope, **kw)

    @classmethod
    def theory(cls, params, diameter: float, box=None, mode: str = "stochastic", **kw) -> "StoSignSGD":
        """Alg. 1: no momentum, envelope from |g|, anytime step D∞/√(2t), optional box projection."""
        return cls(params, lr=0.0, betas=(0.0, 1.0), mode=mode, envelope="gradient", anytime_diameter=diameter,
                   box=box, **kw)
