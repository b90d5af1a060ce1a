r"""Checkpoints and exact resume of the GPT training loop (convexlab.llm.train, convexlab.llm.checkpoint).

The interruption is real: a CPU run in a subprocess is killed with SIGKILL after its step-10
checkpoint was written and a few more steps were logged; ``resume=true`` continues it, and the
continuation must equal an uninterrupted run **bit for bit** (losses, validation losses,
gradient norms, update RMS, final weights and optimizer state). Bitwise equality is the right
tolerance on a CPU: every step is a deterministic function of (weights, optimizer state with its
random generator, data-generator state, global RNG), all of which the checkpoint restores, and
both processes run one torch thread, so the kernels reduce in the same order.

Cases: StoSignSGD (its stochastic sign draws from the optimizer's own generator: resuming without
the generator state would draw different noise) and SFNorMuon (schedule-free state z and the
averaging weights, matrix routing with an SF-AdamW part).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from convexlab.llm import checkpoint as ck
from convexlab.llm.train import apply_overrides, read_log, train

REPO = Path(__file__).resolve().parents[1]
BASE = dict(device="cpu", num_threads=1, progress=False, model="toy", block_size=32, batch_size=4, max_steps=20,
            eval_every=5, eval_batches=2, checkpoint_every=10, warmup_steps=3)
CASES = {
    "StoSignSGD": dict(optimizer="StoSignSGD", lr=1e-3),
    "SFNorMuon": dict(optimizer="SFNorMuon", lr=0.008, opt_kwargs={"ns_dtype": "float32"}),
}
KILL_AFTER = 13  # steps 11–13 are logged after the step-10 checkpoint and must be replayed
TIMEOUT_S = 120.0

CHILD = r"""
import json, sys, time
from pathlib import Path
from convexlab.llm.train import apply_overrides, train
cfg = apply_overrides(None, json.loads(sys.argv[1]))
marker, kill_after = Path(sys.argv[2]), int(sys.argv[3])
def on_step(step, rec):
    if step >= kill_after:
        marker.write_text(str(step))
        time.sleep(600)  # wait here for the SIGKILL
train(cfg, on_step=on_step)
"""


def _run_and_kill(cfg: dict, marker: Path) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(cfg), str(marker), str(KILL_AFTER)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while not marker.exists():
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(f"the run exited with {proc.returncode} before it could be killed:\n{err.decode()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the run did not reach step {KILL_AFTER} within {TIMEOUT_S:.0f} s")
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        assert proc.returncode == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


@pytest.mark.parametrize("case", list(CASES))
def test_killed_run_resumes_bit_for_bit(tmp_path, case):
    cfg = {"out_dir": str(tmp_path), "run_name": "killed", **BASE, **CASES[case]}
    _run_and_kill(cfg, tmp_path / "marker")
    run = tmp_path / "killed"
    assert ck.checkpoint_step(run) == 10
    assert max(r["step"] for r in read_log(run)) == KILL_AFTER  # logged past the checkpoint

    resumed = train(apply_overrides(None, {**cfg, "resume": True}))
    ref = train(apply_overrides(None, {**cfg, "run_name": "ref"}))
    got, want = read_log(resumed), read_log(ref)
    assert [r["step"] for r in got] == list(range(BASE["max_steps"] + 1))  # steps 11–13 replaced, not duplicated
    keys = ("loss", "val_loss", "grad_norm", "update_rms", "lr", "tokens")
    for g, w in zip(got, want):
        assert {k: g.get(k) for k in keys} == {k: w.get(k) for k in keys}, f"step {g['step']}"
    a, b = ck.load_checkpoint(ck.checkpoint_path(resumed)), ck.load_checkpoint(ck.checkpoint_path(ref))
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
    _assert_same(a["optimizer"], b["optimizer"])
    assert torch.equal(a["data"], b["data"])


def _assert_same(x, y, path="optimizer"):
    if isinstance(x, torch.Tensor):
        assert isinstance(y, torch.Tensor) and torch.equal(x, y), path
    elif isinstance(x, dict):
        assert set(x) == set(y), path
        for k in x:
            _assert_same(x[k], y[k], f"{path}[{k!r}]")
    elif isinstance(x, (list, tuple)):
        assert len(x) == len(y), path
        for i, (u, v) in enumerate(zip(x, y)):
            _assert_same(u, v, f"{path}[{i}]")
    else:
        assert x == y, path


def test_resume_without_the_generator_state_diverges(tmp_path):
    """Non-vacuity of the bitwise comparison: drop the optimizer's generator state from the
    checkpoint (StoSignSGD then redraws its noise from the seed) and the continuation differs."""
    cfg = {"out_dir": str(tmp_path), "run_name": "a", **BASE, **CASES["StoSignSGD"], "max_steps": 10,
           "checkpoint_every": 5, "schedule": "constant"}  # the same lrs for the 5- and the 10-step run
    ref = read_log(train(apply_overrides(None, cfg)))
    half = train(apply_overrides(None, {**cfg, "run_name": "b", "max_steps": 5}))
    path = ck.checkpoint_path(half)
    state = ck.load_checkpoint(path)
    assert state["optimizer"]["convexlab"]["generators"], "StoSignSGD must have drawn from its generator"
    state["optimizer"]["convexlab"]["generators"] = {}
    ck.save_checkpoint(path, state)
    got = read_log(train(apply_overrides(None, {**cfg, "run_name": "b", "resume": True})))
    assert [r["loss"] for r in got[1:6]] == [r["loss"] for r in ref[1:6]]
    assert [r["loss"] for r in got[7:]] != [r["loss"] for r in ref[7:]]


def test_resume_without_a_checkpoint_starts_fresh(tmp_path):
    cfg = {"out_dir": str(tmp_path), "run_name": "fresh", **BASE, "max_steps": 3, "resume": True}
    assert [r["step"] for r in read_log(train(apply_overrides(None, cfg)))] == [0, 1, 2, 3]


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    ck.save_checkpoint(path, {"step": 1, "w": torch.ones(3)})
    assert ck.checkpoint_step(tmp_path) == 1

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        ck.save_checkpoint(path, {"step": 2, "w": torch.zeros(3)})
    monkeypatch.undo()
    state = ck.load_checkpoint(path)  # the previous checkpoint is intact, no temporary file is left
    assert state["step"] == 1 and torch.equal(state["w"], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt", "ckpt.pt.json"]
    with pytest.raises(ValueError, match="state must be a dict"):
        ck.save_checkpoint(path, [1])
    with pytest.raises(FileNotFoundError):
        ck.load_checkpoint(tmp_path / "missing.pt")


def test_rng_state_round_trip():
    import random

    import numpy as np

    s = ck.rng_state()
    a = (torch.rand(2), np.random.rand(), random.random())
    ck.set_rng_state(s)
    b = (torch.rand(2), np.random.rand(), random.random())
    assert torch.equal(a[0], b[0]) and a[1:] == b[1:]
