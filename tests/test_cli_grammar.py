"""The one command-line grammar (convexlab/_cli.py) on `convexlab`, `convexlab check` and
`convexlab reproduce` (the training and benchmark parsers have their own grammar tests)."""

import pytest

from convexlab import _cli, cli
from convexlab.lab import reproduce


def _subparsers(p):
    import argparse

    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    return {}


def test_every_option_has_help_and_usage_reads_convexlab():
    top = cli.build_parser()
    assert _cli.undocumented_options(top) == []
    assert _cli.undocumented_options(reproduce.build_parser()) == []
    for name, sub in _subparsers(top).items():
        assert sub.prog == f"convexlab {name}"
        assert sub.format_usage().startswith(f"usage: convexlab {name}")
    assert reproduce.build_parser().format_usage().startswith("usage: convexlab reproduce")


@pytest.mark.parametrize("spelling", [["--no-progress"], ["--no_progress"]])
def test_check_accepts_both_spellings(spelling):
    args = cli.build_parser().parse_args(["check", *spelling, "--threads", "2", "--seed=3"])
    assert args.progress is False and args.threads == 2 and args.seed == 3


def test_normalize_argv_leaves_values_and_the_rest_alone():
    assert _cli.normalize_argv(["--max_steps=3", "a_b", "--", "--x_y"]) == ["--max-steps=3", "a_b", "--", "--x_y"]
    assert _cli.split_names(["a,b", "c", ",,d"]) == ["a", "b", "c", "d"] and _cli.split_names(None) is None


def test_a_bad_check_option_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["check", "--threads", "0"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1
    assert err.startswith("convexlab check: error: argument --threads: must be an integer >= 1, got 0")


def test_list_options_take_commas_and_spaces_and_reject_unknown_names(capsys):
    p = _cli.parser("demo", "d")
    _cli.add_list(p, "optimizers", help="h", choices=["a", "b", "c"], aliases=("--only",))
    assert p.parse_args(["--optimizers", "a,b", "c"]).optimizers == ["a", "b", "c"]
    assert p.parse_args(["--only", "c", "--optimizers", "a"]).optimizers == ["c", "a"]
    with pytest.raises(SystemExit):
        p.parse_args(["--optimizers", "z"])
    assert "--optimizers: unknown name(s) z; allowed: a, b, c" in capsys.readouterr().err


def test_bracketed_names_stay_whole_and_the_doctests_hold():
    import doctest

    assert _cli.split_names(["SoftSignum[sign phase],Signum"]) == ["SoftSignum[sign phase]", "Signum"]
    assert doctest.testmod(_cli).failed == 0
