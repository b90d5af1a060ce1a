"""Every notebook follows the design-guide §6 rules and runs clean in FAST mode (its final cell asserts
the result); the linter catches each rule's violation; `convexlab reproduce` writes results/ and CLAIMS.md."""

import json

import nbformat
import pytest

from convexlab.theory import claims
from convexlab.lab.notebooks import execute, lint, notebook_paths, override_parameters
from convexlab.lab.reproduce import main as reproduce

NOTEBOOKS = notebook_paths()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_follows_the_rules(path):
    assert lint(path) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_clean_in_fast_mode(path, tmp_path):
    fig, rec = tmp_path / "fig.png", tmp_path / "claims.json"
    _, seconds, error = execute(path, {"FIGURE_PATH": str(fig), "CLAIMS_PATH": str(rec)}, timeout=600)
    assert error is None, error
    assert fig.read_bytes()[:4] == b"\x89PNG"
    recorded = json.loads(rec.read_text())
    assert recorded and all(r["status"] in claims.STATUSES for r in recorded.values())
    # the notebook records exactly the ledger rows that name it (issue 15: the ledger says what each row tests)
    assert set(recorded) == {c.id for c in claims.CLAIMS if path.stem[:2] in c.notebooks}


def _notebook(cells, tmp_path, name="01_demo.ipynb"):
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / name
    nbformat.write(nb, str(path))
    return path


def _good(tmp_path, body="x = 1 + 1", last="assert x == 2", name="01_demo.ipynb"):
    md = nbformat.v4.new_markdown_cell("# Demo\nStatement (arXiv 0000.00000, [P] paper).")
    params = nbformat.v4.new_code_cell("FAST = True\nFIGURE_PATH = None\nCLAIMS_PATH = None",
                                       metadata={"tags": ["parameters"]})
    return _notebook([md, params, nbformat.v4.new_code_cell(body), nbformat.v4.new_code_cell(last)], tmp_path, name)


def test_linter_accepts_a_conforming_notebook(tmp_path):
    assert lint(_good(tmp_path)) == []


@pytest.mark.parametrize("body, message", [
    ("class Optimizer:\n    pass", "defines class Optimizer"),
    ("def step(x):\n    a = x\n    b = a\n    c = b\n    return c", "defines step() with 5 lines"),
])
def test_linter_rejects_algorithm_code(tmp_path, body, message):
    assert any(message in p for p in lint(_good(tmp_path, body=body)))


def test_linter_rejects_outputs_missing_parameters_and_missing_assert(tmp_path):
    path = _good(tmp_path, last="print(x)")
    nb = nbformat.read(str(path), as_version=4)
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="2\n")]
    nb.cells[2].execution_count = 1
    nb.cells[1].metadata["tags"] = []
    nbformat.write(nb, str(path))
    problems = lint(path)
    assert any("stored outputs" in p for p in problems)
    assert any("tagged 'parameters'" in p for p in problems)
    assert any("must assert" in p for p in problems)


def test_execute_injects_parameters_and_reports_a_failed_assertion(tmp_path):
    path = _good(tmp_path, body="y = 3 if FAST else 4", last="assert y == 3, 'y is ' + str(y)")
    assert execute(path)[2] is None
    _, _, error = execute(path, {"FAST": False}, save_to=tmp_path / "out.ipynb")
    assert error is not None and "AssertionError" in error and "y is 4" in error
    assert "injected-parameters" in (tmp_path / "out.ipynb").read_text()


def test_overrides_reach_the_sizes_derived_in_the_parameters_cell():
    src = "FAST = True\nSTEPS = 10 if FAST else 1000\nSEED = (\n    0\n)"
    out = override_parameters(src, {"FAST": False, "SEED": 3, "EXTRA": "a"})
    scope = {}
    exec(out, scope)
    assert (scope["FAST"], scope["STEPS"], scope["SEED"], scope["EXTRA"]) == (False, 1000, 3, "a")


def test_reproduce_writes_results_and_claims(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(claims, "CLAIMS", [claims.Claim(
        "stosignsgd.signsgd_fails_nonsmooth", "StoSignSGD", "Figure 1", "P", "signSGD stalls",
        checks=("stosignsgd.figure1",))])
    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    body = ("from convexlab.theory.claims import record\nfrom convexlab.plotting import new_figure, save_figure\n"
            "fig, ax = new_figure(); ax.plot([1, 2], [3, 4]); save_figure(fig, FIGURE_PATH)\n"
            "record(CLAIMS_PATH, 'stosignsgd.signsgd_fails_nonsmooth', 'supported', 'f = 1.5 vs bound 0.3')")
    _good(nbdir, body=body, last="assert FAST is False", name="04_demo.ipynb")
    _good(nbdir, body="x = 1", last="assert x == 2", name="05_broken.ipynb")
    out, figs = tmp_path / "results", tmp_path / "gallery"
    monkeypatch.chdir(tmp_path)  # relative paths are taken from the caller's directory, not the notebooks'
    code = reproduce(["--notebooks", str(nbdir), "--out", "results", "--figures-dir", "gallery", "--no-progress",
                      "--check-only", "stosignsgd.figure1"])
    assert code == 1  # 05_broken fails its assertion
    text = capsys.readouterr().out
    assert "04_demo" in text and "pass" in text and "05_broken" in text and "FAIL  AssertionError" in text
    assert (out / "notebooks" / "04_demo.ipynb").exists() and (figs / "04_demo.png").exists()
    md = (out / "CLAIMS.md").read_text()
    assert "| claim | paper, where | provenance | status | evidence | scale |" in md
    assert "04_demo: supported — f = 1.5 vs bound 0.3" in md
    assert "check stosignsgd.figure1_signsgd_stalls: pass" in md
    assert (out / "checks" / "checks.csv").exists()
    # a rerun into the same directory reports only its own evidence: the checks it skipped are "not run"
    assert reproduce(["--notebooks", str(nbdir), "--out", "results", "--figures-dir", "gallery", "--no-progress",
                      "--only", "04", "--no-checks"]) == 0
    md = (out / "CLAIMS.md").read_text()
    assert "| 05_broken |" not in md and "check stosignsgd.figure1_signsgd_stalls" not in md
    assert "04_demo: supported — f = 1.5 vs bound 0.3; not run: check stosignsgd.figure1" in md


def test_claim_status_merges_the_evidence():
    c = claims.Claim("x.y", "P", "Thm 1", "P", "a claim", checks=("no.such",))
    assert claims.status_of(c, {}, {})[0] == "not run"
    rec = {"x.y": [dict(notebook="01", status="supported", numbers="1 < 2")]}
    assert claims.status_of(c, rec, {})[0] == "supported"
    rec["x.y"].append(dict(notebook="02", status="not supported", numbers="3 > 2"))
    assert claims.status_of(c, rec, {})[0] == "not supported"
    with pytest.raises(ValueError, match="status must be one of"):
        claims.record(None, "x.y", "maybe", "")
