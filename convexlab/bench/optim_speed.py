r"""Step time and optimizer-state memory of every registry optimizer, as ratios to torch in one run.

The parameters are the shapes of a GPT-2-small-like model sized for a CPU (``--size small``, the
default: d = 512, 6 layers, vocabulary 12 288, 25.17M parameters; ``--size tiny`` ≈ 1.05M for tests)::

    per layer: q, k, v, o (d×d), MLP up (4d×d), MLP down (d×4d)   # the hidden 2-D weights
               two gains (d,)                                     # 1-D
    token embedding (vocab×d)

Fixed random gradients are set once on ``p.grad``. Every optimizer then takes ``warmup`` untimed
steps (state allocation; SoftSignum / SoftMuon fit their temperature schedule on the first
transition step) and ``repeats`` timed steps, ``time.perf_counter`` around ``opt.step()``
(``torch.cuda.synchronize()`` on both sides on a GPU). The optimizers take their steps
round-robin, with the starting optimizer rotated each round, so that machine noise (other
processes, thermal state, allocator) falls on all of them alike. The reported time is the median.

Scope and references, all measured in the same run:

* elementwise optimizers update every parameter and are compared with
  ``torch.optim.AdamW(foreach=True)`` on the same parameters (row ``torch.AdamW-foreach``);
* matrix-only optimizers (class attribute ``matrix_only = True``) update the hidden 2-D weights
  only and are compared with ``torch.optim.Muon`` (row ``torch.Muon``) and with
  ``torch.optim.AdamW(foreach=True)`` on those same weights (row ``torch.AdamW-foreach[2-D]``).

Every optimizer, the references included, is built with decoupled weight decay 0.01
(:data:`WEIGHT_DECAY`) where it has one, so every row pays the same decay pass.

State memory: the bytes of every tensor in ``opt.state`` (nested dicts, lists and tuples walked;
a tensor reachable twice counted once) divided by the number of parameters the optimizer updates.
0-dim tensors (torch's per-parameter ``step`` counters) are left out of the per-parameter figure,
because they do not grow with the parameter count (they are reported in the JSON as
``state_scalar_bytes``); so AdamW is exactly 8 bytes/param in float32, Signum 4 and signSGD 0.

Targets (column ``target``; ``met`` / ``missed``): the sign family (SignSGD, Signum, Lion,
StoSignSGD, SoftSignum) ≤ 1.0× torch AdamW-foreach; Muon ≤ 1.1× torch.optim.Muon; SoftMuon on its
coupled Newton–Schulz path (constructed with ``sign_iters=0``, a long ``transition_iters``, so
every timed step is a transition step) ≤ 1.5× torch.optim.Muon.

CPU note: ``torch.optim.Muon`` runs its Newton–Schulz iteration in bfloat16. On a CPU without
native bf16 matrix units (no AVX512-BF16 / AMX) bf16 matmuls are emulated and some layouts hit a
slow path, so one Muon step on the ``small`` shapes can take minutes; the matrix-optimizer ratios
on such a CPU measure bf16 emulation rather than the optimizers. Use ``--device cuda`` for
representative matrix-optimizer numbers, or ``--only`` to limit the run.

Usage::

    python -m convexlab.bench.optim_speed                      # all registry optimizers, 25M params
    python -m convexlab.bench.optim_speed --only Signum --only StoSignSGD --repeats 20
    python -m convexlab.bench.optim_speed --size tiny --json out.json --markdown table.md
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from convexlab._io import atomic_write

__all__ = [
    "BENCH_KWARGS",
    "REFERENCES",
    "SIZES",
    "TARGETS",
    "ModelShape",
    "Target",
    "build_parameters",
    "main",
    "state_bytes",
]


# ---------------------------------------------------------------------------------------------
# the parameter shapes
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelShape:
    """A GPT-2-like parameter set: ``layers`` blocks of width ``d`` and a ``vocab × d`` embedding."""

    d: int
    layers: int
    vocab: int

    def shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """(name, shape) of every parameter; the hidden 2-D weights are those named ``*.w_*``."""
        d = self.d
        out: list[tuple[str, tuple[int, ...]]] = [("embedding", (self.vocab, d))]
        for i in range(self.layers):
            out += [(f"layers.{i}.attn.w_{n}", (d, d)) for n in "qkvo"]
            out += [(f"layers.{i}.mlp.w_up", (4 * d, d)), (f"layers.{i}.mlp.w_down", (d, 4 * d))]
            out += [(f"layers.{i}.norm1.gain", (d,)), (f"layers.{i}.norm2.gain", (d,))]
        return out

    def numel(self) -> int:
        return sum(math.prod(s) for _, s in self.shapes())


#: ``small``: 25 171 968 parameters (18 874 368 in the 36 hidden 2-D weights); ``tiny``: 1 049 088
#: (393 216 in 12). The vocabulary of ``small`` is chosen so that the total is ≈ 25M (GPT-2 small's
#: 50 257 × 768 embedding alone would be 38.6M, too much for a CPU benchmark).
SIZES: dict[str, ModelShape] = {
    "small": ModelShape(d=512, layers=6, vocab=12288),
    "tiny": ModelShape(d=128, layers=2, vocab=5120),
}


@dataclass
class Parameters:
    all: list[torch.nn.Parameter]
    matrices: list[torch.nn.Parameter]  # the hidden 2-D weights (not the embedding)
    names: dict[int, str]


def build_parameters(shape: ModelShape, device: torch.device | str = "cpu", seed: int = 0) -> Parameters:
    """The parameters of ``shape`` (N(0, 0.02²) weights, unit gains) with fixed N(0, 1e-3²) gradients.

    The gradients are set once on ``p.grad`` and shared by every optimizer of the run (optimizers
    never write into ``p.grad``), as are the parameters: each optimizer keeps its own state, and
    the drift of the values over a few dozen small steps does not change the cost of a step.
    """
    gen = torch.Generator().manual_seed(seed)
    params, matrices, names = [], [], {}
    for name, s in shape.shapes():
        init = torch.ones(s) if len(s) == 1 else 0.02 * torch.randn(s, generator=gen)
        p = torch.nn.Parameter(init.to(device))
        p.grad = (1e-3 * torch.randn(s, generator=gen)).to(device)
        params.append(p)
        names[id(p)] = name
        if ".w_" in name:
            matrices.append(p)
    return Parameters(params, matrices, names)


# ---------------------------------------------------------------------------------------------
# the optimizers
# ---------------------------------------------------------------------------------------------
REF_ADAMW = "torch.AdamW-foreach"
REF_ADAMW_2D = "torch.AdamW-foreach[2-D]"
REF_MUON = "torch.Muon"
REFERENCES = (REF_ADAMW, REF_ADAMW_2D, REF_MUON)

#: decoupled weight decay given to every optimizer that has one (the references included)
WEIGHT_DECAY = 0.01

#: the hard-sign phase length 0 and a transition longer than any run make every step (after the
#: first, which fits the schedule and is a warm-up step) a transition step: tanh for SoftSignum,
#: the coupled Newton–Schulz inverse square root for SoftMuon
_TRANSITION = dict(sign_iters=0, transition_iters=100_000)

#: constructor kwargs per registry name (learning rates of the papers' defaults); a name not listed
#: is built as ``cls(params, lr=1e-3)``. A class that cannot be built either way (a constructor
#: that needs a model, such as MatrixAndAdamW) is reported as skipped, with the reason.
BENCH_KWARGS: dict[str, dict[str, Any]] = {
    "SignSGD": dict(lr=1e-3, weight_decay=WEIGHT_DECAY),
    "Signum": dict(lr=1e-3, momentum=0.9, weight_decay=WEIGHT_DECAY),
    "Lion": dict(lr=1e-4, weight_decay=WEIGHT_DECAY),
    "StoSignSGD": dict(lr=1e-3, weight_decay=WEIGHT_DECAY, seed=0),
    "IEStoSignSGD": dict(lr=1e-3, weight_decay=WEIGHT_DECAY),
    "SignConverted": dict(lr=1e-3, base="adamw", mode="stochastic", weight_decay=WEIGHT_DECAY, seed=0),
    "AdamW": dict(lr=1e-3, weight_decay=WEIGHT_DECAY),
    "AdaMax": dict(lr=2e-3, weight_decay=WEIGHT_DECAY),
    "SFAdamW": dict(lr=2.5e-3, weight_decay=WEIGHT_DECAY),
    "SoftSignum": dict(lr=1e-3, momentum=0.9, weight_decay=WEIGHT_DECAY, **_TRANSITION),
    "Muon": dict(lr=0.02, weight_decay=WEIGHT_DECAY),
    "NorMuon": dict(lr=0.02, weight_decay=WEIGHT_DECAY),
    "SoftMuon": dict(lr=0.02, weight_decay=WEIGHT_DECAY, inv_root="ns5_official", **_TRANSITION),
    "SFNorMuon": dict(lr=0.008, weight_decay=WEIGHT_DECAY),
}

_GENERIC_KWARGS: dict[str, Any] = dict(lr=1e-3)


@dataclass(frozen=True)
class Target:
    """``ratio to reference ≤ bound`` (reference: :data:`REF_ADAMW` or :data:`REF_MUON`)."""

    reference: str
    bound: float

    def label(self) -> str:
        return f"≤ {self.bound:g}× {self.reference}"


TARGETS: dict[str, Target] = {
    **{n: Target(REF_ADAMW, 1.0) for n in ("SignSGD", "Signum", "Lion", "StoSignSGD", "SoftSignum")},
    "Muon": Target(REF_MUON, 1.1),
    "SoftMuon": Target(REF_MUON, 1.5),
}


@dataclass
class Case:
    """One optimizer of the run and its measurements."""

    name: str
    kind: str  # "reference" | "elementwise" | "matrix"
    scope: str  # "all" | "2-D"
    params: list
    kwargs: dict[str, Any]
    build: Callable[[], torch.optim.Optimizer] | None = None
    opt: torch.optim.Optimizer | None = None
    times: list[float] = field(default_factory=list)
    skipped: str | None = None


def _reason(prefix: str, err: BaseException) -> str:
    msg = str(err).strip().splitlines()[0] if str(err).strip() else ""
    if len(msg) > 160:
        msg = msg[:159] + "…"
    return f"{prefix}: {type(err).__name__}: {msg}" if msg else f"{prefix}: {type(err).__name__}"


def _reference_case(name: str, p: Parameters) -> Case:
    if name == REF_ADAMW:
        kw = dict(lr=1e-3, weight_decay=WEIGHT_DECAY, foreach=True)
        return Case(name, "reference", "all", p.all, kw, lambda: torch.optim.AdamW(p.all, **kw))
    if name == REF_ADAMW_2D:
        kw = dict(lr=1e-3, weight_decay=WEIGHT_DECAY, foreach=True)
        return Case(name, "reference", "2-D", p.matrices, kw, lambda: torch.optim.AdamW(p.matrices, **kw))
    if name == REF_MUON:
        kw = dict(lr=0.02, weight_decay=WEIGHT_DECAY)
        return Case(name, "reference", "2-D", p.matrices, kw, lambda: torch.optim.Muon(p.matrices, **kw))
    raise AssertionError(name)


def _registry_case(name: str, cls: type, p: Parameters) -> Case:
    matrix = bool(getattr(cls, "matrix_only", False))
    params = p.matrices if matrix else p.all
    kw = dict(BENCH_KWARGS.get(name, _GENERIC_KWARGS))
    return Case(name, "matrix" if matrix else "elementwise", "2-D" if matrix else "all", params, kw,
                lambda: cls(params, **kw))


# ---------------------------------------------------------------------------------------------
# state memory
# ---------------------------------------------------------------------------------------------
def _tensors(obj, seen: set) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        key = (obj.data_ptr(), obj.nbytes, tuple(obj.shape), obj.dtype)
        if key in seen:
            return []
        seen.add(key)
        return [obj]
    if isinstance(obj, dict):
        return [t for v in obj.values() for t in _tensors(v, seen)]
    if isinstance(obj, (list, tuple)):
        return [t for v in obj for t in _tensors(v, seen)]
    return []


def state_bytes(opt: torch.optim.Optimizer) -> tuple[int, int]:
    """(bytes of all tensors in ``opt.state``, bytes of its 0-dim tensors), nested containers walked.

    >>> w = torch.nn.Parameter(torch.zeros(10)); w.grad = torch.ones(10)
    >>> opt = torch.optim.AdamW([w], foreach=True); _ = opt.step()
    >>> state_bytes(opt)  # exp_avg, exp_avg_sq (2 × 40 bytes) and a float32 step counter
    (84, 4)
    """
    tensors = _tensors(dict(opt.state), set())
    total = sum(t.nbytes for t in tensors)
    scalar = sum(t.nbytes for t in tensors if t.dim() == 0)
    return total, scalar


# ---------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _measure(cases: list[Case], repeats: int, warmup: int, device: torch.device, progress: bool) -> None:
    """Round-robin: in round r every live case takes one step, starting at case r mod n."""
    live = [c for c in cases if c.skipped is None]
    rounds = warmup + repeats
    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection inside one optimizer's timed step would be charged to it
    try:
        for r in range(rounds):
            t_round = time.perf_counter()
            k = r % max(len(live), 1)
            for case in live[k:] + live[:k]:
                if case.skipped is not None:
                    continue
                try:
                    _sync(device)
                    t0 = time.perf_counter()
                    case.opt.step()
                    _sync(device)
                    dt = time.perf_counter() - t0
                except Exception as err:  # noqa: BLE001 - reported in the table, the run goes on
                    case.skipped = _reason(f"step {r + 1} raised", err)
                    case.opt = None
                    continue
                if r >= warmup:
                    case.times.append(dt)
            if progress:
                tag = "warm-up" if r < warmup else "timed"
                print(f"  round {r + 1}/{rounds} ({tag}): {time.perf_counter() - t_round:.2f} s",
                      file=sys.stderr, flush=True)
    finally:
        if gc_was_enabled:
            gc.enable()


def _row(case: Case, medians: dict[str, float]) -> dict[str, Any]:
    n = sum(p.numel() for p in case.params)
    row: dict[str, Any] = dict(
        name=case.name, kind=case.kind, params=case.scope, n_params=n, kwargs={k: repr(v) for k, v in case.kwargs.items()},
        skipped=case.skipped, median_ms=None, times_ms=[], ratio_adamw=None, ratio_torch_muon=None,
        state_bytes=None, state_scalar_bytes=None, state_bytes_per_param=None, target=None, target_status=None,
    )
    target = TARGETS.get(case.name)
    if target is not None:
        row["target"] = target.label()
    if case.skipped is not None:
        row["target_status"] = "skipped" if target else None
        return row
    med = statistics.median(case.times)
    row["median_ms"] = 1e3 * med
    row["times_ms"] = [1e3 * t for t in case.times]
    ref_adamw = medians.get(REF_ADAMW if case.scope == "all" else REF_ADAMW_2D)
    if ref_adamw:
        row["ratio_adamw"] = med / ref_adamw
    if case.scope == "2-D" and medians.get(REF_MUON):
        row["ratio_torch_muon"] = med / medians[REF_MUON]
    total, scalar = state_bytes(case.opt)
    row["state_bytes"], row["state_scalar_bytes"] = total, scalar
    row["state_bytes_per_param"] = (total - scalar) / n
    if target is not None:
        ratio = row["ratio_adamw"] if target.reference == REF_ADAMW else row["ratio_torch_muon"]
        if target.reference == REF_MUON and case.scope != "2-D":
            row["target_status"] = "n/a (not matrix-only)"
        elif ratio is None:
            row["target_status"] = f"n/a ({target.reference} not measured)"
        else:
            row["target_status"] = "met" if ratio <= target.bound else "missed"
    return row


# ---------------------------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------------------------
HEADER = ["optimizer", "params updated", "median step ms", f"× {REF_ADAMW}", f"× {REF_MUON}",
          "state B/param", "target", "met?"]


def _millions(n: int) -> str:
    return f"{n / 1e6:.2f}M"


def _ms(x: float) -> str:
    return f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 100 else f"{x:.1f}"


def _ratio(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.0f}" if x >= 100 else f"{x:.2f}" if x >= 0.01 else f"{x:.1e}"


def _cells(row: dict[str, Any]) -> list[str]:
    scope = f"{'all' if row['params'] == 'all' else 'hidden 2-D'} ({_millions(row['n_params'])})"
    if row["skipped"] is not None:
        return [row["name"], scope, "-", "-", "-", "-", row["target"] or "", "skipped"]
    ratio_adamw = _ratio(row["ratio_adamw"])
    if row["ratio_adamw"] is not None and row["params"] == "2-D":
        ratio_adamw += " (2-D)"
    return [
        row["name"], scope, _ms(row["median_ms"]), ratio_adamw,
        _ratio(row["ratio_torch_muon"]),
        f"{row['state_bytes_per_param']:.3g}", row["target"] or "", row["target_status"] or "",
    ]


def format_table(rows: list[dict[str, Any]]) -> str:
    body = [_cells(r) for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(HEADER)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    out = [line(HEADER), line(["-" * w for w in widths]), *(line(r) for r in body)]
    out += [f"skipped: {r['name']}: {r['skipped']}" for r in rows if r["skipped"] is not None]
    return "\n".join(out)


def format_markdown(rows: list[dict[str, Any]], config: dict[str, Any]) -> str:
    esc = lambda s: s.replace("|", "\\|")  # noqa: E731
    out = [
        f"Optimizer step time and state memory ({config['description']}; median of {config['repeats']} "
        f"round-robin steps after {config['warmup']} warm-up, {config['device']}, threads={config['threads']}, "
        f"torch {config['torch']}).",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    out += ["| " + " | ".join(esc(c) for c in _cells(r)) + " |" for r in rows]
    skipped = [f"- skipped: `{r['name']}`: {esc(r['skipped'])}" for r in rows if r["skipped"] is not None]
    if skipped:
        out += ["", *skipped]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------
def _positive_int(minimum: int):
    from convexlab._validation import argparse_int_at_least

    return argparse_int_at_least("", minimum)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m convexlab.bench.optim_speed",
        description="Median optimizer step time and state bytes per parameter of every registry optimizer, "
                    "as ratios to torch.optim.AdamW(foreach=True) and torch.optim.Muon measured in the same run.",
    )
    p.add_argument("--size", choices=sorted(SIZES), default="small",
                   help="parameter shapes: small (d=512, 6 layers, 25.2M params; default) or tiny (1.05M, for tests)")
    p.add_argument("--repeats", type=_positive_int(1), default=5, help="timed steps per optimizer (default 5)")
    p.add_argument("--warmup", type=_positive_int(1), default=1,
                   help="untimed steps per optimizer before timing, >= 1: the first step allocates the state "
                        "and fits the soft temperature schedules (default 1)")
    p.add_argument("--only", action="append", metavar="NAME",
                   help="benchmark only this optimizer (a registry name, or one of "
                        f"{', '.join(REFERENCES)}); repeatable. The references it needs are added.")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="device of parameters and state")
    p.add_argument("--matrix-layers", type=_positive_int(1), default=None,
                   help="time matrix optimizers on the hidden weights of the first N layers "
                        "(default: 1 on cpu, where bf16 Newton–Schulz is emulated; all layers on cuda)")
    p.add_argument("--threads", type=_positive_int(1), default=None, help="torch.set_num_threads(N) for the run")
    p.add_argument("--seed", type=_positive_int(0), default=0, help="seed of the parameters and gradients")
    p.add_argument("--json", metavar="PATH", help="also write config and rows as JSON")
    p.add_argument("--markdown", metavar="PATH", help="also write the table as Markdown (for the README)")
    p.add_argument("--no-progress", action="store_true", help="do not print one line per round on stderr")
    return p


def _select(parser: argparse.ArgumentParser, only: list[str] | None, registry: dict[str, type]) -> list[str]:
    """The case names of the run, references first, then in registry order."""
    known = [*REFERENCES, *registry]
    if only is None:
        return known
    unknown = [n for n in only if n not in known]
    if unknown:
        parser.error(f"unknown optimizer{'s' if len(unknown) > 1 else ''} "
                     f"{', '.join(repr(n) for n in unknown)} in --only; choose from: {', '.join(known)}")
    wanted = set(only) | {REF_ADAMW}
    if wanted & {REF_ADAMW_2D, REF_MUON} or any(getattr(registry.get(n), "matrix_only", False) for n in wanted):
        wanted |= {REF_ADAMW_2D, REF_MUON}
    return [n for n in known if n in wanted]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, optionally write JSON / Markdown; return 0.

    Raises:
        SystemExit: (status 2, argparse) for an unknown ``--only`` name or an invalid option.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    from convexlab.optim import REGISTRY  # looked up at run time: the registry grows

    names = _select(parser, args.only, REGISTRY)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    device = torch.device(args.device)
    old_threads = torch.get_num_threads()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        shape = SIZES[args.size]
        params = build_parameters(shape, device, seed=args.seed)
        matrix_layers = args.matrix_layers if args.matrix_layers is not None else (
            1 if device.type == "cpu" else shape.layers)
        if matrix_layers < shape.layers:
            # bf16 Newton–Schulz is emulated on CPUs without bf16 units (minutes per step at full size):
            # time the matrix optimizers on the first layers' weights, a ratio is what is reported
            keep = {f"layers.{i}." for i in range(matrix_layers)}
            params.matrices = [p for p in params.matrices
                               if any(params.names[id(p)].startswith(k) for k in keep)]
        cases = [_reference_case(n, params) if n in REFERENCES else _registry_case(n, REGISTRY[n], params)
                 for n in names]
        for case in cases:
            try:
                case.opt = case.build()
            except Exception as err:  # noqa: BLE001 - a class that cannot be built generically is skipped
                case.skipped = _reason(f"cannot construct {case.name}(params, **{case.kwargs})", err)
        n_all, n_2d = sum(p.numel() for p in params.all), sum(p.numel() for p in params.matrices)
        description = (f"GPT-2-small-like shapes ({args.size}): d={shape.d}, {shape.layers} layers, vocab {shape.vocab}, "
                       f"{_millions(n_all)} params, {_millions(n_2d)} in {len(params.matrices)} hidden 2-D weights")
        config = dict(
            size=args.size, d=shape.d, layers=shape.layers, vocab=shape.vocab, n_params=n_all, n_matrix_params=n_2d,
            description=description, repeats=args.repeats, warmup=args.warmup, device=args.device,
            threads=torch.get_num_threads(), torch=torch.__version__, python=platform.python_version(),
            machine=platform.machine(), processor=platform.processor() or None, seed=args.seed,
            weight_decay=WEIGHT_DECAY, timer="time.perf_counter around opt.step(), round-robin, median",
        )
        progress = not args.no_progress
        if progress:
            live = sum(c.skipped is None for c in cases)
            print(f"{description}; {live} optimizers, {args.warmup} warm-up + {args.repeats} timed steps each",
                  file=sys.stderr, flush=True)
        _measure(cases, args.repeats, args.warmup, device, progress)
        medians = {c.name: statistics.median(c.times) for c in cases if c.skipped is None and c.times}
        rows = [_row(c, medians) for c in cases]
    finally:
        torch.set_num_threads(old_threads)

    print(f"{description}\nmedian of {args.repeats} round-robin steps after {args.warmup} warm-up; "
          f"{args.device}, threads={config['threads']}, torch {torch.__version__}\n")
    print(format_table(rows))
    if args.json:
        atomic_write(args.json, json.dumps(dict(config=config, rows=rows), indent=2) + "\n")
    if args.markdown:
        atomic_write(args.markdown, format_markdown(rows, config))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
