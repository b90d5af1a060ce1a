r"""The command lines of ``convexlab bench compare | optim | sim`` follow the project grammar
(:mod:`convexlab._cli`), and a damaged ``cache.sqlite`` of ``bench compare`` is one line, exit 2.

Grammar: list options take commas and/or spaces (the forms parse to the same list), every option
has an underscore spelling, every option has help text, usage lines start with ``convexlab bench``
and no text says ``python -m``; ``--optimizers`` is the selecting option in compare and optim
(``--only`` stays an alias in optim). Cache: a garbage file, a truncated database, a database with
another table or other columns, a cell with bad JSON or missing keys each stop the run before any
cell is computed, with one stderr line naming the file and ``--no-cache``; the file is left as it was.
"""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest
import torch

from convexlab import _cli
from convexlab.bench import compare as C
from convexlab.bench import optim_speed as O
from convexlab.bench import sim_speed as SIM
from convexlab.bench import suite as S

PARSERS = {"compare": C.build_parser, "optim": O.build_parser, "sim": SIM.build_parser}


# ---------------------------------------------------------------------------------------------
# grammar
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("suite", sorted(PARSERS))
def test_every_option_has_help_and_usage_reads_convexlab_bench(suite):
    p = PARSERS[suite]()
    assert _cli.undocumented_options(p) == []
    assert p.format_usage().startswith(f"usage: convexlab bench {suite} ")
    assert "python -m" not in p.format_help()


@pytest.mark.parametrize("module", [C, O, SIM, S])
def test_no_python_dash_m_in_the_module_docstrings(module):
    assert "python -m" not in module.__doc__
    assert "convexlab bench" in module.__doc__ or module is S


def test_compare_lists_take_commas_and_spaces():
    p = C.build_parser()
    forms = [["--optimizers", "AdamW,Signum", "--problems", "logreg,matrix_lsq"],
             ["--optimizers", "AdamW", "Signum", "--problems", "logreg", "matrix_lsq"],
             ["--optimizers", "AdamW,", "Signum", "--problems=logreg", "--problems", "matrix_lsq"]]
    parsed = [p.parse_args(f) for f in forms]
    for a in parsed:
        assert a.optimizers == ["AdamW", "Signum"] and a.problems == ["logreg", "matrix_lsq"]


def test_optim_lists_take_commas_and_spaces_and_only_is_an_alias():
    p = O.build_parser()
    forms = [["--optimizers", "Signum,Lion"], ["--optimizers", "Signum", "Lion"], ["--only", "Signum,Lion"],
             ["--only", "Signum", "--only", "Lion"], ["--optimizers", "Signum", "--only", "Lion"]]
    for f in forms:
        assert p.parse_args(f).optimizers == ["Signum", "Lion"], f
    assert p.parse_args(["--threads", "1,2"]).threads == p.parse_args(["--threads", "1", "2"]).threads == [1, 2]
    assert p.parse_args([]).optimizers is None and p.parse_args([]).threads is None


def test_optim_phase_variant_names_survive_the_space_split():
    p = O.build_parser()
    a = p.parse_args(["--optimizers", "SoftSignum[sign phase],Signum"])
    names = a.optimizers  # the list option keeps a bracketed name whole
    assert names == ["SoftSignum[sign phase]", "Signum"]
    from convexlab.optim import REGISTRY

    assert O._select(p, names, REGISTRY) == [O.REF_ADAMW, "Signum", "SoftSignum[sign phase]"]


@pytest.mark.parametrize("suite, under, hyphen", [
    ("compare", ["--n_lr", "2", "--budget_scale=0.5", "--tune_seeds", "2"],
     ["--n-lr", "2", "--budget-scale=0.5", "--tune-seeds", "2"]),
    ("optim", ["--matrix_layers", "2", "--no_progress"], ["--matrix-layers", "2", "--no-progress"]),
    ("sim", ["--loop_steps", "3"], ["--loop-steps", "3"]),
])
def test_underscore_spelling_is_the_same_option(suite, under, hyphen):
    p = PARSERS[suite]()
    assert vars(p.parse_args(under)) == vars(p.parse_args(hyphen))


@pytest.mark.parametrize("suite", sorted(PARSERS))
def test_yes_no_and_threads_options(suite):
    p = PARSERS[suite]()
    if suite != "sim":
        assert p.parse_args([]).progress is True and p.parse_args(["--no-progress"]).progress is False
    assert any(a.option_strings == ["--threads"] for a in p._actions)


@pytest.mark.parametrize("suite, argv, needle", [
    ("compare", ["--optimizers", "Adamm"], "--optimizers: unknown name(s) Adamm"),
    ("compare", ["--problems", "nope"], "--problems: unknown name(s) nope"),
    ("compare", ["--n-lr", "0"], "argument --n-lr: must be an integer >= 1, got 0"),
    ("compare", ["--budget-scale", "11"], "argument --budget-scale: must be a number in (0, 10]"),
    ("compare", ["--quick", "--full"], "not allowed with argument"),
    ("compare", ["--problems", "gpt", "--out", "{tmp}"], "'gpt' is left out of this run: not requested (pass --gpt)"),
    ("compare", ["--problems", "digits_mlp_imb100", "--out", "{tmp}"], "in quick mode, got 'digits_mlp_imb100'"),
    ("optim", ["--optimizers", "NoSuchOptimizer"], "unknown optimizer 'NoSuchOptimizer' in --optimizers"),
    ("optim", ["--threads", "1,x"], "--threads must be an integer >= 1, got 'x'"),
    ("optim", ["--json", "{tmp}/afile/out.json"], "--json must be a path under a directory"),
    ("optim", ["--markdown", "{tmp}"], "--markdown must be a file path, got the directory"),
    ("sim", ["--dim", "-3"], "argument --dim: must be an integer >= 1, got -3"),
    ("sim", ["--json", "{tmp}"], "--json must be a file path, got the directory"),
])
def test_bad_options_are_one_line_exit_2(tmp_path, capsys, suite, argv, needle):
    main = {"compare": C.main, "optim": O.main, "sim": SIM.main}[suite]
    (tmp_path / "afile").write_text("a file where a directory is expected\n")
    with pytest.raises(SystemExit) as exc:
        main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"convexlab bench {suite}: error: ")
    assert needle in err


def test_problem_names_match_the_built_suite():
    for mode in ("quick", "full"):
        assert S.problem_names(mode) == [p.name for p in S.build_suite(mode)[0]]
    assert S.problem_names("full", gpt=True)[-1] == "gpt" and "gpt" not in S.problem_names("quick", gpt=True)


# ---------------------------------------------------------------------------------------------
# a damaged benchmark cache
# ---------------------------------------------------------------------------------------------
ARGV = ["--problems", "logreg", "--optimizers", "AdamW,Signum", "--n-lr", "2", "--seeds", "2",
        "--budget-scale", "0.1", "--no-progress"]


@pytest.fixture(scope="module")
def good_cache(tmp_path_factory):
    """A finished tiny run: its cache.sqlite (6 cells) to damage in copies."""
    out = tmp_path_factory.mktemp("good")
    threads = torch.get_num_threads()
    assert C.main([*ARGV, "--out", str(out)]) == 0
    assert torch.get_num_threads() == threads  # run_benchmark restores the caller's thread count
    con = sqlite3.connect(out / "cache.sqlite")
    assert con.execute("SELECT COUNT(*) FROM cells").fetchone()[0] == 6
    con.close()
    return out / "cache.sqlite"


def _expect_one_line_error(tmp_path, capsys, needle):
    cache = tmp_path / "cache.sqlite"
    before = cache.read_bytes()
    with pytest.raises(SystemExit) as exc:
        C.main([*ARGV, "--out", str(tmp_path)])
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith(f"convexlab bench compare: error: {cache} is not a valid convexlab benchmark "
                                   "cache (")
    assert captured.err.rstrip().endswith("move it away or pass --no-cache")
    assert needle in captured.err
    assert cache.read_bytes() == before  # nothing in the damaged file was overwritten
    assert not (tmp_path / "report.md").exists()  # stopped before any report
    return captured.err


def test_garbage_file(tmp_path, capsys):
    (tmp_path / "cache.sqlite").write_bytes(b"not a database at all " * 200)
    _expect_one_line_error(tmp_path, capsys, "(file is not a database)")


@pytest.mark.parametrize("keep", [100, 0.5, 0.75])
def test_truncated_database(tmp_path, capsys, good_cache, keep):
    data = good_cache.read_bytes()
    n = keep if isinstance(keep, int) else int(len(data) * keep)
    (tmp_path / "cache.sqlite").write_bytes(data[:n])
    _expect_one_line_error(tmp_path, capsys, "")


def test_database_of_another_program(tmp_path, capsys):
    con = sqlite3.connect(tmp_path / "cache.sqlite")
    con.execute("CREATE TABLE results (a TEXT)")
    con.commit()
    con.close()
    _expect_one_line_error(tmp_path, capsys, "it holds the table(s) results, expected only 'cells'")


def test_cells_table_with_other_columns(tmp_path, capsys):
    con = sqlite3.connect(tmp_path / "cache.sqlite")
    con.execute("CREATE TABLE cells (key TEXT PRIMARY KEY, value TEXT)")  # e.g. check --power's cache
    con.commit()
    con.close()
    _expect_one_line_error(tmp_path, capsys, "table 'cells' has the columns key, value")


def _damage(good_cache, tmp_path, phase: str, optimizer: str, edit) -> None:
    shutil.copy(good_cache, tmp_path / "cache.sqlite")
    con = sqlite3.connect(tmp_path / "cache.sqlite")
    (payload,) = con.execute("SELECT payload FROM cells WHERE phase = ? AND optimizer = ?",
                             (phase, optimizer)).fetchone()
    con.execute("UPDATE cells SET payload = ? WHERE phase = ? AND optimizer = ?", (edit(payload), phase, optimizer))
    con.commit()
    con.close()


def test_cell_with_bad_json(tmp_path, capsys, good_cache):
    _damage(good_cache, tmp_path, "tune1", "Signum", lambda s: s[: len(s) // 2])
    _expect_one_line_error(tmp_path, capsys, "cell logreg/Signum/tune1 is not valid JSON")


def test_cell_with_missing_keys(tmp_path, capsys, good_cache):
    def drop_opt_time(s):
        d = json.loads(s)
        del d["runs"][1]["opt_time"]
        return json.dumps(d)

    _damage(good_cache, tmp_path, "final", "AdamW", drop_opt_time)
    _expect_one_line_error(tmp_path, capsys, "cell logreg/AdamW/final: runs[1] misses key(s) opt_time")


def test_no_cache_runs_beside_a_damaged_file_and_leaves_it(tmp_path, capsys):
    bad = tmp_path / "cache.sqlite"
    bad.write_bytes(b"garbage" * 100)
    assert C.main([*ARGV, "--out", str(tmp_path), "--no-cache"]) == 0
    assert bad.read_bytes() == b"garbage" * 100
    assert "6 cells computed, 0 cached" in capsys.readouterr().out


def test_the_intact_cache_is_reused(tmp_path, capsys, good_cache):
    shutil.copy(good_cache, tmp_path / "cache.sqlite")
    assert C.main([*ARGV, "--out", str(tmp_path)]) == 0
    assert "0 cells computed, 6 cached" in capsys.readouterr().out


def test_cell_defect_names_what_is_wrong():
    assert C.cell_defect([1], "tune", 1) == "a JSON list, not an object"
    assert C.cell_defect({"lr": "x", "scores": [1.0]}, "tune", 1) == "lr is 'x', not a number"
    assert C.cell_defect({"lr": 0.1, "scores": [1.0]}, "tune", 2).startswith("scores must be a list of 2 entries")
    assert C.cell_defect({"lr": 0.1, "scores": [None]}, "tune", 1) == "scores holds None, not a number"
    run = dict(final=0.1, curve_steps=[1, 2], curve=[0.5, 0.1], diverged=False, state_bytes_per_param=8.0,
               n_params=10, step_time=1e-4, opt_time=5e-5)
    assert C.cell_defect({"lr": 0.1, "runs": [run]}, "final", 1) == ""
    assert "same non-zero length" in C.cell_defect({"lr": 0.1, "runs": [dict(run, curve=[0.5])]}, "final", 1)


def test_results_json_that_is_not_one_is_named(tmp_path):
    (tmp_path / "results.json").write_text("{ torn")
    with pytest.raises(ValueError, match="results.json is not a results.json of `convexlab bench compare`"):
        C.load_results(tmp_path)
    (tmp_path / "results.json").write_text("[]")
    with pytest.raises(ValueError, match="it needs the keys raw, rows and ranking"):
        C.load_results(tmp_path)


def test_out_that_is_a_file_is_one_line(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(SystemExit) as exc:
        C.main([*ARGV, "--out", str(f)])
    assert exc.value.code == 2
    assert "--out must be a directory" in capsys.readouterr().err


def test_a_thread_count_other_than_one_keeps_its_own_cells(tmp_path, capsys, good_cache):
    shutil.copy(good_cache, tmp_path / "cache.sqlite")
    assert C.main([*ARGV, "--out", str(tmp_path), "--threads", "2"]) == 0
    assert "6 cells computed, 0 cached" in capsys.readouterr().out  # timings of 2 threads are not mixed in
    assert C.load_results(tmp_path)["raw"]["config"]["threads"] == 2
    assert "- torch threads: 2" in (tmp_path / "report.md").read_text()


def test_doctests():
    import doctest

    for module in (C, S, SIM):
        assert doctest.testmod(module).failed == 0, module.__name__


def test_ctrl_c_is_one_line_and_keeps_the_finished_cells(tmp_path, capsys, monkeypatch):
    real, calls = C.train_run, []

    def interrupted_on_the_third_cell(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(C, "train_run", interrupted_on_the_third_cell)
    assert C.main([*ARGV, "--out", str(tmp_path)]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"interrupted; the finished cells are kept in {tmp_path / 'cache.sqlite'}; rerun the same command" in err
    con = sqlite3.connect(tmp_path / "cache.sqlite")
    assert con.execute("SELECT COUNT(*) FROM cells").fetchone()[0] == 2  # the two tuning cells before the stop
    con.close()
