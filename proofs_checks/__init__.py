r"""Symbolic (sympy) derivations behind convexlab's identity checks.

Each module states one family of claims with its source and provenance tag, exposes the derivation
as small functions of the ingredients (so a wrong ingredient makes a claim fail), and runs as
``python -m proofs_checks.<name>`` (one ``PASS``/``FAIL`` line per claim, exit status 1 on failure).

Modules
-------
entropic_conjugate   V(d) = ½[(1+d)ln(1+d) + (1−d)ln(1−d)], V* = ln cosh, ∇V* = tanh (Softsign [SS-FAMILY])
algebraic_conjugate  V(d) = 1 − √(1−d²), V* = √(1+y²) − 1, ∇V* = y/√(1+y²) (Softsign [SS-FAMILY])
huber_clip           V = d²/2 on [−1, 1], V* = Huber, ∇V* = clip; weighted by an envelope G (Softsign [SS-FAMILY])
stochastic_sign      E[sign(x + G n)] = clip(x/G, −1, 1), n ~ U[−1, 1] (StoSignSGD [SSG-P1], Proposition 1)
sign_limits          the bounds of Softsign [SS-LIMITS] used by the numerical checks
stosign_arithmetic   step-size sums, O2NC constants, exponential scaling, Lemma 3.2 (StoSignSGD [SSG-STAR, SSG-O2NC], SF-NorMuon [SFN-L32])
"""

from proofs_checks._common import Claim

MODULES = (
    "entropic_conjugate",
    "algebraic_conjugate",
    "huber_clip",
    "stochastic_sign",
    "sign_limits",
    "stosign_arithmetic",
)

__all__ = ["Claim", "MODULES"]
