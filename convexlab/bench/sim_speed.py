r"""Throughput of the batched simulator against per-seed loops, measured in one run.

StoSignSGD (Alg. 1, ``StoSignSGD.theory``) on the weighted-ℓ1-plus-coupling problem of the
StoSignSGD [SSG-PROTO] with bounded sign-flip oracle noise, d = 100 coordinates, S = 1000 seeds,
timed three ways:

* **batched**: :func:`convexlab.sim.simulate` with the S runs as the rows of one (S, d) parameter
  (one optimizer step and one oracle call per time step for all seeds, plus the simulator's
  running average and linear regret);
* **per-seed layout** (the reference of ``ratio``): the same call with ``layout="per_seed"`` —
  one (d,) parameter and one optimizer per seed, stepped seed by seed in a Python loop, the
  oracle still called once per step on all seeds; the simulator's fallback for optimizers that
  are not coordinate-wise (Muon, NorMuon, SoftSignum);
* **plain loop** (the reference of ``ratio_plain``): what one writes without the simulator, fixed
  here so that it does not change when the simulator does — per seed, one (1, d) parameter, its
  optimizer and its own oracle generator; each step sets ``problem.oracle(x)`` as the gradient
  and calls ``optimizer.step()``; no metric is computed.

Throughput is coordinate updates per second, S·d·T / seconds (the loops run fewer steps, the rate
is what is compared). Rounds alternate the three and the median of each is reported, so machine
noise falls on all; the report states the torch threads and the load average (1 min) before and
after, since other processes on the machine slow every number. Target: ``ratio`` ≥ 100×.

Usage::

    convexlab bench sim                                      # S = 1000, d = 100, one thread
    convexlab bench sim --seeds 200 --steps 200 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch

from convexlab import _validation as V
from convexlab._io import atomic_write

TARGET = 100.0

#: what each ratio is measured against (printed with the report)
REFERENCES = {
    "ratio": "simulate(layout='per_seed'): one optimizer per seed, stepped in a Python loop, oracle batched",
    "ratio_plain": "plain loop: per seed its own parameter, optimizer and oracle call per step, no simulator",
}


def _problem(d: int):
    from convexlab.problems.convex import WeightedL1Coupling
    from convexlab.problems.noise import SignFlip

    return WeightedL1Coupling(d=d, noise=SignFlip(1.0))


def _factory(problem, seed: int):
    from convexlab.optim import StoSignSGD

    return lambda ps: StoSignSGD.theory(ps, diameter=problem.D_inf, box=problem.box, seed=seed)  # noqa: E731


def _time(problem, seeds: int, steps: int, layout: str, seed: int) -> float:
    from convexlab.sim import simulate

    make = _factory(problem, seed)
    t0 = time.perf_counter()
    simulate(problem, make, steps, seeds, record=[steps], seed=seed, layout=layout)
    return time.perf_counter() - t0


def _time_plain(problem, seeds: int, steps: int, seed: int) -> float:
    """The plain per-seed loop (module docstring); returns its seconds."""
    x0 = problem.start_point().to(problem.dtype)
    t0 = time.perf_counter()
    with torch.no_grad():
        for s in range(seeds):
            p = torch.nn.Parameter(x0.clone().unsqueeze(0))
            opt = _factory(problem, seed + s)([p])
            gen = torch.Generator().manual_seed(seed + s + 1)
            for _ in range(steps):
                p.grad = problem.oracle(p.detach(), gen)
                opt.step()
    return time.perf_counter() - t0


def _load() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        return None


def run(seeds: int = 1000, dim: int = 100, steps: int = 500, loop_steps: int = 10, rounds: int = 3,
        seed: int = 0, threads: int | None = 1) -> dict:
    """Median coordinate updates per second of the three ways and the ratios (a dict). ``threads``:
    torch threads for the run (default 1, as the project's other benchmarks; None keeps torch's)."""
    for name, v in dict(seeds=seeds, dim=dim, steps=steps, loop_steps=loop_steps, rounds=rounds).items():
        V.integer(name, v, 1)
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be an integer >= 1 or None, got {threads!r}")
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    load_before = _load()
    try:
        problem = _problem(dim)
        batched, loop, plain = [], [], []
        for _ in range(rounds):
            batched.append(seeds * dim * steps / _time(problem, seeds, steps, "batched", seed))
            loop.append(seeds * dim * loop_steps / _time(problem, seeds, loop_steps, "per_seed", seed))
            plain.append(seeds * dim * loop_steps / _time_plain(problem, seeds, loop_steps, seed))
        used = torch.get_num_threads()
    finally:
        torch.set_num_threads(old)
    b, l, pl = statistics.median(batched), statistics.median(loop), statistics.median(plain)
    return dict(seeds=seeds, dim=dim, steps=steps, loop_steps=loop_steps, rounds=rounds, threads=used,
                load_before=load_before, load_after=_load(), cpus=os.cpu_count(),
                batched_updates_per_s=b, loop_updates_per_s=l, plain_updates_per_s=pl,
                ratio=b / l, ratio_plain=b / pl, reference=REFERENCES["ratio"],
                reference_plain=REFERENCES["ratio_plain"], target=TARGET, met=b / l >= TARGET)


def format_report(r: dict) -> str:
    load = "n/a" if r.get("load_before") is None else f"{r['load_before']:.2f} -> {r['load_after']:.2f}"
    return "\n".join([
        f"StoSignSGD (Alg. 1) on WeightedL1Coupling, S = {r['seeds']} seeds, d = {r['dim']}, "
        f"{r['rounds']} rounds, {r['threads']} thread(s), load average {load} on {r['cpus']} CPUs",
        f"  batched simulator : {r['batched_updates_per_s']:.3e} coordinate updates/s  (T = {r['steps']})",
        f"  per-seed loop     : {r['loop_updates_per_s']:.3e} coordinate updates/s  (T = {r['loop_steps']}, "
        "simulate layout='per_seed')",
        f"  plain loop        : {r['plain_updates_per_s']:.3e} coordinate updates/s  (T = {r['loop_steps']}, "
        "no simulator)",
        f"  ratio             : {r['ratio']:.1f}x against the per-seed loop   target >= {r['target']:.0f}x: "
        f"{'met' if r['met'] else 'missed'}",
        f"  ratio (plain)     : {r['ratio_plain']:.1f}x against the plain loop",
    ])


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``convexlab bench sim`` (the project grammar, :mod:`convexlab._cli`)."""
    from convexlab import _cli
    from convexlab._validation import argparse_int_at_least

    def count(low: int = 1):  # argparse prefixes "argument --option: " to the message
        return argparse_int_at_least("", low)

    p = _cli.parser("bench sim", __doc__.split("\n")[0] + "\n\nExample:\n"
                    "  convexlab bench sim --seeds 200 --steps 200 --json out.json")
    p.add_argument("--seeds", type=count(), default=1000, metavar="S",
                   help="independent runs S, the rows of the batched parameter (default 1000)")
    p.add_argument("--dim", type=count(), default=100, metavar="D",
                   help="coordinates d of the problem (default 100)")
    p.add_argument("--steps", type=count(), default=500, metavar="T",
                   help="steps of the batched runs (default 500)")
    p.add_argument("--loop-steps", type=count(), default=10, metavar="T",
                   help="steps of the per-seed and plain loop runs (default 10; the rates are compared)")
    p.add_argument("--rounds", type=count(), default=3, metavar="N",
                   help="rounds alternating the three timings; the median of each is reported (default 3)")
    p.add_argument("--seed", type=count(0), default=0, help="base seed of the runs (default 0)")
    _cli.add_threads(p, default=1, help="CPU threads for torch (integer >= 1, default 1: on a shared machine more "
                                        "threads mostly measure contention)")
    p.add_argument("--json", metavar="PATH", help="also write the measurements as JSON")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    if a.json is not None and os.path.isdir(a.json):
        parser.error(f"--json must be a file path, got the directory {a.json!r}")
    if a.json is not None and not os.path.isdir(os.path.dirname(a.json) or "."):
        parser.error(f"--json: the directory of {a.json!r} does not exist")
    try:
        r = run(a.seeds, a.dim, a.steps, a.loop_steps, a.rounds, a.seed, a.threads)
    except ValueError as err:
        parser.error(str(err))
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted; nothing was written", file=sys.stderr)
        return 130
    print(format_report(r))
    if a.json:
        atomic_write(a.json, json.dumps(r, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
