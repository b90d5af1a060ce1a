r"""Data-parallel replicas of the stochastic optimizers stay bitwise identical (StoSignSGD [SSG-IMPL, SSG-Q19]).

Two CPU processes (``torch.distributed`` with gloo on 127.0.0.1, a free port picked at run time)
train the same seeded model on different data shards, average the gradients with
``dist.all_reduce`` and step an optimizer constructed *after* ``init_process_group`` and *without*
a seed. Each process draws a different default seed from its own global generator (it is reseeded
per rank before the optimizer is built), so the replicas can only agree if
:class:`~convexlab.optim.base.ComposedOptimizer` broadcasts rank 0's seed. After 50 steps the
parameters are all-gathered and compared bit for bit.

Non-vacuity: the same run with rank-dependent noise (each rank reseeds the optimizer's own
generator, ``opt.generator(cpu).manual_seed(...)``, after construction) must end with replicas that
differ: the comparison can fail, and the stochastic direction really depends on the noise.

Explicit rank-dependent ``seed=`` arguments: ``ComposedOptimizer._agreed_seed`` currently broadcasts
rank 0's seed whether or not a seed was passed, so such a run also ends with identical replicas
(both ranks report seed 17): by design, documented in ComposedOptimizer, an explicit seed is rank
0's seed for every rank.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from _dist import free_port, gloo_unavailable, run_ranks

WORLD_SIZE = 2
STEPS = 50
TIMEOUT_S = 120.0  # the whole two-process run; each case takes well under a second, start-up dominates
ATTEMPTS = 3  # a fresh port per attempt: the free port is released before the workers bind it

#: name → constructor (the kwargs of each case; no seed: it is added only in the per-rank arm)
CASES = {
    "StoSignSGD": ("StoSignSGD", dict(lr=1e-2)),
    "SignConverted(adamw, stochastic)": ("SignConverted", dict(base="adamw", mode="stochastic", lr=1e-2)),
    "SignConverted(adamax)": ("SignConverted", dict(base="adamax", lr=1e-2)),
}
ARMS = ("broadcast", "per_rank_noise", "explicit_per_rank_seed")


# ---------------------------------------------------------------------------------------------
# the worker (module level, so that the spawn start method can import it)
# ---------------------------------------------------------------------------------------------
def _train(case: str, arm: str, rank: int, world_size: int) -> dict:
    from convexlab.optim import REGISTRY

    torch.manual_seed(0)  # the same initialization on every rank
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    # from here on every rank's global generator differs, so an unseeded optimizer draws a
    # different default seed on each rank: only the broadcast of rank 0's seed can make them agree
    torch.manual_seed(1000 + rank)
    name, kwargs = CASES[case]
    kwargs = dict(kwargs)
    if arm == "explicit_per_rank_seed":
        kwargs["seed"] = 17 + 1000 * rank
    opt = REGISTRY[name](model.parameters(), **kwargs)
    if arm == "per_rank_noise":
        opt.generator(torch.device("cpu")).manual_seed(17 + 1000 * rank)

    data = torch.Generator().manual_seed(100 + rank)  # this rank's shard
    w_true = torch.linspace(-1.0, 1.0, 8)
    first_local_loss = None
    for _ in range(STEPS):
        x = torch.randn(32, 8, generator=data)
        y = (x @ w_true).tanh().unsqueeze(1) + 0.1 * torch.randn(32, 1, generator=data)
        loss = torch.nn.functional.mse_loss(model(x), y)
        if first_local_loss is None:
            first_local_loss = float(loss)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for p in model.parameters():
            dist.all_reduce(p.grad)
            p.grad.div_(world_size)
        opt.step()

    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    replicas = [torch.empty_like(flat) for _ in range(world_size)]
    dist.all_gather(replicas, flat)
    local = torch.tensor([opt.state_dict()["convexlab"]["seed"], first_local_loss], dtype=torch.float64)
    per_rank = [torch.empty_like(local) for _ in range(world_size)]
    dist.all_gather(per_rank, local)
    return dict(
        identical=all(torch.equal(replicas[0], r) for r in replicas[1:]),
        max_abs_diff=max(float((replicas[0] - r).abs().max()) for r in replicas[1:]),
        seeds=[int(t[0]) for t in per_rank],
        first_local_losses=[float(t[1]) for t in per_rank],
        finite=bool(torch.isfinite(flat).all()),
    )


def _worker(rank: int, world_size: int, init_method: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init_method, rank=rank, world_size=world_size,
                            timeout=timedelta(seconds=30))
    try:
        results = {f"{case}|{arm}": _train(case, arm, rank, world_size) for case in CASES for arm in ARMS}
        if rank == 0:
            tmp = Path(out_dir) / "results.pt.tmp"
            torch.save(results, tmp)
            os.replace(tmp, Path(out_dir) / "results.pt")
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _run_two_processes(out_dir: Path) -> dict:
    """Spawn the two ranks, wait at most TIMEOUT_S, return rank 0's results."""
    init_method = f"tcp://127.0.0.1:{free_port()}"
    run_ranks(_worker, lambda rank: (rank, WORLD_SIZE, init_method, str(out_dir)), WORLD_SIZE, TIMEOUT_S)
    return torch.load(out_dir / "results.pt")


_UNAVAILABLE = gloo_unavailable()
needs_gloo = pytest.mark.skipif(_UNAVAILABLE is not None,
                                reason=f"two-process gloo on localhost unavailable: {_UNAVAILABLE}")


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory):
    # Retried only when the workers fail to run to completion (a port taken between _free_port and
    # the bind, a start-up stall on a loaded machine); the results themselves are never retried.
    errors = []
    for _ in range(ATTEMPTS):
        try:
            return _run_two_processes(tmp_path_factory.mktemp("ddp"))
        except AssertionError as err:
            errors.append(str(err))
    raise AssertionError("the two-process run failed every attempt: " + " | ".join(errors))


@needs_gloo
@pytest.mark.parametrize("case", list(CASES))
def test_replicas_are_bitwise_identical_with_the_broadcast_seed(ddp_results, case):
    r = ddp_results[f"{case}|broadcast"]
    assert r["finite"]
    # the shards differ (so the gradient average is not trivially one rank's gradient)
    assert r["first_local_losses"][0] != r["first_local_losses"][1]
    assert len(set(r["seeds"])) == 1, f"ranks use different seeds {r['seeds']}"
    assert r["identical"], f"replicas differ after {STEPS} steps (max |Δ| = {r['max_abs_diff']:.3g})"


@needs_gloo
@pytest.mark.parametrize("case", list(CASES))
def test_replicas_diverge_with_rank_dependent_noise(ddp_results, case):
    r = ddp_results[f"{case}|per_rank_noise"]
    assert r["finite"]
    assert not r["identical"], "replicas stayed identical although every rank drew its own noise"
    assert r["max_abs_diff"] > 0


@needs_gloo
def test_explicit_rank_dependent_seeds_are_unified_to_rank_0(ddp_results):
    """By design an explicit seed is rank 0's seed for every rank (ComposedOptimizer): the replicas
    of a data-parallel run must draw the same noise, so a per-rank seed cannot split them."""
    r = ddp_results["StoSignSGD|explicit_per_rank_seed"]
    assert len(set(r["seeds"])) == 1, f"ranks report seeds {r['seeds']}"
    assert r["identical"]
