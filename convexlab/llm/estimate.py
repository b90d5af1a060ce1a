r"""What an experiment preset costs before it runs: tokens, Chinchilla multiples and GPU-hours.

``convexlab experiment KIND --preset gpu --estimate [--mfu X] [--peak-flops X]`` prints
:func:`estimate_markdown` of :func:`estimate` and trains nothing. Per run (one process; a config's
``batch_size`` is per process, so a data-parallel run of P processes covers P times the tokens in
the same wall time and the same GPU-hours):

* training tokens  = ``max_steps · grad_accum · batch_size · block_size``;
* evaluation tokens = ``(⌊max_steps / eval_every⌋ + 1) · eval_batches · batch_size · block_size``
  (forward only: a third of the training FLOPs per token);
* FLOPs = flops_per_token · (training tokens + evaluation tokens / 3), with
  :meth:`convexlab.llm.model.GPT.flops_per_token` (6N + 12·L·H·Q·T, nanoGPT's estimate);
* GPU-hours = FLOPs / (peak · MFU) / 3600 — ``peak`` the dense bf16 peak of an H100 SXM
  (:data:`convexlab.llm.build.PEAK_FLOPS`, 989 TFLOP/s) and ``mfu`` an **assumed** model-FLOPs
  utilization (default :data:`DEFAULT_MFU` = 0.40, the target of ``convexlab bench gpt`` for the 124m
  preset, bf16, compiled; never measured here: convexlab has not run on a GPU). The optimizer step,
  the FP8 rounding (emulated, not FP8 matmuls) and the Table-12 statistics are not counted: the
  estimate is a lower bound of the wall time at that MFU;
* Chinchilla multiple = training tokens / (20 · N) with N the parameter count of the model
  (Hoffmann et al. 2022's ≈ 20 tokens per parameter [EXT]).

The parameter count comes from building the model on the ``meta`` device (no memory, no data).
"""

from __future__ import annotations

import math

from convexlab import _validation as V

#: assumed model-FLOPs utilization of a GPU run (module docstring)
DEFAULT_MFU = 0.40
#: dense bf16 peak of the device the estimate is for (H100 SXM)
DEFAULT_PEAK = 989e12
#: tokens per parameter of a compute-optimal run (Chinchilla)
CHINCHILLA_TOKENS_PER_PARAM = 20


def _model_numbers(cfg) -> tuple[int, float, int]:
    """(parameters, training FLOPs per token, context length) of ``cfg``'s model, built on ``meta``."""
    import torch

    from convexlab.llm.build import model_config
    from convexlab.llm.model import GPT

    mcfg = model_config(cfg)
    with torch.device("meta"):
        model = GPT(mcfg)
    return sum(p.numel() for p in model.parameters()), float(model.flops_per_token()), int(mcfg.block_size)


def run_cost(cfg, *, mfu: float = DEFAULT_MFU, peak_flops: float = DEFAULT_PEAK) -> dict:
    r"""The cost of one :class:`~convexlab.llm.config.TrainConfig` (module docstring): run name,
    optimizer, params, tokens, eval_tokens, chinchilla, flops, gpu_hours."""
    if not 0.0 < V.positive_finite("mfu", mfu) <= 1.0:
        raise ValueError(f"mfu must be a number in (0, 1], got {mfu!r}")
    V.positive_finite("peak_flops", peak_flops)
    params, fpt, block = _model_numbers(cfg)
    tokens = cfg.max_steps * cfg.grad_accum * cfg.batch_size * block
    evals = (cfg.max_steps // cfg.eval_every + 1) if cfg.eval_every else 0
    eval_tokens = evals * cfg.eval_batches * cfg.batch_size * block
    flops = fpt * (tokens + eval_tokens / 3.0)
    return {"run": cfg.run_name, "optimizer": cfg.optimizer, "params": params, "tokens": tokens,
            "eval_tokens": eval_tokens, "chinchilla": tokens / (CHINCHILLA_TOKENS_PER_PARAM * params),
            "flops": flops, "gpu_hours": flops / (peak_flops * mfu) / 3600.0}


def estimate(configs, *, mfu: float = DEFAULT_MFU, peak_flops: float = DEFAULT_PEAK) -> dict:
    r"""The cost of every config of a preset: ``rows`` (:func:`run_cost` each), ``total_tokens``,
    ``total_gpu_hours``, ``max_chinchilla`` and the assumptions ``mfu`` and ``peak_flops``."""
    configs = list(configs)
    if not configs:
        raise ValueError("configs must hold at least one TrainConfig, got none")
    rows = [run_cost(c, mfu=mfu, peak_flops=peak_flops) for c in configs]
    return {"rows": rows, "total_tokens": sum(r["tokens"] for r in rows),
            "total_gpu_hours": math.fsum(r["gpu_hours"] for r in rows),
            "max_chinchilla": max(r["chinchilla"] for r in rows), "mfu": mfu, "peak_flops": peak_flops}


def _tokens(n: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:.0f}"


def estimate_markdown(est: dict, title: str = "") -> str:
    """A markdown table of :func:`estimate` with the total and the assumptions stated."""
    lines = [f"### {title}", ""] if title else []
    lines += ["| run | optimizer | params | tokens | × Chinchilla | GPU-hours |", "|---|---|---|---|---|---|"]
    for r in est["rows"]:
        lines.append(f"| {r['run']} | {r['optimizer']} | {r['params'] / 1e6:.1f}M | {_tokens(r['tokens'])} | "
                     f"{r['chinchilla']:.2f} | {r['gpu_hours']:.2f} |")
    lines += ["", f"{len(est['rows'])} runs, {_tokens(est['total_tokens'])} training tokens, "
                  f"**{est['total_gpu_hours']:.1f} GPU-hours** at an assumed MFU of {est['mfu']:.0%} of "
                  f"{est['peak_flops'] / 1e12:.0f} TFLOP/s (one H100 SXM, dense bf16; an estimate, not a "
                  f"measurement: the optimizer step is not counted)."]
    return "\n".join(lines) + "\n"
