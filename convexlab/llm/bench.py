r"""GPT training speed: tokens/s, MFU and each optimizer's step overhead: ``convexlab bench gpt``
(:func:`build_parser`; also ``python -m convexlab.llm.bench``).

For a model preset and each optimizer (routed as in :func:`convexlab.llm.train.build_optimizer`),
``steps`` training steps on random tokens (after ``warmup`` untimed ones, which include any
``torch.compile``) are timed in two parts, with a device synchronisation around each:

* t_fb: forward + backward (bf16 autocast for ``bf16``/``fp8``),
* t_opt: ``optimizer.step()`` (for ``fp8`` the whole emulated step of
  :func:`convexlab.precision.emulated_step`: E5M2 gradient rounding, step, E4M3 state storage,
  bf16 master weights).

Reported (medians over the timed steps of the same run):

* tokens/s = B·T / (median t_fb + median t_opt);
* MFU = ``model.flops_per_token()`` (nanoGPT's 6N + 12·L·H·Q·T estimate) × tokens/s ÷ peak, with the
  peak of :data:`convexlab.llm.train.PEAK_FLOPS` (dense bf16) for the CUDA device, or ``--peak-flops``;
  ``None`` ("n/a") on a CPU, which has no entry;
* step overhead = median t_opt / (median t_fb + median t_opt).

Targets of issue 6 (:data:`TARGETS`): on an H100, the 124M preset in bf16 with ``torch.compile``
at MFU ≥ 40 % with AdamW; each optimizer's step overhead < 10 % of the step time, < 15 % for the
Muon family (matrix optimizers: Muon, NorMuon, SoftMuon, SFNorMuon). A target is "met" or
"missed" only when the run matches its conditions (device, preset, precision, compile);
otherwise it is "not measured" with the reason: a CPU run measures the code path, not the target.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from convexlab import _validation as V

#: the default optimizers benchmarked (registry names)
DEFAULT_OPTIMIZERS = ("AdamW", "Signum", "Lion", "StoSignSGD", "SFAdamW", "SoftSignum", "Muon", "NorMuon",
                      "SoftMuon", "SFNorMuon")
#: issue 6 speed targets
TARGETS = {"mfu_min": 0.40, "mfu_preset": "124m", "mfu_optimizer": "AdamW", "mfu_device": "H100",
           "overhead_max": 0.10, "overhead_max_matrix": 0.15, "overhead_device": "H100"}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_one(optimizer: str, *, model: str = "toy", device: str = "auto", precision: str = "fp32",
              compile: bool = False, batch_size: int = 8, block_size: int | None = None, steps: int = 20,
              warmup: int = 3, seed: int = 0, peak_flops: float | None = None, opt_kwargs: dict | None = None) -> dict:
    r"""Time ``steps`` training steps of ``optimizer`` on the ``model`` preset (module docstring).

    Returns a dict: optimizer, model, device, device_name, precision, compile, tokens_per_step,
    t_fb_s, t_opt_s (medians), tokens_per_s, mfu (None without a peak), overhead, matrix (Muon family).
    """
    from convexlab.llm.model import GPT
    from convexlab.llm.train import _autocast, apply_overrides, build_optimizer, model_config, peak_flops as peak_of
    from convexlab.precision import emulated_step

    for name, v, lo in (("steps", steps, 1), ("warmup", warmup, 0)):
        V.integer(name, v, lo)
    over = {"optimizer": optimizer, "model": model, "device": device, "precision": precision, "compile": compile,
            "batch_size": batch_size, "seed": seed, "progress": False, "peak_flops": peak_flops,
            "opt_kwargs": dict(opt_kwargs or {})}
    if block_size is not None:
        over["block_size"] = block_size
    cfg = apply_overrides(None, over)
    dev = torch.device("cuda" if (device == "auto" and torch.cuda.is_available()) else
                       ("cpu" if device == "auto" else device))
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    torch.manual_seed(seed)
    mcfg = model_config(cfg)
    net = GPT(mcfg).to(dev)
    opt = build_optimizer(net, cfg)
    fwd = torch.compile(net) if compile else net
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, mcfg.vocab_size, (batch_size, mcfg.block_size + 1), generator=gen).to(dev)
    inp, tgt = x[:, :-1].contiguous(), x[:, 1:].contiguous()
    fb, op = [], []
    net.train()
    for i in range(warmup + steps):
        opt.zero_grad(set_to_none=True)
        _sync(dev)
        t0 = time.perf_counter()
        with _autocast(cfg, dev):
            _, loss = fwd(inp, tgt, return_logits=False)
        loss.backward()
        _sync(dev)
        t1 = time.perf_counter()
        if precision == "fp8":
            emulated_step(opt, grad_fmt="e5m2", state_fmt="e4m3", master_dtype=torch.bfloat16)
        else:
            opt.step()
        _sync(dev)
        t2 = time.perf_counter()
        if i >= warmup:
            fb.append(t1 - t0)
            op.append(t2 - t1)
    t_fb, t_opt = statistics.median(fb), statistics.median(op)
    tps = batch_size * mcfg.block_size / (t_fb + t_opt)
    peak = peak_of(cfg, dev)
    return {"optimizer": optimizer, "model": model, "device": str(dev),
            "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
            "precision": precision, "compile": compile, "tokens_per_step": batch_size * mcfg.block_size,
            "t_fb_s": t_fb, "t_opt_s": t_opt, "tokens_per_s": tps,
            "mfu": net.flops_per_token() * tps / peak if peak else None,
            "overhead": t_opt / (t_fb + t_opt), "matrix": bool(getattr(type(opt), "matrix_only", False)
                                                                or hasattr(opt, "parts"))}


def target_status(row: dict) -> dict:
    r"""The issue-6 targets for one benchmark row: {"mfu": ..., "overhead": ...}, each "met",
    "missed", "not measured (<reason>)" or "n/a" (the MFU target is for AdamW only)."""
    on_h100 = TARGETS["mfu_device"] in row["device_name"]
    out = {}
    if row["optimizer"] != TARGETS["mfu_optimizer"]:
        out["mfu"] = "n/a"
    elif not on_h100:
        out["mfu"] = f"not measured (target is for an H100; this ran on {row['device_name']})"
    elif (row["model"], row["precision"], row["compile"]) != (TARGETS["mfu_preset"], "bf16", True):
        out["mfu"] = "not measured (target is the 124m preset, bf16, compiled)"
    else:
        out["mfu"] = "met" if row["mfu"] is not None and row["mfu"] >= TARGETS["mfu_min"] else "missed"
    bound = TARGETS["overhead_max_matrix"] if row["matrix"] else TARGETS["overhead_max"]
    if not on_h100:
        out["overhead"] = f"not measured (target < {bound:.0%} is for an H100; this ran on {row['device_name']})"
    else:
        out["overhead"] = "met" if row["overhead"] < bound else "missed"
    out["overhead_bound"] = bound
    return out


def run_benchmark(optimizers=DEFAULT_OPTIMIZERS, **kw) -> list[dict]:
    """:func:`bench_one` for every optimizer, each row with its :func:`target_status` under ``targets``."""
    rows = []
    for name in optimizers:
        row = bench_one(name, **kw)
        row["targets"] = target_status(row)
        rows.append(row)
    return rows


def report(rows: list[dict]) -> str:
    """A plain-text table of the rows and their target verdicts."""
    if not rows:
        return "(no rows)"
    r0 = rows[0]
    lines = [f"model {r0['model']}, {r0['precision']}, compile={r0['compile']}, device {r0['device_name']}, "
             f"{r0['tokens_per_step']} tokens/step",
             f"{'optimizer':<12} {'tokens/s':>10} {'MFU':>7} {'fwd+bwd ms':>11} {'opt ms':>8} {'overhead':>9}  targets"]
    for r in rows:
        mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "n/a"
        t = r["targets"]
        lines.append(f"{r['optimizer']:<12} {r['tokens_per_s']:>10.0f} {mfu:>7} {1e3 * r['t_fb_s']:>11.2f} "
                     f"{1e3 * r['t_opt_s']:>8.2f} {r['overhead']:>9.1%}  overhead<{t['overhead_bound']:.0%}: "
                     f"{t['overhead']}; MFU>=40%: {t['mfu']}")
    if not any(TARGETS["mfu_device"] in r["device_name"] for r in rows):
        lines.append("GPU numbers were not measured: this run is not on an H100, so the issue-6 targets "
                     "(MFU >= 40% for 124m bf16 compiled AdamW; overhead < 10%, Muon family < 15%) are not measured.")
    return "\n".join(lines)


def _number_above(option: str, low: float):
    def parse(text: str) -> float:
        import math

        try:
            v = float(text)
        except ValueError:
            v = math.nan
        if not (math.isfinite(v) and v > low):
            raise argparse.ArgumentTypeError(f"{option} must be a finite number > {low:g}, got {text!r}")
        return v

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``convexlab bench gpt`` (the grammar of :mod:`convexlab._cli`)."""
    from convexlab import _cli
    from convexlab._validation import argparse_int_at_least
    from convexlab.llm.model import PRESETS
    from convexlab.optim import REGISTRY

    p = _cli.parser(
        "bench gpt", "Tokens/s, MFU and optimizer step overhead of the GPT harness, per optimizer, with the issue-6 "
                     "targets (H100) marked met, missed or not measured.",
        epilog="examples:\n  convexlab bench gpt --device cpu --optimizers AdamW,Muon --steps 10\n"
               "  convexlab bench gpt --model 124m --precision bf16 --compile --json bench.json",
        allow_abbrev=False)
    p.add_argument("--model", default=None, choices=tuple(PRESETS),
                   help="model preset (default: 124m on CUDA, toy on a CPU)")
    _cli.add_list(p, "optimizers", default=list(DEFAULT_OPTIMIZERS), choices=tuple(sorted(REGISTRY)),
                  help=f"registry names, separated by commas and/or spaces (default: {','.join(DEFAULT_OPTIMIZERS)})")
    p.add_argument("--device", default="auto", metavar="DEVICE",
                   help="'auto' (cuda if available, else cpu), 'cpu', 'cuda' or 'cuda:N' (default auto)")
    p.add_argument("--precision", default=None, choices=["fp32", "bf16", "fp8"],
                   help="fp32, bf16 autocast or the fp8 recipe (default: bf16 on CUDA, fp32 on a CPU)")
    _cli.add_flag(p, "compile", default=False, help="torch.compile the model (default: no)")
    p.add_argument("--batch-size", type=argparse_int_at_least("--batch-size", 1), default=None, metavar="N",
                   help="sequences per step (default 16 on CUDA, 8 on a CPU)")
    p.add_argument("--block-size", type=argparse_int_at_least("--block-size", 1), default=None, metavar="N",
                   help="context length (default: the preset's)")
    p.add_argument("--steps", type=argparse_int_at_least("--steps", 1), default=20, metavar="N",
                   help="timed steps (default 20)")
    p.add_argument("--warmup", type=argparse_int_at_least("--warmup", 0), default=3, metavar="N",
                   help="untimed steps first, including any compilation (default 3)")
    p.add_argument("--peak-flops", type=_number_above("--peak-flops", 0), default=None, metavar="X",
                   help="peak FLOP/s of the device for MFU (default: from convexlab.llm.train.PEAK_FLOPS on CUDA; "
                        "none on a CPU)")
    _cli.add_threads(p, default=None,
                     help="CPU threads for torch (integer >= 1; default: one for the toy model, torch's default for "
                          "the others, as in convexlab train)")
    p.add_argument("--json", metavar="PATH", help="also write the rows as JSON to this path")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command line (module docstring). Returns 0, or 2 on bad arguments."""
    from convexlab.llm.train import ONE_THREAD_MODELS

    argv = sys.argv[1:] if argv is None else list(argv)
    p = build_parser()
    args = p.parse_args(argv)
    if args.json and Path(args.json).is_dir():  # checked before the benchmark runs
        p.error(f"--json must be a file path, got the directory {args.json!r}")
    cuda = args.device != "cpu" and torch.cuda.is_available()
    model = args.model or ("124m" if cuda else "toy")
    if args.threads:
        torch.set_num_threads(args.threads)
    elif not cuda and model in ONE_THREAD_MODELS:
        torch.set_num_threads(1)
    if not args.optimizers:
        p.error("--optimizers needs at least one name")
    try:
        rows = run_benchmark(args.optimizers, model=model, device=args.device,
                             precision=args.precision or ("bf16" if cuda else "fp32"), compile=args.compile,
                             batch_size=args.batch_size or (16 if cuda else 8), block_size=args.block_size,
                             steps=args.steps, warmup=args.warmup, peak_flops=args.peak_flops)
    except ValueError as err:
        print(f"convexlab bench gpt: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    print(report(rows))
    if not cuda:
        print(f"CPU run on {torch.get_num_threads()} torch thread(s) (--threads)")
    if args.json:
        from convexlab._io import atomic_write

        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(args.json, json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
