"""The identity checks certify the multi-tensor path the optimizers call (step_directions /
add_direction_), and fail when that path departs from the certified map."""

import pytest
import torch

from convexlab.geometry import Euclidean, Sign, SoftSign, Spectral, StochasticSign
from convexlab.theory import identities as I
from convexlab.theory.registry import CheckContext, run_check

CTX = CheckContext(seed=0)


def test_every_deterministic_standard_geometry_has_a_passing_step_path_check():
    labels = [k for k, g in I.standard_geometries().items() if not g.stochastic]
    for label in labels:
        res = run_check(f"geometry.step_path[{label}]", CTX)
        assert res.passed, (label, res)
    assert run_check("geometry.step_path.sample[StochasticSign.mean]", CTX).passed


class ScratchCorruptingSign(Sign):
    def add_direction_(self, xs, ms, alpha, *, scales=None, generator=None, scratch=False):
        if scratch:  # wrong only on the scratch path: adds sign(m) twice
            torch._foreach_add_(xs, torch._foreach_sign(ms), alpha=2 * alpha)
        else:
            super().add_direction_(xs, ms, alpha, scales=scales, generator=generator)


class HalfSign(Sign):
    def step_directions(self, ms, *, scales=None, generator=None):
        return [0.5 * d for d in super().step_directions(ms)]


class ScaleIgnoringEuclidean(Euclidean):
    def add_direction_(self, xs, ms, alpha, *, scales=None, generator=None, scratch=False):
        torch._foreach_add_(xs, ms, alpha=alpha)  # forgets the metric σ


class ColdSoftSign(SoftSign):
    def step_directions(self, ms, *, scales=None, generator=None):
        return [torch.tanh(0.5 * self.tau * m) for m in ms]


class TransposedSpectral(Spectral):
    def step_directions(self, ms, *, scales=None, generator=None):
        return [0.9 * Spectral(Sign()).direction(m) for m in ms]  # a polar factor shrunk by 10 %


class BiasedStochasticSign(StochasticSign):
    def step_directions(self, ms, *, scales=None, generator=None):
        # noise on a narrower range: the structural noise is no longer uniform on [−G, G]
        return super().step_directions(ms, scales=[0.5 * s for s in scales], generator=generator)


@pytest.mark.parametrize("geo", [HalfSign(), ScratchCorruptingSign(), ScaleIgnoringEuclidean(), ColdSoftSign(3.0), TransposedSpectral(Sign())],
                         ids=lambda g: type(g).__name__)
def test_step_path_check_fails_on_a_path_that_departs_from_the_map(geo):
    # where ``direction`` itself runs the multi-tensor path, the departure reaches the certified map
    # and Fenchel–Young catches it; otherwise the step-path check does
    caught = not I.step_path_equals_direction(geo, CTX).passed or not I.fenchel_young_equality(geo, CTX).passed
    assert caught
    assert I.step_path_equals_direction(type(geo).__mro__[1](*_args(geo)), CTX).passed


def _args(geo):
    if isinstance(geo, Spectral):
        return (geo.g,)
    if isinstance(geo, SoftSign):
        return (geo.tau, geo.kind)
    return ()


def test_sample_check_fails_on_a_biased_draw():
    geo = BiasedStochasticSign(I._envelope())
    assert not I.step_path_sample_is_unbiased(geo, CTX).passed
    assert I.step_path_sample_is_unbiased(StochasticSign(I._envelope()), CTX).passed
