"""The O2NC checks pass on Alg. 12 with the registry learner and fail on the panel members they
declare (a learner that never moves, signSGD, the half-width noise, a biased oracle, no projection);
every applicable panel member is declared; the fast default path is the registry learner bit for bit."""

import pytest
import torch

from convexlab.sim.o2nc import o2nc
from convexlab.theory import mutants
from convexlab.theory import stosignsgd_o2nc as C
from convexlab.theory.registry import CheckContext, get_check, run_check

NAMES = ("stosignsgd.o2nc_inequality10", "stosignsgd.o2nc_guarantee", "stosignsgd.o2nc_spread",
         "stosignsgd.o2nc_relu_witness")
ON_TEST_PROBLEM = NAMES[:3]
_FACTORIES: dict[str, object] = {}


def _member(name: str, check: str):
    """The panel member's factory, one object per member (so that the checks share cached runs)."""
    if name not in _FACTORIES:
        _FACTORIES[name] = mutants.applicable(get_check(check))[name]
    return _FACTORIES[name]


from convexlab.theory.registry import REGISTRY  # noqa: E402  (imports every check module first)

assert all(n in REGISTRY for n in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_applicable_member_is_declared(name):
    c = get_check(name)
    assert c.subject == "o2nc_inner" and c.default_subject is C.o2nc_learner
    assert set(mutants.applicable(c)) == set(c.catches) | set(c.blind)
    assert all(reason for reason in c.blind.values())


def test_default_subject_passes_every_check_within_10x_of_its_bound():
    for name in NAMES:
        out = run_check(name)
        assert out.passed, (name, out.measured, out.expected, out.error)
        assert out.details["max_play_over_D"] <= 1.0
        if name != "stosignsgd.o2nc_spread":  # loose by construction (its description says so)
            assert 0.1 < out.ratio < 1, (name, out.ratio)
    g = run_check("stosignsgd.o2nc_guarantee")
    assert g.expected == C.o2nc_setting(CheckContext())[1].eps
    assert "noise" in g.details["dominant_term"]


def test_direct_default_path_is_the_registry_learner_bit_for_bit():
    problem = C.o2nc_test_problem()
    a = o2nc(problem, 300, 3, 2e-4, 4, seed=3, learner="direct")
    b = o2nc(problem, 300, 3, 2e-4, 4, seed=3, learner=C.o2nc_learner)
    for field in ("block_means", "block_grads", "spread", "x_hat", "max_play"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field


#: (check, member) pairs cheap enough for the normal suite (a frozen learner costs no optimizer
#: step; the signSGD run is shared by two checks; the ReLU runs are 1,500 steps)
CHEAP = {"frozen", "signsgd"}
CASES = [pytest.param(name, member, id=f"{name.split('.')[-1]}-{member}",
                      marks=() if member in CHEAP or name == "stosignsgd.o2nc_relu_witness" else pytest.mark.slow)
         for name in NAMES for member in get_check(name).catches]


@pytest.mark.parametrize(("name", "member"), CASES)
def test_check_fails_on_every_member_it_catches(name, member):
    out = run_check(name, subject=_member(member, name))
    assert out.error is None, out.error
    assert not out.passed, (name, member, out.measured, out.expected, out.details)
    if member == "signsgd":  # the stall on the ridge: ‖∇f‖₁ = 2.94 for good, deterministic
        assert out.measured > 1.4 * out.expected
    if member == "unprojected":
        assert "infeasible" in out.details


def test_factory_switches_and_bad_learners_raise():
    problem = C.o2nc_test_problem()
    with pytest.raises(ValueError, match="lr_scale and project switch the built-in learners"):
        o2nc(problem, 5, 1, 0.01, 1, learner=C.o2nc_learner, project=False)
    with pytest.raises(ValueError, match="learner must return a torch.optim.Optimizer"):
        o2nc(problem, 5, 1, 0.01, 1, learner=lambda params, p: None)
