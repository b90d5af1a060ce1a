r"""``convexlab reproduce``: execute every notebook, collect the claims, write ``results/``.

For each ``notebooks/NN_topic.ipynb`` (in full mode, ``FAST = False``, unless ``--fast``):

* the executed copy goes to ``results/notebooks/NN_topic.ipynb`` (also when it fails, with the
  traceback in it), its headline figure to ``results/figures/NN_topic.png`` and to the README
  gallery ``docs/figures/NN_topic.png``, and its claim verdicts to ``results/claims/NN_topic.json``;
* one line is printed per notebook: name, seconds, verdict. A partial run (``--only``) keeps the
  rows of the notebooks it did not run, and with ``--no-checks`` the check evidence of the last
  run (``results/checks/summary.json``).

Then ``convexlab check`` runs (default size; ``--check-only`` selects a subset, ``--no-checks``
skips it) into ``results/checks/`` (the ``--out`` layout), and ``results/CLAIMS.md`` lists every
headline claim of :data:`convexlab.claims.CLAIMS` with the evidence (notebooks and checks) and its
status at our scale. The exit status is 1 if a notebook or a check fails.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from convexlab._io import atomic_write

REPO = Path(__file__).resolve().parents[1]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="convexlab reproduce", description="execute every notebook and write results/")
    p.add_argument("--out", default="results", help="results directory (default: results)")
    p.add_argument("--notebooks", default=None, help="notebook directory (default: the repository's notebooks/)")
    p.add_argument("--figures-dir", default=str(REPO / "docs" / "figures"),
                   help="where the README gallery figures go (default: docs/figures); '' to skip")
    p.add_argument("--only", action="append", metavar="SUBSTRING", help="run the notebooks whose name contains it")
    p.add_argument("--fast", action="store_true", help="FAST mode (the tests' sizes) instead of full mode")
    p.add_argument("--timeout", type=int, default=3600, help="per-cell timeout in seconds (default 3600)")
    p.add_argument("--check-only", action="append", metavar="PATTERN", help="run only these checks")
    p.add_argument("--no-checks", action="store_true", help="do not run convexlab check")
    p.add_argument("--no-progress", action="store_true")
    return p


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


def stored_checks(path: Path) -> dict:
    """The check outcomes of an earlier run (``results/checks/summary.json``), so that a partial
    ``reproduce --no-checks`` still lists the check evidence in CLAIMS.md; {} when there is none."""
    from types import SimpleNamespace

    if not path.exists():
        return {}
    out = {}
    for c in json.loads(path.read_text())["checks"]:
        r = c["result"]
        res = None if r is None else SimpleNamespace(measured=r["measured"], expected=r["expected"],
                                                    details=r.get("details", {}))
        out[c["name"]] = SimpleNamespace(check=SimpleNamespace(name=c["name"], kind=c["kind"]), result=res,
                                         verdict=c["verdict"], error=c["error"])
    return out


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from convexlab.claims import claims_markdown
    from convexlab.notebooks import notebook_paths

    # absolute: the notebooks run with their own folder as the working directory
    out = Path(args.out).resolve()
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
    t0 = time.perf_counter()
    figures_dir = Path(args.figures_dir).resolve() if args.figures_dir else None
    rows = run_notebooks(paths, out, fast=args.fast, figures_dir=figures_dir, timeout=args.timeout,
                         progress=not args.no_progress)
    outcomes = []
    if not args.no_checks:
        from convexlab.cli import write_outputs
        from convexlab.theory import CheckContext, run_checks, select

        outcomes = run_checks(select(args.check_only), CheckContext(), progress=not args.no_progress)
        write_outputs(str(out / "checks"), outcomes, full=False, seed=0)
    ran = {r["notebook"] for r in rows}
    previous = json.loads((out / "notebooks.json").read_text()) if (out / "notebooks.json").exists() else []
    all_rows = sorted([r for r in previous if r["notebook"] not in ran] + rows, key=lambda r: r["notebook"])
    atomic_write(out / "notebooks.json", json.dumps(all_rows, indent=2) + "\n")
    checks = {o.check.name: o for o in outcomes} if outcomes else stored_checks(out / "checks" / "summary.json")
    atomic_write(out / "CLAIMS.md", claims_markdown(claim_records(out), checks, all_rows, fast=args.fast))
    failed = [r for r in rows if r["verdict"] != "pass"] + [o for o in outcomes if o.verdict != "pass"]
    print(f"\n{len(rows)} notebooks, {len(outcomes)} checks, {len(failed)} failed ({time.perf_counter() - t0:.0f} s); "
          f"wrote {out / 'CLAIMS.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
