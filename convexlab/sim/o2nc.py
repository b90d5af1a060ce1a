r"""Online-to-non-convex conversion with online StoSignSGD (StoSignSGD Alg. 12, App. D; [SSG-ALG12]).

For k = 1..K, n = 1..N, t = (k−1)N + n ([SSG-ALG12] [P description, R body], [SSG-Q8] interpretation)::

    s_t ~ Exp(1);   x_t = x_{t−1} + s_t Δ_t                       (exponential random scaling [R])
    g_t = stochastic gradient at x_t, fed to the learner as the linear loss ⟨g_t, ·⟩
    G_t = max(G_{t−1}, |g_t|);   Δ_{t+1} = clip(Δ_t − η_n sign(g_t + G_t⊙u_t), −D, D),  u_t ~ U[−1, 1]^d
    η_n = 2D/√(2n) = √2·D/√n                                      (Alg. 1 on [−D, D]^d, diameter 2D)
    the learner (n, G, Δ) restarts at every block start ([SSG-Q8] [R]);   x̄_k = (1/N) Σ_n x_{(k−1)N+n}

Output x̂ ~ Unif{x̄_1, …, x̄_K} [P].

The learner: ``learner="registry"`` (default) is the registry optimizer
``StoSignSGD.theory(diameter=2D, box=(−D, D))`` acting on Δ (the same class the simulator and the
GPT harness use): its anytime step D∞/√(2n) with D∞ = 2D is exactly η_n, and the restart is a
fresh optimizer state (step count 0, envelope 0) with Δ reset to 0. ``learner="direct"`` is the
same Alg. 1 written out in a few tensor operations — the same sampling kernel, the same generator
seed and the same arithmetic, so the two give identical runs (tested bit for bit, for every
variant switch), but about 2.5× faster: the registry class's per-step bookkeeping (its checks of
every group and gradient before anything changes, state and generator lookup) costs about 150 µs
per step against the arithmetic's tens of µs (measured: 1.18 s against 0.46 s for N = 500, K = 8,
64 runs of d = 12, one thread). The theory checks use
``"direct"`` for the registry learner and a factory for any other.

``learner`` may also be any factory ``(params, problem) -> torch.optim.Optimizer`` (the subject
kind ``"o2nc_inner"`` of :mod:`convexlab.theory.mutants`): it is built once on Δ with
``problem`` = :func:`learner_instance` (``D_inf`` = 2D, ``box`` = (−D, D), the oracle's ``L``,
``seed``, ``horizon`` = N, ``step`` = "anytime"); at every block start Δ is reset to 0 and the
optimizer's ``state`` is cleared (step count and envelope restart; its random generator runs on,
as the registry learner's does).

:func:`o2nc_parameters` gives the paper's N and K and the reconstructed D (StoSignSGD [SSG-O2NC]).

Reference: Cutkosky, Mehta, Orabona 2023 (online-to-non-convex conversion); Zhang & Cutkosky,
arXiv 2405.09742 (exponential random scaling); StoSignSGD, arXiv 2604.15416, App. D.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch

from convexlab import _validation as V
from convexlab.optim import StoSignSGD
from convexlab.problems.base import Instance, Problem

#: N = ⌈49(33 + 20√2)‖L‖₁²/(16ε²)⌉ (StoSignSGD App. D [P]; (5 + 2√2)² = 33 + 20√2).
N_COEFFICIENT = 49 * (33 + 20 * math.sqrt(2)) / 16
#: the constant of inequality (10), 5 + 2√2 = 2(2 + √2) + 1 [P]
INEQ10_CONSTANT = 5 + 2 * math.sqrt(2)


@dataclass(frozen=True)
class O2NCParameters:
    r"""N, D, K (and T = NK) of the O2NC guarantee for (ε, δ, ‖L‖₁, Δf) (StoSignSGD [SSG-O2NC])."""

    N: int
    D: float
    K: int
    eps: float
    delta: float
    L1: float
    delta_f: float

    @property
    def T(self) -> int:
        return self.N * self.K


def o2nc_parameters(eps: float, delta: float, L1: float, delta_f: float) -> O2NCParameters:
    r"""The O2NC parameters of StoSignSGD App. D ([SSG-O2NC]):

        N = ⌈49(33 + 20√2)‖L‖₁²/(16ε²)⌉           [P]   (noise term (5+2√2)‖L‖₁/√N ≤ 4ε/7)
        D = (1/N)·√(ε/(14δ))                       [R]   (spread term 2δN²D² = ε/7)
        K = ⌈7Δf/(2εDN)⌉                           [P]   (descent term Δf/(DKN) ≤ 2ε/7)

    so that Δf/(DKN) + (5+2√2)‖L‖₁/√N + 2δN²D² ≤ ε. δ is the penalty weight of the [δ] measure
    (``lam_pen``, [SSG-Q9]), not a radius.

    Raises:
        ValueError: a non-positive or non-finite ``eps``, ``delta``, ``L1`` or ``delta_f``.

    >>> p = o2nc_parameters(eps=1.0, delta=1.0, L1=1.0, delta_f=1.0); (p.N, p.K)
    (188, 14)
    """
    eps = V.positive_finite("eps", eps)
    delta = V.positive_finite("delta", delta)
    L1 = V.positive_finite("L1", L1)
    delta_f = V.positive_finite("delta_f", delta_f)
    N = math.ceil(N_COEFFICIENT * L1**2 / eps**2)
    D = math.sqrt(eps / (14 * delta)) / N
    K = math.ceil(7 * delta_f / (2 * eps * D * N))
    return O2NCParameters(N, D, K, eps, delta, L1, delta_f)


@dataclass
class O2NCResult:
    r"""Per block k and seed s (arrays indexed [k, s, ...]):

    * ``block_means``: x̄_k = (1/N) Σ_n x_{k,n};
    * ``block_grads``: (1/N) Σ_n ∇f(x_{k,n}) with the problem's exact (a.e.) gradient at the visited
      points (not the oracle's);
    * ``spread``: (1/N) Σ_n ‖x_{k,n} − x̄_k‖²_∞;
    * ``x_hat``: x̂ = x̄_{κ_s} with κ_s ~ Unif{1..K} (``hat_index``, 0-based), per seed;
    * ``max_play``: max_t ‖Δ_t‖∞ per seed, the largest play of the learner (≤ D for a learner that
      stays in its box [−D, D]^d, as Alg. 12 requires);
    * ``f_start``: f(x_0); ``meta``: N, K, D, T and the variant switches.
    """

    block_means: torch.Tensor
    block_grads: torch.Tensor
    spread: torch.Tensor
    x_hat: torch.Tensor
    hat_index: torch.Tensor
    f_start: torch.Tensor
    max_play: torch.Tensor
    meta: dict = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        r"""Whether every play Δ_t of every seed lay in the learner's box [−D, D]^d."""
        return bool((self.max_play <= self.meta["D"]).all())

    @property
    def grad_l1(self) -> torch.Tensor:
        r"""‖(1/N) Σ_n ∇f(x_{k,n})‖₁, shape (K, S)."""
        return self.block_grads.abs().flatten(2).sum(-1)


def learner_instance(problem: Problem, N: int, D: float, seed: int):
    r"""The ``problem`` a learner factory receives (subject kind ``"o2nc_inner"``): the learner's box
    [−D, D]^d (``box``, ℓ∞ diameter ``D_inf`` = 2D), the coordinate bound ``L`` of the oracle
    (``problem.oracle_L``; None where it is not finite), ``seed``, the restart period ``horizon`` = N and the anytime step
    (``step`` = "anytime": Alg. 1's η_n = D_inf/√(2n) = √2·D/√n); any other constant is the
    problem's (e.g. ``f``)."""
    L = problem.oracle_L
    return Instance(problem, D_inf=2.0 * D, box=(-D, D), L=L if bool(torch.isfinite(L).all()) else None, seed=seed,
                    horizon=N, step="anytime")


def o2nc(problem: Problem, N: int, K: int, D: float, seeds: int, *, x0: torch.Tensor | None = None, seed: int = 0,
         oracle: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
         scaling: str = "exponential", restart: bool = True, lr_scale: float = 1.0, project: bool = True,
         learner: str | Callable = "registry") -> O2NCResult:
    r"""Run Alg. 12 (module docstring) for ``seeds`` independent runs (the rows of one (S, d) tensor).

    Args:
        problem: a vector problem (shape (d,)); the exact gradient ``problem.subgradient`` is recorded
            at every visited point, the learner sees ``oracle`` (default ``problem.oracle``).
        N, K: block length and number of blocks (T = NK oracle calls per run).
        D: the learner's box radius (Δ ∈ [−D, D]^d).
        x0: x_0 (default ``problem.start_point()``), the same in every row.
        seed: seeds the generator of the scalings s_t, of the oracle noise and of x̂'s index, and the
            learner's own noise generator (the run is deterministic given it).
        oracle: ``oracle(x, generator) -> g`` (a hook for biased oracles and ascent variants). The
            default is ``problem.oracle``; for problems that keep the base-class oracle (exact
            gradient through ``problem.noise``) the noise is applied to the recorded exact gradient
            directly, which is the same computation without evaluating the gradient twice.
        scaling: ``"exponential"`` (s_t ~ Exp(1), the algorithm) or ``"unit"`` (s_t ≡ 1, a variant).
        restart: restart the learner (n, G, Δ) at every block (True, [SSG-Q8]) or run one learner
            through all T steps (a variant).
        lr_scale: multiplies η_n (1 is the algorithm; other values are variants).
        project: clip Δ to the box [−D, D]^d (True, the algorithm) or not (a variant).
        learner: ``"registry"`` (``StoSignSGD.theory``), ``"direct"`` (the same Alg. 1 inline,
            identical output, faster; module docstring), or a factory ``(params, problem) ->
            torch.optim.Optimizer`` built on Δ with ``problem`` = :func:`learner_instance` (it carries
            its own step and box, so ``lr_scale`` must be 1 and ``project`` True).

    Raises:
        ValueError: bad sizes, ``D``, ``scaling``, ``lr_scale``, ``learner`` or ``x0`` shape; a
            factory with ``lr_scale`` ≠ 1 or ``project=False``, or one that returns no optimizer.
    """
    N, K, seeds = V.integer("N", N, 1), V.integer("K", K, 1), V.integer("seeds", seeds, 1)
    D = V.positive_finite("D", D)
    lr_scale = V.positive_finite("lr_scale", lr_scale)
    V.one_of("scaling", scaling, ("exponential", "unit"))
    factory = learner if callable(learner) else None
    if factory is None:
        V.one_of("learner", learner, ("registry", "direct"))
    elif lr_scale != 1.0 or not project:
        raise ValueError("lr_scale and project switch the built-in learners; a learner factory carries its own step "
                         f"and box, got lr_scale={lr_scale!r}, project={project!r}")
    seed = V.integer("seed", seed, None)
    if len(problem.shape) != 1:
        raise ValueError(f"o2nc needs a vector problem (shape (d,)), got shape {problem.shape}")
    x0 = problem.start_point() if x0 is None else torch.as_tensor(x0, dtype=problem.dtype)
    if tuple(x0.shape) != problem.shape:
        raise ValueError(f"x0 must have the problem's shape {problem.shape}, got {tuple(x0.shape)}")
    noise_only = oracle is None and type(problem).oracle is Problem.oracle
    oracle = problem.oracle if oracle is None else oracle
    S, d, dtype = seeds, problem.dim, problem.dtype
    L = problem.L if problem.L is not None else torch.zeros(problem.shape, dtype=dtype)

    gen = torch.Generator().manual_seed(seed)
    x = x0.to(dtype).expand(S, d).clone()
    delta = torch.nn.Parameter(torch.zeros(S, d, dtype=dtype))
    # Alg. 1 on [−D, D]^d (ℓ∞ diameter 2D): η_n = 2D/√(2n) = √2·D/√n; lr_scale rescales the diameter
    # argument only, which is exactly a rescaled step (the box stays [−D, D])
    diameter = 2 * D * lr_scale
    if factory is not None:
        opt = factory([delta], learner_instance(problem, N, D, seed))
        if not isinstance(opt, torch.optim.Optimizer):
            raise ValueError(f"learner must return a torch.optim.Optimizer, got {type(opt).__name__}")
    elif learner == "registry":
        opt = StoSignSGD.theory([delta], diameter=diameter, box=(-D, D) if project else None, seed=seed)
    else:
        # the registry optimizer's generator for the CPU is seeded with ``seed`` itself
        learner_gen = torch.Generator().manual_seed(seed)
        envelope = torch.zeros(S, d, dtype=dtype)
        low, high = torch.as_tensor(-D, dtype=dtype), torch.as_tensor(D, dtype=dtype)
    means = torch.empty(K, S, d, dtype=dtype)
    grads = torch.empty(K, S, d, dtype=dtype)
    spread = torch.empty(K, S, dtype=dtype)
    block = torch.empty(N, S, d, dtype=dtype)
    play = torch.zeros(S, d, dtype=dtype)  # max_t |Δ_t| per coordinate
    with torch.no_grad():
        f_start = problem.f(x0.to(dtype).unsqueeze(0))[0]
        n = 0
        for k in range(K):
            if restart or k == 0:
                delta.zero_()
                n = 0
                if learner != "direct":
                    opt.state.clear()  # step count n and envelope G restart at 0
                else:
                    envelope.zero_()
            gsum = torch.zeros(S, d, dtype=dtype)
            # the block's scalings in one draw (the same numbers as N draws of shape (S, 1))
            scales = (torch.empty(N, S, 1, dtype=dtype).exponential_(1.0, generator=gen) if scaling == "exponential"
                      else torch.ones(N, S, 1, dtype=dtype))
            if learner == "direct":
                # the learner's uniforms u ~ U[−1, 1] for the block in one draw: the same numbers, in the
                # same order, as the registry optimizer's N per-step draws from a generator seeded alike
                u = torch.rand(N, S, d, generator=learner_gen, dtype=dtype).mul_(2.0).sub_(1.0)
            for i in range(N):
                x = x + scales[i] * delta.detach()
                torch.maximum(play, delta.detach().abs(), out=play)
                block[i] = x
                g_true = problem.subgradient(x)
                gsum += g_true
                g = problem.noise(g_true, L, gen) if noise_only else oracle(x, gen)
                n += 1
                if learner != "direct":
                    # a copy: a subject may write into p.grad (a biased oracle's pre-hook), and the
                    # oracle's output may be the recorded exact gradient itself
                    delta.grad = g.clone() if factory is not None else g
                    opt.step()
                else:
                    # = StoSignSGD.theory's step: G ← max(G, |g|); Δ ← clip(Δ − η_n sign(g + G⊙u), −D, D)
                    torch.maximum(envelope, g.abs(), out=envelope)
                    direction = torch.addcmul(g, envelope, u[i]).sign_()
                    delta.data.add_(direction, alpha=-(diameter / (2.0 * n) ** 0.5))
                    if project:
                        delta.data.clamp_(min=low, max=high)
            xbar = block.mean(0)
            means[k] = xbar
            grads[k] = gsum / N
            spread[k] = (block - xbar).abs().amax(-1).square().mean(0)
        idx = torch.randint(0, K, (S,), generator=gen)
    x_hat = means[idx, torch.arange(S)]
    meta = dict(N=N, K=K, D=D, T=N * K, seeds=S, seed=seed, scaling=scaling, restart=restart, lr_scale=lr_scale,
                project=project, learner=learner if factory is None else "factory")
    return O2NCResult(means, grads, spread, x_hat, idx, f_start, play.amax(-1), meta)
