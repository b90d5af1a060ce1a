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


# ---- projected SGD against StoSignSGD under heterogeneous L (stosignsgd.projected_sgd_heterogeneous) ----

import numpy as np  # noqa: E402

from convexlab.theory import claims  # noqa: E402


def test_the_direct_driver_is_the_registry_through_the_simulator_bit_for_bit():
    p = dim.HeterogeneousAbs(dim.decaying_L(12), q=0.5, seed=3)
    for arm, method, step in (("sto_theory", "sto", None), ("sto_tuned", "sto", 0.02),
                              ("psgd_theory", "psgd", None), ("psgd_tuned", "psgd", 0.05)):
        ref = dim.final_gap(p, arm, 150, 3, seed=7, step=step)
        assert np.array_equal(dim.run_box(p, method, [step] * 3, 150, seed=7), ref), arm
    # rows with different rules in one batch: each row is its own run (a row's rule changes only that row)
    mixed = dim.run_box(p, "psgd", [None, 0.05, None], 150, seed=7)
    assert np.array_equal(mixed[[0, 2]], dim.final_gap(p, "psgd_theory", 150, 3, seed=7)[[0, 2]])


def test_heterogeneous_abs_oracle_is_bounded_and_unbiased():
    L = torch.tensor([4.0, 1.0, 0.25], dtype=torch.float64)
    p = dim.HeterogeneousAbs(L, q=0.5, radius=2.0, seed=1)
    assert p.f_star == 0.0 and float(p.f(p.x_star[None])[0]) == 0.0
    assert torch.equal(p.c.abs(), torch.full((3,), 1.0, dtype=torch.float64)) and torch.equal(p.start_point(), torch.zeros(3, dtype=torch.float64))
    x = torch.zeros(20000, 3, dtype=torch.float64)
    g = p.oracle(x, torch.Generator().manual_seed(0))
    assert torch.equal(g.abs(), L.expand_as(g))  # every draw is ±L_i: |g̃_i| ≤ L_i, attained
    exact = p.subgradient(x[:1])[0]
    assert torch.equal(exact, 0.5 * L * torch.where(p.c < 0, 1.0, -1.0).to(torch.float64))
    # mean within 5 standard errors of the subgradient (each coordinate: a ±L_i coin of bias q = 0.5)
    se = L * math.sqrt(1 - 0.25) / math.sqrt(20000)
    assert ((g.mean(0) - exact).abs() < 5 * se).all()
    assert float(p.f(torch.zeros(1, 3, dtype=torch.float64))[0]) == pytest.approx(0.5 * float(L.sum()) * 1.0)


def test_decaying_L_kappa_and_the_bounds():
    assert dim.kappa(torch.ones(64)) == pytest.approx(1.0)
    assert dim.kappa(torch.tensor([1.0] + [0.0] * 63)) == pytest.approx(8.0)  # one large coordinate: √d
    L = dim.decaying_L(2048)
    assert L[0] == 1.0 and L[-1] == pytest.approx(1 / 2048) and dim.kappa(L) == pytest.approx(7.075, abs=1e-3)
    assert dim.kappa(dim.decaying_L(8)) < dim.kappa(dim.decaying_L(32)) < dim.kappa(L)
    p = dim.HeterogeneousAbs(L)
    sto, psgd = dim.theory_bounds(p, 100)
    assert sto == pytest.approx(math.sqrt(2) * 2 * float(L.sum()) / 10)
    assert psgd == pytest.approx(1.5 * math.sqrt(2048) * 2 * float(L.norm()) / 10)
    assert psgd / sto == pytest.approx(1.5 / math.sqrt(2) * dim.kappa(L))


def test_box_psgd_steps():
    x = torch.nn.Parameter(torch.zeros(2, 2, dtype=torch.float64))
    opt = dim.BoxPSGD([x], -1.0, 1.0, diameter=4.0, G=2.0)
    g = torch.tensor([[0.1, -0.2], [5.0, 0.0]], dtype=torch.float64)
    x.grad = g.clone()
    opt.step()
    assert torch.equal(x.detach(), torch.tensor([[-0.2, 0.4], [-1.0, 0.0]], dtype=torch.float64))  # η₁ = 2, clipped
    x.grad = g.clone()
    opt.step()  # η₂ = 2/√2
    assert x.detach()[0].tolist() == pytest.approx([-0.2 - math.sqrt(2) * 0.1, 0.4 + math.sqrt(2) * 0.2])
    y = torch.nn.Parameter(torch.zeros(1, 2, dtype=torch.float64))
    c = dim.BoxPSGD([y], -1.0, 1.0, lr=0.5)
    for _ in range(3):
        y.grad = torch.tensor([[1.0, -1.0]], dtype=torch.float64)
        c.step()
    assert y.detach().tolist() == [[-1.0, 1.0]]  # 3 × 0.5 = 1.5, clipped to the box


def _het_result(sto, psgd, kappas=(1.5, 3.0, 6.0)):
    """A sweep-shaped result: per-d, per-run gaps; the tuned arms equal the theory arms."""
    sto, psgd = np.asarray(sto, dtype=float), np.asarray(psgd, dtype=float)
    out = dict(dims=np.array([8.0, 64.0, 512.0]), kappa=np.array(kappas), seeds=sto.shape[1], T=10, tune_seeds=1,
               steps=np.array([0.1]), decay=1.0, q=0.5, arms=dim.ARMS)
    for arm, g in (("sto_theory", sto), ("sto_tuned", sto), ("psgd_theory", psgd), ("psgd_tuned", psgd)):
        out[arm] = dict(gaps=g, mean=g.mean(1), se=g.std(1, ddof=1) / math.sqrt(g.shape[1]), edge=[])
    return out


def test_log_ratio_slope_against_kappa():
    sto = np.array([[1.0, 2.0, 0.5]] * 3)
    r = dim.log_ratio(_het_result(sto, sto * np.array([1.5, 3.0, 6.0])[:, None] ** 0.7), "psgd_theory", "sto_theory")
    assert r["slope"] == pytest.approx(0.7) and r["slope_se"] == pytest.approx(0.0, abs=1e-12)
    assert r["mean"] == pytest.approx(0.7 * np.log([1.5, 3.0, 6.0]))
    with pytest.raises(ValueError, match="arm"):
        dim.log_ratio({"arms": (), "sto_theory": {}}, "psgd_theory", "sto_theory")


_LOGK = np.log([1.5, 3.0, 6.0])[:, None]


@pytest.mark.parametrize("r, expected", [
    # r = log(PSGD gap / StoSignSGD gap) per (d, run): StoSignSGD better, more so as κ grows
    (0.1 + 0.8 * _LOGK + 0.01 * np.array([[1, -1, 2, 0]] * 3), "supported"),
    # projected SGD better at the largest d
    (0.5 - 0.8 * _LOGK + 0.01 * np.array([[1, -1, 2, 0]] * 3), "not supported"),
    # better at the largest d (r = 0.4 in every run) but the per-run slopes disagree: growth not resolved
    (0.4 + np.array([[1.0, -1.0, 0.5, -0.5]]) * (_LOGK - _LOGK[-1]), "inconclusive"),
])
def test_the_heterogeneous_verdict_rule(r, expected):
    sto = np.full((3, 4), 0.1)
    psgd = sto * np.exp(r)
    status, numbers, crit = dim.heterogeneous_verdict(_het_result(sto, psgd))
    assert status == expected and "psgd_theory/sto_theory" in numbers and "mean − 3se > 0" in crit
    reduced = dim.heterogeneous_verdict(_het_result(sto, psgd), reduced=True)
    assert reduced[0] == "inconclusive" and reduced[1].startswith(f"reduced-size runs (the criterion alone gives {expected!r})")


def test_heterogeneous_sweep_shapes_and_the_tuned_pick():
    s = dim.heterogeneous_sweep((4, 16), T=60, seeds=2, tune_seeds=1, steps=(0.01, 0.1, 1.0))
    assert list(s["dims"]) == [4.0, 16.0] and s["kappa"].shape == (2,) and s["bounds"].shape == (2, 2)
    for arm in dim.ARMS:
        assert s[arm]["gaps"].shape == (2, 2) and (s[arm]["gaps"] >= 0).all()
    for m in dim.METHODS:
        t = s[f"{m}_tuned"]
        assert t["tune"].shape == (2, 3)
        assert t["step"].tolist() == [(0.01, 0.1, 1.0)[int(np.argmin(row))] for row in t["tune"]]
    assert "T = 60 steps" in dim.scale_text(s) and "d ∈ {4, 16}" in dim.scale_text(s)


def test_stosignsgd_beats_projected_sgd_theory_steps_at_a_heterogeneous_d():
    # the effect at a small size: d = 256, L_i = 1/i (κ ≈ 3.5), T = 400; the gaps differ by a factor of ≈ 5
    p = dim.HeterogeneousAbs(dim.decaying_L(256))
    sto = dim.run_box(p, "sto", [None] * 3, 400, seed=1)
    psgd = dim.run_box(p, "psgd", [None] * 3, 400, seed=1)
    assert sto.max() < psgd.min()


@pytest.mark.parametrize("kwargs, name", [
    (dict(dims=(8,)), "dims"), (dict(dims=(0, 2)), "dims"), (dict(T=0), "T"), (dict(seeds=1), "seeds"),
    (dict(tune_seeds=0), "tune_seeds"), (dict(steps=()), "steps"), (dict(steps=(0.1, -1.0)), "steps"),
    (dict(decay=-1.0), "decay"), (dict(q=0.0), "q"),
])
def test_heterogeneous_sweep_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        dim.heterogeneous_sweep(**{"dims": (2, 4), "T": 2, "seeds": 2, "tune_seeds": 1, "steps": (0.1,), **kwargs})


def test_heterogeneous_parts_reject_bad_arguments():
    p = dim.HeterogeneousAbs([1.0, 0.5])
    for kwargs, name in ((dict(method="adam"), "method"), (dict(T=0), "T"), (dict(steps=[]), "steps"),
                         (dict(steps=[0.0]), "steps")):
        with pytest.raises(ValueError, match=name):
            dim.run_box(**{"problem": p, "method": "sto", "steps": [None], "T": 2, **kwargs})
    for L, name in (([1.0, -1.0], "L"), ([], "L"), ([[1.0]], "L")):
        with pytest.raises(ValueError, match=name):
            dim.HeterogeneousAbs(L)
    with pytest.raises(ValueError, match="q"):
        dim.HeterogeneousAbs([1.0], q=1.5)
    with pytest.raises(ValueError, match="radius"):
        dim.HeterogeneousAbs([1.0], radius=0.0)
    with pytest.raises(ValueError, match="arm"):
        dim.arm_factory(p, "adamw")
    with pytest.raises(ValueError, match="step"):
        dim.arm_factory(p, "psgd_tuned")
    with pytest.raises(ValueError, match="decay"):
        dim.decaying_L(4, decay=math.inf)
    w = torch.nn.Parameter(torch.zeros(1, 2))
    for kw, name in ((dict(), "lr"), (dict(lr=0.1, diameter=1.0, G=1.0), "lr"), (dict(lr=-1.0), "lr"),
                     (dict(diameter=0.0, G=1.0), "diameter"), (dict(diameter=1.0, G=math.nan), "G"),
                     (dict(lr=0.1, scale=0.0), "scale")):
        with pytest.raises(ValueError, match=name):
            dim.BoxPSGD([w], -1.0, 1.0, **kw)
    with pytest.raises(ValueError, match="low"):
        dim.BoxPSGD([w], 1.0, 1.0, lr=0.1)


def test_the_ledger_rows_name_notebook_15():
    rows = {c.id: c for c in claims.CLAIMS}
    assert rows["stosignsgd.projected_sgd_heterogeneous"].notebooks == ("15",)
    assert rows["stosignsgd.dimension_factor"].notebooks == ("15",)
