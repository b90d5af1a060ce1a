r"""Argument validation shared by every public entry point: the one validation module of convexlab.

Every check raises ``ValueError`` naming the argument, the offending value and what is allowed,
so that bad input fails at the call site instead of deep inside torch or as a silent NaN. Every
validator takes ``(name, value, ...)`` and returns the accepted value, so a call site reads
``lr = V.nonnegative_finite("lr", lr)`` (``from convexlab import _validation as V``):

=============================================  =============================================================
``positive_finite(name, v)``                   a real number in (0, ∞) → float
``nonnegative_finite(name, v)``                a real number in [0, ∞) (learning rates, decay) → float
``beta(name, v, allow_one=False)``             a coefficient in [0, 1), or [0, 1] with ``allow_one`` → float
``betas(name, v, allow_one=(False, False))``   a tuple of coefficients, entry i checked as ``name[i]``
``integer(name, v, minimum=0, maximum=None)``  an int in [minimum, maximum] (a bound None: unchecked)
``boolean(name, v)``                           ``True`` or ``False`` (not 0/1)
``one_of(name, v, allowed)``                   a member of ``allowed``
``tensor(name, v, min_ndim=0)``                a floating tensor without NaN
=============================================  =============================================================

A bool is never a number here (``lr=True`` is an error), NaN and ±inf never pass a real-number
check, and one-element real tensors and NumPy scalars count as numbers. Messages that say more
than a range (why a bound exists, which other argument it depends on) stay at their call site.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch


def _finite(value: Any) -> float | None:
    """``value`` as a finite float, or None.

    Accepted: a real number (``int``, ``float``, a NumPy real scalar) or a one-element real tensor.
    Rejected (None): bools (``True`` is not a step size), strings, None, complex numbers, NaN, ±inf,
    and integers too large for a float (so that no caller meets an ``OverflowError``)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_complex() \
            and value.dtype != torch.bool:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        x = float(value)
    except (OverflowError, TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def positive_finite(name: str, value: Any) -> float:
    """``value`` as a float if it is a finite real number > 0 (not a bool), else ``ValueError``."""
    x = _finite(value)
    if x is None or x <= 0.0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return x


def nonnegative_finite(name: str, value: Any) -> float:
    """``value`` as a float if it is a finite real number >= 0 (not a bool), else ``ValueError``.

    Also the learning-rate check of every optimizer (``lr = 0`` is allowed: a frozen group)."""
    x = _finite(value)
    if x is None or x < 0.0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return x


def beta(name: str, value: Any, *, allow_one: bool = False) -> float:
    """``value`` as a float if it is a momentum/averaging coefficient in [0, 1) (``allow_one``: [0, 1]),
    else ``ValueError``."""
    x = _finite(value)
    if x is None or x < 0.0 or x > 1.0 or (x == 1.0 and not allow_one):
        raise ValueError(f"{name} must be in [0, {'1]' if allow_one else '1)'}, got {value!r}")
    return x


def betas(name: str, value: Any, *, allow_one: tuple[bool, ...] = (False, False)) -> tuple[float, ...]:
    """``value`` as a tuple of floats if it is a tuple/list of ``len(allow_one)`` coefficients, entry
    ``i`` checked by :func:`beta` under the name ``name[i]`` with ``allow_one[i]``; else ``ValueError``."""
    if not isinstance(value, (tuple, list)) or len(value) != len(allow_one):
        raise ValueError(f"{name} must be a tuple of {len(allow_one)} numbers, got {value!r}")
    return tuple(beta(f"{name}[{i}]", b, allow_one=a) for i, (b, a) in enumerate(zip(value, allow_one)))


def integer(name: str, value: Any, minimum: int | None = 0, maximum: int | None = None) -> int:
    """``value`` as an int if it is an integer (not a bool, not a float) in [``minimum``, ``maximum``],
    else ``ValueError``; a bound given as None is not checked (``integer("seed", s, None)``: any integer)."""
    ok = (not isinstance(value, bool) and isinstance(value, numbers.Integral)
          and (minimum is None or value >= minimum) and (maximum is None or value <= maximum))
    if not ok:
        if maximum is None:
            allowed = "" if minimum is None else f" >= {minimum}"
        else:
            allowed = f" <= {maximum}" if minimum is None else f" in [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be an integer{allowed}, got {value!r}")
    return int(value)


def boolean(name: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False`` (not 0/1, not a string), else ``ValueError``."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def one_of(name: str, value: Any, allowed: tuple) -> Any:
    """``value`` if it is one of ``allowed`` (compared with ``==``), else ``ValueError``."""
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
