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
import importlib as _importlib
import pkgutil as _pkgutil

#: Every module of this package, imported so that the checks it defines register themselves
#: (registration happens where a check is defined: a new ``theory/<name>.py`` joins
#: ``convexlab check`` without being listed anywhere).
CHECK_MODULES = tuple(sorted(m.name for m in _pkgutil.iter_modules(__path__) if not m.name.startswith("_")))
for _name in CHECK_MODULES:
    _importlib.import_module(f"{__name__}.{_name}")
from convexlab.theory import mutants  # noqa: E402  (public name)

__all__ = ["REGISTRY", "Check", "CheckContext", "CheckResult", "Instance", "Outcome", "get_check", "run_check",
           "run_checks", "select", "mutants", "CHECK_MODULES"]
