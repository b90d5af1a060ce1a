r"""Argument validation shared by every public entry point.

Every check raises ``ValueError`` naming the argument, the offending value and what is allowed,
so that bad input fails at the call site instead of deep inside torch or as a silent NaN.
"""

from __future__ import annotations

import math
from typing import Any

import torch


def positive_finite(name: str, value: Any) -> float:
    """Return ``value`` as a float if it is a finite number > 0, else raise ``ValueError``."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}") from None
    if not math.isfinite(x) or x <= 0.0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return x


def nonnegative_finite(name: str, value: Any) -> float:
    """Return ``value`` as a float if it is a finite real number >= 0 (not a bool), else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def int_at_least(name: str, value: Any, minimum: int) -> int:
    """Return ``value`` if it is an integer >= ``minimum`` (not a bool), else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def nonnegative_int(name: str, value: Any) -> int:
    """Return ``value`` if it is an integer >= 0, else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return value


def one_of(name: str, value: Any, allowed: tuple) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise ``ValueError``."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed!r}, got {value!r}")
    return value


def tensor(name: str, value: Any, *, min_ndim: int = 0) -> torch.Tensor:
    """Validate a floating-point tensor input.

    Raises ``ValueError`` if ``value`` is not a floating tensor, has fewer than ``min_ndim``
    dimensions, or contains NaN (NaN is reported with its count, never propagated silently).
    """
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise ValueError(f"{name} must have a floating dtype (float16/bfloat16/float32/float64), got {value.dtype}")
    if value.ndim < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} dimension(s), got shape {tuple(value.shape)}"
            + (" (spectral maps act on matrices: pass a tensor of shape (..., rows, cols))" if min_ndim >= 2 else "")
        )
    n_nan = int(torch.isnan(value).sum())
    if n_nan:
        raise ValueError(f"{name} contains {n_nan} NaN entr{'y' if n_nan == 1 else 'ies'} (shape {tuple(value.shape)})")
    return value


def same_shape(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` have the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def broadcastable(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``b`` broadcasts to the shape of ``a``."""
    try:
        out = torch.broadcast_shapes(a.shape, b.shape)
    except RuntimeError:
        out = None
    if out != a.shape:
        raise ValueError(
            f"{name_b} of shape {tuple(b.shape)} must broadcast to the shape of {name_a}, {tuple(a.shape)}"
        )


def argparse_int_at_least(option: str, low: int):
    """An ``argparse`` type: an integer >= ``low``; the error names ``option`` (may be empty)."""
    import argparse

    prefix = f"{option} " if option else ""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{prefix}must be an integer >= {low}, got {text!r}") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"{prefix}must be an integer >= {low}, got {v}")
        return v

    return parse
