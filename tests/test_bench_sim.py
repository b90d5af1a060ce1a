"""convexlab bench sim: both timings are measured on the same problem, the report is complete, and bad
sizes are rejected. No timing assertion (machine noise); the ratio is only required to be finite."""

import json
import math

import pytest

from convexlab import cli
from convexlab.bench import sim_speed


def test_small_run_reports_both_throughputs_and_the_ratio(tmp_path, capsys):
    out = tmp_path / "sim.json"
    assert cli.main(["bench", "sim", "--seeds", "20", "--dim", "10", "--steps", "20", "--loop-steps", "2",
                     "--rounds", "1", "--threads", "1", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "batched simulator" in text and "per-seed loop" in text and "target >= 50x" in text
    r = json.loads(out.read_text())
    assert r["seeds"] == 20 and r["dim"] == 10
    assert math.isfinite(r["ratio"]) and r["ratio"] > 0
    assert r["ratio"] == pytest.approx(r["batched_updates_per_s"] / r["loop_updates_per_s"])


def test_bad_sizes_name_the_argument():
    with pytest.raises(ValueError, match="seeds must be an integer >= 1, got 0"):
        sim_speed.run(seeds=0)
    with pytest.raises(SystemExit):
        sim_speed.main(["--dim", "-3"])
