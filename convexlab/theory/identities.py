r"""Identity checks of the geometry core (Fenchel–Young, conjugates, directions, constants, limits).

Every check is a function ``f(geometry, ctx) -> CheckResult`` so that a test can hand it a
deliberately broken geometry and watch the verdict flip; the registered checks bind the function
to the geometries of :func:`standard_geometries`.

Sources: Softsign (Feoktistov et al., arXiv 2605.31371) [SS-FW, SS-FAMILY, SS-LIMITS, SS-IDCHECKS] — the framework statements are
[THR] (author thread), the closed forms and constants [DER] (reconstructed); StoSignSGD (Yu et al.,
arXiv 2604.15416) Definition 1 / Proposition 1 [P]/[S/R].
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import torch

from convexlab.geometry import Euclidean, Geometry, LatticeStochasticSign, SoftSign, StochasticSign
from convexlab.geometry.base import SeparableGeometry, geometry_classes
from convexlab.theory.registry import (
    Check,
    CheckContext,
    CheckResult,
    identity_result,
    lower_result,
    register,
    upper_result,
)

SOFTSIGN = "Softsign (arXiv 2605.31371)"
STOSIGN = "StoSignSGD (arXiv 2604.15416)"
DT = torch.float64

# Round-off allowance for float64 identities (relative to the size of the terms): far above the
# ~1e-15 round-off of the maps, far below any error a wrong formula makes.
FP_TOL = 1e-10


# ------------------------------------------------------------------------------------------
# The geometries every identity is checked on
# ------------------------------------------------------------------------------------------
VECTOR_DIM = 8
MATRIX_SHAPE = (6, 4)
TAU = SoftSign.EXAMPLE_TAU  # a temperature in the middle of the sign-like / SGD-like range


def _envelope() -> torch.Tensor:
    """StochasticSign's example envelope (with a zero entry, the 0/0 := 0 convention of StoSignSGD [SSG-DEF1])."""
    return StochasticSign.examples()["StochasticSign.mean"].envelope.to(DT)


def standard_geometries() -> dict[str, Geometry]:
    """Label → geometry for the identity checks: the :meth:`~convexlab.geometry.Geometry.examples`
    of every geometry class, found where they are defined (:func:`convexlab.geometry.base.geometry_classes`);
    the scalar and stochastic geometries first, then the matrix lifts."""
    classes = geometry_classes()
    ordered = [c for c in classes if c.event_ndim == 1] + [c for c in classes if c.event_ndim != 1]
    return {label: geo for c in ordered for label, geo in c.examples().items()}


def _sample_points(geo: Geometry, n: int, gen: torch.Generator) -> torch.Tensor:
    """Random dual points over several scales, so that both the linear and the saturated regime
    of every map are exercised."""
    shape = (n, *MATRIX_SHAPE) if geo.event_ndim == 2 else (n, VECTOR_DIM)
    z = torch.randn(shape, generator=gen, dtype=DT)
    scale = 10.0 ** (torch.rand((n,) + (1,) * (len(shape) - 1), generator=gen, dtype=DT) * 3 - 2)  # 1e-2..1e1
    return z * scale


def _inner(geo: Geometry, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum(dim=tuple(range(-geo.event_ndim, 0)))


def _sq_norm(geo: Geometry, a: torch.Tensor) -> torch.Tensor:
    return _inner(geo, a, a)


# ------------------------------------------------------------------------------------------
# Check functions
# ------------------------------------------------------------------------------------------
def fenchel_young_equality(geo: Geometry, ctx: CheckContext) -> CheckResult:
    r"""max relative |ψ(∇ψ*(m)) + ψ*(m) − ⟨m, ∇ψ*(m)⟩| over random m (should be 0)."""
    m = _sample_points(geo, ctx.size(256, 4096), ctx.generator(1))
    d = geo.direction(m)
    lhs = geo.regularizer(d) + geo.conjugate(m)
    rhs = _inner(geo, m, d)
    err = ((lhs - rhs).abs() / (1.0 + rhs.abs())).max().item()
    if not math.isfinite(err):
        err = float("inf")
    return identity_result(err, 0.0, FP_TOL, n_points=m.shape[0])


def fenchel_young_inequality(geo: Geometry, ctx: CheckContext) -> CheckResult:
    r"""min over random (m, d) of ψ(d) + ψ*(m) − ⟨m, d⟩ ≥ 0, with d drawn inside the domain,
    anywhere, and near the maximiser ∇ψ*(m) (relative to 1 + |⟨m, d⟩|)."""
    gen = ctx.generator(2)
    n = ctx.size(512, 8192)
    m = _sample_points(geo, n, gen)
    if geo.event_ndim == 2:
        raw = torch.randn(m.shape, generator=gen, dtype=DT)
        sig = torch.linalg.matrix_norm(raw, ord=2)[:, None, None]
        inside = raw / sig * torch.rand((n, 1, 1), generator=gen, dtype=DT)
    else:
        inside = torch.rand(m.shape, generator=gen, dtype=DT) * 2 - 1
    outside = torch.randn(m.shape, generator=gen, dtype=DT) * 2
    # near-maximisers ∇ψ*(m + noise): where the gap is smallest, so a too-small ψ* shows up
    near = geo.direction(m * (1 + 0.05 * torch.randn(m.shape, generator=gen, dtype=DT)))
    d = torch.cat([inside, outside, near])
    mm = torch.cat([m, m, m])
    gap = geo.regularizer(d) + geo.conjugate(mm) - _inner(geo, mm, d)
    finite = torch.isfinite(gap)
    scale = 1.0 + _inner(geo, mm, d).abs()
    rel = (gap / scale)[finite]
    worst = rel.min().item() if rel.numel() else 0.0
    return lower_result(worst, 0.0, slack=FP_TOL, n_pairs=int(finite.sum()))


def direction_is_autograd_of_conjugate(geo: Geometry, ctx: CheckContext) -> CheckResult:
    r"""max |∇ψ*(m) − autograd(ψ*)(m)| over random m (should be 0)."""
    m = _sample_points(geo, ctx.size(128, 2048), ctx.generator(3)).requires_grad_(True)
    (grad,) = torch.autograd.grad(geo.conjugate(m).sum(), m)
    with torch.no_grad():
        d = geo.direction(m)
    err = (d - grad).abs().max().item()
    return identity_result(err, 0.0, 1e-8, n_points=m.shape[0])


def smoothness_of_conjugate(geo: Geometry, ctx: CheckContext) -> CheckResult:
    r"""ψ μ-strongly convex ⇔ ψ* (1/μ)-smooth: max over pairs of
    2(ψ*(b) − ψ*(a) − ⟨∇ψ*(a), b − a⟩)/‖b − a‖² must not exceed 1/μ (‖·‖₂, Frobenius)."""
    mu = geo.strong_convexity
    if mu is None:
        raise ValueError(f"{geo!r} is not strongly convex; smoothness of its conjugate is not claimed")
    gen = ctx.generator(4)
    n = ctx.size(512, 8192)
    a = _sample_points(geo, n, gen)
    # pairs at every distance, including tiny steps around 0 where the curvature bound is attained
    step = _sample_points(geo, n, gen) * 10.0 ** (-3 * torch.rand((n,) + (1,) * geo.event_ndim, generator=gen, dtype=DT))
    a = torch.cat([a, 1e-3 * a])
    b = a + torch.cat([step, 1e-3 * step])
    ca, cb, lin = geo.conjugate(a), geo.conjugate(b), _inner(geo, geo.direction(a), b - a)
    den = _sq_norm(geo, b - a)
    ratio = 2 * (cb - ca - lin) / den
    # per-pair round-off of the quotient (cancellation in cb − ca − lin), subtracted so that only
    # curvature the arithmetic can resolve counts as a violation
    roundoff = 64 * torch.finfo(DT).eps * (ca.abs() + cb.abs() + lin.abs()) / den
    worst = (ratio - roundoff).max().item()
    return upper_result(worst, 1.0 / mu, slack=1e-9 / mu, mu=mu, max_raw_quotient=ratio.max().item())


def strong_convexity_of_regularizer(geo: Geometry, ctx: CheckContext) -> CheckResult:
    r"""Midpoint form of μ-strong convexity on the domain: min over pairs of
    8[(ψ(x) + ψ(y))/2 − ψ((x+y)/2)]/‖x − y‖² must be ≥ μ."""
    mu = geo.strong_convexity
    if mu is None:
        raise ValueError(f"{geo!r} is not strongly convex")
    gen = ctx.generator(5)
    n = ctx.size(512, 8192)
    # points of the domain: directions of random duals cover the interior and the boundary
    x = geo.direction(_sample_points(geo, n, gen))
    y = geo.direction(_sample_points(geo, n, gen))
    keep = _sq_norm(geo, x - y) > 1e-8  # the quotient is round-off below this distance
    x, y = x[keep], y[keep]
    gap = 0.5 * (geo.regularizer(x) + geo.regularizer(y)) - geo.regularizer(0.5 * (x + y))
    ratio = (8 * gap / _sq_norm(geo, x - y)).min().item()
    return lower_result(ratio, mu, slack=1e-6 * mu, mu=mu, n_pairs=int(keep.sum()))


# -- numeric suprema: scipy for scalars ---------------------------------------------------
def _scalar_sup(geo: SeparableGeometry, m: float) -> tuple[float, float]:
    """sup_d m·d − v(d) by bounded scalar maximisation (scipy), returning (value, argmax)."""
    from scipy.optimize import minimize_scalar

    bound = 1.0 if not isinstance(geo, Euclidean) else abs(m) + 1.0

    def neg(d: float) -> float:
        v = geo.elem_regularizer(torch.tensor(d, dtype=DT)).item()
        return -(m * d - v)

    res = minimize_scalar(neg, bounds=(-bound, bound), method="bounded", options={"xatol": 1e-12, "maxiter": 500})
    # the sup of a concave function on an interval may sit at an end point (sign-like maps)
    cands = [(-res.fun, res.x), (-neg(bound), bound), (-neg(-bound), -bound)]
    return max(cands)


def _scalar_grid(ctx: CheckContext) -> np.ndarray:
    k = ctx.size(25, 101)
    return np.concatenate([-np.logspace(-2, 1, k), np.logspace(-2, 1, k)])


def conjugate_equals_scalar_sup(geo: SeparableGeometry, ctx: CheckContext) -> CheckResult:
    r"""max relative |v*(m) − sup_d (m d − v(d))| over a grid of scalar m (scipy)."""
    errs = []
    for m in _scalar_grid(ctx):
        val, _ = _scalar_sup(geo, float(m))
        closed = geo.elem_conjugate(torch.tensor(m, dtype=DT)).item()
        errs.append(abs(closed - val) / (1 + abs(val)))
    return identity_result(max(errs), 0.0, 1e-8, n_points=len(errs), solver="scipy.optimize.minimize_scalar")


def direction_equals_scalar_argmax(geo: SeparableGeometry, ctx: CheckContext) -> CheckResult:
    r"""max |(v*)'(m) − argmax_d (m d − v(d))| over a grid of scalar m (scipy)."""
    errs = []
    for m in _scalar_grid(ctx):
        _, arg = _scalar_sup(geo, float(m))
        errs.append(abs(geo.elem_direction(torch.tensor(m, dtype=DT)).item() - arg))
    return identity_result(max(errs), 0.0, 1e-5, n_points=len(errs), solver="scipy.optimize.minimize_scalar")


# -- numeric suprema: cvxpy for vectors and matrices ---------------------------------------
def _cvxpy_regularizer(geo: Geometry, d):
    """ψ(d) as a cvxpy expression plus constraints (:meth:`~convexlab.geometry.Geometry.cvxpy_regularizer`)."""
    return geo.cvxpy_regularizer(d)


def cvxpy_supports(geo: Geometry) -> bool:
    try:
        import cvxpy as cp

        _cvxpy_regularizer(geo, cp.Variable(MATRIX_SHAPE if geo.event_ndim == 2 else VECTOR_DIM))
        return True
    except NotImplementedError:
        return False


def _cvxpy_sup(geo: Geometry, m: np.ndarray, reg_geo: Geometry | None = None):
    import cvxpy as cp

    d = cp.Variable(m.shape)
    reg, cons = _cvxpy_regularizer(reg_geo or geo, d)
    prob = cp.Problem(cp.Maximize(cp.sum(cp.multiply(m, d)) - reg), cons)
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    if prob.status not in ("optimal", "optimal_inaccurate"):
        raise RuntimeError(f"cvxpy status {prob.status}")
    return float(prob.value), np.asarray(d.value)


def _cvxpy_points(geo: Geometry, ctx: CheckContext) -> torch.Tensor:
    return _sample_points(geo, ctx.size(4, 16), ctx.generator(6))


def conjugate_equals_cvxpy_sup(geo: Geometry, ctx: CheckContext, reg_geo: Geometry | None = None) -> CheckResult:
    r"""max relative |ψ*(m) − sup_d ⟨m, d⟩ − ψ(d)| with the sup solved by cvxpy (Clarabel).

    ``reg_geo`` (default ``geo``) supplies the cvxpy form of ψ; tests pass a different one to
    show the check fails when ψ* is not the conjugate of ψ."""
    errs = []
    for m in _cvxpy_points(geo, ctx):
        val, _ = _cvxpy_sup(geo, m.numpy(), reg_geo)
        errs.append(abs(geo.conjugate(m).item() - val) / (1 + abs(val)))
    return identity_result(max(errs), 0.0, 1e-6, n_points=len(errs), solver="cvxpy/Clarabel")


def direction_equals_cvxpy_argmax(geo: Geometry, ctx: CheckContext, reg_geo: Geometry | None = None) -> CheckResult:
    r"""max |∇ψ*(m) − argmax_d ⟨m, d⟩ − ψ(d)| with the argmax solved by cvxpy (Clarabel)."""
    errs = []
    for m in _cvxpy_points(geo, ctx):
        _, arg = _cvxpy_sup(geo, m.numpy(), reg_geo)
        errs.append(float(np.abs(geo.direction(m).numpy() - arg).max()))
    return identity_result(max(errs), 0.0, 1e-4, n_points=len(errs), solver="cvxpy/Clarabel")


def step_path_equals_direction(geo: Geometry, ctx: CheckContext) -> CheckResult:
    r"""The optimizers' multi-tensor path is the certified map: max relative difference between
    ``step_directions`` / ``add_direction_`` (what every registry optimizer calls) and the validated
    ∇ψ*(m) these identity checks certify, on lists of tensors of several shapes; for a separable
    geometry also with per-coordinate scales σ (∇ψ_σ*(m) = ∇ψ*(m/σ), the AdamW metric and the
    StoSignSGD envelope) and for the fused x ← x + α∇ψ_σ*(m)."""
    gen = ctx.generator(11)
    pts = _sample_points(geo, ctx.size(64, 1024), gen)
    ms = list(pts.unbind(0))
    if geo.event_ndim == 1:  # tensors of several shapes, as in a model
        ms = [pts[:8].reshape(8, 2, -1), pts[8:9].reshape(-1), *pts[9:].unbind(0)]
    ref = [geo.direction(m) for m in ms]
    err = _max_rel(geo.step_directions(ms), ref)
    if isinstance(geo, SeparableGeometry):
        ss = [torch.rand(m.shape, generator=gen, dtype=DT) * 4 + 0.25 for m in ms]
        ref_s = [geo.direction(m / s) for m, s in zip(ms, ss)]
        err = max(err, _max_rel(geo.step_directions(ms, scales=ss), ref_s))
        xs = [torch.randn(m.shape, generator=gen, dtype=DT) for m in ms]
        want = [x - 0.3 * d for x, d in zip(xs, ref_s)]
        geo.add_direction_(xs, ms, -0.3, scales=ss)
        err = max(err, _max_rel(xs, want))
    xs = [torch.randn(m.shape, generator=gen, dtype=DT) for m in ms]
    want = [x - 0.3 * d for x, d in zip(xs, ref)]
    ys = [x.clone() for x in xs]
    geo.add_direction_(xs, ms, -0.3)
    err = max(err, _max_rel(xs, want))
    # with the inputs handed over as scratch (a Lion interpolation, a Nesterov look-ahead)
    geo.add_direction_(ys, [m.clone() for m in ms], -0.3, scratch=True)
    err = max(err, _max_rel(ys, want))
    return identity_result(err, 0.0, FP_TOL, n_tensors=len(ms))


def _max_rel(got: list, want: list) -> float:
    err = 0.0
    for a, b in zip(got, want):
        if a.shape != b.shape:
            return float("inf")
        e = ((a - b).abs() / (1.0 + b.abs())).max().item() if b.numel() else 0.0
        err = max(err, e if math.isfinite(e) else float("inf"))
    return err


def step_path_sample_is_unbiased(geo: Geometry, ctx: CheckContext) -> CheckResult:
    r"""The stochastic multi-tensor path draws values in {−1, 0, 1} whose mean is ∇ψ*(m): the largest
    |z| = |mean − ∇ψ*(m)|/stderr over coordinates (stderr from the exact variance 1 − ∇ψ*(m)²), bound 5
    (a Bonferroni-safe level for 8 coordinates)."""
    gen = ctx.generator(12)
    n = ctx.size(20000, 200000)
    m = _sample_points(geo, 1, gen)[0]
    G = geo.envelope.to(DT)
    draws = geo.step_directions([m.expand(n, -1).contiguous()], scales=[G.expand(n, -1)], generator=gen)[0]
    if not bool(((draws == 1) | (draws == -1) | (draws == 0)).all()):
        return upper_result(float("inf"), 5.0, n_draws=n)
    e = geo.direction(m)
    var = (1.0 - e * e).clamp_min(0.0)
    dev = (draws.mean(0) - e).abs()
    se = (var / n).sqrt()
    z = torch.where(se > 0, dev / torch.where(se > 0, se, torch.ones_like(se)), torch.where(dev > 0, math.inf, 0.0))
    return upper_result(float(z.max()), 5.0, n_draws=n)


# ------------------------------------------------------------------------------------------
# Registration
# ------------------------------------------------------------------------------------------
def _source_for(geo: Geometry, stem: str) -> tuple[str, str]:
    """Source and provenance tag of one (geometry, identity) pair (docs/statements.md): the
    framework statement, the Fenchel–Young equality, is the authors' [THR] (Softsign [SS-FW]) for
    every deterministic geometry; everything else is the geometry's own :attr:`source` and
    :meth:`provenance_of`."""
    if stem.startswith("fenchel_young.equality") and not geo.stochastic:
        return geo.source.replace("[SS-FAMILY]", "[SS-FW]"), "THR"
    return geo.source, geo.provenance_of(stem)


def _register_geometry_checks() -> None:
    for label, geo in standard_geometries().items():
        items = [
            ("fenchel_young.equality", "identity", fenchel_young_equality,
             "ψ(∇ψ*(m)) + ψ*(m) = ⟨m, ∇ψ*(m)⟩ at random m"),
            ("fenchel_young.inequality", "lower", fenchel_young_inequality,
             "ψ(d) + ψ*(m) − ⟨m, d⟩ ≥ 0 at random (m, d)"),
            ("direction.autograd", "identity", direction_is_autograd_of_conjugate,
             "∇ψ*(m) equals autograd of the closed-form ψ*"),
        ]
        if geo.strong_convexity is not None:
            items += [
                ("strong_convexity.regularizer", "lower", strong_convexity_of_regularizer,
                 "midpoint inequality: ψ is μ-strongly convex (‖·‖₂ / Frobenius)"),
                ("smoothness.conjugate", "upper", smoothness_of_conjugate,
                 "ψ* is (1/μ)-smooth: curvature quotient ≤ 1/μ"),
            ]
        if isinstance(geo, SeparableGeometry) and geo.absolutely_symmetric:
            items += [
                ("conjugate.scalar_sup", "identity", conjugate_equals_scalar_sup,
                 "closed-form v*(m) = sup_d m·d − v(d) (scipy, scalar grid)"),
                ("direction.scalar_argmax", "identity", direction_equals_scalar_argmax,
                 "(v*)'(m) = argmax_d m·d − v(d) (scipy, scalar grid)"),
            ]
        if not geo.stochastic:
            items.append(("step_path", "identity", step_path_equals_direction,
                          "the optimizers' multi-tensor step_directions / add_direction_ equal the certified ∇ψ*"))
        else:
            items.append(("step_path.sample", "upper", step_path_sample_is_unbiased,
                          "the optimizers' draws are signs with mean ∇ψ*(m) (|z| ≤ 5)"))
        if cvxpy_supports(geo):
            items += [
                ("conjugate.cvxpy_sup", "identity", conjugate_equals_cvxpy_sup,
                 "closed-form ψ*(m) = sup_d ⟨m,d⟩ − ψ(d) (cvxpy)"),
                ("direction.cvxpy_argmax", "identity", direction_equals_cvxpy_argmax,
                 "∇ψ*(m) = argmax_d ⟨m,d⟩ − ψ(d) (cvxpy)"),
            ]
        for stem, kind, fn, desc in items:
            src, tag = _source_for(geo, stem)
            register(Check(f"geometry.{stem}[{label}]", src, tag, kind, f"{desc}; {geo!r}", partial(fn, geo)))


_register_geometry_checks()


def _register_lattice_draw() -> None:
    # StoSignSGD's and SignConverted's default draw: StochasticSign's maps (certified above) with the
    # noise on a 16-bit lattice; what differs, the draw, is certified here
    src, tag = _source_for(LatticeStochasticSign(_envelope()), "step_path.sample")
    register(Check("geometry.step_path.sample[LatticeStochasticSign]", src, tag, "upper",
                   "the optimizers' 16-bit-lattice draws are signs with mean ∇ψ*(m) (|z| ≤ 5); "
                   "LatticeStochasticSign(G)", partial(step_path_sample_is_unbiased, LatticeStochasticSign(_envelope()))))


_register_lattice_draw()
