r"""The check report: the terminal table, the family summary and closing line, Markdown, and the
``--out`` layout (``checks.csv``, ``summary.json``, ``series/``, ``figures/``), plus the
``convexlab check`` command built on them (:func:`check_command`; the parser is in :mod:`convexlab.cli`).

The table is laid out for the terminal's width (``--width``): verdict, name, kind, expected/bound,
measured, 3σ interval, margin, measured/bound, provenance tag, source (the long text shortened or
wrapped, never the verdict); then a summary per family and a closing line saying what was verified
and where the details are. ``--markdown``, ``--json`` and ``--out`` keep the full text.
:mod:`convexlab.lab.reproduce` writes ``results/checks`` with :func:`write_outputs`.
"""

from __future__ import annotations

import json
import sys

from convexlab import __version__
from convexlab._io import atomic_write, dir_destination_error, file_destination_error

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

#: ``--width`` below this is laid out at this width (the verdict, the bound, the measurement and
#: measured/bound of every check need about this much on one line)
MIN_WIDTH = 80
#: the narrowest the wrapped check-name column gets, and the narrowest source column worth showing
_NAME_MIN, _SOURCE_MIN = 20, 16
_SEP = "  "
_KIND_SHORT = {"counterexample": "counterex."}


def _wrap_name(name: str, width: int, indent: str = "  ") -> list[str]:
    """``name`` in lines of at most ``width`` characters, the continuation lines indented by
    ``indent``, broken after ``.`` and before ``[`` where that suffices, else also after ``,`` and
    before ``(``, else anywhere (a check name is the handle for ``--only``: it is wrapped, never
    shortened)."""
    import re

    if len(name) <= width:
        return [name]
    # break before "[" and after "." where that suffices; before "(" and after "," only where needed
    tokens = [t for t in re.findall(r"\[?[^.;\s\[]*[.;\s]?", name) if t]
    if max(map(len, tokens)) > width - len(indent):
        tokens = re.findall(r"[\[(]?[^.,;\s\[(]*[.,;\s]?", name)
    lines, cur = [], ""
    for tok in tokens:
        if not tok:
            continue
        limit = width if not lines else width - len(indent)
        if cur and len(cur) + len(tok) > limit:
            lines.append(cur)
            cur, limit = "", width - len(indent)
        cur += tok
        while len(cur) > limit:  # a piece longer than the column: split it hard
            lines.append(cur[:limit])
            cur, limit = cur[limit:], width - len(indent)
    if cur:
        lines.append(cur)
    return [lines[0], *(indent + s for s in lines[1:])]


def _short_source(source: str) -> str:
    """The source without its arXiv number, which the full outputs keep."""
    import re

    return re.sub(r"\s*\(arXiv [^)]*\)", "", source)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _terminal_cells(o) -> dict:
    c, r = o.check, o.result
    measured = "-" if r is None else _fmt(r.measured)
    return {
        "verdict": o.verdict.upper() if o.verdict != "pass" else "pass",
        "check": c.name,
        "kind": _KIND_SHORT.get(c.kind, c.kind),
        "bound": "-" if r is None else (_fmt(r.expected) if c.kind != "zscore" else f"|z| ≤ {_fmt(r.tolerance)}"),
        "measured": measured,
        "interval": "-" if r is None or r.ci is None else f"[{_fmt(r.ci[0])}, {_fmt(r.ci[1])}]",
        "margin": "-" if r is None else _fmt(r.margin),
        "ratio": _fmt(slack_ratio(o)),
        "prov": c.provenance,
        "source": _short_source(c.source),
    }


#: terminal columns in display order: key, header
_TERMINAL_COLUMNS = [("verdict", "verdict"), ("check", "check"), ("kind", "kind"), ("bound", "exp./bound"),
                     ("measured", "measured"), ("interval", "3σ interval"), ("margin", "margin"),
                     ("ratio", "meas/bound"), ("prov", "prov"), ("source", "source")]
#: what goes first when the line is too narrow, in order (the verdict, the check, the bound, the
#: measurement, measured/bound and the provenance tag always stay)
_DROP_ORDER = ["interval", "margin", "kind"]


def format_table(outcomes, width: int | None = None) -> str:
    """The ``convexlab check`` table for a terminal ``width`` columns wide (None: no limit, full text).

    One line per check carries its verdict (first column), the bound, the measurement, measured/bound
    and the provenance tag; a check name longer than its column continues on the next lines
    (wrapped, never shortened); the source is shortened (its arXiv number dropped, then cut with
    "…") and left out below 16 columns; then the 3σ interval, the margin and the kind are left out,
    in that order, until the line fits. Widths below :data:`MIN_WIDTH` are laid out at
    ``MIN_WIDTH``. ``--markdown``, ``--json`` and ``--out`` keep the full text.
    """
    cells = [_terminal_cells(o) for o in outcomes]
    cols = [k for k, _ in _TERMINAL_COLUMNS]
    head = dict(_TERMINAL_COLUMNS)
    if cells and all(c["interval"] == "-" for c in cells):
        cols.remove("interval")
    if cells and all(c["ratio"] == "-" for c in cells):
        cols.remove("ratio")
    natural = {k: max(len(head[k]), *(len(c[k]) for c in cells)) if cells else len(head[k]) for k in cols}
    widths = dict(natural)
    if width is not None:
        width = max(int(width), MIN_WIDTH)

        def fixed(columns):
            return sum(widths[k] for k in columns if k not in ("check", "source")) + len(_SEP) * (len(columns) - 1)

        # the source takes what the full check names leave; then the names wrap; then columns go
        room = width - fixed(cols) - natural["check"]
        if room >= _SOURCE_MIN:
            widths["source"] = min(natural["source"], room)
        else:
            cols.remove("source")
            for key in [None, *_DROP_ORDER]:
                if key is not None and key in cols:
                    cols.remove(key)
                if width - fixed(cols) >= min(natural["check"], 36):
                    break
            widths["check"] = max(min(natural["check"], width - fixed(cols)), _NAME_MIN)
    line = lambda parts: _SEP.join(p.ljust(widths[k]) for k, p in zip(cols, parts)).rstrip()  # noqa: E731
    out = [line([head[k] for k in cols]), line(["-" * widths[k] for k in cols])]
    for c in cells:
        names = _wrap_name(c["check"], widths["check"])
        out.append(line([names[0] if k == "check" else _clip(c[k], widths[k]) for k in cols]))
        out += [line([n if k == "check" else "" for k in cols]) for n in names[1:]]
    return "\n".join(out)


def provenance_legend(outcomes, width: int | None = None) -> str:
    """One line (wrapped to ``width``) naming the provenance tags the table shows."""
    import textwrap

    from convexlab.theory.registry import PROVENANCE

    tags = list(dict.fromkeys(o.check.provenance for o in outcomes))
    if not tags:
        return ""
    text = "prov: " + "; ".join(f"{t} {PROVENANCE[t]}" for t in tags)
    return text if width is None else textwrap.fill(text, max(int(width), MIN_WIDTH), subsequent_indent="      ")


def family(name: str) -> str:
    """A check's family: its name up to the first dot (``geometry``, ``stosignsgd``, ...)."""
    return name.split(".", 1)[0]


_KIND_PLURAL = {"identity": "identities", "upper": "upper bounds", "lower": "lower bounds", "zscore": "z-tests",
                "tight": "tight values", "counterexample": "counterexamples", "rate": "rates"}


def _kinds_text(outcomes, short: bool = False) -> str:
    """How many checks of each kind, most frequent first: "80 identities, 44 upper bounds, ..." (or,
    ``short``, with the kind names of the table: "80 identity, 44 upper, ...")."""
    from collections import Counter

    counts = Counter(o.check.kind for o in outcomes)
    return ", ".join(f"{n} {k if short or n == 1 else _KIND_PLURAL.get(k, k)}" for k, n in counts.most_common())


def format_family_summary(outcomes, width: int | None = None) -> str:
    """One line per family (in order of first appearance): checks, passed, failed, errors (a column
    only when some check errored), seconds and what kinds of statement it holds."""
    groups: dict[str, list] = {}
    for o in outcomes:
        groups.setdefault(family(o.check.name), []).append(o)
    rows = [["family", "checks", "passed", "failed", "errors", "seconds", "kinds"]]
    for fam, members in groups.items():
        rows.append([fam, str(len(members)), str(sum(o.verdict == "pass" for o in members)),
                     str(sum(o.verdict == "fail" for o in members)), str(sum(o.verdict == "error" for o in members)),
                     f"{sum(o.seconds for o in members):.1f}", _kinds_text(members, short=True)])
    if not any(r[4] != "0" for r in rows[1:]):  # no errors: no column for them
        rows = [r[:4] + r[5:] for r in rows]
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [_SEP.join([r[0].ljust(w[0]), *(x.rjust(w[i]) for i, x in enumerate(r[1:-1], 1)), r[-1]]) for r in rows]
    if width is not None:
        lines = [_clip(s, max(int(width), MIN_WIDTH)) for s in lines]
    return "\n".join(lines)


def closing_line(outcomes, *, total_checks: int, seconds: float, full: bool, seed: int,
                 details: list[str] | None = None, width: int | None = None, registered: int | None = None) -> str:
    """The last line of ``convexlab check`` (wrapped to ``width``): how many passed, what was
    verified and where the details are (the files written, else the options that write them).
    ``total_checks``: how many were selected (more than ran after Ctrl-C); ``registered``: how many
    exist, when ``--only`` selected fewer."""
    import textwrap

    failed = [o for o in outcomes if o.verdict != "pass"]
    n, fams = len(outcomes), len({family(o.check.name) for o in outcomes})
    head = (f"{n - len(failed)} passed, {len(failed)} failed  ({seconds:.1f} s, {'full' if full else 'default'} "
            f"size, seed {seed})")
    scope = f"{n} checks" if n == total_checks else f"{n} of {total_checks} checks"
    if registered is not None and registered > total_checks:
        scope += f" selected by --only (of {registered})"
    if not outcomes:
        what = f"none of the {total_checks} checks finished"
    elif not failed:
        what = f"all {scope} in {fams} {'family' if fams == 1 else 'families'} hold ({_kinds_text(outcomes)})"
    else:
        errors = sum(o.verdict == "error" for o in failed)
        what = (f"{len(failed)} of {scope} did not hold ({len(failed) - errors} failed, {errors} errors; "
                "listed below)")
    where = ("; details: " + ", ".join(details)) if details else (
        "; details: convexlab check --list (what each check states), --markdown FILE (full table), "
        "--out DIR (CSV, data series, figures)")
    text = f"{head}: {what}{where}"
    return text if width is None else textwrap.fill(text, max(int(width), MIN_WIDTH), break_on_hyphens=False)


def format_markdown(outcomes) -> str:
    esc = lambda s: s.replace("|", "\\|")  # noqa: E731
    out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in _rows(outcomes)]
    return "\n".join(out) + "\n"


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


def write_outputs(out_dir: str, outcomes, *, full: bool, seed: int, fmt: str = "png", dpi: int = 200) -> list[str]:
    """``--out DIR``: ``checks.csv`` (the table), ``summary.json``, ``series/<check>.csv`` (the tidy data
    behind each check's figure, where the check attached some) and ``figures/<check>.<fmt>``
    (:func:`convexlab.plotting.check_figure` in the slide style, saved by
    :func:`~convexlab.plotting.figure_bytes` as ``fmt`` ∈ png | svg | pdf at ``dpi`` ≥ 50)."""
    from pathlib import Path

    from convexlab._io import atomic_write_bytes, csv_text
    from convexlab.plotting import check_dpi, check_figure, check_format, figure_bytes

    check_format(fmt)
    dpi = check_dpi(dpi)

    root = Path(out_dir)
    written = []
    columns = ["name", "source", "provenance", "reconstructed", "kind", "verdict", "expected", "measured", "ci_low",
               "ci_high", "tolerance", "margin", "slack_ratio", "seconds", "error"]
    atomic_write(root / "checks.csv", csv_text(check_rows(outcomes), columns))
    written.append(str(root / "checks.csv"))
    from convexlab._io import provenance

    payload = {"version": __version__, **provenance(), "full": full, "seed": seed,
               "checks": [o.as_dict() for o in outcomes]}
    atomic_write(root / "summary.json", json.dumps(payload, indent=2, default=float) + "\n")
    written.append(str(root / "summary.json"))
    for o in outcomes:
        slug = _slug(o.check.name)
        if o.result is not None and o.result.series:
            atomic_write(root / "series" / f"{slug}.csv", csv_text(o.result.series))
            written.append(str(root / "series" / f"{slug}.csv"))
        fig = check_figure(o)
        atomic_write_bytes(root / "figures" / f"{slug}.{fmt}", figure_bytes(fig, fmt, dpi))
        fig.clear()  # the figures of a --full run add up: free each one's artists once written
        written.append(str(root / "figures" / f"{slug}.{fmt}"))
    return written


def terminal_width(requested: int | None) -> int | None:
    """The width the table is laid out for: ``requested`` (0 means no limit, None), else the
    terminal's (``shutil.get_terminal_size``, which reads ``COLUMNS`` first; 100 when unknown)."""
    import shutil

    if requested is not None:
        return requested or None
    return shutil.get_terminal_size(fallback=(100, 24)).columns


def check_command(args) -> int:
    """``convexlab check`` (parsed ``args`` from :func:`convexlab.cli.build_parser`): run, print, write."""
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
    errors = [e for e in (file_destination_error(args.json, "--json"), file_destination_error(args.markdown, "--markdown"),
                          args.out and dir_destination_error(args.out, "--out"), _figure_option_error(args)) if e]
    if errors:
        for e in errors:
            print(f"convexlab check: {e}", file=sys.stderr)
        return 2
    if args.power:
        return power_command(args, checks, ctx)
    import torch

    # the checks' tensors are small: one thread avoids OpenMP start-up and contention on busy cores
    old_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    outcomes: list = []
    interrupted = False
    try:
        run_checks(checks, ctx, progress=args.progress, into=outcomes)
    except KeyboardInterrupt:  # Ctrl-C: report and write what finished
        interrupted = True
    finally:
        torch.set_num_threads(old_threads)
    width = terminal_width(args.width)
    print(format_table(outcomes, width))
    if outcomes:
        print(provenance_legend(outcomes, width))
    failed = [o for o in outcomes if o.verdict != "pass"]
    total = sum(o.seconds for o in outcomes)
    print("\n" + format_family_summary(outcomes, width))
    details = []
    if args.json:
        payload = {"version": __version__, "full": args.full, "seed": args.seed, "checks": [o.as_dict() for o in outcomes]}
        atomic_write(args.json, json.dumps(payload, indent=2, default=float) + "\n")
        details.append(f"{args.json} (JSON)")
    if args.markdown:
        atomic_write(args.markdown, format_markdown(outcomes))
        details.append(f"{args.markdown} (full table)")
    if args.out:
        paths = write_outputs(args.out, outcomes, full=args.full, seed=args.seed, fmt=args.format,
                              dpi=int(args.dpi))
        print(f"wrote {len(paths)} files under {args.out}")
        details.append(f"{args.out} (CSV, data series, figures)")
    from convexlab.theory.registry import REGISTRY

    print("\n" + closing_line(outcomes, total_checks=len(checks), seconds=total, full=args.full, seed=args.seed,
                              details=details, width=width, registered=len(REGISTRY)))
    for o in failed:
        msg = o.error or ", ".join(f"{k}={_fmt(v)}" for k, v in o.result.details.items())
        print(f"  {o.verdict.upper()}: {o.check.name}: {msg}")
    if interrupted:
        print(f"interrupted after {len(outcomes)} of {len(checks)} checks: the table above and the files written "
              "hold the finished ones", file=sys.stderr)
        return 130
    return 1 if failed else 0


def _figure_option_error(args) -> str | None:
    """None if ``--format`` and ``--dpi`` are valid (:func:`convexlab.plotting.check_format`,
    :func:`~convexlab.plotting.check_dpi`), else a one-line error; checked before any check runs."""
    from convexlab.plotting import check_dpi, check_format

    try:
        check_format(args.format)
        args.dpi = check_dpi(args.dpi)
    except ValueError as exc:
        return str(exc)
    return None


def power_command(args, checks, ctx) -> int:
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
        report = P.run_power(checks, ctx, cache=cache, progress=args.progress)
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
