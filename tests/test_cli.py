"""convexlab check: listing, filtering, exit status, JSON and Markdown output."""

import json
import subprocess
import sys

import pytest

from convexlab import cli
from convexlab.theory import report
from convexlab.theory.registry import REGISTRY, Check, CheckResult


def test_list_shows_every_check(capsys):
    assert cli.main(["check", "--list"]) == 0
    out = capsys.readouterr().out
    for name in REGISTRY:
        assert name in out
    assert f"{len(REGISTRY)} checks" in out
    assert "[reconstructed]" in out


def test_only_filters_and_writes_json_and_markdown(tmp_path, capsys):
    j, md = tmp_path / "out" / "r.json", tmp_path / "r.md"
    code = cli.main(["check", "--only", "stochastic_sign", "--no-progress", "--json", str(j), "--markdown", str(md)])
    assert code == 0
    data = json.loads(j.read_text())
    names = [c["name"] for c in data["checks"]]
    assert names and all("stochastic_sign" in n for n in names)
    assert all(c["verdict"] == "pass" for c in data["checks"])
    assert md.read_text().startswith("| check | source | provenance |")
    out = capsys.readouterr().out
    assert "exp./bound" in out and f"{len(names)} passed, 0 failed" in out


def test_wildcard_pattern(capsys):
    assert cli.main(["check", "--list", "--only", "geometry.fenchel_young.*[Sign]"]) == 0
    assert "2 checks" in capsys.readouterr().out  # equality and inequality, not Spectral(Sign)


def test_no_match_is_an_error(capsys):
    assert cli.main(["check", "--only", "no-such-check"]) == 2
    assert "no check matches" in capsys.readouterr().err


@pytest.fixture
def failing_check():
    def boom(ctx):
        return CheckResult(measured=2.0, expected=1.0, tolerance=0.1, passed=False, margin=-0.9)

    def crash(ctx):
        raise RuntimeError("exploded")

    REGISTRY["zz.failing"] = Check("zz.failing", "test", "D", "upper", "always fails", boom)
    REGISTRY["zz.crashing"] = Check("zz.crashing", "test", "D", "upper", "always crashes", crash)
    yield
    del REGISTRY["zz.failing"], REGISTRY["zz.crashing"]


def test_failing_or_crashing_check_gives_exit_status_1(failing_check, capsys):
    assert cli.main(["check", "--only", "zz.", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "ERROR: zz.crashing: RuntimeError: exploded" in out


@pytest.mark.parametrize("seed", ["-1", "abc"])
def test_bad_seed_is_rejected(seed, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["check", "--seed", seed])
    assert exc.value.code == 2
    assert "argument --seed: must be an integer >= 0" in capsys.readouterr().err


def test_module_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "convexlab", "check", "--only", "spectral.diagonal", "--no-progress"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "5 passed, 0 failed" in proc.stdout


def test_other_seed_also_passes(capsys):
    assert cli.main(["check", "--only", "stochastic_sign", "--seed", "7", "--no-progress"]) == 0


def test_out_writes_tables_series_and_one_figure_per_check(tmp_path, failing_check, capsys):
    out = tmp_path / "results"
    code = cli.main(["check", "--only", "stosignsgd.theorem4[constant]", "--only", "zz.", "--no-progress",
                     "--out", str(out)])
    assert code == 1  # the failing and crashing checks still get their rows and figures
    rows = (out / "checks.csv").read_text().splitlines()
    assert rows[0].startswith("name,source,provenance,reconstructed,kind,verdict,expected,measured")
    assert len(rows) == 4 and any(r.startswith("zz.crashing,") for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert [c["verdict"] for c in summary["checks"]] == ["pass", "fail", "error"]
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert figures == ["stosignsgd.theorem4_constant.png", "zz.crashing.png", "zz.failing.png"]
    assert all((out / "figures" / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in figures)
    series = (out / "series" / "stosignsgd.theorem4_constant.csv").read_text().splitlines()
    assert series[0] == "series,x,y,lo,hi" and len(series) > 5
    assert f"wrote {2 + 3 + 1} files" in capsys.readouterr().out


def test_train_subcommand_reaches_the_trainer(capsys):
    assert cli.main(["train", "--help"]) == 0
    assert "--out-dir" in capsys.readouterr().out


@pytest.fixture
def no_check_may_run(monkeypatch):
    import convexlab.theory.registry as R

    def refuse(*args, **kwargs):
        raise AssertionError("a check ran before the destinations were validated")

    monkeypatch.setattr(R, "run_check", refuse)


@pytest.mark.parametrize("flag", ["--json", "--markdown"])
def test_bad_file_destination_is_refused_before_any_check_runs(flag, tmp_path, no_check_may_run, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    for bad, message in [(tmp_path, "must be a file path"), (blocker / "r.json", "is a file")]:
        assert cli.main(["check", "--only", "stochastic_sign", "--no-progress", flag, str(bad)]) == 2
        assert message in capsys.readouterr().err


def test_bad_out_directory_is_refused_before_any_check_runs(tmp_path, no_check_may_run, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert cli.main(["check", "--only", "stochastic_sign", "--no-progress", "--out", str(f)]) == 2
    assert "--out must be a directory" in capsys.readouterr().err


def test_ctrl_c_keeps_the_finished_checks(tmp_path, monkeypatch, capsys):
    import convexlab.theory.registry as R

    real, calls = R.run_check, []

    def interrupted_on_the_third(c, ctx, **kw):
        calls.append(c.name)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(c, ctx, **kw)

    monkeypatch.setattr(R, "run_check", interrupted_on_the_third)
    j = tmp_path / "r.json"
    assert cli.main(["check", "--only", "spectral.diagonal", "--no-progress", "--json", str(j)]) == 130
    names = [c["name"] for c in json.loads(j.read_text())["checks"]]
    assert names == calls[:2]
    captured = capsys.readouterr()
    assert "interrupted after 2 of 5 checks" in captured.err and names[0] in captured.out


# --- the terminal table: width, wrapping, family summary, closing line ------------------------------

LONG_NAME = "zz.long_family_name.with_a_very_long_statement_name[Spectral(SoftSign(algebraic, tau=0.5))]"
LONG_SOURCE = ("Some Paper (arXiv 2699.00001) Theorem 17 and Appendix Q.4, with a long commentary on the instance "
               "that no terminal column can hold")


@pytest.fixture
def long_checks():
    def bound(ctx):
        from convexlab.theory.registry import upper_result

        return upper_result(0.25, 0.5, stderr=0.01)

    def boom(ctx):
        return CheckResult(measured=2.0, expected=1.0, tolerance=0.1, passed=False, margin=-0.9)

    REGISTRY[LONG_NAME] = Check(LONG_NAME, LONG_SOURCE, "DER", "upper", "a long-named bound", bound)
    REGISTRY["zz.short"] = Check("zz.short", LONG_SOURCE, "P", "identity", "a failing identity", boom)
    yield
    del REGISTRY[LONG_NAME], REGISTRY["zz.short"]


def _table_block(out: str) -> list[str]:
    lines = out.splitlines()
    start = next(i for i, s in enumerate(lines) if s.startswith("verdict"))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("prov: "))
    return lines[start:end]


@pytest.mark.parametrize("width", [80, 100, 132])
def test_table_fits_the_width_and_keeps_verdict_and_ratio_on_the_check_line(width, long_checks, tmp_path, capsys):
    md = tmp_path / "t.md"
    assert cli.main(["check", "--only", "zz.", "--no-progress", "--width", str(width), "--markdown", str(md)]) == 1
    out = capsys.readouterr().out
    assert all(len(s) <= width for s in out.splitlines()), max(out.splitlines(), key=len)
    table = _table_block(out)
    assert table[0].split()[:2] == ["verdict", "check"] and "meas/bound" in table[0]
    first = next(i for i, s in enumerate(table) if s.startswith("pass "))
    # the long name wraps onto continuation lines that carry nothing else, so the name is whole
    row, head = table[first], table[0]
    cell = lambda title, n: row[head.index(title):head.index(title) + n].strip()  # noqa: E731
    assert cell("verdict", 7) == "pass" and cell("meas/bound", 10) == "0.5" and cell("prov", 4) == "DER"
    assert cell("exp./bound", 10) == "0.5" and cell("measured", 8) == "0.25"
    rest = [s for s in table[first + 1:] if not s.startswith(("pass", "FAIL"))]
    assert "".join([table[first].split()[1], *(s.strip() for s in rest)]) == LONG_NAME
    fail = next(s for s in table if s.startswith("FAIL "))
    assert fail.split()[1] == "zz.short"
    # the markdown (and JSON) keep the full text
    text = md.read_text()
    assert LONG_SOURCE in text and LONG_NAME in text


def test_width_zero_prints_the_full_text(long_checks, capsys):
    assert cli.main(["check", "--only", "zz.", "--no-progress", "--width", "0"]) == 1
    table = _table_block(capsys.readouterr().out)
    row = next(s for s in table if s.startswith("pass "))
    assert LONG_NAME in row and "Some Paper Theorem 17" in row and row.endswith("that no terminal column can hold")
    assert "3σ interval" in table[0] and "margin" in table[0]


def test_terminal_width_is_read_from_the_terminal(long_checks, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "100")
    assert report.terminal_width(None) == 100 and report.terminal_width(0) is None and report.terminal_width(90) == 90
    cli.main(["check", "--only", "zz.", "--no-progress"])
    lines = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) <= 100 and any(len(s) > 90 for s in lines)


@pytest.mark.parametrize("bad", ["79", "-1", "wide"])
def test_bad_width_is_rejected(bad, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["check", "--width", bad])
    assert exc.value.code == 2
    assert f"--width must be 0 (no limit) or an integer >= 80, got '{bad}'" in capsys.readouterr().err


def test_wrap_name_breaks_at_punctuation_and_never_loses_characters():
    lines = report._wrap_name("geometry.fenchel_young.equality[Spectral(SoftSign(tanh))]", 30)
    assert lines == ["geometry.fenchel_young.", "  equality", "  [Spectral(SoftSign(tanh))]"]
    finer = report._wrap_name("geometry.fenchel_young.equality[Spectral(SoftSign(tanh))]", 20)
    assert finer == ["geometry.", "  fenchel_young.", "  equality[Spectral", "  (SoftSign(tanh))]"]
    hard = report._wrap_name("x" * 50, 20)
    assert [len(s) for s in hard] == [20, 20, 14] and "".join(s.strip() for s in hard) == "x" * 50


def test_family_summary_and_closing_line(capsys):
    assert cli.main(["check", "--only", "stochastic_sign.*", "--only", "spectral.diagonal*", "--no-progress",
                     "--width", "100"]) == 0
    out = capsys.readouterr().out
    summary = out[out.index("\nfamily "):].splitlines()[1:4]
    assert summary[0].split() == ["family", "checks", "passed", "failed", "seconds", "kinds"]
    rows = {s.split()[0]: s.split() for s in summary[1:]}
    assert rows["spectral"][1:4] == ["5", "5", "0"] and rows["spectral"][5:] == ["5", "identity"]
    assert rows["stochastic_sign"][1:4] == ["3", "3", "0"] and rows["stochastic_sign"][5:] == ["3", "zscore"]
    closing = " ".join(out[out.rindex("8 passed, 0 failed"):].split())
    assert f"all 8 checks selected by --only (of {len(REGISTRY)}) in 2 families hold (5 identities, 3 z-tests)" in closing
    assert "details: convexlab check --list" in closing and "--markdown FILE" in closing and "--out DIR" in closing


def test_closing_line_with_failures_names_the_files_written(failing_check, tmp_path, capsys):
    j = tmp_path / "r.json"
    assert cli.main(["check", "--only", "zz.", "--no-progress", "--width", "100", "--json", str(j)]) == 1
    out = capsys.readouterr().out
    summary = out[out.index("\nfamily "):].splitlines()[1:3]
    assert summary[0].split()[:6] == ["family", "checks", "passed", "failed", "errors", "seconds"]
    assert summary[1].split()[:5] == ["zz", "2", "0", "1", "1"]
    closing = " ".join(out[out.rindex("0 passed, 2 failed"):].split())
    assert f"2 of 2 checks selected by --only (of {len(REGISTRY)}) did not hold" in closing
    assert "did not hold (1 failed, 1 errors; listed below)" in closing and f"details: {j} (JSON)" in closing
    assert closing.index("details:") < closing.index("FAIL: zz.failing") < closing.index("ERROR: zz.crashing")


def test_ctrl_c_before_the_first_check_prints_an_empty_table_and_says_so(monkeypatch, capsys):
    import convexlab.theory.registry as R

    def interrupted(c, ctx, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(R, "run_check", interrupted)
    assert cli.main(["check", "--only", "spectral.diagonal", "--no-progress", "--width", "100"]) == 130
    out = capsys.readouterr().out
    assert out.startswith("verdict  check") and "prov:" not in out
    assert "0 passed, 0 failed" in out and "none of the 5 checks finished" in out


def test_version_and_summary_provenance(tmp_path, capsys):
    import json

    from convexlab import __version__, cli

    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"convexlab {__version__}"
    out = tmp_path / "o"
    assert cli.main(["check", "--only", "geometry.step_path[Sign]", "--no-progress", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) >= {"git_commit", "versions"} and summary["versions"]["torch"]
