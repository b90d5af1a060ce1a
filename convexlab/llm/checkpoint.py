r"""Atomic training checkpoints and the random-number-generator state they carry.

A checkpoint is one ``torch.save`` file holding everything the next step depends on, so that a
resumed run continues the interrupted one exactly (design guide §7):

* ``model``: the (unwrapped) model's ``state_dict``; for a schedule-free run the parameters hold
  y (the optimizer is in train mode when a checkpoint is written);
* ``optimizer``: ``optimizer.state_dict()``: moments, step counters, the schedule-free z and
  averaging weights, and — for convexlab optimizers — the seed and the states of their own random
  generators (``ComposedOptimizer.state_dict()["convexlab"]``);
* ``data``: the state of the batch sampler's ``torch.Generator`` (the data position);
* ``rng``: the global torch CPU generator, every CUDA generator, numpy's and Python's (dropout
  and anything else that draws from a global generator);
* ``step``, ``tokens`` and the resolved config (a dict).

Writes are atomic: the bytes go to a temporary file in the same directory, are flushed and
fsync'ed, and replace the target with ``os.replace`` (atomic on POSIX), so a run killed while
writing leaves the previous checkpoint intact. A small ``<name>.json`` sidecar with the step is
written after the checkpoint (for humans and for tools that wait for a checkpoint).
"""

from __future__ import annotations

import io
import json
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT_NAME = "ckpt.pt"


def rng_state() -> dict:
    """The global generators' states: torch CPU, every CUDA device, numpy, Python ``random``."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` returned (CUDA states only where CUDA is in use)."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    r"""Write ``state`` to ``path`` atomically (temporary file, fsync, ``os.replace``).

    The step (``state["step"]``, if present) is also written to the ``path.json`` sidecar after
    the checkpoint itself is in place. Returns the path.
    """
    if not isinstance(state, dict):
        raise ValueError(f"state must be a dict, got {type(state).__name__}")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(state, buf)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buf.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(p.parent)
    meta = {"step": state.get("step"), "tokens": state.get("tokens"), "file": p.name}
    from convexlab._io import atomic_write

    atomic_write(p.with_name(p.name + ".json"), json.dumps(meta) + "\n")
    return p


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=False``: it holds
    numpy and Python generator states; load only checkpoints you wrote)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no checkpoint at {p}")
    return torch.load(p, map_location=map_location, weights_only=False)


def checkpoint_path(run_dir: str | os.PathLike) -> Path:
    """The checkpoint file of a run directory."""
    return Path(run_dir) / CHECKPOINT_NAME


def checkpoint_step(run_dir: str | os.PathLike) -> int | None:
    """The step of the run directory's checkpoint (from the sidecar), or None if there is none."""
    side = checkpoint_path(run_dir).with_name(CHECKPOINT_NAME + ".json")
    if not side.is_file() or not checkpoint_path(run_dir).is_file():
        return None
    try:
        return int(json.loads(side.read_text())["step"])
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        return None
