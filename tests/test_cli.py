"""convexlab check: listing, filtering, exit status, JSON and Markdown output."""

import json
import subprocess
import sys

import pytest

from convexlab import cli
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
    assert "expected/bound" in out and f"{len(names)} passed, 0 failed" in out


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
    assert "--seed must be an integer >= 0" in capsys.readouterr().err


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
    assert "--out_dir=" in capsys.readouterr().out


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
