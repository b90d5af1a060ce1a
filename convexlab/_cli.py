r"""One command-line grammar for every ``convexlab`` subcommand.

The rules (README, "Command line"):

* options are spelled with hyphens (``--max-steps``); the underscore spelling (``--max_steps``)
  is the same option everywhere (:func:`normalize_argv` maps it before parsing);
* ``--key value`` and ``--key=value`` are both accepted;
* yes/no options are ``--flag`` / ``--no-flag`` (:func:`add_flag`);
* a list option takes names separated by commas, by spaces, or both
  (``--optimizers adamw,lion`` = ``--optimizers adamw lion``; :func:`add_list`);
* the number of CPU threads is ``--threads`` in every subcommand;
* every option has help text, and usage lines read ``convexlab <subcommand> …``
  (:func:`parser`; ``tests/test_cli_grammar.py`` walks every parser);
* a bad option or value is one line on stderr and exit status 2 (argparse's own convention).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence


def normalize_argv(argv: Sequence[str]) -> list[str]:
    """``--some_option[=value]`` → ``--some-option[=value]``; values and everything after a bare
    ``--`` are left alone."""
    out: list[str] = []
    rest = False
    for a in argv:
        if rest or not a.startswith("--") or a == "--":
            rest = rest or a == "--"
            out.append(a)
            continue
        key, eq, value = a[2:].partition("=")
        out.append("--" + key.replace("_", "-") + eq + value)
    return out


class Parser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose ``parse_args`` accepts the underscore spelling of options
    and whose errors are one line (``convexlab <sub>: error: …``) with exit status 2."""

    def parse_known_args(self, args=None, namespace=None):  # noqa: D102 - argparse API
        argv = sys.argv[1:] if args is None else list(args)
        return super().parse_known_args(normalize_argv(argv), namespace)

    def error(self, message: str):  # one line, no usage block
        self.exit(2, f"{self.prog}: error: {' '.join(str(message).split())} (see `{self.prog} --help`)\n")


def parser(subcommand: str, description: str | None = None, **kwargs) -> Parser:
    """The parser of ``convexlab <subcommand>`` (its usage line starts with ``convexlab``)."""
    kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
    return Parser(prog=f"convexlab {subcommand}".strip(), description=description, **kwargs)


def add_flag(p: argparse.ArgumentParser, name: str, *, default: bool, help: str) -> None:
    """A yes/no option: ``--name`` / ``--no-name`` (``argparse.BooleanOptionalAction``)."""
    p.add_argument(f"--{name}", action=argparse.BooleanOptionalAction, default=default, help=help)


def split_names(values: Iterable[str] | str | None) -> list[str] | None:
    """Names given with commas, spaces or both, flattened in order (empty pieces dropped); a name
    whose brackets hold a space (``SoftSignum[sign phase]``) stays one name.

    >>> split_names(["Signum,SoftMuon[Muon", "phase]", "Lion"])
    ['Signum', 'SoftMuon[Muon phase]', 'Lion']
    """
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    inside = False
    for piece in (p for v in values for p in v.replace(",", " ").split()):
        if inside:
            out[-1] += " " + piece
        else:
            out.append(piece)
        inside = out[-1].count("[") > out[-1].count("]")
    return out


class _ListAction(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        prior = getattr(namespace, self.dest, None)
        names = split_names(values) or []
        setattr(namespace, self.dest, (list(prior) if isinstance(prior, list) and prior is not self.default
                                       else []) + names)


def add_list(p: argparse.ArgumentParser, name: str, *, help: str, metavar: str = "NAME", default=None,
             choices: Sequence[str] | None = None, aliases: Sequence[str] = ()) -> None:
    """A list option: ``--name a,b c`` (commas and/or spaces; repeating the option appends).
    With ``choices``, unknown names fail in one line naming the allowed ones; ``aliases`` are
    earlier spellings (``"--only"``) that fill the same list."""
    action = _ListAction
    if choices is not None:
        allowed = tuple(choices)

        class _Checked(_ListAction):
            def __call__(self, parser, namespace, values, option_string=None):
                bad = [n for n in (split_names(values) or []) if n not in allowed]
                if bad:
                    parser.error(f"--{name}: unknown name(s) {', '.join(bad)}; allowed: {', '.join(allowed)}")
                super().__call__(parser, namespace, values, option_string)

        action = _Checked
    p.add_argument(f"--{name}", *aliases, nargs="+", action=action, default=default, metavar=metavar, help=help,
                   dest=name.replace("-", "_"))


def add_threads(p: argparse.ArgumentParser, *, default: int | None = 1, help: str | None = None) -> None:
    """``--threads N``: CPU threads for torch (integer >= 1)."""
    from convexlab._validation import argparse_int_at_least

    p.add_argument("--threads", type=argparse_int_at_least("", 1), default=default, metavar="N",
                   help=help or f"CPU threads for torch (integer >= 1, default {default})")


def undocumented_options(p: argparse.ArgumentParser) -> list[str]:
    """Options of ``p`` (and its subparsers) without help text; used by the grammar test."""
    missing = []
    for action in p._actions:
        if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
            continue
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                missing += undocumented_options(sub)
            continue
        if not action.help:
            missing.append(f"{p.prog}: {'/'.join(action.option_strings) or action.dest}")
    return missing
