"""The notebook helpers of convexlab.lab.nonconvex: they reproduce the registered checks' numbers,
and their verdict-carrying quantities flip on the broken variants (biased oracle, decay at x)."""

import math

import numpy as np
import pytest
import torch

from convexlab.lab import nonconvex as F
from convexlab.problems import TwoDimensionalAbs
from convexlab.sim import simulate
from convexlab.problems.matrix import spectral_norm
from convexlab.sim.o2nc import o2nc_parameters
from convexlab.theory import run_check
from convexlab.theory import sf_normuon as C
from convexlab.theory.stosignsgd import stosign_anytime
from convexlab.theory.stosignsgd_o2nc import BIAS_FRACTION, sumabssin_problem


def test_curve_matches_the_summary():
    p = TwoDimensionalAbs()
    res = simulate(p, stosign_anytime(p, 0), 200, 4)
    c = F.curve(res, "gap_avg")
    rows = res.summary("gap_avg")
    assert c["t"].tolist() == [r["step"] for r in rows]
    np.testing.assert_allclose(c["mean"], [r["mean"] for r in rows])
    assert np.all(c["lo"] <= c["mean"]) and np.all(c["mean"] <= c["hi"])
    with pytest.raises(ValueError, match="metric must be one of"):
        F.curve(res, "nope")


def test_o2nc_ladder_uses_the_paper_parameters_and_meets_the_bounds():
    (row,) = F.o2nc_ladder([1.0], seeds=4)
    p = sumabssin_problem()
    L1 = float(p.L.sum())
    params = o2nc_parameters(L1, L1 / 0.25, L1, p.delta_f(p.start_point()))
    assert (row["N"], row["K"], row["T"]) == (params.N, params.K, params.T) == (188, 23, 4324)
    assert math.isclose(row["descent"] + row["noise"] + row["spread"], row["eps"], rel_tol=0.2)
    assert row["witness"] - 3 * row["witness_se"] <= row["eps"]
    assert row["ineq10_lhs"] - 3 * row["ineq10_lhs_se"] <= row["ineq10_bound"]
    assert 0 <= row["goldstein"] and row["ineq10_lhs"] <= row["witness"]


def test_o2nc_ladder_flips_with_a_biased_oracle():
    p = sumabssin_problem()
    bias = BIAS_FRACTION * p.L
    (row,) = F.o2nc_ladder([0.5], seeds=4, problem=p, oracle=lambda x, gen: p.oracle(x, gen) + bias)
    assert row["witness"] - 3 * row["witness_se"] > row["eps"]
    assert row["ineq10_lhs"] - 3 * row["ineq10_lhs_se"] > row["ineq10_bound"]


@pytest.mark.parametrize("kw, message", [
    (dict(eps_fractions=[]), "eps_fractions"), (dict(eps_fractions=[-1.0]), "eps_fractions"),
    (dict(eps_fractions=[1.0], radius=0.0), "radius"), (dict(eps_fractions=[1.0], seeds=1), "seeds"),
])
def test_o2nc_ladder_rejects_bad_input(kw, message):
    with pytest.raises(ValueError, match=message):
        F.o2nc_ladder(**kw)


def test_spectral_ball_trace_is_the_checks_first_seed_run():
    """The trace is the run of sf_normuon.spectral_ball_decay_at_z (seed 0, its first seed): same start
    ‖z_1‖_op = 2R, same bound b_t, and ‖z_t‖_op equal step by step to what the check's subject sees."""
    seen = []

    def recording(params, problem):
        opt = C.sf_normuon_alg1(params, problem)
        if not seen:  # the check's first seed
            # an instance-level wrapper, not a step hook: once any AdamW exists in the process the
            # schedule-free step runs its hooks twice (an optimizer-core defect tracked separately)
            inner = opt.step

            def step(*args, **kwargs):
                out = inner(*args, **kwargs)
                seen.append(float(spectral_norm(C.fast_iterate(opt, params[0], problem.sf_beta))))
                return out

            opt.step = step
        return opt

    out = run_check("sf_normuon.spectral_ball_decay_at_z", subject=recording)
    T = out.details["T"]
    tr = F.spectral_ball_trace(T)
    R = 0.2 * math.sqrt(22) / 1.0
    assert math.isclose(tr["radius"], R) and math.isclose(tr["start_op"], 2 * R) and tr["bound"][0] == tr["z_op"][0]
    assert tr["z_op"].shape == tr["bound"].shape == (T + 1,)
    np.testing.assert_allclose(tr["z_op"][1:], seen[:T], rtol=1e-12)
    assert math.isclose(tr["bound"][-1], out.details["final_bound"], rel_tol=1e-12)
    assert tr["excess"] <= out.measured + 1e-15 and tr["excess"] <= 0  # the check takes the max over its seeds
    # the bound contracts from 2R towards R like (1 − ηλ)^t
    np.testing.assert_allclose(tr["bound"] - R, R * (1 - 0.05) ** np.arange(T + 1), rtol=1e-9, atol=1e-12)


def test_spectral_ball_trace_leaves_the_bound_with_decay_at_x():
    bad = F.spectral_ball_trace(300, decay_at="x")
    assert bad["excess"] > 0.1 * bad["radius"]
    with pytest.raises(ValueError, match="steps"):
        F.spectral_ball_trace(0)
