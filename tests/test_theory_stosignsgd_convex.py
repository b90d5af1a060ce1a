"""StoSignSGD's convex checks: Theorem 4 on d-dimensional problems, Theorem 1 (OCO) and the rate
exponent pass, and each fails on a deliberately broken variant."""

import math

import pytest
import torch

from convexlab.optim import SignSGD, StoSignSGD
from convexlab.problems.noise import NoiseModel
from convexlab.problems.online import AdaptiveSignAdversary, ObliviousCoinLosses
from convexlab.sim.online import run_online
from convexlab.theory import CheckContext
from convexlab.theory import stosignsgd_convex as C
from convexlab.theory.registry import REGISTRY

CTX = CheckContext()
F64 = torch.float64


class BiasedSignFlip(NoiseModel):
    r"""A broken oracle: ±L_i coins with mean clip(g_i + βL_i, −L_i, L_i) (bounded, but biased)."""

    def __init__(self, beta):
        self.beta = beta

    def __call__(self, g, L, generator):
        L = L.to(g.dtype)
        mean = torch.maximum(torch.minimum(g + self.beta * L, L), -L)
        u = torch.rand(g.shape, generator=generator, dtype=g.dtype)
        return torch.where(u < (1 + mean / L) / 2, L, -L)


def test_checks_are_registered_with_their_tags():
    names = [n for n in REGISTRY if n.startswith("stosignsgd.") and (
        "theorem1" in n or "rate_exponent" in n or any(p in n for p in C.PROBLEMS))]
    assert len(names) == 12
    assert REGISTRY["stosignsgd.theorem4[max_affine]"].provenance == "P"
    assert REGISTRY["stosignsgd.theorem1_regret[adaptive]"].provenance == "R"
    assert REGISTRY["stosignsgd.theorem4_rate_exponent"].kind == "rate"


@pytest.mark.parametrize("name", list(C.PROBLEMS))
def test_theorem4_holds(name):
    res = C.theorem4_convex(name, CTX)
    assert res.passed and 0 < res.details["slack_ratio"] < 1


@pytest.mark.parametrize("name", ["sign_game"])
def test_theorem4_fails_with_a_step_ten_times_too_large(name):
    assert not C.theorem4_convex(name, CTX, make=C.stosign_step_times(10.0)).passed


@pytest.mark.slow
@pytest.mark.parametrize("name", ["l1_regression", "hinge_svm", "max_affine"])
def test_theorem4_fails_with_biased_oracle_noise(name):
    assert not C.theorem4_convex(name, CTX, noise=BiasedSignFlip(0.5)).passed


def test_theorem4_refuses_an_unbounded_oracle():
    from convexlab.problems import Gaussian

    with pytest.raises(ValueError, match="needs a bounded oracle"):
        C.theorem4_convex("max_affine", CTX, noise=Gaussian(1.0))


# ---- online --------------------------------------------------------------------------------
def test_online_driver_matches_a_hand_computed_game():
    L = torch.tensor([1.0, 3.0], dtype=F64)
    adv = AdaptiveSignAdversary(L, D_inf=2.0, eps=0.5, seed=0)
    res = run_online(adv, lambda ps: SignSGD(ps, lr=0.1, box=adv.box), 20, 2, record=[5, 20])
    # replay by hand: deterministic signSGD, identical rows
    x, S, loss = torch.zeros(2, dtype=F64), torch.zeros(2, dtype=F64), 0.0
    for t in range(20):
        c = adv.loss(t + 1, x[None], S[None])[0]
        loss += float(c @ x)
        S += c
        x = (x - 0.1 * torch.sign(c)).clamp(-1, 1)
    assert res.learner_loss.tolist() == pytest.approx([loss, loss])
    regret = loss + float(S.abs().sum())
    assert res.realized_regret.tolist() == pytest.approx([regret, regret])
    assert res.regret_curve.shape == (2, 2) and res.regret_curve[-1].tolist() == pytest.approx([regret, regret])
    pr, se, x_hat = res.pseudo_regret()
    assert pr == pytest.approx(regret) and se == 0.0 and torch.equal(x_hat, -torch.sign(S))


def test_pseudo_regret_equals_mean_regret_for_oblivious_losses():
    adv = ObliviousCoinLosses(torch.logspace(0, 1, 4, dtype=F64), D_inf=2.0, seed=1)
    res = run_online(adv, lambda ps: StoSignSGD.theory(ps, diameter=2.0, box=adv.box, seed=2), 300, 8)
    assert len(set(res.realized_regret.tolist())) > 1  # the learner's coins differ per row
    # the same Σc_t in every row: each row's best comparator is the common vertex
    assert res.pseudo_regret()[0] == pytest.approx(res.regret()[0])


def test_online_driver_rejects_bad_input():
    adv = ObliviousCoinLosses(torch.ones(3, dtype=F64))
    with pytest.raises(ValueError, match="T must be an integer >= 1"):
        run_online(adv, lambda ps: SignSGD(ps), 0, 2)
    with pytest.raises(ValueError, match="coordinate-wise"):
        run_online(adv, lambda ps: torch.optim.SGD(ps, lr=0.1), 5, 2)
    with pytest.raises(ValueError, match="x0 must lie in the box"):
        run_online(adv, lambda ps: SignSGD(ps), 5, 2, x0=torch.full((3,), 2.0, dtype=F64))


@pytest.mark.parametrize("adversary", list(C.ADVERSARIES))
def test_theorem1_holds(adversary):
    reg = C.theorem1_regret(adversary, CTX)
    pseudo = C.theorem1_pseudo_regret(adversary, CTX)
    assert reg.passed and pseudo.passed
    assert 0 < reg.details["slack_ratio"] < 1 and 0 < pseudo.details["slack_ratio"] < 1


@pytest.mark.parametrize("adversary", list(C.ADVERSARIES))
def test_theorem1_fails_for_a_deterministic_sign_learner(adversary):
    # signSGD moves by η_t whatever |c|: the regret grows linearly in T
    det = C.stosign_online("deterministic_sign")
    assert not C.theorem1_regret(adversary, CTX, make=det).passed
    assert not C.theorem1_pseudo_regret(adversary, CTX, make=det).passed


def test_theorem1_bounds_follow_the_statement():
    adv = C.ADVERSARIES["adaptive"](0)
    b1, b2 = C.theorem1_bounds(adv, 100)
    base = 2.0 * float(adv.L.sum()) * 10
    assert b1 == pytest.approx((2 + math.sqrt(2)) * base) and b2 == pytest.approx(math.sqrt(2) * base)


# ---- rate exponent -------------------------------------------------------------------------
def test_rate_exponent_is_minus_one_half():
    res = C.rate_exponent(CTX)
    assert res.passed and res.ci[0] <= -0.5 <= res.ci[1]
    assert 0.1 < res.details["slack_ratio"] < 1  # nearly tight: within a small factor of the bound


def test_rate_exponent_fails_without_step_decay():
    assert not C.rate_exponent(CTX, make=C.power_decay(0.0, 1 / math.sqrt(2 * 250))).passed


def test_rate_exponent_fails_with_the_wrong_decay_exponent():
    # η_t ∝ t^{-1/4}: the walk's distance to x* decays like t^{-1/4}, and so does the gap
    assert not C.rate_exponent(CTX, make=C.power_decay(0.25)).passed


def test_power_decay_with_one_half_is_the_theorem_step():
    p = C.rate_problem()
    a = torch.nn.Parameter(torch.zeros(3, 4, dtype=F64))
    b = torch.nn.Parameter(torch.zeros(3, 4, dtype=F64))
    opt_a = C.power_decay(0.5)(p, 100, 7)([a])
    opt_b = C.anytime_for_horizon(p, 100, 7)([b])
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        g = torch.randn(3, 4, generator=gen, dtype=F64)
        a.grad, b.grad = g.clone(), g.clone()
        opt_a.step()
        opt_b.step()
    assert torch.allclose(a, b, atol=1e-12)


def test_weighted_fit_recovers_the_leading_exponent():
    import numpy as np

    T = np.array([100.0, 400.0, 1600.0, 6400.0])
    gap = 3 * T**-0.5 * np.exp(0.8 * T**-0.5)
    fit = C.weighted_fit(T, gap, 0.01 * gap)
    assert fit["slope"] == pytest.approx(-0.5) and fit["correction"] == pytest.approx(0.8)
    assert fit["intercept"] == pytest.approx(math.log(3)) and fit["chi2_per_dof"] < 1e-20
    plain = C.weighted_fit(T, gap, 0.01 * gap, correction=False)
    assert plain["slope"] < -0.5  # the pure power law is biased by the correction


# ---- the panel of broken subjects ------------------------------------------------------------
from convexlab.theory import mutants, run_check  # noqa: E402

MINE = ["stosignsgd.theorem4[anytime]", "stosignsgd.theorem4[constant]", "stosignsgd.summed_inequality",
        "stosignsgd.figure1_signsgd_stalls", "stosignsgd.theorem4[weighted_l1_coupling]",
        "stosignsgd.theorem4[l1_regression]", "stosignsgd.theorem4[hinge_svm]", "stosignsgd.theorem4[max_affine]",
        "stosignsgd.theorem4[sign_game]", "stosignsgd.theorem4_rate_exponent",
        "stosignsgd.theorem1_regret[adaptive]", "stosignsgd.theorem1_pseudo_regret[adaptive]",
        "stosignsgd.theorem1_pseudo_regret[oblivious]", "stosignsgd.theorem1_regret[adaptive_constant]",
        "stosignsgd.theorem1_pseudo_regret[adaptive_constant]", "stosignsgd.theorem1_pseudo_regret[oblivious_constant]",
        "crosscheck.theorem4_adversarial",
        "stosignsgd.sign_conversion_unbiased[adamw]", "stosignsgd.sign_conversion_unbiased[adamax]"]
#: checks cheap enough (≲ 1.5 s a run) to run on every declared member in the normal suite
CHEAP = {"stosignsgd.theorem4[anytime]", "stosignsgd.theorem4[constant]", "stosignsgd.summed_inequality",
         "stosignsgd.figure1_signsgd_stalls", "stosignsgd.theorem4[sign_game]",
         "stosignsgd.theorem1_regret[adaptive]", "stosignsgd.theorem1_pseudo_regret[adaptive]",
         "stosignsgd.theorem1_pseudo_regret[oblivious]", "stosignsgd.theorem1_regret[adaptive_constant]",
         "stosignsgd.theorem1_pseudo_regret[adaptive_constant]", "stosignsgd.theorem1_pseudo_regret[oblivious_constant]",
         "stosignsgd.sign_conversion_unbiased[adamw]",
         "stosignsgd.sign_conversion_unbiased[adamax]"}
CELLS = [(n, m) for n in MINE for m in REGISTRY[n].catches]
#: step-sensitive checks that catch × 10 but not × 5, each with its measured reason in ``blind``: the
#: realized-regret bound adds the ghost-iterate term 2D∞‖L‖₁√T to (★) (× 5 measures 0.93 of it)
STEP_X5_EXCEPTIONS = {"stosignsgd.theorem1_regret[adaptive]",
                      # × 5 measures 1.05 of the bound, at the edge of the 3-standard-error rule
                      "stosignsgd.theorem4[hinge_svm]"}


@pytest.mark.parametrize("name", MINE)
def test_every_applicable_member_is_declared(name):
    c = REGISTRY[name]
    assert c.subject is not None and c.default_subject is not None
    assert set(mutants.applicable(c)) == set(c.catches) | set(c.blind)
    assert "frozen" in c.catches
    assert all(isinstance(r, str) and r and "TBD" not in r for r in c.blind.values())
    if c.subject in ("stosignsgd", "online") and name.startswith("stosignsgd.theorem") and "rate" not in name:
        assert {"signsgd", "biased_noise"} <= set(c.catches)
    if c.step_sensitive and name not in STEP_X5_EXCEPTIONS:
        assert "step_x5" in c.catches
    if c.step_sensitive:
        assert "step_x10" in c.catches


@pytest.mark.parametrize("name", sorted(CHEAP))
def test_the_default_subject_passes(name):
    out = run_check(name)
    assert out.passed, (out.measured, out.expected, out.details)


def _cell_params():
    out = []
    for n, m in CELLS:
        marks = () if n in CHEAP else (pytest.mark.slow,)
        out.append(pytest.param(n, m, marks=marks, id=f"{n}-{m}"))
    return out


@pytest.mark.parametrize("name,member", _cell_params())
def test_each_declared_member_fails_the_check(name, member):
    f = mutants.applicable(REGISTRY[name])[member]
    out = run_check(name, subject=f)
    assert not out.passed, (member, out.measured, out.expected, out.details)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(MINE) - CHEAP))
def test_the_default_subject_passes_expensive(name):
    out = run_check(name)
    assert out.passed, (out.measured, out.expected, out.details)


def test_a_subject_of_the_wrong_shape_is_refused():
    out = run_check("stosignsgd.sign_conversion_unbiased[adamw]",
                    subject=lambda ps, problem: torch.optim.SGD(ps, lr=1.0))
    assert not out.passed and "coordinate-wise" in out.error


def test_feasibility_is_judged():
    unproj = mutants.PANEL["unprojected"].providers["stosignsgd"]
    out = run_check("stosignsgd.theorem4[anytime]", subject=unproj)
    assert not out.passed and out.details["box_violation"] > 0 and "infeasible" in out.details


def test_the_adaptive_adversary_punishes_a_learner_at_zero():
    adv = AdaptiveSignAdversary(torch.tensor([1.0, 2.0], dtype=F64), D_inf=2.0, eps=0.25, seed=0)
    c = adv.loss(1, torch.zeros(1, 2, dtype=F64), torch.zeros(1, 2, dtype=F64))
    assert torch.equal(c.abs()[0], adv.L)  # the full loss, |S| grows by L


def test_online_driver_reports_plays_outside_the_box():
    adv = ObliviousCoinLosses(torch.ones(3, dtype=F64), D_inf=2.0, seed=0)
    inside = run_online(adv, lambda ps: SignSGD(ps, lr=0.5, box=adv.box), 50, 2)
    outside = run_online(adv, lambda ps: SignSGD(ps, lr=0.5), 50, 2)
    assert inside.meta["box_violation"] == 0.0 and outside.meta["box_violation"] > 0.5


def test_projected_signsgd_keeps_the_sum_of_figure1_from_step_two():
    from convexlab.sim import simulate
    from convexlab.theory import stosignsgd as S

    p = S.figure1_problem()
    T = 3000
    res = simulate(p, S.signsgd_projected(p, T, 0), T, 1, record=[2, 3, 4, 10, 100, T],
                   extra={"sum": lambda x: x.sum(-1)})
    assert torch.allclose(res.sum[:, 0], torch.full((6,), S.FIGURE1_STALL, dtype=F64), atol=1e-12)
    assert float(res.gap_avg[-1, 0]) >= S.FIGURE1_STALL > S.theorem4_bound(p, T)


# ---- Theorem 1 with the constant step (constants [DER]) --------------------------------------
def test_theorem1_constant_bounds_follow_the_derivation():
    losses = C.ADVERSARIES["adaptive"](0)
    T = 400
    regret, pseudo = C.theorem1_constant_bounds(losses, T)
    # (★) with η = D∞/√T: ‖L‖₁(D∞²/(2η) + ηT/2) = D∞‖L‖₁√T; plus (D∞/2)‖L‖₁√T for the realized comparator
    eta = losses.D_inf / math.sqrt(T)
    star = float(losses.L.sum()) * (losses.D_inf**2 / (2 * eta) + eta * T / 2)
    assert pseudo == pytest.approx(star) and regret == pytest.approx(1.5 * star)
    # tighter than the anytime constants, as the step is tuned to the horizon
    assert pseudo < C.theorem1_bounds(losses, T)[1] and regret < C.theorem1_bounds(losses, T)[0]
    with pytest.raises(ValueError, match="step must be one of"):
        C.theorem1_regret("adaptive", CTX, step="linear")


def test_theorem1_constant_checks_run_the_constant_step():
    seen = []

    def spy(params, problem):
        seen.append(problem.step)
        return mutants.stosign_alg1(params, problem)

    for name in ("stosignsgd.theorem1_regret[adaptive_constant]", "stosignsgd.theorem1_pseudo_regret[oblivious_constant]"):
        out = run_check(name, subject=spy)
        assert out.passed and 0.3 < out.ratio < 1, (name, out.measured, out.expected)
    assert seen and set(seen) == {"constant"}
