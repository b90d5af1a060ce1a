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
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from convexlab import _validation as V

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
