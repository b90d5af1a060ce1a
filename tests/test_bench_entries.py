"""Every registry optimizer has its benchmark entries (taxonomy placement, ``bench optim`` kwargs,
``bench compare`` settings), a missing entry is an error naming the optimizer, the benchmarks route
parameters with ``convexlab.optim.split_params`` and count optimizer state with one ``state_bytes``."""

import pytest
import torch
from torch import nn

from convexlab.bench import compare as C
from convexlab.bench import optim_speed as O
from convexlab.bench import taxonomy as T
from convexlab.optim import REGISTRY, MatrixAndAdamW, SignSGD, split_params

TABLES = {
    "convexlab.bench.taxonomy.TAXONOMY_PLACEMENT": T.TAXONOMY_PLACEMENT,
    "convexlab.bench.optim_speed.BENCH_KWARGS": O.BENCH_KWARGS,
    "convexlab.bench.compare.BENCH_SETTINGS": C.BENCH_SETTINGS,
}


@pytest.mark.parametrize("table", list(TABLES))
def test_every_registry_optimizer_has_an_entry_and_no_entry_is_stale(table):
    entries = TABLES[table]
    missing = [n for n in REGISTRY if n not in entries]
    assert not missing, f"registry optimizer(s) {missing} have no entry in {table}"
    stale = [n for n in entries if n not in REGISTRY]
    assert not stale, f"{table} has entries {stale} that are not registry optimizers"


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_entry_builds_its_optimizer(name):
    # bench optim: the class with its BENCH_KWARGS on the tiny shapes (matrix-only: the hidden matrices)
    params = O.build_parameters(O.SIZES["tiny"])
    assert isinstance(O.build_optimizer(name, params), REGISTRY[name])
    # bench compare: the class with its settings on a model with hidden matrices and a head
    module = nn.Sequential()
    module.add_module("fc", nn.Linear(3, 4))
    module.add_module("head", nn.Linear(4, 2))
    module.optimizer_ref = []
    opt = C.build_optimizer(name, module, 1e-3, budget=40, seed=0)
    assert isinstance(opt, MatrixAndAdamW if getattr(REGISTRY[name], "matrix_only", False) else REGISTRY[name])
    # every setting a registry optimizer names exists
    assert set(C.BENCH_SETTINGS[name]) <= set(C._SETTINGS), name


def test_an_optimizer_without_entries_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"'NewOptimizer'.*TAXONOMY_PLACEMENT"):
        T.placement_of("NewOptimizer")
    with pytest.raises(ValueError, match=r"'NewOptimizer' has no benchmark settings.*optim_speed.BENCH_KWARGS"):
        O.bench_kwargs("NewOptimizer")
    with pytest.raises(ValueError, match=r"'NewOptimizer' has no benchmark settings.*compare.BENCH_SETTINGS"):
        C.bench_kwargs("NewOptimizer", 40, 0)


def test_bench_optim_stops_in_one_line_for_a_registry_optimizer_without_kwargs(monkeypatch, capsys):
    class NewOptimizer(SignSGD):
        pass

    monkeypatch.setitem(REGISTRY, "NewOptimizer", NewOptimizer)
    with pytest.raises(SystemExit) as exc:
        O.main(["--size", "tiny", "--optimizers", "NewOptimizer", "--repeats", "1", "--warmup", "1"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "no benchmark settings for NewOptimizer" in err and "BENCH_KWARGS" in err


@pytest.mark.parametrize("table", ["BENCH_SETTINGS", "TAXONOMY_PLACEMENT"])
def test_bench_compare_stops_before_any_cell_for_a_registry_optimizer_without_entries(monkeypatch, tmp_path,
                                                                                      table):
    class NewOptimizer(SignSGD):
        pass

    monkeypatch.setitem(REGISTRY, "NewOptimizer", NewOptimizer)
    # the other table has the entry, so the error names the missing one
    other = T.TAXONOMY_PLACEMENT if table == "BENCH_SETTINGS" else C.BENCH_SETTINGS
    monkeypatch.setitem(other, "NewOptimizer", T.TAXONOMY_PLACEMENT["SignSGD"] if other is T.TAXONOMY_PLACEMENT
                        else ())
    cfg = C.BenchConfig.preset("quick", optimizers=("NewOptimizer",), problems=("logreg",))
    with pytest.raises(C.BenchConfigError, match=rf"no benchmark entry for NewOptimizer: .*{table}"):
        C.run_benchmark(cfg, tmp_path, progress=False, cache=False)
    assert not list(tmp_path.iterdir())  # nothing ran, nothing was written


def test_bench_kwargs_are_copies():
    kw = O.bench_kwargs("AdamW")
    kw["lr"] = 123.0
    assert O.BENCH_KWARGS["AdamW"]["lr"] != 123.0


def test_compare_settings_by_budget():
    assert C.bench_kwargs("AdamW", 40, 3) == {"weight_decay": 0.0}
    assert C.bench_kwargs("SoftSignum", 41, 3) == dict(weight_decay=0.0, momentum=0.9, dampening=0.9, sign_iters=20,
                                                       transition_iters=21)
    assert C.bench_kwargs("SoftMuon", 40, 3) == dict(weight_decay=0.0, sign_iters=20, transition_iters=20,
                                                     ns_dtype=torch.float32)
    assert C.bench_kwargs("SFNorMuon", 10, 3) == dict(weight_decay=0.0, ns_dtype=torch.float32, warmup_steps=1)
    assert C.bench_kwargs("SFAdamW", 400, 3) == dict(weight_decay=0.0, warmup_steps=20)
    assert C.bench_kwargs("StoSignSGD", 40, 3) == dict(weight_decay=0.0, seed=3)


# -- routing --------------------------------------------------------------------------------------
def test_bench_optim_routes_the_shapes_as_before():
    p = O.build_parameters(O.SIZES["tiny"])
    names = [p.names[id(q)] for q in p.matrices]
    # the hidden 2-D weights are the q, k, v, o, up and down matrices of every layer (what the
    # earlier hand-written rule ".w_" in name selected), in registration order
    assert names == [f"layers.{i}.{m}" for i in range(2)
                     for m in ("attn.w_q", "attn.w_k", "attn.w_v", "attn.w_o", "mlp.w_up", "mlp.w_down")]
    assert names == [n for n, _ in O.SIZES["tiny"].shapes() if ".w_" in n]
    mat, _ = split_params([(p.names[id(q)], q) for q in p.all])
    assert [id(q) for q in mat] == [id(q) for q in p.matrices]


def _compare_groups(module, name):
    names = {id(q): n for n, q in module.named_parameters()}
    module.optimizer_ref = []
    opt = C.build_optimizer(name, module, 1e-3, budget=40, seed=0)
    return [[names[id(q)] for q in g["params"]] for g in opt.param_groups]


def test_bench_compare_routes_the_suite_models_as_before():
    class MLP(nn.Module):  # the shape of the suite's digits MLP: fc1, fc2, head
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.head = nn.Linear(8, 6), nn.Linear(6, 6), nn.Linear(6, 3)

    assert _compare_groups(MLP(), "Muon") == [["fc1.weight", "fc2.weight"],
                                               ["fc1.bias", "fc2.bias", "head.weight", "head.bias"]]
    assert _compare_groups(MLP(), "AdamW") == [["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "head.weight",
                                                "head.bias"]]
    # a single linear layer (the softmax regression): its W is the hidden matrix (head=False, no guess)
    soft = nn.Module()
    soft.linear = nn.Linear(8, 3)
    assert _compare_groups(soft, "Muon") == [["linear.weight"], ["linear.bias"]]
    assert C.hidden_matrices(soft) == [soft.linear.weight]
    # a vector problem has no hidden matrix: matrix-only optimizers are refused
    vec = nn.Module()
    vec.x = nn.Parameter(torch.zeros(5))
    assert C.hidden_matrices(vec) == []
    with pytest.raises(ValueError, match="no hidden 2-D weight"):
        _compare_groups(vec, "Muon")


# -- state bytes ----------------------------------------------------------------------------------
def test_one_state_bytes_for_both_benchmarks():
    assert C.state_bytes is O.state_bytes
    w = nn.Parameter(torch.zeros(10))
    w.grad = torch.ones(10)
    opt = torch.optim.AdamW([w], foreach=True)
    opt.step()
    held = O.state_bytes(opt)
    assert held == (84, 4) and held.total == 84 and held.scalar == 4 and held.nonscalar == 80
    # a tensor reachable twice is counted once; nested containers are walked
    buf = torch.zeros(6, dtype=torch.float64)
    opt.state[w]["extra"] = [buf, {"again": buf}]
    assert O.state_bytes(opt) == (84 + 48, 4)


def test_state_bytes_counts_both_parts_of_a_matrix_and_adamw():
    model = nn.Sequential(nn.Linear(4, 4, bias=False), nn.Linear(4, 2))
    opt = MatrixAndAdamW.from_model(model, "Muon", head="1", matrix_kwargs=dict(lr=0.02))
    x = torch.randn(3, 4)
    model(x).sum().backward()
    opt.step()
    parts = [O.state_bytes(part) for part in opt.parts]
    held = O.state_bytes(opt)
    assert held.total == sum(p.total for p in parts) and held.scalar == sum(p.scalar for p in parts)
    # Muon: one fp32 momentum buffer of the 4×4 matrix; AdamW: m and v of the head (2×4 + 2)
    assert held.nonscalar == 4 * 16 + 2 * 4 * 10


def test_every_seeded_optimizer_gets_the_runs_seed_in_bench_compare():
    """An optimizer with its own random draws must be given the run's seed, else every seed of the
    benchmark repeats one random stream (the seed spread would be fake)."""
    import torch

    from convexlab.bench.compare import bench_kwargs
    from convexlab.optim import REGISTRY

    stochastic = []
    for name, cls in REGISTRY.items():
        p = torch.nn.Parameter(torch.zeros(4, 3))
        opt = cls([p], lr=1e-3)
        geometries = [opt.geometry(g) for g in opt.param_groups] if hasattr(opt, "geometry") else []
        if any(getattr(g, "stochastic", False) for g in geometries):
            stochastic.append(name)
            assert bench_kwargs(name, 100, 7).get("seed") == 7, name
    assert {"StoSignSGD", "SignConverted", "NesterovStoSignSGD"} <= set(stochastic)
