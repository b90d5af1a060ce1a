r"""Box-constrained quadratic: its conjugate is the Huber function and the update map is clip.

Claim. For V(d) = d²/2 on [−1, 1] (+∞ outside), i.e. ½‖d‖₂² + indicator{‖d‖_∞ ≤ 1} per coordinate:

* V*(y) = sup_{|d|≤1} y d − d²/2 = h(y), the Huber function h(y) = y²/2 for |y| ≤ 1 and |y| − ½
  otherwise. Derivation: d ↦ y d − d²/2 is strictly concave; its stationary point d = y
  (``sympy.solve``) is the maximiser when it is feasible (|y| ≤ 1), otherwise the maximiser is the
  endpoint nearest to it, d = sign(y);
* ∇h(y) = clip(y, −1, 1) = the maximiser, and h is C¹ (value and slope continuous at |y| = 1);
* Fenchel–Young equality y·clip(y) = h(y) + V(clip(y)) on both pieces;
* with an envelope G > 0: sup_{|d|≤1} y d − (G/2) d² = G·h(y/G), maximiser clip(y/G, −1, 1), which is
  exactly E[sign(y + G n)], n ~ U[−1, 1] (StoSignSGD Proposition 1): the stochastic sign's
  expectation is the gradient of a conjugate (a Huber function of y/G, scaled by G).

Source. Softsign (D. Feoktistov et al., arXiv 2605.31371), [SS-FAMILY], table
row "½‖d‖₂² + indicator{‖d‖_∞ ≤ 1} | Huber | clip(y, −1, 1) | hard clipping"; StoSignSGD (D. Yu et
al., arXiv 2604.15416), [SSG-P1] Proposition 1.
Provenance: Softsign [SS-FAMILY] [DER] (closed form derived here); the link to the stochastic sign is a
derivation [R] of this package, not a statement of either paper.

Method. The derived conjugate, the claimed h and the claimed gradient are split into kink-free pieces
(``_common.resolve_on_interval``: kinks from ``sympy.solve``, branch chosen at an interior point);
on the common refinement every identity is a polynomial residual simplified to 0, with a numerical
evaluation at rational points (G = 3/2) as a second line of evidence.

Run ``python -m proofs_checks.huber_clip``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Mapping

import sympy as sp

from proofs_checks import _common
from proofs_checks._common import Claim

D = sp.Symbol("d", real=True)
Y = sp.Symbol("y", real=True)
G = sp.Symbol("G", positive=True)
_NUMERIC = {G: sp.Rational(3, 2)}

V_BOX = D**2 / 2
HUBER = sp.Piecewise((Y**2 / 2, sp.Abs(Y) <= 1), (sp.Abs(Y) - sp.Rational(1, 2), True))
CLIP = sp.Max(-1, sp.Min(1, Y))


@dataclass(frozen=True)
class BoxPiece:
    """On lo < y < hi the supremum of y d − V(d) over lo_d ≤ d ≤ hi_d is ``value`` at ``maximiser``."""

    lo: sp.Expr
    hi: sp.Expr
    maximiser: sp.Expr
    value: sp.Expr


def derive_box_conjugate(
    V: sp.Expr, *, lo: sp.Expr = -1, hi: sp.Expr = 1, d: sp.Symbol = D, y: sp.Symbol = Y
) -> list[BoxPiece]:
    r"""sup_{lo ≤ d ≤ hi} y d − V(d) for a smooth strictly convex V, piece by piece in y.

    The unique root r(y) of V'(d) = y is found by ``sympy.solve``; the kinks are the y where
    r(y) = lo or hi. On each piece, r is the maximiser if it is feasible (decided at an interior
    point, constant on the piece), otherwise the nearest endpoint is (concavity). Raises
    ``ValueError`` when V'(d) = y has no unique solution.
    """
    lo, hi = sp.sympify(lo), sp.sympify(hi)
    roots = sp.solve(sp.Eq(sp.diff(V, d), y), d)
    if len(roots) != 1:
        raise ValueError(f"V'(d) = y must have one solution, sympy.solve gave {roots}")
    r = roots[0]
    kinks = [k for e in (lo, hi) for k in sp.solve(sp.Eq(r, e), y)]
    kinks = sorted(set(kinks), key=functools.cmp_to_key(
        lambda a, b: -1 if _common.less(a, b) else 1))
    edges = [sp.S.NegativeInfinity, *kinks, sp.S.Infinity]
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        at = sp.simplify(r.subs(y, _common.representative(a, b)))
        if _common.less(at, hi) and _common.less(lo, at):
            best = r
        else:
            best = hi if not _common.less(at, hi) else lo
        out.append(BoxPiece(a, b, best, sp.expand(y * best - V.subs(d, best))))
    return out


def _refine(*piece_lists: list[tuple]) -> list[tuple[sp.Expr, sp.Expr, list[sp.Expr]]]:
    """Common refinement of several [(lo, hi, expr), ...] partitions of ℝ."""
    edges = {e for pieces in piece_lists for p in pieces for e in p[:2]}
    edges = sorted(edges, key=functools.cmp_to_key(lambda a, b: -1 if _common.less(a, b) else 1))
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        c = _common.representative(a, b)
        exprs = []
        for pieces in piece_lists:
            (expr,) = [p[2] for p in pieces if _common.less(p[0], c) and _common.less(c, p[1])]
            exprs.append(expr)
        out.append((a, b, exprs))
    return out


def _points(a: sp.Expr, b: sp.Expr, numeric: Mapping) -> list[dict]:
    pts = _common.interval_points(sp.sympify(a).subs(numeric), sp.sympify(b).subs(numeric))
    return [{Y: p, **numeric} for p in pts]


def conjugate_claims(
    V: sp.Expr = V_BOX,
    h: sp.Expr = HUBER,
    grad_h: sp.Expr = CLIP,
    *,
    lo: sp.Expr = -1,
    hi: sp.Expr = 1,
    prefix: str = "",
    numeric: Mapping = _NUMERIC,
    verbose: bool = False,
) -> list[Claim]:
    r"""Claims for V on the box [lo, hi] against the claimed conjugate ``h`` and gradient ``grad_h``.

    concavity of y d − V(d); h = derived supremum and grad_h = derived maximiser on every piece;
    h' = grad_h; C¹ at every kink; Fenchel–Young y·grad_h = h + V(grad_h) on every piece.
    """
    concave = _common.sign_claim(prefix + "strict_concavity",
                                 "V''(d) > 0, so d ↦ y d − V(d) is strictly concave",
                                 sp.diff(V, D, 2), strict=True, verbose=verbose)
    derived = [(p.lo, p.hi, (p.value, p.maximiser)) for p in derive_box_conjugate(V, lo=lo, hi=hi)]
    h_pieces = _common.resolve_on_interval(h, Y)
    g_pieces = _common.resolve_on_interval(grad_h, Y)
    value, argmax, slope, fy = [], [], [], []
    for a, b, (der, hp, gp) in _refine(derived, h_pieces, g_pieces):
        tag = f"y in ({a}, {b})"
        pts = _points(a, b, numeric)
        value.append(_common.zero_claim(tag, "", hp - der[0], points=pts))
        argmax.append(_common.zero_claim(tag, "", gp - der[1], points=pts))
        slope.append(_common.zero_claim(tag, "", sp.diff(hp, Y) - gp, points=pts))
        fy.append(_common.zero_claim(tag, "", Y * gp - hp - V.subs(D, gp), points=pts))
    kinks = []
    for pieces, what in ((h_pieces, "h"), ([(a, b, sp.diff(e, Y)) for a, b, e in h_pieces], "h'")):
        for (_, k, left), (_, _, right) in zip(pieces[:-1], pieces[1:]):
            kinks.append(_common.zero_claim(f"{what} at y = {k}", "", (left - right).subs(Y, k)))
    return [
        concave,
        _common.all_claim(prefix + "conjugate_value",
                          f"sup_(d in [{lo}, {hi}]) y d − V(d) = h(y) on ℝ", value, verbose=verbose),
        _common.all_claim(prefix + "maximiser", "argmax_d y d − V(d) = ∇h(y) (clip)", argmax,
                          verbose=verbose),
        _common.all_claim(prefix + "gradient", "h'(y) = ∇h(y) on every piece", slope,
                          verbose=verbose),
        _common.all_claim(prefix + "continuously_differentiable",
                          "h and h' are continuous at the kinks (h is C¹)", kinks, verbose=verbose),
        _common.all_claim(prefix + "fenchel_young", "y ∇h(y) = h(y) + V(∇h(y)) on every piece", fy,
                          verbose=verbose),
    ]


def weighted_claims(
    h: sp.Expr = HUBER,
    grad_h: sp.Expr = CLIP,
    envelope: sp.Expr = G,
    *,
    verbose: bool = False,
) -> list[Claim]:
    r"""V_G(d) = (G/2) d² on [−1, 1]: V_G* = G·h(y/G), ∇V_G* = clip(y/G) = E[sign(y + envelope·n)].

    ``envelope`` is the noise scale of the stochastic sign compared with the maximiser (correct: G).
    """
    from proofs_checks.stochastic_sign import expected_sign  # the StoSignSGD side of the link

    w = sp.Symbol("w", real=True)
    scaling = _common.zero_claim(
        "weighted_scaling", "y d − (G/2) d² = G·(w d − d²/2) with w = y/G (same maximiser, value ×G)",
        Y * D - G * D**2 / 2 - G * (w * D - D**2 / 2).subs(w, Y / G), verbose=verbose)
    claims = conjugate_claims(G * D**2 / 2, G * h.subs(Y, Y / G), grad_h.subs(Y, Y / G),
                              prefix="weighted_", verbose=verbose)
    link = [
        _common.zero_claim(f"y in ({a}, {b})", "", residual)
        for a, b, residual in _common.resolve_on_interval(
            grad_h.subs(Y, Y / G) - expected_sign(Y, envelope), Y)
    ]
    return [scaling, *claims, _common.all_claim(
        "stochastic_sign_link", "∇(G·h(·/G))(y) = clip(y/G, −1, 1) = E[sign(y + G n)], n ~ U[−1, 1]",
        link, verbose=verbose)]


def run(verbose: bool = False) -> list[Claim]:
    """All claims of this module, with the correct ingredients."""
    return [*conjugate_claims(verbose=verbose), *weighted_claims(verbose=verbose)]


if __name__ == "__main__":
    raise SystemExit(_common.main(run))
