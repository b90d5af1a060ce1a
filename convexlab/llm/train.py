r"""Train the GPT of :mod:`convexlab.llm.model` with any registry optimizer: ``convexlab train``
(also ``python -m convexlab.llm.train``).

The harness in five modules, read in this order (each top to bottom):

* :mod:`convexlab.llm.config`: :class:`TrainConfig`, its command line, presets and the config of ``--resume``;
* :mod:`convexlab.llm.build`: process group, device, data, model, optimizer (routing) and lr schedule;
* this module: the loop, :func:`train` (the run's steps as named functions) and :func:`main`;
* :mod:`convexlab.llm.checkpoint`: atomic, verified checkpoints and the RNG state;
* :mod:`convexlab.llm.runlog`: ``log.jsonl``, ``config.json``/``meta.json``/``summary.json`` and the console lines.

The names of those modules that callers use are importable from here too (``from convexlab.llm.train
import TrainConfig, apply_overrides, build_optimizer, train``).

One typed :class:`TrainConfig` drives a run; every field is a command-line option and a preset
(``--config``) may come first (:mod:`convexlab.llm.config` describes the grammar).

The loop (README, "The GPT harness"):

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
  ``stats_step`` (the paper's table is at step 103 [P]) in any precision; with ``diagnostics_every``
  > 0 (off by default: no cost) the log record of every such step (and of the last) holds
  ``diagnostics``, StoSignSGD's Figure 3/4 statistics per param group (:func:`_diagnostics`);
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

import dataclasses
import math
import os
import platform
import sys
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from convexlab import precision
from convexlab._io import provenance
from convexlab.llm import checkpoint as ckpt_mod
from convexlab.llm import runlog
from convexlab.llm.build import (PEAK_FLOPS, WARMUP_SHARE, _Dist, _init_distributed, _load_tokens, _resolve_device,
                                 accepted_kwargs, build_model, build_optimizer, build_schedule, check_kwargs,
                                 is_schedule_free, model_config, peak_flops, seed_everything, set_threads,
                                 warn_long_warmup)
from convexlab.llm.config import (CONFIG_DIR, ONE_THREAD_MODELS, PRECISIONS, RESUME_SAFE, SCHEDULE_CHOICES, TrainConfig,
                                  _interrupt_message, _parse, apply_overrides, build_parser, field_names, load_preset,
                                  parse_args, resume_check, resume_config, usage)
from convexlab.llm.data import get_batch
from convexlab.optim import NonFiniteGradientError
from convexlab.llm.runlog import final_summary, read_log

__all__ = [  # the loop, and the names of config/build/runlog that callers import from here
    "train", "main", "evaluate", "NonFiniteLossError",
    "TrainConfig", "CONFIG_DIR", "PRECISIONS", "RESUME_SAFE", "ONE_THREAD_MODELS", "SCHEDULE_CHOICES",
    "apply_overrides", "build_parser", "field_names", "load_preset", "parse_args", "resume_check", "resume_config",
    "usage", "PEAK_FLOPS", "WARMUP_SHARE", "accepted_kwargs", "build_model", "build_optimizer", "build_schedule",
    "check_kwargs", "is_schedule_free", "model_config", "peak_flops", "warn_long_warmup", "final_summary", "read_log",
]


class NonFiniteLossError(RuntimeError):
    """The training loss (or a gradient) became NaN/inf; ``step``, ``groups`` and ``checkpoint_step`` say where."""

    def __init__(self, message: str, step: int, groups: list[dict], checkpoint_step: int | None):
        super().__init__(message)
        self.step = step
        self.groups = groups
        self.checkpoint_step = checkpoint_step


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
    d = _init_distributed(config.device)
    try:
        return _train(config, d, on_step)
    finally:
        if d.owned:
            dist.destroy_process_group()


@dataclass
class _Run:
    """What the steps of a run share: the config, the process group, the device and the run's objects."""

    cfg: TrainConfig
    d: _Dist
    device: torch.device
    run_dir: Path
    data: Any
    model: torch.nn.Module
    opt: torch.optim.Optimizer
    sched: Callable[[int], float]
    data_gen: torch.Generator  # the training batches' generator (saved in the checkpoint)
    tokens_per_step: int
    train_model: torch.nn.Module | None = None  # the model, DDP-wrapped on several processes
    fwd: Callable | None = None  # train_model, compiled with cfg.compile
    last_ckpt: int | None = None  # the step of the last checkpoint written or resumed from
    last_val: float | None = None  # the last validation loss (the progress bar shows it)
    lr: float = 0.0  # the first group's scheduled lr of the current step (the non-finite messages name it)
    # derived in __post_init__
    base_lrs: list[float] = field(init=False)  # each group's initial lr (the schedule multiplies it)
    params: list[torch.Tensor] = field(init=False)  # every optimized parameter, in group order
    schedule_free: bool = field(init=False)
    log_path: Path = field(init=False)
    flops_per_token: float = field(init=False)
    peak: float | None = field(init=False)  # peak FLOP/s of one device for the MFU (None: unknown)

    def __post_init__(self) -> None:
        self.base_lrs = [g["lr"] for g in self.opt.param_groups]
        self.params = [p for g in self.opt.param_groups for p in g["params"]]
        self.schedule_free = is_schedule_free(self.opt)
        self.log_path = self.run_dir / "log.jsonl"
        self.flops_per_token = float(self.model.flops_per_token())
        self.peak = peak_flops(self.cfg, self.device)


def _train(cfg: TrainConfig, d: _Dist, on_step) -> Path:
    t_wall = time.perf_counter()
    device = _resolve_device(cfg, d)
    set_threads(cfg, device)
    run_dir = Path(cfg.out_dir) / cfg.run_name
    state, resume_changes = _open_run_dir(cfg, d, run_dir, device)

    seed_everything(cfg.seed)
    data, data_src = _load_tokens(cfg)
    mcfg = model_config(cfg)
    model = build_model(cfg, mcfg, data, device)
    opt = build_optimizer(model, cfg)
    sched_name, sched = build_schedule(cfg, opt)
    run = _Run(cfg, d, device, run_dir, data, model, opt, sched,
               data_gen=torch.Generator().manual_seed(cfg.seed + 1),
               tokens_per_step=cfg.batch_size * cfg.grad_accum * d.world * mcfg.block_size)
    start = _restore(run, state)
    _wrap_model(run)
    if d.rank == 0:
        _write_run_files(run, mcfg, sched_name, data_src, resume_changes)

    if start == 0:
        _initial_eval(run)
    t_loop = time.perf_counter()
    _loop(run, start, on_step)
    if d.rank == 0:
        t_end = time.perf_counter()
        runlog.write_summary(run_dir, max_steps=cfg.max_steps, start=start, tokens_per_step=run.tokens_per_step,
                             wall_time_s=t_end - t_wall, train_time_s=t_end - t_loop)
    return run_dir


def _open_run_dir(cfg: TrainConfig, d: _Dist, run_dir: Path, device: torch.device) -> tuple[dict | None, list]:
    """(the checkpoint to resume from or None, the allowed config changes against it). Removes stale
    temporary files of killed saves; refuses a run directory that holds a run unless ``resume`` or
    ``overwrite``; a checkpoint's config that differs outside :data:`RESUME_SAFE` is refused
    (:func:`resume_check`)."""
    ck_path = ckpt_mod.checkpoint_path(run_dir)
    if d.rank == 0:
        ckpt_mod.remove_stale_tmp(run_dir)
    state = None
    if cfg.resume:
        found = ckpt_mod.load_latest(run_dir, map_location=device)
        if found is not None:
            state = found[0]
    elif d.rank == 0 and not cfg.overwrite and (
            (run_dir / "log.jsonl").exists() or ck_path.exists() or ckpt_mod.previous_path(ck_path).exists()):
        raise ValueError(f"run directory {run_dir} already holds a run; pass --resume to continue it or "
                         "--overwrite to replace it (or choose another --run-name)")
    if state is None:
        return None, []
    return state, resume_check(state.get("config") or {}, cfg, int(state["step"]),
                               source=f"the checkpoint in {run_dir}")


def _restore(run: _Run, state: dict | None) -> int:
    """The step the loop starts from: the checkpoint's, after restoring model, optimizer, data
    position and RNGs and dropping the log records after it; else 0, after removing what a previous
    run left (a fresh start: no stale records)."""
    if state is None:
        if run.d.rank == 0:
            runlog.clear_run(run.run_dir)
        return 0
    run.model.load_state_dict(state["model"])
    run.opt.load_state_dict(state["optimizer"])
    run.data_gen.set_state(state["data"])
    ckpt_mod.set_rng_state(state["rng"])
    start = run.last_ckpt = int(state["step"])
    if run.d.rank == 0:
        runlog.truncate_log(run.log_path, start)
    return start


def _wrap_model(run: _Run) -> None:
    """DistributedDataParallel on several processes, then ``torch.compile`` with ``compile``."""
    run.train_model = run.model
    if run.d.on:
        run.train_model = DistributedDataParallel(run.model, device_ids=[run.device.index]
                                                  if run.device.type == "cuda" else None)
    run.fwd = torch.compile(run.train_model) if run.cfg.compile else run.train_model


def _write_run_files(run: _Run, mcfg, sched_name: str, data_src, resume_changes: list) -> None:
    """``config.json`` (the config with what it resolved to) and ``meta.json`` (provenance, device)."""
    cfg, d, device = run.cfg, run.d, run.device
    resolved = {**cfg.to_dict(), "schedule_resolved": sched_name, "world_size": d.world,
                "tokens_per_step": run.tokens_per_step, "model_config": dataclasses.asdict(mcfg),
                "num_params": run.model.num_params(non_embedding=False),
                "flops_per_token": run.flops_per_token, "data_source": data_src}
    meta = {**provenance(), "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
            "peak_flops": run.peak, "world_size": d.world, "resumed_from": run.last_ckpt,
            "resume_changes": {k: {"saved": a, "now": b} for k, a, b in resume_changes} or None,
            "num_threads": torch.get_num_threads() if device.type == "cpu" else None, "argv": sys.argv}
    runlog.write_run_files(run.run_dir, resolved, meta)


def _initial_eval(run: _Run) -> None:
    """The loss at initialization, logged as step 0 (every rank takes part in the evaluation's all-reduce)."""
    v0 = _run_eval(run)
    if run.d.rank == 0:
        runlog.append_record(run.log_path, {"step": 0, "tokens": 0, "val_loss": v0})
        tqdm.write(runlog.val_line(0, run.cfg.max_steps, v0, None), file=sys.stdout)


# ---------------------------------------------------------------------------------------------
# the loop
# ---------------------------------------------------------------------------------------------
def _loop(run: _Run, start: int, on_step) -> None:
    """Steps ``start + 1`` to ``max_steps``: each a training step, the Table-12 statistics at
    ``stats_step``, an evaluation at evaluation steps, its log record, a checkpoint at checkpoint
    steps and the progress bar. A non-finite stop is recorded in the log and ``summary.json``."""
    cfg, d = run.cfg, run.d
    bar = tqdm(total=cfg.max_steps, initial=start, disable=not cfg.progress or d.rank != 0, unit="step",
               dynamic_ncols=True, file=sys.stderr)
    run.model.train()
    try:
        for it in range(start, cfg.max_steps):
            step = it + 1  # steps completed after this iteration
            rec = _train_step(run, it)
            if cfg.stats_step and step == cfg.stats_step:
                rec["state_stats"] = _state_stats(run, step)
            if cfg.diagnostics_every and (step % cfg.diagnostics_every == 0 or step == cfg.max_steps):
                rec["diagnostics"] = _diagnostics(run)
            if (cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.max_steps:
                _eval_step(run, step, rec)
            if d.rank == 0:
                runlog.append_record(run.log_path, rec)
            if (cfg.checkpoint_every and step % cfg.checkpoint_every == 0) or step == cfg.max_steps:
                _save(run, step)
            _show_progress(bar, rec, run.last_val)
            if on_step is not None:
                on_step(step, rec)
    except NonFiniteLossError as err:
        if d.rank == 0:
            runlog.record_nonfinite(run.run_dir, err.step, str(err), err.groups, run.last_ckpt)
        raise
    finally:
        bar.close()


def _train_step(run: _Run, it: int) -> dict:
    r"""One optimizer step at iteration ``it`` (0-based); returns its log record. The lr of every
    group is its initial lr times the schedule's multiplier. At logging steps (every ``log_every``
    and the last) the update RMS is measured (a parameter copy) and, on CUDA, the device is
    synchronised so that ``step_time_s`` is the device time of the step."""
    cfg, opt = run.cfg, run.opt
    step = it + 1
    factor = run.sched(it)
    for g, lr0 in zip(opt.param_groups, run.base_lrs):
        g["lr"] = lr0 * factor
    run.lr = opt.param_groups[0]["lr"]
    # a logging step: the statistics that need a parameter copy or a device synchronisation
    measure = step % cfg.log_every == 0 or step == cfg.max_steps
    t0 = time.perf_counter()
    loss_val, gnorm, gnorm_t = _forward_backward(run)
    if not math.isfinite(loss_val):
        raise _nonfinite(run, step, loss_val, "non-finite training loss")
    if not math.isfinite(gnorm):
        raise _nonfinite(run, step, loss_val, "non-finite gradient")
    if cfg.grad_clip > 0:  # the norm stays on the device: no second read-back
        torch.nn.utils.clip_grads_with_norm_(run.params, cfg.grad_clip, gnorm_t)
    before = [p.detach().clone() for p in run.params] if measure else None
    _optimizer_step(run, step, loss_val)
    lrs = _applied_lrs(opt)
    upd = None
    if measure:
        upd = _update_rms(run.params, before)
        del before
        if run.device.type == "cuda":
            torch.cuda.synchronize(run.device)
    dt = time.perf_counter() - t0
    tps = run.tokens_per_step / dt if dt > 0 else None
    fpt, peak = run.flops_per_token, run.peak
    return {"step": step, "loss": loss_val, "lr": next(iter(lrs.values())), "lrs": lrs, "lr_factor": factor,
            "tokens": step * run.tokens_per_step,
            "tokens_per_s": tps, "mfu": (fpt * tps / (peak * run.d.world)) if (peak and tps) else None,
            "update_rms": upd, "grad_norm": gnorm, "step_time_s": dt}


def _forward_backward(run: _Run) -> tuple[float, float, torch.Tensor]:
    r"""Forward and backward of this rank's micro-batches of one global batch (gradients accumulated,
    averaged over ``grad_accum``; DDP synchronises at the last). Returns (mean training loss over all
    processes, global gradient L2 norm before clipping, the norm as a device tensor) with the step's
    one read-back: loss and gradient norm together (float64 holds both fp32 values exactly)."""
    cfg, d, device = run.cfg, run.d, run.device
    batches = _micro_batches(run.data, cfg, d, run.data_gen, "train", device)
    run.opt.zero_grad(set_to_none=True)
    loss_sum = torch.zeros((), dtype=torch.float32, device=device)
    for i, (x, y) in enumerate(batches):
        sync = run.train_model.no_sync() if (d.on and i < len(batches) - 1) else nullcontext()
        with sync:
            with _autocast(cfg, device):
                _, loss = run.fwd(x, y, return_logits=False)
            (loss / cfg.grad_accum).backward()
        loss_sum += loss.detach().float()
    loss_sum = _all_reduce_sum(loss_sum, d)
    grads = [p.grad for p in run.params if p.grad is not None]
    gnorm_t = torch.nn.utils.get_total_norm(grads, 2.0) if grads else torch.zeros((), device=device)
    loss_val, gnorm = torch.stack([loss_sum.double(), gnorm_t.double().to(loss_sum.device)]).tolist()
    return loss_val / (cfg.grad_accum * d.world), gnorm, gnorm_t


def _optimizer_step(run: _Run, step: int, loss_val: float) -> None:
    r"""``opt.step()``, or in ``fp8`` :func:`convexlab.precision.emulated_step` (E5M2 gradients, E4M3
    states, bf16 master weights). The optimizer's own non-finite check
    (:class:`~convexlab.optim.NonFiniteGradientError`: e.g. an fp8 gradient that overflowed with
    ``fp8_saturate=false``) stops the run as a :class:`NonFiniteLossError`; any other error propagates."""
    cfg, opt = run.cfg, run.opt
    try:
        if cfg.precision == "fp8":
            precision.emulated_step(opt, grad_fmt="e5m2", state_fmt="e4m3", master_dtype=torch.bfloat16,
                                    saturate=cfg.fp8_saturate)
        else:
            opt.step()
    except NonFiniteGradientError as err:
        raise _nonfinite(run, step, loss_val, f"non-finite gradient ({err})") from err


def _state_stats(run: _Run, step: int) -> dict:
    r"""The Table-12 optimizer-state statistics after ``step`` (:func:`convexlab.precision.state_statistics`,
    E4M3): written to ``table12_step<step>.json`` (rank 0); returns their weighted shares (the log's
    ``state_stats``)."""
    cfg = run.cfg
    rows = precision.state_statistics(run.opt, "e4m3", cfg.fp8_saturate, names=list(run.model.named_parameters()))
    summary = {}
    for key in ("v_zeros", "m_zeros"):
        try:
            summary[key] = precision.weighted_share(rows, key)
        except ValueError:
            pass
    if run.d.rank == 0:
        runlog.write_table12(run.run_dir, step, cfg.precision, cfg.optimizer, summary, rows)
    return summary


#: log10 |m| histogram edges of the diagnostics: fixed, so that methods and steps compare [D]
DIAG_LOG10_RANGE = (-12.0, 0.0)


def _diagnostics(run: _Run) -> dict:
    r"""The Figure 3/4 statistics of StoSignSGD (arXiv 2604.15416, §3 [P]; metrics as computed by
    :mod:`convexlab.optim.diagnostics` [R]) after this step, per param group (by group name, as
    ``lrs``): ``noise`` (:func:`~convexlab.optim.diagnostics.noise_statistics`: mean |m|/σ, mean
    1 − min((m/σ)², 1), share of |m| > σ, and with ``diagnostics_bins`` > 0 the log10|m| histogram on
    ``diagnostics_bins`` equal bins over :data:`DIAG_LOG10_RANGE`) and ``update_rms_pre_lr``
    (:func:`~convexlab.optim.diagnostics.update_rms`: RMS of the update before the lr and weight
    decay; AdamW ≈ 0.2, a sign update 1). They read the optimizer state only (no random draw, no
    change). An optimizer a statistic does not cover (e.g. Lion, the Muon family) logs null for it
    with the reason in ``unsupported``. Cost: a few O(numel) passes, only at these steps."""
    from convexlab.optim import diagnostics as diag

    cfg = run.cfg
    names = list(_applied_lrs(run.opt))
    out: dict[str, Any] = {"noise": None, "update_rms_pre_lr": None}
    why = {}
    bins = None
    if cfg.diagnostics_bins:
        lo, hi = DIAG_LOG10_RANGE
        bins = [lo + (hi - lo) * i / cfg.diagnostics_bins for i in range(cfg.diagnostics_bins + 1)]
    try:
        out["noise"] = {names[r["group"]]: {k: v for k, v in r.items() if k != "group"}
                        for r in diag.noise_statistics(run.opt, bins=bins)}
    except ValueError as err:  # the optimizer has no (m, σ) pair
        why["noise"] = str(err)
    try:
        out["update_rms_pre_lr"] = {names[r["group"]]: r["rms"] for r in diag.update_rms(run.opt)}
    except ValueError as err:
        why["update_rms_pre_lr"] = str(err)
    if why:
        out["unsupported"] = why
    return out


def _eval_step(run: _Run, step: int, rec: dict) -> None:
    """The validation loss into ``rec`` (a non-finite one stops the run) and its console line (rank 0,
    above the bar or alone with ``--no-progress``)."""
    rec["val_loss"] = _run_eval(run)
    if not math.isfinite(rec["val_loss"]):
        raise _nonfinite(run, step, rec["val_loss"], "non-finite validation loss")
    run.last_val = rec["val_loss"]
    if run.d.rank == 0:
        tqdm.write(runlog.val_line(step, run.cfg.max_steps, run.last_val, rec["loss"]), file=sys.stdout)


def _run_eval(run: _Run) -> float:
    """:func:`evaluate`; a schedule-free optimizer's evaluation runs at x (``opt.evaluating()``)."""
    if not run.schedule_free:
        return evaluate(run.model, run.data, run.cfg, run.d, run.device)
    # schedule-free: the parameters hold x for the evaluation. The switch y → x → y is not
    # exact in floating point, so y is restored from a copy: evaluating never perturbs training.
    saved = [p.detach().clone() for p in run.params]
    with run.opt.evaluating():
        v = evaluate(run.model, run.data, run.cfg, run.d, run.device)
    with torch.no_grad():
        for p, y in zip(run.params, saved):
            p.copy_(y)
    return v


def _save(run: _Run, step: int) -> None:
    """A checkpoint after ``step`` (rank 0 writes; every rank waits for it). Every rank first checks the
    weights (the replicas are identical, so all stop together): non-finite weights never overwrite the
    last good checkpoint."""
    opt = run.opt
    if _diagnose(opt):
        raise _nonfinite(run, step, float("nan"), "non-finite weights before a checkpoint",
                         lr=opt.param_groups[0]["lr"])
    if run.d.rank == 0:
        ckpt_mod.save_checkpoint(ckpt_mod.checkpoint_path(run.run_dir), {
            "model": run.model.state_dict(), "optimizer": opt.state_dict(), "data": run.data_gen.get_state(),
            "rng": ckpt_mod.rng_state(), "step": step, "tokens": step * run.tokens_per_step,
            "config": run.cfg.to_dict()})
    run.last_ckpt = step
    if run.d.on:
        dist.barrier()


def _show_progress(bar, rec: dict, last_val: float | None) -> None:
    """The progress bar: one step, with the training loss, the last validation loss and tokens/s."""
    bar.update(1)
    post = {"loss": f"{rec['loss']:.4f}"}
    if last_val is not None:
        post["val"] = f"{last_val:.4f}"
    tps = rec["tokens_per_s"]
    post["tok_s"] = f"{tps:,.0f}" if tps else "-"
    bar.set_postfix(post, refresh=False)


# ---------------------------------------------------------------------------------------------
# pieces of a step
# ---------------------------------------------------------------------------------------------
def _micro_batches(data, cfg: TrainConfig, d: _Dist, gen: torch.Generator, split: str, device):
    """This rank's micro-batches of one global batch (module docstring: rank-major blocks)."""
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


def _nonfinite(run: _Run, step: int, loss: float, why: str, lr: float | None = None) -> NonFiniteLossError:
    """The :class:`NonFiniteLossError` of ``why`` at ``step``: the groups (and parameters) holding
    non-finite weights or gradients, else the largest weight RMS, and the last good checkpoint.
    ``lr``: the first group's lr to name (default: the step's scheduled one)."""
    opt, last_ckpt = run.opt, run.last_ckpt
    lr = run.lr if lr is None else lr
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
    kept = (f"the last good checkpoint (step {last_ckpt}) is kept at {ckpt_mod.checkpoint_path(run.run_dir)}"
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



# ---------------------------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------------------------
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
        if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 prints the summary
            print(f"run {cfg.run_name}: {run_dir}")
            print(final_summary(run_dir))
    return 0


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {_one_line(message) if isinstance(message, Warning) else message}", file=sys.stderr)




if __name__ == "__main__":
    sys.exit(main())
