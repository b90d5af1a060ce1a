"""`convexlab reproduce --set NAME=VALUE` (issue 13): overrides the notebooks' parameters cells; an explicit
--set FAST wins over --fast; a name no selected notebook assigns is a one-line error before anything runs; any
--set makes the run partial (scratch directory, committed results untouched)."""

import json
from pathlib import Path

import nbformat
import pytest

import convexlab.lab.notebooks
from convexlab import _cli
from convexlab.lab import reproduce
from convexlab.theory import claims
from convexlab.cli import main as cli

CLAIM_04 = claims.Claim("demo.from_04", "P", "Fig 1", "P", "notebook 04 shows it", notebooks=("04",))
CLAIM_05 = claims.Claim("demo.from_05", "P", "Thm 2", "P", "notebook 05 shows it", notebooks=("05",))


def _notebook(folder: Path, name: str, params: str, claim_id: str, shows: str) -> Path:
    nb = nbformat.v4.new_notebook()
    body = ("from convexlab.theory.claims import record\n"
            f"open('ran_' + {name[:2]!r}, 'w').write('x')\n"
            f"record(CLAIMS_PATH, {claim_id!r}, 'supported', repr({shows}))")
    nb.cells = [nbformat.v4.new_markdown_cell("# Demo"),
                nbformat.v4.new_code_cell(params + "\nFIGURE_PATH = None\nCLAIMS_PATH = None",
                                          metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(body), nbformat.v4.new_code_cell("assert True")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / name
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A stand-in repository (cwd): a committed results/CLAIMS.md and two notebooks; 04 assigns STEPS
    (derived from FAST) and LABEL, 05 assigns neither."""
    root = tmp_path / "repo"
    nbdir = root / "notebooks"
    nbdir.mkdir(parents=True)
    _notebook(nbdir, "04_demo.ipynb", "FAST = True\nSTEPS = 10 if FAST else 1000\nLABEL = 'x'", "demo.from_04",
              "(FAST, STEPS, LABEL)")
    _notebook(nbdir, "05_other.ipynb", "FAST = True\nSEED = 0", "demo.from_05", "(FAST, SEED, 'STEPS' in globals())")
    (root / "results").mkdir()
    (root / "results" / "CLAIMS.md").write_text("committed claims table\n")
    monkeypatch.chdir(root)
    monkeypatch.setattr(reproduce, "COMMITTED_RESULTS", root / "results")
    monkeypatch.setattr(reproduce, "COMMITTED_GALLERY", root / "docs" / "figures")
    monkeypatch.setattr(claims, "CLAIMS", [CLAIM_04, CLAIM_05])
    real_paths = convexlab.lab.notebooks.notebook_paths
    monkeypatch.setattr(convexlab.lab.notebooks, "notebook_paths",
                        lambda folder=None: real_paths(nbdir if folder is None else folder))
    return root


def _recorded(out: Path) -> dict:
    recs = {}
    for f in (out / "claims").glob("*.json"):
        recs.update({k: v["numbers"] for k, v in json.loads(f.read_text()).items()})
    return recs


def _scratch(root: Path) -> Path:
    (scratch,) = (root / "results" / "partial").iterdir()
    return scratch


def test_set_overrides_the_notebooks_that_assign_the_name_and_makes_the_run_partial(repo, capsys):
    assert cli(["reproduce", "--no-checks", "--no-progress", "--set", "STEPS=7", "--set=LABEL=hello world"]) == 0
    assert (repo / "results" / "CLAIMS.md").read_text() == "committed claims table\n"
    scratch = _scratch(repo)
    # 04 gets both overrides (a non-literal value is the string as written); FAST stays full (False)
    assert _recorded(scratch) == {"demo.from_04": "(False, 7, 'hello world')", "demo.from_05": "(False, 0, False)"}
    out = capsys.readouterr().out
    assert "partial run (--set STEPS=7 --set 'LABEL=hello world' --no-checks)" in out
    assert "--set STEPS=7: 04_demo (1 other notebook does not assign STEPS)" in out
    executed = nbformat.read(str(scratch / "notebooks" / "05_other.ipynb"), as_version=4)
    assert "STEPS" not in executed.cells[1].source and "LABEL" not in executed.cells[1].source
    md = (scratch / "CLAIMS.md").read_text()
    assert "`convexlab reproduce --set STEPS=7 --set 'LABEL=hello world' --no-checks`" in md
    assert "2 notebooks (full sizes, with --set overrides)" in md
    assert "- notebook **04_demo** (full sizes, --set STEPS=7, LABEL='hello world'; " in md
    assert "- notebook **05_other** (full sizes; " in md


@pytest.mark.parametrize("argv, shows, sizes", [
    (["--fast", "--set", "FAST=False"], "(False, 1000, 'x')", "full sizes"),  # an explicit --set FAST wins
    (["--set", "FAST=True"], "(True, 10, 'x')", "FAST sizes"),  # the sizes derived from FAST follow it
    (["--fast", "--set", "STEPS=3"], "(True, 3, 'x')", "FAST sizes"),
])
def test_set_fast_and_the_fast_flag(repo, argv, shows, sizes):
    assert cli(["reproduce", "--no-checks", "--no-progress", "--only", "04", *argv]) == 0
    scratch = _scratch(repo)
    assert _recorded(scratch) == {"demo.from_04": shows}
    md = (scratch / "CLAIMS.md").read_text()
    assert f"1 notebook ({sizes}" in md
    # the scale of the evidence names the overrides its notebook received
    assert ("04 (FAST, --set STEPS=3): " in md) == ("STEPS=3" in argv)


@pytest.mark.parametrize("argv, message", [
    (["--set", "NOPE=1"], "--set NOPE: no selected notebook's parameters cell assigns it; they assign: FAST, LABEL, "
                          "SEED, STEPS"),
    (["--only", "05", "--set", "STEPS=5"], "--set STEPS: no selected notebook's parameters cell assigns it"),
    (["--set", "FIGURE_PATH=x.png"], "--set FIGURE_PATH=x.png: FIGURE_PATH is set by convexlab reproduce itself"),
    (["--set", "CLAIMS_PATH=c.json"], "CLAIMS_PATH is set by convexlab reproduce itself"),
    (["--set", "STEPS"], "--set STEPS: expected NAME=VALUE with NAME a Python identifier"),
    (["--set", "2X=1"], "--set 2X=1: expected NAME=VALUE"),
    (["--set", "FAST=1"], "--set FAST=1: FAST must be True or False, got 1"),
])
def test_bad_overrides_fail_in_one_line_before_anything_runs(repo, capsys, argv, message):
    assert cli(["reproduce", "--no-checks", "--no-progress", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("convexlab reproduce: ") and message in err
    assert not (repo / "results" / "partial").exists()
    assert not (repo / "notebooks" / "ran_04").exists() and not (repo / "notebooks" / "ran_05").exists()


def test_parse_set_reads_python_literals_else_strings():
    got = reproduce.parse_set(["SEEDS=8", "LRS=[0.1, 0.2]", "NAME=adamw", "NONE=None", "EMPTY=", "Q='a=b'",
                               "PATH=/tmp/x", "SEEDS=9", "FAST=False", " T = (1, 2)"])
    assert got == {"SEEDS": 9, "LRS": [0.1, 0.2], "NAME": "adamw", "NONE": None, "EMPTY": "", "Q": "a=b",
                   "PATH": "/tmp/x", "FAST": False, "T": (1, 2)}
    assert reproduce.parse_set(None) == {}
    with pytest.raises(reproduce.UsageError, match="expected NAME=VALUE"):
        reproduce.parse_set(["class=1"])


def test_parameter_names_reads_the_parameters_cell(repo, tmp_path):
    nbdir = repo / "notebooks"
    assert convexlab.lab.notebooks.parameter_names(nbdir / "04_demo.ipynb") == ["FAST", "STEPS", "LABEL", "FIGURE_PATH",
                                                                            "CLAIMS_PATH"]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("A, B = 1, 2\nC: int = 3\nD = E = 4\nif A:\n    F = 5")]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, str(tmp_path / "x.ipynb"))
    assert convexlab.lab.notebooks.parameter_names(tmp_path / "x.ipynb") == ["A", "B", "C", "D", "E"]
    nb.cells[0].metadata["tags"] = []
    nbformat.write(nb, str(tmp_path / "y.ipynb"))
    with pytest.raises(ValueError, match="y.ipynb has no cell tagged 'parameters'"):
        convexlab.lab.notebooks.parameter_names(tmp_path / "y.ipynb")


def test_the_parser_follows_the_cli_grammar(capsys):
    p = reproduce.build_parser()
    assert p.prog == "convexlab reproduce" and _cli.undocumented_options(p) == []
    args = p.parse_args(["--figures_dir", "g", "--no_checks", "--set", "A=1", "--set=B=2", "--no-progress"])
    assert (args.figures_dir, args.checks, args.set, args.progress) == ("g", False, ["A=1", "B=2"], False)
    assert "--set NAME=VALUE" in p.format_help()
