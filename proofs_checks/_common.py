r"""Shared helpers of the ``proofs_checks`` derivations: the :class:`Claim` record and the provers.

Each prover returns a verdict that comes from sympy actually establishing something:

* :func:`zero_claim`: an expression is identically zero. The residual is simplified either as is
  (``simplify``, then ``rewrite(exp)`` + ``simplify``) or after a *rationalising substitution*
  ``subs`` (e.g. ``y = ln u`` with ``u > 0`` turns tanh, cosh and the entropy logs into rational
  functions and logs of positive factors; ``y = (u² − 1)/(2u)`` turns ``√(1 + y²)`` into
  ``(u² + 1)/(2u)``). The substitution must map a positive parameter *onto* the domain of the claim,
  so an identity in the parameter is the identity on the whole domain. A numerical evaluation at
  rational points (30 digits) is a second line of evidence; both must agree for ``holds``.
* :func:`sign_claim`: an expression is ≥ 0 (or > 0) on a domain. After the same kind of substitution
  the expression is cancelled and factored, and sympy's assumption system must answer
  ``is_nonnegative`` (``is_positive``) with ``True`` from the signs of the factors.
* :func:`resolve_on_interval`: removes ``Abs``, ``sign``, ``Max``, ``Min`` and ``Piecewise`` from an
  expression in one real variable on an interval, innermost node first: the kinks of the node (the
  real roots of its arguments / of the differences of its arguments / of its conditions, found by
  ``sympy.solve``) split the interval, and on each open sub-interval the node is constant in form,
  so the branch chosen at one interior point is the branch on the whole sub-interval.

References: see the module docstrings of the individual derivations.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

import sympy as sp

__all__ = [
    "Claim",
    "main",
    "rationalize",
    "symbolic_zero",
    "numeric_max_abs",
    "zero_claim",
    "sign_claim",
    "resolve_on_interval",
    "all_claim",
    "interval_points",
    "report",
    "less",
    "representative",
    "stationary_points",
    "legendre_claims",
    "curvature_claims",
    "taylor_claim",
    "tau_limit_claims",
    "temperature_claims",
]

# Numerical spot-checks are evaluated with 30 significant digits; an identity is accepted
# numerically when every residual is below this (the residuals of true identities are ~1e-30).
NUMERIC_TOL = 1e-20
_DIGITS = 30


@dataclass(frozen=True)
class Claim:
    r"""One checked statement.

    Attributes:
        name: short identifier, unique within a module (``"fenchel_young"``).
        statement: the mathematics in words (``"V(∇V*(y)) + V*(y) = y ∇V*(y) for all real y"``).
        holds: ``True`` only when sympy proved the statement (and the numeric spot-check agreed).
        detail: the evidence: the simplified residual, the factored form, the points checked.
    """

    name: str
    statement: str
    holds: bool
    detail: str

    def line(self) -> str:
        """One report line: ``PASS name: detail``."""
        return f"{'PASS' if self.holds else 'FAIL'} {self.name}: {self.detail}"


def main(run: Callable[..., list[Claim]]) -> int:
    """Print one line per claim of ``run()``; return 1 if any claim fails (or there are none), else 0."""
    claims = run(verbose=False)
    for claim in claims:
        print(claim.line())
    failed = [c.name for c in claims if not c.holds]
    print(f"{len(claims) - len(failed)}/{len(claims)} claims hold")
    return 1 if failed or not claims else 0


def report(verbose: bool, claim: Claim) -> Claim:
    """Print ``claim.line()`` when ``verbose``; return the claim unchanged."""
    if verbose:
        print(claim.line())
    return claim


# --------------------------------------------------------------------------- rationalisation


def rationalize(expr: sp.Expr) -> sp.Expr:
    r"""Factor the arguments of logs and ``Abs`` and the bases of fractional powers; expand the logs.

    With positive parameters this turns ``log((u² + 1)/(2u))`` into
    ``log(u² + 1) − log 2 − log u`` and ``√((u² + 1)²/(4u²))`` into ``(u² + 1)/(2u)``
    (sympy splits powers and logs of products, and drops ``Abs``, only when it knows the signs).
    """
    expr = expr.replace(
        lambda a: isinstance(a, sp.log),
        lambda a: sp.log(sp.factor(sp.cancel(a.args[0]))),
    )
    expr = expr.replace(
        lambda a: a.is_Pow and not a.exp.is_Integer,
        lambda a: sp.factor(sp.cancel(a.base)) ** a.exp,
    )
    expr = expr.replace(
        lambda a: isinstance(a, sp.Abs),
        lambda a: sp.Abs(sp.factor(sp.cancel(a.args[0]))),
    )
    return sp.expand_log(expr)


def _prepare(expr: sp.Expr, subs: Mapping | None) -> sp.Expr:
    if not subs:
        return expr
    return rationalize(sp.sympify(expr).rewrite(sp.exp).subs(subs))


def symbolic_zero(expr: sp.Expr, subs: Mapping | None = None) -> tuple[bool, sp.Expr, str]:
    r"""Try to prove ``expr == 0`` identically; return ``(proved, residual, how)``.

    With ``subs`` the residual is first rewritten in ``exp``, substituted and rationalised
    (see :func:`rationalize`), then simplified. Without it: ``simplify`` and, if that is not 0,
    ``simplify(expr.rewrite(exp))``.
    """
    expr = sp.sympify(expr)
    if subs:
        residual = sp.simplify(_prepare(expr, subs))
        how = "after " + ", ".join(f"{k} = {v}" for k, v in subs.items())
        return residual == 0, residual, how
    residual = sp.simplify(expr)
    if residual == 0:
        return True, residual, "simplify"
    residual_exp = sp.simplify(expr.rewrite(sp.exp))
    if residual_exp == 0:
        return True, residual_exp, "rewrite(exp) + simplify"
    return False, residual, "simplify"


def numeric_max_abs(expr: sp.Expr, points: Iterable[Mapping]) -> float:
    """Largest ``|expr|`` over the points (30 significant digits); ``inf`` if not finite."""
    worst = 0.0
    for point in points:
        value = sp.sympify(expr).evalf(_DIGITS, subs=dict(point))
        if value.free_symbols or not value.is_number:
            return float("inf")
        value = complex(value)
        if value != value:  # NaN
            return float("inf")
        worst = max(worst, abs(value))
    return worst


def _fmt_points(points: Sequence[Mapping]) -> str:
    return f"{len(points)} rational point{'s' if len(points) != 1 else ''}"


def zero_claim(
    name: str,
    statement: str,
    expr: sp.Expr,
    *,
    subs: Mapping | None = None,
    points: Sequence[Mapping] = (),
    verbose: bool = False,
) -> Claim:
    r"""Claim that ``expr`` (a residual ``lhs − rhs``) is identically zero.

    ``holds`` requires the symbolic proof (:func:`symbolic_zero`) *and*, when ``points`` are given,
    every numerical residual below ``NUMERIC_TOL``.
    """
    proved, residual, how = symbolic_zero(expr, subs)
    detail = f"residual {'simplifies to 0' if proved else 'is ' + sp.sstr(residual)} ({how})"
    holds = proved
    if points:
        worst = numeric_max_abs(expr, points)
        holds = holds and worst < NUMERIC_TOL
        detail += f"; numeric max|residual| = {worst:.1e} at {_fmt_points(points)}"
    return report(verbose, Claim(name, statement, bool(holds), detail))


def sign_claim(
    name: str,
    statement: str,
    expr: sp.Expr,
    *,
    subs: Mapping | None = None,
    strict: bool = False,
    points: Sequence[Mapping] = (),
    verbose: bool = False,
) -> Claim:
    r"""Claim that ``expr ≥ 0`` (``> 0`` when ``strict``) on the domain that ``subs`` parametrises.

    The substituted expression is cancelled and factored; sympy's assumptions must then decide the
    sign from the factors (squares, positive parameters, polynomials with positive coefficients).
    """
    prepared = sp.factor(sp.cancel(sp.together(_prepare(sp.sympify(expr), subs))))
    verdict = prepared.is_positive if strict else prepared.is_nonnegative
    relation = "> 0" if strict else ">= 0"
    where = (" with " + ", ".join(f"{k} = {v}" for k, v in subs.items())) if subs else ""
    detail = f"{sp.sstr(prepared)} {relation}: sympy says {verdict}{where}"
    holds = verdict is True
    if points:
        values = [sp.sympify(expr).evalf(_DIGITS, subs=dict(p)) for p in points]
        ok = all(v.is_number and (v > 0 if strict else v >= -NUMERIC_TOL) for v in values)
        holds = holds and ok
        detail += f"; numeric min = {min(float(v) for v in values):.3g} at {_fmt_points(points)}"
    return report(verbose, Claim(name, statement, bool(holds), detail))


def all_claim(name: str, statement: str, parts: Sequence[Claim], *, verbose: bool = False) -> Claim:
    """Conjunction of sub-claims (e.g. one per interval), with their details joined."""
    holds = bool(parts) and all(p.holds for p in parts)
    detail = " | ".join(f"{p.name}: {p.detail}" for p in parts) or "no sub-claims"
    return report(verbose, Claim(name, statement, holds, detail))


# --------------------------------------------------------------------------- piecewise resolution

_KINKED = (sp.Abs, sp.sign, sp.Max, sp.Min, sp.Piecewise)


def _is_kinked_in(node: sp.Basic, var: sp.Symbol) -> bool:
    return isinstance(node, _KINKED) and var in node.free_symbols


def _innermost_kink(expr: sp.Basic, var: sp.Symbol) -> sp.Basic | None:
    for node in sp.postorder_traversal(expr):
        if _is_kinked_in(node, var):
            return node
    return None


def _real_roots(expr: sp.Expr, var: sp.Symbol) -> list[sp.Expr]:
    expr = sp.sympify(expr)
    if var not in expr.free_symbols:
        return []
    roots = sp.solve(expr, var, dict=False)
    return [r for r in roots if r.is_real is not False]


def _kinks(node: sp.Basic, var: sp.Symbol) -> list[sp.Expr]:
    if isinstance(node, (sp.Abs, sp.sign)):
        return _real_roots(node.args[0], var)
    if isinstance(node, (sp.Max, sp.Min)):
        return [r for a, b in itertools.combinations(node.args, 2) for r in _real_roots(a - b, var)]
    if isinstance(node, sp.Piecewise):
        roots = []
        for _, cond in node.args:
            for rel in sp.sympify(cond).atoms(sp.core.relational.Relational):
                roots += _real_roots(rel.lhs - rel.rhs, var)
        return roots
    raise TypeError(f"not a kinked node: {node}")


def less(a: sp.Expr, b: sp.Expr) -> bool:
    """``a < b`` decided from the symbols' assumptions (±oo allowed); ``ValueError`` if undecidable."""
    if a == b:
        return False
    if a is sp.S.NegativeInfinity or b is sp.S.Infinity:
        return True
    if a is sp.S.Infinity or b is sp.S.NegativeInfinity:
        return False
    verdict = (b - a).is_positive
    if verdict is None:
        raise ValueError(f"cannot order {a} and {b} with the symbols' assumptions")
    return bool(verdict)


def representative(lo: sp.Expr, hi: sp.Expr) -> sp.Expr:
    """A point strictly inside (lo, hi) (midpoint, or one unit inside an infinite end)."""
    if lo is sp.S.NegativeInfinity and hi is sp.S.Infinity:
        return sp.Rational(1, 3)
    if lo is sp.S.NegativeInfinity:
        return hi - 1
    if hi is sp.S.Infinity:
        return lo + 1
    return (lo + hi) / 2


def _branch(node: sp.Basic, var: sp.Symbol, point: sp.Expr) -> sp.Expr:
    at = lambda e: sp.simplify(sp.sympify(e).subs(var, point))  # noqa: E731
    if isinstance(node, (sp.Abs, sp.sign)):
        arg = node.args[0]
        value = at(arg)
        if value.is_positive:
            return arg if isinstance(node, sp.Abs) else sp.S.One
        if value.is_negative:
            return -arg if isinstance(node, sp.Abs) else sp.S.NegativeOne
        if value.is_zero:
            # The argument has a root inside an interval free of roots only if it is identically 0.
            return sp.S.Zero
        raise ValueError(f"sign of {arg} at {var} = {point} is undecidable")
    if isinstance(node, (sp.Max, sp.Min)):
        values = [at(a) for a in node.args]
        for i, vi in enumerate(values):
            others = [vj for j, vj in enumerate(values) if j != i]
            diffs = [(vi - vj) if isinstance(node, sp.Max) else (vj - vi) for vj in others]
            if all(sp.simplify(dv).is_nonnegative for dv in diffs):
                return node.args[i]
        raise ValueError(f"cannot pick the branch of {node} at {var} = {point}")
    if isinstance(node, sp.Piecewise):
        for piece, cond in node.args:
            verdict = sp.simplify(sp.sympify(cond).subs(var, point))
            if verdict is sp.true:
                return piece
            if verdict is not sp.false:
                raise ValueError(f"condition {cond} undecidable at {var} = {point}")
        raise ValueError(f"no branch of {node} holds at {var} = {point}")
    raise TypeError(f"not a kinked node: {node}")


def resolve_on_interval(
    expr: sp.Expr, var: sp.Symbol, lo: sp.Expr = sp.S.NegativeInfinity, hi: sp.Expr = sp.S.Infinity
) -> list[tuple[sp.Expr, sp.Expr, sp.Expr]]:
    r"""Split the open interval (lo, hi) so that ``expr`` is free of kinks on each piece.

    Returns ``[(lo_i, hi_i, expr_i), ...]``, ordered, where on (lo_i, hi_i) the expression equals
    ``expr_i`` (no ``Abs``/``sign``/``Max``/``Min``/``Piecewise`` in ``var``). Endpoints may contain
    positive symbols (e.g. ``±G``); their order must be decidable from the assumptions.
    Raises ``ValueError`` when a kink's position or a branch cannot be decided.
    """
    expr = sp.sympify(expr)
    node = _innermost_kink(expr, var)
    if node is None:
        return [(lo, hi, expr)]
    inside = [k for k in _kinks(node, var) if less(lo, k) and less(k, hi)]
    cuts = sorted(set(inside), key=functools.cmp_to_key(lambda a, b: -1 if less(a, b) else 1))
    edges = [lo, *cuts, hi]
    out: list[tuple[sp.Expr, sp.Expr, sp.Expr]] = []
    for a, b in zip(edges[:-1], edges[1:]):
        chosen = _branch(node, var, representative(a, b))
        out += resolve_on_interval(expr.xreplace({node: chosen}), var, a, b)
    return out


def interval_points(lo: sp.Expr, hi: sp.Expr, count: int = 3) -> list[sp.Expr]:
    """A few rational points strictly inside (lo, hi) (numeric endpoints assumed)."""
    if lo is sp.S.NegativeInfinity and hi is sp.S.Infinity:
        return [sp.Rational(-7, 3), sp.Rational(1, 5), sp.Rational(5, 2)][:count]
    if lo is sp.S.NegativeInfinity:
        return [hi - sp.Rational(k, 3) for k in (1, 4, 11)][:count]
    if hi is sp.S.Infinity:
        return [lo + sp.Rational(k, 3) for k in (1, 4, 11)][:count]
    return [lo + (hi - lo) * sp.Rational(k, 4) for k in (1, 2, 3)][:count]


# --------------------------------------------------------------------------- Legendre pairs
# Shared by the entropic and the algebraic derivations (Softsign [SS-FAMILY]): a smooth, even, strictly
# convex V on (−1, 1) whose derivative V' maps (−1, 1) onto ℝ. Each function takes the ingredients
# as arguments, so a wrong ingredient makes a claim fail.


def stationary_points(
    V: sp.Expr, d: sp.Symbol, y: sp.Symbol, y_subs: Mapping
) -> list[sp.Expr]:
    r"""Roots d(y) of V'(d) = y found by ``sympy.solve``, kept only if V'(d(y)) − y ≡ 0 is proved.

    (``solve`` may return spurious branches after squaring, e.g. ``−y/√(1 + y²)`` for the
    algebraic V; those fail the check and are dropped.)
    """
    dV = sp.diff(V, d)
    roots = sp.solve(sp.Eq(dV, y), d)
    return [r for r in roots if symbolic_zero(dV.subs(d, r) - y, y_subs)[0]]


def legendre_claims(
    V: sp.Expr,
    V_star: sp.Expr,
    grad_V_star: sp.Expr,
    *,
    d: sp.Symbol,
    y: sp.Symbol,
    d_subs: Mapping,
    y_subs: Mapping,
    d_points: Sequence[Mapping],
    y_points: Sequence[Mapping],
    verbose: bool = False,
) -> list[Claim]:
    r"""Derive V*(y) = sup_d y d − V(d) from V'(d) = y and compare with the claimed V*, ∇V*.

    Claims: the unique stationary point is ∇V*(y); the value y d − V(d) there is V*(y); (V*)' = ∇V*;
    ∇V*∘V' = id on (−1, 1) and V'∘∇V* = id on ℝ; Fenchel–Young equality
    V(∇V*(y)) + V*(y) = y ∇V*(y); V*(0) = 0 and V* is even. (Strict concavity of d ↦ y d − V(d),
    which makes the stationary point the maximiser, is the curvature claim V'' > 0.)
    """
    out: list[Claim] = []
    dV = sp.diff(V, d)
    roots = stationary_points(V, d, y, y_subs)
    if len(roots) != 1:
        out.append(report(verbose, Claim(
            "stationary_point", "V'(d) = y has exactly one real solution d(y)", False,
            f"sympy.solve gave {len(roots)} verified roots: {roots}")))
        return out
    root = roots[0]
    stat = zero_claim(
        "stationary_point",
        f"the unique solution of V'(d) = y is d = ∇V*(y) = {grad_V_star} (found by sympy.solve: {root})",
        root - grad_V_star, subs=y_subs, points=y_points, verbose=verbose)
    out.append(stat)
    value = y * root - V.subs(d, root)
    out.append(zero_claim(
        "conjugate_value",
        f"sup_d y d − V(d) = y d(y) − V(d(y)) = {V_star}",
        value - V_star, subs=y_subs, points=y_points, verbose=verbose))
    out.append(zero_claim(
        "gradient_of_conjugate", f"d/dy V*(y) = {grad_V_star}",
        sp.diff(V_star, y) - grad_V_star, subs=y_subs, points=y_points, verbose=verbose))
    out.append(zero_claim(
        "inverse_on_primal", "∇V*(V'(d)) = d on (−1, 1)",
        grad_V_star.subs(y, dV) - d, subs=d_subs, points=d_points, verbose=verbose))
    out.append(zero_claim(
        "inverse_on_dual", "V'(∇V*(y)) = y on ℝ",
        dV.subs(d, grad_V_star) - y, subs=y_subs, points=y_points, verbose=verbose))
    out.append(zero_claim(
        "fenchel_young", "V(∇V*(y)) + V*(y) = y ∇V*(y) on ℝ (Fenchel–Young equality)",
        V.subs(d, grad_V_star) + V_star - y * grad_V_star,
        subs=y_subs, points=y_points, verbose=verbose))
    out.append(all_claim("conjugate_even_and_zero_at_0", "V*(0) = 0 and V*(−y) = V*(y)", [
        zero_claim("V*(0)", "V*(0) = 0", V_star.subs(y, 0)),
        zero_claim("V*(-y)-V*(y)", "evenness", V_star.subs(y, -y) - V_star,
                   subs=y_subs, points=y_points),
    ], verbose=verbose))
    return out


def curvature_claims(
    V: sp.Expr,
    V_star: sp.Expr,
    V_dd: sp.Expr,
    V_star_dd: sp.Expr,
    mu: sp.Expr,
    *,
    d: sp.Symbol,
    y: sp.Symbol,
    d_subs: Mapping,
    y_subs: Mapping,
    d_points: Sequence[Mapping],
    y_points: Sequence[Mapping],
    verbose: bool = False,
) -> list[Claim]:
    r"""V'' = V_dd ≥ μ on (−1, 1) (μ-strong convexity) and (V*)'' = V_star_dd ≤ 1/μ on ℝ."""
    mu = sp.sympify(mu)
    return [
        zero_claim("second_derivative", f"V''(d) = {V_dd}", sp.diff(V, d, 2) - V_dd,
                   subs=d_subs, points=d_points, verbose=verbose),
        sign_claim("strong_convexity", f"V''(d) − {mu} ≥ 0 on (−1, 1) ({mu}-strongly convex)",
                   sp.diff(V, d, 2) - mu, subs=d_subs, points=d_points, verbose=verbose),
        zero_claim("conjugate_second_derivative", f"(V*)''(y) = {V_star_dd}",
                   sp.diff(V_star, y, 2) - V_star_dd, subs=y_subs, points=y_points,
                   verbose=verbose),
        sign_claim("conjugate_smoothness", f"1/{mu} − (V*)''(y) ≥ 0 on ℝ (1/{mu}-smooth)",
                   1 / mu - sp.diff(V_star, y, 2), subs=y_subs, points=y_points,
                   verbose=verbose),
    ]


def taylor_claim(
    name: str, f: sp.Expr, var: sp.Symbol, poly: sp.Expr, order: int, *, verbose: bool = False
) -> Claim:
    r"""``series(f, var, 0, order)`` minus ``O(var**order)`` equals ``poly``."""
    series = sp.series(f, var, 0, order).removeO()
    return zero_claim(name, f"{f} = {poly} + O({var}^{order})", sp.expand(series - poly),
                      verbose=verbose)


def tau_limit_claims(
    V_star: sp.Expr, grad_V_star: sp.Expr, *, y: sp.Symbol, verbose: bool = False
) -> list[Claim]:
    r"""The temperature limits of Softsign [SS-LIMITS], per coordinate, for g ∈ ℝ (resp. g > 0):

    τ → 0: V*(τg)/τ² → g²/2 and ∇V*(τg)/τ → g (momentum SGD with step δτ);
    τ → ∞: V*(τg)/τ → |g| and ∇V*(τg) → sign g (sign descent), shown for g > 0 (V* even, ∇V* odd).
    """
    tau = sp.Symbol("tau", positive=True)
    g = sp.Symbol("g", real=True)
    gp = sp.Symbol("g", positive=True)
    odd = zero_claim("odd", "∇V* odd", grad_V_star.subs(y, -y) + grad_V_star)
    checks = [
        ("tau_to_0_value", "V*(τg)/τ² → g²/2 as τ → 0⁺", V_star.subs(y, tau * g) / tau**2, 0, g**2 / 2),
        ("tau_to_0_direction", "∇V*(τg)/τ → g as τ → 0⁺", grad_V_star.subs(y, tau * g) / tau, 0, g),
        ("tau_to_inf_value", "V*(τg)/τ → |g| as τ → ∞ (g > 0; V* even)",
         V_star.subs(y, tau * gp) / tau, sp.oo, gp),
        ("tau_to_inf_direction", "∇V*(τg) → sign g as τ → ∞ (g > 0; ∇V* odd)",
         grad_V_star.subs(y, tau * gp), sp.oo, sp.S.One),
    ]
    out = []
    for name, statement, f, at, want in checks:
        lim = sp.limit(f, tau, at)
        claim = zero_claim(name, statement, lim - want)
        claim = Claim(name, statement, claim.holds, f"limit = {lim}; " + claim.detail)
        if at is sp.oo and "direction" in name:
            claim = Claim(name, statement, claim.holds and odd.holds,
                          claim.detail + f"; oddness of ∇V*: {odd.detail}")
        out.append(report(verbose, claim))
    return out


def temperature_claims(
    V: sp.Expr,
    V_star: sp.Expr,
    grad_V_star: sp.Expr,
    psi_star: sp.Expr,
    grad_psi_star: sp.Expr,
    *,
    d: sp.Symbol,
    y: sp.Symbol,
    m: sp.Symbol,
    tau: sp.Symbol,
    m_subs: Mapping,
    m_points: Sequence[Mapping],
    reference: tuple[sp.Expr, sp.Expr, float] | None = None,
    verbose: bool = False,
) -> list[Claim]:
    r"""Temperature form ψ_τ = V/τ (Softsign [SS-FW]): derive ψ_τ*(m) = sup_d m d − V(d)/τ.

    Claims: the stationary point of m d − V(d)/τ is ∇ψ_τ*(m); the value there is ψ_τ*(m);
    ψ_τ*(m) = V*(τm)/τ and ∇ψ_τ*(m) = ∇V*(τm); the relaxed step argmin_d m d + V(d)/τ is
    −∇ψ_τ*(m) (optionally compared with a reference value (τ, m, d) from [SS-IDCHECKS]).
    """
    out: list[Claim] = []
    objective = m * d - V / tau
    roots = [r for r in sp.solve(sp.Eq(sp.diff(objective, d), 0), d)
             if symbolic_zero(sp.diff(objective, d).subs(d, r), m_subs)[0]]
    if len(roots) != 1:
        return [report(verbose, Claim("temperature_stationary_point",
                                    "m − V'(d)/τ = 0 has exactly one solution", False,
                                    f"verified roots: {roots}"))]
    root = roots[0]
    out.append(zero_claim(
        "temperature_stationary_point", f"argmax_d m d − V(d)/τ = ∇ψ_τ*(m) = {grad_psi_star}",
        root - grad_psi_star, subs=m_subs, points=m_points, verbose=verbose))
    out.append(zero_claim(
        "temperature_conjugate_value", f"ψ_τ*(m) = sup_d m d − V(d)/τ = {psi_star}",
        objective.subs(d, root) - psi_star, subs=m_subs, points=m_points, verbose=verbose))
    out.append(zero_claim(
        "temperature_scaling", "ψ_τ*(m) = V*(τm)/τ",
        psi_star - V_star.subs(y, tau * m) / tau, subs=m_subs, points=m_points, verbose=verbose))
    out.append(zero_claim(
        "temperature_direction", "∇ψ_τ*(m) = ∇V*(τm)",
        grad_psi_star - grad_V_star.subs(y, tau * m),
        subs=m_subs, points=m_points, verbose=verbose))
    out.append(zero_claim(
        "temperature_gradient", "d/dm ψ_τ*(m) = ∇ψ_τ*(m)",
        sp.diff(psi_star, m) - grad_psi_star,
        subs=m_subs, points=m_points, verbose=verbose))
    step_obj = m * d + V / tau
    steps = [r for r in sp.solve(sp.Eq(sp.diff(step_obj, d), 0), d)
             if symbolic_zero(sp.diff(step_obj, d).subs(d, r), m_subs)[0]]
    step_claim = zero_claim(
        "relaxed_step", "argmin_d m d + V(d)/τ = −∇ψ_τ*(m) (the SoftSignum/soft-sign step)",
        (steps[0] + grad_psi_star) if len(steps) == 1 else sp.S.One,
        subs=m_subs, points=m_points)
    if reference is not None and len(steps) == 1:
        tau0, m0, want = reference
        got = float(steps[0].subs({tau: tau0, m: m0}).evalf(_DIGITS))
        ok = abs(got - want) < 5e-7
        step_claim = Claim(step_claim.name,
                           step_claim.statement + f"; at τ = {tau0}, m = {m0} the step is {want}",
                           step_claim.holds and ok,
                           step_claim.detail + f"; reference τ={tau0}, m={m0}: {got:.7f} vs {want}")
    out.append(report(verbose, step_claim))
    return out
