r"""The sympy derivations of ``proofs_checks`` as checks of ``convexlab check``.

Each module proves a family of claims symbolically (closed-form conjugates, ∇ψ* = (∇ψ)⁻¹, the
stochastic sign's mean and variance by integration, the Huber/clip pair, the τ-limit bounds); the
check reports how many of its claims sympy could *not* establish (expected 0).
"""

from __future__ import annotations

import importlib
from functools import partial
from typing import Callable

from convexlab.theory.registry import Check, CheckContext, CheckResult, identity_result, register

#: module → (source, provenance tag of the statement it derives)
MODULES = {
    "entropic_conjugate": ("Softsign (arXiv 2605.31371) [SS-FAMILY]: V* = Σ ln cosh, ∇V* = tanh", "THR"),
    "algebraic_conjugate": ("Softsign (arXiv 2605.31371) [SS-FAMILY]: V* = Σ √(1+y²) − 1", "DER"),
    "huber_clip": ("Softsign (arXiv 2605.31371) [SS-FAMILY]: Huber/clip pair, envelope-weighted", "DER"),
    "stochastic_sign": ("StoSignSGD (arXiv 2604.15416) Prop. 1 [SSG-P1], by integration", "R"),
    "sign_limits": ("Softsign (arXiv 2605.31371) [SS-LIMITS] bounds", "DER"),
    "stosign_arithmetic": ("StoSignSGD (★), Thm. 4, O2NC constants [SSG-STAR, SSG-T4, SSG-O2NC]; SF-NorMuon Lemma 3.2 [SFN-L32]", "R"),
}


def claims_hold(run: Callable[[], list], ctx: CheckContext) -> CheckResult:
    """Number of claims of a derivation that did not hold (pass iff 0)."""
    claims = run()
    if not claims:
        raise ValueError("the derivation returned no claims")
    failed = [c.name for c in claims if not c.holds]
    return identity_result(float(len(failed)), 0.0, 0.0, n_claims=len(claims), failed=", ".join(failed) or "none")


def _run_module(name: str) -> list:
    return importlib.import_module(f"proofs_checks.{name}").run()


for _name, (_src, _tag) in MODULES.items():
    register(Check(
        f"proofs.{_name}", _src, _tag, "identity",
        f"sympy derivation `python -m proofs_checks.{_name}`: every claim proved symbolically",
        partial(claims_hold, partial(_run_module, _name)),
    ))
