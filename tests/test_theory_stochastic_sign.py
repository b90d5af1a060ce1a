"""The stochastic-sign checks (StoSignSGD Prop. 1) judge an optimizer step: they pass on the
registry samplers and fail on every panel member they declare; the variance check has its own
statistic (blind to a mean shift, sharp on a right mean with the wrong variance); saturation is
two-sided (a constant-0 estimator fails it); a subject of the wrong shape is refused."""

import pytest
import torch

from convexlab.geometry import StochasticSign
from convexlab.theory import CheckContext, mutants
from convexlab.theory import stochastic_sign as SS
from convexlab.theory.registry import get_check, run_check

NAMES = ("stochastic_sign.expectation", "stochastic_sign.variance", "stochastic_sign.saturation_bias")


class _Step(torch.optim.Optimizer):
    """x ← x − lr·estimate(g, G) with the fixed envelope G = problem.envelope (a test estimator)."""

    def __init__(self, params, problem, estimate):
        super().__init__(params, {"lr": problem.lr})
        self.G, self.estimate = problem.envelope, estimate
        self.gen = torch.Generator().manual_seed(problem.seed)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                p.sub_(self.estimate(p.grad, self.G, self.gen), alpha=group["lr"])


def _estimator(estimate):
    return lambda params, problem: _Step(params, problem, estimate)


def _sign(g, G, gen):
    return torch.sign(g + G * (torch.rand(g.shape, generator=gen, dtype=g.dtype) * 2 - 1))


@pytest.mark.parametrize("name", NAMES)
def test_default_passes_and_every_applicable_member_is_declared(name):
    c = get_check(name)
    assert c.subject == "stochastic_sign" and c.default_subject is not None and c.step_sensitive
    assert set(mutants.applicable(c)) == set(c.catches) | set(c.blind)
    out = run_check(name)
    assert out.passed and out.error is None, (out.measured, out.details)


@pytest.mark.parametrize(("name", "member"), [(n, m) for n in NAMES for m in get_check(n).catches])
def test_check_fails_on_every_member_it_catches(name, member):
    out = run_check(name, subject=mutants.applicable(get_check(name))[member])
    assert out.error is None, out.error
    assert not out.passed, (name, member, out.measured)


def test_zero_estimator_fails_saturation_and_expectation():
    zero = _estimator(lambda g, G, gen: torch.zeros_like(g))
    assert not run_check("stochastic_sign.saturation_bias", subject=zero).passed
    assert not run_check("stochastic_sign.expectation", subject=zero).passed


def test_half_noise_sampler_fails_expectation_and_variance():
    # the old geometry-level mutant, as a step: StochasticSign(G, noise_scale=0.5) has mean clip(2r)
    half = lambda params, problem: SS.FixedEnvelopeSign(params, problem.envelope, problem.lr, problem.seed, 0.5)  # noqa: E731
    assert not run_check("stochastic_sign.expectation", subject=half).passed
    assert not run_check("stochastic_sign.variance", subject=half).passed
    assert run_check("stochastic_sign.saturation_bias", subject=half).passed  # it saturates like the real one


def test_variance_has_its_own_statistic():
    # a mean shift leaves the variance: only the expectation check fails
    shifted = _estimator(lambda g, G, gen: _sign(g, G, gen) + 0.05)
    assert not run_check("stochastic_sign.expectation", subject=shifted).passed
    assert run_check("stochastic_sign.variance", subject=shifted).passed
    # the right mean with no variance (x/G itself): only the variance (and saturation) checks fail
    exact = _estimator(lambda g, G, gen: g / G)
    assert run_check("stochastic_sign.expectation", subject=exact).passed
    assert not run_check("stochastic_sign.variance", subject=exact).passed
    assert not run_check("stochastic_sign.saturation_bias", subject=exact).passed


def test_saturation_is_two_sided_and_trivial_for_a_running_max_envelope():
    # an estimator saturated the wrong way (E S = −sign r: |E S − r| = |r| + 1) fails
    flipped = _estimator(lambda g, G, gen: -_sign(g, G, gen))
    assert not run_check("stochastic_sign.saturation_bias", subject=flipped).passed
    # StoSignSGD raises its envelope to |g₂| and steps sign(g₂): E S = sign(r) exactly, z = 0
    out = run_check("stochastic_sign.saturation_bias", subject=SS.stosign_step)
    assert out.passed and out.measured == 0.0


@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")
def test_a_subject_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="must be a factory"):
        SS.expectation(CheckContext(subject=StochasticSign))
    with pytest.raises(ValueError, match="must return a torch.optim.Optimizer"):
        SS.variance(CheckContext(subject=lambda params, problem: StochasticSign(problem.envelope)))
