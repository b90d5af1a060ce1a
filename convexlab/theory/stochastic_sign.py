r"""Monte-Carlo checks of the structural stochastic sign (StoSignSGD, arXiv 2604.15416, [SSG-P1]).

Proposition 1 [S/R]: for n ~ U[−1, 1] and G > 0, E[sign(x + G n)] = clip(x/G, −1, 1), so the sign
is unbiased for x/G when |x| ≤ G, with variance 1 − (x/G)²; it saturates (and is biased) where
|x| > G. Derivation by integration: ``proofs_checks.stochastic_sign``.

The subject (kind ``"stochastic_sign"`` of :mod:`convexlab.theory.mutants`) is an optimizer whose
step samples the stochastic sign, exercised through two steps with lr = 1 on a parameter of
shape (n, J) — n independent draws for each of J grid points, G_j ~ U[0.5, 2]:

1. g₁ = G (every row): a running-max envelope becomes G;
2. g₂ = r⊙G: the step is x₁ − x₂ = lr·S with S the sampled sign at the ratio r (read back exactly:
   the values are ±1 in float64).

* ``stochastic_sign.expectation``: z-scores of the sample mean of S against clip(r) on r ∈ [−1, 1]
  (21 points), stderr from the variance 1 − r² of the claim (where it is 0, the sign is
  deterministic and any deviation is infinitely significant).
* ``stochastic_sign.variance``: its own statistic, on independent draws: the pairwise estimator
  Ȳ = mean over disjoint pairs of (S_a − S_b)²/2, unbiased for Var S and blind to the mean
  (a shifted sign has the same Ȳ), against 1 − r². Under the claim Y ∈ {0, 2} with
  P(Y = 2) = (1 − r²)/2, so Ȳ is a normalized Bernoulli mean at every r, r = 0 included (where
  the plain sample variance 1 − m̂² is χ²-distributed, not normal).
* ``stochastic_sign.saturation_bias``: a two-sided test of |E S − r| = |r| − 1 on
  |r| ∈ [1.05, 1.5] (20 points), z from the sample stderr. The registry optimizer cannot be judged
  here: its envelope is a running max of |g|, so g₂ with |g₂| > G raises the envelope to |g₂|
  and the step is sign(g₂) for a trivial reason (the ratio it sees is ±1). The default subject is
  therefore the geometry's sampler ``StochasticSign(G).sample`` with the fixed envelope
  ``problem.envelope`` as an optimizer step (:class:`FixedEnvelopeSign`).

Critical values are Bonferroni-corrected over the grid at family-wise level 1e-3.
"""

from __future__ import annotations

import torch
from scipy.stats import norm

from convexlab.geometry import StochasticSign
from convexlab.optim import StoSignSGD
from convexlab.theory import mutants
from convexlab.theory.registry import Check, CheckContext, CheckResult, Instance, register, zscore_result

SOURCE = "StoSignSGD (arXiv 2604.15416) Def. 1 / Prop. 1 [SSG-DEF1, SSG-P1]"
KIND = "stochastic_sign"
DT = torch.float64
FAMILY_ALPHA = 1e-3
#: the grids of ratios r = x/G: inside [−1, 1] (expectation, variance) and saturated (|r| > 1)
R_INSIDE = torch.linspace(-1.0, 1.0, 21, dtype=DT)
R_SATURATED = torch.cat([-torch.linspace(1.5, 1.05, 10, dtype=DT), torch.linspace(1.05, 1.5, 10, dtype=DT)])
LR = 1.0


def stosign_step(params, problem) -> StoSignSGD:
    r"""StoSignSGD's Alg. 1 without box or decay at the constant step ``problem.lr``: no momentum,
    envelope G = running max of |g|, step x ← x − lr·sign(g + G⊙n) (the default subject of the
    expectation and variance checks)."""
    return StoSignSGD(params, lr=problem.lr, betas=(0.0, 1.0), envelope="gradient", seed=problem.seed)


class FixedEnvelopeSign(torch.optim.Optimizer):
    r"""The geometry's sampler as an optimizer step: x ← x − lr·S, S = ``StochasticSign(envelope)
    .sample(g)`` = sign(g + G⊙n), n ~ U[−1, 1], with a fixed envelope G (broadcast against each
    parameter). The estimator subject of ``stochastic_sign.saturation_bias``."""

    coordinatewise = True

    def __init__(self, params, envelope, lr: float = 1.0, seed: int = 0, noise_scale: float = 1.0):
        super().__init__(params, {"lr": float(lr)})
        self.geometry = StochasticSign(envelope, noise_scale=noise_scale)
        self.gen = torch.Generator().manual_seed(int(seed))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.sub_(self.geometry.sample(p.grad, generator=self.gen), alpha=group["lr"])
        return loss


def fixed_envelope_sign(params, problem) -> FixedEnvelopeSign:
    r""":class:`FixedEnvelopeSign` with ``problem.envelope``, ``problem.lr`` and ``problem.seed``."""
    return FixedEnvelopeSign(params, problem.envelope, lr=problem.lr, seed=problem.seed)


def grid_envelope(ctx: CheckContext, J: int) -> torch.Tensor:
    """G_j ~ U[0.5, 2] for the J grid points (seeded by the context)."""
    return 0.5 + 1.5 * torch.rand(J, generator=ctx.generator(21), dtype=DT)


def sampled_signs(make, ctx: CheckContext, r: torch.Tensor, n: int, salt: int) -> torch.Tensor:
    r"""n draws of S at each ratio r_j (shape (n, J)) from the subject ``make``, by the two-step
    protocol of the module docstring.

    Raises:
        ValueError: ``make`` does not build a torch optimizer from ``(params, problem)``.
    """
    J = r.numel()
    G = grid_envelope(ctx, J)
    problem = Instance(None, seed=ctx.seed * 1_000_003 + salt, lr=LR, envelope=G)
    x = torch.nn.Parameter(torch.zeros(n, J, dtype=DT))
    try:
        opt = make([x], problem)
    except Exception as exc:
        raise ValueError(f"a {KIND!r} subject must be a factory (params, problem) -> torch.optim.Optimizer whose step "
                         f"samples the stochastic sign; {make!r} failed on it: {type(exc).__name__}: {exc}") from exc
    if not isinstance(opt, torch.optim.Optimizer):
        raise ValueError(f"a {KIND!r} subject must return a torch.optim.Optimizer, got {type(opt).__name__}")
    x.grad = G.expand(n, J).clone()
    opt.step()
    x1 = x.detach().clone()
    x.grad = (r * G).expand(n, J).clone()
    opt.step()
    return (x1 - x.detach()) / LR


def _z_crit(k: int) -> float:
    return float(norm.isf(FAMILY_ALPHA / (2 * k)))


def _z(diff: torch.Tensor, se: torch.Tensor) -> torch.Tensor:
    # where the null variance is 0 the statistic is deterministic: any deviation is infinitely significant
    return torch.where(se > 0, diff.abs() / se.clamp_min(1e-300), torch.where(diff.abs() > 0, torch.inf, 0.0))


def expectation(ctx: CheckContext) -> CheckResult:
    r"""max_r |mean − clip(r)| / stderr on r ∈ [−1, 1], stderr from the claim's variance 1 − r²."""
    make = ctx.subject_or(stosign_step)
    n = ctx.size(20_000, 400_000)
    r = R_INSIDE
    s = sampled_signs(make, ctx, r, n, salt=22)
    diff = s.mean(0) - r
    z = _z(diff, ((1 - r**2) / n).sqrt())
    i = int(z.argmax())
    return zscore_result(z.max().item(), _z_crit(len(r)), samples_per_point=n, grid=len(r),
                         max_abs_deviation=diff.abs().max().item(), worst_ratio=r[i].item(),
                         worst_mean=s.mean(0)[i].item())


def variance(ctx: CheckContext) -> CheckResult:
    r"""max_r |Ȳ − (1 − r²)| / stderr with Ȳ the pairwise variance estimator (module docstring) on
    independent draws, stderr from the claim: Var Y = 4q(1 − q), q = (1 − r²)/2."""
    make = ctx.subject_or(stosign_step)
    n = ctx.size(20_000, 400_000)
    r = R_INSIDE
    s = sampled_signs(make, ctx, r, 2 * n, salt=23)
    y = (s[0::2] - s[1::2]).square() / 2  # n disjoint pairs
    target = 1 - r**2
    q = target / 2
    diff = y.mean(0) - target
    z = _z(diff, (4 * q * (1 - q) / n).sqrt())
    i = int(z.argmax())
    return zscore_result(z.max().item(), _z_crit(len(r)), pairs_per_point=n, grid=len(r),
                         max_variance_error=diff.abs().max().item(), worst_ratio=r[i].item(),
                         worst_variance=y.mean(0)[i].item(), second_moment_range=(s.square().mean(0).min().item(),
                                                                                   s.square().mean(0).max().item()))


def saturation_bias(ctx: CheckContext) -> CheckResult:
    r"""Two-sided: max over |r| ∈ [1.05, 1.5] of ||mean − r| − (|r| − 1)| / stderr (sample stderr;
    0 for a deterministic sign, so that any deviation is infinitely significant)."""
    make = ctx.subject_or(fixed_envelope_sign)
    n = ctx.size(20_000, 400_000)
    r = R_SATURATED
    s = sampled_signs(make, ctx, r, n, salt=24)
    m = s.mean(0)
    bias = (m - r).abs()
    diff = bias - (r.abs() - 1)
    z = _z(diff, s.std(0) / n**0.5)
    i = int(z.argmax())
    return zscore_result(z.max().item(), _z_crit(len(r)), samples_per_point=n, grid=len(r),
                         smallest_bias=bias.min().item(), max_abs_deviation=diff.abs().max().item(),
                         worst_ratio=r[i].item(), worst_mean=m[i].item())


# ---- the panel for this kind: broken samplers as optimizer steps ------------------------------
def _stosign(problem, k: float = 1.0, mode: str = "stochastic", cls=StoSignSGD):
    return lambda params: cls(params, lr=k * problem.lr, betas=(0.0, 1.0), envelope="gradient", mode=mode,
                              seed=problem.seed)


def signsgd_step(params, problem) -> StoSignSGD:
    """The deterministic sign(g) in place of the stochastic sign (panel member ``signsgd``)."""
    return _stosign(problem, mode="deterministic_sign")(params)


def biased_noise_step(params, problem) -> StoSignSGD:
    """sign(g + G⊙n) with n ~ U[−1/2, 1/2] (panel member ``biased_noise``): mean clip(2r)."""
    return _stosign(problem, cls=mutants.biased_noise_class())(params)


def zero_step(params, problem) -> mutants.FrozenOptimizer:
    """The estimator that always returns 0, as a step x ← x − lr·0 (panel member ``zero_estimator``)."""
    return mutants.FrozenOptimizer(params)


mutants.provide("signsgd", KIND, signsgd_step)
mutants.provide("biased_noise", KIND, biased_noise_step)
mutants.provide("zero_estimator", KIND, zero_step)
mutants.provide_step(KIND, lambda k: (lambda params, problem: _stosign(problem, k=k)(params)))

_ALL = ("frozen", "signsgd", "biased_noise", "zero_estimator", "step_x2", "step_x5", "step_x10")
_SATURATED_SAME = ("for |r| > 1 this sampler also returns sign(r) (E S = ±1): it agrees with the stochastic sign "
                   "wherever the sign saturates, and the other two checks catch it")
register(Check(
    "stochastic_sign.expectation", SOURCE, "R", "zscore",
    "E[sign(x + G n)] = clip(x/G, −1, 1) on x/G ∈ [−1, 1], sampled through StoSignSGD's step (Monte Carlo z-scores)",
    expectation, subject=KIND, default_subject=stosign_step, catches=_ALL, step_sensitive=True,
))
register(Check(
    "stochastic_sign.variance", SOURCE, "R", "zscore",
    "Var[sign(x + G n)] = 1 − (x/G)² on x/G ∈ [−1, 1], sampled through StoSignSGD's step (pairwise variance "
    "estimator on independent draws, Monte Carlo z-scores)",
    variance, subject=KIND, default_subject=stosign_step, catches=_ALL, step_sensitive=True,
))
register(Check(
    "stochastic_sign.saturation_bias", SOURCE, "R", "zscore",
    "|x| > G: |E sign(x + G n) − x/G| = |x/G| − 1 (two-sided, |x/G| ∈ [1.05, 1.5]) on the geometry's sampler "
    "with a fixed G (StoSignSGD's running-max envelope never lets |g| exceed G)",
    saturation_bias, subject=KIND, default_subject=fixed_envelope_sign,
    catches=("frozen", "zero_estimator", "step_x2", "step_x5", "step_x10"), step_sensitive=True,
    blind={"signsgd": _SATURATED_SAME, "biased_noise": _SATURATED_SAME},
))
