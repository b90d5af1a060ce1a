r"""Command line: ``convexlab check | reproduce | train | experiment | plot | bench optim|sim|compare|gpt``.

``convexlab check`` runs every registered check (``convexlab.theory``) at the default, CPU-sized
settings, shows a progress bar, then prints one table: name, source, provenance, kind,
expected/bound, measured, margin, verdict. The exit status is 1 if any check fails or errors.
"""

from __future__ import annotations

import argparse
import json
import sys

from convexlab import __version__
from convexlab._io import atomic_write


def _fmt(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        if x != x:
            return "nan"
        if x in (float("inf"), float("-inf")):
            return "inf" if x > 0 else "-inf"
        return f"{x:.3g}"
    return str(x)


def _rows(outcomes) -> list[list[str]]:
    rows = []
    for o in outcomes:
        c, r = o.check, o.result
        rows.append([
            c.name,
            c.source,
            c.provenance_label,
            c.kind,
            "-" if r is None else (_fmt(r.expected) if c.kind != "zscore" else f"|z| ≤ {_fmt(r.tolerance)}"),
            "-" if r is None else (_fmt(r.measured) + ("" if r.ci is None else f" [{_fmt(r.ci[0])}, {_fmt(r.ci[1])}]")),
            "-" if r is None else _fmt(r.margin),
            _fmt(slack_ratio(o)),
            o.verdict.upper() if o.verdict != "pass" else "pass",
        ])
    return rows


def slack_ratio(outcome) -> float | None:
    """measured/bound of an upper or lower bound (:attr:`convexlab.theory.registry.Outcome.ratio`), so
    that a loose bound is visible; None for other kinds."""
    return outcome.ratio


HEADER = ["check", "source", "provenance", "kind", "expected/bound", "measured", "margin", "measured/bound", "verdict"]


def format_table(outcomes, max_source: int = 44) -> str:
    rows = [[r[0], r[1] if len(r[1]) <= max_source else r[1][: max_source - 1] + "…", *r[2:]] for r in _rows(outcomes)]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(HEADER)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    out = [line(HEADER), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join(out)


def format_markdown(outcomes) -> str:
    esc = lambda s: s.replace("|", "\\|")  # noqa: E731
    out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in _rows(outcomes)]
    return "\n".join(out) + "\n"


def cmd_check(args) -> int:
    from convexlab.theory import CheckContext, run_checks, select

    checks = select(args.only)
    if not checks:
        print(f"convexlab check: no check matches {args.only!r} (see `convexlab check --list`)", file=sys.stderr)
        return 2
    if args.list:
        for c in checks:
            tag = " [reconstructed]" if c.reconstructed else ""
            print(f"{c.name}\n    {c.kind}; {c.source}; {c.provenance_label}{tag}\n    {c.description}")
        print(f"\n{len(checks)} checks")
        return 0
    ctx = CheckContext(full=args.full, seed=args.seed)
    # every destination is tried before any check runs, so that a bad path never loses a long run
    errors = [e for e in (_writable_file(args.json, "--json"), _writable_file(args.markdown, "--markdown"),
                          args.out and _writable_dir(args.out, "--out")) if e]
    if errors:
        for e in errors:
            print(f"convexlab check: {e}", file=sys.stderr)
        return 2
    if args.power:
        return cmd_power(args, checks, ctx)
    import torch

    # the checks' tensors are small: one thread avoids OpenMP start-up and contention on busy cores
    old_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    outcomes: list = []
    interrupted = False
    try:
        run_checks(checks, ctx, progress=not args.no_progress, into=outcomes)
    except KeyboardInterrupt:  # Ctrl-C: report and write what finished
        interrupted = True
    finally:
        torch.set_num_threads(old_threads)
    print(format_table(outcomes))
    failed = [o for o in outcomes if o.verdict != "pass"]
    total = sum(o.seconds for o in outcomes)
    print(f"\n{len(outcomes) - len(failed)} passed, {len(failed)} failed  ({total:.1f} s, "
          f"{'full' if args.full else 'default'} size, seed {args.seed})")
    for o in failed:
        msg = o.error or ", ".join(f"{k}={_fmt(v)}" for k, v in o.result.details.items())
        print(f"  {o.verdict.upper()}: {o.check.name}: {msg}")
    if args.json:
        payload = {"version": __version__, "full": args.full, "seed": args.seed, "checks": [o.as_dict() for o in outcomes]}
        atomic_write(args.json, json.dumps(payload, indent=2, default=float) + "\n")
    if args.markdown:
        atomic_write(args.markdown, format_markdown(outcomes))
    if args.out:
        paths = write_outputs(args.out, outcomes, full=args.full, seed=args.seed)
        print(f"wrote {len(paths)} files under {args.out}")
    if interrupted:
        print(f"interrupted after {len(outcomes)} of {len(checks)} checks: the table above and the files written "
              "hold the finished ones", file=sys.stderr)
        return 130
    return 1 if failed else 0


def _writable_file(path: str | None, flag: str) -> str | None:
    """None if ``path`` is None or a file that can be written (its missing parent folders are made
    on writing), else a one-line error."""
    import os

    if path is None:
        return None
    if os.path.isdir(path):
        return f"{flag} must be a file path, got the directory {path!r}"
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        return f"{flag} must be a path under a directory, got {path!r} ({parent!r} is a file)"
    if not os.access(parent, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        return f"{flag} must be a writable path, got {path!r}: permission denied"
    return None


def _writable_dir(path: str, flag: str) -> str | None:
    """None if ``path`` is (or can be made) a writable directory, else a one-line error."""
    import os

    if os.path.exists(path) and not os.path.isdir(path):
        return f"{flag} must be a directory, got the existing file {path!r}"
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        return f"{flag} must be a writable directory, got {path!r}: {exc.strerror}"
    if not os.access(path, os.W_OK):
        return f"{flag} must be a writable directory, got {path!r}: permission denied"
    return None


def cmd_power(args, checks, ctx) -> int:
    """``convexlab check --power``: the panel of broken algorithms against every selected check that
    judges an algorithm; prints the detection matrix; exit 1 on a defect (a member a check must
    catch that it missed, or an undeclared member)."""
    import torch

    from convexlab.theory import power as P

    if not P.subject_checks(checks):
        print("convexlab check --power: none of the selected checks judges an algorithm", file=sys.stderr)
        return 2
    cache = None if args.no_cache else (args.cache or P.default_cache_path())
    old_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    t0 = __import__("time").perf_counter()
    try:
        report = P.run_power(checks, ctx, cache=cache, progress=not args.no_progress)
    except ValueError as exc:
        print(f"convexlab check: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted; finished cells are kept in {cache} and a rerun resumes from them", file=sys.stderr)
        return 130
    finally:
        torch.set_num_threads(old_threads)
    print(P.format_matrix(report))
    print(f"({__import__('time').perf_counter() - t0:.1f} s; cache: {cache or 'off'})")
    if args.out:
        paths = P.write_power(args.out, report)
        print(f"wrote {len(paths)} files under {args.out}")
    return 1 if report.defects else 0


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name).strip("_")


def check_rows(outcomes) -> list[dict]:
    """The check table as tidy rows (one per check), for CSV."""
    rows = []
    for o in outcomes:
        c, r = o.check, o.result
        row = dict(name=c.name, source=c.source, provenance=c.provenance, reconstructed=c.reconstructed, kind=c.kind,
                   verdict=o.verdict, seconds=round(o.seconds, 4))
        if r is not None:
            row.update(expected=r.expected, measured=r.measured, tolerance=r.tolerance, margin=r.margin,
                       ci_low=None if r.ci is None else r.ci[0], ci_high=None if r.ci is None else r.ci[1],
                       slack_ratio=slack_ratio(o))
        else:
            row.update(error=o.error)
        rows.append(row)
    return rows


def write_outputs(out_dir: str, outcomes, *, full: bool, seed: int) -> list[str]:
    """``--out DIR``: ``checks.csv`` (the table), ``summary.json``, ``series/<check>.csv`` (the tidy data
    behind each check's figure, where the check attached some) and ``figures/<check>.png``."""
    from pathlib import Path

    from convexlab._io import atomic_write_bytes, csv_text
    from convexlab.plotting import check_figure, png_bytes

    root = Path(out_dir)
    written = []
    columns = ["name", "source", "provenance", "reconstructed", "kind", "verdict", "expected", "measured", "ci_low",
               "ci_high", "tolerance", "margin", "slack_ratio", "seconds", "error"]
    atomic_write(root / "checks.csv", csv_text(check_rows(outcomes), columns))
    written.append(str(root / "checks.csv"))
    payload = {"version": __version__, "full": full, "seed": seed, "checks": [o.as_dict() for o in outcomes]}
    atomic_write(root / "summary.json", json.dumps(payload, indent=2, default=float) + "\n")
    written.append(str(root / "summary.json"))
    for o in outcomes:
        slug = _slug(o.check.name)
        if o.result is not None and o.result.series:
            atomic_write(root / "series" / f"{slug}.csv", csv_text(o.result.series))
            written.append(str(root / "series" / f"{slug}.csv"))
        atomic_write_bytes(root / "figures" / f"{slug}.png", png_bytes(check_figure(o)))
        written.append(str(root / "figures" / f"{slug}.png"))
    return written


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="convexlab", description="convexlab: executable claims for sign-based and spectral optimizers")
    p.add_argument("--version", action="version", version=f"convexlab {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="run the registered theory and identity checks and print the table")
    c.add_argument("--list", action="store_true", help="list the checks (name, kind, source, provenance) and exit")
    c.add_argument("--only", action="append", metavar="PATTERN",
                   help="run the checks whose name matches PATTERN (substring, or with the wildcards * and ?); repeatable")
    c.add_argument("--full", action="store_true", help="larger sizes and more samples")
    c.add_argument("--seed", type=_seed, default=0, help="base random seed (integer >= 0, default 0)")
    c.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    c.add_argument("--markdown", metavar="PATH", help="also write the table as Markdown")
    c.add_argument("--out", metavar="DIR", help="also write checks.csv, summary.json, series/*.csv and one figure "
                   "per check (figures/*.png) under DIR")
    c.add_argument("--threads", type=_positive_int, default=1,
                   help="torch threads while the checks run (default 1: the checks' tensors are small)")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")
    c.add_argument("--power", action="store_true",
                   help="run the panel of broken algorithms (convexlab.theory.mutants) against every selected check "
                   "that judges an algorithm and print the detection matrix (with --out: power.csv, power.png)")
    c.add_argument("--cache", metavar="PATH", help="--power: SQLite file of finished cells, so that a rerun resumes "
                   "(default ~/.cache/convexlab/power.sqlite)")
    c.add_argument("--no-cache", action="store_true", help="--power: recompute every cell, store nothing")
    c.set_defaults(func=cmd_check)
    sub.add_parser("train", help="train a GPT with any registry optimizer (see `convexlab train --help`)",
                   add_help=False)
    sub.add_parser("experiment", help="run a GPT experiment preset (fp8 | anytime | softstar) and summarise it",
                   add_help=False)
    sub.add_parser("plot", help="figures from GPT experiment directories", add_help=False)
    r = sub.add_parser("reproduce", help="execute every notebook (full mode), run the checks, write results/ and "
                       "results/CLAIMS.md", add_help=False)
    r.add_argument("args", nargs=argparse.REMAINDER, help="options (see `convexlab reproduce --help`)")
    r.set_defaults(func=cmd_reproduce)
    b = sub.add_parser("bench", help="benchmarks that print ratios against a reference measured in the same run")
    b.add_argument("suite", choices=["optim", "sim", "compare", "gpt"], help="optim: step time and state bytes of every "
                   "registry optimizer; sim: the batched simulator's throughput against a per-seed loop; compare: "
                   "the multi-dimensional optimizer benchmark; gpt: tokens/s, MFU and optimizer step share of the GPT")
    b.add_argument("args", nargs=argparse.REMAINDER, help="options of the suite (see `convexlab bench optim --help`)")
    b.set_defaults(func=cmd_bench)
    return p


def cmd_reproduce(args) -> int:
    from convexlab.reproduce import main as reproduce_main

    return reproduce_main(args.args)


def cmd_bench(args) -> int:
    if args.suite == "optim":
        from convexlab.bench.optim_speed import main as bench_main

        return bench_main(args.args)
    if args.suite == "gpt":
        from convexlab.llm.bench import main as gpt_main

        return gpt_main(args.args)
    if args.suite == "compare":
        from convexlab.bench.compare import main as compare_main

        return compare_main(args.args)
    if args.suite == "sim":
        from convexlab.bench.sim_speed import main as sim_main

        return sim_main(args.args)
    raise AssertionError(args.suite)  # argparse restricts the choices


def _int_at_least(option: str, low: int):
    from convexlab._validation import argparse_int_at_least

    return argparse_int_at_least(option, low)


_positive_int = _int_at_least("--threads", 1)
_seed = _int_at_least("--seed", 0)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["reproduce"]:  # its options come first, which argparse.REMAINDER cannot take
        from convexlab.reproduce import main as reproduce_main

        return reproduce_main(argv[1:])
    if argv[:1] == ["train"]:
        from convexlab.llm.train import main as train_main

        return train_main(argv[1:])
    if argv[:1] == ["experiment"]:
        from convexlab.llm.experiments import main as experiment_main

        return experiment_main(argv[1:])
    if argv[:1] == ["plot"]:
        from convexlab.llm.plots import main as plot_main

        return plot_main(argv[1:])
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
