r"""Parameter routing: hidden matrices to a spectral optimizer, everything else to AdamW.

Muon-type optimizers are defined for **hidden 2-D weights** only (KellerJordan/Muon README;
SF-NorMuon [SFN-MUON, SFN-ROUTING]): attention q/k/v/o and MLP in/out. The token (and position)
embeddings, the output head — tied to the embedding or not — and every 1-D gain or bias go to
AdamW. :func:`split_params` makes that split; :class:`MatrixAndAdamW` is one optimizer object that
steps both parts (like the reference ``MuonWithAuxAdam``), so LR schedulers, ``state_dict`` and
``zero_grad`` see one optimizer.

A pitfall seen in the SF-NorMuon dev logs ([SFN-ROUTING]): with tied weights the embedding was routed
to *both* optimizers and got two updates per step. Both functions deduplicate by identity and
:class:`MatrixAndAdamW` refuses a parameter that would go to both parts (or to neither).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Iterable

import warnings

import torch
from torch import nn

from convexlab import _validation as V
from convexlab.optim.base import ComposedOptimizer
from convexlab.optim.general import AdamW
from convexlab.optim.schedule_free import ScheduleFreeMixin, SFAdamW, evaluating

#: name fragments of embedding tables (GPT-2 ``wte``/``wpe``, ``embed_tokens``, ``tok_embeddings``, ...)
EMBEDDING_NAMES = ("embed", "wte", "wpe")
#: dotted-name components of the output head
HEAD_NAMES = ("lm_head", "head")

#: KellerJordan/Muon ``MuonWithAuxAdam`` defaults of the auxiliary Adam (SF-NorMuon [SFN-MUON] [EXT])
AUX_ADAMW_DEFAULTS = dict(lr=3e-4, betas=(0.9, 0.95), eps=1e-10, weight_decay=0.0)
#: SF-AdamW for the non-matrix parameters of a schedule-free run, the SF-NorMuon dev run's values
#: ([SFN-DEFAULTS] [DEV]); weight decay 0 on the embedding ([SFN-Q5]); the warmup is the matrix optimizer's.
AUX_SFADAMW_DEFAULTS = dict(lr=0.008, betas=(0.95, 0.99), eps=1e-8, weight_decay=0.0)


def _named(model_or_named_params) -> tuple[list[tuple[str, torch.Tensor]], set[int]]:
    """(name, parameter) pairs deduplicated by identity, and the ids of nn.Embedding weights."""
    embedding_ids: set[int] = set()
    if isinstance(model_or_named_params, nn.Module):
        model = model_or_named_params
        for mod in model.modules():
            if isinstance(mod, (nn.Embedding, nn.EmbeddingBag)):
                embedding_ids.add(id(mod.weight))
        pairs = list(model.named_parameters())
    else:
        pairs = list(model_or_named_params)
        for item in pairs:
            if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
                    and isinstance(item[1], torch.Tensor)):
                raise ValueError("model_or_named_params must be an nn.Module or an iterable of (name, parameter) "
                                 f"pairs such as model.named_parameters(), got an item {item!r:.80}")
    seen: set[int] = set()
    out = []
    for name, p in pairs:
        if id(p) in seen:  # a tied tensor listed under two names
            continue
        seen.add(id(p))
        out.append((name, p))
    return out, embedding_ids


def is_matrix_param(name: str, p: torch.Tensor, embedding_ids: frozenset | set = frozenset()) -> bool:
    r"""True for a hidden weight matrix: ≥ 2-D, not an embedding, not the output head.

    Embeddings: ``nn.Embedding`` weights and any name containing ``"embed"``, ``"wte"`` or ``"wpe"``.
    Head: a dotted-name component equal to ``"lm_head"`` or ``"head"``.

    >>> import torch
    >>> is_matrix_param("blocks.0.attn.q.weight", torch.zeros(4, 4)), is_matrix_param("lm_head.weight", torch.zeros(9, 4))
    (True, False)
    """
    if p.ndim < 2 or id(p) in embedding_ids:
        return False
    low = name.lower()
    if any(k in low for k in EMBEDDING_NAMES):
        return False
    return not any(part in HEAD_NAMES for part in low.split("."))


def _output_layer(model: nn.Module, head) -> tuple[str | None, set[int]]:
    """The output layer's name and parameter ids for ``head`` (see :func:`split_params`)."""
    if head is False:
        return None, set()
    if isinstance(head, nn.Module):
        for name, mod in model.named_modules():
            if mod is head:
                return name, {id(q) for q in mod.parameters()}
        raise ValueError("head must be a submodule of the model, a module name, 'auto' or False; the module given "
                         "is not in the model")
    if isinstance(head, str) and head != "auto":
        mods = dict(model.named_modules())
        if head not in mods:
            raise ValueError(f"head must name a submodule of the model (e.g. {next(reversed(mods), '')!r}), 'auto' "
                             f"or False, got {head!r}")
        return head, {id(q) for q in mods[head].parameters()}
    if head != "auto":
        raise ValueError(f"head must be 'auto', False, a module name or a submodule, got {head!r}")
    if any(name.split(".")[-1].lower() in HEAD_NAMES for name, _ in model.named_modules()):
        return None, set()  # named by convention (tied or not): the name rule already routes it
    last = None
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Linear):
            last = (name, mod)
    if last is None:
        return None, set()
    name, mod = last
    warnings.warn(f"split_params: no module is named 'head' or 'lm_head', so the last nn.Linear, {name!r} (weight "
                  f"{tuple(mod.weight.shape)}), is taken as the output layer and routed to AdamW; pass head=<name or "
                  "module> to choose it, or head=False to route every hidden 2-D weight to the matrix optimizer",
                  UserWarning, stacklevel=3)
    return name, {id(q) for q in mod.parameters()}


def split_params(model_or_named_params, *, names: bool = False, head="auto") -> tuple[list, list]:
    r"""Split parameters into (matrix_params, other_params) (module docstring).

    Args:
        model_or_named_params: an ``nn.Module`` (its ``nn.Embedding`` weights are recognised by type
            as well as by name) or an iterable of (name, parameter) pairs.
        names: return (name, parameter) pairs instead of parameters.
        head: the output layer, routed to AdamW (for an ``nn.Module``): ``"auto"`` (default) uses a
            module named ``head`` / ``lm_head`` if there is one, else takes the last ``nn.Linear``
            of the model (in registration order) **with a warning** that names it; a module name or
            the submodule itself chooses it without a warning; ``False`` detects nothing beyond the
            names. Pairs of (name, parameter) are routed by name only.

    Returns:
        Two lists, disjoint by identity, in registration order; a tensor shared by several names
        (a tied head) appears once, under its first name. Parameters with ``requires_grad=False``
        are left out.

    >>> from torch import nn
    >>> model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 10))
    >>> mat, other = split_params(model, names=True, head="3")
    >>> [n for n, _ in mat], [n for n, _ in other]
    (['1.weight'], ['0.weight', '1.bias', '3.weight', '3.bias'])
    """
    pairs, embedding_ids = _named(model_or_named_params)
    head_ids: set[int] = set()
    if isinstance(model_or_named_params, nn.Module):
        _, head_ids = _output_layer(model_or_named_params, head)
    matrix, other = [], []
    for name, p in pairs:
        if not p.requires_grad:
            continue
        hidden = id(p) not in head_ids and is_matrix_param(name, p, embedding_ids)
        (matrix if hidden else other).append((name, p) if names else p)
    return matrix, other


def _resolve_matrix_class(matrix) -> type:
    if isinstance(matrix, str):
        from convexlab.optim import sf_normuon, spectral

        table: dict[str, type] = {"Muon": spectral.Muon, "NorMuon": spectral.NorMuon, "SoftMuon": spectral.SoftMuon,
                                  "SFNorMuon": sf_normuon.SFNorMuon}
        try:
            from convexlab.optim import REGISTRY

            table = {**table, **REGISTRY}
        except ImportError:  # pragma: no cover - the package is importing this module
            pass
        if matrix not in table:
            names = sorted(k for k, v in table.items() if getattr(v, "matrix_only", False))
            raise ValueError(f"matrix must be a matrix optimizer class or one of {names!r}, got {matrix!r}")
        matrix = table[matrix]
    if not (isinstance(matrix, type) and issubclass(matrix, torch.optim.Optimizer)
            and getattr(matrix, "matrix_only", False)):
        raise ValueError(f"matrix must be a matrix-only optimizer class (matrix_only = True, e.g. Muon, NorMuon, "
                         f"SoftMuon, SFNorMuon) or its registry name, got {matrix!r}")
    return matrix


class MatrixAndAdamW(torch.optim.Optimizer):
    r"""One optimizer made of a matrix optimizer for hidden matrices and AdamW for the rest.

    ``step()`` steps both parts; ``param_groups`` is the matrix optimizer's groups followed by the
    AdamW groups (the same dicts, so an ``lr_scheduler`` acting on this object schedules both, each
    relative to its own initial lr); ``state_dict()`` is ``{"matrix": ..., "adamw": ...}``;
    ``zero_grad``, ``train()``, ``eval()`` and ``evaluating()`` are forwarded (the mode switches act
    on the schedule-free parts and are no-ops otherwise).

    The AdamW part is :class:`~convexlab.optim.general.AdamW` with the ``MuonWithAuxAdam`` defaults
    lr = 3e-4, betas = (0.9, 0.95), eps = 1e-10, weight_decay = 0 (SF-NorMuon [SFN-MUON]), or — when the matrix
    optimizer is schedule-free (``aux="auto"``) — :class:`~convexlab.optim.schedule_free.SFAdamW`
    with lr = 0.008, betas = (β, β2) = (0.95, 0.99), eps = 1e-8, weight_decay = 0 and the matrix
    optimizer's ``warmup_steps`` (SF-NorMuon [SFN-DEFAULTS, SFN-ROUTING]), so that both parts share one train/eval switch.
    ``adamw_kwargs`` override these.

    Args:
        matrix_params: parameters (or param groups) for the matrix optimizer.
        other_params: parameters (or param groups) for AdamW; may be empty.
        matrix: a ``matrix_only`` optimizer class, or its name in ``convexlab.optim.REGISTRY``
            (``"Muon"``, ``"NorMuon"``, ``"SoftMuon"``, ``"SFNorMuon"``, ...).
        matrix_kwargs: keyword arguments of the matrix optimizer.
        adamw_kwargs: keyword arguments of the AdamW part.
        aux: ``"auto"``, ``"AdamW"`` or ``"SFAdamW"``.
        all_params: optional iterable of every parameter that must be optimized; a parameter in
            none of the two parts raises.

    Raises:
        ValueError: a parameter in both parts or (with ``all_params``) in neither; a bad ``matrix``
            or ``aux``; a < 2-D parameter in ``matrix_params`` (from the matrix optimizer).

    >>> from torch import nn
    >>> model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 10))
    >>> opt = MatrixAndAdamW.from_model(model, "Muon", head="3", matrix_kwargs=dict(lr=0.02))
    >>> [len(g["params"]) for g in opt.param_groups]
    [1, 4]
    """

    def __init__(self, matrix_params, other_params, matrix="Muon", *, matrix_kwargs: dict | None = None,
                 adamw_kwargs: dict | None = None, aux: str = "auto", all_params: Iterable | None = None):
        cls = _resolve_matrix_class(matrix)
        V.one_of("aux", aux, ("auto", "AdamW", "SFAdamW"))
        matrix_kwargs = dict(matrix_kwargs or {})
        matrix_groups = _as_groups(matrix_params)
        other_groups = _as_groups(other_params)
        m_ids = [id(p) for g in matrix_groups for p in g["params"]]
        o_ids = [id(p) for g in other_groups for p in g["params"]]
        both = set(m_ids) & set(o_ids)
        if both:
            shapes = [tuple(p.shape) for g in other_groups for p in g["params"] if id(p) in both]
            raise ValueError(f"{len(both)} parameter(s) would be updated by both the matrix optimizer and AdamW "
                             f"(shapes {shapes}); a tied embedding/head must go to AdamW only")
        if all_params is not None:
            everything = {id(p): p for p in all_params}
            neither = [tuple(p.shape) for i, p in everything.items() if i not in set(m_ids) | set(o_ids)]
            if neither:
                raise ValueError(f"{len(neither)} parameter(s) would be updated by neither the matrix optimizer nor "
                                 f"AdamW (shapes {neither})")
        self.matrix = cls(matrix_groups, **matrix_kwargs)
        sf = isinstance(self.matrix, ScheduleFreeMixin)
        use_sf = (aux == "SFAdamW") or (aux == "auto" and sf)
        akw = dict(AUX_SFADAMW_DEFAULTS if use_sf else AUX_ADAMW_DEFAULTS)
        if use_sf and sf:
            akw["warmup_steps"] = self.matrix.param_groups[0]["warmup_steps"]
        akw.update(adamw_kwargs or {})
        self.adamw = None
        if other_groups:
            self.adamw = (SFAdamW if use_sf else AdamW)(other_groups, **akw)
        # torch.optim.Optimizer plumbing without a second copy of the param groups (see param_groups)
        self.defaults = {}
        self._optimizer_step_pre_hooks = OrderedDict()
        self._optimizer_step_post_hooks = OrderedDict()
        self._optimizer_state_dict_pre_hooks = OrderedDict()
        self._optimizer_state_dict_post_hooks = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks = OrderedDict()
        self._optimizer_load_state_dict_post_hooks = OrderedDict()
        self._patch_step_function()

    @classmethod
    def from_model(cls, model: nn.Module, matrix="Muon", *, head="auto", **kwargs) -> "MatrixAndAdamW":
        """Split ``model`` with :func:`split_params` (``head`` as there) and check every trainable
        parameter is routed once."""
        mat, other = split_params(model, head=head)
        trainable = [p for p in model.parameters() if p.requires_grad]
        return cls(mat, other, matrix, all_params=trainable, **kwargs)

    @property
    def parts(self) -> list[torch.optim.Optimizer]:
        return [self.matrix] + ([self.adamw] if self.adamw is not None else [])

    @property
    def param_groups(self) -> list[dict]:
        return [g for part in self.parts for g in part.param_groups]

    @property
    def state(self) -> dict:
        out: dict = {}
        for part in self.parts:
            out.update(part.state)
        return out

    def add_param_group(self, param_group: dict) -> None:
        raise ValueError("add a param group to opt.matrix or opt.adamw directly")

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if not all(part.training for part in self.parts if isinstance(part, ScheduleFreeMixin)):
            raise RuntimeError("step() called in eval mode: call opt.train() first (the parameters hold x, not y)")
        composed = all(isinstance(part, ComposedOptimizer) for part in self.parts)
        if not composed:
            for part in self.parts:
                part.step()
            return loss
        # every part's checks first (groups, gradients, horizons): a raise leaves both parts untouched
        plans = [part._plan_step() for part in self.parts]
        for part, plan in zip(self.parts, plans):
            part._take_step(plan)
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        for part in self.parts:
            part.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        return {"matrix": self.matrix.state_dict(), "adamw": None if self.adamw is None else self.adamw.state_dict()}

    def load_state_dict(self, state_dict: dict) -> None:
        if set(state_dict) != {"matrix", "adamw"}:
            raise ValueError(f"state_dict must have the keys 'matrix' and 'adamw', got {sorted(state_dict)!r}")
        self.matrix.load_state_dict(state_dict["matrix"])
        if self.adamw is not None:
            self.adamw.load_state_dict(state_dict["adamw"])

    # -- schedule-free mode switches ---------------------------------------------------------------
    @property
    def training(self) -> bool:
        return all(part.training for part in self.parts if isinstance(part, ScheduleFreeMixin))

    def train(self, mode: bool = True):
        for part in self.parts:
            if isinstance(part, ScheduleFreeMixin):
                part.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def evaluating(self):
        """``with opt.evaluating():`` the schedule-free parts hold x, then the previous mode returns."""
        return evaluating(self)

    # torch.optim.Optimizer pickles (defaults, state, param_groups); here those are views of the parts
    def __getstate__(self) -> dict:
        return dict(self.__dict__)

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return f"MatrixAndAdamW(matrix={self.matrix!r}, adamw={self.adamw!r})"


def _as_groups(params) -> list[dict]:
    if isinstance(params, torch.Tensor):
        raise ValueError("params must be an iterable of tensors or param-group dicts, got a single tensor")
    items = list(params)
    if not items:
        return []
    if isinstance(items[0], dict):
        return [dict(g, params=list(g["params"])) for g in items]
    return [{"params": items}]
