r"""What a training run is made of, built from its :class:`~convexlab.llm.config.TrainConfig`: the
process group and device, the token data, the model, the optimizer with its parameter routing, and
the lr schedule. :mod:`convexlab.llm.train` calls these in this order.

* **routing** (:func:`build_optimizer`): a ``matrix_only`` optimizer (Muon, NorMuon, SoftMuon,
  SFNorMuon) gets the hidden 2-D weights through :class:`convexlab.optim.MatrixAndAdamW`, whose
  AdamW part takes embeddings, head and 1-D parameters (:func:`convexlab.optim.split_params`;
  SF-NorMuon [SFN-MUON, SFN-ROUTING]); every other optimizer gets all parameters, with weight decay
  on the ≥ 2-D ones only [D]. An unknown ``opt_kwargs`` or ``aux_kwargs`` key is refused before the
  optimizer is constructed, from the keywords its class accepts (:func:`accepted_kwargs`);
* **schedule** (:func:`build_schedule`, :mod:`convexlab.llm.schedules`): warmup + cosine, WSD or
  constant, as a multiplier of each param group's initial lr; a schedule-free optimizer warms up
  inside the optimizer and, with ``schedule="auto"``, gets a constant schedule;
* **model** (:func:`build_model`): the preset of :data:`convexlab.llm.model.PRESETS` with the
  config's overrides, seeded identically on every rank; in ``fp8`` its weights start rounded to bf16
  (the master weights of :func:`convexlab.precision.emulated_step`);
* **scale-out** (:func:`_init_distributed`): under ``torchrun`` (``WORLD_SIZE`` > 1) the process
  group is initialised from the environment (gloo on a CPU, nccl on CUDA).
"""

from __future__ import annotations

import dataclasses
import os
import random
import warnings
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist

from convexlab.llm import data as data_mod
from convexlab.llm.config import ONE_THREAD_MODELS, TrainConfig, accepted_kwargs
from convexlab.llm.model import GPT, PRESETS, GPTConfig
from convexlab.llm.schedules import make_schedule
from convexlab.optim import REGISTRY, AdamW, MatrixAndAdamW, ScheduleFreeMixin, SFAdamW, split_params


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

# ---------------------------------------------------------------------------------------------
# the machine: process group, device, threads, seeds
# ---------------------------------------------------------------------------------------------
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


def set_threads(cfg: TrainConfig, device: torch.device) -> None:
    """torch's intra-op threads (``num_threads``; 0: one on a CPU for :data:`ONE_THREAD_MODELS`, else
    torch's default) and, on CUDA, TF32 matmuls."""
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    elif device.type == "cpu" and cfg.model in ONE_THREAD_MODELS:
        torch.set_num_threads(1)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def seed_everything(seed: int) -> None:
    """The same seeds on every rank (torch, numpy, random): identical initial weights (DDP also
    broadcasts rank 0's)."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
def _load_tokens(cfg: TrainConfig):
    """(token data with its validation split, source): ``cfg.data`` is 'default' or comma-separated
    files, glob patterns or directories of ``.bin`` shards or text files
    (:func:`convexlab.llm.data.expand_paths`); ``cfg.val_data`` (optional) names separate validation
    tokens the same way. The source lists the files read."""
    val_files = data_mod.expand_paths(cfg.val_data, "val_data") if cfg.val_data is not None else None
    if cfg.data == "default":
        raw = data_mod.default_corpus()
        src = "default"
    else:
        files = data_mod.expand_paths(cfg.data, "data")
        raw = data_mod.load_tokens(files)
        src = [str(p) for p in files]
    if val_files is None:
        return _as_token_data(raw, cfg.val_fraction), src
    val = data_mod.load_tokens(val_files)
    src = {"train": src, "val": [str(p) for p in val_files]}
    return data_mod.TokenData(_tokens_of(raw), cfg.val_fraction, val_tokens=_tokens_of(val)), src


def _tokens_of(obj) -> np.ndarray:
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return np.frombuffer(bytes(obj), dtype=np.uint8).astype(np.uint16)
    if isinstance(obj, torch.Tensor):
        return obj.numpy().astype(np.uint16)
    return np.asarray(obj)


def _as_token_data(obj, val_fraction: float):
    if isinstance(obj, data_mod.TokenData):
        return obj
    return data_mod.TokenData(_tokens_of(obj), val_fraction=val_fraction)


def _max_token(data) -> int | None:
    parts = [getattr(data, "train", None), getattr(data, "val", None)] if getattr(data, "separate_val", False) \
        else [getattr(data, "tokens", None)]
    tops = [int(np.asarray(p).max()) for p in parts if p is not None and len(p)]
    return max(tops) if tops else None


# ---------------------------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------------------------
def model_config(cfg: TrainConfig) -> GPTConfig:
    """The :class:`convexlab.llm.model.GPTConfig` of ``cfg``: the preset with the overrides."""
    over = {k: getattr(cfg, k) for k in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "dropout",
                                          "tie_embeddings") if getattr(cfg, k) is not None}
    return dataclasses.replace(PRESETS[cfg.model], **over)


def build_model(cfg: TrainConfig, mcfg: GPTConfig, data, device: torch.device) -> GPT:
    """The :class:`~convexlab.llm.model.GPT` of ``mcfg`` on ``device`` (after :func:`seed_everything`);
    a vocabulary that does not cover the data's largest token id raises a one-line ``ValueError``.
    In ``fp8`` the initial weights are rounded to bf16 (the master weights of the fp8 recipe)."""
    top = _max_token(data)
    if top is not None and top >= mcfg.vocab_size:
        raise ValueError(f"vocab_size must exceed the largest token id {top} of the data, got {mcfg.vocab_size} "
                         f"(model preset {cfg.model!r}); pass --vocab-size N")
    model = GPT(mcfg).to(device)
    if cfg.precision == "fp8":  # bf16 master weights from the start
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.to(torch.bfloat16).to(p.dtype))
    return model


# ---------------------------------------------------------------------------------------------
# optimizer and schedule
# ---------------------------------------------------------------------------------------------
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



def build_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    r"""The optimizer of ``cfg`` for ``model`` with the routing of the module docstring.

    Param groups carry ``name`` ("matrix", "adamw", "decay", "no_decay") and ``param_names``.
    A schedule-free optimizer gets ``warmup_steps = cfg.warmup_steps`` unless ``opt_kwargs`` sets it.
    The optimizer's seed is ``cfg.seed`` (identical on every rank). An unknown ``opt_kwargs`` or
    ``aux_kwargs`` key raises a one-line ``ValueError`` naming the field and the key
    (:func:`check_kwargs`); a warmup longer than :data:`WARMUP_SHARE` of the run is warned about.
    """
    cls = REGISTRY[cfg.optimizer]
    kw = _opt_kwargs(cfg.opt_kwargs)
    kw.setdefault("seed", cfg.seed)
    if issubclass(cls, ScheduleFreeMixin):
        kw.setdefault("warmup_steps", cfg.warmup_steps)
    check_kwargs(cls, "opt_kwargs", kw, cfg.optimizer)
    if getattr(cls, "matrix_only", False):
        opt = _matrix_and_adamw(model, cfg, cls, kw)
    else:
        opt = cls(_decay_groups(model, cfg.weight_decay), lr=cfg.lr, **kw)
    warn_long_warmup(opt, cfg.warmup_steps, cfg.max_steps)
    return opt


def _matrix_and_adamw(model: torch.nn.Module, cfg: TrainConfig, cls, kw: dict) -> MatrixAndAdamW:
    """The hidden matrices (:func:`convexlab.optim.split_params`) to ``cls``, the rest to the AdamW
    part (SFAdamW for a schedule-free ``cls``: :class:`convexlab.optim.MatrixAndAdamW`'s ``aux="auto"``)
    with ``aux_lr`` and ``aux_kwargs``."""
    mat, other = split_params(model, names=True)
    mgroup = {"params": [p for _, p in mat], "param_names": [n for n, _ in mat], "name": "matrix"}
    ogroups = [{"params": [p for _, p in other], "param_names": [n for n, _ in other], "name": "adamw"}] if other else []
    akw = _opt_kwargs(cfg.aux_kwargs)
    if cfg.aux_lr is not None:
        akw["lr"] = cfg.aux_lr
    akw.setdefault("seed", cfg.seed)
    aux_cls = SFAdamW if issubclass(cls, ScheduleFreeMixin) else AdamW
    check_kwargs(aux_cls, "aux_kwargs", akw, f"{cfg.optimizer} (its {aux_cls.__name__} part)")
    return MatrixAndAdamW([mgroup], ogroups, cls, matrix_kwargs=dict(lr=cfg.lr, weight_decay=cfg.weight_decay, **kw),
                          adamw_kwargs=akw, all_params=[p for p in model.parameters() if p.requires_grad])


def _decay_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Every trainable parameter once: the ≥ 2-D ones in a "decay" group with ``weight_decay``, the
    others in a "no_decay" group [D]."""
    seen, decay, no_decay = set(), [], []
    for n, p in model.named_parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        (decay if p.ndim >= 2 else no_decay).append((n, p))
    return [{"params": [p for _, p in ps], "param_names": [n for n, _ in ps], "name": name, "weight_decay": wd}
            for name, ps, wd in (("decay", decay, weight_decay), ("no_decay", no_decay, 0.0)) if ps]


def check_kwargs(cls, field_name: str, kw: dict, optimizer: str) -> None:
    """A keyword in ``kw`` that ``cls`` does not accept (:func:`accepted_kwargs`) raises a one-line
    ``ValueError`` naming ``field_name``, the key(s), ``optimizer`` and the keywords allowed,
    before ``cls`` is constructed (instead of a ``TypeError`` traceback from inside it)."""
    names = accepted_kwargs(cls)
    if names is None:
        return
    unknown = sorted(set(kw) - names)
    if unknown:
        what = f"an unknown key {unknown[0]!r}" if len(unknown) == 1 else f"unknown keys {unknown!r}"
        raise ValueError(f"{field_name} has {what} for optimizer {optimizer}; "
                         f"allowed: {', '.join(sorted(names - {'seed', 'defaults'}))}")


def build_schedule(cfg: TrainConfig, opt: torch.optim.Optimizer) -> tuple[str, Callable[[int], float]]:
    """(resolved schedule name, lr multiplier of the 0-based iteration) of ``cfg``: ``schedule="auto"``
    is constant for a schedule-free optimizer, else cosine; a schedule-free optimizer warms up
    internally, so its multiplier has no second warmup."""
    sf = is_schedule_free(opt)
    name = cfg.schedule if cfg.schedule != "auto" else ("constant" if sf else "cosine")
    return name, make_schedule(name, cfg.max_steps, 0 if sf else min(cfg.warmup_steps, cfg.max_steps),
                               cfg.min_lr_ratio, cfg.decay_frac)


def is_schedule_free(opt) -> bool:
    """Whether ``opt`` (or a part of a :class:`~convexlab.optim.MatrixAndAdamW`) is schedule-free."""
    parts = getattr(opt, "parts", [opt])
    return any(isinstance(p, ScheduleFreeMixin) for p in parts)
