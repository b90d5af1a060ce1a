r"""The check registry: every theorem, lemma and identity as an executable record.

A :class:`Check` names its source (paper, section, equation), the provenance tag of the statement
(as the specs tag it: a *reconstructed* statement is reported as reconstructed), the kind of claim
and a function ``func(ctx) -> CheckResult``. Verdict rules (design guide §5):

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

#: What each provenance tag of the specs means. Tags from the StoSignSGD spec: P, S, R, D; from
#: the Softsign and SF-NorMuon specs: PAPER, CODE, REV, THR, 3P, DER. EXT marks documented facts of
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
    """Run settings handed to every check: size (default or ``--full``) and the base seed."""

    full: bool = False
    seed: int = 0

    def generator(self, salt: int = 0, device: str | torch.device = "cpu") -> torch.Generator:
        return torch.Generator(device=device).manual_seed(self.seed * 1_000_003 + salt)

    def size(self, default, full):
        return full if self.full else default


@dataclass(frozen=True)
class Check:
    name: str
    source: str
    provenance: str
    kind: str
    description: str
    func: Callable[[CheckContext], CheckResult]

    def __post_init__(self):
        if self.provenance not in PROVENANCE:
            raise ValueError(f"provenance must be one of {sorted(PROVENANCE)}, got {self.provenance!r}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")

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


def check(name: str, *, source: str, provenance: str, kind: str, description: str):
    """Decorator form of :func:`register` for a function ``f(ctx) -> CheckResult``."""

    def deco(func):
        register(Check(name, source, provenance, kind, description, func))
        return func

    return deco


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


def run_check(c: Check, ctx: CheckContext) -> Outcome:
    t0 = time.perf_counter()
    try:
        res = c.func(ctx)
        if not isinstance(res, CheckResult):
            raise TypeError(f"check {c.name} returned {type(res).__name__}, not CheckResult")
        return Outcome(c, res, None, time.perf_counter() - t0)
    except Exception as exc:  # a crashing check is a failing check, reported with its message
        return Outcome(c, None, f"{type(exc).__name__}: {exc}", time.perf_counter() - t0)


def run_checks(checks: list[Check], ctx: CheckContext, progress: bool = True) -> list[Outcome]:
    from tqdm.auto import tqdm

    out = []
    bar = tqdm(checks, desc="convexlab check", unit="check", disable=not progress, leave=False)
    for c in bar:
        bar.set_postfix_str(c.name[:40])
        out.append(run_check(c, ctx))
    return out
