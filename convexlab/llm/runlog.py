r"""What a training run writes and prints: the run directory's files and the console lines.

* ``config.json`` (the resolved config) and ``meta.json`` (git commit, package versions, device,
  the changes a resume allowed): :func:`write_run_files`;
* ``log.jsonl``: one JSON record per line, appended per step (:func:`append_record`), read back by
  :func:`read_log`; on resume the records after the checkpoint are dropped (:func:`truncate_log`), and
  a torn last line (a write cut by a kill) is dropped with a warning, while an invalid line before the
  last raises;
* ``table12_step<N>.json``: the optimizer-state statistics (:func:`write_table12`);
* ``summary.json``: status, steps, tokens, final train loss, final and best validation loss with its
  step, wall time, training-loop time and tokens/s, the resumed step (:func:`write_summary`), or the
  non-finite stop (:func:`record_nonfinite`);
* the console: one line per evaluation (:func:`val_line`) and, after the run, a summary read from
  ``summary.json`` (:func:`final_summary`).

Only rank 0 calls the writers (:mod:`convexlab.llm.train`).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from convexlab._io import atomic_write
from convexlab.llm import checkpoint as ckpt_mod


# ---------------------------------------------------------------------------------------------
# log.jsonl
# ---------------------------------------------------------------------------------------------
def append_record(path: Path, rec: dict) -> None:
    """Append one record as a JSON line."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(rec) + "\n")


def _parse_log(path: Path) -> list[tuple[str, dict]]:
    """(line, record) pairs of a ``log.jsonl``. A last line that is not valid JSON (a write torn
    by a kill) is dropped with a warning; an invalid line before the last raises a one-line
    ``ValueError`` naming the file and the line."""
    lines = [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    out = []
    for i, ln in enumerate(lines):
        try:
            rec = json.loads(ln)
            if not isinstance(rec, dict):
                raise ValueError("not a JSON object")
        except ValueError as err:
            if i == len(lines) - 1:
                warnings.warn(f"{path}: dropped a torn last line ({len(ln)} characters: {err})", stacklevel=3)
                break
            raise ValueError(f"{path} line {i + 1} is not a JSON object ({err}); repair or remove the line") from None
        out.append((ln, rec))
    return out


def truncate_log(path: Path, step: int) -> None:
    """Keep the log records up to ``step`` (those written after the checkpoint are replayed);
    a torn last line is dropped (:func:`_parse_log`)."""
    if not path.is_file():
        return
    keep = [ln for ln, rec in _parse_log(path) if rec.get("step", 0) <= step]
    atomic_write(path, "".join(ln + "\n" for ln in keep))


def json_default(o):
    """JSON for numpy scalars, torch dtypes and tuples (``json.dumps(default=...)``)."""
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    if isinstance(o, torch.dtype):
        return str(o)
    if isinstance(o, tuple):
        return list(o)
    return str(o)


def read_log(run_dir: str | os.PathLike) -> list[dict]:
    """The records of a run directory's ``log.jsonl``."""
    p = Path(run_dir) / "log.jsonl"
    return [rec for _, rec in _parse_log(p)]


# ---------------------------------------------------------------------------------------------
# the run directory's other files
# ---------------------------------------------------------------------------------------------
def clear_run(run_dir: Path) -> None:
    """Remove what a previous run left in ``run_dir`` (a fresh start: ``--overwrite``, or ``--resume``
    without a checkpoint): log, checkpoints, summary and Table-12 files."""
    ck = ckpt_mod.checkpoint_path(run_dir)
    for p in (run_dir / "log.jsonl", ck, ck.with_name(ck.name + ".json"), ckpt_mod.previous_path(ck),
              run_dir / "summary.json", *run_dir.glob("table12_step*.json")):
        p.unlink(missing_ok=True)


def write_run_files(run_dir: Path, resolved: dict, meta: dict) -> None:
    """``config.json`` (the resolved config) and ``meta.json`` of a run (creating ``run_dir``)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(run_dir / "config.json", json.dumps(resolved, indent=2, default=json_default) + "\n")
    atomic_write(run_dir / "meta.json", json.dumps(meta, indent=2, default=json_default) + "\n")


def write_table12(run_dir: Path, step: int, precision: str, optimizer: str, overall: dict, rows: list) -> None:
    """``table12_step<step>.json``: the per-layer optimizer-state statistics and their weighted shares."""
    atomic_write(run_dir / f"table12_step{step}.json",
                 json.dumps({"step": step, "precision": precision, "optimizer": optimizer,
                             "overall": overall, "rows": rows}, indent=1, default=json_default) + "\n")


def record_nonfinite(run_dir: Path, step: int, message: str, groups: list[dict], checkpoint_step: int | None) -> None:
    """The non-finite stop: an ``event`` record in ``log.jsonl`` and ``summary.json`` with status "nonfinite"."""
    append_record(run_dir / "log.jsonl", {"step": step, "event": "nonfinite", "message": message, "groups": groups})
    atomic_write(run_dir / "summary.json", json.dumps(
        {"status": "nonfinite", "step": step, "message": message, "checkpoint_step": checkpoint_step}) + "\n")


def write_summary(run_dir: Path, *, max_steps: int, start: int, tokens_per_step: int, wall_time_s: float,
                  train_time_s: float) -> None:
    """``summary.json`` of a finished run, from its ``log.jsonl``: final and best validation loss, final
    train loss, and the time and tokens/s of this invocation's loop (steps ``start`` to ``max_steps``)."""
    recs = read_log(run_dir)
    vals = [r for r in recs if r.get("val_loss") is not None]
    best = min(vals, key=lambda r: r["val_loss"]) if vals else None
    trained = (max_steps - start) * tokens_per_step
    atomic_write(run_dir / "summary.json", json.dumps(
        {"status": "done", "steps": max_steps, "tokens": max_steps * tokens_per_step,
         "final_val_loss": vals[-1]["val_loss"] if vals else None,
         "final_loss": next((r["loss"] for r in reversed(recs) if "loss" in r), None),
         "best_val_loss": best["val_loss"] if best else None, "best_val_step": best["step"] if best else None,
         "resumed_from": start or None, "session_steps": max_steps - start,
         "wall_time_s": wall_time_s, "train_time_s": train_time_s,
         "tokens_per_s": trained / train_time_s if trained and train_time_s > 0 else None}, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------
# the console
# ---------------------------------------------------------------------------------------------
def val_line(step: int, max_steps: int, val: float, loss: float | None) -> str:
    """The console line of one evaluation: ``step 50/200: val_loss 3.2145 (train loss 3.3012)``."""
    tail = f" (train loss {loss:.4f})" if loss is not None else " (initialization)"
    return f"step {step}/{max_steps}: val_loss {val:.4f}{tail}"


def final_summary(run_dir: str | os.PathLike) -> str:
    r"""The console summary of a finished run, read from its ``summary.json``: steps, tokens, final
    train loss, final and best validation loss, wall time, tokens/s of the training loop (this
    invocation: evaluations and checkpoints included), and where the log, checkpoint and summary are."""
    run_dir = Path(run_dir)
    s = json.loads((run_dir / "summary.json").read_text())

    def num(v, fmt):
        return "n/a" if v is None else format(v, fmt)

    resumed = f", resumed at step {s['resumed_from']}" if s.get("resumed_from") else ""
    best = (f", best {num(s.get('best_val_loss'), '.4f')} at step {s['best_val_step']}"
            if s.get("best_val_step") is not None else "")
    return "\n".join([
        f"  steps      {s['steps']:,} ({s['tokens']:,} tokens{resumed})",
        f"  loss       train {num(s.get('final_loss'), '.4f')} (last step); val {num(s.get('final_val_loss'), '.4f')}"
        f" (final){best}",
        f"  time       {num(s.get('wall_time_s'), '.1f')} s wall, {num(s.get('train_time_s'), '.1f')} s training "
        f"({num(s.get('tokens_per_s'), ',.0f')} tokens/s)",
        f"  run dir    {run_dir}",
        f"  files      {run_dir / 'log.jsonl'}, {ckpt_mod.checkpoint_path(run_dir)}, {run_dir / 'summary.json'}"])
