"""The shared argument validators (convexlab/_validation.py): one module, one argument order
``(name, value, ...)``. Accepted values pass through (real numbers as floats), everything else is a
ValueError whose message names the argument, the allowed range and the offending value."""

import inspect
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from convexlab import _validation as V

NAN, INF = math.nan, math.inf

# (validator applied to (name, value), accepted value -> returned value, rejected values, message prefix)
CASES = {
    "positive_finite": (
        lambda n, v: V.positive_finite(n, v),
        [(2.5, 2.5), (3, 3.0), (np.float32(0.5), 0.5), (torch.tensor(1.5, dtype=torch.float64), 1.5)],
        [True, False, NAN, INF, -INF, 0, 0.0, -1e-9, "1", None, 1 + 0j, 10**400, torch.tensor([1.0, 2.0])],
        "must be a finite number > 0",
    ),
    "nonnegative_finite": (
        lambda n, v: V.nonnegative_finite(n, v),
        [(0, 0.0), (2.5, 2.5), (np.int64(4), 4.0), (torch.tensor(0.0), 0.0)],
        [True, False, NAN, INF, -1e-9, -1, "1", None, torch.tensor(True)],
        "must be a finite number >= 0",
    ),
    "beta": (
        lambda n, v: V.beta(n, v),
        [(0, 0.0), (0.9, 0.9), (np.float64(0.99), 0.99)],
        [True, False, NAN, INF, -0.1, 1, 1.0, 1.5, "0.9", None],
        r"must be in \[0, 1\)",
    ),
    "beta(allow_one)": (
        lambda n, v: V.beta(n, v, allow_one=True),
        [(1, 1.0), (0.5, 0.5)],
        [True, NAN, INF, -0.1, 1.0000001, None],
        r"must be in \[0, 1\]",
    ),
    "integer": (
        lambda n, v: V.integer(n, v),
        [(0, 0), (7, 7), (np.int64(3), 3)],
        [True, False, NAN, INF, -1, 1.0, "2", None, np.bool_(True)],
        "must be an integer >= 0",
    ),
    "integer(minimum, maximum)": (
        lambda n, v: V.integer(n, v, 1, 5),
        [(1, 1), (5, 5)],
        [True, NAN, INF, 0, 6, 2.0],
        r"must be an integer in \[1, 5\]",
    ),
    "integer(no bound)": (
        lambda n, v: V.integer(n, v, None),
        [(-3, -3), (0, 0), (2**70, 2**70)],
        [True, False, NAN, INF, 1.0, "1", None],
        "must be an integer, got",
    ),
    "boolean": (
        lambda n, v: V.boolean(n, v),
        [(True, True), (False, False)],
        [0, 1, 1.0, NAN, INF, "True", None, np.bool_(True)],
        "must be True or False",
    ),
    "one_of": (
        lambda n, v: V.one_of(n, v, ("a", "b")),
        [("a", "a"), ("b", "b")],
        [True, NAN, INF, "c", None, 0],
        r"must be one of \('a', 'b'\)",
    ),
}


@pytest.mark.parametrize("which", sorted(CASES))
def test_accepted_values_pass_through(which):
    check, good, _, _ = CASES[which]
    for value, expected in good:
        out = check("arg", value)
        assert out == expected and type(out) is type(expected), (which, value, out)


@pytest.mark.parametrize("which", sorted(CASES))
def test_rejects_bool_nan_inf_and_out_of_range_naming_argument_and_value(which):
    check, _, bad, fragment = CASES[which]
    for value in bad:
        with pytest.raises(ValueError) as info:
            check("my_arg", value)
        msg = str(info.value)
        assert re.match(rf"^my_arg {fragment}", msg), (which, value, msg)
        assert msg.endswith(f"got {value!r}"), (which, value, msg)


def test_betas():
    assert V.betas("betas", (0.9, 0.999)) == (0.9, 0.999)
    assert V.betas("betas", [0, 1], allow_one=(False, True)) == (0.0, 1.0)
    for bad in ((0.9,), (0.9, 0.99, 0.999), 0.9, "ab", None, True):
        with pytest.raises(ValueError, match=rf"^betas must be a tuple of 2 numbers, got {re.escape(repr(bad))}$"):
            V.betas("betas", bad)
    # an entry is named by its index, with its own range
    for bad, msg in (((0.9, 1.0), r"^betas\[1\] must be in \[0, 1\), got 1.0$"),
                     ((True, 0.9), r"^betas\[0\] must be in \[0, 1\), got True$"),
                     ((NAN, 0.9), r"^betas\[0\] must be in \[0, 1\), got nan$"),
                     ((0.9, INF), r"^betas\[1\] must be in \[0, 1\), got inf$"),
                     ((1.0, 1.5), r"^betas\[1\] must be in \[0, 1\], got 1.5$")):
        with pytest.raises(ValueError, match=msg):
            V.betas("betas", bad, allow_one=(True, True) if bad == (1.0, 1.5) else (False, False))


def test_integer_bounds_in_the_message():
    with pytest.raises(ValueError, match=r"^seed must be an integer in \[0, 9\], got 10$"):
        V.integer("seed", 10, maximum=9)
    with pytest.raises(ValueError, match=r"^k must be an integer <= 9, got 10$"):
        V.integer("k", 10, None, 9)
    with pytest.raises(ValueError, match=r"^steps must be an integer >= 1, got 0$"):
        V.integer("steps", 0, 1)


def test_every_validator_takes_name_then_value():
    for fn in (V.positive_finite, V.nonnegative_finite, V.beta, V.betas, V.integer, V.boolean, V.one_of, V.tensor):
        params = list(inspect.signature(fn).parameters)
        assert params[:2] == ["name", "value"], (fn.__name__, params)


def test_no_second_validator_family_in_the_package():
    """One of each: the optimizers' old ``check_*(value, name)`` helpers and the two opposite
    ``_check_bool`` are gone; every package calls convexlab._validation."""
    root = Path(V.__file__).resolve().parent
    old = re.compile(r"^\s*def (check_(lr|nonneg|positive|beta|betas|choice|int)|_check_bool)\(", re.M)
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py") if old.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
    import convexlab.optim.base as base
    assert not [n for n in vars(base) if n.startswith("check_") or n == "_finite"]


def test_optimizers_and_precision_report_through_the_shared_validators():
    from convexlab.optim import AdamW, Muon
    from convexlab.precision import to_fp8

    p = [torch.nn.Parameter(torch.zeros(3, 3))]
    for kwargs, msg in ((dict(lr=True), r"^lr must be a finite number >= 0, got True$"),
                        (dict(lr=NAN), r"^lr must be a finite number >= 0, got nan$"),
                        (dict(weight_decay=-1.0), r"^weight_decay must be a finite number >= 0, got -1.0$"),
                        (dict(betas=(0.9, 1.0)), r"^betas\[1\] must be in \[0, 1\), got 1.0$"),
                        (dict(eps=INF), r"^eps must be a finite number >= 0, got inf$"),
                        (dict(seed=-1), r"^seed must be an integer in \[0, \d+\], got -1$"),
                        (dict(nonfinite="ignore"), r"^nonfinite must be one of \('raise', 'skip'\), got 'ignore'$")):
        with pytest.raises(ValueError, match=msg):
            AdamW(p, **kwargs)
    with pytest.raises(ValueError, match=r"^nesterov must be True or False, got 1$"):
        Muon(p, nesterov=1)
    with pytest.raises(ValueError, match=r"^maximize must be True or False, got 'no'$"):
        AdamW(p, maximize="no")
    with pytest.raises(ValueError, match=r"^saturate must be True or False, got 1$"):
        to_fp8(torch.ones(2), saturate=1)
