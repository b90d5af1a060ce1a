r"""The detection matrix: which broken algorithms each theorem check catches (``convexlab check --power``).

For every check that judges an algorithm (``Check.subject`` set) and every member of the standard
panel (:data:`convexlab.theory.mutants.PANEL`) applicable to it, :func:`run_power` runs the check
with the member as its subject and records the cell:

* ``caught`` — the check fails (or rejects the subject with an error) on the broken algorithm;
* ``missed`` — the check passes it. A missed cell is a defect when the member is in the check's
  ``catches``; when it is in ``blind`` the row carries the one-line reason why the statement
  cannot see it;
* ``n.a.`` — the member does not apply to the check's kind of subject.

Each cell also keeps measured/bound (or measured and expected), so that a catch by a hair is
visible. For each ``step_sensitive`` check the scan :data:`STEP_SCAN` reports the smallest
step multiplier the check catches.

Cells are cached in SQLite (one row per check × member × seed × size × code fingerprint, written
as soon as the cell finishes), so an interrupted ``--power`` run resumes where it stopped and a
finished one is re-printed at once; any change to the package's algorithm or check code changes
the fingerprint and invalidates the cells.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from convexlab.theory import mutants as M
from convexlab.theory.registry import Check, CheckContext, Outcome, run_check

#: step multipliers scanned (ascending) for the smallest one a step-sensitive check catches
STEP_SCAN = (1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0)
#: the packages whose source decides a cell's result
_FINGERPRINT_DIRS = ("theory", "optim", "sim", "problems", "geometry", "linalg")


@dataclass
class Cell:
    """One check × panel-member run."""

    check: str
    member: str
    status: str  # "caught" | "missed"
    declared: str  # "catches" | "blind" | "undeclared"
    measured: float
    expected: float
    ratio: float | None
    seconds: float
    error: str | None = None
    reason: str | None = None

    @property
    def defect(self) -> bool:
        """A member the check must catch that it missed, or an undeclared member."""
        return (self.declared == "catches" and self.status == "missed") or self.declared == "undeclared"


def fingerprint() -> str:
    """SHA-256 (first 16 hex digits) of the package source that decides a cell's verdict."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for sub in _FINGERPRINT_DIRS:
        for path in sorted((root / sub).rglob("*.py")):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def default_cache_path() -> Path:
    """``$XDG_CACHE_HOME/convexlab/power.sqlite`` (``~/.cache/convexlab/power.sqlite``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "convexlab" / "power.sqlite"


class CellCache:
    """SQLite store of finished cells (committed one by one: a killed run keeps what finished)."""

    def __init__(self, path: str | os.PathLike | None):
        self.path = None if path is None else Path(path)
        self.con = None
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.con = sqlite3.connect(str(self.path))
            self.con.execute("CREATE TABLE IF NOT EXISTS cells (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self.con.commit()
        except (OSError, sqlite3.DatabaseError) as exc:
            raise ValueError(f"cache must be a writable SQLite file, got {str(self.path)!r}: {exc}") from None

    def get(self, key: str) -> dict | None:
        if self.con is None:
            return None
        try:
            row = self.con.execute("SELECT value FROM cells WHERE key = ?", (key,)).fetchone()
            return None if row is None else json.loads(row[0])
        except (sqlite3.DatabaseError, json.JSONDecodeError):
            return None  # a damaged row is recomputed

    def put(self, key: str, value: dict) -> None:
        if self.con is None:
            return
        self.con.execute("INSERT OR REPLACE INTO cells (key, value) VALUES (?, ?)", (key, json.dumps(value)))
        self.con.commit()

    def close(self) -> None:
        if self.con is not None:
            self.con.close()


def _run_cell(check: Check, member: str, factory, ctx: CheckContext) -> dict:
    t0 = time.perf_counter()
    o: Outcome = run_check(check, CheckContext(full=ctx.full, seed=ctx.seed, subject=factory))
    seconds = time.perf_counter() - t0
    ratio = o.ratio
    return dict(status="missed" if o.passed else "caught", measured=_num(o.measured), expected=_num(o.expected),
                ratio=None if ratio is None else _num(ratio), seconds=round(seconds, 3), error=o.error)


def _num(x) -> float:
    x = float(x)
    return x if math.isfinite(x) else (math.nan if x != x else x)


def _declared(check: Check, member: str) -> tuple[str, str | None]:
    if member in check.catches:
        return "catches", None
    if member in check.blind:
        return "blind", check.blind[member]
    return "undeclared", None


def subject_checks(checks: list[Check]) -> list[Check]:
    """The checks that judge an algorithm."""
    return [c for c in checks if c.subject is not None]


@dataclass
class PowerReport:
    cells: list[Cell]
    step_scan: dict[str, dict]  # check → {"smallest": k | None, "scanned": {k: status}}
    members: list[str]
    checks: list[str]
    seed: int
    full: bool
    fingerprint: str

    def cell(self, check: str, member: str) -> Cell | None:
        for c in self.cells:
            if c.check == check and c.member == member:
                return c
        return None

    @property
    def caught_fraction(self) -> float:
        return sum(c.status == "caught" for c in self.cells) / max(len(self.cells), 1)

    @property
    def defects(self) -> list[Cell]:
        return [c for c in self.cells if c.defect]

    def rows(self) -> list[dict]:
        """Tidy rows, one per applicable cell (for CSV)."""
        return [asdict(c) | {"defect": c.defect} for c in self.cells]


def run_power(checks: list[Check], ctx: CheckContext, *, cache: str | os.PathLike | None = None,
              progress: bool = True, step_scan: bool = True) -> PowerReport:
    """Run every applicable panel member against every check in ``checks`` that has a subject.

    Args:
        checks: the checks (those without a subject are skipped).
        ctx: size and seed (its ``subject`` is ignored).
        cache: SQLite path for finished cells (None: no cache).
        step_scan: also scan :data:`STEP_SCAN` for the ``step_sensitive`` checks.
    """
    from tqdm.auto import tqdm

    todo = []
    for c in subject_checks(checks):
        for member, factory in M.applicable(c).items():
            todo.append((c, member, factory))
        if step_scan and c.step_sensitive and c.subject in M.STEP_SCALED:
            for k in STEP_SCAN:
                todo.append((c, f"step*{k:g}", M.step_scaled(c, k)))
    fp = fingerprint()
    store = CellCache(cache)
    cells: list[Cell] = []
    scan: dict[str, dict] = {}
    try:
        bar = tqdm(todo, desc="convexlab check --power", unit="cell", disable=not progress, leave=False)
        for c, member, factory in bar:
            if member.startswith("step*"):
                k = float(member[5:])
                entry = scan.setdefault(c.name, {"smallest": None, "scanned": {}})
                if entry["smallest"] is not None and k > entry["smallest"]:
                    continue  # the scan stops at the first multiplier caught
            bar.set_postfix_str(f"{c.name[:32]} × {member}")
            key = json.dumps([c.name, member, ctx.seed, bool(ctx.full), fp])
            value = store.get(key)
            if value is None:
                value = _run_cell(c, member, factory, ctx)
                store.put(key, value)
            if member.startswith("step*"):
                entry["scanned"][k] = value["status"]
                if value["status"] == "caught" and entry["smallest"] is None:
                    entry["smallest"] = k
                continue
            declared, reason = _declared(c, member)
            cells.append(Cell(c.name, member, value["status"], declared, value["measured"], value["expected"],
                              value["ratio"], value["seconds"], value["error"], reason))
    finally:
        store.close()
    members = [m for m in M.PANEL if any(cell.member == m for cell in cells)]
    names = [c.name for c in subject_checks(checks)]
    return PowerReport(cells, scan, members, names, ctx.seed, bool(ctx.full), fp)


# ---------------------------------------------------------------------------------------------
# presentation
# ---------------------------------------------------------------------------------------------
_MARK = {"caught": "✓", "missed": "·"}


def _short(x) -> str:
    if x is None or (isinstance(x, float) and x != x):
        return "-"
    return f"{x:.2g}"


def format_matrix(report: PowerReport) -> str:
    """The detection matrix as text: one row per check, one column per panel member; ``✓`` caught,
    ``·`` missed (declared blind), ``✗`` a defect (a member it must catch that it missed, or an
    undeclared member), blank not applicable; then the step scan, the missed cells with their
    reasons and a summary line."""
    members = report.members
    width = max([len(n) for n in report.checks] + [5])
    abbrev = {m: m.replace("_", "")[:8] for m in members}
    head = "check".ljust(width) + "  " + "  ".join(abbrev[m].rjust(8) for m in members) + "  min step×"
    lines = [head, "-" * len(head)]
    for name in report.checks:
        cells = []
        for m in members:
            cell = report.cell(name, m)
            if cell is None:
                cells.append("".rjust(8))
            else:
                mark = "✗" if cell.defect else _MARK[cell.status]
                cells.append(f"{mark} {_short(cell.ratio if cell.ratio is not None else cell.measured)}".rjust(8))
        scan = report.step_scan.get(name)
        k = "-" if scan is None else (f"{scan['smallest']:g}" if scan["smallest"] is not None else "none ≤ 50")
        lines.append(name.ljust(width) + "  " + "  ".join(cells) + "  " + k.rjust(10))
    lines.append("")
    lines.append("cells: ✓ caught, · missed (declared blind), ✗ defect (must catch, or undeclared); the number is "
                 "measured/bound (or the measured value).")
    missed = [c for c in report.cells if c.status == "missed"]
    if missed:
        lines.append("missed cells and why the statement cannot see them:")
        for c in missed:
            why = c.reason or ("MUST CATCH" if c.declared == "catches" else "UNDECLARED")
            lines.append(f"  {c.check} × {c.member}: {why}")
    same = [(name, m, why) for name in report.checks for m, why in _same_as_default(name).items()]
    if same:
        lines.append("not applicable, because on the check's instance the member is the statement's own algorithm:")
        for name, m, why in same:
            lines.append(f"  {name} × {m}: {why}")
    n = len(report.cells)
    caught = sum(c.status == "caught" for c in report.cells)
    lines.append(f"\n{caught}/{n} applicable cells caught ({100 * report.caught_fraction:.1f} %), "
                 f"{len(report.defects)} defects; {len(report.checks)} checks × {len(members)} panel members "
                 f"(seed {report.seed}, {'full' if report.full else 'default'} size)")
    return "\n".join(lines)


def _same_as_default(name: str) -> dict:
    from convexlab.theory.registry import REGISTRY

    c = REGISTRY.get(name)
    return {} if c is None else dict(c.same_as_default)


def matrix_figure(report: PowerReport):
    """A heat map of the detection matrix (green caught, amber missed-blind, red defect, grey n.a.)."""
    import numpy as np
    from matplotlib.colors import ListedColormap

    from convexlab.plotting import new_figure

    rows, cols = report.checks, report.members
    code = np.zeros((len(rows), len(cols)))
    for i, name in enumerate(rows):
        for j, m in enumerate(cols):
            cell = report.cell(name, m)
            code[i, j] = 0 if cell is None else (3 if cell.defect else (1 if cell.status == "caught" else 2))
    fig, ax = new_figure(figsize=(1.2 + 0.62 * len(cols), 1.0 + 0.3 * len(rows)))
    cmap = ListedColormap(["#eeeeee", "#1b7837", "#e6ab02", "#b2182b"])
    ax.imshow(code, cmap=cmap, vmin=0, vmax=3, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    ax.grid(False)
    for i, name in enumerate(rows):
        for j, m in enumerate(cols):
            cell = report.cell(name, m)
            if cell is not None:
                v = cell.ratio if cell.ratio is not None else cell.measured
                ax.text(j, i, _short(v), ha="center", va="center", fontsize=5.5,
                        color="white" if code[i, j] in (1, 3) else "black")
    ax.set_title(f"detection matrix: {100 * report.caught_fraction:.0f} % of {len(report.cells)} cells caught "
                 "(green caught, amber blind, red defect)", fontsize=8)
    fig.tight_layout()
    return fig


def write_power(out_dir: str | os.PathLike, report: PowerReport) -> list[str]:
    """``power.csv`` (one row per cell), ``power_steps.csv`` (the step scan), ``power.txt`` (the
    printed matrix) and ``power.png`` (the heat map) under ``out_dir``."""
    from convexlab._io import atomic_write, atomic_write_bytes, csv_text
    from convexlab.plotting import png_bytes

    root = Path(out_dir)
    cols = ["check", "member", "status", "declared", "defect", "measured", "expected", "ratio", "seconds", "error",
            "reason"]
    atomic_write(root / "power.csv", csv_text(report.rows(), cols))
    steps = [dict(check=name, multiplier=k, status=s, smallest=entry["smallest"])
             for name, entry in report.step_scan.items() for k, s in sorted(entry["scanned"].items())]
    atomic_write(root / "power_steps.csv", csv_text(steps, ["check", "multiplier", "status", "smallest"]))
    atomic_write(root / "power.txt", format_matrix(report) + "\n")
    atomic_write_bytes(root / "power.png", png_bytes(matrix_figure(report), dpi=200))
    return [str(root / n) for n in ("power.csv", "power_steps.csv", "power.txt", "power.png")]
