"""The notebook helpers of convexlab.lab.convex: every prefix of an anytime run is the run of that
horizon, they reproduce the registered checks' numbers, and their verdict-carrying quantities flip on
the broken variants (a step 10× too large, a wrong step decay, a deterministic sign)."""

import math

import numpy as np
import pytest
import torch

from convexlab.lab import convex as F
from convexlab.problems import Gaussian
from convexlab.sim import simulate
from convexlab.sim.online import run_online
from convexlab.theory import stosignsgd_convex as C
from convexlab.theory.stosignsgd import stosign_anytime, theorem4_bound


def test_theorem4_curve_prefixes_are_the_runs_of_those_horizons():
    out = F.theorem4_curves(["max_affine"], steps=300, seeds=4, seed=3, record=[50, 300])["max_affine"]
    p = C.PROBLEMS["max_affine"](None)  # the check's own oracle, as theorem4_curves builds it
    for i, T in enumerate((50, 300)):  # a separate T-step run (same seeds) gives the same number
        mean, se = simulate(p, stosign_anytime(p, 3), T, 4, record=[T], seed=3).final("avg")
        assert out["mean"][i] == pytest.approx(mean, rel=1e-12) and out["stderr"][i] == pytest.approx(se, rel=1e-12)
        assert out["bound"][i] == pytest.approx(theorem4_bound(p, T))
    assert out["L1"] == pytest.approx(float(p.oracle_L.sum())) and out["d"] == 8 and out["D_inf"] == 2.0
    assert out["worst"] == pytest.approx(float(((out["mean"] - 3 * out["stderr"]) / out["bound"]).max()))
    assert 0 < out["worst"] < 1 and 0 < out["ratio_T"] < 1


def test_theorem4_curves_flip_with_a_step_ten_times_too_large():
    curves = F.theorem4_curves(["sign_game", "weighted_l1_coupling"], steps=2000, seeds=16,
                               make=C.stosign_step_times(10.0))
    assert all(c["worst"] > 1 for c in curves.values())


def test_rate_runs_reproduce_the_registered_check():
    class Small:  # a CheckContext with a small ladder, to compare the two code paths cheaply
        seed = 2

        def size(self, default, full):
            return [40, 80, 160, 320] if isinstance(default, list) else 16

    check = C.rate_exponent(Small())
    mine = F.rate_runs([40, 80, 160, 320], 16, seed=2)
    np.testing.assert_allclose(mine["gap"], check.details["gaps"], rtol=1e-12)
    np.testing.assert_allclose(mine["stderr"], check.details["stderrs"], rtol=1e-12)
    assert mine["p"] == pytest.approx(check.measured, rel=1e-10)
    assert mine["p_stderr"] == pytest.approx(check.details["slope_stderr"], rel=1e-10)
    assert mine["plain"]["slope"] == pytest.approx(check.details["power_law_slope"], rel=1e-10)
    assert mine["passed"] == check.passed


def test_rate_runs_find_minus_one_half_and_flip_with_a_wrong_decay():
    ladder = [125, 250, 500, 1000, 2000]
    good = F.rate_runs(ladder, 256)
    assert good["passed"] and abs(good["p"] + 0.5) <= 3 * good["p_stderr"]
    assert np.all((0.1 < good["ratio"]) & (good["ratio"] < 1))
    assert not F.rate_runs(ladder, 256, make=C.power_decay(0.25))["passed"]  # η_t ∝ t^{−1/4}
    assert not F.rate_runs(ladder, 256, make=C.power_decay(0.0, 1 / math.sqrt(2 * 125)))["passed"]  # no decay


@pytest.mark.parametrize("adversary", list(C.ADVERSARIES))
def test_online_curve_prefixes_are_the_games_of_those_horizons(adversary):
    out = F.online_curves(adversary, steps=200, seeds=6, seed=1, record=[30, 200])
    for i, T in enumerate((30, 200)):
        game = C.ADVERSARIES[adversary](1)
        res = run_online(game, C.stosign_online()(game, 1), T, 6)
        (r, r_se), (p, p_se, _) = res.regret(), res.pseudo_regret()
        assert out["regret"][i] == pytest.approx(r, rel=1e-12) and out["regret_se"][i] == pytest.approx(r_se, rel=1e-12)
        assert out["pseudo"][i] == pytest.approx(p, rel=1e-12) and out["pseudo_se"][i] == pytest.approx(p_se, rel=1e-12)
        b_r, b_p = C.theorem1_bounds(game, T)
        assert out["bound_regret"][i] == pytest.approx(b_r) and out["bound_pseudo"][i] == pytest.approx(b_p)
    assert 0 < out["worst_regret"] < 1 and 0 < out["worst_pseudo"] < 1
    assert out["adaptive"] is (adversary == "adaptive")


@pytest.mark.parametrize("adversary", list(C.ADVERSARIES))
def test_online_curves_flip_for_a_deterministic_sign_learner(adversary):
    det = F.online_curves(adversary, steps=800, seeds=4, mode="deterministic_sign")
    assert det["worst_regret"] > 1 and det["worst_pseudo"] > 1


@pytest.mark.parametrize("call, message", [
    (lambda: F.theorem4_curves(["nope"]), "names"),
    (lambda: F.theorem4_curves(["sign_game"], steps=0), "steps"),
    (lambda: F.theorem4_curves(["sign_game"], steps=10, seeds=1), "seeds"),
    (lambda: F.theorem4_curves(["sign_game"], steps=10, record=[11]), "record"),
    (lambda: F.theorem4_curves(["sign_game"], steps=10, noise=Gaussian(1.0)), "noise"),
    (lambda: F.rate_runs([100, 200, 400], 8), "horizons"),
    (lambda: F.rate_runs([100, 50, 200, 400], 8), "horizons"),
    (lambda: F.rate_runs([50, 100, 200, 400], 1), "seeds"),
    (lambda: F.online_curves("greedy"), "adversary"),
    (lambda: F.online_curves("adaptive", mode="sign"), "mode"),
    (lambda: F.online_curves("adaptive", steps=10, seeds=0), "seeds"),
])
def test_bad_input_is_rejected(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_prefix_tap_forwards_the_game():
    game = C.ADVERSARIES["oblivious"](0)
    tap = F._PrefixTap(game, [1])
    assert tap.dim == game.dim and tap.D_inf == game.D_inf and repr(tap) == repr(game)
    assert torch.equal(tap.box[0], game.box[0]) and tap.adaptive is False
