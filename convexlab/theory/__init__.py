r"""Executable checks of the papers' theorems and identities (``convexlab check``).

Importing this package registers every check module; :mod:`convexlab.theory.registry` holds the
records and the verdict rules.
"""

from convexlab.theory.registry import REGISTRY, Check, CheckContext, CheckResult, run_checks, select
from convexlab.theory import identities, stochastic_sign, temperature_limits  # noqa: F401,E402

__all__ = ["REGISTRY", "Check", "CheckContext", "CheckResult", "run_checks", "select"]
