"""`convexlab reproduce` (issue 13): a partial run (--fast, --only, --no-checks, --check-only, --notebooks)
never touches the committed results/CLAIMS.md or the docs/figures gallery; only a full default run does. A claim
whose evidence did not run is "not run". Output destinations are validated before any notebook runs."""

import json
import os
from pathlib import Path

import nbformat
import pytest

import convexlab.lab.notebooks
import convexlab.theory
from convexlab.lab import reproduce
from convexlab.theory import claims
from convexlab.cli import main as cli

CLAIM_04 = claims.Claim("demo.from_04", "P", "Fig 1", "P", "notebook 04 shows it", notebooks=("04",))
CLAIM_05 = claims.Claim("demo.from_05", "P", "Thm 2", "P", "notebook 05 shows it", notebooks=("05",))
CLAIM_CHECK = claims.Claim("demo.from_check", "P", "Fig 1", "P", "signSGD stalls", checks=("stosignsgd.figure1",))
CLAIM_NONE = claims.Claim("demo.out_of_reach", "P", "§9", "P", "needs a GPU cluster")


def _notebook(folder: Path, name: str, body: str) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("FAST = True\nFIGURE_PATH = None\nCLAIMS_PATH = None",
                                       metadata={"tags": ["parameters"]})
    nb.cells = [nbformat.v4.new_markdown_cell("# Demo"), params, nbformat.v4.new_code_cell(body),
                nbformat.v4.new_code_cell("assert True")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / name
    nbformat.write(nb, str(path))
    return path


def _body(claim_id: str) -> str:
    # the marker file (in the notebook's own folder, its working directory) shows that the notebook ran
    return ("from convexlab.theory.claims import record\nfrom convexlab.plotting import new_figure, save_figure\n"
            "fig, ax = new_figure(); ax.plot([1, 2], [3, 4]); save_figure(fig, FIGURE_PATH)\n"
            f"open('ran_' + {claim_id!r}, 'w').write('x')\n"
            f"record(CLAIMS_PATH, {claim_id!r}, 'supported', 'fast' if FAST else 'full')")


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A stand-in repository (cwd): committed results/CLAIMS.md and docs/figures/, two notebooks."""
    root = tmp_path / "repo"
    nbdir = root / "notebooks"
    nbdir.mkdir(parents=True)
    _notebook(nbdir, "04_demo.ipynb", _body("demo.from_04"))
    _notebook(nbdir, "05_other.ipynb", _body("demo.from_05"))
    committed = root / "results" / "CLAIMS.md"
    committed.parent.mkdir()
    committed.write_text("committed claims table\n")
    gallery = root / "docs" / "figures"
    gallery.mkdir(parents=True)
    (gallery / "04_demo.png").write_bytes(b"committed figure")
    monkeypatch.chdir(root)
    monkeypatch.setattr(reproduce, "COMMITTED_RESULTS", root / "results")
    monkeypatch.setattr(reproduce, "COMMITTED_GALLERY", gallery)
    monkeypatch.setattr(claims, "CLAIMS", [CLAIM_04, CLAIM_05, CLAIM_CHECK, CLAIM_NONE])
    real_paths, real_select = convexlab.lab.notebooks.notebook_paths, convexlab.theory.select
    # the default notebook folder is the stand-in's; the default check selection is one quick check
    monkeypatch.setattr(convexlab.lab.notebooks, "notebook_paths",
                        lambda folder=None: real_paths(nbdir if folder is None else folder))
    monkeypatch.setattr(convexlab.theory, "select",
                        lambda patterns=None: real_select(patterns or ["stosignsgd.figure1_signsgd_stalls"]))
    return root


def _snapshot(root: Path) -> dict:
    return {p: p.read_bytes() for p in [root / "results" / "CLAIMS.md", root / "docs" / "figures" / "04_demo.png"]}


def _status_row(md: str, claim_id: str) -> str:
    return next(line for line in md.splitlines() if line.startswith(f"| **{claim_id}**"))


def test_partial_run_writes_a_scratch_directory_and_labels_missing_evidence_not_run(repo, capsys):
    before = _snapshot(repo)
    assert cli(["reproduce", "--fast", "--only", "04", "--no-checks", "--no-progress"]) == 0
    assert _snapshot(repo) == before  # the committed table and gallery figure are untouched
    assert sorted(p.name for p in (repo / "results").iterdir()) == ["CLAIMS.md", "partial"]
    (scratch,) = (repo / "results" / "partial").iterdir()
    assert (scratch / "figures" / "04_demo.png").read_bytes()[:4] == b"\x89PNG"
    assert not (scratch / "checks").exists() and not (repo / "notebooks" / "ran_demo.from_05").exists()
    out = capsys.readouterr().out
    assert "partial run (--fast --only 04 --no-checks)" in out and str(scratch / "CLAIMS.md") in out
    md = (scratch / "CLAIMS.md").read_text()
    assert "**Partial run**" in md and "`convexlab reproduce --fast --only 04 --no-checks`" in md
    assert "| supported | 04_demo: supported — fast [details](#demofrom_04) |" in _status_row(md, "demo.from_04")
    assert "| not run | not run in this run: notebook 05 [details](#demofrom_05) |" in _status_row(md, "demo.from_05")
    assert "| not run | not run in this run: check stosignsgd.figure1 [details](#demofrom_check) |" in _status_row(md, "demo.from_check")
    assert "| inconclusive | no notebook or check tests this claim" in _status_row(md, "demo.out_of_reach")
    assert "Totals: 1 supported, 0 not supported, 1 inconclusive, 2 not run" in md
    assert [r["notebook"] for r in json.loads((scratch / "notebooks.json").read_text())] == ["04_demo"]


def test_partial_run_with_out_dir_and_gallery_elsewhere(repo, tmp_path):
    before = _snapshot(repo)
    assert cli(["reproduce", "--only", "05", "--no-checks", "--no-progress", "--out", str(tmp_path / "mine"),
                "--figures-dir", str(tmp_path / "slides")]) == 0
    assert _snapshot(repo) == before and not (repo / "results" / "partial").exists()
    assert (tmp_path / "slides" / "05_other.png").exists() and not (tmp_path / "slides" / "04_demo.png").exists()
    md = (tmp_path / "mine" / "CLAIMS.md").read_text()
    assert "05_other: supported — full" in _status_row(md, "demo.from_05")
    assert "| not run |" in _status_row(md, "demo.from_04")


@pytest.mark.parametrize("extra, option", [
    (["--out", "results"], "--out"),
    (["--out", "results/../results"], "--out"),
    (["--figures-dir", "docs/figures"], "--figures-dir"),
])
@pytest.mark.parametrize("partial", [["--fast"], ["--only", "04"], ["--no-checks"], ["--check-only", "figure1"]])
def test_partial_run_refuses_the_committed_locations(repo, capsys, extra, option, partial):
    before = _snapshot(repo)
    assert cli(["reproduce", "--no-progress", *partial, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith(f"convexlab reproduce: {option} ") and "partial run" in err
    assert _snapshot(repo) == before and not (repo / "notebooks" / "ran_demo.from_04").exists()


def test_the_real_committed_locations_are_refused_by_a_partial_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    _notebook(nbdir, "04_demo.ipynb", _body("demo.from_04"))
    committed = reproduce.REPO / "results" / "CLAIMS.md"
    stamp = committed.stat().st_mtime_ns if committed.exists() else None
    for extra in (["--out", str(reproduce.REPO / "results")], ["--figures-dir", str(reproduce.REPO / "docs" / "figures")]):
        assert cli(["reproduce", "--fast", "--no-checks", "--notebooks", str(nbdir), *extra]) == 2
        assert "may not write the committed" in capsys.readouterr().err
    assert (committed.stat().st_mtime_ns if committed.exists() else None) == stamp
    assert not (nbdir / "ran_demo.from_04").exists()


def test_full_default_run_updates_the_committed_files(repo, capsys):
    assert cli(["reproduce", "--no-progress"]) == 0
    assert not (repo / "results" / "partial").exists()
    md = (repo / "results" / "CLAIMS.md").read_text()
    assert "Partial run" not in md and "`convexlab reproduce`:" in md
    assert (repo / "docs" / "figures" / "04_demo.png").read_bytes()[:4] == b"\x89PNG"
    assert "05_other: supported — full" in _status_row(md, "demo.from_05")
    assert "check stosignsgd.figure1_signsgd_stalls: pass" in _status_row(md, "demo.from_check")
    assert "Totals: 3 supported, 0 not supported, 1 inconclusive, 0 not run" in md
    assert (repo / "results" / "checks" / "summary.json").exists()


def test_full_run_elsewhere_leaves_the_gallery_alone(repo, tmp_path):
    before = _snapshot(repo)
    assert cli(["reproduce", "--no-progress", "--out", str(tmp_path / "elsewhere")]) == 0
    assert _snapshot(repo) == before and (tmp_path / "elsewhere" / "figures" / "04_demo.png").exists()
    assert "Totals: 3 supported" in (tmp_path / "elsewhere" / "CLAIMS.md").read_text()


def _file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("a file")
    return path


@pytest.mark.parametrize("setup, argv, message", [
    (lambda t: _file(t / "x"), ["--out", "{t}/x"], "must be a directory, got the existing file"),
    (lambda t: _file(t / "x"), ["--out", "{t}/x/deeper"], "is a file, a directory is expected"),
    (lambda t: _file(t / "o" / "figures"), ["--out", "{t}/o"], "got the existing file"),
    (lambda t: (t / "o" / "CLAIMS.md").mkdir(parents=True), ["--out", "{t}/o"], "is a directory, a file is expected"),
    (lambda t: _file(t / "g"), ["--out", "{t}/o", "--figures-dir", "{t}/g"], "must be a directory, got the existing file"),
    (lambda t: None, ["--out", "/sys/convexlab-cannot-write-here"], "must be a writable directory"),
    (lambda t: None, ["--out", ""], "--out must be a directory path"),
])
def test_bad_destinations_fail_in_one_line_before_any_notebook_runs(repo, tmp_path, capsys, setup, argv, message):
    setup(tmp_path)
    argv = [a.format(t=tmp_path) for a in argv]
    if argv[1].startswith("/sys/"):
        try:
            os.mkdir(argv[1])
        except OSError:
            pass
        else:
            os.rmdir(argv[1])
            pytest.skip("/sys is writable here")
    assert cli(["reproduce", "--fast", "--no-checks", "--no-progress", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("convexlab reproduce: ") and message in err
    assert not (repo / "notebooks" / "ran_demo.from_04").exists()


def test_jobs_run_notebooks_side_by_side_with_the_same_results(repo, tmp_path, capsys):
    # a slow first notebook: with two jobs the second one finishes first, the rows still come in notebook order
    _notebook(repo / "notebooks", "03_slow.ipynb", "import time; time.sleep(3)\n" + _body("demo.from_03"))
    one, two = tmp_path / "one", tmp_path / "two"
    assert cli(["reproduce", "--no-progress", "--no-checks", "--out", str(one)]) == 0
    assert cli(["reproduce", "--no-progress", "--no-checks", "--jobs", "2", "--out", str(two)]) == 0
    printed = [ln.split()[0] for ln in capsys.readouterr().out.splitlines() if ln.startswith("0")][3:]
    assert printed.index("04_demo") < printed.index("03_slow")  # printed as they finish, side by side
    rows = [json.loads((d / "notebooks.json").read_text()) for d in (one, two)]
    assert [r["notebook"] for r in rows[1]] == [r["notebook"] for r in rows[0]] == ["03_slow", "04_demo", "05_other"]
    assert all(r["verdict"] == "pass" and r["figure"] for r in rows[1])
    for name in ("03_slow", "04_demo", "05_other"):
        assert (one / "claims" / f"{name}.json").read_text() == (two / "claims" / f"{name}.json").read_text()
    # --jobs does not make a run partial (it does not change what runs): it is not among the partial flags
    md = (two / "CLAIMS.md").read_text()
    assert "--no-checks" in md and "--jobs" not in md


def test_jobs_must_be_a_positive_integer(repo, capsys):
    with pytest.raises(SystemExit) as exc:
        cli(["reproduce", "--jobs", "0"])
    assert exc.value.code == 2 and "argument --jobs: must be an integer >= 1, got 0" in capsys.readouterr().err


def test_timeout_must_be_a_positive_integer(repo, capsys):
    with pytest.raises(SystemExit) as exc:
        cli(["reproduce", "--timeout", "0"])
    assert exc.value.code == 2 and "argument --timeout: must be an integer >= 1, got 0" in capsys.readouterr().err


def test_claim_status_not_run_against_ran_without_a_verdict():
    c = claims.Claim("x.y", "P", "Thm 1", "P", "a claim", checks=("no.such",), notebooks=("07",))
    assert claims.status_of(c, {}, {}) == (claims.NOT_RUN, ["not run in this run: notebook 07, check no.such"])
    status, notes = claims.status_of(c, {}, {}, ["07_softsign"])
    assert status == "inconclusive" and notes == ["notebook 07 ran but recorded no verdict"]
    rec = {"x.y": [dict(notebook="07_softsign", status="supported", numbers="1 < 2")]}
    status, notes = claims.status_of(c, rec, {}, ["07_softsign"])
    assert status == "supported" and notes[-1] == "not run in this run: check no.such"
    assert claims.status_of(claims.Claim("z", "P", "", "P", "s"), {}, {})[0] == "inconclusive"
    assert claims.NOT_RUN not in claims.STATUSES  # a notebook cannot record "not run"
    with pytest.raises(ValueError, match="status must be one of"):
        claims.record(None, "x.y", claims.NOT_RUN, "")
