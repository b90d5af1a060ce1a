r"""FP8 emulation for optimizer experiments: raw casts of gradients and optimizer states.

StoSignSGD (Yu, Pan, Liu, Zhang; arXiv 2604.15416) §3.1, App. B.2, Table 12; [SSG-FP8, SSG-TAB12, SSG-Q12]:
master weights and arithmetic stay in higher precision (BF16 master weights [S]), **gradients are
cast to FP8 E5M2** and **optimizer states are stored in FP8 E4M3** [S], by raw, unscaled casts
(no per-tensor or block scaling: the 100 %-zero rows of Table 12 suggest raw casts [S/R], [SSG-Q12] interpretation). The stated failure path [P]: AdamW's second moment v ≈ EMA(g²) underflows
first, v → 0, and m̂/(√v̂ + ε) blows up or the states collapse; sign updates move every
coordinate by at most η and cannot blow up.

Formats (round to nearest, ties to even; values from the OCP FP8 definition, StoSignSGD [SSG-FP8] [R]):

========  =================  =====================  ========================  =========
format    torch dtype        largest finite         smallest normal           smallest
                                                                              subnormal
========  =================  =====================  ========================  =========
``e4m3``  ``float8_e4m3fn``  448 (no inf encoding)  2^−6 ≈ 0.0156             2^−9 ≈ 1.95e−3
``e5m2``  ``float8_e5m2``    57344 (has ±inf)       2^−14 ≈ 6.1e−5            2^−16 ≈ 1.53e−5
========  =================  =====================  ========================  =========

A value with |x| < smallest_subnormal/2 (the ``underflow`` bound) rounds to an exact 0:
|x| < 2^−10 ≈ 9.8e−4 for E4M3, so a stored v = EMA(g²) is 0 wherever the gradient RMS of that
coordinate is below ≈ 0.031, and a stored m is 0 wherever |m| < 9.8e−4.

**Overflow is explicit and selectable** ([SSG-Q12] leaves it open). torch's own behaviour depends
on the version and device: on torch 2.13 CPU the ``float8_e4m3fn`` cast saturates (even ±inf
becomes ±448) while ``float8_e5m2`` overflows to ±inf; the project's note ([SSG-FP8]) that E4M3 overflow gives
NaN describes other builds. :func:`to_fp8` therefore never relies on the native cast for
out-of-range values:

* ``saturate=True`` (default; the usual "SATFINITE" recipe): clamp to ±max before the cast, so
  every finite or infinite input maps to a finite FP8 value; NaN stays NaN.
* ``saturate=False`` (IEEE-style overflow): a value whose round-to-nearest-even result would
  exceed the largest finite value becomes NaN for E4M3 (which has no infinity) and ±inf for
  E5M2; that is |x| > 464 for E4M3 (464 is the tie between 448 and 480 and rounds to the even
  448) and |x| ≥ 61440 for E5M2 (the tie rounds up to 2^16).

The emulated step (:func:`emulated_step`) computes each update in the parameters' dtype from
states read back from storage, then stores the new states rounded ("upcast for the arithmetic,
downcast when storing", StoSignSGD [SSG-FP8-PLAN] plan [D]): the update of step t uses the fresh m_t, v_t computed
from the stored m_{t−1}, v_{t−1}. Whether the paper's runs read the update from the fresh or the
stored states is not known ([SSG-Q12]).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Iterable

import torch

from convexlab import _validation as V

#: state keys that are iterates (weights), not moments: kept at master precision
ITERATE_KEYS = ("step", "z", "x")


@dataclass(frozen=True)
class Fp8Format:
    r"""The constants of one FP8 format (see the module table).

    ``overflow_bound``: the magnitude at which round-to-nearest-even leaves the finite range
    (exclusive when ``tie_overflows`` is False, inclusive when True); ``underflow``: inputs with
    |x| < underflow round to an exact 0 (the tie |x| = underflow rounds to the even 0 as well).
    """

    name: str
    dtype: torch.dtype
    max: float
    smallest_normal: float
    smallest_subnormal: float
    eps: float
    overflow_bound: float
    tie_overflows: bool

    @property
    def underflow(self) -> float:
        return self.smallest_subnormal / 2.0


FORMATS: dict[str, Fp8Format] = {
    # E4M3fn: top binade [256, 512) has spacing 32; 448 = 1.110b·2^8 (even mantissa), 480 is NaN
    "e4m3": Fp8Format("e4m3", torch.float8_e4m3fn, 448.0, 2.0**-6, 2.0**-9, 0.125, 464.0, False),
    # E5M2: top binade [32768, 65536) has spacing 8192; 57344 = 1.11b·2^15 (odd mantissa)
    "e5m2": Fp8Format("e5m2", torch.float8_e5m2, 57344.0, 2.0**-14, 2.0**-16, 0.25, 61440.0, True),
}


def format_info(fmt: str) -> Fp8Format:
    """The :class:`Fp8Format` of ``fmt`` (``"e4m3"`` or ``"e5m2"``)."""
    V.one_of("fmt", fmt, tuple(FORMATS))
    return FORMATS[fmt]


def fp8_grid(fmt: str) -> torch.Tensor:
    """All finite values of ``fmt``, sorted, as float64 (−0 and +0 both appear as 0)."""
    info = format_info(fmt)
    vals = torch.arange(256, dtype=torch.uint8).view(info.dtype).to(torch.float64)
    return torch.unique(vals[torch.isfinite(vals)])


def _check_tensor(name, t):
    if not isinstance(t, torch.Tensor) or not t.is_floating_point():
        raise ValueError(f"{name} must be a floating-point torch.Tensor, got "
                         f"{type(t).__name__ if not isinstance(t, torch.Tensor) else t.dtype}")


def to_fp8(t: torch.Tensor, fmt: str = "e4m3", saturate: bool = True) -> torch.Tensor:
    r"""Round ``t`` to the FP8 format ``fmt`` and back: a new tensor of ``t``'s dtype and shape.

    Q(x) = the nearest ``fmt`` value (ties to even); |x| < ``format_info(fmt).underflow`` gives 0.
    Out of range: ``saturate=True`` clamps to ±max (±inf too), ``saturate=False`` gives NaN (E4M3)
    or ±inf (E5M2) as described in the module docstring. NaN stays NaN. One rounding from ``t``'s
    dtype (a bf16 tensor is rounded from its bf16 values, as a bf16 training run would).

    >>> import torch
    >>> to_fp8(torch.tensor([1e-3, 9e-4, 0.1, 500.0]), "e4m3").tolist()
    [0.001953125, 0.0, 0.1015625, 448.0]
    >>> to_fp8(torch.tensor([500.0]), "e4m3", saturate=False).isnan().item()
    True
    """
    info = format_info(fmt)
    _check_tensor("t", t)
    V.boolean("saturate", saturate)
    # clamp first, so that the result never depends on the build's native out-of-range cast
    y = t.clamp(-info.max, info.max).to(info.dtype).to(t.dtype)
    if not saturate:
        a = t.abs()
        over = (a >= info.overflow_bound) if info.tie_overflows else (a > info.overflow_bound)
        if bool(over.any()):
            fill = torch.copysign(torch.full_like(t, float("inf")), t) if fmt == "e5m2" else torch.full_like(t, float("nan"))
            y = torch.where(over, fill, y)
    return y


def _state_tensors(optimizer, skip):
    for st in optimizer.state.values():
        for key, val in st.items():
            if key not in skip and isinstance(val, torch.Tensor) and val.is_floating_point() and val.ndim > 0:
                yield st, key, val


@torch.no_grad()
def quantize_state_(optimizer: torch.optim.Optimizer, fmt: str = "e4m3", saturate: bool = True,
                    skip: Iterable[str] = ITERATE_KEYS) -> int:
    r"""Store every optimizer state tensor in ``fmt``: round it through :func:`to_fp8` in place.

    Emulates FP8 state storage (StoSignSGD [SSG-FP8] [S]: E4M3 states): the optimizer reads the rounded values
    on its next step. Keys in ``skip`` (default ``("step", "z", "x")``: the step counter and the
    schedule-free iterates, which are weights, not moments) and non-floating or 0-dim entries are
    left alone. Returns the number of tensors rounded.
    """
    format_info(fmt)
    skip = tuple(skip)
    n = 0
    for _, _, val in _state_tensors(optimizer, skip):
        val.copy_(to_fp8(val, fmt, saturate))
        n += 1
    return n


def _params(optimizer):
    return [p for g in optimizer.param_groups for p in g["params"]]


@torch.no_grad()
def emulated_step(optimizer: torch.optim.Optimizer, *, grad_fmt: str | None = "e5m2", state_fmt: str | None = "e4m3",
                  master_dtype: torch.dtype | None = torch.bfloat16, saturate: bool = True) -> None:
    r"""One optimizer step under the FP8 recipe of StoSignSGD §3.1 [S] ([SSG-FP8, SSG-Q12] interpretation).

    1. each ``p.grad`` is replaced by its ``grad_fmt`` rounding (E5M2 gradients);
    2. ``optimizer.step()`` runs in the parameters' dtype on the stored (already rounded) states;
    3. the new states are stored in ``state_fmt`` (:func:`quantize_state_`, E4M3 states);
    4. the parameters are rounded to ``master_dtype`` (BF16 master weights).

    ``None`` for a format or ``master_dtype`` skips that rounding. Closures are not supported (the
    gradient must be rounded before the step).
    """
    if grad_fmt is not None:
        format_info(grad_fmt)
    if state_fmt is not None:
        format_info(state_fmt)
    if master_dtype is not None and (not isinstance(master_dtype, torch.dtype) or not master_dtype.is_floating_point):
        raise ValueError(f"master_dtype must be None or a floating torch.dtype, got {master_dtype!r}")
    params = _params(optimizer)
    if grad_fmt is not None:
        for p in params:
            if p.grad is not None:
                p.grad.copy_(to_fp8(p.grad, grad_fmt, saturate))
    optimizer.step()
    if state_fmt is not None:
        quantize_state_(optimizer, state_fmt, saturate)
    if master_dtype is not None:
        for p in params:
            p.copy_(p.to(master_dtype).to(p.dtype))


def _name_map(optimizer, names):
    if names is None:
        out = {}
        for gi, g in enumerate(optimizer.param_groups):
            given = g.get("param_names")
            for i, p in enumerate(g["params"]):
                out[id(p)] = given[i] if given else f"group{gi}.param{i}"
        return out
    if isinstance(names, dict):
        return {id(p): str(n) for p, n in names.items()}
    return {id(p): str(n) for n, p in names}


@torch.no_grad()
def state_statistics(optimizer: torch.optim.Optimizer, fmt: str = "e4m3", saturate: bool = True,
                     names=None, skip: Iterable[str] = ITERATE_KEYS) -> list[dict]:
    r"""Per-parameter Table-12 statistics of an optimizer state stored in ``fmt`` (StoSignSGD
    Table 12 [P]: "AdamW optimizer state collapse under FP8_E4M3 quantization").

    For every parameter with state, a dict with ``param`` (name), ``shape``, ``numel`` and, for every
    floating state tensor ``key`` (``exp_avg`` = m and ``exp_avg_sq`` = v for
    :class:`convexlab.optim.AdamW`; ``envelope`` for StoSignSGD; ...):

    * ``zeros_<key>``: share of exact zeros of Q(state) (the Table-12 "zeros (%)", as a fraction);
    * ``flushed_<key>``: share that is nonzero in the state but 0 after storage (the underflow
      part; equal to ``zeros_`` minus the exact zeros already there; 0 if the state is stored
      already, e.g. after :func:`emulated_step`);

    plus ``m_zeros``/``v_zeros`` aliases for ``exp_avg``/``exp_avg_sq`` and, where ``p.grad`` is
    set, ``max_abs_grad`` = max|g| and ``max_grad_sq`` = max g² (float64). ``names``: None (the
    group's ``param_names`` or ``group{i}.param{j}``), a dict param → name, or an iterable of
    (name, param) such as ``model.named_parameters()``.
    """
    format_info(fmt)
    skip = tuple(skip)
    label = _name_map(optimizer, names)
    rows = []
    for p in _params(optimizer):
        st = optimizer.state.get(p)
        if not st:
            continue
        row = {"param": label.get(id(p), f"param@{id(p):x}"), "shape": tuple(p.shape), "numel": p.numel()}
        for key, val in st.items():
            if key in skip or not isinstance(val, torch.Tensor) or not val.is_floating_point() or val.ndim == 0:
                continue
            q = to_fp8(val, fmt, saturate)
            zero = q == 0
            row[f"zeros_{key}"] = float(zero.double().mean())
            row[f"flushed_{key}"] = float((zero & (val != 0)).double().mean())
        if "zeros_exp_avg" in row:
            row["m_zeros"] = row["zeros_exp_avg"]
        if "zeros_exp_avg_sq" in row:
            row["v_zeros"] = row["zeros_exp_avg_sq"]
        if p.grad is not None:
            g = p.grad.detach().to(torch.float64)
            row["max_abs_grad"] = float(g.abs().max())
            row["max_grad_sq"] = float(g.square().max())
        rows.append(row)
    return rows


def weighted_share(rows: list[dict], key: str) -> float:
    """The parameter-count weighted mean of ``key`` over the rows of :func:`state_statistics`
    that have it (the share over all coordinates of the model)."""
    have = [r for r in rows if key in r]
    if not have:
        raise ValueError(f"key must be a statistic present in the rows, got {key!r}")
    n = sum(r["numel"] for r in have)
    return sum(r[key] * r["numel"] for r in have) / n


@torch.no_grad()
def update_change(optimizer: torch.optim.Optimizer, fmt: str = "e4m3", *, factor: float = 2.0, saturate: bool = True,
                  grad_fmt: str | None = None) -> dict:
    r"""How storing the current optimizer state in ``fmt`` changes the *next* update, per coordinate.

    The parameters must hold the next gradient in ``.grad``. Two deep copies of the optimizer
    (parameters, state and random generator included, so stochastic sign methods draw the same
    noise) take that step: one from the state as it is (Δ), one from the state rounded by
    :func:`quantize_state_` (Δ_q; with ``grad_fmt`` the gradient is rounded as well). A coordinate
    counts as **changed** unless Δ = Δ_q = 0 or Δ_q/Δ ∈ [1/factor, factor]: a sign flip, a zeroed
    update, or a change of magnitude by more than ``factor``; FP8 rounding alone (≤ 6.25 %
    relative in E4M3) never counts. The optimizer and its parameters are left untouched.

    Returns ``changed`` (share over all coordinates), ``per_param`` (shares), ``max_abs_update``
    and ``max_abs_update_q`` (max |Δ| and max |Δ_q| over all coordinates; divide by the lr to
    compare with the sign methods' bound |Δ| ≤ lr).
    """
    format_info(fmt)
    if grad_fmt is not None:
        format_info(grad_fmt)
    if not isinstance(factor, (int, float)) or isinstance(factor, bool) or not factor >= 1.0 or factor == float("inf"):
        raise ValueError(f"factor must be a finite number >= 1, got {factor!r}")
    if any(p.grad is None for p in _params(optimizer)):
        raise ValueError("optimizer: every parameter must hold the next gradient in .grad before update_change()")
    base, quant = copy.deepcopy(optimizer), copy.deepcopy(optimizer)
    for opt in (base, quant):  # deepcopy does not carry .grad over
        for p, src in zip(_params(opt), _params(optimizer)):
            p.grad = src.grad.detach().clone()
    quantize_state_(quant, fmt, saturate)
    if grad_fmt is not None:
        for p in _params(quant):
            p.grad.copy_(to_fp8(p.grad, grad_fmt, saturate))
    deltas = []
    for opt in (base, quant):
        before = [p.detach().clone() for p in _params(opt)]
        opt.step()
        deltas.append([(p.detach() - b).to(torch.float64) for p, b in zip(_params(opt), before)])
    per_param, n_changed, n_total = [], 0, 0
    for d, dq in zip(*deltas):
        ratio = dq / torch.where(d != 0, d, torch.ones_like(d))
        same = torch.where(d == 0, dq == 0, (ratio >= 1.0 / factor) & (ratio <= factor))
        changed = int((~same).sum())
        per_param.append(changed / max(d.numel(), 1))
        n_changed += changed
        n_total += d.numel()
    return {
        "changed": n_changed / max(n_total, 1),
        "per_param": per_param,
        "max_abs_update": max(float(d.abs().max()) for d in deltas[0]),
        "max_abs_update_q": max(float(d.abs().max()) for d in deltas[1]),
    }
