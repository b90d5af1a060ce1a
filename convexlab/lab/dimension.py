r"""StoSignSGD's dimension factor, measured: Euclidean O2NC against StoSignSGD-O2NC across d
(notebook 15_stosign_dimension_factor; ledger row ``stosignsgd.dimension_factor``).

The comparison (StoSignSGD arXiv 2604.15416, §2 and App. D [SSG-LB, SSG-O2NC]; the experiment is our
protocol [D]). Both learners run inside the same O2NC driver (:func:`convexlab.sim.o2nc.o2nc`, Alg. 12:
x_t = x_{t−1} + s_tΔ_t, s_t ~ Exp(1), blocks of N steps, learner restarted every block) with the same N, K
and radius D:

* **StoSignSGD-O2NC**: the registry learner (Alg. 1 on the box [−D, D]^d, η_n = c·√2·D/√n; run as
  ``learner="direct"``, which the driver documents and tests as bit-for-bit the registry optimizer,
  ``lr_scale`` = c);
* **Euclidean O2NC**: projected online gradient descent on the ℓ2 ball B₂(R) (:class:`BallOGD`),
  Δ ← Π_{B₂(R)}(Δ − η_n g), η_n = c·√2·R/(‖L‖₂√n) — the same anytime form as Alg. 1's step, with the
  per-coordinate bound L_i replaced by the ℓ2 bound ‖g‖₂ ≤ ‖L‖₂ [D].

Matched radius [D]: ``ball="inscribed"`` (the default) takes R = D, the largest ℓ2 ball whose plays keep
‖Δ‖∞ ≤ D, so both learners have the same ℓ∞ spread guarantee ‖x_{k,n} − x̄_k‖∞ ≤ ND and hence the same
Goldstein radius in the (ℓ1, ℓ∞) measure of Definition 2. Then the two bounds, measured in ℓ1, read
(Euclidean: the O2NC bound in ℓ2 times ‖·‖₁ ≤ √d‖·‖₂; StoSignSGD: inequality (10))::

    Euclidean   (1/K)Σ_k‖(1/N)Σ_n∇f‖₁ ≤ √d·[Δf/(DKN) + c₂‖L‖₂/√N]
    StoSignSGD  (1/K)Σ_k‖(1/N)Σ_n∇f‖₁ ≤      Δf/(DKN) + (5+2√2)‖L‖₁/√N

so with homogeneous L (‖L‖₁ = √d‖L‖₂) the noise terms agree and the descent term carries the extra √d.
``ball="circumscribed"`` (R = √d·D, the ball around the box) is a control: it lets the Euclidean learner
make the sign learner's ℓ∞ moves, at the price of a √d larger ℓ∞ spread guarantee.

Protocol [D]: each learner's step multiplier c is tuned per d over a grid on separate tuning runs (the
mean measure over ``tune_seeds`` runs, lowest wins); the chosen c is then run on ``seeds`` fresh runs, whose
final (1/K)Σ_k‖(1/N)Σ_n∇f(x_{k,n})‖₁ (inequality (10)'s left side, exact gradients at the visited points)
is reported with its mean and standard error. The slope of log measure against log d is fitted per
evaluation run (runs of the same index across d are paired only by their seed offset, they are
independent) and reported as mean ± standard error over runs.

Second part, ledger row ``stosignsgd.projected_sgd_heterogeneous`` (:func:`heterogeneous_sweep`): the convex
comparison (StoSignSGD §2, Theorem 4 [P, SSG-T4]; the Euclidean bound and the experiment are ours [R, D]). On a box X = [−R, R]^d with an oracle bounded coordinate-wise, |g̃_i| ≤ L_i:

    StoSignSGD (Alg. 1, η_t = D∞/√(2t))      E f(x̄_T) − f* ≤ √2·D∞‖L‖₁/√T
    projected SGD (η_t = D₂/(G₂√t))            E f(x̄_T) − f* ≤ (3/2)·D₂G₂/√T,  D₂ = √d·D∞, G₂ = ‖L‖₂

so the bound ratio is (3/(2√2))·κ with κ = √d‖L‖₂/‖L‖₁ ∈ [1, √d] (κ = 1 for homogeneous L, large for
a decaying profile). Problem [D] (:class:`HeterogeneousAbs`): f(x) = q·Σ_i L_i|x_i − c_i|, c_i = ±R/2,
x₁ = 0, oracle ±L_i per coordinate with mean q·L_i·sign(x_i − c_i) (a biased coin per coordinate, the
product-of-1-D-games shape of Theorem 4's lower bound [SSG-LB]), L_i = i^{−a} (:func:`decaying_L`).
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from convexlab import _validation as V
from convexlab.lab import sweeps as SW
from convexlab.problems.base import Problem, sign_plus

DT = torch.float64
BALLS = ("inscribed", "circumscribed")
LEARNERS = ("euclidean", "stosign")


class BallOGD(torch.optim.Optimizer):
    r"""Projected online gradient descent on the ℓ2 ball of radius ``radius``, one ball per row:

        Δ ← Π_{B₂(R)}(Δ − η_n g),   η_n = scale·√2·R/(G√n),   n = the step count (restarts with the state)

    where Π scales a row back to norm R if it is longer. The parameter's last dimension is the vector
    and every leading index an independent run (the O2NC driver's (seeds, d) layout), so each row is
    projected on its own ball. G bounds ‖g‖₂ (for a coordinate bound |g_i| ≤ L_i, G = ‖L‖₂). The
    step is the anytime form of Alg. 1's η_n = D∞/√(2n) with diameter 2R and gradient scale G
    (Zinkevich's OGD; the constant is reconstructed [D], the comparison's own choice).

    Raises:
        ValueError: a non-positive or non-finite ``radius``, ``G`` or ``scale``.
    """

    def __init__(self, params, radius: float, G: float, scale: float = 1.0):
        radius = V.positive_finite("radius", radius)
        G = V.positive_finite("G", G)
        scale = V.positive_finite("scale", scale)
        super().__init__(params, dict(radius=radius, G=G, scale=scale))

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                state["step"] = n = state.get("step", 0) + 1
                eta = group["scale"] * math.sqrt(2.0) * group["radius"] / (group["G"] * math.sqrt(n))
                p.add_(p.grad, alpha=-eta)
                norm = p.norm(dim=-1, keepdim=True)
                p.mul_(torch.clamp(group["radius"] / norm.clamp_min(1e-300), max=1.0))
        return loss


def euclidean_learner(scale: float = 1.0, ball: str = "inscribed"):
    r"""A learner factory ``(params, problem) -> BallOGD`` for :func:`convexlab.sim.o2nc.o2nc`: the
    ball radius is R = D (``"inscribed"``) or R = √d·D (``"circumscribed"``) with D = ``problem.D_inf``/2
    the driver's box radius, and G = ‖``problem.L``‖₂ (the oracle's coordinate bound).

    Raises:
        ValueError: a bad ``scale`` or ``ball``; (when called) a problem without a finite ``L``.
    """
    scale = V.positive_finite("scale", scale)
    V.one_of("ball", ball, BALLS)

    def factory(params, problem):
        if problem.L is None:
            raise ValueError("the Euclidean learner needs a finite oracle bound L (|g_i| <= L_i), got L=None")
        d = problem.L.numel()
        radius = problem.D_inf / 2.0 * (1.0 if ball == "inscribed" else math.sqrt(d))
        return BallOGD(params, radius=radius, G=float(problem.L.norm()), scale=scale)

    return factory


#: x_0 = START·1 for :func:`dense_problem`: near the kink at 0, where |∂_i f| = cos(0.2) ≈ 0.98 [D]
START = 0.2


def dense_problem(d: int, start: float = START):
    r"""f(x) = Σ_{i≤d}|sin x_i| (L = 1) from x_0 = ``start``·1 with the bounded unbiased sign-flip oracle
    ([SSG-PROTO] test function [D]): the gradient is dense (every coordinate cos(start) at x_0), and
    ‖L‖₁ = √d‖L‖₂ = d (homogeneous L), Δf = d·sin(start).

    The start near the kink at 0 [D]: there the ℓ1 measure of a block falls as the block reaches and
    straddles the kink (the minimum), so less progress means a larger measure. From the package's
    default start x_0 = 1 the measure first rises (|cos x| grows towards the kink) before it falls, and
    a learner that barely moves scores better than one half-way there (measured: 0.54 → 0.8 per
    coordinate), which makes the comparison across d meaningless.

    Raises:
        ValueError: d < 1, or ``start`` outside (0, π/2).
    """
    from convexlab.problems.noise import SignFlip
    from convexlab.problems.nonconvex import SumAbsSin

    d = V.integer("d", d, 1)
    start = V.positive_finite("start", start)
    if start >= math.pi / 2:
        raise ValueError(f"start must lie in (0, π/2) (between the kink at 0 and the maximum), got {start!r}")
    return SumAbsSin(torch.ones(d, dtype=DT), noise=SignFlip(1.0), start=torch.full((d,), start, dtype=DT))


def run_learner(problem, learner: str, scale: float, N: int, K: int, D: float, runs: int, *, seed: int = 0,
                ball: str = "inscribed", registry: bool = False):
    r"""One O2NC run batch (``runs`` independent rows) of ``learner`` (``"euclidean"`` or ``"stosign"``)
    with step multiplier ``scale``; returns the :class:`~convexlab.sim.o2nc.O2NCResult`. ``registry``
    runs the StoSignSGD learner as the registry optimizer itself instead of its identical inline form.

    Raises:
        ValueError: a bad ``learner`` (and the driver's own errors).
    """
    from convexlab.sim.o2nc import o2nc

    V.one_of("learner", learner, LEARNERS)
    if learner == "stosign":
        return o2nc(problem, N, K, D, runs, seed=seed, lr_scale=scale, learner="registry" if registry else "direct")
    return o2nc(problem, N, K, D, runs, seed=seed, learner=euclidean_learner(scale, ball))


def max_play(result, learner: str, ball: str = "inscribed") -> tuple[float, float]:
    r"""(largest ℓ∞ play max_t‖Δ_t‖∞ over the runs, the bound it must respect): D for the StoSignSGD box;
    R for the Euclidean ball (‖Δ‖∞ ≤ ‖Δ‖₂ ≤ R, a necessary condition: the driver records ℓ∞ plays
    only; :class:`BallOGD`'s ℓ2 projection itself is tested in tests/test_lab_dimension.py)."""
    D = result.meta["D"]
    d = result.block_means.shape[-1]
    bound = D if learner == "stosign" or ball == "inscribed" else math.sqrt(d) * D
    return float(result.max_play.max()), bound


def matched_parameters(eps_fraction: float = 1.0, radius: float = 0.5, start: float = START):
    r"""The paper's O2NC parameters (:func:`~convexlab.sim.o2nc.o2nc_parameters`: N, D, K) for
    ε = ``eps_fraction``·‖L‖₁ and δ = ε/r² (r = ``radius``, [SSG-Q9]) on :func:`dense_problem`; with
    ‖L‖₁ = d and Δf = d·sin(start) they are the same for every d (computed at d = 1).

    Raises:
        ValueError: a non-positive ``eps_fraction`` or ``radius``.
    """
    from convexlab.sim.o2nc import o2nc_parameters

    eps = V.positive_finite("eps_fraction", eps_fraction)
    r = V.positive_finite("radius", radius)
    one = dense_problem(1, start)
    return o2nc_parameters(eps, eps / r**2, 1.0, one.delta_f(one.start_point()))


def _slope(dims, values) -> float:
    return float(np.polyfit(np.log(dims), np.log(values), 1)[0])


def dimension_sweep(dims=(2, 8, 32, 128), *, seeds: int = 3, tune_seeds: int = 2,
                    scales=(0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0), N: int | None = None,
                    K: int | None = None, D: float | None = None, eps_fraction: float = 1.0,
                    radius: float = 0.5, start: float = START,
                    ball: str = "inscribed", seed: int = 0, learners=LEARNERS) -> dict:
    r"""The dimension-factor experiment (module docstring): for each d in ``dims`` and each learner,
    tune the step multiplier over ``scales`` on ``tune_seeds`` runs, then run the chosen one on ``seeds``
    fresh runs of :func:`dense_problem` and record the final (1/K)Σ_k‖(1/N)Σ_n∇f(x_{k,n})‖₁.

    N, K, D default to :func:`matched_parameters` (``eps_fraction``, ``radius``, ``start``): the paper's
    O2NC parameters for ε = eps_fraction·‖L‖₁, δ = ε/r² on the dense problem (N = 188, K = 6,
    D = r/(√14·N) for the defaults 1, 0.5, 0.2); with ε ∝ ‖L‖₁ = d they do not depend on d (matched
    settings). ``start``: x_0 = start·1 (:func:`dense_problem`); ``ball``: the Euclidean learner's ball
    (:func:`euclidean_learner`); ``learners``: which of :data:`LEARNERS` to run; ``seed``: the base seed
    (evaluation runs of the i-th d use seed + 1000i, tuning runs seed + 10⁶ + 1000i + j for the j-th scale).

    Returns:
        dict with ``dims`` (numpy), ``N``, ``K``, ``D``, ``ball``, ``seeds``, ``tune_seeds``, ``scales`` and,
        per learner name, a dict: ``scale`` (chosen per d), ``tune`` (d × scale array of tuning means),
        ``runs`` (d × seeds array of the measure), ``mean``, ``se`` (per d), ``slope`` (of the log mean),
        ``slope_runs`` (per run), ``slope_mean``, ``slope_se``, ``max_play``/``play_bound`` (largest
        ℓ∞ play over the evaluation runs per d, and its bound), ``edge`` (d's whose choice is at the grid's
        end) and ``seconds``.

    Raises:
        ValueError: fewer than two dimensions or a non-integer d < 1, ``seeds`` < 2, ``tune_seeds`` < 1,
            an empty or non-positive ``scales``, a bad ``ball`` or learner name, bad N, K, D,
            ``eps_fraction``, ``radius`` or ``start``.
    """
    dims = [V.integer("dims", d, 1) for d in (dims or [])]
    if len(set(dims)) < 2:
        raise ValueError(f"dims must hold at least two distinct integers >= 1 (a slope needs two), got {dims!r}")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 2:
        raise ValueError(f"seeds must be an integer >= 2 (a standard error needs two runs), got {seeds!r}")
    tune_seeds = V.integer("tune_seeds", tune_seeds, 1)
    scales = [V.positive_finite("scales", c) for c in (scales or [])]
    if not scales:
        raise ValueError(f"scales must be a non-empty sequence of numbers > 0, got {scales!r}")
    paper = matched_parameters(eps_fraction, radius, start)
    N = V.integer("N", paper.N if N is None else N, 1)
    K = V.integer("K", paper.K if K is None else K, 1)
    D = V.positive_finite("D", paper.D if D is None else D)
    V.one_of("ball", ball, BALLS)
    learners = tuple(learners)
    if not learners:
        raise ValueError(f"learners must name at least one of {LEARNERS}, got {learners!r}")
    for name in learners:
        V.one_of("learners", name, LEARNERS)
    seed = V.integer("seed", seed, None)
    out = dict(dims=np.array(dims, dtype=float), N=N, K=K, D=D, ball=ball, seeds=seeds, tune_seeds=tune_seeds,
               scales=np.array(scales))
    for name in learners:
        t0 = time.perf_counter()
        tune = np.empty((len(dims), len(scales)))
        runs = np.empty((len(dims), seeds))
        chosen, plays, bounds = [], [], []
        for i, d in enumerate(dims):
            problem = dense_problem(d, start)
            for j, c in enumerate(scales):  # tuning runs: seeds offset by 10⁶, disjoint from the evaluation
                res = run_learner(problem, name, c, N, K, D, tune_seeds, seed=seed + 1_000_000 + 1000 * i + j,
                                  ball=ball)
                tune[i, j] = float(res.grad_l1.mean())
            c = scales[int(np.argmin(tune[i]))]
            res = run_learner(problem, name, c, N, K, D, seeds, seed=seed + 1000 * i, ball=ball)
            runs[i] = res.grad_l1.mean(0).numpy()  # (1/K)Σ_k per run
            chosen.append(c)
            play, bound = max_play(res, name, ball)
            plays.append(play)
            bounds.append(bound)
        per_run = np.array([_slope(dims, runs[:, s]) for s in range(seeds)])
        mean = runs.mean(1)
        out[name] = dict(scale=np.array(chosen), tune=tune, runs=runs, mean=mean,
                         se=runs.std(1, ddof=1) / math.sqrt(seeds), slope=_slope(dims, mean), slope_runs=per_run,
                         slope_mean=float(per_run.mean()), slope_se=float(per_run.std(ddof=1) / math.sqrt(seeds)),
                         max_play=np.array(plays), play_bound=np.array(bounds),
                         edge=[d for d, c in zip(dims, chosen) if c in (scales[0], scales[-1]) and len(scales) > 1],
                         seconds=time.perf_counter() - t0)
    return out


def slope_gap(sweep: dict) -> tuple[float, float]:
    r"""(Euclidean slope − StoSignSGD slope, its standard error √(se_E² + se_S²)) of a
    :func:`dimension_sweep` that ran both learners (the runs of the two learners are independent)."""
    for name in LEARNERS:
        if name not in sweep:
            raise ValueError(f"sweep must hold both learners {LEARNERS}, it lacks {name!r}")
    e, s = sweep["euclidean"], sweep["stosign"]
    return e["slope_mean"] - s["slope_mean"], math.hypot(e["slope_se"], s["slope_se"])


# ---------------------------------------------------------------------------------------------
# Projected SGD against StoSignSGD under heterogeneous L (ledger row stosignsgd.projected_sgd_heterogeneous)
# ---------------------------------------------------------------------------------------------


#: the four arms of :func:`heterogeneous_sweep`: (method, step rule)
ARMS = ("sto_theory", "psgd_theory", "sto_tuned", "psgd_tuned")
#: the like-for-like pairs the verdict judges: (projected SGD arm, StoSignSGD arm)
PAIRS = (("psgd_theory", "sto_theory"), ("psgd_tuned", "sto_tuned"))


def decaying_L(d: int, decay: float = 1.0) -> torch.Tensor:
    r"""L_i = i^{−decay}, i = 1..d (float64): for decay = 1, ‖L‖₁ ≈ ln d + 0.58, ‖L‖₂ → π/√6, so
    κ = √d‖L‖₂/‖L‖₁ grows like √d/ln d (1.37 at d = 8, 7.1 at d = 2048) [D].

    Raises:
        ValueError: d < 1 or a negative or non-finite ``decay``.
    """
    d = V.integer("d", d, 1)
    decay = V.nonnegative_finite("decay", decay)
    return torch.arange(1, d + 1, dtype=DT).pow(-decay)


def kappa(L) -> float:
    r"""κ = √d‖L‖₂/‖L‖₁, the Euclidean-over-(ℓ1, ℓ∞) dimension factor of a bound vector L (1 ≤ κ ≤ √d)."""
    L = torch.as_tensor(L, dtype=DT)
    return float(math.sqrt(L.numel()) * L.norm() / L.abs().sum())


class HeterogeneousAbs(Problem):
    r"""f(x) = q·Σ_i L_i|x_i − c_i| on [−R, R]^d with c_i = s_i·R/2 (s_i = ±1 seeded), x₁ = 0, f* = 0 at
    x* = c [D]. The declared L is the oracle's bound (Assumption A3): with the sign-flip oracle
    (``SignFlip(1.0)``) every coordinate of g̃ is ±L_i with mean q·L_i·sign(x_i − c_i) (sign(0) := +1), so
    |g̃_i| ≤ L_i while |∂_i f| ≤ qL_i; the coin's bias q is the whole signal, as in
    :class:`~convexlab.problems.SignGame`, but with an interior kink instead of a linear face.

    Args:
        L: positive bounds (1-D). q: the bias in (0, 1]. radius: R > 0. seed: the signs' seed.

    Raises:
        ValueError: a non-positive or non-finite L entry, q outside (0, 1], a bad radius or seed.
    """

    def __init__(self, L, q: float = 0.5, *, radius: float = 1.0, seed: int = 0):
        from convexlab.problems.noise import SignFlip

        L = torch.as_tensor(L, dtype=DT)
        if L.ndim != 1 or L.numel() < 1 or not bool(torch.isfinite(L).all()) or not bool((L > 0).all()):
            raise ValueError(f"L must be a non-empty 1-D vector of finite positive bounds, got {L!r}")
        q = float(q) if not isinstance(q, bool) else math.nan
        if not (0.0 < q <= 1.0):
            raise ValueError(f"q must lie in (0, 1], got {q!r}")
        R = V.positive_finite("radius", radius)
        gen = torch.Generator().manual_seed(V.integer("seed", seed, None))
        s = torch.where(torch.rand(L.numel(), generator=gen, dtype=DT) < 0.5, -1.0, 1.0).to(DT)
        self.q, self.radius, self.c = q, R, s * (R / 2)
        super().__init__((L.numel(),), L, -R, R, f_star=0.0, x_star=self.c.clone(), noise=SignFlip(1.0), dtype=DT)
        self.start = torch.zeros(L.numel(), dtype=DT)

    def f(self, x):
        return self.q * (self.L * (x - self.c).abs()).sum(-1)

    def subgradient(self, x):
        return self.q * self.L * sign_plus(x - self.c)


class BoxPSGD(torch.optim.Optimizer):
    r"""Projected (sub)gradient descent on a box, x ← clip(x − η_t g, low, high), with either

    * the constant step η_t = ``lr``, or
    * the anytime theory step η_t = ``scale``·D₂/(G₂√t) (``diameter`` = D₂ = ‖high − low‖₂,
      ``G`` = G₂ ≥ ‖g‖₂; Zinkevich's projected OGD, regret ≤ (3/2)D₂G₂√T, hence
      E f(x̄_T) − f* ≤ (3/2)D₂G₂/√T in SCO [R]).

    Coordinate-wise (every row of a (seeds, d) parameter is an independent run), so
    :func:`convexlab.sim.run.simulate` batches the seeds.

    Raises:
        ValueError: both or neither of ``lr`` and ``diameter``/``G``; a non-positive or non-finite
            ``lr``, ``diameter``, ``G`` or ``scale``; low ≥ high.
    """

    coordinatewise = True

    def __init__(self, params, low: float, high: float, *, lr: float | None = None, diameter: float | None = None,
                 G: float | None = None, scale: float = 1.0):
        if (lr is None) == (diameter is None or G is None):
            raise ValueError(f"give either lr (constant step) or diameter and G (theory step), got lr={lr!r}, "
                             f"diameter={diameter!r}, G={G!r}")
        if lr is not None:
            lr = V.positive_finite("lr", lr)
        else:
            diameter, G = V.positive_finite("diameter", diameter), V.positive_finite("G", G)
        scale = V.positive_finite("scale", scale)
        low, high = float(low), float(high)
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"low must be < high, both finite, got low={low!r}, high={high!r}")
        super().__init__(params, dict(lr=lr, diameter=diameter, G=G, scale=scale, low=low, high=high))

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                state["step"] = t = state.get("step", 0) + 1
                if group["lr"] is not None:
                    eta = group["lr"]
                else:
                    eta = group["scale"] * group["diameter"] / (group["G"] * math.sqrt(t))
                p.add_(p.grad, alpha=-eta).clamp_(group["low"], group["high"])
        return loss


def arm_factory(problem, arm: str, step: float | None = None, seed: int = 0):
    r"""The optimizer factory ``params -> optimizer`` of an arm (:data:`ARMS`) on ``problem``:

    * ``sto_theory``: ``StoSignSGD.theory`` (Alg. 1, η_t = D∞/√(2t), box projection, continuous noise);
    * ``psgd_theory``: :class:`BoxPSGD` with η_t = D₂/(‖L‖₂√t), D₂ = √d·D∞ (L the oracle's bound);
    * ``sto_tuned``: Alg. 1 with the constant step η = ``step`` (the same envelope, noise and box);
    * ``psgd_tuned``: :class:`BoxPSGD` with the constant step η = ``step``.

    Raises:
        ValueError: an unknown arm, or a tuned arm without a positive ``step``.
    """
    from convexlab.optim import StoSignSGD

    V.one_of("arm", arm, ARMS)
    low, high = float(problem.low.min()), float(problem.high.max())
    if arm.endswith("tuned"):
        step = V.positive_finite("step", step)
    if arm == "sto_theory":
        return lambda ps: StoSignSGD.theory(ps, diameter=problem.D_inf, box=(low, high), seed=seed)
    if arm == "sto_tuned":
        return lambda ps: StoSignSGD(ps, lr=step, betas=(0.0, 1.0), envelope="gradient", noise="uniform",
                                     box=(low, high), seed=seed)
    if arm == "psgd_theory":
        D2 = math.sqrt(problem.dim) * problem.D_inf
        G2 = float(problem.oracle_L.norm())
        return lambda ps: BoxPSGD(ps, low, high, diameter=D2, G=G2)
    return lambda ps: BoxPSGD(ps, low, high, lr=step)


def final_gap(problem, arm: str, T: int, runs: int, seed: int, step: float | None = None) -> np.ndarray:
    r"""f(x̄_T) − f* of ``runs`` runs of ``arm`` through the package's simulator and the registry optimizers
    (:func:`convexlab.sim.run.simulate`; x̄_T = (1/T)Σ_{t≤T} x_t): the reference that :func:`run_box`
    reproduces bit for bit (tests/test_lab_dimension.py)."""
    from convexlab.sim.run import simulate

    res = simulate(problem, arm_factory(problem, arm, step, seed), T, runs, record=[T], seed=seed)
    return res.metrics["gap_avg"][-1].numpy().copy()


METHODS = ("sto", "psgd")


def run_box(problem, method: str, steps, T: int, seed: int = 0) -> np.ndarray:
    r"""f(x̄_T) − f* of len(``steps``) runs of ``method`` on ``problem`` in one batch, run r with the step
    rule ``steps[r]``: None for the method's theory step, a number for that constant step. The same
    arithmetic and random streams as :func:`final_gap` (``simulate`` with the arm's registry optimizer;
    tested bit for bit), with a step per row so that a whole step grid runs as one batch:

    * ``"sto"`` (Alg. 1): G ← max(G, |g̃|), x ← clip(x − η_t sign(g̃ + G⊙u), box), u ~ U[−1, 1]^d from a
      generator seeded with ``seed`` (the registry optimizer's), η_t = D∞/√(2t) or the constant;
    * ``"psgd"``: x ← clip(x − η_t g̃, box), η_t = D₂/(‖L‖₂√t) (:class:`BoxPSGD`'s theory step) or the
      constant;

    g̃ = ``problem.oracle`` with the simulator's oracle generator for ``seed``; x₁ = ``problem.start_point()``.

    Raises:
        ValueError: a bad ``method``, T < 1, an empty ``steps`` or a non-positive constant step.
    """
    from convexlab.sim.run import ORACLE_SALT

    V.one_of("method", method, METHODS)
    T = V.integer("T", T, 1)
    steps = list(steps)
    if not steps:
        raise ValueError("steps must hold at least one step rule (None or a number > 0), got []")
    theory = torch.tensor([c is None for c in steps], dtype=DT)[:, None]
    const = torch.tensor([0.0 if c is None else V.positive_finite("steps", c) for c in steps], dtype=DT)[:, None]
    S, d = len(steps), problem.dim
    low, high = float(problem.low.min()), float(problem.high.max())
    gen = torch.Generator().manual_seed((seed * 0x9E3779B1 + ORACLE_SALT) % 2**63)
    noise_gen = torch.Generator().manual_seed(seed)
    x = problem.start_point().to(DT).expand(S, d).clone()
    total = torch.zeros(S, d, dtype=DT)
    envelope = torch.zeros(S, d, dtype=DT)
    D_inf = problem.D_inf
    D2, G2 = math.sqrt(d) * D_inf, float(problem.oracle_L.norm())
    with torch.no_grad():
        for t in range(1, T + 1):
            total += x
            g = problem.oracle(x, gen)
            if method == "sto":
                eta = theory * (D_inf / (2.0 * t) ** 0.5) + const
                torch.maximum(envelope, g.abs(), out=envelope)
                u = torch.rand(S, d, generator=noise_gen, dtype=DT).mul_(2.0).sub_(1.0)
                direction = torch.addcmul(g, envelope, u).sign_()
            else:
                eta = theory * (1.0 * D2 / (G2 * math.sqrt(t))) + const
                direction = g
            x.addcmul_(direction, eta, value=-1.0).clamp_(low, high)
        return (problem.f(total / T) - problem.f_star).numpy()


def theory_bounds(problem, T: int) -> tuple[float, float]:
    r"""(StoSignSGD's √2·D∞‖L‖₁/√T, projected SGD's (3/2)·√d·D∞‖L‖₂/√T) on ``problem``."""
    L = problem.oracle_L
    D = problem.D_inf
    return (math.sqrt(2) * D * float(L.sum()) / math.sqrt(T),
            1.5 * math.sqrt(problem.dim) * D * float(L.norm()) / math.sqrt(T))


#: constant-step grid of the tuned arms [D]: factors of √10 from 1e-4 to 1 (the theory steps at T = 4000,
#: D∞ = 2 lie at ≈ 0.02 for StoSignSGD and 0.03 … 0.7 for projected SGD from d = 8 to 2048)
STEP_GRID = tuple(float(10 ** (k / 2)) for k in range(-8, 1))


def heterogeneous_sweep(dims=(8, 32, 128, 512, 2048), *, T: int = 4000, seeds: int = 5, tune_seeds: int = 2,
                        steps=STEP_GRID, decay: float = 1.0, q: float = 0.5, seed: int = 0) -> dict:
    r"""Projected SGD against StoSignSGD on :class:`HeterogeneousAbs` with L = :func:`decaying_L` (d,
    ``decay``), the four :data:`ARMS`, for each d in ``dims``: the theory arms run as they are; each tuned arm
    picks its constant step from ``steps`` by the lowest mean final gap over ``tune_seeds`` separate runs
    (one :func:`run_box` batch, simulator seed seed + 10⁶ + 1000i), then runs it. The evaluation runs of a
    method (its theory and tuned arms in one :func:`run_box` batch) use simulator seed seed + 1000i.

    Returns:
        dict with ``dims`` (numpy), ``kappa`` (per d), ``bounds`` (per d: (StoSignSGD, PSGD) theory bounds),
        ``T``, ``seeds``, ``tune_seeds``, ``steps``, ``decay``, ``q``, ``arms`` and per arm a dict: ``gaps``
        (d × seeds), ``mean``, ``se``, and for the tuned arms ``step`` (chosen per d), ``tune`` (d × step
        means) and ``edge`` (d's whose choice is at an end of the grid); ``seconds`` (whole sweep).

    Raises:
        ValueError: fewer than two distinct dims or a d < 1; T < 1; seeds < 2; tune_seeds < 1; an empty or
            non-positive ``steps``; a bad ``decay`` or ``q``.
    """
    t0 = time.perf_counter()
    dims = [V.integer("dims", d, 1) for d in (dims or [])]
    if len(set(dims)) < 2:
        raise ValueError(f"dims must hold at least two distinct integers >= 1 (a slope needs two), got {dims!r}")
    T = V.integer("T", T, 1)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 2:
        raise ValueError(f"seeds must be an integer >= 2 (a standard error needs two runs), got {seeds!r}")
    tune_seeds = V.integer("tune_seeds", tune_seeds, 1)
    steps = [V.positive_finite("steps", c) for c in (steps or [])]
    if not steps:
        raise ValueError(f"steps must be a non-empty sequence of numbers > 0, got {steps!r}")
    decay = V.nonnegative_finite("decay", decay)
    seed = V.integer("seed", seed, None)
    problems = [HeterogeneousAbs(decaying_L(d, decay), q, seed=seed) for d in dims]
    out = dict(dims=np.array(dims, dtype=float), kappa=np.array([kappa(p.oracle_L) for p in problems]),
               bounds=np.array([theory_bounds(p, T) for p in problems]), T=T, seeds=seeds, tune_seeds=tune_seeds,
               steps=np.array(steps), decay=decay, q=q, arms=ARMS)
    for method in METHODS:
        theory_arm, tuned_arm = f"{method}_theory", f"{method}_tuned"
        tune = np.empty((len(dims), len(steps)))
        gaps = {theory_arm: np.empty((len(dims), seeds)), tuned_arm: np.empty((len(dims), seeds))}
        chosen = []
        for i, problem in enumerate(problems):
            grid_rows = [c for c in steps for _ in range(tune_seeds)]
            tune[i] = run_box(problem, method, grid_rows, T, seed + 1_000_000 + 1000 * i).reshape(
                len(steps), tune_seeds).mean(1)
            chosen.append(steps[int(np.argmin(tune[i]))])
            both = run_box(problem, method, [None] * seeds + [chosen[-1]] * seeds, T, seed + 1000 * i)
            gaps[theory_arm][i], gaps[tuned_arm][i] = both[:seeds], both[seeds:]
        for arm, g in gaps.items():
            out[arm] = dict(gaps=g, mean=g.mean(1), se=g.std(1, ddof=1) / math.sqrt(seeds))
        out[tuned_arm].update(step=np.array(chosen), tune=tune,
                              edge=[d for d, c in zip(dims, chosen) if len(steps) > 1 and c in (steps[0], steps[-1])])
    out["seconds"] = time.perf_counter() - t0
    return out


def log_ratio(result: dict, psgd: str, sto: str) -> dict:
    r"""The per-run log-ratio r = log(gap_PSGD / gap_StoSignSGD) of two arms (runs of the same index share the
    simulator seed; they are independent draws), with: ``runs`` (d × seeds), ``mean``/``se`` per d, and its
    slope against log κ fitted per run: ``slope_runs``, ``slope``, ``slope_se`` (mean, se over runs)."""
    for a in (psgd, sto):
        if a not in result:
            raise ValueError(f"arm {a!r} was not run; the sweep ran {result['arms']!r}")
    r = np.log(result[psgd]["gaps"]) - np.log(result[sto]["gaps"])
    n = r.shape[1]
    x = np.log(result["kappa"])
    slopes = np.array([np.polyfit(x, r[:, s], 1)[0] for s in range(n)])
    return dict(runs=r, mean=r.mean(1), se=r.std(1, ddof=1) / math.sqrt(n), slope_runs=slopes,
                slope=float(slopes.mean()), slope_se=float(slopes.std(ddof=1) / math.sqrt(n)))


def heterogeneous_verdict(result: dict, reduced: bool = False) -> tuple[str, str, str]:
    r"""``stosignsgd.projected_sgd_heterogeneous`` from a :func:`heterogeneous_sweep` (rule fixed before the
    run [D]). For each like-for-like pair of :data:`PAIRS` (theory step against theory step, tuned against
    tuned), with r = log(gap_PSGD/gap_StoSignSGD) per run:

    * *supported* iff for both pairs, at the largest d, mean(r) − 3se > 0 (StoSignSGD better) **and** the
      slope of r against log κ has mean − 3se > 0 (the advantage grows with κ = √d‖L‖₂/‖L‖₁);
    * *not supported* iff for some pair mean(r) + 3se < 0 at the largest d (projected SGD better) or the
      slope's mean + 3se < 0 (the advantage shrinks as κ grows);
    * *inconclusive* otherwise, and always for a ``reduced`` (FAST) run.

    StoSignSGD's theory step against tuned projected SGD is reported in the numbers, not judged.

    Raises:
        ValueError: a result without both arms of each pair.
    """
    crit = ("for both pairs (PSGD theory step vs StoSignSGD theory step; PSGD tuned constant step vs StoSignSGD "
            "tuned constant step), r = log(PSGD gap / StoSignSGD gap) per run: at the largest d mean − 3se > 0 and "
            "slope of r vs log(√d‖L‖₂/‖L‖₁) mean − 3se > 0 (supported); some pair with mean + 3se < 0 at the "
            "largest d or slope mean + 3se < 0 (not supported)")
    ok, bad, parts = [], [], []
    for psgd, sto in PAIRS:
        lr = log_ratio(result, psgd, sto)
        m, se = lr["mean"][-1], lr["se"][-1]
        ok.append(m - 3 * se > 0 and lr["slope"] - 3 * lr["slope_se"] > 0)
        bad.append(m + 3 * se < 0 or lr["slope"] + 3 * lr["slope_se"] < 0)
        parts.append(f"{psgd}/{sto}: log-ratio at d={int(result['dims'][-1])} {m:+.3f} ± {3 * se:.3f} "
                     f"(ratio {math.exp(m):.3g}), slope vs log κ {lr['slope']:.3f} ± {3 * lr['slope_se']:.3f}")
    status = "not supported" if any(bad) else "supported" if all(ok) else "inconclusive"
    if "psgd_tuned" in result and "sto_theory" in result:
        lr = log_ratio(result, "psgd_tuned", "sto_theory")
        parts.append(f"psgd_tuned/sto_theory (not judged): log-ratio at d={int(result['dims'][-1])} "
                     f"{lr['mean'][-1]:+.3f} ± {3 * lr['se'][-1]:.3f}, slope {lr['slope']:.3f} ± {3 * lr['slope_se']:.3f}")
    cells = "; ".join(f"{a} " + ", ".join(f"d={int(d)}: {m:.3g}±{3 * s:.2g}" for d, m, s in
                                        zip(result["dims"], result[a]["mean"], result[a]["se"]))
                      for a in ARMS if a in result)
    numbers = (f"E f(x̄_T) − f* (mean ± 3 s.e., {result['seeds']} runs): {cells}; κ = √d‖L‖₂/‖L‖₁ = "
               f"{', '.join(f'{k:.2f}' for k in result['kappa'])} (theory bound ratio 1.06κ); " + "; ".join(parts))
    edges = [f"{a} at d = {result[a]['edge']}" for a in ARMS if a in result and result[a].get("edge")]
    status, numbers = SW.finish_verdict(status, numbers, edges, reduced, what="step")
    return status, numbers, crit


def heterogeneous_scale_text(result: dict) -> str:
    """The ``scale`` of the ledger record for :func:`heterogeneous_sweep`."""
    return (f"f = q·Σ L_i|x_i − c_i| on [−1, 1]^d, L_i = i^−{result['decay']:g}, q = {result['q']:g}, "
            f"d ∈ {{{', '.join(str(int(d)) for d in result['dims'])}}}, T = {result['T']} steps, {result['seeds']} "
            f"runs per (arm, d), tuned steps from a {len(result['steps'])}-point grid on {result['tune_seeds']} "
            f"separate runs")


def scale_text(result: dict) -> str:
    """The ``scale`` of a ledger record of this module: :func:`heterogeneous_scale_text` for a
    :func:`heterogeneous_sweep` result; for a :func:`dimension_sweep` result its d's, N, K and seeds."""
    if "kappa" in result:
        return heterogeneous_scale_text(result)
    return (f"d ∈ {[int(d) for d in result['dims']]}, N = {result['N']}, K = {result['K']}, {result['seeds']} seeds "
            f"per (learner, d) after tuning over {len(result['scales'])} step multipliers on {result['tune_seeds']} "
            f"separate seeds")


def plot_heterogeneous(result: dict, ax) -> None:
    """E f(x̄_T) − f* against d (log–log) for the four arms of a :func:`heterogeneous_sweep`, mean ± 3 s.e.,
    with the two theory bounds dotted, on the matplotlib axes ``ax``."""
    dims = result["dims"]
    style = {"sto_theory": ("#2166ac", "o", "-", "StoSignSGD, η = D∞/√(2t)"),
             "sto_tuned": ("#67a9cf", "s", "--", "StoSignSGD, tuned constant η"),
             "psgd_theory": ("#b2182b", "o", "-", "projected SGD, η = D₂/(‖L‖₂√t)"),
             "psgd_tuned": ("#ef8a62", "s", "--", "projected SGD, tuned constant η")}
    for arm, (color, marker, line, label) in style.items():
        if arm in result:
            r = result[arm]
            ax.errorbar(dims, r["mean"], yerr=3 * r["se"], fmt=marker + line, ms=3, lw=1, capsize=2, color=color,
                        label=label)
    ax.plot(dims, result["bounds"][:, 0], ":", color="#2166ac", lw=1, label="bound √2·D∞‖L‖₁/√T")
    ax.plot(dims, result["bounds"][:, 1], ":", color="#b2182b", lw=1, label="bound 1.5·√d·D∞‖L‖₂/√T")
    ax.set(xscale="log", yscale="log", xlabel="dimension d (L_i = i^−1)", ylabel="E f(x̄_T) − f*")
    ax.set_title(f"convex, heterogeneous L, T = {result['T']}: κ = {result['kappa'][0]:.2f} … "
                 f"{result['kappa'][-1]:.2f}", fontsize=8)
    ax.legend(fontsize=5, loc="upper left")
