r"""Train the GPT of :mod:`convexlab.llm.model` with any registry optimizer: ``convexlab train``
(also ``python -m convexlab.llm.train``).

One typed :class:`TrainConfig` drives a run; every field is a command-line option
(:func:`build_parser`, the grammar of :mod:`convexlab._cli`): ``--max-steps 600`` or
``--max-steps=600`` (the underscore spelling ``--max_steps`` is the same option), yes/no fields as
``--progress`` / ``--no-progress`` / ``--progress=false``, and ``num_threads`` as ``--threads``.
Each value is parsed and checked against the field's type and allowed values. ``--config
NAME_OR_PATH`` loads a JSON preset from ``configs/`` first. A preset is either a flat object of
fields (one run) or ``{"description": ..., "base": {fields}, "runs": [{"run_name": ..., fields},
...]}`` (one run per entry: base, then the entry, then the command line; ``--run a,b`` picks
entries by name).

The loop (design guide §7; issue 6):

* **routing**: a ``matrix_only`` optimizer (Muon, NorMuon, SoftMuon, SFNorMuon) gets the hidden
  2-D weights through :class:`convexlab.optim.MatrixAndAdamW`, whose AdamW part takes embeddings,
  head and 1-D parameters (SF-NorMuon [SFN-MUON, SFN-ROUTING]); every other optimizer gets all parameters,
  with weight decay on the ≥ 2-D ones only [D];
* **schedule** (:mod:`convexlab.llm.schedules`): warmup + cosine to ``min_lr_ratio``·lr, WSD, or
  constant, as a multiplier of each param group's initial lr. A schedule-free optimizer gets its
  warmup inside the optimizer (``warmup_steps``) and, with ``schedule="auto"``, a constant
  schedule; its evaluations run at x (``opt.evaluating()``; SF-NorMuon [SFN-DATA] "validation in
  optimizer eval mode");
* **batches**: every step draws one global batch of ``batch_size × grad_accum × world_size``
  sequences from the data generator (identical on every rank); rank r's micro-batch i is block
  ``r·grad_accum + i`` of it (data sharded by rank). A run on W processes with accumulation A
  therefore sees exactly the batches of one process with accumulation W·A;
* **precision**: ``fp32``; ``bf16`` autocast (CPU and CUDA); ``fp8``: bf16 autocast plus the
  StoSignSGD recipe ([SSG-FP8] [S]): gradients rounded through E5M2, optimizer states stored as E4M3
  (raw casts, saturating unless ``fp8_saturate=false``; [SSG-Q12] interpretation), master weights
  rounded to bf16 after every step (:func:`convexlab.precision.emulated_step`). The Table-12
  per-layer statistics (:func:`convexlab.precision.state_statistics`) are written after step
  ``stats_step`` (the paper's table is at step 103 [P]) in any precision;
* **logging**: one JSONL record per step (``log.jsonl``): loss, val_loss (every ``eval_every``
  steps and at the end, plus step 0), lr (the step size the first param group applied: a
  schedule-free optimizer's ``scheduled_lr``, which includes its internal warmup, else ``lr``) and
  ``lrs`` (the same for every group, by group name), tokens, tokens/s, MFU
  (``model.flops_per_token()`` × tokens/s ÷ (peak FLOP/s × processes); peak from
  :data:`PEAK_FLOPS` or ``peak_flops``; None on a CPU), gradient norm (global L2, before clipping),
  and at logging steps (every ``log_every`` steps and the last) update RMS (RMS of x_{t+1} − x_t
  over all parameters; null in the other records); a tqdm bar with tokens/s;
* **per-step cost**: a step reads one thing back from the device, the pair (loss, gradient norm)
  that the non-finite stop needs, in one transfer. What needs a copy of the parameters or another
  synchronisation is done at logging steps only: the update RMS (a copy of every parameter before
  the step, then one reduction) and, on CUDA, the device synchronisation that makes
  ``step_time_s`` the device time of the step. On other steps ``step_time_s`` is the host time of
  the iteration, which the per-step loss read ties to the device's pace (the optimizer kernels a
  step leaves queued are waited for, and counted, in the next one). The model returns no logits to
  the loop: the loss is computed chunk by chunk (``model(x, y, return_logits=False)``,
  :func:`convexlab.llm.model.linear_cross_entropy`), so no (B, T, V) fp32 logit tensor exists;
* **run directory** ``out_dir/run_name``: ``config.json`` (resolved), ``meta.json`` (git commit,
  package versions, device), ``log.jsonl``, ``ckpt.pt`` (:mod:`convexlab.llm.checkpoint`),
  ``table12_step<N>.json``, ``summary.json`` (status, steps, tokens, final train loss, final and best
  validation loss with its step, wall time of this invocation, training-loop time and tokens/s
  over it, the resumed step);
* **reliability**: checkpoints every ``checkpoint_every`` steps, atomic, sha256-verified on load,
  the previous one kept as ``ckpt.prev.pt`` and used (with a warning) when the latest fails to
  verify; stale ``.ckpt.pt.*.tmp`` files of killed saves are removed at the start of a run;
  ``--resume`` restores model, optimizer (with its random generators and schedule-free state),
  data position, global RNGs and step, and drops log lines after the checkpoint (a torn last line
  of ``log.jsonl`` is dropped with a warning);
* **resume restores the config**: on the command line, ``--resume`` starts from the run's saved
  ``config.json`` (a preset's values yield to it) and applies only the ``--key=value`` given on
  the command line; a change of a field outside :data:`RESUME_SAFE` is refused with one line
  naming it (exit 2), both there and in :func:`train` (against the checkpoint's config), unless
  ``resume_allow`` lists it (e.g. ``--resume-allow lr,schedule``: an explicit choice). A new
  ``max_steps`` (≥ the checkpoint's step) is allowed: the schedule is rebuilt for the new horizon
  and evaluated at the resumed step, so a cosine or WSD multiplier continues on the new curve
  (the lr jumps from the old curve's value to the new one's at that step; a constant schedule,
  or a WSD run still before its decay on both horizons, is unaffected). The changes are recorded
  in ``meta.json`` (``resume_changes``);
* **console** (rank 0): a tqdm bar (``--no-progress`` turns it off) with the training loss, the
  last validation loss and tokens/s; one line per evaluation on stdout (step 0 and every
  ``eval_every`` steps and the last: ``step 50/200: val_loss 3.2145 (train loss 3.3012)``), also
  without the bar; after the run (:func:`main`) a summary of a few lines read from
  ``summary.json`` (:func:`final_summary`): steps and tokens, final train loss, final and best
  validation loss, wall time and tokens/s, the run directory and where the log, checkpoint and
  summary are;
* **threads**: on a CPU, ``num_threads=0`` (``--threads 0``, the default) means one torch thread
  for the models in :data:`ONE_THREAD_MODELS` (the toy preset: on a shared 2-core machine two
  contended threads made it many times slower, issue 13) and torch's default otherwise;
* **command-line errors** (:func:`main`): a bad option or value prints one line ``convexlab
  train: error: ...`` and exits 2; a user error (an existing run directory, a missing or
  too-short data file, a vocabulary too small, ``n_head`` not dividing the width, a CUDA device
  without a GPU, an unknown ``opt_kwargs`` key, an unusable checkpoint) prints one line
  ``error: ...`` and exits 2; Ctrl-C prints the last checkpoint's step and the command that
  resumes the run, and exits 130; a non-finite loss (or gradient) raises
  :class:`NonFiniteLossError` naming the step and the parameter groups (and parameters) holding
  non-finite weights or gradients; the last good checkpoint is left as it was;
* **scale-out**: under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) the process group is
  initialised from the environment (gloo on a CPU, nccl on CUDA) and the model is wrapped in
  ``DistributedDataParallel``; every rank seeds identically.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import math
import os
import platform
import sys
import time
import types
import typing
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

from convexlab import _cli
from convexlab._io import provenance
from convexlab.llm import checkpoint as ckpt_mod
from convexlab.llm.schedules import SCHEDULES, make_schedule

#: repository directory holding the presets (``--config NAME`` looks here for ``NAME.json``)
CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"

#: dense bf16 tensor-core peak FLOP/s by device-name fragment (vendor data sheets [D]); the first
#: fragment contained in ``torch.cuda.get_device_name()`` wins, so the specific names come first.
#: MFU of an fp32 run is measured against the same bf16 peak.
PEAK_FLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),
    ("H200", 989e12),
    ("GH200", 989e12),
    ("B200", 2250e12),
    ("A100", 312e12),
    ("A10G", 125e12),
    ("A10", 125e12),
    ("L40S", 362e12),
    ("L4", 121e12),
    ("RTX 4090", 165e12),
    ("RTX 3090", 71e12),
    ("V100", 125e12),  # fp16 (no bf16 on Volta)
    ("T4", 65e12),  # fp16
)

PRECISIONS = ("fp32", "bf16", "fp8")

#: fields that may differ from the saved config on ``--resume``: the horizon (the schedule is
#: rebuilt for it, module docstring) and what does not enter the training arithmetic's definition
#: (where and how fast it runs, how often it logs and saves). ``out_dir``/``run_name`` locate the run.
RESUME_SAFE = frozenset({"max_steps", "resume", "resume_allow", "overwrite", "progress", "num_threads", "device", "compile",
                         "log_every", "checkpoint_every", "peak_flops", "out_dir", "run_name"})

#: model presets that run on one torch thread on a CPU unless ``num_threads`` is given
ONE_THREAD_MODELS = ("toy",)
SCHEDULE_CHOICES = ("auto",) + SCHEDULES


def _model_presets() -> tuple[str, ...]:
    from convexlab.llm.model import PRESETS

    return tuple(PRESETS)


def _optimizers() -> tuple[str, ...]:
    from convexlab.optim import REGISTRY

    return tuple(sorted(REGISTRY))


def _f(default, help: str, allowed: Any = None, **kw):
    """A dataclass field with its help text and allowed values (a tuple, a callable returning one,
    or a (predicate, description) pair)."""
    meta = {"help": help, "allowed": allowed}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=meta, **kw)
    return field(default=default, metadata=meta, **kw)


_GE0 = (lambda v: v >= 0, "an integer >= 0")
_GE1 = (lambda v: v >= 1, "an integer >= 1")
_POS = (lambda v: math.isfinite(v) and v > 0, "a finite number > 0")
_NONNEG = (lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0")
_UNIT = (lambda v: 0.0 <= v <= 1.0, "a number in [0, 1]")
_FRAC = (lambda v: 0.0 < v < 1.0, "a number in (0, 1)")


def _device_ok(v: str) -> bool:
    if v in ("auto", "cpu", "cuda"):
        return True
    return v.startswith("cuda:") and v[5:].isdigit()


@dataclass
class TrainConfig:
    r"""Every knob of a training run (``python -m convexlab.llm.train --help`` lists them).

    Each field's metadata holds its help text and allowed values; :meth:`__post_init__` checks
    types and values and raises ``ValueError`` naming the field and what it allows. Optional model
    fields (``None``) take the model preset's value.
    """

    # -- run ---------------------------------------------------------------------------------
    out_dir: str = _f("runs", "parent directory of the run directories")
    run_name: str = _f("", "run directory name under out_dir ('' → '<optimizer>-<model>-s<seed>')")
    seed: int = _f(1337, "seed of the model init, the data order and the optimizer's generator (every rank)", _GE0)
    device: str = _f("auto", "where to run ('auto': cuda if available, else cpu)",
                     (_device_ok, "'auto', 'cpu', 'cuda' or 'cuda:N'"))
    num_threads: int = _f(0, "torch intra-op threads, option --threads (0: one on a CPU for the toy model, else "
                          "torch's default)", _GE0)
    progress: bool = _f(True, "show a tqdm progress bar (rank 0)")
    resume: bool = _f(False, "continue from the run directory's checkpoint with its saved config (starts fresh if "
                      "there is none); only max_steps and the fields of RESUME_SAFE may change")
    overwrite: bool = _f(False, "replace an existing run directory's log and checkpoint instead of refusing")
    resume_allow: str = _f("", "comma-separated further fields that may differ from the saved config on resume "
                           "(e.g. 'lr,schedule'; recorded in meta.json)")
    # -- model -------------------------------------------------------------------------------
    model: str = _f("toy", "model preset of convexlab.llm.model.PRESETS", _model_presets)
    vocab_size: Optional[int] = _f(None, "override the preset's vocabulary size", _GE1)
    block_size: Optional[int] = _f(None, "override the preset's context length", _GE1)
    n_layer: Optional[int] = _f(None, "override the preset's number of layers", _GE1)
    n_head: Optional[int] = _f(None, "override the preset's number of heads", _GE1)
    n_embd: Optional[int] = _f(None, "override the preset's width", _GE1)
    dropout: Optional[float] = _f(None, "override the preset's dropout", (lambda v: 0.0 <= v < 1.0, "a number in [0, 1)"))
    tie_embeddings: Optional[bool] = _f(None, "override the preset's tied embedding/head")
    compile: bool = _f(False, "torch.compile the model for training")
    # -- data --------------------------------------------------------------------------------
    data: str = _f("default", "'default' (byte tokens of the Python stdlib text), or comma-separated paths: "
                   "uint16 .bin token shards or raw text files")
    val_fraction: float = _f(0.05, "share of the tokens held out (the last part) as the validation split", _FRAC)
    batch_size: int = _f(16, "sequences per micro-batch per process", _GE1)
    grad_accum: int = _f(1, "micro-batches per optimizer step (gradient accumulation)", _GE1)
    # -- optimizer ---------------------------------------------------------------------------
    optimizer: str = _f("AdamW", "optimizer name in convexlab.optim.REGISTRY", _optimizers)
    lr: float = _f(1e-3, "peak learning rate (of the matrix part for a matrix optimizer)", _NONNEG)
    weight_decay: float = _f(0.0, "decoupled weight decay (≥ 2-D parameters; the matrix part for a matrix optimizer)",
                             _NONNEG)
    opt_kwargs: dict = _f({}, "extra optimizer keyword arguments, a JSON object (dtype names as strings, lists as tuples)")
    aux_lr: Optional[float] = _f(None, "lr of the AdamW part of a matrix optimizer (None: the routing default)", _NONNEG)
    aux_kwargs: dict = _f({}, "extra keyword arguments of the AdamW part of a matrix optimizer (JSON object)")
    grad_clip: float = _f(0.0, "clip the global gradient norm to this value (0: off)", _NONNEG)
    # -- schedule ----------------------------------------------------------------------------
    max_steps: int = _f(200, "optimizer steps", _GE1)
    schedule: str = _f("auto", "lr schedule ('auto': constant for schedule-free optimizers, else cosine)",
                       SCHEDULE_CHOICES)
    warmup_steps: int = _f(0, "linear warmup steps (inside the optimizer for schedule-free ones)", _GE0)
    min_lr_ratio: float = _f(0.1, "floor of cosine/WSD as a fraction of the peak lr", _UNIT)
    decay_frac: float = _f(0.2, "WSD: fraction of the steps spent decaying", _UNIT)
    # -- precision ---------------------------------------------------------------------------
    precision: str = _f("fp32", "fp32, bf16 (autocast) or fp8 (bf16 autocast + E5M2 grads, E4M3 states, "
                        "bf16 master weights)", PRECISIONS)
    fp8_saturate: bool = _f(True, "fp8: clamp out-of-range values to the format's max (else NaN/inf)")
    stats_step: int = _f(0, "write the Table-12 optimizer-state statistics after this step (0: never)", _GE0)
    # -- evaluation, logging, checkpoints ----------------------------------------------------
    eval_every: int = _f(50, "validation every N steps (and at step 0 and the last step; 0: only those)", _GE0)
    eval_batches: int = _f(4, "validation batches (each a global batch) per evaluation", _GE1)
    log_every: int = _f(10, "logging steps every N steps and at the last: update RMS (a parameter copy) and, on CUDA, "
                        "a device synchronisation for step_time_s; other records have update_rms null", _GE1)
    checkpoint_every: int = _f(0, "write a checkpoint every N steps (0: only at the end)", _GE0)
    peak_flops: Optional[float] = _f(None, "peak FLOP/s per device for MFU (None: from PEAK_FLOPS on CUDA)", _POS)

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            _check_type(f.name, value, hints[f.name])
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{f.name} must be finite, got {value!r}")
            allowed = f.metadata.get("allowed")
            if allowed is None or value is None:
                continue
            if callable(allowed) and not isinstance(allowed, tuple):
                allowed = allowed()
            if isinstance(allowed, tuple) and len(allowed) == 2 and callable(allowed[0]):
                pred, desc = allowed
                if not pred(value):
                    raise ValueError(f"{f.name} must be {desc}, got {value!r}")
            elif value not in allowed:
                raise ValueError(f"{f.name} must be one of {tuple(allowed)!r}, got {value!r}")
        if not self.run_name:
            self.run_name = f"{self.optimizer}-{self.model}-s{self.seed}"
        if "/" in self.run_name or self.run_name in (".", ".."):
            raise ValueError(f"run_name must be a plain directory name, got {self.run_name!r}")
        names = set(field_names())
        unknown = [k for k in self.resume_allow.split(",") if k.strip() and k.strip() not in names]
        if unknown:
            raise ValueError(f"resume_allow must list config fields (comma-separated), got unknown {unknown!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------------------
# typed overrides
# ---------------------------------------------------------------------------------------------
def _type_name(tp) -> str:
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return " or ".join(_type_name(a) for a in inner) + " or null"
    return getattr(tp, "__name__", str(tp))


def _check_type(name: str, value, tp) -> None:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    ok = {
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: lambda v: isinstance(v, float),
        str: lambda v: isinstance(v, str),
        dict: lambda v: isinstance(v, dict),
    }[tp](value)
    if not ok:
        raise ValueError(f"{name} must be {_type_name(tp)}, got {value!r} ({type(value).__name__})")


def _coerce(name: str, value, tp):
    """``value`` (a command-line string or a JSON value) as the field type ``tp``; ValueError otherwise."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    bad = ValueError(f"{name} must be {_type_name(tp)}, got {value!r}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
            return False
        raise bad
    if tp is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise bad from None
        raise bad
    if tp is float:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise bad from None
        raise bad
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad
    if tp is dict:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError(f"{name} must be a JSON object, got {value!r}") from None
        if isinstance(value, dict):
            return dict(value)
        raise ValueError(f"{name} must be a JSON object, got {value!r}")
    raise AssertionError(f"unhandled field type {tp!r}")  # pragma: no cover


def field_names() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(TrainConfig))


def apply_overrides(config: TrainConfig | None = None, overrides: dict | None = None) -> TrainConfig:
    r"""A new :class:`TrainConfig`: ``config`` (default: the defaults) with ``overrides`` (field →
    value, strings parsed by the field type). An unknown field or a bad value raises ``ValueError``
    naming the field and listing the allowed fields or values."""
    base = {} if config is None else config.to_dict()
    if config is not None and config.run_name == f"{config.optimizer}-{config.model}-s{config.seed}":
        base["run_name"] = ""  # a derived name follows the overridden optimizer/model/seed
    hints = typing.get_type_hints(TrainConfig)
    names = field_names()
    for key, value in (overrides or {}).items():
        if key not in names:
            raise ValueError(f"unknown config field {key!r}; allowed fields: {', '.join(names)}")
        base[key] = _coerce(key, value, hints[key])
    return TrainConfig(**base)


def load_preset(path_or_name: str | os.PathLike) -> tuple[dict, list[dict]]:
    r"""Read a JSON preset: returns (base fields, list of per-run fields) (module docstring).

    ``path_or_name``: a path, or a name looked up as ``configs/<name>.json``.
    """
    p = Path(path_or_name)
    if not p.is_file():
        cand = CONFIG_DIR / (p.name if p.suffix == ".json" else p.name + ".json")
        if not cand.is_file():
            avail = sorted(q.stem for q in CONFIG_DIR.glob("*.json")) if CONFIG_DIR.is_dir() else []
            raise ValueError(f"config must be a JSON file or a preset name in {avail!r}, got {str(path_or_name)!r}")
        p = cand
    try:
        raw = json.loads(p.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"config {str(p)!r} is not valid JSON: {err}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"config {str(p)!r} must hold a JSON object, got {type(raw).__name__}")
    if "runs" not in raw and "base" not in raw:
        return {k: v for k, v in raw.items() if k != "description"}, [{}]
    extra = set(raw) - {"description", "base", "runs"}
    if extra:
        raise ValueError(f"config {str(p)!r}: a multi-run preset has the keys 'description', 'base' and 'runs', "
                         f"got also {sorted(extra)!r}")
    runs = raw.get("runs") or [{}]
    if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
        raise ValueError(f"config {str(p)!r}: 'runs' must be a list of JSON objects")
    names = [r.get("run_name") for r in runs]
    if len(runs) > 1 and (None in names or len(set(names)) != len(names)):
        raise ValueError(f"config {str(p)!r}: every run of a multi-run preset needs a distinct run_name, got {names!r}")
    return dict(raw.get("base") or {}), runs


def parse_args(argv: list[str]) -> tuple[list[TrainConfig], bool]:
    r"""The configs of a command line ``[--config NAME|PATH] [--run NAME[,NAME...]] [--FIELD VALUE ...]``
    (:func:`build_parser`). Returns (configs, help_requested); a bad option or value raises a
    one-line ``ValueError`` naming it.
    """
    configs, want_help, _ = _parse(argv)
    return configs, want_help


#: the first field of each section of :class:`TrainConfig` → the section's title in ``--help``
_SECTIONS = {"out_dir": "run", "model": "model", "data": "data", "optimizer": "optimizer", "max_steps": "schedule",
             "precision": "precision", "eval_every": "evaluation, logging, checkpoints"}
#: the option strings of a field whose option is not ``--<field with hyphens>`` (the first is the documented one;
#: the hyphen spelling of the field stays an alias)
_OPTION_NAMES = {"num_threads": ("--threads", "--num-threads")}
_MODEL_FIELDS = ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "dropout", "tie_embeddings")
_METAVARS = {int: "N", float: "X", str: "STR", dict: "JSON"}


class _Parser(_cli.Parser):
    """``convexlab train``'s parser (:func:`convexlab._cli.parser`'s grammar) whose errors raise a one-line
    ``ValueError`` instead of exiting, so that :func:`parse_args` (also used by
    :mod:`convexlab.llm.experiments`) reports them to its caller; :func:`main` prints them and exits 2."""

    def error(self, message: str):
        raise ValueError(" ".join(str(message).split()))


class _BoolAction(argparse.Action):
    """A bool field: ``--flag`` (true), ``--no-flag`` (false), ``--flag=VALUE`` or ``--flag VALUE``
    (true/false/yes/no/on/off/1/0, and none for an optional field). The value is kept as a string;
    :func:`apply_overrides` parses it with the field's type."""

    def __init__(self, option_strings, dest, default=None, help=None, metavar=None):
        strings = list(option_strings) + ["--no-" + s[2:] for s in option_strings]
        super().__init__(strings, dest, nargs="?", default=default, help=help, metavar=metavar)

    def __call__(self, parser, namespace, values, option_string=None):
        if option_string is not None and option_string.startswith("--no-"):
            if values is not None:
                parser.error(f"{option_string} takes no value, got {values!r}")
            values = "false"
        setattr(namespace, self.dest, "true" if values is None else values)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Bool options read ``--flag, --no-flag`` in ``--help`` (not ``--flag [BOOL], --no-flag [BOOL]``)."""

    def _format_action_invocation(self, action):
        if isinstance(action, _BoolAction):
            return ", ".join(action.option_strings)
        return super()._format_action_invocation(action)


def _default_text(f: dataclasses.Field) -> str:
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    if default is None:
        return "the model preset's" if f.name in _MODEL_FIELDS else "none"
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, dict):
        return json.dumps(default)
    return repr(default) if isinstance(default, str) else str(default)


def _allowed_text(f: dataclasses.Field) -> str:
    allowed = f.metadata.get("allowed")
    if allowed is None:
        return ""
    if callable(allowed) and not isinstance(allowed, tuple):
        allowed = allowed()
    if isinstance(allowed, tuple) and len(allowed) == 2 and callable(allowed[0]):
        return allowed[1]
    return "one of " + ", ".join(map(str, allowed))


def _field_type(name: str):
    """(base type, optional) of a :class:`TrainConfig` field."""
    tp = typing.get_type_hints(TrainConfig)[name]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(tp) if a is not type(None)), True
    return tp, False


def build_parser() -> argparse.ArgumentParser:
    r"""The parser of ``convexlab train`` (the grammar of :mod:`convexlab._cli`): ``--config``,
    ``--run`` (a list: commas and/or spaces) and one option per :class:`TrainConfig` field,
    spelled with hyphens (``--max-steps``; the underscore spelling ``--max_steps`` is the same
    option), ``--key value`` or ``--key=value``; bool fields are ``--flag`` / ``--no-flag`` /
    ``--flag=true|false``; ``num_threads`` is ``--threads`` (``--num-threads`` is the same option).
    Every option's help gives the field's help text, allowed values and default. Field options
    default to ``argparse.SUPPRESS``: the namespace holds only what the command line gave, as
    strings (:func:`apply_overrides` parses and checks them). Errors raise a one-line ``ValueError``."""
    p = _Parser(
        prog="convexlab train", formatter_class=_HelpFormatter, allow_abbrev=False,
        usage="convexlab train [--config NAME|PATH] [--run NAME[,NAME...]] [--resume] [--FIELD VALUE ...]",
        description="Train the GPT of convexlab.llm.model with any registry optimizer.\n\n"
                    "Every field of the run's TrainConfig is an option: `--key value` or `--key=value`,\n"
                    "spelled with hyphens; the underscore spelling is the same option (--out_dir=runs is\n"
                    "--out-dir runs). Yes/no fields are `--flag`, `--no-flag` or `--flag=true|false`.\n"
                    "A preset (--config) comes first, the command line on top; with --resume the run's\n"
                    "saved config.json replaces the preset.",
        epilog="examples:\n"
               "  convexlab train --config toy_cpu\n"
               "  convexlab train --config toy_cpu --optimizer StoSignSGD --lr 3e-4 --precision fp8\n"
               "  convexlab train --config toy_cpu --resume --max-steps 400\n"
               "  convexlab train --config fp8_cpu --run adamw,stosignsgd --max-steps 40 --no-progress")
    p.add_argument("--config", metavar="NAME|PATH", default=None,
                   help="a JSON preset: a path, or NAME for configs/NAME.json (one run, or a base and several runs)")
    _cli.add_list(p, "run", metavar="NAME",
                  help="the runs of a multi-run preset to train, by run_name (commas and/or spaces; default: all)")
    group = p
    for f in dataclasses.fields(TrainConfig):
        if f.name in _SECTIONS:
            group = p.add_argument_group(f"{_SECTIONS[f.name]} options")
        tp, optional = _field_type(f.name)
        notes = [_allowed_text(f), f"default {_default_text(f)}"]
        if optional:
            notes.append("'none' resets it")
        text = f"{f.metadata['help']} [{'; '.join(n for n in notes if n)}]".replace("%", "%%")
        names = _OPTION_NAMES.get(f.name, ("--" + f.name.replace("_", "-"),))
        if tp is bool:
            group.add_argument(*names, dest=f.name, action=_BoolAction, default=argparse.SUPPRESS, help=text)
        else:
            group.add_argument(*names, dest=f.name, default=argparse.SUPPRESS, metavar=_METAVARS[tp], help=text)
    return p


def _parse(argv: list[str]) -> tuple[list[TrainConfig], bool, dict]:
    """:func:`parse_args` plus the command line's own field overrides (field → string, as given)."""
    argv = [str(a) for a in argv]
    if any(a in ("-h", "--help") for a in argv):
        return [], True, {}
    p = build_parser()
    ns, rest = p.parse_known_args(argv)
    if rest:
        a = rest[0]
        if a.startswith("--"):
            opt = a.partition("=")[0]
            key = opt[2:].replace("-", "_")
            options = [act.option_strings[0] for act in p._actions if act.option_strings[0] not in ("-h", "--help")]
            near = difflib.get_close_matches(opt, options, n=1)
            hint = f"did you mean {near[0]}? " if near else ""
            raise ValueError(f"unknown config field {key!r} (option {opt}); {hint}allowed: {', '.join(options)}")
        raise ValueError(f"arguments must look like --key value or --key=value, got {a!r}")
    fields = vars(ns)
    preset, picks = fields.pop("config"), fields.pop("run")
    if picks is not None and not picks:
        raise ValueError("run must name at least one run of the preset, got none")
    base, runs = load_preset(preset) if preset is not None else ({}, [{}])
    if picks is not None:
        known = [r.get("run_name") for r in runs]
        missing = [q for q in picks if q not in known]
        if missing:
            raise ValueError(f"run must name runs of the preset {known!r}, got {missing!r}")
        runs = [r for r in runs if r.get("run_name") in picks]
    configs = []
    for run in runs:
        cfg = apply_overrides(None, {**base, **run})
        configs.append(apply_overrides(cfg, fields))
    return configs, False, fields


def usage() -> str:
    """``convexlab train --help``: every option with its help text, allowed values and default."""
    return build_parser().format_help().rstrip("\n")


# ---------------------------------------------------------------------------------------------
# pieces of a run
# ---------------------------------------------------------------------------------------------
class NonFiniteLossError(RuntimeError):
    """The training loss (or a gradient) became NaN/inf; ``step``, ``groups`` and ``checkpoint_step`` say where."""

    def __init__(self, message: str, step: int, groups: list[dict], checkpoint_step: int | None):
        super().__init__(message)
        self.step = step
        self.groups = groups
        self.checkpoint_step = checkpoint_step


@dataclass
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owned: bool = False  # this call initialised the process group (and destroys it)

    @property
    def on(self) -> bool:
        return self.world > 1


def _init_distributed(device: str) -> _Dist:
    """Join the process group of ``torchrun`` (env://) or an already initialised one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return _Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local)
    dist.init_process_group("nccl" if use_cuda else "gloo", init_method="env://", rank=rank, world_size=world,
                            timeout=timedelta(minutes=10))
    return _Dist(rank, world, local, owned=True)


def _resolve_device(cfg: TrainConfig, d: _Dist) -> torch.device:
    if cfg.device == "cpu" or (cfg.device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError(f"device must be 'cpu' or 'auto' on a machine without CUDA, got {cfg.device!r}")
    if d.on:
        return torch.device("cuda", d.local_rank)
    return torch.device(cfg.device if cfg.device.startswith("cuda:") else "cuda")


def peak_flops(cfg: TrainConfig, device: torch.device) -> float | None:
    """Peak FLOP/s of one device: the config's value, else :data:`PEAK_FLOPS` by device name, else None."""
    if cfg.peak_flops is not None:
        return cfg.peak_flops
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for frag, v in PEAK_FLOPS if frag in name), None)


def _load_tokens(cfg: TrainConfig):
    from convexlab.llm import data as data_mod

    if cfg.data == "default":
        raw = data_mod.default_corpus()
        src = "default"
    else:
        paths = [p.strip() for p in cfg.data.split(",") if p.strip()]
        missing = [p for p in paths if not Path(p).is_file()]
        if not paths or missing:
            raise ValueError(f"data must be 'default' or comma-separated existing files, got {cfg.data!r} "
                             f"(missing: {missing!r})")
        if all(p.endswith(".bin") for p in paths):
            parts = [data_mod.load_bin(p) for p in paths]
            raw = parts[0] if len(parts) == 1 else np.concatenate([np.asarray(_tokens_of(q)) for q in parts])
        else:
            raw = data_mod.load_text(paths)
        src = paths
    return _as_token_data(raw, cfg.val_fraction), src


def _tokens_of(obj) -> np.ndarray:
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return np.frombuffer(bytes(obj), dtype=np.uint8).astype(np.uint16)
    if isinstance(obj, torch.Tensor):
        return obj.numpy().astype(np.uint16)
    return np.asarray(obj)


def _as_token_data(obj, val_fraction: float):
    from convexlab.llm.data import TokenData

    if isinstance(obj, TokenData):
        return obj
    return TokenData(_tokens_of(obj), val_fraction=val_fraction)


def _max_token(data) -> int | None:
    toks = getattr(data, "tokens", None)
    if toks is None:
        return None
    return int(np.asarray(toks).max()) if len(toks) else None


def model_config(cfg: TrainConfig):
    """The :class:`convexlab.llm.model.GPTConfig` of ``cfg``: the preset with the overrides."""
    from convexlab.llm.model import PRESETS

    over = {k: getattr(cfg, k) for k in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "dropout",
                                          "tie_embeddings") if getattr(cfg, k) is not None}
    return dataclasses.replace(PRESETS[cfg.model], **over)


def _opt_kwargs(kwargs: dict) -> dict:
    """JSON values as optimizer arguments: lists → tuples, dtype names → torch dtypes."""
    out = {}
    for k, v in kwargs.items():
        if isinstance(v, list):
            v = tuple(v)
        if isinstance(v, str) and k.endswith("dtype"):
            dt = getattr(torch, v, None)
            if not isinstance(dt, torch.dtype):
                raise ValueError(f"opt_kwargs[{k!r}] must name a torch dtype (e.g. 'float32'), got {v!r}")
            v = dt
        out[k] = v
    return out


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    r"""The optimizer of ``cfg`` (:func:`_build_optimizer`); an unknown ``opt_kwargs`` or
    ``aux_kwargs`` key raises a one-line ``ValueError`` naming the field and the key."""
    import re

    try:
        opt = _build_optimizer(model, cfg)
    except TypeError as err:
        m = re.search(r"unexpected keyword argument '([^']+)'", str(err))
        if m is None:
            raise
        key = m.group(1)
        where = "opt_kwargs" if key in cfg.opt_kwargs else "aux_kwargs" if key in cfg.aux_kwargs else "opt_kwargs"
        raise ValueError(f"{where} has an unknown key {key!r} for optimizer {cfg.optimizer} "
                         f"({' '.join(str(err).split())})") from None
    warn_long_warmup(opt, cfg.warmup_steps, cfg.max_steps)
    return opt


#: a warmup longer than this share of the run is warned about (the run spends most of its steps warming up)
WARMUP_SHARE = 0.5


def warn_long_warmup(opt, warmup_steps: int, max_steps: int) -> None:
    """Warn (one line) when the learning-rate warmup, the schedule's or a schedule-free optimizer's
    internal ``warmup_steps`` (SF-NorMuon defaults to 2000), exceeds :data:`WARMUP_SHARE` of
    ``max_steps``."""
    longest = max([warmup_steps] + [int(g.get("warmup_steps", 0)) for g in opt.param_groups])
    if max_steps > 0 and longest > WARMUP_SHARE * max_steps:
        warnings.warn(f"warmup_steps={longest} is {longest / max_steps:.0%} of max_steps={max_steps}: the run spends "
                      f"more than {WARMUP_SHARE:.0%} of its steps warming up (set warmup_steps, or opt_kwargs "
                      "warmup_steps for a schedule-free optimizer)", UserWarning, stacklevel=2)


def _build_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    r"""The optimizer of ``cfg`` for ``model`` with the routing of the module docstring.

    Param groups carry ``name`` ("matrix", "adamw", "decay", "no_decay") and ``param_names``.
    A schedule-free optimizer gets ``warmup_steps = cfg.warmup_steps`` unless ``opt_kwargs`` sets it.
    The optimizer's seed is ``cfg.seed`` (identical on every rank).
    """
    from convexlab.optim import REGISTRY, MatrixAndAdamW, ScheduleFreeMixin, split_params

    cls = REGISTRY[cfg.optimizer]
    kw = _opt_kwargs(cfg.opt_kwargs)
    kw.setdefault("seed", cfg.seed)
    if issubclass(cls, ScheduleFreeMixin):
        kw.setdefault("warmup_steps", cfg.warmup_steps)
    if getattr(cls, "matrix_only", False):
        mat, other = split_params(model, names=True)
        mgroup = {"params": [p for _, p in mat], "param_names": [n for n, _ in mat], "name": "matrix"}
        ogroups = [{"params": [p for _, p in other], "param_names": [n for n, _ in other], "name": "adamw"}] if other else []
        akw = _opt_kwargs(cfg.aux_kwargs)
        if cfg.aux_lr is not None:
            akw["lr"] = cfg.aux_lr
        akw.setdefault("seed", cfg.seed)
        _check_kwargs(cls, "opt_kwargs", kw)
        return MatrixAndAdamW([mgroup], ogroups, cls, matrix_kwargs=dict(lr=cfg.lr, weight_decay=cfg.weight_decay, **kw),
                              adamw_kwargs=akw, all_params=[p for p in model.parameters() if p.requires_grad])
    seen, decay, no_decay = set(), [], []
    for n, p in model.named_parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        (decay if p.ndim >= 2 else no_decay).append((n, p))
    groups = [{"params": [p for _, p in ps], "param_names": [n for n, _ in ps], "name": name, "weight_decay": wd}
              for name, ps, wd in (("decay", decay, cfg.weight_decay), ("no_decay", no_decay, 0.0)) if ps]
    return _construct(cls, "opt_kwargs", groups, lr=cfg.lr, **kw)


def _construct(cls, field_name: str, *args, **kw):
    """``cls(*args, **kw)`` after :func:`_check_kwargs`."""
    _check_kwargs(cls, field_name, kw)
    return cls(*args, **kw)


def _check_kwargs(cls, field_name: str, kw: dict) -> None:
    """An unknown keyword argument of ``cls`` raises a one-line ``ValueError`` naming
    ``field_name``, the key and the keywords ``cls`` accepts (instead of a ``TypeError`` traceback)."""
    import inspect

    try:
        sig = inspect.signature(cls.__init__)
    except (TypeError, ValueError):  # pragma: no cover - no introspectable signature
        sig = None
    if sig is not None and not any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        names = [n for n, p in sig.parameters.items() if n not in ("self", "params")
                 and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        unknown = sorted(set(kw) - set(names))
        if unknown:
            raise ValueError(f"{field_name} has unknown key(s) {unknown!r} for {cls.__name__}; "
                             f"allowed: {', '.join(n for n in names if n not in ('seed',))}")


def is_schedule_free(opt) -> bool:
    from convexlab.optim import ScheduleFreeMixin

    parts = getattr(opt, "parts", [opt])
    return any(isinstance(p, ScheduleFreeMixin) for p in parts)


def _micro_batches(data, cfg: TrainConfig, d: _Dist, gen: torch.Generator, split: str, device):
    """This rank's micro-batches of one global batch (module docstring: rank-major blocks)."""
    from convexlab.llm.data import get_batch

    B, A = cfg.batch_size, cfg.grad_accum
    x, y = get_batch(data, split, B * A * d.world, _block(cfg), gen)
    out = []
    for i in range(A):
        lo = (d.rank * A + i) * B
        out.append((x[lo:lo + B].to(device, non_blocking=True), y[lo:lo + B].to(device, non_blocking=True)))
    return out


def _block(cfg: TrainConfig) -> int:
    return model_config(cfg).block_size


def _autocast(cfg: TrainConfig, device: torch.device):
    if cfg.precision == "fp32":
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _all_reduce_sum(t: torch.Tensor, d: _Dist) -> torch.Tensor:
    if d.on:
        import torch.distributed as dist

        dist.all_reduce(t)
    return t


@torch.no_grad()
def evaluate(model, data, cfg: TrainConfig, d: _Dist, device) -> float:
    r"""Mean validation loss over ``eval_batches`` fixed global batches (the same batches at every
    evaluation: a generator seeded from ``seed`` alone), each rank evaluating its blocks."""
    gen = torch.Generator().manual_seed(cfg.seed + 2)
    was = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=device)
    for _ in range(cfg.eval_batches):
        for x, y in _micro_batches(data, cfg, d, gen, "val", device):
            with _autocast(cfg, device):
                _, loss = model(x, y, return_logits=False)
            total += loss.detach().double()
    model.train(was)
    total = _all_reduce_sum(total, d)
    return float(total) / (cfg.eval_batches * cfg.grad_accum * d.world)


def _group_label(g: dict, i: int) -> str:
    return str(g.get("name", f"group{i}"))


@torch.no_grad()
def _diagnose(opt) -> list[dict]:
    """Param groups holding non-finite weights or gradients, with the parameters concerned."""
    bad = []
    for gi, g in enumerate(opt.param_groups):
        names = g.get("param_names") or [f"param{i}" for i in range(len(g["params"]))]
        w_bad = [n for n, p in zip(names, g["params"]) if not bool(torch.isfinite(p).all())]
        g_bad = [n for n, p in zip(names, g["params"]) if p.grad is not None and not bool(torch.isfinite(p.grad).all())]
        if w_bad or g_bad:
            bad.append({"group": _group_label(g, gi), "nonfinite_weights": w_bad, "nonfinite_grads": g_bad})
    return bad


@torch.no_grad()
def _largest_weights(opt) -> str:
    best = (-1.0, "", "")
    for gi, g in enumerate(opt.param_groups):
        names = g.get("param_names") or [f"param{i}" for i in range(len(g["params"]))]
        for n, p in zip(names, g["params"]):
            rms = float(p.detach().float().square().mean().sqrt())
            if rms > best[0]:
                best = (rms, _group_label(g, gi), n)
    return f"the largest weight RMS is {best[0]:.3g} in group {best[1]!r} (parameter {best[2]!r})"


def _nonfinite(opt, step: int, loss: float, lr: float, run_dir: Path, last_ckpt: int | None, why: str) -> NonFiniteLossError:
    groups = _diagnose(opt)
    if groups:
        where = "; ".join(
            f"group {b['group']!r}: " + ", ".join(
                ([f"non-finite weights in {b['nonfinite_weights']}"] if b["nonfinite_weights"] else [])
                + ([f"non-finite gradients in {b['nonfinite_grads']}"] if b["nonfinite_grads"] else []))
            for b in groups)
    else:
        where = "no parameter group holds non-finite weights or gradients (the forward pass overflowed); " + \
            _largest_weights(opt)
    kept = (f"the last good checkpoint (step {last_ckpt}) is kept at {ckpt_mod.checkpoint_path(run_dir)}"
            if last_ckpt is not None else "no checkpoint was written before it")
    msg = f"{why} at step {step} (loss {loss}, lr {lr:.3g}): {where}; {kept}"
    return NonFiniteLossError(msg, step, groups, last_ckpt)


def _applied_lrs(opt) -> dict[str, float]:
    r"""The step size each param group applied in the last step, by group name (``name``, else
    ``group<i>``; a repeated name gets ``#<i>``): ``scheduled_lr`` where the group has it (a
    schedule-free optimizer's η_t, its internal warmup included), else ``lr``."""
    out: dict[str, float] = {}
    for i, g in enumerate(opt.param_groups):
        key = _group_label(g, i)
        if key in out:
            key = f"{key}#{i}"
        v = g.get("scheduled_lr", g["lr"])
        out[key] = float(v)  # a tensor-valued lr would be read back here
    return out


@torch.no_grad()
def _update_rms(params: list, before: list) -> float:
    r"""RMS of x_{t+1} − x_t over all parameters, √(Σ_p ‖x_p' − x_p‖² / Σ_p n_p), with one read-back:
    per-tensor norms of the differences (in at least fp32), squared and summed in float64 on the device."""
    if not params:
        return 0.0
    diffs = [p.detach().float() - b.float() for p, b in zip(params, before)]
    norms = torch._foreach_norm(diffs, 2)
    sq = torch.stack([n.double().to(norms[0].device) for n in norms]).square().sum()
    return math.sqrt(float(sq) / max(1, sum(t.numel() for t in diffs)))


def _write_jsonl(path: Path, rec: dict) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(rec) + "\n")


def _parse_log(path: Path) -> list[tuple[str, dict]]:
    """(line, record) pairs of a ``log.jsonl``. A last line that is not valid JSON (a write torn
    by a kill) is dropped with a warning; an invalid line before the last raises a one-line
    ``ValueError`` naming the file and the line."""
    import warnings

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


def _truncate_log(path: Path, step: int) -> None:
    """Keep the log records up to ``step`` (those written after the checkpoint are replayed);
    a torn last line is dropped (:func:`_parse_log`)."""
    if not path.is_file():
        return
    keep = [ln for ln, rec in _parse_log(path) if rec.get("step", 0) <= step]
    from convexlab._io import atomic_write

    atomic_write(path, "".join(ln + "\n" for ln in keep))


def _json_default(o):
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


def resume_check(saved: dict, cfg: TrainConfig, step: int, *, source: str) -> list[tuple[str, Any, Any]]:
    r"""Compare ``cfg`` with the ``saved`` config of the run being resumed (the checkpoint's, or
    ``config.json``'s): a changed field outside :data:`RESUME_SAFE` raises a one-line
    ``ValueError`` naming every such field with both values; ``max_steps`` below the checkpoint's
    ``step`` is refused. Returns the allowed changes as (field, saved, now) triples. Fields the
    saved config lacks (an older version) are not compared."""
    now = cfg.to_dict()
    changed = [(k, saved[k], now[k]) for k in field_names() if k in saved and saved[k] != now[k]]
    allowed = RESUME_SAFE | {k.strip() for k in cfg.resume_allow.split(",") if k.strip()}
    bad = [(k, a, b) for k, a, b in changed if k not in allowed]
    if bad:
        what = ", ".join(f"{k} (saved {a!r}, now {b!r})" for k, a, b in bad)
        may = ", ".join(sorted(RESUME_SAFE - {"resume", "overwrite", "out_dir", "run_name"}))
        raise ValueError(f"resume: {what} {'differs' if len(bad) == 1 else 'differ'} from {source}; only {may} may "
                         f"change on resume: drop the change, allow it with --resume-allow {','.join(k for k, _, _ in bad)}, "
                         f"or start a new run with another --run-name (or --overwrite)")
    if cfg.max_steps < step:
        raise ValueError(f"resume: max_steps must be >= the checkpoint's step {step}, got {cfg.max_steps}")
    return [c for c in changed if c[0] not in ("resume", "resume_allow", "overwrite", "out_dir", "run_name")]


def resume_config(cfg: TrainConfig, explicit: dict) -> TrainConfig:
    r"""The config that ``--resume`` runs: when the run directory holds a checkpoint and a
    ``config.json``, the saved fields with only the command line's ``explicit`` overrides (field →
    value) on top (a preset's values yield to the saved ones; ``resume`` stays true). A changed
    field outside :data:`RESUME_SAFE` raises a one-line ``ValueError`` (:func:`resume_check`).
    Without a checkpoint ``cfg`` is returned unchanged (the run starts fresh)."""
    run_dir = Path(cfg.out_dir) / cfg.run_name
    ck = ckpt_mod.checkpoint_path(run_dir)
    cj = run_dir / "config.json"
    if not cfg.resume or not (ck.is_file() or ckpt_mod.previous_path(ck).is_file()) or not cj.is_file():
        return cfg
    try:
        saved = json.loads(cj.read_text())
    except (ValueError, OSError) as err:
        raise ValueError(f"resume: {cj} cannot be read ({err}); it holds the run's config") from None
    if not isinstance(saved, dict):
        raise ValueError(f"resume: {cj} must hold a JSON object, got {type(saved).__name__}")
    fields = {k: v for k, v in saved.items() if k in field_names()}
    fields.update(out_dir=cfg.out_dir, run_name=cfg.run_name, resume=True, overwrite=cfg.overwrite)
    base = apply_overrides(None, fields)
    new = apply_overrides(base, {**explicit, "out_dir": cfg.out_dir, "run_name": cfg.run_name})
    step = ckpt_mod.checkpoint_step(run_dir)
    resume_check(base.to_dict(), new, step if step is not None else 0, source=str(cj))
    return new


# ---------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------
def train(config: TrainConfig, *, on_step: Callable[[int, dict], None] | None = None) -> Path:
    r"""Run one training job (module docstring); returns the run directory.

    ``on_step(step, record)`` is called after each step's log record and checkpoint (tests use it).
    Raises :class:`NonFiniteLossError` when the loss or a gradient becomes non-finite.
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    cfg = config
    from convexlab.llm.model import GPT

    d = _init_distributed(cfg.device)
    try:
        return _train(cfg, d, GPT, on_step)
    finally:
        if d.owned:
            import torch.distributed as dist

            dist.destroy_process_group()


def _train(cfg: TrainConfig, d: _Dist, GPT, on_step) -> Path:
    from tqdm import tqdm

    from convexlab.precision import emulated_step, state_statistics, weighted_share

    t_wall = time.perf_counter()
    device = _resolve_device(cfg, d)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    elif device.type == "cpu" and cfg.model in ONE_THREAD_MODELS:
        torch.set_num_threads(1)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    run_dir = Path(cfg.out_dir) / cfg.run_name
    log_path = run_dir / "log.jsonl"
    ck_path = ckpt_mod.checkpoint_path(run_dir)
    prev_path = ckpt_mod.previous_path(ck_path)
    state = None
    if d.rank == 0:
        ckpt_mod.remove_stale_tmp(run_dir)
    if cfg.resume:
        found = ckpt_mod.load_latest(run_dir, map_location=device)
        if found is not None:
            state = found[0]
    elif d.rank == 0 and (log_path.exists() or ck_path.exists() or prev_path.exists()) and not cfg.overwrite:
        raise ValueError(f"run directory {run_dir} already holds a run; pass --resume to continue it or "
                         "--overwrite to replace it (or choose another --run-name)")
    resume_changes = {}
    if state is not None:
        resume_changes = resume_check(state.get("config") or {}, cfg, int(state["step"]),
                                      source=f"the checkpoint in {run_dir}")

    # the same seeds on every rank: identical initial weights (DDP also broadcasts rank 0's)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    import random

    random.seed(cfg.seed)
    data, data_src = _load_tokens(cfg)
    mcfg = model_config(cfg)
    top = _max_token(data)
    if top is not None and top >= mcfg.vocab_size:
        raise ValueError(f"vocab_size must exceed the largest token id {top} of the data, got {mcfg.vocab_size} "
                         f"(model preset {cfg.model!r}); pass --vocab-size N")
    model = GPT(mcfg).to(device)
    if cfg.precision == "fp8":  # bf16 master weights from the start
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.to(torch.bfloat16).to(p.dtype))
    opt = build_optimizer(model, cfg)
    sf = is_schedule_free(opt)
    sched_name = cfg.schedule if cfg.schedule != "auto" else ("constant" if sf else "cosine")
    # a schedule-free optimizer warms up internally: no second warmup in the multiplier
    sched = make_schedule(sched_name, cfg.max_steps, 0 if sf else min(cfg.warmup_steps, cfg.max_steps),
                          cfg.min_lr_ratio, cfg.decay_frac)
    base_lrs = [g["lr"] for g in opt.param_groups]
    data_gen = torch.Generator().manual_seed(cfg.seed + 1)
    start = 0
    last_ckpt = None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        data_gen.set_state(state["data"])
        ckpt_mod.set_rng_state(state["rng"])
        start = last_ckpt = int(state["step"])
        if d.rank == 0:
            _truncate_log(log_path, start)
    elif d.rank == 0:  # a fresh start (overwrite, or resume without a checkpoint): no stale records
        for p in (log_path, ck_path, ck_path.with_name(ck_path.name + ".json"), prev_path, run_dir / "summary.json",
                  *run_dir.glob("table12_step*.json")):
            p.unlink(missing_ok=True)

    train_model = model
    if d.on:
        from torch.nn.parallel import DistributedDataParallel as DDP

        train_model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    fwd = torch.compile(train_model) if cfg.compile else train_model

    tokens_per_step = cfg.batch_size * cfg.grad_accum * d.world * mcfg.block_size
    fpt = float(model.flops_per_token())
    peak = peak_flops(cfg, device)
    resolved = {**cfg.to_dict(), "schedule_resolved": sched_name, "world_size": d.world,
                "tokens_per_step": tokens_per_step, "model_config": dataclasses.asdict(mcfg),
                "num_params": model.num_params(non_embedding=False), "flops_per_token": fpt, "data_source": data_src}
    if d.rank == 0:
        from convexlab._io import atomic_write

        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(run_dir / "config.json", json.dumps(resolved, indent=2, default=_json_default) + "\n")
        meta = {**provenance(), "device": str(device),
                "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
                "peak_flops": peak, "world_size": d.world, "resumed_from": last_ckpt,
                "resume_changes": {k: {"saved": a, "now": b} for k, a, b in resume_changes} or None,
                "num_threads": torch.get_num_threads() if device.type == "cpu" else None, "argv": sys.argv}
        atomic_write(run_dir / "meta.json", json.dumps(meta, indent=2, default=_json_default) + "\n")

    def save(step: int) -> None:
        nonlocal last_ckpt
        # every rank checks (the replicas are identical), so all stop together
        if _diagnose(opt):  # never overwrite the last good checkpoint with non-finite weights
            raise _nonfinite(opt, step, float("nan"), opt.param_groups[0]["lr"], run_dir, last_ckpt,
                             "non-finite weights before a checkpoint")
        if d.rank == 0:
            ckpt_mod.save_checkpoint(ck_path, {
                "model": model.state_dict(), "optimizer": opt.state_dict(), "data": data_gen.get_state(),
                "rng": ckpt_mod.rng_state(), "step": step, "tokens": step * tokens_per_step, "config": cfg.to_dict()})
        last_ckpt = step
        if d.on:
            import torch.distributed as dist

            dist.barrier()

    def run_eval() -> float:
        if not sf:
            return evaluate(model, data, cfg, d, device)
        # schedule-free: the parameters hold x for the evaluation. The switch y → x → y is not
        # exact in floating point, so y is restored from a copy: evaluating never perturbs training.
        saved = [p.detach().clone() for p in params]
        with opt.evaluating():
            v = evaluate(model, data, cfg, d, device)
        with torch.no_grad():
            for p, y in zip(params, saved):
                p.copy_(y)
        return v

    params = [p for g in opt.param_groups for p in g["params"]]
    if start == 0:  # the loss at initialization (every rank takes part in the evaluation's all-reduce)
        v0 = run_eval()
        if d.rank == 0:
            _write_jsonl(log_path, {"step": 0, "tokens": 0, "val_loss": v0})
            tqdm.write(_val_line(0, cfg.max_steps, v0, None), file=sys.stdout)

    last_val = None
    t_loop = time.perf_counter()
    bar = tqdm(total=cfg.max_steps, initial=start, disable=not cfg.progress or d.rank != 0, unit="step",
               dynamic_ncols=True, file=sys.stderr)
    model.train()
    try:
        for it in range(start, cfg.max_steps):
            step = it + 1  # steps completed after this iteration
            factor = sched(it)
            for g, lr0 in zip(opt.param_groups, base_lrs):
                g["lr"] = lr0 * factor
            lr = opt.param_groups[0]["lr"]
            # a logging step: the statistics that need a parameter copy or a device synchronisation
            measure = step % cfg.log_every == 0 or step == cfg.max_steps
            t0 = time.perf_counter()
            batches = _micro_batches(data, cfg, d, data_gen, "train", device)
            opt.zero_grad(set_to_none=True)
            loss_sum = torch.zeros((), dtype=torch.float32, device=device)
            for i, (x, y) in enumerate(batches):
                sync = train_model.no_sync() if (d.on and i < len(batches) - 1) else nullcontext()
                with sync:
                    with _autocast(cfg, device):
                        _, loss = fwd(x, y, return_logits=False)
                    (loss / cfg.grad_accum).backward()
                loss_sum += loss.detach().float()
            loss_sum = _all_reduce_sum(loss_sum, d)
            grads = [p.grad for p in params if p.grad is not None]
            gnorm_t = torch.nn.utils.get_total_norm(grads, 2.0) if grads else torch.zeros((), device=device)
            # the step's one read-back: loss and gradient norm together (float64 holds both fp32 values exactly)
            loss_val, gnorm = torch.stack([loss_sum.double(), gnorm_t.double().to(loss_sum.device)]).tolist()
            loss_val /= cfg.grad_accum * d.world
            if not math.isfinite(loss_val):
                raise _nonfinite(opt, step, loss_val, lr, run_dir, last_ckpt, "non-finite training loss")
            if not math.isfinite(gnorm):
                raise _nonfinite(opt, step, loss_val, lr, run_dir, last_ckpt, "non-finite gradient")
            if cfg.grad_clip > 0:  # the norm stays on the device: no second read-back
                torch.nn.utils.clip_grads_with_norm_(params, cfg.grad_clip, gnorm_t)
            before = [p.detach().clone() for p in params] if measure else None
            try:
                if cfg.precision == "fp8":
                    emulated_step(opt, grad_fmt="e5m2", state_fmt="e4m3", master_dtype=torch.bfloat16,
                                  saturate=cfg.fp8_saturate)
                else:
                    opt.step()
            except ValueError as err:  # the optimizer's own non-finite gradient check
                if "non-finite" not in str(err):
                    raise
                raise _nonfinite(opt, step, loss_val, lr, run_dir, last_ckpt, f"non-finite gradient ({err})") from err
            lrs = _applied_lrs(opt)
            upd = None
            if measure:
                upd = _update_rms(params, before)
                del before
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
            dt = time.perf_counter() - t0
            tps = tokens_per_step / dt if dt > 0 else None
            rec = {"step": step, "loss": loss_val, "lr": next(iter(lrs.values())), "lrs": lrs, "lr_factor": factor,
                   "tokens": step * tokens_per_step,
                   "tokens_per_s": tps, "mfu": (fpt * tps / (peak * d.world)) if (peak and tps) else None,
                   "update_rms": upd, "grad_norm": gnorm, "step_time_s": dt}
            if cfg.stats_step and step == cfg.stats_step:
                rows = state_statistics(opt, "e4m3", cfg.fp8_saturate, names=list(model.named_parameters()))
                summary = {}
                for key in ("v_zeros", "m_zeros"):
                    try:
                        summary[key] = weighted_share(rows, key)
                    except ValueError:
                        pass
                if d.rank == 0:
                    from convexlab._io import atomic_write

                    atomic_write(run_dir / f"table12_step{step}.json",
                                 json.dumps({"step": step, "precision": cfg.precision, "optimizer": cfg.optimizer,
                                             "overall": summary, "rows": rows}, indent=1, default=_json_default) + "\n")
                rec["state_stats"] = summary
            if (cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.max_steps:
                rec["val_loss"] = run_eval()
                if not math.isfinite(rec["val_loss"]):
                    raise _nonfinite(opt, step, rec["val_loss"], lr, run_dir, last_ckpt, "non-finite validation loss")
                last_val = rec["val_loss"]
                if d.rank == 0:  # one line per evaluation, above the bar (or alone with --no-progress)
                    tqdm.write(_val_line(step, cfg.max_steps, last_val, loss_val), file=sys.stdout)
            if d.rank == 0:
                _write_jsonl(log_path, rec)
            if (cfg.checkpoint_every and step % cfg.checkpoint_every == 0) or step == cfg.max_steps:
                save(step)
            bar.update(1)
            post = {"loss": f"{loss_val:.4f}"}
            if last_val is not None:
                post["val"] = f"{last_val:.4f}"
            post["tok_s"] = f"{tps:,.0f}" if tps else "-"
            bar.set_postfix(post, refresh=False)
            if on_step is not None:
                on_step(step, rec)
    except NonFiniteLossError as err:
        if d.rank == 0:
            _write_jsonl(log_path, {"step": err.step, "event": "nonfinite", "message": str(err), "groups": err.groups})
            from convexlab._io import atomic_write

            atomic_write(run_dir / "summary.json", json.dumps(
                {"status": "nonfinite", "step": err.step, "message": str(err), "checkpoint_step": last_ckpt}) + "\n")
        raise
    finally:
        bar.close()
    if d.rank == 0:
        from convexlab._io import atomic_write

        t_end = time.perf_counter()
        recs = read_log(run_dir)
        vals = [r for r in recs if r.get("val_loss") is not None]
        best = min(vals, key=lambda r: r["val_loss"]) if vals else None
        loop_s = t_end - t_loop
        trained = (cfg.max_steps - start) * tokens_per_step
        atomic_write(run_dir / "summary.json", json.dumps(
            {"status": "done", "steps": cfg.max_steps, "tokens": cfg.max_steps * tokens_per_step,
             "final_val_loss": vals[-1]["val_loss"] if vals else None,
             "final_loss": next((r["loss"] for r in reversed(recs) if "loss" in r), None),
             "best_val_loss": best["val_loss"] if best else None, "best_val_step": best["step"] if best else None,
             "resumed_from": start or None, "session_steps": cfg.max_steps - start,
             "wall_time_s": t_end - t_wall, "train_time_s": loop_s,
             "tokens_per_s": trained / loop_s if trained and loop_s > 0 else None}, indent=2) + "\n")
    return run_dir


def main(argv: list[str] | None = None) -> int:
    """Command line (module docstring). Returns the exit status: 0, 1 on a non-finite loss, 2 on bad arguments."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        configs, want_help, explicit = _parse(argv)
    except ValueError as err:  # a bad option or value: one line, the grammar of convexlab._cli
        print(f"convexlab train: error: {_one_line(err)} (see `convexlab train --help`)", file=sys.stderr)
        return 2
    if want_help:
        print(usage())
        return 0
    import warnings

    for cfg in configs:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always")
                warnings.showwarning = _show_warning
                cfg = resume_config(cfg, explicit)
                run_dir = train(cfg)
        except NonFiniteLossError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        except (ValueError, FileNotFoundError) as err:  # a user error: one line, no traceback
            print(f"error: {_one_line(err)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"\n{_interrupt_message(cfg, argv, len(configs) > 1)}", file=sys.stderr)
            return 130
        print(f"run {cfg.run_name}: {run_dir}")
        print(final_summary(run_dir))
    return 0


def _val_line(step: int, max_steps: int, val: float, loss: float | None) -> str:
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


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {_one_line(message) if isinstance(message, Warning) else message}", file=sys.stderr)


def _option_like(token: str) -> bool:
    """Whether argparse reads ``token`` as an option (not a value such as ``-1`` or ``-0.5``)."""
    import re

    return token.startswith("-") and token != "-" and re.fullmatch(r"-\d+|-\d*\.\d+", token) is None


def _without_options(argv: list[str], drop: tuple[str, ...]) -> list[str]:
    """``argv`` without the options ``drop`` (hyphen spelling; any spelling of them matches) and the
    values they took: ``--opt=value``, or ``--opt`` followed by the non-option tokens argparse gives it
    (all of them for the list option ``--run``, at most one for the yes/no options)."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        key, eq, _ = _cli.normalize_argv([a])[0].partition("=")
        i += 1
        if key not in drop or not a.startswith("--"):
            out.append(a)
            continue
        if eq:
            continue
        most = None if key == "--run" else 1
        taken = 0
        while i < len(argv) and not _option_like(argv[i]) and (most is None or taken < most):
            i += 1
            taken += 1
    return out


def _interrupt_message(cfg: TrainConfig, argv: list[str], multi: bool) -> str:
    """What Ctrl-C prints: the last checkpoint's step and the command that resumes the run."""
    import shlex

    run_dir = Path(cfg.out_dir) / cfg.run_name
    step = ckpt_mod.checkpoint_step(run_dir)
    args = _without_options(argv, drop=("--run", "--resume", "--no-resume", "--overwrite", "--no-overwrite"))
    if multi:
        args += ["--run", cfg.run_name]
    cmd = shlex.join(["convexlab", "train", *args, "--resume"])
    if step is None:
        return (f"interrupted: no checkpoint was written in {run_dir}; resume with: {cmd} "
                "(starts again from step 0)")
    return f"interrupted: last checkpoint at step {step} in {run_dir}; resume with: {cmd}"


if __name__ == "__main__":
    sys.exit(main())
