r"""Executable checks of the papers' theorems and identities (``convexlab check``).

Importing this package registers every check module; :mod:`convexlab.theory.registry` holds the
records and the verdict rules.
"""

from convexlab.theory.registry import (
    REGISTRY,
    Check,
    CheckContext,
    CheckResult,
    Instance,
    Outcome,
    get_check,
    run_check,
    run_checks,
    select,
)
from convexlab.theory import (  # noqa: F401,E402  (each module registers its checks)
    crosschecks,
    identities,
    mutants,
    newton_schulz,
    proofs,
    sf_normuon,
    softsign,
    spectral,
    stochastic_sign,
    stosignsgd,
    stosignsgd_convex,
    stosignsgd_o2nc,
    temperature_limits,
)

__all__ = ["REGISTRY", "Check", "CheckContext", "CheckResult", "Instance", "Outcome", "get_check", "run_check",
           "run_checks", "select", "mutants"]
