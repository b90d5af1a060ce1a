"""Shared by the two-process gloo tests: can localhost TCP work here, and a free port."""

from __future__ import annotations

import socket

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
