r"""``convexlab reproduce``: execute every notebook, collect the claims, write ``results/``.

Where the results go (the rule, also in ``convexlab reproduce --help``): only a **full default run**
(no ``--fast``, ``--only``, ``--no-checks``, ``--check-only`` or ``--notebooks``) writes the
committed files: ``results/`` (``results/CLAIMS.md`` among them) and the README gallery
``docs/figures/`` (a full run with another ``--out`` copies no gallery figure unless
``--figures-dir`` is given). Any **partial run** writes to a fresh scratch directory,
``results/partial/<UTC timestamp>/`` (ignored by git), or to ``--out DIR``; it copies no figure to a
gallery unless ``--figures-dir DIR`` is given, and it refuses (exit 2) an ``--out`` or
``--figures-dir`` that is the committed ``results/`` or ``docs/figures/``.

For each selected ``notebooks/NN_topic.ipynb`` (in full mode, ``FAST = False``, unless ``--fast``):

* the executed copy goes to ``OUT/notebooks/NN_topic.ipynb`` (also when it fails, with the
  traceback in it), its headline figure to ``OUT/figures/NN_topic.png`` (and, in a full run, to the
  gallery ``docs/figures/NN_topic.png``), and its claim verdicts to ``OUT/claims/NN_topic.json``;
* one line is printed per notebook: name, seconds, verdict.

Then ``convexlab check`` runs (default size; ``--check-only`` selects a subset, ``--no-checks``
skips it) into ``OUT/checks/`` (the ``check --out`` layout), and ``OUT/CLAIMS.md`` lists every
headline claim of :data:`convexlab.claims.CLAIMS` with the evidence produced **in this run**
(notebooks and checks) and its status at our scale; a claim none of whose evidence ran is
``not run`` (:func:`convexlab.claims.status_of`). ``OUT/notebooks.json`` holds this run's rows.

The output directories are validated before any notebook runs (created if missing, and a probe file
written in each): a path that is a file where a directory is expected, or that cannot be written,
is a one-line error and exit 2. The exit status is 1 if a notebook or a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from convexlab._io import atomic_write

REPO = Path(__file__).resolve().parents[1]


#: The committed outputs only a full default run may write.
COMMITTED_RESULTS = REPO / "results"
COMMITTED_GALLERY = REPO / "docs" / "figures"

RULE = ("Only a full default run (none of --fast, --only, --no-checks, --check-only, --notebooks) writes the "
        "committed results/ (results/CLAIMS.md) and the gallery docs/figures/. A partial run writes to a new "
        "results/partial/<UTC timestamp>/ or to --out DIR, copies figures to a gallery only with --figures-dir DIR, "
        "and may not write to results/ or docs/figures/. A claim none of whose notebooks or checks ran is "
        "'not run'.")


class UsageError(Exception):
    """A user error: reported as one line and exit status 2."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="convexlab reproduce",
                                description="Execute every notebook, run the checks, and write the claims table. " + RULE)
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
    p.add_argument("--fast", action="store_true", help="FAST mode (the tests' sizes) instead of full mode (partial run)")
    p.add_argument("--timeout", type=_positive_int, default=3600, metavar="SECONDS",
                   help="per-cell timeout in seconds (integer >= 1, default 3600)")
    p.add_argument("--check-only", action="append", metavar="PATTERN",
                   help="run only the checks matching PATTERN; repeatable (partial run)")
    p.add_argument("--no-checks", action="store_true", help="do not run convexlab check (partial run)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar; one plain line per notebook")
    return p


def partial_flags(args) -> list[str]:
    """The options that make this a partial run (empty for a full default run)."""
    flags = []
    if args.fast:
        flags.append("--fast")
    flags += [f"--only {s}" for s in args.only or []]
    if args.no_checks:
        flags.append("--no-checks")
    flags += [f"--check-only {s}" for s in args.check_only or []]
    if args.notebooks is not None:
        flags.append(f"--notebooks {args.notebooks}")
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
    """Create ``path`` (with its parents) and write and remove a probe file in it; :class:`UsageError`
    naming ``option`` and the path when it is a file or cannot be written."""
    for parent in [path, *path.parents]:
        if parent.exists() and not parent.is_dir():
            raise UsageError(f"{option} {path}: {parent} is a file, a directory is expected")
        if parent.exists():
            break
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".convexlab-probe.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise UsageError(f"{option} {path}: cannot write there ({err.strerror or err})") from None


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


def run_notebooks(paths, out: Path, *, fast: bool, figures_dir: Path | None, timeout: int, progress: bool) -> list[dict]:
    from tqdm.auto import tqdm

    from convexlab.notebooks import execute

    rows = []
    bar = tqdm(paths, desc="convexlab reproduce", unit="notebook", disable=not progress, leave=False)
    for path in bar:
        bar.set_postfix_str(path.stem)
        fig = out / "figures" / f"{path.stem}.png"
        claims = out / "claims" / f"{path.stem}.json"
        claims.unlink(missing_ok=True)
        fig.unlink(missing_ok=True)
        params = {"FAST": fast, "FIGURE_PATH": str(fig), "CLAIMS_PATH": str(claims)}
        _, seconds, error = execute(path, params, timeout=timeout, save_to=out / "notebooks" / path.name)
        if figures_dir is not None and fig.exists():
            figures_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(fig, figures_dir / fig.name)
        row = dict(notebook=path.stem, seconds=round(seconds, 1), verdict="pass" if error is None else "FAIL",
                   error=error, figure=fig.exists())
        rows.append(row)
        line = f"{path.stem:<36} {seconds:7.1f} s  {row['verdict']}" + ("" if error is None else f"  {error}")
        (tqdm.write if progress else print)(line)
    return rows


def claim_records(out: Path) -> dict[str, dict]:
    """Every claim verdict the notebooks recorded under ``out/claims`` (claim id → record + notebook)."""
    recs = {}
    for f in sorted((out / "claims").glob("*.json")):
        for cid, rec in json.loads(f.read_text()).items():
            recs.setdefault(cid, []).append(dict(rec, notebook=f.stem))
    return recs


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from convexlab.claims import claims_markdown
    from convexlab.notebooks import notebook_paths

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
        # absolute: the notebooks run with their own folder as the working directory
        out, gallery = destinations(args)
        validate_destinations(out, gallery, checks=not args.no_checks)
    except UsageError as err:
        print(f"convexlab reproduce: {err}", file=sys.stderr)
        return 2
    if flags:
        print(f"partial run ({' '.join(flags)}): writing to {out}; the committed results/ and docs/figures/ "
              "are not touched")
    t0 = time.perf_counter()
    rows = run_notebooks(paths, out, fast=args.fast, figures_dir=gallery, timeout=args.timeout,
                         progress=not args.no_progress)
    outcomes = []
    if not args.no_checks:
        from convexlab.cli import write_outputs
        from convexlab.theory import CheckContext, run_checks, select

        outcomes = run_checks(select(args.check_only), CheckContext(), progress=not args.no_progress)
        write_outputs(str(out / "checks"), outcomes, full=False, seed=0)
    atomic_write(out / "notebooks.json", json.dumps(rows, indent=2) + "\n")
    ran = {r["notebook"] for r in rows}
    records = {cid: kept for cid, recs in claim_records(out).items()
               if (kept := [r for r in recs if r["notebook"] in ran])}
    checks = {o.check.name: o for o in outcomes}
    atomic_write(out / "CLAIMS.md", claims_markdown(records, checks, rows, fast=args.fast,
                                                    partial=" ".join(flags) or None))
    failed = [r for r in rows if r["verdict"] != "pass"] + [o for o in outcomes if o.verdict != "pass"]
    print(f"\n{len(rows)} notebooks, {len(outcomes)} checks, {len(failed)} failed ({time.perf_counter() - t0:.0f} s); "
          f"wrote {out / 'CLAIMS.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
