r"""Throughput of the batched simulator against a plain per-seed loop, measured in one run.

StoSignSGD (Alg. 1, ``StoSignSGD.theory``) on the weighted-ℓ1-plus-coupling problem of the
StoSignSGD spec §3.4 with bounded sign-flip oracle noise, d = 100 coordinates, S = 1000 seeds:

* **batched**: :func:`convexlab.sim.simulate` with the S runs as the rows of one (S, d) parameter
  (one optimizer step and one oracle call per time step for all seeds);
* **per-seed loop**: the same optimizer class and the same problem, one (1, d) parameter and one
  optimizer per seed, stepped seed by seed in a Python loop — what one writes without the
  simulator (it is also the simulator's ``layout="per_seed"`` fallback, which is what is timed).

Throughput is coordinate updates per second, S·d·T / seconds (the loop runs fewer steps, the rate
is what is compared). Rounds alternate batched and loop and the median of each is reported, so
machine noise falls on both. Target: ratio ≥ 50×.

Usage::

    python -m convexlab.bench.sim_speed                      # S = 1000, d = 100
    convexlab bench sim --seeds 200 --steps 200 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from convexlab._io import atomic_write

TARGET = 50.0


def _problem(d: int):
    from convexlab.problems.convex import WeightedL1Coupling
    from convexlab.problems.noise import SignFlip

    return WeightedL1Coupling(d=d, noise=SignFlip(1.0))


def _time(problem, seeds: int, steps: int, layout: str, seed: int) -> float:
    from convexlab.optim import StoSignSGD
    from convexlab.sim import simulate

    make = lambda ps: StoSignSGD.theory(ps, diameter=problem.D_inf, box=problem.box, seed=seed)  # noqa: E731
    t0 = time.perf_counter()
    simulate(problem, make, steps, seeds, record=[steps], seed=seed, layout=layout)
    return time.perf_counter() - t0


def run(seeds: int = 1000, dim: int = 100, steps: int = 500, loop_steps: int = 10, rounds: int = 3,
        seed: int = 0, threads: int | None = None) -> dict:
    """Median coordinate updates per second of both ways and their ratio (a dict)."""
    for name, v in dict(seeds=seeds, dim=dim, steps=steps, loop_steps=loop_steps, rounds=rounds).items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        problem = _problem(dim)
        batched, loop = [], []
        for _ in range(rounds):
            batched.append(seeds * dim * steps / _time(problem, seeds, steps, "batched", seed))
            loop.append(seeds * dim * loop_steps / _time(problem, seeds, loop_steps, "per_seed", seed))
    finally:
        torch.set_num_threads(old)
    b, l = statistics.median(batched), statistics.median(loop)
    return dict(seeds=seeds, dim=dim, steps=steps, loop_steps=loop_steps, rounds=rounds, threads=torch.get_num_threads()
                if threads is None else threads, batched_updates_per_s=b, loop_updates_per_s=l, ratio=b / l,
                target=TARGET, met=b / l >= TARGET)


def format_report(r: dict) -> str:
    return "\n".join([
        f"StoSignSGD (Alg. 1) on WeightedL1Coupling, S = {r['seeds']} seeds, d = {r['dim']}, "
        f"{r['rounds']} rounds, {r['threads']} thread(s)",
        f"  batched simulator : {r['batched_updates_per_s']:.3e} coordinate updates/s  (T = {r['steps']})",
        f"  per-seed loop     : {r['loop_updates_per_s']:.3e} coordinate updates/s  (T = {r['loop_steps']})",
        f"  ratio             : {r['ratio']:.1f}x   target >= {r['target']:.0f}x: {'met' if r['met'] else 'missed'}",
    ])


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="convexlab bench sim", description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=1000)
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--steps", type=int, default=500, help="steps of the batched runs")
    p.add_argument("--loop-steps", type=int, default=10, help="steps of the per-seed loop runs")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--json", metavar="PATH")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    try:
        r = run(a.seeds, a.dim, a.steps, a.loop_steps, a.rounds, a.seed, a.threads)
    except ValueError as err:
        parser.error(str(err))
    print(format_report(r))
    if a.json:
        atomic_write(a.json, json.dumps(r, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
