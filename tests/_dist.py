"""Shared by the two-process gloo tests: can localhost TCP work here, and a free port."""

from __future__ import annotations

import multiprocessing
import socket
import time

import torch.distributed as dist


def gloo_unavailable() -> str | None:
    """Why a two-process gloo run on localhost cannot work here, or None."""
    if not dist.is_available() or not dist.is_gloo_available():
        return "torch.distributed with gloo is not available in this torch build"
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
            srv.bind(("127.0.0.1", 0))
            srv.listen(1)
            with socket.create_connection(srv.getsockname(), timeout=5):
                pass
    except OSError as err:
        return f"cannot open a TCP connection on 127.0.0.1: {err}"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(target, args_of_rank, world_size: int, timeout_s: float) -> None:
    """Spawn ``target(*args_of_rank(rank))`` for every rank, wait at most ``timeout_s``, kill
    stragglers, and assert that every rank finished with exit code 0."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=target, args=args_of_rank(r), daemon=True) for r in range(world_size)]
    for p in procs:
        p.start()
    deadline = time.monotonic() + timeout_s
    try:
        for p in procs:
            p.join(max(0.0, deadline - time.monotonic()))
    finally:
        alive = [p for p in procs if p.is_alive()]
        for p in alive:
            p.kill()
            p.join(5)
    assert not alive, f"the two-process run did not finish within {timeout_s:.0f} s"
    codes = [p.exitcode for p in procs]
    assert codes == [0] * world_size, f"worker exit codes {codes} (see the captured stderr)"
