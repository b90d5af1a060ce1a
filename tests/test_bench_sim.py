"""convexlab bench sim: the three timings are measured on the same problem, the report is complete
(threads, load, which loop each ratio is against), and bad sizes are rejected. No timing assertion
(machine noise); the ratios are only required to be finite and consistent with the throughputs."""

import json
import math

import pytest

from convexlab import cli
from convexlab.bench import sim_speed


def test_small_run_reports_the_throughputs_and_both_ratios(tmp_path, capsys):
    out = tmp_path / "sim.json"
    assert cli.main(["bench", "sim", "--seeds", "20", "--dim", "10", "--steps", "20", "--loop-steps", "2",
                     "--rounds", "1", "--threads", "1", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    for line in ("batched simulator", "per-seed loop", "plain loop", "against the per-seed loop",
                 "against the plain loop", "target >= 100x", "1 thread(s), load average"):
        assert line in text
    r = json.loads(out.read_text())
    assert r["seeds"] == 20 and r["dim"] == 10 and r["threads"] == 1
    for key in ("ratio", "ratio_plain"):
        assert math.isfinite(r[key]) and r[key] > 0
    assert r["ratio"] == pytest.approx(r["batched_updates_per_s"] / r["loop_updates_per_s"])
    assert r["ratio_plain"] == pytest.approx(r["batched_updates_per_s"] / r["plain_updates_per_s"])
    assert "per_seed" in r["reference"] and "no simulator" in r["reference_plain"]
    assert r["met"] == (r["ratio"] >= r["target"] == 100.0)


def test_the_plain_loop_runs_the_same_optimisation():
    """The plain loop's seed s is the simulator's run with the same optimizer seed: same optimizer
    and problem; its oracle generator is its own, so the runs agree in law, not draw by draw —
    checked on an exact oracle, where they must agree exactly."""
    import torch

    from convexlab.problems.convex import WeightedL1Coupling
    from convexlab.problems.noise import Exact
    from convexlab.sim import simulate

    problem = WeightedL1Coupling(d=5, noise=Exact())
    res = simulate(problem, sim_speed._factory(problem, 3), 15, 1, record=[15], seed=3)
    p = torch.nn.Parameter(problem.start_point().clone().unsqueeze(0))
    opt = sim_speed._factory(problem, 3)([p])
    with torch.no_grad():
        for _ in range(14):
            p.grad = problem.oracle(p.detach(), None)
            opt.step()
    assert float(problem.f(p.detach())[0]) == pytest.approx(float(res.f[-1, 0]), rel=1e-12)
    assert sim_speed._time_plain(problem, 2, 3, 0) > 0


def test_bad_sizes_name_the_argument():
    with pytest.raises(ValueError, match="seeds must be an integer >= 1, got 0"):
        sim_speed.run(seeds=0)
    with pytest.raises(ValueError, match="threads must be an integer >= 1 or None, got 0"):
        sim_speed.run(seeds=2, threads=0)
    with pytest.raises(SystemExit):
        sim_speed.main(["--dim", "-3"])
