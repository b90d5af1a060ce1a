"""The replaceable subject, the panel declarations and the detection matrix (``convexlab check --power``)."""

import math

import pytest
import torch

from convexlab.cli import main
from convexlab.problems import TwoDimensionalAbs
from convexlab.sim import simulate
from convexlab.theory import REGISTRY, CheckContext, Instance, mutants, run_check, select
from convexlab.theory import power as P
from convexlab.theory.registry import Check, upper_result

SUBJECT_CHECKS = sorted(c.name for c in select() if c.subject is not None)


# -- the registry's declarations ---------------------------------------------------------------
def test_theorem_checks_have_subjects():
    """Every family whose statements are about an algorithm runs it through the subject argument."""
    families = {n.split(".")[0] for n in SUBJECT_CHECKS}
    assert {"stosignsgd", "softsign", "sf_normuon"} <= families


@pytest.mark.parametrize("name", SUBJECT_CHECKS)
def test_every_applicable_member_is_declared(name):
    c = REGISTRY[name]
    applicable = set(mutants.applicable(c))
    assert set(c.catches) <= applicable, f"declared catches that do not apply: {set(c.catches) - applicable}"
    assert set(c.blind) <= applicable, f"blind members that do not apply: {set(c.blind) - applicable}"
    assert applicable == set(c.catches) | set(c.blind), f"undeclared: {applicable - set(c.catches) - set(c.blind)}"
    assert all(isinstance(r, str) and len(r) > 10 for r in c.blind.values())
    assert all(isinstance(r, str) and len(r) > 10 for r in c.same_as_default.values())
    assert not set(c.same_as_default) & applicable
    assert c.default_subject is not None, "the default subject (the registry optimizer) must be recorded"
    assert c.subject in mutants.SUBJECT_KINDS


#: checks whose statement a learner at rest satisfies: each says why in its ``blind`` entry
FROZEN_SATISFIES = {
    "stosignsgd.o2nc_spread",  # a bound on the spread of the iterates around their block mean: 0 at rest
    "sf_normuon.hypothesis31_quasi_steady",  # a bound on the relative change of ρ_t: 0 for a constant ρ
}


@pytest.mark.parametrize("name", SUBJECT_CHECKS)
def test_every_theorem_check_must_catch_the_frozen_optimizer(name):
    c = REGISTRY[name]
    if name in FROZEN_SATISFIES:
        assert "frozen" in c.blind and c.blind["frozen"]
    else:
        assert "frozen" in c.catches, c.blind.get("frozen")


#: step-sensitive checks that miss a step × 5 (each says why in ``blind``; the README lists them)
STEP_X5_MISSED = {
    # the realized-comparator bound carries the ghost-iterate term 2D∞‖L‖₁√T: × 5 reaches 0.93 of it;
    # the pseudo-regret checks on the same game catch × 5
    "stosignsgd.theorem1_regret[adaptive]",
    # × 5 measures 1.05 of the bound at seed 0, inside the 3-stderr allowance (× 10 is caught)
    "stosignsgd.theorem4[hinge_svm]",
}


def test_step_sensitive_checks_catch_step_x5():
    for name in SUBJECT_CHECKS:
        c = REGISTRY[name]
        if c.step_sensitive:
            if name in STEP_X5_MISSED:
                assert "step_x5" in c.blind, name
            else:
                assert "step_x5" in c.catches, name


# -- run_check ---------------------------------------------------------------------------------
def test_run_check_by_name_returns_the_table_fields():
    o = run_check("proofs.huber_clip")
    assert o.passed and o.verdict == "pass"
    assert math.isfinite(o.measured) and math.isfinite(o.expected) and o.details is not None


@pytest.mark.parametrize("bad, match", [("no.such.check", "registered check"), (3, "registered name")])
def test_run_check_rejects_unknown_names(bad, match):
    with pytest.raises(ValueError, match=match):
        run_check(bad)


def test_run_check_rejects_a_subject_for_a_formula_check():
    with pytest.raises(ValueError, match="accepts no subject"):
        run_check("proofs.huber_clip", subject=mutants.frozen)


def test_run_check_rejects_a_non_callable_subject():
    with pytest.raises(ValueError, match="subject must be a callable"):
        run_check(TOY, subject="StoSignSGD")


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_run_check_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match="seed"):
        run_check("proofs.huber_clip", seed=seed)


def test_instance_reads_constants_then_the_problem():
    prob = TwoDimensionalAbs()
    inst = Instance(prob, horizon=100, seed=3)
    assert inst.horizon == 100 and inst.seed == 3 and inst.D_inf == prob.D_inf
    with pytest.raises(AttributeError, match="no constant"):
        Instance(None, a=1).b
    with pytest.raises(AttributeError, match="read-only"):
        inst.horizon = 5


# -- the panel -----------------------------------------------------------------------------------
def test_frozen_optimizer_never_moves():
    p = torch.nn.Parameter(torch.ones(3))
    opt = mutants.frozen([p], None)
    p.grad = torch.ones(3)
    opt.step()
    assert torch.equal(p.detach(), torch.ones(3))


def test_biased_gradients_adds_half_L():
    prob = TwoDimensionalAbs()
    seen = []

    class Spy(torch.optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, {})

        def step(self, closure=None):
            seen.append(self.param_groups[0]["params"][0].grad.clone())

    make = mutants.biased_gradients(lambda ps, pr: Spy(ps))
    p = torch.nn.Parameter(torch.zeros(2, 2, dtype=torch.float64))
    opt = make([p], prob)
    p.grad = torch.zeros(2, 2, dtype=torch.float64)
    opt.step()
    assert torch.allclose(seen[0], (0.5 * prob.L).expand(2, 2))


def test_stosign_members_differ_from_alg1_as_documented():
    prob = Instance(TwoDimensionalAbs(), seed=0, horizon=100, step="anytime")
    kinds = {n: mutants.PANEL[n].providers["stosignsgd"] for n in ("signsgd", "unprojected", "biased_noise")}
    # signSGD is the deterministic sign: two runs from different seeds coincide
    a, b = (torch.nn.Parameter(torch.zeros(2, dtype=torch.float64)) for _ in range(2))
    oa = kinds["signsgd"]([a], Instance(TwoDimensionalAbs(), seed=0))
    ob = kinds["signsgd"]([b], Instance(TwoDimensionalAbs(), seed=1))
    for _ in range(5):
        a.grad = torch.tensor([0.3, -0.2], dtype=torch.float64)
        b.grad = a.grad.clone()
        oa.step()
        ob.step()
    assert torch.equal(a.detach(), b.detach())
    # the unprojected learner leaves the box that the projected one keeps
    x = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    y = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    ox, oy = kinds["unprojected"]([x], prob), mutants.stosign_alg1([y], prob)
    for _ in range(200):
        x.grad = torch.tensor([1.0, 1.0], dtype=torch.float64)
        y.grad = x.grad.clone()
        ox.step()
        oy.step()
    low, high = prob.box
    assert bool((x.detach() < low).any()) and bool((y.detach() >= low).all())


def test_biased_noise_is_biased():
    """E sign(m + aG n) = m/(aG) ∧ 1 with a = 1/2: at m/G = 0.8 the mean is 1, not 0.8."""
    prob = Instance(TwoDimensionalAbs(), seed=0, horizon=10, step="anytime", box=(-1e9, 1e9))
    S = 20000
    x = torch.nn.Parameter(torch.zeros(S, 2, dtype=torch.float64))
    opt = mutants.PANEL["biased_noise"].providers["stosignsgd"]([x], prob)
    x.grad = torch.ones(S, 2, dtype=torch.float64)
    opt.step()  # sets the envelope G = 1
    before = x.detach().clone()
    x.grad = torch.full((S, 2), 0.8, dtype=torch.float64)
    opt.step()
    lr = prob.D_inf / math.sqrt(2 * 2)
    mean_dir = float(((before - x.detach()) / lr).mean())
    assert abs(mean_dir - 1.0) < 1e-9


# -- the detection matrix on a small check of our own ------------------------------------------
def _toy_check(ctx: CheckContext):
    """Theorem 4 on the 2-D problem, 2,000 steps, 8 seeds (a fast stand-in for the registry checks)."""
    prob = TwoDimensionalAbs()
    T = 2000
    make = ctx.subject_or(mutants.stosign_alg1)
    inst = Instance(prob, seed=ctx.seed, horizon=T, step="anytime")
    res = simulate(prob, lambda ps: make(ps, inst), T, 8, x0=torch.tensor([1.0, -1.0], dtype=torch.float64),
                   record=[T], seed=ctx.seed)
    mean, se = res.final("last" if res.meta["output_point"] == "last" else "avg")
    bound = math.sqrt(2) * prob.D_inf * float(prob.L.sum()) / math.sqrt(T) / 6  # a deliberately tight toy bound
    return upper_result(mean, bound, se)


TOY = Check("toy.theorem4", "test", "D", "upper", "toy", _toy_check, subject="stosignsgd",
            catches=("frozen", "step_x2", "biased_oracle"),
            blind={m: "a toy bound: not declared for the test" for m in
                   ("signsgd", "step_x5", "step_x10", "last_iterate", "biased_noise", "unprojected")},
            step_sensitive=True, default_subject=mutants.stosign_alg1)


def test_power_matrix_cache_and_outputs(tmp_path, monkeypatch):
    ctx = CheckContext()
    assert run_check(TOY, ctx).passed
    cache = tmp_path / "power.sqlite"
    report = P.run_power([TOY], ctx, cache=cache, progress=False)
    by = {c.member: c for c in report.cells}
    assert set(by) == set(mutants.applicable(TOY))
    assert all(by[m].status == "caught" for m in TOY.catches)
    assert report.step_scan["toy.theorem4"]["smallest"] == 2.0  # 1.25 and 1.5 pass, 2 is caught
    assert report.defects == [c for c in report.cells if c.declared == "catches" and c.status == "missed"]
    text = P.format_matrix(report)
    assert "toy.theorem4" in text and "applicable cells caught" in text
    # a second run reads every cell from the cache
    monkeypatch.setattr(P, "_run_cell", lambda *a, **k: (_ for _ in ()).throw(AssertionError("recomputed")))
    again = P.run_power([TOY], ctx, cache=cache, progress=False)
    assert [c.status for c in again.cells] == [c.status for c in report.cells]
    paths = P.write_power(tmp_path / "out", again)
    assert {p.rsplit("/", 1)[-1] for p in paths} == {"power.csv", "power_steps.csv", "power.txt", "power.png"}
    assert (tmp_path / "out" / "power.csv").read_text().startswith("check,member,status")


def test_power_cache_survives_a_damaged_row(tmp_path):
    cache = tmp_path / "c.sqlite"
    store = P.CellCache(cache)
    store.put("k", {"status": "caught"})
    store.con.execute("UPDATE cells SET value = 'not json' WHERE key = 'k'")
    store.con.commit()
    assert store.get("k") is None
    store.close()


def test_power_cache_rejects_a_file_that_is_not_sqlite(tmp_path):
    bad = tmp_path / "c.sqlite"
    bad.write_text("this is not a database " * 100)
    with pytest.raises(ValueError, match="cache must be a writable SQLite file"):
        P.CellCache(bad).get("k")


def test_cli_power_needs_a_subject_check(capsys):
    assert main(["check", "--power", "--only", "proofs.huber_clip", "--no-progress"]) == 2
    assert "judges an algorithm" in capsys.readouterr().err


def test_cli_power_checks_out_before_running(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["check", "--power", "--out", str(f), "--no-progress"]) == 2
    assert "must be a directory" in capsys.readouterr().err
