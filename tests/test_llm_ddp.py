r"""Data-parallel training (DDP, gloo on localhost) matches the single-process run with the same global batch.

Two CPU processes join a process group from the environment variables ``torchrun`` sets (``RANK``,
``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``; :func:`convexlab.llm.train._init_distributed`)
and train the toy GPT with AdamW, Muon (Newton–Schulz in float32 on the CPU) and StoSignSGD,
4 sequences per rank per step. The reference is one process with ``grad_accum=2`` and 4 sequences
per micro-batch: the harness draws one global batch of 8 sequences per step from the data generator
(identical on every rank) and gives rank r (or micro-batch r) the r-th block of 4, so both runs see
the same sequences in the same blocks.

Tolerance: **bit for bit**. The two runs compute the same float32 operations: each block's forward
and backward with the same kernels and shapes; the reference accumulates (½)g₀ + (½)g₁ (the loss of
each micro-batch is divided by 2), DDP averages (g₀ + g₁)/2 over 2 ranks; multiplying by ½ is exact
in binary floating point (no underflow at these magnitudes), and a sum of two terms is commutative,
so both give the correctly rounded (g₀ + g₁)/2. Logged losses and validation losses are sums of two
per-block values divided by 2 on both sides. The optimizers are deterministic given their seed,
which the harness sets from ``seed`` on every rank (and ComposedOptimizer broadcasts rank 0's).

Non-vacuity: the ranks' blocks differ (rank 0's block alone gives a different step-1 loss than the
global batch), and against a single process with one micro-batch of 8 sequences — the same data
reduced in another order — the losses agree only to float32 round-off, not bitwise, so the bitwise
match is a property of the harness's blocking, not of a comparison that cannot fail.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from _dist import free_port, gloo_unavailable, run_ranks

from convexlab.llm import checkpoint as ck
from convexlab.llm.train import apply_overrides, read_log, train

WORLD_SIZE = 2
STEPS = 8
TIMEOUT_S = 150.0
ATTEMPTS = 3
BASE = dict(device="cpu", num_threads=1, progress=False, model="toy", block_size=32, batch_size=4, max_steps=STEPS,
            eval_every=4, eval_batches=2, warmup_steps=2, seed=7)
CASES = {
    "AdamW": dict(optimizer="AdamW", lr=3e-3, weight_decay=0.1),
    "Muon": dict(optimizer="Muon", lr=0.02, aux_lr=3e-3, opt_kwargs={"ns_dtype": "float32"}),
    "StoSignSGD": dict(optimizer="StoSignSGD", lr=1e-3),
}


def _worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    # what torchrun exports for each process
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from convexlab.llm.train import _init_distributed

    d = _init_distributed("cpu")
    assert d.owned and d.rank == rank and d.world == world_size and dist.get_backend() == "gloo"
    try:
        for name, kw in CASES.items():
            train(apply_overrides(None, {"out_dir": out_dir, "run_name": f"ddp_{name}", **BASE, **kw}))
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _run_two_processes(out_dir: Path) -> Path:
    port = free_port()
    run_ranks(_worker, lambda r: (r, WORLD_SIZE, port, str(out_dir)), WORLD_SIZE, TIMEOUT_S)
    return out_dir


_UNAVAILABLE = gloo_unavailable()
needs_gloo = pytest.mark.skipif(_UNAVAILABLE is not None, reason=f"two-process gloo unavailable: {_UNAVAILABLE}")


@pytest.fixture(scope="module")
def ddp_dir(tmp_path_factory):
    # retried only when the workers fail to start or finish (a port taken, a stalled start-up)
    errors = []
    for _ in range(ATTEMPTS):
        try:
            return _run_two_processes(tmp_path_factory.mktemp("llm_ddp"))
        except AssertionError as err:
            errors.append(str(err))
    raise AssertionError("the two-process run failed every attempt: " + " | ".join(errors))


KEYS = ("loss", "val_loss", "grad_norm", "update_rms", "lr", "tokens")


@needs_gloo
@pytest.mark.parametrize("case", list(CASES))
def test_two_processes_match_one_process_bit_for_bit(ddp_dir, tmp_path, case):
    kw = {"out_dir": str(tmp_path), **BASE, **CASES[case]}
    single = train(apply_overrides(None, {**kw, "run_name": "single", "grad_accum": 2}))
    got, want = read_log(ddp_dir / f"ddp_{case}"), read_log(single)
    assert len(got) == len(want) == STEPS + 1
    for g, w in zip(got, want):
        assert {k: g.get(k) for k in KEYS} == {k: w.get(k) for k in KEYS}, f"step {g['step']}"
    a = ck.load_checkpoint(ck.checkpoint_path(ddp_dir / f"ddp_{case}"))
    b = ck.load_checkpoint(ck.checkpoint_path(single))
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name

    # non-vacuity 1: the two blocks differ (block 0 alone is not the global batch)
    half = read_log(train(apply_overrides(None, {**kw, "run_name": "half", "max_steps": 1, "eval_every": 0})))
    assert half[1]["loss"] != want[1]["loss"]
    # non-vacuity 2: the same 8 sequences in one micro-batch agree to round-off only
    one = read_log(train(apply_overrides(None, {**kw, "run_name": "one", "batch_size": 8})))
    assert one[1]["loss"] == pytest.approx(want[1]["loss"], rel=1e-5)
    assert [r["loss"] for r in one[1:]] != [r["loss"] for r in want[1:]]
