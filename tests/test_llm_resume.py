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


# -- issue 13: resume restores the config, checksummed checkpoints, the previous one kept ------------
SMALL = dict(BASE, max_steps=4, checkpoint_every=2, eval_every=0, eval_batches=1, warmup_steps=0)


def _cli(*args):
    from convexlab.llm.train import main

    return main([str(a) for a in args])


def test_cli_resume_restores_the_saved_config_and_refuses_changes(tmp_path, capsys):
    """A run started with --max_steps=6 and resumed with only --resume (the preset default would be
    200) finishes at step 6; a changed batch_size or optimizer is refused in one line naming it."""
    common = ["--device=cpu", "--num_threads=1", "--progress=false", "--block_size=16", "--batch_size=2",
              "--eval_every=0", "--eval_batches=1", f"--out_dir={tmp_path}", "--run_name=r"]
    assert _cli(*common, "--max_steps=4", "--checkpoint_every=2") == 0
    run = tmp_path / "r"
    saved = json.loads((run / "config.json").read_text())
    assert saved["max_steps"] == 4
    for bad, field in (("--batch_size=3", "batch_size"), ("--optimizer=Muon", "optimizer"), ("--seed=7", "seed")):
        capsys.readouterr()
        assert _cli(*[a for a in common if not a.startswith("--batch_size")] + (["--batch_size=2"] if field != "batch_size" else []),
                    "--resume", bad) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: resume: ") and field in err, err
    assert json.loads((run / "config.json").read_text()) == saved  # refused: nothing rewritten
    # the safe change: a longer horizon; every other field comes from config.json (not the defaults)
    assert _cli(f"--out_dir={tmp_path}", "--run_name=r", "--progress=false", "--resume", "--max_steps=6") == 0
    log = read_log(run)
    assert [r["step"] for r in log] == list(range(7))
    new = json.loads((run / "config.json").read_text())
    assert new["max_steps"] == 6 and new["batch_size"] == 2 and new["block_size"] == 16
    meta = json.loads((run / "meta.json").read_text())
    assert meta["resumed_from"] == 4 and meta["resume_changes"]["max_steps"] == {"saved": 4, "now": 6}
    # a horizon shorter than the checkpoint is refused
    assert _cli(f"--out_dir={tmp_path}", "--run_name=r", "--resume", "--max_steps=3") == 2
    assert "max_steps must be >= the checkpoint's step 6" in capsys.readouterr().err


def test_api_resume_refuses_a_changed_field(tmp_path):
    cfg = {"out_dir": str(tmp_path), "run_name": "a", **SMALL}
    train(apply_overrides(None, cfg))
    with pytest.raises(ValueError, match=r"resume: optimizer \(saved 'AdamW', now 'StoSignSGD'\) differs"):
        train(apply_overrides(None, {**cfg, "resume": True, "optimizer": "StoSignSGD"}))


def test_checkpoint_checksum_and_the_previous_checkpoint(tmp_path):
    path = tmp_path / "ckpt.pt"
    ck.save_checkpoint(path, {"step": 1, "w": torch.ones(3)})
    assert not ck.previous_path(path).exists()
    ck.save_checkpoint(path, {"step": 2, "w": torch.full((3,), 2.0)})
    prev = ck.previous_path(path)
    assert prev.name == "ckpt.prev.pt" and ck.load_checkpoint(prev)["step"] == 1
    assert json.loads((tmp_path / "ckpt.pt.json").read_text())["sha256"] == \
        __import__("hashlib").sha256(path.read_bytes()[len(ck.MAGIC) + 65:]).hexdigest()
    # a flipped byte in the payload is detected, and load_latest falls back with a warning
    raw = bytearray(path.read_bytes())
    raw[-100] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(ck.CheckpointError, match=r"ckpt\.pt fails its sha256 check"):
        ck.load_checkpoint(path)
    with pytest.warns(UserWarning, match="resuming from the previous checkpoint .*ckpt.prev.pt"):
        state, used = ck.load_latest(tmp_path)
    assert used == prev and state["step"] == 1
    # truncated / empty files: one line naming the file; nothing good left -> CheckpointError
    for content in (b"", ck.MAGIC[:5], bytes(raw[:200]), bytes(raw[:-10])):
        path.write_bytes(content)
        prev.write_bytes(content)
        with pytest.raises(ck.CheckpointError) as info:
            ck.load_latest(tmp_path)
        msg = str(info.value)
        assert "\n" not in msg and str(path) in msg and str(prev) in msg, msg
    # a legacy file (bare torch.save zip) still loads, with a warning
    torch.save({"step": 5}, path)
    with pytest.warns(UserWarning, match="no checksum header"):
        assert ck.load_checkpoint(path)["step"] == 5
    # a damaged legacy file: one line naming it
    path.write_bytes(path.read_bytes()[:50])
    with pytest.warns(UserWarning), pytest.raises(ck.CheckpointError, match=str(path)):
        ck.load_checkpoint(path)


def test_resume_uses_the_previous_checkpoint_when_the_latest_is_corrupt(tmp_path):
    cfg = {"out_dir": str(tmp_path), "run_name": "a", **SMALL, "max_steps": 6, "schedule": "constant"}
    ref = read_log(train(apply_overrides(None, {**cfg, "run_name": "ref"})))
    run = train(apply_overrides(None, {**cfg, "max_steps": 4}))  # checkpoints at 2 (prev) and 4 (latest)
    path = ck.checkpoint_path(run)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="fails its sha256 check"):
        got = read_log(train(apply_overrides(None, {**cfg, "resume": True})))
    assert [r["step"] for r in got] == list(range(7))
    assert [r.get("loss") for r in got] == [r.get("loss") for r in ref]  # steps 3-4 replayed from step 2


def test_stale_tmp_files_are_removed_and_a_torn_log_line_is_dropped(tmp_path):
    cfg = {"out_dir": str(tmp_path), "run_name": "a", **SMALL}
    run = train(apply_overrides(None, cfg))
    stale = [run / ".ckpt.pt.abc123.tmp", run / ".ckpt.prev.pt.99.prev.tmp"]
    for q in stale:
        q.write_bytes(b"x" * 10)
    keep = run / ".other.tmp"
    keep.write_bytes(b"y")
    with open(run / "log.jsonl", "a") as f:
        f.write('{"step": 5, "loss": 1.')  # a write torn by a kill
    with pytest.warns(UserWarning, match="dropped a torn last line"):
        train(apply_overrides(None, {**cfg, "resume": True, "max_steps": 6}))
    assert not any(q.exists() for q in stale) and keep.exists()
    assert [r["step"] for r in read_log(run)] == list(range(7))
    # a bad line that is not the last is an error naming the file and the line
    lines = (run / "log.jsonl").read_text().splitlines()
    lines[2] = "{oops"
    (run / "log.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"log\.jsonl line 3 is not a JSON object"):
        read_log(run)


INTERRUPT_CHILD = r"""
import sys
from convexlab.llm.train import main
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_prints_the_last_checkpoint_and_exits_130(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1")
    args = ["--device=cpu", "--num_threads=1", "--progress=false", "--block_size=16", "--batch_size=2",
            "--eval_every=0", "--eval_batches=1", "--max_steps=1000000", "--checkpoint_every=3",
            f"--out_dir={tmp_path}", "--run_name=c"]
    # the default SIGINT disposition in the child: a test run started in the background by a
    # non-interactive shell (nohup, `&`) inherits SIGINT ignored, and Python then never raises KeyboardInterrupt
    proc = subprocess.Popen([sys.executable, "-c", INTERRUPT_CHILD, *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + TIMEOUT_S
    while ck.checkpoint_step(tmp_path / "c") is None:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    step = ck.checkpoint_step(tmp_path / "c")
    assert line.startswith(f"interrupted: last checkpoint at step {step} in ") and step % 3 == 0, line
    assert line.endswith("--run_name=c --resume"), line
