r"""Atomic training checkpoints and the random-number-generator state they carry.

A checkpoint is one ``torch.save`` file holding everything the next step depends on, so that a
resumed run continues the interrupted one exactly (README, "The GPT harness", Reliability):

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

Integrity (issue 13; design of this project, no external source): the file is

    b"CONVEXLAB-CKPT1\n" + hex(sha256(payload)) + b"\n" + payload,   payload = torch.save(state)

and :func:`load_checkpoint` recomputes sha256(payload) and refuses a file whose digest differs
(a flipped byte), that is empty or truncated, with a one-line :class:`CheckpointError` naming the
file. Before the new file replaces ``ckpt.pt`` the current one is kept as ``ckpt.prev.pt`` (a
hard link, renamed into place atomically), so :func:`load_latest` can fall back to the previous
good checkpoint, with a warning, when the latest fails to verify. Files written before the
header existed (a bare ``torch.save`` zip) still load, unverified, with a warning.
:func:`remove_stale_tmp` deletes the ``.ckpt.pt.*.tmp`` files that killed saves leave behind.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT_NAME = "ckpt.pt"
#: the previous good checkpoint, kept beside the latest
PREV_NAME = "ckpt.prev.pt"
#: first bytes of a checksummed checkpoint (then 64 hex digits of sha256(payload) and a newline)
MAGIC = b"CONVEXLAB-CKPT1\n"
_HEADER = len(MAGIC) + 64 + 1


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used (empty, truncated, or its checksum differs); the
    message is one line naming the file."""


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


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any], *, keep_previous: bool = True) -> Path:
    r"""Write ``state`` to ``path`` atomically (temporary file, fsync, ``os.replace``), with the
    sha256 header of the module docstring.

    With ``keep_previous`` the file already at ``path`` is kept as ``<stem>.prev<suffix>``
    (``ckpt.prev.pt``) before the new one replaces it: a hard link (a copy where links are not
    supported) renamed into place, so ``path`` exists at every moment. The step (``state["step"]``,
    if present) and the digest are written to the ``path.json`` sidecar after the checkpoint
    itself is in place. Returns the path.
    """
    if not isinstance(state, dict):
        raise ValueError(f"state must be a dict, got {type(state).__name__}")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(state, buf)
    payload = buf.getbuffer()
    digest = hashlib.sha256(payload).hexdigest()
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    prev_tmp = None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC + digest.encode("ascii") + b"\n")
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        if keep_previous and p.is_file():
            prev = previous_path(p)
            prev_tmp = str(p.parent / f".{p.name}.{os.getpid()}.prev.tmp")
            Path(prev_tmp).unlink(missing_ok=True)
            try:
                os.link(p, prev_tmp)
            except OSError:  # pragma: no cover - file systems without hard links
                import shutil

                shutil.copyfile(p, prev_tmp)
            os.replace(prev_tmp, prev)
            prev_tmp = None
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        if prev_tmp is not None:
            Path(prev_tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(p.parent)
    meta = {"step": state.get("step"), "tokens": state.get("tokens"), "file": p.name, "sha256": digest}
    from convexlab._io import atomic_write

    atomic_write(p.with_name(p.name + ".json"), json.dumps(meta) + "\n")
    return p


def previous_path(path: str | os.PathLike) -> Path:
    """Where :func:`save_checkpoint` keeps the previous checkpoint of ``path`` (``ckpt.pt`` → ``ckpt.prev.pt``)."""
    p = Path(path)
    return p.with_name(f"{p.stem}.prev{p.suffix}")


def remove_stale_tmp(run_dir: str | os.PathLike) -> list[Path]:
    """Delete the temporary files (``.ckpt.pt.*.tmp``, ``.ckpt.prev.pt.*.tmp``) that saves killed
    before their ``os.replace`` left in ``run_dir``; returns the paths removed. Call it only when
    no other process is writing this run directory (the start of a run)."""
    d = Path(run_dir)
    if not d.is_dir():
        return []
    gone = []
    for name in (CHECKPOINT_NAME, PREV_NAME):
        for q in d.glob(f".{name}.*.tmp"):
            try:
                q.unlink()
                gone.append(q)
            except FileNotFoundError:  # pragma: no cover - removed meanwhile
                pass
    return gone


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read and verify a checkpoint written by :func:`save_checkpoint` (``weights_only=False``: it
    holds numpy and Python generator states; load only checkpoints you wrote).

    Raises ``FileNotFoundError`` when there is no file and :class:`CheckpointError` (one line,
    naming the file) when it is empty, truncated or fails its sha256 check. A file without the
    header (written before checksums existed) loads unverified, with a warning.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no checkpoint at {p}")
    raw = p.read_bytes()
    if not raw:
        raise CheckpointError(f"checkpoint {p} is empty (0 bytes)")
    if raw.startswith(MAGIC):
        if len(raw) < _HEADER or raw[_HEADER - 1:_HEADER] != b"\n":
            raise CheckpointError(f"checkpoint {p} is truncated ({len(raw)} bytes, inside its header)")
        want = raw[len(MAGIC):_HEADER - 1].decode("ascii", "replace")
        payload = memoryview(raw)[_HEADER:]
        got = hashlib.sha256(payload).hexdigest()
        if got != want:
            raise CheckpointError(f"checkpoint {p} fails its sha256 check (stored {want[:12]}…, computed "
                                  f"{got[:12]}… over {len(payload)} bytes): truncated or corrupted")
        return torch.load(io.BytesIO(payload), map_location=map_location, weights_only=False)
    if len(raw) < len(MAGIC) and MAGIC.startswith(raw):
        raise CheckpointError(f"checkpoint {p} is truncated ({len(raw)} bytes, inside its header)")
    warnings.warn(f"checkpoint {p} has no checksum header (written by an older convexlab): loaded unverified",
                  stacklevel=2)
    try:
        return torch.load(p, map_location=map_location, weights_only=False)
    except Exception as err:  # torch/pickle/zip errors of a damaged file, as one line naming it
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(f"checkpoint {p} cannot be read ({type(err).__name__}: {msg})") from None


def load_latest(run_dir: str | os.PathLike, map_location: str | torch.device = "cpu") -> tuple[dict, Path] | None:
    """The newest checkpoint of ``run_dir`` that verifies, and its path: ``ckpt.pt``, else (with a
    warning naming both files) ``ckpt.prev.pt``. None when the directory holds neither file;
    :class:`CheckpointError` (one line naming the files) when files exist but none verifies."""
    latest = checkpoint_path(run_dir)
    prev = previous_path(latest)
    errors = []
    for q in (latest, prev):
        if not q.is_file():
            continue
        try:
            state = load_checkpoint(q, map_location=map_location)
        except CheckpointError as err:
            errors.append(str(err))
            continue
        if q == prev:
            why = errors[0] if errors else f"{latest} is missing"
            warnings.warn(f"{why}; resuming from the previous checkpoint {prev} (step {state.get('step')})",
                          stacklevel=2)
        return state, q
    if not errors:
        return None
    raise CheckpointError("no usable checkpoint: " + "; ".join(errors))


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
