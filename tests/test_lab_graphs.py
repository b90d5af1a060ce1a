"""The node-prediction sweep (notebook 17): the SBM generator, the GCN, the routing of the Muon family, the lr
picked on validation, the ranks, the verdict rule, bad input."""

import math

import numpy as np
import pytest
import torch

from convexlab.lab import graphs as G
from convexlab.optim import MatrixAndAdamW, NonFiniteGradientError
from convexlab.theory import claims

SMALL = dict(nodes=60, classes=3, degree=4.0, homophily=0.9, noise=0.5, features=4)


def test_the_generator_is_seeded_and_realizes_its_family():
    a, b, c = G.sbm_graph("noisy", 3), G.sbm_graph("noisy", 3), G.sbm_graph("noisy", 4)
    assert torch.equal(a["adj"], b["adj"]) and torch.equal(a["x"], b["x"]) and not torch.equal(a["adj"], c["adj"])
    for name, fam in G.FAMILIES.items():
        g = G.sbm_graph(name, 0)
        n = fam["nodes"]
        assert g["x"].shape == (n, fam["features"]) and g["classes"] == fam["classes"]
        assert torch.bincount(g["y"]).tolist() == [n // fam["classes"]] * fam["classes"]  # balanced (n divisible)
        # the realized homophily and mean degree are within a few standard errors of the family's
        se_h = math.sqrt(fam["homophily"] * (1 - fam["homophily"]) / g["edges"])
        assert abs(g["homophily"] - fam["homophily"]) < 4 * se_h + 0.01
        assert abs(2 * g["edges"] / n - fam["degree"]) < 0.15 * fam["degree"]
        # masks partition the nodes, 20 / 20 / 60 %
        m = g["train"].int() + g["val"].int() + g["test"].int()
        assert (m == 1).all() and int(g["train"].sum()) == int(0.2 * n) == int(g["val"].sum())
        # Â is symmetric with the self-loops normalised: Â = D^{-1/2}(A + I)D^{-1/2}
        adj = g["adj"]
        assert torch.allclose(adj, adj.T) and (torch.diagonal(adj) > 0).all()
        deg = (adj > 0).sum(1).float()
        assert torch.allclose(torch.diagonal(adj), 1 / deg)
        assert torch.allclose(g["ax"], adj @ g["x"])


def test_the_gcn_propagates_over_the_graph():
    g = G.sbm_graph(SMALL, 0)
    torch.manual_seed(0)
    net = G.GCN(4, 3).eval()
    out = net(g["ax"], g["adj"])
    assert out.shape == (60, 3) and G.n_params(4, 3) == sum(p.numel() for p in net.parameters())
    # a node's logits depend on its neighbours: zero one neighbour's features and its logits change
    i = int(torch.nonzero(g["adj"][0] > 0)[1])  # a neighbour of node 0 other than itself
    x = g["x"].clone()
    x[i] = 0
    out2 = net(g["adj"] @ x, g["adj"])
    far = [j for j in range(60) if float((g["adj"] @ g["adj"])[0, j]) == 0]
    assert not torch.allclose(out[0], out2[0]) and torch.allclose(out[far[0]], out2[far[0]])


def test_training_beats_chance_on_an_easy_graph():
    g = G.sbm_graph(SMALL, 0)
    val, test = G.train_once("AdamW", 1e-2, g, 0, 80)
    assert val > 0.8 and test > 0.8


def test_a_diverged_run_scores_zero(monkeypatch):
    """A non-finite loss (Signum at lr 1e30) and a non-finite gradient reported by the optimizer both end the
    run with accuracy 0 on both masks."""
    g = G.sbm_graph(SMALL, 0)
    assert G.train_once("Signum", 1e30, g, 0, 6) == (0.0, 0.0)

    class Raises:
        def zero_grad(self, set_to_none=True):
            pass

        def step(self):
            raise NonFiniteGradientError("non-finite gradient")

    monkeypatch.setattr(G, "_optimizer", lambda *a: Raises())
    assert G.train_once("AdamW", 1e-2, g, 0, 3) == (0.0, 0.0)


def test_the_muon_family_steps_the_two_weight_matrices_and_adamw_the_biases():
    net = G.GCN(4, 3)
    opt = G._optimizer("SoftMuon", net, 0.02, 10)
    assert isinstance(opt, MatrixAndAdamW)
    assert {id(p) for g in opt.matrix.param_groups for p in g["params"]} == {id(net.lin1.weight), id(net.lin2.weight)}
    assert {id(p) for g in opt.adamw.param_groups for p in g["params"]} == {id(net.lin1.bias), id(net.lin2.bias)}
    mg = opt.matrix.param_groups[0]
    assert (mg["sign_iters"], mg["transition_iters"], opt.adamw.param_groups[0]["lr"]) == (5, 5, G.AUX_LR)
    assert not isinstance(G._optimizer("SoftSignum", net, 1e-3, 10), MatrixAndAdamW)


def _tiny(**kw):
    args = dict(families=(SMALL, "heterophilous"), optimizers=("SoftMuon", "AdamW", "Signum"), seeds=2, steps=6,
                lr_grids={"SoftMuon": (0.01, 0.03), "AdamW": (1e-2,), "Signum": (1e-3, 3e-3)})
    args.update(kw)
    return G.sweep(**args)


def test_sweep_shapes_lr_pick_ranks_and_intervals():
    threads = torch.get_num_threads()
    r = _tiny()
    assert torch.get_num_threads() == threads
    assert r["val"].shape == r["test"].shape == (3, 2, 2, 2) and r["families"] == ("family0", "heterophilous")
    assert np.isnan(r["val"][1, :, 1]).all()
    for i, name in enumerate(r["optimizers"]):
        for j in range(2):
            a = r["best"][i, j]
            assert a == np.nanargmax(r["val"][i, j].mean(axis=1)) and r["lr"][i][j] == r["lr_grids"][name][a]
            x = r["test"][i, j, a]
            assert r["test_at_best"][i, j].tolist() == x.tolist()
            assert r["se"][i, j] == pytest.approx(x.std(ddof=1) / math.sqrt(2))
    assert r["ranks"].shape == (3, 2) and np.allclose(r["ranks"].sum(axis=0), 6)
    assert all(not e.startswith("AdamW") for e in r["edge"])
    assert "SBM" in G.scale_text(r) and "GCN" in G.scale_text(r) and "1–2-point lr grids" in G.scale_text(r)


def test_the_pick_follows_validation_even_against_test(monkeypatch):
    def fake(name, lr, graph, seed, steps, hidden):
        return (0.9 if lr == 0.2 else 0.5) + 0.01 * seed, (0.3 if lr == 0.2 else 0.8) + 0.01 * seed
    monkeypatch.setattr(G, "train_once", fake)
    r = G.sweep((SMALL,), optimizers=("Muon", "AdamW"), seeds=3, steps=2,
                lr_grids={"Muon": (0.1, 0.2, 0.4), "AdamW": (0.2, 0.1)})
    assert r["lr"] == [[0.2], [0.2]] and r["mean"] == pytest.approx(np.full((2, 1), 0.31))
    assert r["edge"] == ["AdamW family0"]


def test_average_ranks_share_ties_and_average_over_families():
    t = np.array([[[0.9, 0.5], [0.7, 0.7]],      # optimizer 0: [family][seed]
                  [[0.8, 0.5], [0.9, 0.6]],      # optimizer 1
                  [[0.7, 0.4], [0.8, 0.7]]])     # optimizer 2
    r = G.average_ranks(t)
    # seed 0: family 0 ranks 1, 2, 3; family 1 ranks 3, 1, 2 → 2, 1.5, 2.5
    # seed 1: family 0 ranks 1.5, 1.5, 3; family 1 ranks 1.5, 3, 1.5 → 1.5, 2.25, 2.25
    assert r.tolist() == [[2.0, 1.5], [1.5, 2.25], [2.5, 2.25]]


def _result(acc):
    """A sweep-shaped result from test accuracies [optimizer][family][seed] of SoftMuon, Muon, AdamW."""
    t = np.array(acc, dtype=float)
    return dict(families=tuple(f"f{j}" for j in range(t.shape[1])), optimizers=("SoftMuon", "Muon", "AdamW"),
                seeds=t.shape[2], test_at_best=t, mean=t.mean(2), se=t.std(2, ddof=1) / math.sqrt(t.shape[2]),
                edge=[])


BEST = [[0.9, 0.9, 0.9], [0.9, 0.9, 0.9]]
MID = [[0.8, 0.8, 0.8], [0.8, 0.8, 0.8]]
LOW = [[0.7, 0.7, 0.7], [0.7, 0.7, 0.7]]


@pytest.mark.parametrize("acc, expected", [
    ([BEST, MID, LOW], "supported"),                       # SoftMuon first everywhere
    ([MID, BEST, LOW], "not supported"),                   # Muon first everywhere
    ([BEST, [[0.95, 0.8, 0.95], [0.8, 0.95, 0.8]], LOW], "inconclusive"),  # Muon ahead on some (family, seed)
])
def test_the_verdict_rule(acc, expected):
    status, numbers, crit = G.node_verdict(_result(acc))
    assert status == expected and "rank(o) − rank(SoftMuon)" in numbers and "mean(Δ) − 3se > 0" in crit
    reduced = G.node_verdict(_result(acc), reduced=True)
    assert reduced[0] == "inconclusive"
    assert reduced[1].startswith(f"reduced-size runs (the criterion alone gives {expected!r})")


def test_the_verdict_needs_three_seeds():
    two = _result([[[0.9, 0.9]], [[0.8, 0.8]], [[0.7, 0.7]]])
    assert G.node_verdict(two)[0] == "inconclusive"


def test_the_ledger_row_names_notebook_17_and_states_what_settles_it():
    row = {c.id: c for c in claims.CLAIMS}["softsign.node_prediction"]
    assert row.notebooks == ("17",) and row.provenance and row.settle and not row.pending


@pytest.mark.parametrize("kw, match", [
    (dict(families=()), "families"), (dict(families=("grid",)), "families"),
    (dict(families=(dict(SMALL, homophily=1.5),)), "homophily"), (dict(families=(dict(SMALL, nodes=5),)), "nodes"),
    (dict(families=(dict(SMALL, classes=1),)), "classes"), (dict(families=(dict(SMALL, degree=50.0),)), "degree"),
    (dict(families=(dict(SMALL, noise=-1.0),)), "noise"), (dict(families=({"nodes": 10},)), "families"),
    (dict(optimizers=()), "optimizers"), (dict(optimizers=("Lion",)), "optimizers"),
    (dict(seeds=1), "seeds"), (dict(steps=1), "steps"), (dict(graph_seed=-1), "graph_seed"),
    (dict(hidden=0), "hidden"), (dict(lr_grids={"SoftMuon": (0.01,)}), "lr_grids"),
    (dict(lr_grids={"SoftMuon": (0.0,), "AdamW": (1.0,), "Signum": (1.0,)}), "lr"),
])
def test_bad_input_raises_value_error_naming_it(kw, match):
    with pytest.raises(ValueError, match=match):
        _tiny(**kw)


@pytest.mark.parametrize("call, match", [
    (lambda: G.sbm_graph("grid"), "family"), (lambda: G.sbm_graph(SMALL, -1), "graph_seed"),
    (lambda: G.train_once("Lion", 1e-3, G.sbm_graph(SMALL), 0, 2), "name"),
    (lambda: G.train_once("AdamW", -1.0, G.sbm_graph(SMALL), 0, 2), "lr"),
    (lambda: G.average_ranks(np.zeros((2, 3))), "test_at_best"),
    (lambda: G.node_verdict(_result([BEST, MID, LOW]), name="Signum"), "name"),
    (lambda: G.GCN(4, 1), "classes"), (lambda: G.GCN(4, 3, dropout=1.0), "dropout"),
])
def test_bad_arguments_of_the_helpers(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_doctests():
    import doctest

    result = doctest.testmod(G)
    assert result.attempted >= 2 and result.failed == 0
