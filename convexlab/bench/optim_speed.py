r"""Step time, state memory, host syncs and ATen ops per step of every registry optimizer, in one run.

Times are ratios to torch (AdamW-foreach, torch.optim.Muon) and to the public implementations.

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
``--threads 1 2`` repeats the whole run (fresh parameters and optimizers) at each thread count.

Rows, all measured in the same run:

* references: ``torch.optim.AdamW(foreach=True)`` on all parameters (``torch.AdamW-foreach``) and
  on the hidden 2-D weights (``torch.AdamW-foreach[2-D]``), and ``torch.optim.Muon`` on the hidden
  2-D weights (``torch.Muon``);
* public implementations (column ``public``), the best installed public code of a method, built
  with the same hyperparameters as the registry row it is compared with (:data:`PUBLIC`):
  ``schedulefree.AdamWScheduleFree(foreach=True)`` for SFAdamW, ``torch.optim.Adamax(foreach=True)``
  for AdaMax, ``lion_pytorch.foreach.Lion`` (the multi-tensor Lion of the ``lion-pytorch`` package;
  its per-tensor ``lion_pytorch.Lion`` is slower) for Lion, and the reference rows for AdamW
  (torch AdamW-foreach) and Muon (torch.optim.Muon). A package that is not importable gives
  ``n/a`` in the column, never an error. ``schedulefree`` divides ``p.grad`` in place, so it steps
  its own copy of the parameters and gradients, and its gradients are restored (untimed) before
  each of its steps; ``torch.optim.Adamax``'s weight decay is L2 (added to the gradient, one
  multi-tensor pass) where convexlab's AdaMax decays decoupled (also one pass);
* every registry optimizer: elementwise ones update every parameter, matrix-only ones (class
  attribute ``matrix_only = True``) the hidden 2-D weights of all layers (``--matrix-layers N``
  limits them to the first N layers);
* phase variants (:data:`VARIANTS`): the rows ``SoftSignum`` and ``SoftMuon`` are built with a
  zero-length sign phase and a long transition (every timed step is a tanh step, resp. a coupled
  Newton–Schulz inverse-root step); ``SoftSignum[sign phase]`` and ``SoftMuon[Muon phase]`` time
  the same classes in their first phase (hard sign, resp. Muon's Newton–Schulz).

Every optimizer, the references included, is built with weight decay 0.01 (:data:`WEIGHT_DECAY`)
where it has one, so every row pays the same decay pass.

State memory: the bytes of every tensor in ``opt.state`` (nested dicts, lists and tuples walked;
a tensor reachable twice counted once) divided by the number of parameters the optimizer updates.
0-dim tensors (torch's per-parameter ``step`` counters) are left out of the per-parameter figure,
because they do not grow with the parameter count (they are reported in the JSON as
``state_scalar_bytes``); so AdamW is exactly 8 bytes/param in float32, Signum 4 and signSGD 0.

Host syncs and ATen ops per step (columns ``syncs/step``, ``ATen ops/step``): counted, not timed,
by :func:`count_step` during one more (untimed) step of each optimizer after the timed ones.
A ``TorchDispatchMode`` sees every ATen operator call of the step (after autograd and after
CompositeImplicit decompositions; the inside of an operator is not seen, so a foreach operator
counts once), and ``Tensor.tolist`` / ``Tensor.numpy`` are wrapped while the step runs.

* A **host sync** is a point where the host must wait for a device value: a scalar read
  ``aten::_local_scalar_dense`` (what ``Tensor.item``, ``bool(t)``, ``float(t)``, ``int(t)``,
  ``math.isfinite(t)`` and ``f"{t:g}"`` reach), ``aten::equal`` / ``aten::allclose`` /
  ``aten::is_nonzero``, an operator whose output shape depends on the data (``nonzero``,
  ``argwhere``, ``masked_select``, the ``unique`` family, ``repeat_interleave`` without
  ``output_size``, indexing or index_put with a boolean mask), ``Tensor.tolist`` / ``Tensor.numpy``,
  and, on an accelerator, a blocking copy from the device to the host. Calls made inside one
  counted call are not counted again. On a CPU every tensor counts as a device tensor (the count
  is what would synchronise if the same tensors lived on a GPU), except the tensors that the
  optimizer keeps on the host on a GPU too: torch.optim's 0-dim ``state["step"]`` counters when
  the group is neither ``capturable`` nor ``fused`` (:func:`host_resident_tensors`). On an
  accelerator only tensors on the accelerator count. Not counted: explicit stream or event
  synchronisation and the allocator's own syncs.
* **ATen ops** is the number of ATen operator calls that do work on tensor data, a proxy for
  kernel launches on a GPU: view operators, allocation-only ones (``empty*``, ``resize_``,
  ``set_``), metadata ones (``promote_types``, ``result_type``), ``detach``/``alias``/``lift_fresh``
  and the scalar reads above are left out, and so are host-side operators (every tensor argument
  is one of the host-resident tensors above or 0-dim, such as torch's step-counter increment; on
  an accelerator: no tensor argument on the accelerator). A foreach operator counts once (on CUDA
  it launches one kernel per chunk of its tensor list); a composite kernel such as
  ``linalg_vector_norm`` counts once.

Targets (column ``target``, one or more conditions per row; ``met`` when all hold, the missed
ones are listed under the table), as set by issue 12 (:data:`TARGETS`), ratios of medians of the
same run: SignSGD, Signum, Lion ≤ 0.5× torch AdamW-foreach; SoftSignum ≤ 0.8× in every phase
(rows ``SoftSignum`` and ``SoftSignum[sign phase]``); StoSignSGD ≤ 1.0×; IEStoSignSGD ≤ 0.8×;
our AdamW ≤ 0.8×; SFAdamW ≤ 1.0×, at ≤ 8 B/param, and ≤ 1.0× ``schedulefree.AdamWScheduleFree``;
SignConverted ≤ 1.5×; Muon ≤ 1.0× torch.optim.Muon on all layers; SoftMuon ≤ 1.3× our Muon (both
phase rows); and ≤ 1 host sync per step for every registry optimizer (:data:`SYNC_TARGET`).

CPU note: ``torch.optim.Muon`` and Muon run Newton–Schulz in bfloat16. This project's CPU (AMD
EPYC, ``lscpu`` lists ``avx512_bf16``) multiplies bf16 natively and faster than fp32: a
2048×512 by 512×2048 matmul, median of 10 alternating calls each after 2 warm-up calls, measured
in one run (torch 2.13.0+cpu, load average 0.37): fp32 49.75 ms, bf16 21.42 ms (2.32×) at 1 thread;
fp32 23.74 ms, bf16 10.37 ms (2.29×) at 2 threads. So the matrix optimizers are timed on all
layers on a CPU too. Every run repeats this measurement (:func:`matmul_speed`) at its thread
count and prints it with the table (``matmul`` in the JSON).

Usage (lists take commas and/or spaces; ``--only`` is the earlier spelling of ``--optimizers``)::

    convexlab bench optim                                  # all rows, 25M params, current threads
    convexlab bench optim --threads 1 2                    # the whole table at 1 and at 2 threads
    convexlab bench optim --optimizers Signum,StoSignSGD --repeats 20
    convexlab bench optim --optimizers "SoftSignum[sign phase]" --size tiny
    convexlab bench optim --size tiny --json out.json --markdown table.md
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import gc
import importlib
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, NamedTuple

import torch
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

from convexlab._io import atomic_write, file_destination_error
from convexlab._validation import argparse_int_at_least

__all__ = [
    "BENCH_KWARGS",
    "PUBLIC",
    "REFERENCES",
    "SIZES",
    "SYNC_TARGET",
    "TARGETS",
    "VARIANTS",
    "ModelShape",
    "PublicImpl",
    "StepCounts",
    "Target",
    "StateBytes",
    "bench_kwargs",
    "build_optimizer",
    "build_parameters",
    "count_step",
    "host_resident_tensors",
    "main",
    "matmul_speed",
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

    ``matrices`` are the hidden 2-D weights as :func:`convexlab.optim.split_params` routes the
    (name, parameter) pairs (by name: the ``embedding`` and the 1-D gains are not hidden matrices),
    the same routing as training and the comparison benchmark.

    The gradients are set once on ``p.grad`` and shared by every optimizer of the run (optimizers
    never write into ``p.grad``; the one public implementation that does steps a private copy), as
    are the parameters: each optimizer keeps its own state, and the drift of the values over a few
    dozen small steps does not change the cost of a step.
    """
    from convexlab.optim import split_params

    gen = torch.Generator().manual_seed(seed)
    params, names = [], {}
    for name, s in shape.shapes():
        init = torch.ones(s) if len(s) == 1 else 0.02 * torch.randn(s, generator=gen)
        p = torch.nn.Parameter(init.to(device))
        p.grad = (1e-3 * torch.randn(s, generator=gen)).to(device)
        params.append(p)
        names[id(p)] = name
    matrices, _ = split_params([(names[id(p)], p) for p in params])
    return Parameters(params, matrices, names)


# ---------------------------------------------------------------------------------------------
# host syncs and ATen ops of one step
# ---------------------------------------------------------------------------------------------
def _aten_packets(*names: str) -> frozenset:
    out = set()
    for n in names:
        try:
            out.add(getattr(torch.ops.aten, n))
        except (AttributeError, RuntimeError):  # an operator this torch does not have
            pass
    return frozenset(out)


#: operators that hand a tensor value to the host
_SCALAR_READS = _aten_packets("_local_scalar_dense", "item", "is_nonzero", "equal", "allclose")
#: operators whose output shape depends on the data (the host must read a count)
_DATA_SHAPED = _aten_packets("nonzero", "argwhere", "masked_select", "_unique", "_unique2", "unique_dim",
                             "unique_consecutive", "unique_dim_consecutive")
_INDEXING = _aten_packets("index", "index_put", "index_put_", "_index_put_impl_")
_REPEAT_INTERLEAVE = _aten_packets("repeat_interleave")
_TO_COPY = _aten_packets("_to_copy")
_COPY = _aten_packets("copy_")
#: operators that launch no kernel: allocation, aliasing, metadata, and the scalar reads (a copy)
_NO_KERNEL = _aten_packets(
    "empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided", "resize_", "set_", "detach",
    "alias", "lift", "lift_fresh", "sym_size", "sym_stride", "sym_numel", "sym_storage_offset", "is_same_size",
    "_has_compatible_shallow_copy_type", "_local_scalar_dense", "item", "is_nonzero", "result_type",
    "promote_types", "can_cast",
)
#: Python-level reads wrapped while a step is counted (they dispatch no ATen operator on a CPU)
_PY_READS = ("tolist", "numpy")


@dataclass(frozen=True)
class StepCounts:
    """What :func:`count_step` counted during one call: totals and the count per operator name."""

    host_syncs: int
    aten_ops: int
    syncs: dict[str, int]  # per operator (or ``Tensor.tolist`` / ``Tensor.numpy``)
    ops: dict[str, int]
    sync_sites: dict[str, int]  # per calling line outside torch: ``path:line`` (path from the package root)


class _StepCounter(TorchDispatchMode):
    """The dispatch mode of :func:`count_step` (see the module docstring for what is counted)."""

    def __init__(self, accelerator: bool, host_resident: Iterable[torch.Tensor]):
        super().__init__()
        self.accelerator = accelerator
        self._resident = list(host_resident)  # kept alive so that their ids stay theirs
        self._resident_ids = {id(t) for t in self._resident}
        self.depth = 0  # > 0 inside a counted Python-level read: its inner operators are not syncs again
        self.syncs: collections.Counter = collections.Counter()
        self.ops: collections.Counter = collections.Counter()
        self.sites: collections.Counter = collections.Counter()

    def record_sync(self, name: str) -> None:
        self.syncs[name] += 1
        self.sites[_caller()] += 1

    def on_device(self, t: torch.Tensor) -> bool:
        """True when reading ``t`` on the host would wait for a device (see the module docstring)."""
        if id(t) in self._resident_ids:
            return False
        return t.device.type != "cpu" if self.accelerator else True

    def _is_sync(self, func, args, kwargs, tensors: list[torch.Tensor]) -> bool:
        packet = func.overloadpacket
        if packet in _SCALAR_READS or packet in _DATA_SHAPED:
            return any(self.on_device(t) for t in tensors)
        if packet in _REPEAT_INTERLEAVE:
            return (func._overloadname in ("Tensor", "self_Tensor") and kwargs.get("output_size") is None
                    and any(self.on_device(t) for t in tensors))
        if packet in _INDEXING:
            indices = args[1] if len(args) > 1 else kwargs.get("indices", ())
            return any(isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8) and self.on_device(i)
                       for i in (indices or ()))
        if self.accelerator and packet in _TO_COPY and args and isinstance(args[0], torch.Tensor):
            target = kwargs.get("device")
            return (args[0].device.type != "cpu" and target is not None and torch.device(target).type == "cpu")
        if self.accelerator and packet in _COPY and len(args) >= 2:
            dst, src = args[0], args[1]
            non_blocking = args[2] if len(args) > 2 else kwargs.get("non_blocking", False)
            return dst.device.type == "cpu" and src.device.type != "cpu" and not non_blocking
        return False

    def _is_kernel(self, func, kwargs, tensors: list[torch.Tensor]) -> bool:
        if func.is_view or func.overloadpacket in _NO_KERNEL:
            return False
        resident = [t for t in tensors if id(t) in self._resident_ids]
        if resident and all(t.dim() == 0 for t in tensors if id(t) not in self._resident_ids):
            return False  # host-side bookkeeping (torch's step counters)
        if self.accelerator:
            if tensors:
                return any(t.device.type != "cpu" for t in tensors)
            device = kwargs.get("device")
            return device is not None and torch.device(device).type != "cpu"
        return True

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func.namespace != "aten":  # profiler::_record_function_* of Optimizer.step, custom ops
            return out
        tensors = [x for x in pytree.tree_leaves((args, kwargs)) if isinstance(x, torch.Tensor)]
        name = str(func)
        if self.depth == 0 and self._is_sync(func, args, kwargs, tensors):
            self.record_sync(name)
        if self._is_kernel(func, kwargs, tensors):
            self.ops[name] += 1
        return out


_MISSING = object()
_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_SKIP_FILES = (__file__, contextlib.__file__)


def _caller() -> str:
    """``path:line`` of the innermost frame outside torch and this module (the code that synced)."""
    frame = sys._getframe(1)
    while frame is not None and (frame.f_code.co_filename.startswith(_TORCH_DIR)
                                 or frame.f_code.co_filename in _SKIP_FILES):
        frame = frame.f_back
    if frame is None:
        return "?"
    path = frame.f_code.co_filename
    for marker in ("site-packages", "convexlab"):  # site-packages/<pkg>/…, convexlab/…
        key = f"{os.sep}{marker}{os.sep}"
        if key in path:
            i = path.rindex(key)
            path = path[i + len(key):] if marker == "site-packages" else path[i + 1:]
            break
    return f"{path}:{frame.f_lineno}"


@contextlib.contextmanager
def _wrapped_python_reads(counter: _StepCounter):
    """Wrap ``torch.Tensor.tolist`` / ``.numpy`` with counting wrappers; restore them on exit."""
    saved = {name: torch.Tensor.__dict__.get(name, _MISSING) for name in _PY_READS}

    def wrap(name: str):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, **kwargs):
            if counter.depth == 0 and counter.on_device(self):
                counter.record_sync(f"Tensor.{name}")
            counter.depth += 1
            try:
                return original(self, *args, **kwargs)
            finally:
                counter.depth -= 1

        counted.__wrapped__ = original
        return counted

    try:
        for name in _PY_READS:
            setattr(torch.Tensor, name, wrap(name))
        yield
    finally:
        for name, value in saved.items():
            if value is _MISSING:
                if name in torch.Tensor.__dict__:
                    delattr(torch.Tensor, name)
            else:
                setattr(torch.Tensor, name, value)


def count_step(step: Callable[[], Any], *, device: torch.device | str = "cpu",
               host_resident: Iterable[torch.Tensor] = ()) -> StepCounts:
    """Run ``step()`` once and count its host syncs and ATen ops (definitions: module docstring).

    ``device`` is the device of the optimizer's parameters: on ``"cpu"`` every tensor counts as a
    device tensor except those in ``host_resident``; on an accelerator only tensors on it count.

    >>> x = torch.tensor([1.0, -2.0])
    >>> c = count_step(lambda: (x.mul_(2), float(x.sum()), x.tolist(), x.view(2, 1)))
    >>> c.host_syncs, c.syncs                # float() reads a scalar, tolist() reads the tensor
    (2, {'aten._local_scalar_dense.default': 1, 'Tensor.tolist': 1})
    >>> c.aten_ops, sorted(c.ops)            # the view is not an op that does work
    (2, ['aten.mul_.Tensor', 'aten.sum.default'])
    """
    accelerator = torch.device(device).type != "cpu"
    counter = _StepCounter(accelerator, host_resident)
    with _wrapped_python_reads(counter), counter:
        step()
    return StepCounts(sum(counter.syncs.values()), sum(counter.ops.values()), dict(counter.syncs),
                      dict(counter.ops), dict(counter.sites))


def host_resident_tensors(opt: torch.optim.Optimizer) -> list[torch.Tensor]:
    """The state tensors that ``opt`` keeps on the host even for GPU parameters.

    torch.optim keeps the 0-dim ``state["step"]`` counters on the CPU unless the group is
    ``capturable`` or ``fused`` (then they live on the parameters' device); reading them is not a
    device sync. Other optimizers: none (every tensor they read counts).
    """
    if not type(opt).__module__.startswith("torch.optim"):
        return []
    out = []
    for group in opt.param_groups:
        if group.get("capturable") or group.get("fused"):
            continue
        for p in group["params"]:
            step = opt.state.get(p, {}).get("step")
            if isinstance(step, torch.Tensor) and step.dim() == 0:
                out.append(step)
    return out


# ---------------------------------------------------------------------------------------------
# bf16 against fp32 matmul (the CPU note)
# ---------------------------------------------------------------------------------------------
def matmul_speed(m: int = 2048, k: int = 512, n: int = 2048, repeats: int = 10, warmup: int = 2,
                 seed: int = 0) -> dict[str, float]:
    """Median time of an (m×k)·(k×n) matmul in float32 and bfloat16, alternating, at the current threads.

    Returns ``dict(fp32_ms, bf16_ms, fp32_over_bf16)``; the order of the two calls alternates
    every round so that noise falls on both alike.
    """
    gen = torch.Generator().manual_seed(seed)
    a, b = torch.randn(m, k, generator=gen), torch.randn(k, n, generator=gen)
    pairs = {"fp32": (a, b), "bf16": (a.bfloat16(), b.bfloat16())}
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for r in range(warmup + repeats):
        for name in (("fp32", "bf16") if r % 2 == 0 else ("bf16", "fp32")):
            x, y = pairs[name]
            t0 = time.perf_counter()
            torch.mm(x, y)
            dt = time.perf_counter() - t0
            if r >= warmup:
                times[name].append(dt)
    fp32, bf16 = statistics.median(times["fp32"]), statistics.median(times["bf16"])
    return dict(fp32_ms=1e3 * fp32, bf16_ms=1e3 * bf16, fp32_over_bf16=fp32 / bf16)


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
#: a first phase longer than any run: every step is a hard-sign (SoftSignum) or Muon (SoftMuon) step
_FIRST_PHASE = dict(sign_iters=10**9, transition_iters=1000)

#: constructor kwargs per registry name (learning rates of the papers' defaults) [D]. Every registry
#: optimizer must have an entry: :func:`bench_kwargs` raises for one without, the command line stops
#: in one line naming it, and ``tests/test_bench_entries.py`` fails. A class that cannot be built
#: with its kwargs is reported as skipped, with the reason.
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
    # recombinations (convexlab.optim.recombined): their parts' kwargs
    "NesterovStoSignSGD": dict(lr=1e-3, weight_decay=WEIGHT_DECAY, seed=0),
    "SFLion": dict(lr=1e-4, weight_decay=WEIGHT_DECAY),
    "AlgebraicSoftSignum": dict(lr=1e-3, momentum=0.9, weight_decay=WEIGHT_DECAY),
    "SGDMomentum": dict(lr=1e-2, momentum=0.9, weight_decay=WEIGHT_DECAY),
    "HardSwitch": dict(lr=1e-3, momentum=0.9, weight_decay=WEIGHT_DECAY, switch_iters=0),
}


def bench_kwargs(name: str) -> dict[str, Any]:
    """A copy of :data:`BENCH_KWARGS` ``[name]``, the constructor kwargs of registry optimizer ``name``.

    Raises:
        ValueError: ``name`` has no entry (an optimizer added to the registry without benchmark
            settings; add it to ``convexlab.bench.optim_speed.BENCH_KWARGS``).
    """
    if name not in BENCH_KWARGS:
        raise ValueError(f"optimizer {name!r} has no benchmark settings: add its constructor kwargs to "
                         f"convexlab.bench.optim_speed.BENCH_KWARGS (entries: {', '.join(BENCH_KWARGS)})")
    return dict(BENCH_KWARGS[name])

#: extra rows: a registry class in another phase, ``name: (registry name, kwargs)``
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "SoftSignum[sign phase]": ("SoftSignum", dict(lr=1e-3, momentum=0.9, weight_decay=WEIGHT_DECAY, **_FIRST_PHASE)),
    "SoftMuon[Muon phase]": ("SoftMuon", dict(lr=0.02, weight_decay=WEIGHT_DECAY, inv_root="ns5_official",
                                              **_FIRST_PHASE)),
}


@dataclass(frozen=True)
class PublicImpl:
    """A public implementation: ``build(params)`` makes it with the registry row's hyperparameters.

    ``package`` must be importable (else the column reads ``n/a``); ``writes_grad``: its step
    writes into ``p.grad``, so it steps a private copy of the parameters and gradients.
    """

    label: str
    package: str
    build: Callable[[list], torch.optim.Optimizer]
    writes_grad: bool = False

    def available(self) -> str | None:
        """None when importable, else the reason."""
        try:
            importlib.import_module(self.package)
        except ImportError as err:
            return f"{self.package} is not installed ({type(err).__name__})"
        return None


def _schedulefree(params) -> torch.optim.Optimizer:
    import schedulefree

    kw = BENCH_KWARGS["SFAdamW"]
    opt = schedulefree.AdamWScheduleFree(params, lr=kw["lr"], weight_decay=kw["weight_decay"], foreach=True)
    opt.train()  # schedulefree raises at step() unless in train mode
    return opt


def _adamax(params) -> torch.optim.Optimizer:
    kw = BENCH_KWARGS["AdaMax"]
    return torch.optim.Adamax(params, lr=kw["lr"], weight_decay=kw["weight_decay"], foreach=True)


def _lion(params) -> torch.optim.Optimizer:
    from lion_pytorch.foreach import Lion

    kw = BENCH_KWARGS["Lion"]
    return Lion(params, lr=kw["lr"], weight_decay=kw["weight_decay"])


#: the public implementation each registry optimizer is compared with: a reference row name, or a
#: :class:`PublicImpl` timed as its own row
PUBLIC: dict[str, str | PublicImpl] = {
    "AdamW": REF_ADAMW,
    "Muon": REF_MUON,
    "SFAdamW": PublicImpl("schedulefree.AdamWScheduleFree", "schedulefree", _schedulefree, writes_grad=True),
    "AdaMax": PublicImpl("torch.Adamax-foreach", "torch", _adamax),
    "Lion": PublicImpl("lion_pytorch.foreach.Lion", "lion_pytorch.foreach", _lion),
}


# ---------------------------------------------------------------------------------------------
# targets
# ---------------------------------------------------------------------------------------------
#: the ``reference`` of a ratio target against the row's public implementation (:data:`PUBLIC`)
PUBLIC_REF = "public"


@dataclass(frozen=True)
class Target:
    """One condition on a row: ``metric ≤ bound``.

    ``metric``: ``"ratio"`` (median step time over the median of the row ``reference``: a
    reference, a registry row, or :data:`PUBLIC_REF`), ``"state_bytes_per_param"`` or
    ``"host_syncs"`` (per step, :func:`count_step`).
    """

    metric: str
    bound: float
    reference: str | None = None

    def __post_init__(self):
        if self.metric not in ("ratio", "state_bytes_per_param", "host_syncs"):
            raise ValueError(f"metric must be 'ratio', 'state_bytes_per_param' or 'host_syncs', got {self.metric!r}")
        if (self.metric == "ratio") != (self.reference is not None):
            raise ValueError(f"reference must be given exactly for metric 'ratio', got metric={self.metric!r}, "
                             f"reference={self.reference!r}")

    def label(self) -> str:
        if self.metric == "ratio":
            return f"≤ {self.bound:g}× {self.reference}"
        if self.metric == "state_bytes_per_param":
            return f"≤ {self.bound:g} B/param"
        return f"≤ {self.bound:g} sync{'s' if self.bound != 1 else ''}/step"


#: every registry optimizer (and phase variant): at most one host synchronisation per step
SYNC_TARGET = Target("host_syncs", 1)

#: issue 12's targets per row (:data:`SYNC_TARGET` is added to every registry row)
TARGETS: dict[str, tuple[Target, ...]] = {
    **{n: (Target("ratio", 0.5, REF_ADAMW),) for n in ("SignSGD", "Signum", "Lion")},
    **{n: (Target("ratio", 0.8, REF_ADAMW),) for n in ("SoftSignum", "SoftSignum[sign phase]")},
    "StoSignSGD": (Target("ratio", 1.0, REF_ADAMW),),
    "IEStoSignSGD": (Target("ratio", 0.8, REF_ADAMW),),
    "AdamW": (Target("ratio", 0.8, REF_ADAMW),),
    "SFAdamW": (Target("ratio", 1.0, REF_ADAMW), Target("state_bytes_per_param", 8.0),
                Target("ratio", 1.0, PUBLIC_REF)),
    "SignConverted": (Target("ratio", 1.5, REF_ADAMW),),
    "Muon": (Target("ratio", 1.0, REF_MUON),),
    **{n: (Target("ratio", 1.3, "Muon"),) for n in ("SoftMuon", "SoftMuon[Muon phase]")},
}


def _targets(name: str, kind: str) -> tuple[Target, ...]:
    extra = (SYNC_TARGET,) if kind in ("elementwise", "matrix") else ()
    return TARGETS.get(name, ()) + extra


# ---------------------------------------------------------------------------------------------
# the cases
# ---------------------------------------------------------------------------------------------
@dataclass
class Case:
    """One optimizer of the run and its measurements."""

    name: str
    kind: str  # "reference" | "public" | "elementwise" | "matrix"
    scope: str  # "all" | "2-D"
    params: list
    kwargs: dict[str, Any]
    build: Callable[[], torch.optim.Optimizer] | None = None
    opt: torch.optim.Optimizer | None = None
    before_step: Callable[[], None] | None = None  # untimed, before every step (private gradients)
    public: str | None = None  # the label of the row's public implementation
    public_missing: str | None = None  # why that implementation is not in the run
    times: list[float] = field(default_factory=list)
    counts: StepCounts | None = None
    count_error: str | None = None
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


def _registry_case(name: str, cls: type, kwargs: dict[str, Any], p: Parameters) -> Case:
    matrix = bool(getattr(cls, "matrix_only", False))
    params = p.matrices if matrix else p.all
    kw = dict(kwargs)
    return Case(name, "matrix" if matrix else "elementwise", "2-D" if matrix else "all", params, kw,
                lambda: cls(params, **kw))


def build_optimizer(name: str, params: Parameters, registry: dict[str, type] | None = None) -> torch.optim.Optimizer:
    """The registry optimizer or phase variant ``name`` built as the benchmark builds it.

    Matrix-only classes get ``params.matrices``, the others ``params.all``; the kwargs are
    :func:`bench_kwargs` (a variant's own, :data:`VARIANTS`).

    Raises:
        ValueError: ``name`` is neither a registry name nor a variant, or has no :data:`BENCH_KWARGS` entry.
    """
    if registry is None:
        from convexlab.optim import REGISTRY as registry
    if name in VARIANTS:
        base, kw = VARIANTS[name]
        return _registry_case(name, registry[base], kw, params).build()
    if name not in registry:
        raise ValueError(f"name must be a registry optimizer or one of the variants {sorted(VARIANTS)}, got {name!r}")
    return _registry_case(name, registry[name], bench_kwargs(name), params).build()


def _private_copy(params: list) -> tuple[list, Callable[[], None]]:
    """Own parameters equal to ``params`` with own gradients, and the untimed gradient restore."""
    own = [torch.nn.Parameter(q.detach().clone()) for q in params]
    for q, p in zip(own, params):
        q.grad = p.grad.detach().clone()
    own_grads, shared = [q.grad for q in own], [p.grad for p in params]
    return own, lambda: torch._foreach_copy_(own_grads, shared)


def _public_case(impl: PublicImpl, base: Case) -> Case:
    params, restore = (_private_copy(base.params) if impl.writes_grad else (base.params, None))
    return Case(impl.label, "public", base.scope, params, dict(of=base.name), lambda: impl.build(params),
                before_step=restore)


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


class StateBytes(NamedTuple):
    """Bytes of the tensors an optimizer keeps in ``opt.state`` (:func:`state_bytes`)."""

    #: every tensor, 0-dim ones included
    total: int
    #: the 0-dim tensors (torch's per-parameter ``step`` counters): they do not grow with the parameters
    scalar: int

    @property
    def nonscalar(self) -> int:
        """``total − scalar``: the tensors of ≥ 1 dimension, the state that grows with the parameter
        count (divided by the number of parameters: the benchmarks' "state bytes per parameter")."""
        return self.total - self.scalar


def state_bytes(opt: torch.optim.Optimizer) -> StateBytes:
    """The bytes of every tensor in ``opt.state``, all of them and the 0-dim ones (:class:`StateBytes`).

    Nested dicts, lists and tuples are walked; a tensor reachable twice (same data pointer, size,
    shape and dtype) is counted once. A :class:`~convexlab.optim.MatrixAndAdamW` counts both parts
    (its ``state`` is theirs). Used by both benchmarks: ``bench optim`` reports ``total``, ``scalar``
    and ``nonscalar`` / parameters; ``bench compare`` ``nonscalar`` / parameters.

    >>> w = torch.nn.Parameter(torch.zeros(10)); w.grad = torch.ones(10)
    >>> opt = torch.optim.AdamW([w], foreach=True); _ = opt.step()
    >>> state_bytes(opt)  # exp_avg, exp_avg_sq (2 × 40 bytes) and a float32 step counter
    StateBytes(total=84, scalar=4)
    >>> state_bytes(opt).nonscalar
    80
    """
    tensors = _tensors(dict(opt.state), set())
    total = sum(t.nbytes for t in tensors)
    scalar = sum(t.nbytes for t in tensors if t.dim() == 0)
    return StateBytes(total, scalar)


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
                    if case.before_step is not None:
                        case.before_step()
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


def _count(cases: list[Case], device: torch.device) -> None:
    """One more, untimed step of every live case under :func:`count_step`."""
    for case in cases:
        if case.skipped is not None:
            continue
        try:
            if case.before_step is not None:
                case.before_step()
            case.counts = count_step(case.opt.step, device=device, host_resident=host_resident_tensors(case.opt))
        except Exception as err:  # noqa: BLE001 - reported in the row, the run goes on
            case.count_error = _reason("counted step raised", err)


def _evaluate(target: Target, row: dict[str, Any], medians: dict[str, float]) -> tuple[float | None, str]:
    if target.metric == "host_syncs":
        value = row["host_syncs"]
    elif target.metric == "state_bytes_per_param":
        value = row["state_bytes_per_param"]
    else:
        ref = row["public"] if target.reference == PUBLIC_REF else target.reference
        if ref is None:
            return None, "n/a (no public implementation)"
        if not medians.get(ref):
            return None, f"n/a ({ref} not measured)"
        value = row["median_ms"] / (1e3 * medians[ref])
    if value is None:
        return None, "n/a (not measured)"
    return value, ("met" if value <= target.bound else "missed")


def _row(case: Case, medians: dict[str, float]) -> dict[str, Any]:
    n = sum(p.numel() for p in case.params)
    targets = _targets(case.name, case.kind)
    row: dict[str, Any] = dict(
        name=case.name, kind=case.kind, params=case.scope, n_params=n,
        kwargs={k: repr(v) for k, v in case.kwargs.items()}, skipped=case.skipped, median_ms=None, times_ms=[],
        ratio_adamw=None, ratio_torch_muon=None, public=case.public, ratio_public=None,
        public_status=case.public_missing, state_bytes=None, state_scalar_bytes=None, state_bytes_per_param=None,
        host_syncs=None, sync_ops=None, sync_sites=None, aten_ops=None, aten_op_counts=None,
        count_error=case.count_error,
        targets=[], target="; ".join(t.label() for t in targets) or None, target_status=None,
    )
    if case.skipped is not None:
        row["target_status"] = "skipped" if targets else None
        return row
    med = statistics.median(case.times)
    row["median_ms"] = 1e3 * med
    row["times_ms"] = [1e3 * t for t in case.times]
    ref_adamw = medians.get(REF_ADAMW if case.scope == "all" else REF_ADAMW_2D)
    if ref_adamw:
        row["ratio_adamw"] = med / ref_adamw
    if case.scope == "2-D" and medians.get(REF_MUON):
        row["ratio_torch_muon"] = med / medians[REF_MUON]
    if case.public is not None and case.public_missing is None:
        if medians.get(case.public):
            row["ratio_public"] = med / medians[case.public]
        else:
            row["public_status"] = f"n/a ({case.public} not measured)"
    held = state_bytes(case.opt)
    row["state_bytes"], row["state_scalar_bytes"] = held.total, held.scalar
    row["state_bytes_per_param"] = held.nonscalar / n
    if case.counts is not None:
        row["host_syncs"], row["sync_ops"] = case.counts.host_syncs, case.counts.syncs
        row["sync_sites"] = case.counts.sync_sites
        row["aten_ops"], row["aten_op_counts"] = case.counts.aten_ops, case.counts.ops
    statuses = []
    for t in targets:
        value, status = _evaluate(t, row, medians)
        row["targets"].append(dict(label=t.label(), value=value, status=status))
        statuses.append(status)
    if statuses:
        row["target_status"] = ("missed" if "missed" in statuses else "met" if all(s == "met" for s in statuses)
                                else "n/a")
    return row


# ---------------------------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------------------------
HEADER = ["optimizer", "params updated", "median step ms", f"× {REF_ADAMW}", f"× {REF_MUON}", "public",
          "× public", "state B/param", "syncs/step", "ATen ops/step", "target", "met?"]


def _millions(n: int) -> str:
    return f"{n / 1e6:.2f}M"


def _ms(x: float) -> str:
    return f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 100 else f"{x:.1f}"


def _ratio(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.0f}" if x >= 100 else f"{x:.2f}" if x >= 0.01 else f"{x:.1e}"


def _int(x: int | None) -> str:
    return "-" if x is None else str(x)


def _cells(row: dict[str, Any]) -> list[str]:
    scope = f"{'all' if row['params'] == 'all' else 'hidden 2-D'} ({_millions(row['n_params'])})"
    public = row["public"] or ""
    if row["skipped"] is not None:
        return [row["name"], scope, "-", "-", "-", public, "-", "-", "-", "-", row["target"] or "", "skipped"]
    ratio_adamw = _ratio(row["ratio_adamw"])
    if row["ratio_adamw"] is not None and row["params"] == "2-D":
        ratio_adamw += " (2-D)"
    ratio_public = _ratio(row["ratio_public"]) if row["ratio_public"] is not None else (
        "n/a" if row["public"] is not None else "")
    return [
        row["name"], scope, _ms(row["median_ms"]), ratio_adamw, _ratio(row["ratio_torch_muon"]), public,
        ratio_public, f"{row['state_bytes_per_param']:.3g}", _int(row["host_syncs"]), _int(row["aten_ops"]),
        row["target"] or "", row["target_status"] or "",
    ]


def _notes(rows: list[dict[str, Any]]) -> list[str]:
    out = []
    for r in rows:
        if r["skipped"] is not None:
            out.append(f"skipped: {r['name']}: {r['skipped']}")
        if r["public_status"] is not None:
            out.append(f"public: {r['name']}: {r['public']}: {r['public_status']}")
        if r["count_error"] is not None:
            out.append(f"counts: {r['name']}: {r['count_error']}")
        for t in r["targets"]:
            if t["status"] != "met":
                value = "" if t["value"] is None else f" (measured {t['value']:.3g})"
                out.append(f"target {t['status']}: {r['name']}: {t['label']}{value}")
    return out


def format_table(rows: list[dict[str, Any]]) -> str:
    body = [_cells(r) for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(HEADER)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    out = [line(HEADER), line(["-" * w for w in widths]), *(line(r) for r in body)]
    return "\n".join(out + _notes(rows))


def _matmul_line(m: dict[str, float]) -> str:
    return (f"matmul 2048×512 · 512×2048 at these threads: fp32 {m['fp32_ms']:.2f} ms, bf16 {m['bf16_ms']:.2f} ms, "
            f"fp32/bf16 = {m['fp32_over_bf16']:.2f}×")


def format_markdown(runs: list[dict[str, Any]], config: dict[str, Any]) -> str:
    esc = lambda s: s.replace("|", "\\|")  # noqa: E731
    out = []
    for run in runs:
        out += [
            f"Optimizer step time, state memory, host syncs and ATen ops per step ({config['description']}; "
            f"median of {config['repeats']} round-robin steps after {config['warmup']} warm-up, {config['device']}, "
            f"threads={run['threads']}, torch {config['torch']}; {_matmul_line(run['matmul'])}).",
            "",
            "| " + " | ".join(HEADER) + " |",
            "|" + "---|" * len(HEADER),
        ]
        out += ["| " + " | ".join(esc(c) for c in _cells(r)) + " |" for r in run["rows"]]
        notes = [f"- {esc(n)}" for n in _notes(run["rows"])]
        out += ["", *notes, ""] if notes else [""]
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------
class _Threads(argparse.Action):
    """``--threads 1 2`` / ``--threads 1,2``: thread counts (integers >= 1), repeated option appends."""

    def __call__(self, parser, namespace, values, option_string=None):
        from convexlab._cli import split_names

        parse = argparse_int_at_least("--threads", 1)
        try:
            counts = [parse(v) for v in split_names(values) or []]
        except argparse.ArgumentTypeError as err:
            parser.error(str(err))
        if not counts:
            parser.error("--threads needs at least one integer >= 1")
        prior = getattr(namespace, self.dest, None)
        setattr(namespace, self.dest, (list(prior) if prior else []) + counts)


def _destination(parser: argparse.ArgumentParser, option: str, path: str | None) -> None:
    """Fail in one line now, not after the run, when ``path`` cannot be written
    (:func:`convexlab._io.file_destination_error`)."""
    error = file_destination_error(path, option)
    if error:
        parser.error(error)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``convexlab bench optim`` (the project grammar, :mod:`convexlab._cli`)."""
    import textwrap

    from convexlab import _cli

    p = _cli.parser(
        "bench optim",
        textwrap.fill("Median optimizer step time, state bytes per parameter, host syncs and ATen ops per step of "
                      "every registry optimizer, as ratios to torch.optim.AdamW(foreach=True), torch.optim.Muon "
                      "and the installed public implementations, measured in the same run.", 78)
        + "\n\nExamples:\n"
          "  convexlab bench optim --threads 1 2\n"
          "  convexlab bench optim --optimizers Signum,StoSignSGD --repeats 20\n"
          "  convexlab bench optim --size tiny --json out.json --markdown table.md",
    )
    p.add_argument("--size", choices=sorted(SIZES), default="small",
                   help="parameter shapes: small (d=512, 6 layers, 25.2M params; default) or tiny (1.05M, for tests)")
    p.add_argument("--repeats", type=argparse_int_at_least("", 1), default=5, metavar="N",
                   help="timed steps per optimizer (default 5)")
    p.add_argument("--warmup", type=argparse_int_at_least("", 1), default=1, metavar="N",
                   help="untimed steps per optimizer before timing, >= 1: the first step allocates the state "
                        "and fits the soft temperature schedules (default 1)")
    opt_help = ("benchmark only these optimizers (commas and/or spaces): registry names, phase variants ("
                + ", ".join(repr(v) for v in VARIANTS) + f") or the references {', '.join(REFERENCES)}. "
                "The references, public implementations and rows their targets need are added (default: all)")
    _cli.add_list(p, "optimizers", help=opt_help + "; --only is the earlier spelling", aliases=("--only",))
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="device of parameters and state (default cpu)")
    p.add_argument("--matrix-layers", type=argparse_int_at_least("", 1), default=None, metavar="N",
                   help="time matrix optimizers on the hidden weights of the first N layers (default: all)")
    p.add_argument("--threads", nargs="+", action=_Threads, default=None, metavar="N",
                   help="torch.set_num_threads(N) for the run; several values (--threads 1 2 or --threads 1,2) "
                        "repeat the whole run at each, fresh parameters and optimizers each time (default: torch's "
                        "current)")
    p.add_argument("--seed", type=argparse_int_at_least("", 0), default=0,
                   help="seed of the parameters and gradients (integer >= 0, default 0)")
    p.add_argument("--json", metavar="PATH", help="also write config and rows as JSON")
    p.add_argument("--markdown", metavar="PATH", help="also write the table as Markdown (for the README)")
    _cli.add_flag(p, "progress", default=True, help="print one line per round on stderr (default: yes)")
    return p


def _base_name(name: str) -> str:
    return VARIANTS[name][0] if name in VARIANTS else name


def _select(parser: argparse.ArgumentParser, only: list[str] | None, registry: dict[str, type]) -> list[str]:
    """The case names of the run (references, registry rows and their variants), references first."""
    ordered = [*REFERENCES]
    for n in registry:
        ordered += [n, *(v for v, (base, _) in VARIANTS.items() if base == n)]
    if only is None:
        return ordered
    unknown = [n for n in only if n not in ordered]
    if unknown:
        parser.error(f"unknown optimizer{'s' if len(unknown) > 1 else ''} "
                     f"{', '.join(repr(n) for n in unknown)} in --optimizers; choose from: {', '.join(ordered)}")
    wanted = set(only) | {REF_ADAMW}
    for n in list(wanted):
        for t in TARGETS.get(n, ()):  # a row named by a target (SoftMuon's "Muon")
            if t.metric == "ratio" and t.reference in ordered:
                wanted.add(t.reference)
        if isinstance(PUBLIC.get(n), str):
            wanted.add(PUBLIC[n])
    if wanted & {REF_ADAMW_2D, REF_MUON} or any(
            getattr(registry.get(_base_name(n)), "matrix_only", False) for n in wanted):
        wanted |= {REF_ADAMW_2D, REF_MUON}
    return [n for n in ordered if n in wanted]


def _build_cases(names: list[str], registry: dict[str, type], params: Parameters) -> list[Case]:
    cases: list[Case] = []
    for n in names:
        if n in REFERENCES:
            cases.append(_reference_case(n, params))
        elif n in VARIANTS:
            base, kw = VARIANTS[n]
            cases.append(_registry_case(n, registry[base], kw, params))
        else:
            cases.append(_registry_case(n, registry[n], bench_kwargs(n), params))
    publics: list[Case] = []
    for case in cases:
        impl = PUBLIC.get(case.name)
        if impl is None:
            continue
        if isinstance(impl, str):
            case.public = impl
            continue
        case.public = impl.label
        case.public_missing = None if (why := impl.available()) is None else f"n/a ({why})"
        if case.public_missing is None:
            publics.append(_public_case(impl, case))
    n_ref = sum(c.kind == "reference" for c in cases)
    cases = cases[:n_ref] + publics + cases[n_ref:]
    for case in cases:
        try:
            case.opt = case.build()
        except Exception as err:  # noqa: BLE001 - a class that cannot be built generically is skipped
            case.skipped = _reason(f"cannot construct {case.name}(params, **{case.kwargs})", err)
    for case in cases:  # a public implementation that could not be built or stepped: n/a in its row
        if case.kind == "public" and case.skipped is not None:
            for other in cases:
                if other.public == case.name:
                    other.public_missing = f"n/a ({case.name} skipped)"
    return cases


def _run_once(args, names: list[str], registry: dict[str, type], device: torch.device, threads: int | None):
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        shape = SIZES[args.size]
        params = build_parameters(shape, device, seed=args.seed)
        if args.matrix_layers is not None and args.matrix_layers < shape.layers:
            keep = {f"layers.{i}." for i in range(args.matrix_layers)}
            params.matrices = [p for p in params.matrices if any(params.names[id(p)].startswith(k) for k in keep)]
        cases = _build_cases(names, registry, params)
        progress = args.progress
        matmul = matmul_speed()
        if progress:
            live = sum(c.skipped is None for c in cases)
            print(f"threads={torch.get_num_threads()}: {live} optimizers, {args.warmup} warm-up + {args.repeats} "
                  f"timed steps each, then one counted step; {_matmul_line(matmul)}", file=sys.stderr, flush=True)
        _measure(cases, args.repeats, args.warmup, device, progress)
        _count(cases, device)
        medians = {c.name: statistics.median(c.times) for c in cases if c.skipped is None and c.times}
        for c in cases:  # a public implementation that raised during the run
            if c.kind == "public" and c.skipped is not None:
                for other in cases:
                    if other.public == c.name and other.public_missing is None:
                        other.public_missing = f"n/a ({c.name} skipped)"
        rows = [_row(c, medians) for c in cases]
        run = dict(threads=torch.get_num_threads(), matmul=matmul, rows=rows)
        n_all, n_2d, n_mat = (sum(p.numel() for p in params.all), sum(p.numel() for p in params.matrices),
                              len(params.matrices))
        return run, (n_all, n_2d, n_mat)
    finally:
        torch.set_num_threads(old_threads)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table(s), optionally write JSON / Markdown; return 0.

    Raises:
        SystemExit: (status 2, one line) for an unknown ``--optimizers`` name, an invalid option, or a
        ``--json`` / ``--markdown`` destination that cannot be written (checked before the run).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    from convexlab.optim import REGISTRY  # looked up at run time: the registry grows

    only = args.optimizers or None
    names = _select(parser, only, REGISTRY)
    unset = [n for n in names if n in REGISTRY and n not in BENCH_KWARGS]
    if unset:
        parser.error(f"no benchmark settings for {', '.join(unset)}: add {'their' if len(unset) > 1 else 'its'} "
                     "constructor kwargs to convexlab.bench.optim_speed.BENCH_KWARGS")
    _destination(parser, "--json", args.json)
    _destination(parser, "--markdown", args.markdown)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    device = torch.device(args.device)
    shape = SIZES[args.size]
    runs, sizes = [], None
    try:
        for threads in (args.threads or [None]):
            run, sizes = _run_once(args, names, REGISTRY, device, threads)
            runs.append(run)
            gc.collect()
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted; nothing was written", file=sys.stderr)
        return 130
    n_all, n_2d, n_mat = sizes
    description = (f"GPT-2-small-like shapes ({args.size}): d={shape.d}, {shape.layers} layers, vocab {shape.vocab}, "
                   f"{_millions(n_all)} params, {_millions(n_2d)} in {n_mat} hidden 2-D weights")
    config = dict(
        size=args.size, d=shape.d, layers=shape.layers, vocab=shape.vocab, n_params=n_all, n_matrix_params=n_2d,
        matrix_layers=args.matrix_layers or shape.layers, description=description, repeats=args.repeats,
        warmup=args.warmup, device=args.device, threads=[r["threads"] for r in runs], torch=torch.__version__,
        python=platform.python_version(), machine=platform.machine(), processor=platform.processor() or None,
        seed=args.seed, weight_decay=WEIGHT_DECAY,
        timer="time.perf_counter around opt.step(), round-robin, median",
        counts="one untimed step under convexlab.bench.optim_speed.count_step after the timed steps",
    )
    for run in runs:
        print(f"{description}\nmedian of {args.repeats} round-robin steps after {args.warmup} warm-up; "
              f"{args.device}, threads={run['threads']}, torch {torch.__version__}\n{_matmul_line(run['matmul'])}\n")
        print(format_table(run["rows"]) + "\n")
    if args.json:
        atomic_write(args.json, json.dumps(dict(config=config, runs=runs), indent=2) + "\n")
    if args.markdown:
        atomic_write(args.markdown, format_markdown(runs, config))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
