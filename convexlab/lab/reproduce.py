r"""``convexlab reproduce``: execute every notebook, collect the claims, write ``results/``.

Where the results go (the rule, also in ``convexlab reproduce --help``): only a **full default run**
(no ``--fast``, ``--set``, ``--only``, ``--no-checks``, ``--check-only`` or ``--notebooks``) writes the
committed files: ``results/`` (``results/CLAIMS.md`` among them) and the README gallery
``docs/figures/`` (a full run with another ``--out`` copies no gallery figure unless
``--figures-dir`` is given). Any **partial run** writes to a fresh scratch directory,
``results/partial/<UTC timestamp>/`` (ignored by git), or to ``--out DIR``; it copies no figure to a
gallery unless ``--figures-dir DIR`` is given, and it refuses (exit 2) an ``--out`` or
``--figures-dir`` that is the committed ``results/`` or ``docs/figures/``.

For each selected ``notebooks/NN_topic.ipynb`` (in full mode, ``FAST = False``, unless ``--fast``):

* its ``parameters`` cell is overridden: ``FAST`` (``--fast``), ``FIGURE_PATH`` and ``CLAIMS_PATH``
  (set by this command, not overridable), and each ``--set NAME=VALUE`` whose ``NAME`` the cell
  assigns (:func:`parse_set`: ``VALUE`` is a Python literal, else the string as written; the
  assignment is replaced in place, so the sizes the cell derives from ``FAST`` follow an explicit
  ``--set FAST=...``, which wins over ``--fast``). A name that no selected notebook's parameters
  cell assigns is a one-line error (exit 2) before anything runs; a notebook that does not assign a
  name keeps its own code (the run prints which notebooks each override reaches). Notebooks run
  with their own folder as the working directory, so a relative path in a ``VALUE`` is read from
  there. Any ``--set`` makes the run partial (even ``--set FAST=False``, the full sizes);

* the executed copy goes to ``OUT/notebooks/NN_topic.ipynb`` (also when it fails, with the
  traceback in it), its headline figure to ``OUT/figures/NN_topic.png`` (and, in a full run, to the
  gallery ``docs/figures/NN_topic.png``), and its claim verdicts to ``OUT/claims/NN_topic.json``;
* one line is printed per notebook: name, seconds, verdict.

Then ``convexlab check`` runs (default size; ``--check-only`` selects a subset, ``--no-checks``
skips it) into ``OUT/checks/`` (the ``check --out`` layout), and ``OUT/CLAIMS.md`` lists every
headline claim of :data:`convexlab.theory.claims.CLAIMS` with the evidence produced **in this run**
(notebooks and checks) and its status at our scale; a claim none of whose evidence ran is
``not run`` (:func:`convexlab.theory.claims.status_of`). ``OUT/notebooks.json`` holds this run's rows.

The output directories are validated before any notebook runs (created if missing, and a probe file
written in each): a path that is a file where a directory is expected, or that cannot be written,
is a one-line error and exit 2. The exit status is 1 if a notebook or a check fails.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

from convexlab._io import atomic_write, dir_destination_error

REPO = Path(__file__).resolve().parents[2]


#: The committed outputs only a full default run may write.
COMMITTED_RESULTS = REPO / "results"
COMMITTED_GALLERY = REPO / "docs" / "figures"

RULE = ("Only a full default run (none of --fast, --set, --only, --no-checks, --check-only, --notebooks) writes "
        "the committed results/ (results/CLAIMS.md) and the gallery docs/figures/. A partial run writes to a new "
        "results/partial/<UTC timestamp>/ or to --out DIR, copies figures to a gallery only with --figures-dir DIR, "
        "and may not write to results/ or docs/figures/. A claim none of whose notebooks or checks ran is "
        "'not run'.")

#: Parameters ``convexlab reproduce`` sets itself (where the figure and the claim verdicts go).
RESERVED = ("FIGURE_PATH", "CLAIMS_PATH")


class UsageError(Exception):
    """A user error: reported as one line and exit status 2."""


def parse_set(items) -> dict:
    """``--set NAME=VALUE`` options as ``{NAME: value}`` (in order; a repeated NAME: the last wins).

    ``VALUE`` is read with :func:`ast.literal_eval` (``8``, ``False``, ``None``, ``[250, 1000]``,
    ``'a b'``), else kept as the string written (``--set RUNS_DIR=/data/runs``). :class:`UsageError`
    when an item has no ``=``, when ``NAME`` is not a Python identifier, when ``NAME`` is one of
    :data:`RESERVED`, or when ``FAST`` is not ``True`` or ``False``."""
    import ast
    import keyword

    out: dict = {}
    for item in items or []:
        name, eq, text = item.partition("=")
        name = name.strip()
        if not eq or not name.isidentifier() or keyword.iskeyword(name):
            raise UsageError(f"--set {item}: expected NAME=VALUE with NAME a Python identifier "
                             "(for example --set SEEDS=8)")
        if name in RESERVED:
            raise UsageError(f"--set {item}: {name} is set by convexlab reproduce itself (the run's output "
                             f"directory); it cannot be overridden (reserved: {', '.join(RESERVED)})")
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            value = text
        if name == "FAST" and not isinstance(value, bool):
            raise UsageError(f"--set {item}: FAST must be True or False, got {value!r}")
        out[name] = value
    return out


def build_parser() -> argparse.ArgumentParser:
    from convexlab import _cli
    from convexlab._validation import argparse_int_at_least

    p = _cli.parser("reproduce", textwrap.fill("Execute every notebook, run the checks, and write the claims table. "
                                               + RULE, 100))
    p.add_argument("--out", default=None, metavar="DIR",
                   help="results directory (default: results/ for a full run, a new results/partial/<UTC timestamp>/ "
                        "for a partial run; a partial run may not use results/)")
    p.add_argument("--notebooks", default=None, metavar="DIR",
                   help="notebook directory (default: the repository's notebooks/; another one makes the run partial)")
    p.add_argument("--figures-dir", default=None, metavar="DIR",
                   help="gallery directory the headline figures are copied to (default: docs/figures/ for a full run "
                        "into results/, none otherwise; '' to skip; a partial run may not use docs/figures/)")
    p.add_argument("--only", action="append", metavar="SUBSTRING",
                   help="run the notebooks whose name contains it; repeatable (partial run)")
    _cli.add_flag(p, "fast", default=False,
                  help="FAST mode (the tests' sizes: FAST = True in every notebook) instead of full mode "
                       "(partial run); an explicit --set FAST=... wins")
    p.add_argument("--set", action="append", default=None, metavar="NAME=VALUE", dest="set",
                   help="override a parameter of the notebooks' parameters cells, e.g. --set SEEDS=8 or "
                        "--set FAST=False; VALUE is a Python literal, else a string; applied to every selected "
                        "notebook whose parameters cell assigns NAME (a name none assigns is an error); "
                        "repeatable (partial run)")
    p.add_argument("--timeout", type=argparse_int_at_least("", 1), default=3600, metavar="SECONDS",
                   help="per-cell timeout in seconds (integer >= 1, default 3600)")
    p.add_argument("--check-only", action="append", metavar="PATTERN",
                   help="run only the checks matching PATTERN; repeatable (partial run)")
    _cli.add_flag(p, "checks", default=True, help="run convexlab check after the notebooks (--no-checks: partial run)")
    _cli.add_flag(p, "progress", default=True, help="progress bar (--no-progress: one plain line per notebook)")
    p.add_argument("--jobs", type=argparse_int_at_least("", 1), default=1, metavar="N",
                   help="notebooks run at a time, each in its own kernel (integer >= 1, default 1; 2 on a 2-core "
                        "machine halves the wall time; the results do not depend on it, so a full run stays full)")
    return p


def partial_flags(args) -> list[str]:
    """The options that make this a partial run (empty for a full default run), quoted for a shell."""
    flags = []
    if args.fast:
        flags.append("--fast")
    flags += [f"--set {shlex.quote(s)}" for s in args.set or []]
    flags += [f"--only {shlex.quote(s)}" for s in args.only or []]
    if not args.checks:
        flags.append("--no-checks")
    flags += [f"--check-only {shlex.quote(s)}" for s in args.check_only or []]
    if args.notebooks is not None:
        flags.append(f"--notebooks {shlex.quote(args.notebooks)}")
    return flags


def _same(a: Path, b: Path) -> bool:
    """Whether two paths name the same location (resolved; symbolic links followed)."""
    return a.resolve() == b.resolve()


def scratch_dir(base: Path) -> Path:
    """A new ``base/partial/<UTC timestamp>`` directory name (suffixed ``-2``, ``-3``, ... if taken)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path, n = base / "partial" / stamp, 1
    while path.exists():
        n += 1
        path = base / "partial" / f"{stamp}-{n}"
    return path


def destinations(args) -> tuple[Path, Path | None]:
    """The results directory and the gallery directory (None: no gallery copy) of this run, by the
    rule in :data:`RULE`; :class:`UsageError` when a partial run names a committed location."""
    partial = bool(partial_flags(args))
    if args.out is None:
        out = scratch_dir(Path("results").resolve()) if partial else Path("results").resolve()
    else:
        if not args.out.strip():
            raise UsageError("--out must be a directory path, got ''")
        out = Path(args.out).resolve()
    if args.figures_dir is None:  # the gallery follows the committed results only
        gallery = COMMITTED_GALLERY if not partial and _same(out, COMMITTED_RESULTS) else None
    else:
        gallery = Path(args.figures_dir).resolve() if args.figures_dir else None
    if partial:
        why = " ".join(partial_flags(args))
        if _same(out, COMMITTED_RESULTS):
            raise UsageError(f"--out {args.out}: a partial run ({why}) may not write the committed results "
                             f"directory {out}; omit --out (a new results/partial/<timestamp>/) or name another directory")
        if gallery is not None and _same(gallery, COMMITTED_GALLERY):
            raise UsageError(f"--figures-dir {args.figures_dir}: a partial run ({why}) may not write the committed "
                             f"gallery {gallery}; omit --figures-dir or name another directory")
    return out, gallery


def _writable_dir(path: Path, option: str) -> None:
    """:class:`UsageError` naming ``option`` and the path when ``path`` is a file or cannot be written
    (:func:`convexlab._io.dir_destination_error`)."""
    error = dir_destination_error(path, option)
    if error:
        raise UsageError(error)


def validate_destinations(out: Path, gallery: Path | None, checks: bool) -> None:
    """Before any work: every directory this run writes is (or can be made) a writable directory,
    and the files it replaces are not directories."""
    subdirs = ["notebooks", "figures", "claims"] + (["checks", "checks/figures", "checks/series"] if checks else [])
    for sub in [""] + subdirs:
        _writable_dir(out / sub if sub else out, "--out")
    for name in ["CLAIMS.md", "notebooks.json"] + (["checks/checks.csv", "checks/summary.json"] if checks else []):
        if (out / name).is_dir():
            raise UsageError(f"--out {out}: {out / name} is a directory, a file is expected")
    if gallery is not None:
        _writable_dir(gallery, "--figures-dir")


def _execute_one(path: Path, params: dict, timeout: int, save_to: Path) -> tuple[float, str | None]:
    """Execute one notebook (a worker of :func:`run_notebooks`); (seconds, error)."""
    from convexlab.lab.notebooks import execute

    _, seconds, error = execute(path, params, timeout=timeout, save_to=save_to)
    return seconds, error


def run_notebooks(paths, out: Path, *, fast: bool, figures_dir: Path | None, timeout: int, progress: bool,
                  overrides: dict | None = None, jobs: int = 1) -> list[dict]:
    """Execute each notebook with ``FAST = fast``, its figure and claim paths under ``out``, and the
    ``overrides`` its parameters cell assigns (an override of ``FAST`` wins over ``fast``).

    ``jobs`` notebooks run at a time, each in its own kernel (every notebook writes only its own
    figure, claims file and executed copy, so the results do not depend on ``jobs``; the lab sweeps
    pin one torch thread, :mod:`convexlab.lab.threads`). One line is printed per notebook as it
    finishes; the rows come back in notebook order."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from tqdm.auto import tqdm

    from convexlab._validation import integer
    from convexlab.lab.notebooks import parameter_names

    integer("jobs", jobs, 1)
    tasks = []
    for path in paths:
        fig = out / "figures" / f"{path.stem}.png"
        claims = out / "claims" / f"{path.stem}.json"
        claims.unlink(missing_ok=True)
        fig.unlink(missing_ok=True)
        params = {"FAST": fast}
        if overrides:
            defined = set(parameter_names(path))
            params.update({k: v for k, v in overrides.items() if k in defined})
        params.update(FIGURE_PATH=str(fig), CLAIMS_PATH=str(claims))
        tasks.append((path, fig, params))
    bar = tqdm(total=len(tasks), desc="convexlab reproduce", unit="notebook", disable=not progress, leave=False)
    rows: dict[str, dict] = {}

    def finish(path: Path, fig: Path, seconds: float, error: str | None) -> None:
        if figures_dir is not None and fig.exists():
            figures_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(fig, figures_dir / fig.name)
        row = dict(notebook=path.stem, seconds=round(seconds, 1), verdict="pass" if error is None else "FAIL",
                   error=error, figure=fig.exists())
        rows[path.stem] = row
        line = f"{path.stem:<36} {seconds:7.1f} s  {row['verdict']}" + ("" if error is None else f"  {error}")
        (tqdm.write if progress else print)(line)
        bar.update(1)

    # each notebook runs in its own kernel process: threads here only wait on them
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(_execute_one, path, params, timeout, out / "notebooks" / path.name): (path, fig)
                   for path, fig, params in tasks}
        for fut in as_completed(futures):
            path, fig = futures[fut]
            seconds, error = fut.result()
            finish(path, fig, seconds, error)
    bar.close()
    return [rows[path.stem] for path, _, _ in tasks]


def claim_records(out: Path) -> dict[str, dict]:
    """Every claim verdict the notebooks recorded under ``out/claims`` (claim id → record + notebook)."""
    recs = {}
    for f in sorted((out / "claims").glob("*.json")):
        for cid, rec in json.loads(f.read_text()).items():
            recs.setdefault(cid, []).append(dict(rec, notebook=f.stem))
    return recs


def override_reach(paths, overrides: dict) -> dict[str, list[str]]:
    """For each overridden name, the stems of the selected notebooks whose parameters cell assigns
    it; :class:`UsageError` (before anything runs) for a name that none of them assigns, or for a
    notebook without a readable parameters cell."""
    from convexlab.lab.notebooks import parameter_names

    if not overrides:
        return {}
    defined = {}
    for p in paths:
        try:
            defined[p.stem] = set(parameter_names(p))
        except ValueError as err:
            raise UsageError(f"--set: {err}") from None
    reach = {name: [stem for stem, names in defined.items() if name in names] for name in overrides}
    unknown = [name for name, stems in reach.items() if not stems]
    if unknown:
        known = sorted(set().union(*defined.values()) - set(RESERVED))
        raise UsageError(f"--set {', '.join(unknown)}: no selected notebook's parameters cell assigns "
                         f"{'it' if len(unknown) == 1 else 'them'}; they assign: {', '.join(known)}")
    return reach


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from convexlab.theory.claims import claims_markdown
    from convexlab.lab.notebooks import notebook_paths

    try:
        paths = notebook_paths(args.notebooks)
    except ValueError as err:
        print(f"convexlab reproduce: {err}", file=sys.stderr)
        return 2
    if args.only:
        paths = [p for p in paths if any(s in p.stem for s in args.only)]
    if not paths:
        print(f"convexlab reproduce: no notebook matches {args.only!r}", file=sys.stderr)
        return 2
    flags = partial_flags(args)
    try:
        overrides = parse_set(args.set)
        reach = override_reach(paths, overrides)
        # absolute: the notebooks run with their own folder as the working directory
        out, gallery = destinations(args)
        validate_destinations(out, gallery, checks=args.checks)
    except UsageError as err:
        print(f"convexlab reproduce: {err}", file=sys.stderr)
        return 2
    if flags:
        print(f"partial run ({' '.join(flags)}): writing to {out}; the committed results/ and docs/figures/ "
              "are not touched")
    for name, stems in reach.items():
        left = len(paths) - len(stems)
        print(f"--set {name}={overrides[name]!r}: {', '.join(stems)}"
              + (f" ({left} other notebook{'s do' if left != 1 else ' does'} not assign {name})" if left else ""))
    fast = bool(overrides.get("FAST", args.fast))
    # per notebook, the overrides its parameters cell received (stated with its evidence's scale)
    reached = {p.stem: ", ".join(f"{k}={v!r}" for k, v in overrides.items() if p.stem in reach[k]) for p in paths}
    reached = {stem: text for stem, text in reached.items() if text}
    t0 = time.perf_counter()
    rows = run_notebooks(paths, out, fast=fast, figures_dir=gallery, timeout=args.timeout,
                         progress=args.progress, overrides=overrides, jobs=args.jobs)
    outcomes = []
    if args.checks:
        from convexlab.theory.report import write_outputs
        from convexlab.theory import CheckContext, run_checks, select

        outcomes = run_checks(select(args.check_only), CheckContext(), progress=args.progress)
        write_outputs(str(out / "checks"), outcomes, full=False, seed=0)
    atomic_write(out / "notebooks.json", json.dumps(rows, indent=2) + "\n")
    ran = {r["notebook"] for r in rows}
    records = {cid: kept for cid, recs in claim_records(out).items()
               if (kept := [r for r in recs if r["notebook"] in ran])}
    checks = {o.check.name: o for o in outcomes}
    atomic_write(out / "CLAIMS.md", claims_markdown(records, checks, rows, fast=fast,
                                                    partial=" ".join(flags) or None, overrides=reached))
    failed = [r for r in rows if r["verdict"] != "pass"] + [o for o in outcomes if o.verdict != "pass"]
    print(f"\n{len(rows)} notebooks, {len(outcomes)} checks, {len(failed)} failed ({time.perf_counter() - t0:.0f} s); "
          f"wrote {out / 'CLAIMS.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
