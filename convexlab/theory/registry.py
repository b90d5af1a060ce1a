r"""The check registry: every theorem, lemma and identity as an executable record.

A :class:`Check` names its source (paper, section, equation), the provenance tag of the statement
(docs/statements.md#provenance-legend: a *reconstructed* statement is reported as reconstructed), the kind of claim
and a function ``func(ctx) -> CheckResult``. Verdict rules (README, "The check table"):

* ``identity`` / ``tight``: pass iff |measured − expected| ≤ tolerance;
* ``upper``: fail only on a confident violation, mean − 3·stderr > bound (``measured`` is the
  mean, or the deterministic maximum when there is no sampling);
* ``lower``: the mirror image;
* ``zscore``: a Monte-Carlo agreement test, ``measured`` is the largest |z|, pass iff ≤ tolerance.

A check's constants come from the statement it cites and are never tuned to pass; each check has
a test that runs it on a deliberately broken variant and sees it fail (``tests/test_theory_*``).
"""

from __future__ import annotations

import fnmatch
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch

from convexlab import _validation as V
from convexlab.problems.base import Instance  # noqa: F401  (defined with the problems; part of this API)

#: What each provenance tag means (the legend of docs/statements.md#provenance-legend, which also
#: explains the prose-only tags I, T, DEV and the combined forms). EXT marks documented facts of
#: external references (e.g. Muon's Newton–Schulz band).
PROVENANCE = {
    "P": "paper",
    "PAPER": "paper",
    "CODE": "official code",
    "S": "secondary source",
    "REV": "reviewer notes",
    "THR": "author thread",
    "3P": "third-party summary",
    "EXT": "external reference",
    "R": "reconstructed",
    "DER": "reconstructed, derived",
    "D": "default, not from the paper",
}
RECONSTRUCTED_TAGS = {"R", "DER", "D"}
KINDS = ("identity", "tight", "upper", "lower", "zscore", "counterexample", "rate")


@dataclass
class CheckResult:
    """What a check measured. ``passed`` is computed by one of the verdict helpers below."""

    measured: float
    expected: float
    tolerance: float
    passed: bool
    margin: float
    ci: tuple[float, float] | None = None
    details: dict = field(default_factory=dict)
    #: optional data behind the check's figure: tidy rows {"series", "x", "y"[, "lo", "hi"]}
    series: list[dict] | None = None
    #: optional figure settings: xlabel, ylabel, logx, logy, title
    plot: dict | None = None

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "fail"

    def with_series(self, rows: list[dict], **plot) -> "CheckResult":
        """Attach the curves a figure of this check should show (returns ``self``)."""
        self.series = [dict(r) for r in rows]
        self.plot = dict(plot)
        return self


def identity_result(measured: float, expected: float, tol: float, **details) -> CheckResult:
    """|measured − expected| ≤ tol. Margin = tol − |measured − expected| (≥ 0 passes)."""
    err = abs(measured - expected)
    ok = bool(err <= tol) and math.isfinite(measured)
    return CheckResult(float(measured), float(expected), float(tol), ok, float(tol - err), details=details)


def upper_result(mean: float, bound: float, stderr: float = 0.0, slack: float = 0.0, **details) -> CheckResult:
    """Fail only on a confident violation: mean − 3·stderr > bound + slack.

    ``slack`` is floating-point round-off allowance (absolute), never a fudge for the theory.
    """
    lo = mean - 3.0 * stderr
    ok = bool(lo <= bound + slack) and math.isfinite(mean)
    ci = (mean - 3.0 * stderr, mean + 3.0 * stderr) if stderr > 0 else None
    return CheckResult(float(mean), float(bound), float(slack), ok, float(bound + slack - lo), ci=ci, details=details)


def lower_result(mean: float, bound: float, stderr: float = 0.0, slack: float = 0.0, **details) -> CheckResult:
    """Fail only on a confident violation: mean + 3·stderr < bound − slack."""
    hi = mean + 3.0 * stderr
    ok = bool(hi >= bound - slack) and math.isfinite(mean)
    ci = (mean - 3.0 * stderr, mean + 3.0 * stderr) if stderr > 0 else None
    return CheckResult(float(mean), float(bound), float(slack), ok, float(hi - bound + slack), ci=ci, details=details)


def zscore_result(max_abs_z: float, z_crit: float, **details) -> CheckResult:
    """Monte-Carlo agreement: the largest |z| over a grid must not exceed ``z_crit``."""
    ok = bool(max_abs_z <= z_crit) and math.isfinite(max_abs_z)
    return CheckResult(float(max_abs_z), 0.0, float(z_crit), ok, float(z_crit - max_abs_z), details=details)


def effect_result(effect: float, stderr: float = 0.0, **details) -> CheckResult:
    """A claimed phenomenon (a bias, a stall, a gap) must be confidently present:
    pass iff effect − 3·stderr > 0."""
    lo = effect - 3.0 * stderr
    ok = bool(lo > 0) and math.isfinite(effect)
    ci = (effect - 3.0 * stderr, effect + 3.0 * stderr) if stderr > 0 else None
    return CheckResult(float(effect), 0.0, 0.0, ok, float(lo), ci=ci, details=details)


@dataclass
class CheckContext:
    """Run settings handed to every check: size (default or ``--full``), the base seed and the
    subject under test.

    ``subject`` is ``None`` (the check runs the registry optimizer its statement is about) or a
    factory ``(params, problem) -> torch.optim.Optimizer`` that replaces it; ``problem`` carries
    the constants the theorem uses (see :class:`Instance`). A check reads it with
    :meth:`subject_or`.
    """

    full: bool = False
    seed: int = 0
    subject: Callable | None = None

    def subject_or(self, default: Callable) -> Callable:
        """The factory under test: ``self.subject`` if one was given, else ``default``."""
        return default if self.subject is None else self.subject

    def generator(self, salt: int = 0, device: str | torch.device = "cpu") -> torch.Generator:
        return torch.Generator(device=device).manual_seed(self.seed * 1_000_003 + salt)

    def size(self, default, full):
        return full if self.full else default


@dataclass(frozen=True, eq=False)
class Check:
    """One registered statement.

    ``subject`` names the kind of algorithm the check judges (a key of
    :data:`convexlab.theory.mutants.SUBJECT_KINDS`), or is None for checks of a formula or an
    identity, which accept no subject. ``catches`` lists the members of the standard panel of
    broken algorithms (:mod:`convexlab.theory.mutants`) that must flip the verdict; ``blind`` maps
    each other applicable member to the one-line reason the statement cannot see it.
    ``step_sensitive`` checks also report the smallest step multiplier they catch (``--power``).
    ``same_as_default`` lists members that are the statement's own algorithm on the check's instance
    (for example "momentum dropped" where the statement has no momentum): not applicable.
    """

    name: str
    source: str
    provenance: str
    kind: str
    description: str
    func: Callable[[CheckContext], CheckResult]
    subject: str | None = None
    catches: tuple[str, ...] = ()
    blind: dict = field(default_factory=dict)
    step_sensitive: bool = False
    #: the factory ``(params, problem) -> Optimizer`` the check runs when no subject is given
    default_subject: Callable | None = None
    #: panel members that coincide with the statement's own algorithm on this instance (e.g. "momentum
    #: dropped" where the statement has β = 0), with the reason: not applicable, not run
    same_as_default: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.provenance not in PROVENANCE:
            raise ValueError(f"provenance must be one of {sorted(PROVENANCE)}, got {self.provenance!r}")
        V.one_of("kind", self.kind, KINDS)
        object.__setattr__(self, "catches", tuple(self.catches))
        object.__setattr__(self, "blind", dict(self.blind))
        object.__setattr__(self, "same_as_default", dict(self.same_as_default))
        declared = [set(self.catches), set(self.blind), set(self.same_as_default)]
        for i in range(3):
            for j in range(i + 1, 3):
                if declared[i] & declared[j]:
                    raise ValueError(f"check {self.name!r}: {sorted(declared[i] & declared[j])} declared twice "
                                     "(catches / blind / same_as_default)")
        if (self.catches or self.blind or self.step_sensitive) and self.subject is None:
            raise ValueError(f"check {self.name!r} declares a panel but no subject kind")

    @property
    def provenance_label(self) -> str:
        return f"{self.provenance} ({PROVENANCE[self.provenance]})"

    @property
    def reconstructed(self) -> bool:
        return self.provenance in RECONSTRUCTED_TAGS


REGISTRY: dict[str, Check] = {}


def register(check: Check) -> Check:
    """Add ``check`` to :data:`REGISTRY` (names are unique)."""
    if check.name in REGISTRY:
        raise ValueError(f"a check named {check.name!r} is already registered")
    REGISTRY[check.name] = check
    return check


@dataclass
class Outcome:
    """One row of the ``convexlab check`` table."""

    check: Check
    result: CheckResult | None
    error: str | None
    seconds: float

    @property
    def verdict(self) -> str:
        return "error" if self.result is None else self.result.verdict

    # the result's fields, so that an outcome reads like the table row it prints as
    @property
    def passed(self) -> bool:
        return self.result is not None and bool(self.result.passed)

    @property
    def measured(self) -> float:
        return math.nan if self.result is None else self.result.measured

    @property
    def expected(self) -> float:
        return math.nan if self.result is None else self.result.expected

    @property
    def tolerance(self) -> float:
        return math.nan if self.result is None else self.result.tolerance

    @property
    def margin(self) -> float:
        return math.nan if self.result is None else self.result.margin

    @property
    def ci(self):
        return None if self.result is None else self.result.ci

    @property
    def details(self) -> dict:
        return {} if self.result is None else self.result.details

    @property
    def ratio(self) -> float | None:
        """measured/bound of an upper or lower bound (the check's ``slack_ratio`` detail when it
        gives one), else None."""
        r = self.result
        if r is None or self.check.kind not in ("upper", "lower"):
            return None
        given = r.details.get("slack_ratio")
        if isinstance(given, (int, float)) and not isinstance(given, bool):
            return float(given)
        return r.measured / r.expected if r.expected not in (0, 0.0) else None

    def as_dict(self) -> dict:
        c = self.check
        r = None if self.result is None else asdict(self.result)
        return {
            "name": c.name,
            "source": c.source,
            "provenance": c.provenance,
            "provenance_label": c.provenance_label,
            "reconstructed": c.reconstructed,
            "kind": c.kind,
            "description": c.description,
            "verdict": self.verdict,
            "result": r,
            "error": self.error,
            "seconds": round(self.seconds, 4),
        }


def select(patterns: list[str] | None = None) -> list[Check]:
    """Registered checks whose name matches any pattern: a substring, or a pattern with the
    wildcards ``*`` and ``?`` (brackets are literal, since check names contain them)."""
    from convexlab import theory  # noqa: F401  (imports every check module)

    checks = list(REGISTRY.values())
    if not patterns:
        return checks
    return [c for c in checks if name_matches(c.name, patterns)]


def name_matches(name: str, patterns) -> bool:
    """Whether a check name matches any pattern: a substring, or a pattern with the wildcards ``*``
    and ``?`` (brackets are literal)."""
    for p in patterns:
        literal = p.replace("[", "[[]")
        if fnmatch.fnmatchcase(name, literal if any(ch in p for ch in "*?") else f"*{literal}*"):
            return True
    return False


def get_check(name: str) -> Check:
    """The registered check called ``name`` (exact name), with a clear error for an unknown one."""
    from convexlab import theory  # noqa: F401  (imports every check module)

    if not isinstance(name, str) or name not in REGISTRY:
        close = [n for n in REGISTRY if isinstance(name, str) and name in n][:5]
        hint = f"; names containing it: {close}" if close else " (see `convexlab check --list`)"
        raise ValueError(f"name must be a registered check name, got {name!r}{hint}")
    return REGISTRY[name]


def run_check(check: Check | str, ctx: CheckContext | None = None, *, subject: Callable | None = None,
              seed: int = 0, full: bool = False) -> Outcome:
    """Run one check and return its :class:`Outcome` (``passed``, ``measured``, ``expected``,
    ``margin``, ``details`` … as the table shows them).

    Args:
        check: a :class:`Check` or a registered name (``convexlab check --list``).
        ctx: the run settings; default ``CheckContext(full=full, seed=seed, subject=subject)``.
        subject: a factory ``(params, problem) -> torch.optim.Optimizer`` that replaces the
            registry optimizer the statement is about (the default). Only checks that judge an
            algorithm accept one (``Check.subject`` is not None).
        seed, full: the base seed and the size, as ``convexlab check --seed/--full``.

    Raises:
        ValueError: an unknown name, a non-callable subject, or a subject given to a check of a
            formula or an identity, which has no algorithm to replace.

    A check that crashes (for example on a subject that produces NaN) is a failing outcome with
    its error message, never an exception.
    """
    c = get_check(check) if isinstance(check, str) else check
    if not isinstance(c, Check):
        raise ValueError(f"check must be a Check or a registered name, got {check!r}")
    if ctx is None:
        V.integer("seed", seed)
        ctx = CheckContext(full=bool(full), seed=seed, subject=subject)
    elif subject is not None:
        ctx = CheckContext(full=ctx.full, seed=ctx.seed, subject=subject)
    if ctx.subject is not None:
        if not callable(ctx.subject):
            raise ValueError(f"subject must be a callable (params, problem) -> torch.optim.Optimizer, "
                             f"got {ctx.subject!r}")
        if c.subject is None:
            raise ValueError(f"check {c.name!r} checks a formula or an identity and judges no algorithm: "
                             "it accepts no subject")
    t0 = time.perf_counter()
    try:
        res = c.func(ctx)
        if not isinstance(res, CheckResult):
            raise TypeError(f"check {c.name} returned {type(res).__name__}, not CheckResult")
        return Outcome(c, res, None, time.perf_counter() - t0)
    except Exception as exc:  # a crashing check is a failing check, reported with its message
        return Outcome(c, None, f"{type(exc).__name__}: {exc}", time.perf_counter() - t0)


def run_checks(checks: list[Check], ctx: CheckContext, progress: bool = True,
               into: list | None = None) -> list[Outcome]:
    """Run ``checks`` in order and return their outcomes. ``into``: a list the outcomes are
    appended to as they finish, so that a caller keeps the finished ones when a KeyboardInterrupt
    stops the run."""
    from tqdm.auto import tqdm

    out = [] if into is None else into
    bar = tqdm(checks, desc="convexlab check", unit="check", disable=not progress, leave=False)
    for c in bar:
        bar.set_postfix_str(c.name[:40])
        out.append(run_check(c, ctx))
    return out
