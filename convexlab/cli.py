r"""Command line: ``convexlab check | reproduce | train | experiment | plot | bench optim|sim|compare|gpt``.

Dispatch only: each subcommand's parser and work live with its room: ``check`` in
:mod:`convexlab.theory.report`, ``reproduce`` in :mod:`convexlab.lab.reproduce`, ``train``,
``experiment``, ``plot`` and ``bench gpt`` in :mod:`convexlab.llm`, ``bench optim|sim|compare`` in
:mod:`convexlab.bench`. Every parser follows the grammar of :mod:`convexlab._cli`.
"""

from __future__ import annotations

import argparse
import sys

from convexlab import __version__, _cli
from convexlab._validation import argparse_int_at_least
from convexlab.theory.report import MIN_WIDTH, check_command

#: subcommands whose own parser takes the whole rest of the command line
DELEGATED = {
    "reproduce": ("convexlab.lab.reproduce", "main"),
    "train": ("convexlab.llm.train", "main"),
    "experiment": ("convexlab.llm.experiments", "main"),
    "plot": ("convexlab.llm.plots", "main"),
}
BENCH = {
    "optim": ("convexlab.bench.optim_speed", "main"),
    "sim": ("convexlab.bench.sim_speed", "main"),
    "compare": ("convexlab.bench.compare", "main"),
    "gpt": ("convexlab.llm.bench", "main"),
}


def _width(text: str) -> int:
    """``--width``: 0 (no limit) or an integer >= :data:`~convexlab.theory.report.MIN_WIDTH`."""
    try:
        v = int(text)
    except ValueError:
        v = None
    if v is None or (v != 0 and v < MIN_WIDTH):
        raise argparse.ArgumentTypeError(f"--width must be 0 (no limit) or an integer >= {MIN_WIDTH}, got {text!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = _cli.parser("", "convexlab: executable claims for sign-based and spectral optimizers")
    p.add_argument("--version", action="version", version=f"convexlab {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="run the registered theory and identity checks and print the table",
                       description="run the registered theory and identity checks and print the table")
    c.add_argument("--list", action="store_true", help="list the checks (name, kind, source, provenance) and exit")
    c.add_argument("--only", action="append", metavar="PATTERN",
                   help="run the checks whose name matches PATTERN (substring, or with the wildcards * and ?); repeatable")
    c.add_argument("--full", action="store_true", help="larger sizes and more samples")
    c.add_argument("--seed", type=argparse_int_at_least("", 0), default=0, help="base random seed (integer >= 0, default 0)")
    c.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    c.add_argument("--markdown", metavar="PATH", help="also write the table as Markdown")
    c.add_argument("--out", metavar="DIR", help="also write checks.csv, summary.json, series/*.csv and one figure "
                   "per check (figures/*.png, or --format) under DIR")
    c.add_argument("--format", default="png", metavar="FMT",
                   help="--out: file format of the figures, one of png, svg, pdf (default png)")
    c.add_argument("--dpi", default="200", metavar="N",
                   help="--out: resolution of the figures in dots per inch, an integer >= 50 (default 200; "
                   "the PNG pixels, and the rasterised parts of SVG/PDF)")
    _cli.add_threads(c, help="torch threads while the checks run (integer >= 1, default 1: the checks' tensors "
                     "are small)")
    _cli.add_flag(c, "progress", default=True, help="show a progress bar (default; --no-progress hides it)")
    c.add_argument("--width", type=_width, default=None, metavar="N",
                   help=f"lay the table out for N columns (an integer >= {MIN_WIDTH}, or 0 for no limit and full "
                   "text; default: the terminal's width, 100 when it is unknown)")
    c.add_argument("--power", action="store_true",
                   help="run the panel of broken algorithms (convexlab.theory.mutants) against every selected check "
                   "that judges an algorithm and print the detection matrix (with --out: power.csv, power.png)")
    c.add_argument("--cache", metavar="PATH", help="--power: SQLite file of finished cells, so that a rerun resumes "
                   "(default ~/.cache/convexlab/power.sqlite)")
    c.add_argument("--no-cache", action="store_true", help="--power: recompute every cell, store nothing")
    c.set_defaults(func=check_command)
    sub.add_parser("train", help="train a GPT with any registry optimizer (see `convexlab train --help`)",
                   add_help=False)
    sub.add_parser("experiment", help="run a GPT experiment preset (fp8 | anytime | softstar) and summarise it",
                   add_help=False)
    sub.add_parser("plot", help="figures from GPT experiment directories", add_help=False)
    r = sub.add_parser("reproduce", help="execute the notebooks and run the checks; a full default run writes "
                       "results/ (results/CLAIMS.md) and docs/figures/, a partial run (--fast, --only, --no-checks, "
                       "--check-only, --notebooks) writes results/partial/<timestamp>/ or --out DIR", add_help=False)
    r.add_argument("args", nargs=argparse.REMAINDER, help="options (see `convexlab reproduce --help`)")
    b = sub.add_parser("bench", help="benchmarks that print ratios against a reference measured in the same run")
    b.add_argument("suite", choices=["optim", "sim", "compare", "gpt"], help="optim: step time and state bytes of every "
                   "registry optimizer; sim: the batched simulator's throughput against a per-seed loop; compare: "
                   "the multi-dimensional optimizer benchmark; gpt: tokens/s, MFU and optimizer step share of the GPT")
    b.add_argument("args", nargs=argparse.REMAINDER, help="options of the suite (see `convexlab bench optim --help`)")
    b.set_defaults(func=_bench)
    return p


def _call(target: tuple[str, str], argv: list[str]) -> int:
    import importlib

    module, name = target
    return getattr(importlib.import_module(module), name)(argv)


def _bench(args) -> int:
    return _call(BENCH[args.suite], args.args)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] and argv[0] in DELEGATED:  # their options come first, which argparse.REMAINDER cannot take
        return _call(DELEGATED[argv[0]], argv[1:])
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
