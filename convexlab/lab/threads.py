r"""Pin torch to one intra-op thread for a sweep, so that a notebook's numbers do not depend on the
machine's core count (float reductions split across threads sum in another order; a verdict read from
one cell of a sweep can flip on that alone, measured on notebook 14)."""

from __future__ import annotations

import contextlib
import warnings

import torch

from convexlab import _validation as V


@contextlib.contextmanager
def torch_threads(n: int = 1):
    """Run the block with ``torch.set_num_threads(n)``; the previous count is restored on exit (also on error)."""
    V.integer("n", n, 1)
    saved = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


@contextlib.contextmanager
def one_thread_recording_warnings():
    """:func:`torch_threads` (1) with every warning raised in the block recorded (yields their list), so a sweep
    can report how often each was raised instead of printing it once per run."""
    with torch_threads(1), warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        yield seen
