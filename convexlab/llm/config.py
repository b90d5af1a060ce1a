r"""The configuration of a training run (``convexlab train``): :class:`TrainConfig`, its command line,
its JSON presets and the config that ``--resume`` runs.

Every field of :class:`TrainConfig` is a command-line option (:func:`build_parser`, the grammar of
:mod:`convexlab._cli`): ``--max-steps 600`` or ``--max-steps=600`` (the underscore spelling
``--max_steps`` is the same option), yes/no fields as ``--progress`` / ``--no-progress`` /
``--progress=false``, and ``num_threads`` as ``--threads``. Each value is parsed and checked
against the field's type and allowed values. ``--config NAME_OR_PATH`` loads a JSON preset from
``configs/`` first (:func:`load_preset`). A preset is either a flat object of fields (one run) or
``{"description": ..., "base": {fields}, "runs": [{"run_name": ..., fields}, ...]}`` (one run per
entry: base, then the entry, then the command line; ``--run a,b`` picks entries by name).

On ``--resume`` the run's saved ``config.json`` replaces the preset and only the command line's own
``--key=value`` apply on top (:func:`resume_config`); a change of a field outside
:data:`RESUME_SAFE` is refused (:func:`resume_check`) unless ``resume_allow`` lists it. The loop
that uses the config is :mod:`convexlab.llm.train` (its module docstring describes every field's role).
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import inspect
import json
import math
import os
import re
import shlex
import types
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from convexlab import _cli
from convexlab.llm import checkpoint as ckpt_mod
from convexlab.llm.model import PRESETS
from convexlab.llm.schedules import SCHEDULES
from convexlab.optim import REGISTRY

#: repository directory holding the presets (``--config NAME`` looks here for ``NAME.json``)
CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"

PRECISIONS = ("fp32", "bf16", "fp8")

#: fields that may differ from the saved config on ``--resume``: the horizon (the schedule is
#: rebuilt for it, :mod:`convexlab.llm.train`) and what does not enter the training arithmetic's definition
#: (where and how fast it runs, how often it logs and saves). ``out_dir``/``run_name`` locate the run.
RESUME_SAFE = frozenset({"max_steps", "resume", "resume_allow", "overwrite", "progress", "num_threads", "device", "compile",
                         "log_every", "checkpoint_every", "peak_flops", "out_dir", "run_name",
                         "diagnostics_every", "diagnostics_bins"})

#: model presets that run on one torch thread on a CPU unless ``num_threads`` is given
ONE_THREAD_MODELS = ("toy",)
SCHEDULE_CHOICES = ("auto",) + SCHEDULES


def _model_presets() -> tuple[str, ...]:
    return tuple(PRESETS)


def _optimizers() -> tuple[str, ...]:
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
    data: str = _f("default", "'default' (byte tokens of the Python stdlib text), or comma-separated files, glob "
                   "patterns or directories: uint16 .bin token shards (e.g. 'shards/fineweb_train_*.bin') or raw "
                   "text files")
    val_data: Optional[str] = _f(None, "separate validation tokens, same syntax as data (e.g. "
                                 "'shards/fineweb_val_*.bin'); then val_fraction is unused")
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
    diagnostics_every: int = _f(0, "every N steps (and at the last), log per param group the sign-noise statistics "
                                "(mean |m|/σ, mean 1 − (m/σ)², share |m| > σ) and the pre-lr update RMS of "
                                "convexlab.optim.diagnostics where the optimizer supports them (0: off)", _GE0)
    diagnostics_bins: int = _f(0, "with diagnostics_every: bins of the log10|m| histogram per group, fixed edges "
                               "over [-12, 0] (0: no histogram)", _GE0)
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
    if tp in (int, float):  # a float field takes an int; an int field never a float; a bool is neither
        if isinstance(value, bool) or not isinstance(value, (str, int) if tp is int else (str, int, float)):
            raise bad
        try:
            return tp(value)
        except ValueError:
            raise bad from None
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
    r"""Read a JSON preset: returns (base fields, list of per-run fields) (the module docstring).

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
        preset_fields = {**base, **run}
        if "optimizer" in fields and "opt_kwargs" not in fields:
            preset_fields = _fit_opt_kwargs(preset_fields, fields["optimizer"])
        cfg = apply_overrides(None, preset_fields)
        configs.append(apply_overrides(cfg, fields))
    return configs, False, fields


def _fit_opt_kwargs(preset_fields: dict, optimizer: str) -> dict:
    """``--optimizer`` given without ``--opt-kwargs``: the preset's ``opt_kwargs`` were written for
    the preset's optimizer; the keys the new one does not accept are left out, with a warning naming
    them (``--config toy_cpu --optimizer Muon`` must not fail on AdamW's ``betas``)."""
    kw = dict(preset_fields.get("opt_kwargs") or {})
    cls = REGISTRY.get(optimizer)
    names = accepted_kwargs(cls) if cls is not None else None
    dropped = sorted(k for k in kw if names is not None and k not in names)
    if not dropped:
        return preset_fields
    warnings.warn(f"--optimizer {optimizer}: the preset's opt_kwargs {', '.join(dropped)} (for "
                  f"{preset_fields.get('optimizer')}) are left out; pass --opt-kwargs to set {optimizer}'s",
                  stacklevel=3)
    return {**preset_fields, "opt_kwargs": {k: v for k, v in kw.items() if k not in dropped}}


def accepted_kwargs(cls) -> frozenset[str] | None:
    r"""The keyword arguments ``cls(params, ...)`` accepts: the named parameters of every ``__init__``
    along ``cls.__mro__`` down to the first one without ``**kwargs`` (each class forwards the rest to
    its base). None when that chain never closes (every ``__init__`` takes ``**kwargs``) or a
    signature cannot be read: then nothing can be said."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):  # pragma: no cover - no introspectable signature
            return None
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return frozenset(names - {"self", "params"})
    return None




def usage() -> str:
    """``convexlab train --help``: every option with its help text, allowed values and default."""
    return build_parser().format_help().rstrip("\n")




# ---------------------------------------------------------------------------------------------
# the config of --resume
# ---------------------------------------------------------------------------------------------
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
# the command that resumes an interrupted run
# ---------------------------------------------------------------------------------------------
def _option_like(token: str) -> bool:
    """Whether argparse reads ``token`` as an option (not a value such as ``-1`` or ``-0.5``)."""
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
