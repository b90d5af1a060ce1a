r"""The standard panel of broken algorithms that the theorem checks must tell from the real one.

A check is evidence that an *algorithm* satisfies a *theorem* only if it fails on algorithms that
do not. Every check that judges an algorithm (``Check.subject`` is a key of
:data:`SUBJECT_KINDS`) runs it through one argument, ``subject``: a factory
``(params, problem) -> torch.optim.Optimizer``. This module holds the panel of broken subjects
(:data:`PANEL`): each :class:`Mutant` says in its docstring what it breaks and builds, for a
check, the broken factory to pass as ``subject``. A check declares which members must flip it
(``Check.catches``) and, for the other applicable members, one line saying why the statement
cannot see them (``Check.blind``). ``convexlab check --power`` (:mod:`convexlab.theory.power`)
runs the panel and prints the detection matrix.

How a member is built for a check:

* members that transform the check's own subject (the last iterate reported, a biased oracle)
  wrap ``Check.default_subject``;
* members that are another algorithm of the same kind (signSGD for StoSignSGD, the step
  constant × k, no projection, decay at the wrong iterate, momentum dropped, the inverted
  temperature) are provided per subject kind by the check modules through :func:`provide` and
  :func:`provide_step`;
* a member with no builder for a check's kind is *not applicable* to it.

The output point: a factory may mark its optimizer with ``output_point = "last"`` to report its
last iterate as its output; checks of statements about the averaged iterate x̄_T then judge the
last iterate (the simulator records the mark in ``SimResult.meta["output_point"]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

#: subject kind → what its ``problem`` carries (the constants a factory may read)
SUBJECT_KINDS: dict[str, str] = {
    "stosignsgd": "a learner of the form of StoSignSGD's Alg. 1 on a box: problem.D_inf, problem.box = (low, high), "
                  "problem.L (the oracle's almost-sure coordinate bound, oracle_L, which may exceed the subgradient "
                  "bound), problem.seed, problem.horizon (always set); problem.step is 'anytime' "
                  "(η_t = D∞/√(2t)) or 'constant' (η = D∞/√T with T = problem.horizon); problem.problem is the "
                  "underlying Problem",
    "online": "an online learner (Theorem 1): the game is the problem: problem.D_inf, problem.box, problem.L, "
              "problem.seed, problem.horizon",
    "o2nc_inner": "the inner online learner of O2NC (Alg. 12): a learner of Δ on the box problem.box = [−D, D]^d "
                  "with problem.D_inf = 2D, problem.L (the oracle's coordinate bound, None if unbounded), "
                  "problem.seed, problem.step = 'anytime' (η_n = D_inf/√(2n)); built once, it is restarted every "
                  "problem.horizon = N steps (the driver sets Δ = 0 and clears its state; its generator runs on). "
                  "Its plays must stay in the box: a play outside it fails every O2NC check",
    "softsign": "a SoftSignum-type optimizer at a fixed temperature, θ ← θ − δ∇V*(τm): problem.lr (δ), problem.tau "
                "(τ; None: SoftSignum's official schedule with problem.sign_iters, problem.transition_iters; "
                "math.inf: the LMO limit, Signum or Muon with the exact polar factor), "
                "problem.beta (momentum, 0 = none) in problem.momentum_form ('ema': m = βm + (1−β)g, or 'sgd': "
                "b = βb + g; both start at g₀; 'ema0': the EMA from m = 0, SoftMuon's and Muon's buffer), "
                "problem.kind (V: 'tanh' | 'algebraic' | 'euclidean' | 'spectral', the last the spectral lift of "
                "the algebraic V, SoftMuon at fixed τ, on wide or square matrices), "
                "problem.horizon (steps), problem.seed; plus the problem's own attributes where there is one",
    "sf_normuon": "a schedule-free spectral optimizer (SF-NorMuon's Alg. 1): problem.lr (η), problem.weight_decay "
                  "(λ), problem.decay_at ('z' | 'x' | 'y': where the statement puts the decay), problem.sf_beta (β), "
                  "problem.momentum (μ), problem.betas = (β, μ), problem.beta2, problem.warmup_steps, "
                  "problem.row_norm, problem.polar, problem.ns_dtype, problem.seed; it needs step() and, if it "
                  "averages, evaluating() (x in the parameters): the checks read z = (y − βx)/(1 − β) from outside",
    "sign_conversion": "a sign-converted optimizer (App. B.3–B.5) with lr = 1: problem.base ('adamw' | 'adamax'), "
                       "problem.betas, problem.seed; its step is sign(num + σ⊙n), whose mean must be the original "
                       "optimizer's step num/σ",
    "stochastic_sign": "an optimizer whose step, with lr = problem.lr (= 1), samples the stochastic sign: the check "
                       "builds it on a zero parameter of shape (n, J), feeds g₁ = G (problem.envelope, J entries) "
                       "and then g₂ = r⊙G, and reads S = (x₁ − x₂)/lr; problem.seed. The default is StoSignSGD's "
                       "Alg. 1 without box or decay (no momentum, envelope = running max of |g|, so g₁ sets it to "
                       "G); for saturation_bias (|r| > 1), which a running-max envelope cannot reach, the default "
                       "is the geometry's sampler StochasticSign(problem.envelope) as a step",
}


class FrozenOptimizer(torch.optim.Optimizer):
    """The frozen optimizer: never moves (every step leaves the parameters as they are)."""

    coordinatewise = True

    def __init__(self, params):
        super().__init__(params, {"lr": 0.0})

    @torch.no_grad()
    def step(self, closure=None):
        return None if closure is None else closure()


def frozen(params, problem) -> FrozenOptimizer:
    """Factory of :class:`FrozenOptimizer` (ignores ``problem``)."""
    return FrozenOptimizer(params)


def report_last_iterate(factory: Callable) -> Callable:
    """``factory`` whose optimizer reports its last iterate as its output (``output_point = "last"``)."""

    def make(params, problem):
        opt = factory(params, problem)
        opt.output_point = "last"
        return opt

    return make


def oracle_bias(problem) -> torch.Tensor | float:
    """The bias of :data:`PANEL` ``biased_oracle``: + L_i/2 per coordinate (``problem.L``), or 0.5
    where the problem has no coordinate bounds."""
    L = getattr(problem, "L", None)
    return 0.5 if L is None else 0.5 * torch.as_tensor(L)


def biased_gradients(factory: Callable, bias: Callable = oracle_bias) -> Callable:
    """``factory`` whose optimizer sees g + b instead of the oracle's g (a step pre-hook adds
    ``b = bias(problem)``, broadcast over the leading seed dimension)."""

    def make(params, problem):
        opt = factory(params, problem)
        b = bias(problem)

        def pre_hook(optimizer, args, kwargs):
            for group in optimizer.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.grad.add_(torch.as_tensor(b, dtype=p.grad.dtype, device=p.grad.device))

        opt.register_step_pre_hook(pre_hook)
        return opt

    return make


@dataclass
class Mutant:
    """One broken algorithm of the panel.

    Attributes:
        name: its key in :data:`PANEL` (a column of the detection matrix).
        breaks: what it breaks, in one sentence.
        generic: builds the broken factory from the check's default factory, for every kind
            (``None``: the member is another algorithm, provided per kind).
        kinds: the subject kinds ``generic`` applies to (empty: all).
    """

    name: str
    breaks: str
    generic: Callable[[Callable], Callable] | None = None
    kinds: tuple[str, ...] = ()
    providers: dict[str, Callable] = field(default_factory=dict)
    #: generic factories already built, per default factory: the same broken factory object for
    #: every check that shares a default subject (checks may share one run per factory)
    _built: dict = field(default_factory=dict, repr=False)

    def factory_for(self, check) -> Callable | None:
        """The broken factory to pass as ``subject`` to ``check``, or None (not applicable)."""
        kind = check.subject
        if kind is None:
            return None
        if kind in self.providers:
            return self.providers[kind]
        if self.generic is not None and (not self.kinds or kind in self.kinds):
            default = getattr(check, "default_subject", None)
            if default is None:
                return None
            key = (kind, id(default))
            if key not in self._built:
                self._built[key] = (default, self.generic(default))
            return self._built[key][1]
        return None


PANEL: dict[str, Mutant] = {}


def _add(m: Mutant) -> Mutant:
    PANEL[m.name] = m
    return m


_add(Mutant("frozen", "never moves: every step leaves the parameters where they started",
            generic=lambda default: frozen))
_add(Mutant("signsgd", "the deterministic sign in place of the unbiased stochastic sign (noise removed; "
                       "box, step and envelope kept): signSGD"))
STEP_FACTORS = (2, 5, 10)
for _k in STEP_FACTORS:
    _add(Mutant(f"step_x{_k}", f"the step constant multiplied by {_k} (same decay in t)"))
_add(Mutant("last_iterate", "reports the last iterate x_T where the statement is about the average x̄_T",
            generic=report_last_iterate, kinds=("stosignsgd",)))
_add(Mutant("biased_noise", "structural noise n ~ U[−a, a] with a = 0.5 instead of U[−1, 1]: "
                            "E sign(m + aG⊙n) ≠ m/G wherever |m| > aG"))
_add(Mutant("biased_oracle", "steps on g + b, b_i = L_i/2, instead of the oracle's unbiased g",
            generic=biased_gradients, kinds=("stosignsgd", "online", "o2nc_inner", "softsign")))
_add(Mutant("unprojected", "no projection onto the box (iterates may leave the domain the theorem assumes)"))
_add(Mutant("decay_wrong_iterate", "weight decay applied at the slow iterate x instead of the fast iterate z"))
_add(Mutant("no_momentum", "the momentum dropped (β = 0) where the statement is about a momentum method"))
_add(Mutant("inverted_temperature", "the temperature convention inverted: tanh(m/τ) instead of tanh(τm)"))
_add(Mutant("zero_estimator", "an estimator that always returns 0 (any output in [−1, 1] passes a one-sided "
                              "range test)"))


def provide(name: str, kind: str, factory: Callable) -> Callable:
    """Register ``factory`` as panel member ``name`` for checks of subject ``kind``."""
    if name not in PANEL:
        raise ValueError(f"name must be a panel member {sorted(PANEL)}, got {name!r}")
    if kind not in SUBJECT_KINDS:
        raise ValueError(f"kind must be one of {sorted(SUBJECT_KINDS)}, got {kind!r}")
    PANEL[name].providers[kind] = factory
    return factory


#: subject kind → k ↦ factory with the step constant × k (for step_x2/5/10 and --power's scan)
STEP_SCALED: dict[str, Callable[[float], Callable]] = {}


def provide_step(kind: str, scaled: Callable[[float], Callable]) -> None:
    """Register ``scaled(k)`` → factory with the step constant × k for subject ``kind``; fills in
    the ``step_x2/5/10`` members."""
    if kind not in SUBJECT_KINDS:
        raise ValueError(f"kind must be one of {sorted(SUBJECT_KINDS)}, got {kind!r}")
    STEP_SCALED[kind] = scaled
    for k in STEP_FACTORS:
        PANEL[f"step_x{k}"].providers[kind] = scaled(k)


def step_scaled(check, k: float) -> Callable | None:
    """The factory of ``check``'s kind with the step constant × ``k``, or None if none is provided."""
    f = STEP_SCALED.get(check.subject)
    return None if f is None else f(k)


def applicable(check) -> dict[str, Callable]:
    """Panel member → broken factory for every member applicable to ``check`` (members in
    ``check.same_as_default``, which coincide with the statement's algorithm, are excluded)."""
    out = {}
    same = getattr(check, "same_as_default", {}) or {}
    for name, m in PANEL.items():
        if name in same:
            continue  # the statement's own algorithm on this instance
        f = m.factory_for(check)
        if f is not None:
            out[name] = f
    return out


# ---------------------------------------------------------------------------------------------
# the StoSignSGD-type kinds (Alg. 1 on a box): stosignsgd, online, o2nc_inner
# ---------------------------------------------------------------------------------------------
def _stosign_lr(problem, k: float) -> dict:
    """The step of Alg. 1 for ``problem`` with its constant × k: anytime D∞/√(2t) (default) or the
    constant D∞/√T (``problem.step == "constant"``)."""
    step = getattr(problem, "step", "anytime")
    if step == "constant":
        return dict(lr=k * problem.D_inf / float(problem.horizon) ** 0.5)
    return dict(anytime_diameter=k * problem.D_inf)


def _stosign(problem, k: float = 1.0, box: bool = True, mode: str = "stochastic", cls=None):
    from convexlab.optim import StoSignSGD

    cls = StoSignSGD if cls is None else cls
    return lambda params: cls(params, betas=(0.0, 1.0), envelope="gradient", mode=mode,
                              box=problem.box if box else None, seed=getattr(problem, "seed", 0),
                              **({"lr": 0.0} | _stosign_lr(problem, k)))


def stosign_alg1(params, problem):
    """Alg. 1 (StoSignSGD's theory form) for a problem of kind ``stosignsgd``/``online``/``o2nc_inner``:
    no momentum, envelope from |g|, the problem's step, projection onto ``problem.box``."""
    return _stosign(problem)(params)


def biased_noise_class():
    from convexlab.geometry.stochastic_sign import stochastic_sign_sample
    from convexlab.optim import StoSignSGD

    class BiasedNoiseStoSignSGD(StoSignSGD):
        """StoSignSGD whose structural noise is n ~ U[−a, a], a = ``NOISE_SCALE`` = 0.5: biased
        towards sign(m) wherever |m| > aG (the panel member ``biased_noise``)."""

        NOISE_SCALE = 0.5

        def _direction(self, p, g, state, group):
            num, den = self._moments(g, state, group)
            return stochastic_sign_sample(num, den, self.generator(num.device), noise_scale=self.NOISE_SCALE)

    return BiasedNoiseStoSignSGD


for _kind in ("stosignsgd", "online", "o2nc_inner"):
    provide("signsgd", _kind, lambda params, problem: _stosign(problem, mode="deterministic_sign")(params))
    provide("unprojected", _kind, lambda params, problem: _stosign(problem, box=False)(params))
    provide("biased_noise", _kind, lambda params, problem: _stosign(problem, cls=biased_noise_class())(params))
    provide_step(_kind, lambda k: (lambda params, problem: _stosign(problem, k=k)(params)))

