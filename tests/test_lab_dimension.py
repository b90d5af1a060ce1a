"""convexlab.lab.dimension (notebook 15): the Euclidean O2NC learner stays in its ℓ2 ball and takes the stated
step, both learners run through the O2NC driver, the sweep's shapes, the geometry effect at a small size, and
bad arguments."""

import math

import pytest
import torch

from convexlab.lab import dimension as dim
from convexlab.problems.noise import Gaussian
from convexlab.problems.nonconvex import SumAbsSin
from convexlab.sim.o2nc import o2nc


def test_ball_ogd_step_and_projection():
    # inside the ball the step is plain OGD with η_n = c·√2·R/(G√n), n counting from 1 and restarting with the state
    R, G, c = 2.0, 4.0, 0.5
    p = torch.nn.Parameter(torch.zeros(2, 3, dtype=torch.float64))
    opt = dim.BallOGD([p], radius=R, G=G, scale=c)
    g = torch.tensor([[0.1, -0.2, 0.3], [0.0, 0.1, 0.0]], dtype=torch.float64)
    p.grad = g.clone()
    opt.step()
    assert torch.allclose(p.detach(), -c * math.sqrt(2) * R / G * g, rtol=0, atol=1e-15)
    p.grad = g.clone()
    opt.step()
    eta2 = c * math.sqrt(2) * R / (G * math.sqrt(2))
    assert torch.allclose(p.detach(), -(c * math.sqrt(2) * R / G + eta2) * g, rtol=0, atol=1e-15)
    opt.state.clear()
    p.data.zero_()
    p.grad = g.clone()
    opt.step()
    assert torch.allclose(p.detach(), -c * math.sqrt(2) * R / G * g, rtol=0, atol=1e-15)
    # a long step lands on the sphere, row by row, in the gradient's direction; a short row is left alone
    p.data.zero_()
    opt.state.clear()
    p.grad = torch.tensor([[1e6, -1e6, 0.0], [1e-3, 0.0, 0.0]], dtype=torch.float64)
    opt.step()
    norms = p.detach().norm(dim=-1)
    assert norms[0].item() == pytest.approx(R, rel=1e-14) and norms[1].item() < R
    assert torch.allclose(p.detach()[0] / R, torch.tensor([-1.0, 1.0, 0.0], dtype=torch.float64) / math.sqrt(2))


def test_euclidean_learner_stays_in_its_ball_in_the_driver():
    problem = dim.dense_problem(6)
    for ball, radius_factor in (("inscribed", 1.0), ("circumscribed", math.sqrt(6))):
        built = []

        def factory(params, inst, ball=ball):
            opt = dim.euclidean_learner(64.0, ball)(params, inst)  # a large step: the projection is active
            built.append(opt)
            return opt

        D = 0.01
        res = o2nc(problem, 20, 3, D, 4, seed=1, learner=factory)
        R = built[0].param_groups[0]["radius"]
        assert R == pytest.approx(radius_factor * D, rel=1e-14)
        assert built[0].param_groups[0]["G"] == pytest.approx(math.sqrt(6))
        delta = built[0].param_groups[0]["params"][0].detach()
        assert float(delta.norm(dim=-1).max()) <= R * (1 + 1e-12)
        assert float(delta.norm(dim=-1).min()) == pytest.approx(R, rel=1e-9)  # on the sphere: the ball binds
        play, bound = dim.max_play(res, "euclidean", ball)
        assert bound == pytest.approx(R) and play <= bound * (1 + 1e-12)


def test_stosign_learner_stays_in_its_box_and_registry_matches_direct():
    problem = dim.dense_problem(5)
    a = dim.run_learner(problem, "stosign", 4.0, 30, 2, 0.02, 3, seed=3)
    b = dim.run_learner(problem, "stosign", 4.0, 30, 2, 0.02, 3, seed=3, registry=True)
    assert a.meta["learner"] == "direct" and b.meta["learner"] == "registry"
    assert torch.equal(a.block_grads, b.block_grads)
    play, bound = dim.max_play(a, "stosign")
    assert bound == 0.02 and play == pytest.approx(0.02)  # a large step multiplier reaches the box's face


def test_sweep_shapes_and_both_learners():
    s = dim.dimension_sweep((2, 3), seeds=2, tune_seeds=1, scales=(0.5, 2.0), N=6, K=2, D=0.01)
    assert list(s["dims"]) == [2.0, 3.0] and (s["N"], s["K"], s["D"]) == (6, 2, 0.01)
    for name in dim.LEARNERS:
        r = s[name]
        assert r["tune"].shape == (2, 2) and r["runs"].shape == (2, 2) and r["mean"].shape == (2,)
        assert set(r["scale"].tolist()) <= {0.5, 2.0}
        assert (r["runs"] > 0).all() and (r["runs"] <= s["dims"][:, None]).all()  # ‖∇f‖₁ ≤ ‖L‖₁ = d
        assert (r["max_play"] <= r["play_bound"]).all() and r["slope_runs"].shape == (2,)
    gap, se = dim.slope_gap(s)
    assert math.isfinite(gap) and se >= 0


def test_matched_parameters_do_not_depend_on_d():
    from convexlab.sim.o2nc import o2nc_parameters

    p = dim.matched_parameters()
    assert (p.N, p.K) == (188, 6)
    for d in (2, 128):
        q = o2nc_parameters(d, d / 0.25, d, d * math.sin(0.2))
        assert (q.N, q.K) == (p.N, p.K) and q.D == pytest.approx(p.D, rel=1e-12)


def test_the_matched_ball_pays_the_dimension_factor_and_the_control_does_not():
    # notebook 15's finding at a small size: from d = 2 to 32 the Euclidean learner on the ball R = D∞ loses
    # ground (the measure per coordinate grows), StoSignSGD's stays flat; on the ball around the box it does not
    ins = dim.dimension_sweep((2, 32), seeds=2, tune_seeds=1, scales=(1.0,))
    assert dim.slope_gap(ins)[0] > 0.1
    ctl = dim.dimension_sweep((2, 32), seeds=2, tune_seeds=1, scales=(1.0,), ball="circumscribed",
                              learners=("euclidean",))
    assert abs(ctl["euclidean"]["slope_mean"] - ins["stosign"]["slope_mean"]) < 0.05


@pytest.mark.parametrize("kwargs, name", [
    (dict(dims=(8,)), "dims"), (dict(dims=(0, 2)), "dims"), (dict(seeds=1), "seeds"), (dict(tune_seeds=0), "tune_seeds"),
    (dict(scales=()), "scales"), (dict(scales=(1.0, -2.0)), "scales"), (dict(ball="cube"), "ball"),
    (dict(learners=("adam",)), "learners"), (dict(learners=()), "learners"), (dict(N=0), "N"), (dict(D=0.0), "D"),
    (dict(eps_fraction=0.0), "eps_fraction"), (dict(start=2.0), "start"),
])
def test_sweep_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        dim.dimension_sweep(**{"dims": (2, 4), "seeds": 2, "tune_seeds": 1, "scales": (1.0,), "N": 2, "K": 1, **kwargs})


def test_learners_reject_bad_arguments():
    p = torch.nn.Parameter(torch.zeros(1, 2))
    for kwargs, name in ((dict(radius=0.0, G=1.0), "radius"), (dict(radius=1.0, G=math.inf), "G"),
                         (dict(radius=1.0, G=1.0, scale=-1.0), "scale")):
        with pytest.raises(ValueError, match=name):
            dim.BallOGD([p], **kwargs)
    with pytest.raises(ValueError, match="ball"):
        dim.euclidean_learner(1.0, "square")
    with pytest.raises(ValueError, match="learner"):
        dim.run_learner(dim.dense_problem(2), "sgd", 1.0, 2, 1, 0.1, 2)
    with pytest.raises(ValueError, match="start"):
        dim.dense_problem(3, start=0.0)
    # an unbounded oracle has no finite L: the Euclidean learner has no G
    unbounded = SumAbsSin([1.0, 1.0], noise=Gaussian(1.0))
    with pytest.raises(ValueError, match="oracle bound L"):
        o2nc(unbounded, 2, 1, 0.1, 2, learner=dim.euclidean_learner())
