r"""A LLaMA-style GPT that reads top to bottom: RoPE, parameter-free RMSNorm, QK-norm, ReLU², no biases.

The architecture is the one of the SF-NorMuon paper's language-model runs ([SFN-MODEL] [P captions; DEV code]),
the modded-nanoGPT model:

.. code-block:: text

    x₀ = E[idx]                                   token embedding, (B, T, d); no position embedding
    for each of the L blocks:
        x ← x + W_o · Attn(RoPE(n(W_q n(x))), RoPE(n(W_k n(x))), W_v n(x))    causal, per head
        x ← x + W_down · relu(W_up n(x))²
    logits = W_head · n(x)   (at least fp32)       W_head = E when the embedding is tied
    loss   = mean_i [logsumexp_v logits_{i,v} − logits_{i,y_i}]   over the targets y_i ≠ −1

with ``n(x) = x / sqrt(mean(x²) + eps)`` the **parameter-free** RMSNorm. Why parameter-free: it is
SF-NorMuon's model (``F.rms_norm`` without a gain, [SFN-MODEL]), and it keeps every trainable tensor a 2-D
matrix, so the parameter routing of :func:`convexlab.optim.split_params` is clean: hidden matrices
to the matrix optimizer, the embedding/head to AdamW, and no 1-D gains that would silently go to
the AdamW side (and change what a Muon-family run measures).

Initialisation (SF-NorMuon [SFN-MODEL] [DEV]): output projections of attention (``o``) and MLP (``down``) are
**zero**, so every block starts as the identity map; every other weight keeps PyTorch's default
(``nn.Linear``: U(±1/√fan_in)). With a tied head the shared tensor is the ``nn.Linear`` head
weight, so it has the Linear init, not N(0, 1). Consequences at initialisation (tested): every
logit is ⟨n(E_i), w_v⟩ for the input token i; untied, Var = d·1/(3d) = 1/3 and the loss on random
targets is ≈ ln V + 1/6; **tied**, the input token's own logit is ⟨n(w_i), w_i⟩ = √d‖w_i‖ ≈ √(d/3),
so the model starts out predicting "repeat the current token" and the loss is
≈ ln(e^√(d/3) + (V − 1)e^{1/6}): 6.0 instead of 5.7 for the toy, ≈ 16.0 instead of 10.8 for ``124m``.
That is SF-NorMuon's model [SFN-MODEL] as described, not a defect; the first steps remove the spike.

Presets (:data:`PRESETS`, parameter counts from :meth:`GPT.num_params` — the block matrices are
12·L·d² since attention has 4 d×d matrices and the MLP 2 of d×4d):

=========  ===  =====  =====================  =====  ======  ===============  ===============
preset     L    d      heads × head_dim       vocab  T       non-embedding    total (tied)
=========  ===  =====  =====================  =====  ======  ===============  ===============
``toy``    2    64     2 × 32                 256    128     98,304           114,688
``small``  6    384    6 × 64                 256    256     10,616,832       10,715,136
``124m``   12   768    6 × 128                50304  1024    84,934,656       123,568,128
``350m``   24   1024   8 × 128                50304  1024    301,989,888      353,501,184
=========  ===  =====  =====================  =====  ======  ===============  ===============

``124m`` is exactly SF-NorMuon's "125M" arithmetic ([SFN-MODEL] [I]: 84.93M + 38.63M = 123.57M); ``350m``
keeps head_dim 128 at GPT-2-medium's shape. ``small`` is the project's scaled-down plan ([SFN-PLAN] [I]:
d = 256–384, 4–6 layers, heads of 64) at byte-level vocabulary.

``torch.compile`` is optional and applied by the trainer; bf16 autocast works on CPU and GPU
(the logits and the loss are computed in fp32 either way).

The loss without the logits (``model(idx, targets, return_logits=False)``, what the trainer calls):
:func:`linear_cross_entropy` computes the same cross-entropy ``loss_chunk`` tokens at a time, so
only one chunk of (at least) fp32 logits exists at any moment — at ``124m`` with 16×1024 tokens a
step otherwise holds a 16384 × 50304 fp32 logit tensor (3.3 GB) plus its log-softmax. The gradient
of each chunk is formed in the same pass, so the backward pass adds no matrix multiplication.

References: Su et al., "RoFormer" (arXiv 2104.09864) for RoPE; Zhang & Sennrich, "Root Mean
Square Layer Normalization" (arXiv 1910.07467); Karpathy, nanoGPT (the FLOPs estimate of
:meth:`GPT.flops_per_token`); Jordan et al., modded-nanoGPT (QK-norm, ReLU², zero-init projections).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from convexlab import _validation

#: MLP activations: ReLU² (SF-NorMuon [SFN-MODEL]) or GELU (GPT-2); both are d → 4d → d, so parameter counts agree
MLP_KINDS = ("relu2", "gelu")


@dataclass
class GPTConfig:
    r"""Shape and options of :class:`GPT`; every field is validated (``ValueError`` naming the field).

    Args:
        vocab_size: number of token ids (256 for the byte-level default corpus; 50304 = GPT-2's
            50257 padded to a multiple of 64 for the GPU presets).
        block_size: maximum context T (RoPE tables are built for it).
        n_layer, n_head, n_embd: depth L, heads H, width d; d must be divisible by H and the head
            dimension Q = d/H must be even (RoPE rotates pairs of coordinates).
        tie_embeddings: share the token-embedding table with the output head (SF-NorMuon [SFN-MODEL]: tied).
        dropout: dropout probability on attention weights and residual branches, in [0, 1).
        rope_base: RoPE base b; frequencies θ_j = b^(−2j/Q), j = 0 … Q/2 − 1 (SF-NorMuon SFN-MODEL: 10000).
        qk_norm: parameter-free RMSNorm of q and k per head before RoPE (SF-NorMuon [SFN-MODEL]).
        mlp: ``"relu2"`` (relu(x)², SF-NorMuon [SFN-MODEL]) or ``"gelu"``.
        loss_chunk: tokens per chunk of :func:`linear_cross_entropy` (the loss of
            ``return_logits=False``); a chunk holds ``loss_chunk × vocab_size`` logits (206 MB in
            fp32 at the default 1024 and GPT-2's vocabulary). Not part of the architecture: any value
            gives the same loss up to float rounding.

    >>> GPTConfig(n_embd=64, n_head=2).head_dim
    32
    """

    vocab_size: int = 256
    block_size: int = 128
    n_layer: int = 2
    n_head: int = 2
    n_embd: int = 64
    tie_embeddings: bool = True
    dropout: float = 0.0
    rope_base: float = 10000.0
    qk_norm: bool = True
    mlp: str = "relu2"
    loss_chunk: int = 1024

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "loss_chunk"):
            _validation.integer(name, getattr(self, name), 1)
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd must be divisible by n_head={self.n_head}, got {self.n_embd}")
        if self.head_dim % 2:
            raise ValueError(f"n_embd / n_head (the head dimension) must be even for RoPE, got "
                             f"n_embd={self.n_embd}, n_head={self.n_head} (head dimension {self.head_dim})")
        for name in ("tie_embeddings", "qk_norm"):
            _validation.boolean(name, getattr(self, name))
        try:
            p = float(self.dropout)
        except (TypeError, ValueError):
            p = math.nan
        if isinstance(self.dropout, bool) or not 0.0 <= p < 1.0:
            raise ValueError(f"dropout must be a number in [0, 1), got {self.dropout!r}")
        try:
            b = float(self.rope_base)
        except (TypeError, ValueError):
            b = math.nan
        if isinstance(self.rope_base, bool) or not (math.isfinite(b) and b > 1.0):
            raise ValueError(f"rope_base must be a finite number > 1, got {self.rope_base!r}")
        _validation.one_of("mlp", self.mlp, MLP_KINDS)

    @property
    def head_dim(self) -> int:
        """Q = n_embd / n_head."""
        return self.n_embd // self.n_head

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


#: model presets (module docstring table; parameter counts are tested)
PRESETS: dict[str, GPTConfig] = {
    "toy": GPTConfig(vocab_size=256, block_size=128, n_layer=2, n_head=2, n_embd=64),
    "small": GPTConfig(vocab_size=256, block_size=256, n_layer=6, n_head=6, n_embd=384),
    "124m": GPTConfig(vocab_size=50304, block_size=1024, n_layer=12, n_head=6, n_embd=768),
    "350m": GPTConfig(vocab_size=50304, block_size=1024, n_layer=24, n_head=8, n_embd=1024),
}


# ---------------------------------------------------------------------------------------------
# building blocks
# ---------------------------------------------------------------------------------------------
def rms_norm(x: torch.Tensor) -> torch.Tensor:
    r"""Parameter-free RMSNorm over the last dimension: x / sqrt(mean(x²) + eps).

    eps is the machine epsilon of x's dtype (``F.rms_norm``'s default, as in modded-nanoGPT).
    """
    return F.rms_norm(x, (x.size(-1),))


def rope_tables(head_dim: int, length: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    r"""cos and sin tables of RoPE, each (length, head_dim/2) in float32.

    Angle of position t and pair j: t·θ_j with θ_j = base^(−2j/Q), j = 0 … Q/2 − 1 (RoFormer eq. 15).
    Computed in float64 and rounded once, so long contexts keep accurate angles.
    """
    if head_dim < 2 or head_dim % 2:
        raise ValueError(f"head_dim must be an even integer >= 2, got {head_dim!r}")
    j = torch.arange(head_dim // 2, dtype=torch.float64)
    theta = base ** (-2.0 * j / head_dim)  # (Q/2,)
    angle = torch.arange(length, dtype=torch.float64)[:, None] * theta[None, :]  # (T, Q/2)
    return angle.cos().float(), angle.sin().float()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    r"""Rotate pairs (x_j, x_{j+Q/2}) of x (B, H, T, Q) by the angles t·θ_j of its position t.

    (x₁, x₂) ↦ (x₁ cos + x₂ sin, −x₁ sin + x₂ cos), the half-split layout of modded-nanoGPT. A rotation
    by position makes ⟨R_m q, R_n k⟩ a function of m − n only (the relative-position property).
    Computed in float32 and cast back, so bf16 activations get correctly rounded rotations.
    """
    T, half = x.size(-2), x.size(-1) // 2
    cos, sin = cos[:T].to(x.device), sin[:T].to(x.device)  # (T, Q/2), broadcast over (B, H)
    xf = x.float()
    x1, x2 = xf[..., :half], xf[..., half:]
    y = torch.cat((x1 * cos + x2 * sin, -x1 * sin + x2 * cos), dim=-1)
    return y.type_as(x)


class CausalSelfAttention(nn.Module):
    r"""Multi-head causal self-attention with QK-norm and RoPE; separate q, k, v, o without bias."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        d = cfg.n_embd
        self.n_head, self.head_dim, self.qk_norm, self.dropout = cfg.n_head, cfg.head_dim, cfg.qk_norm, cfg.dropout
        self.q = nn.Linear(d, d, bias=False)
        self.k = nn.Linear(d, d, bias=False)
        self.v = nn.Linear(d, d, bias=False)
        self.o = nn.Linear(d, d, bias=False)
        nn.init.zeros_(self.o.weight)  # SF-NorMuon [SFN-MODEL]: the block starts as the identity
        cos, sin = rope_tables(cfg.head_dim, cfg.block_size, cfg.rope_base)
        # not persistent: derived from the config, so checkpoints stay independent of the table length
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, d = x.shape
        H, Q = self.n_head, self.head_dim
        q = self.q(x).view(B, T, H, Q).transpose(1, 2)  # (B, H, T, Q)
        k = self.k(x).view(B, T, H, Q).transpose(1, 2)  # (B, H, T, Q)
        v = self.v(x).view(B, T, H, Q).transpose(1, 2)  # (B, H, T, Q)
        if self.qk_norm:  # bounded attention logits: |⟨q, k⟩|/√Q ≤ √Q whatever the weight scale
            q, k = rms_norm(q), rms_norm(k)
        # the cached tables may have been cast with the module (model.to(bf16)): use them in float32
        q, k = apply_rope(q, self.cos.float(), self.sin.float()), apply_rope(k, self.cos.float(), self.sin.float())
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)  # (B, H, T, Q)
        y = y.transpose(1, 2).reshape(B, T, d)  # heads side by side again, (B, T, d)
        return self.o(y)


class MLP(nn.Module):
    r"""d → 4d → d without bias; activation relu(x)² (SF-NorMuon [SFN-MODEL]) or GELU."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.up = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=False)
        self.down = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=False)
        nn.init.zeros_(self.down.weight)  # SF-NorMuon [SFN-MODEL]: the block starts as the identity
        self.kind = cfg.mlp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.up(x)  # (B, T, 4d)
        h = F.relu(h).square() if self.kind == "relu2" else F.gelu(h)
        return self.down(h)  # (B, T, d)


class Block(nn.Module):
    r"""Pre-norm residual block: x + Attn(n(x)), then x + MLP(n(x))."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.attn = CausalSelfAttention(cfg)
        self.mlp = MLP(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(rms_norm(x)))
        x = x + self.drop(self.mlp(rms_norm(x)))
        return x


# ---------------------------------------------------------------------------------------------
# the loss, chunk by chunk
# ---------------------------------------------------------------------------------------------
def _loss_dtypes(h: torch.Tensor) -> tuple[torch.dtype, torch.dtype]:
    """(compute dtype of the head matmul, dtype of logits and loss): autocast's dtype for a float32
    input under autocast (what ``nn.Linear`` would use), else the input's; the loss in at least fp32."""
    dev = h.device.type
    cdt = torch.get_autocast_dtype(dev) if (torch.is_autocast_enabled(dev) and h.dtype == torch.float32) else h.dtype
    return cdt, torch.promote_types(cdt, torch.float32)


def _chunked_ce(h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int, ignore_index: int,
                want_h: bool, want_w: bool):
    """Sum of the per-token losses, the number of counted targets, and (when asked) the gradients of
    the mean loss with respect to ``h`` and ``weight`` (:func:`linear_cross_entropy`)."""
    cdt, acc = _loss_dtypes(h)
    n = h.shape[0]
    valid = targets != ignore_index
    count = valid.sum()  # a tensor: no host synchronisation
    safe = torch.where(valid, targets, torch.zeros_like(targets))  # any index in range for ignored rows
    with torch.autocast(h.device.type, enabled=False):  # the dtypes below are explicit
        hc, wc = h.to(cdt), weight.to(cdt)
        total = torch.zeros((), dtype=acc, device=h.device)
        g_h = torch.empty_like(h) if want_h else None
        g_w = torch.zeros(weight.shape, dtype=acc, device=weight.device) if want_w else None
        # 1/count for the gradient; 0 counted targets give zero gradients (as F.cross_entropy does)
        inv = 1.0 / count.clamp_min(1).to(acc)
        for lo in range(0, n, chunk):
            hi = min(lo + chunk, n)
            logits = (hc[lo:hi] @ wc.T).to(acc)  # (c, V): the only logits alive
            t = safe[lo:hi, None]
            z_t = logits.gather(1, t).squeeze(1)  # (c,) the target's logit
            top = logits.amax(dim=-1, keepdim=True)  # (c, 1)
            e = logits.sub_(top).exp_()  # e^{z − max}, in place: no second (c, V) tensor
            s = e.sum(dim=-1)  # (c,)
            row = top.squeeze(1) + s.log() - z_t  # logsumexp(z) − z_y
            total = total + torch.where(valid[lo:hi], row, torch.zeros_like(row)).sum()
            if not (want_h or want_w):
                continue
            # d loss / d logits = w_i (softmax_i − onehot(y_i)), w_i = [i counted] / count
            w_row = valid[lo:hi].to(acc) * inv  # (c,)
            grad = e.mul_((w_row / s)[:, None])
            grad.scatter_add_(1, t, -w_row[:, None])
            gc = grad.to(cdt)
            if want_h:
                if g_h.dtype == cdt:
                    torch.mm(gc, wc, out=g_h[lo:hi])
                else:
                    g_h[lo:hi] = (gc @ wc).to(h.dtype)
            if want_w:
                if cdt == acc:  # accumulate in place: no (V, d) temporary
                    g_w.addmm_(gc.T, hc[lo:hi])
                else:
                    g_w += (gc.T @ hc[lo:hi]).to(acc)
    return total, count, g_h, g_w


class _LinearCrossEntropy(torch.autograd.Function):
    """Autograd wrapper of :func:`_chunked_ce`: the gradients are formed in the forward pass and
    scaled by the incoming gradient in the backward pass (no second use of the logits)."""

    @staticmethod
    def forward(ctx, h, weight, targets, chunk, ignore_index):
        total, count, g_h, g_w = _chunked_ce(h, weight, targets, chunk, ignore_index,
                                             ctx.needs_input_grad[0], ctx.needs_input_grad[1])
        ctx.save_for_backward(g_h, g_w)
        ctx.w_dtype = weight.dtype
        return total / count.to(total.dtype)  # 0 counted targets: nan, as F.cross_entropy

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        g_h, g_w = ctx.saved_tensors
        gh = g_h * grad_out.to(g_h.dtype) if g_h is not None else None
        gw = (g_w * grad_out.to(g_w.dtype)).to(ctx.w_dtype) if g_w is not None else None
        return gh, gw, None, None, None


def linear_cross_entropy(h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, *, chunk: int = 1024,
                         ignore_index: int = -1) -> torch.Tensor:
    r"""Mean cross-entropy of the logits ``h @ weight.T`` against ``targets``, ``chunk`` rows at a time.

    .. math::

        L = \frac{1}{|I|} \sum_{i \in I} \Big[\log \sum_v e^{z_{iv}} - z_{i y_i}\Big], \quad
        z_i = W h_i,\ I = \{i : y_i \ne \text{ignore\_index}\},

        \frac{\partial L}{\partial z_{iv}} = \frac{[i \in I]}{|I|}\big(\mathrm{softmax}(z_i)_v - [v = y_i]\big),
        \quad \frac{\partial L}{\partial h_i} = \sum_v \frac{\partial L}{\partial z_{iv}} W_v, \quad
        \frac{\partial L}{\partial W} = \sum_i \frac{\partial L}{\partial z_i} h_i^\top .

    Equal to ``F.cross_entropy((h @ weight.T).float(), targets, ignore_index=ignore_index)`` (the
    loss of :class:`GPT` with ``return_logits=True``) up to float rounding; the difference is the
    summation order (per chunk, then over chunks) and ``max_v z + log Σ_v e^{z − max} − z_y`` in
    place of log-softmax (the exponentials, computed in place, are reused for the softmax).
    Each chunk's logits are computed in the compute dtype (autocast's for a float32 ``h`` under
    autocast, as ``nn.Linear`` would; else ``h``'s) and held in at least fp32 for the softmax;
    only one chunk of logits exists at a time. When gradients are needed the chunk's gradient is
    formed right away (two matmuls in the compute dtype, the weight gradient accumulated in at least
    fp32), so the backward pass only scales the stored gradients by the incoming one; under
    ``torch.no_grad()`` (evaluation) only the loss is computed. No host synchronisation. All targets
    ignored: the loss is nan and the gradients zero, as with ``F.cross_entropy``.

    Provenance: reconstructed from the gradient identity above; forming each chunk's gradient in the
    forward pass is the scheme of Liger-Kernel's fused linear cross-entropy (Hsu et al., arXiv
    2410.10989), written here from that description, not from its code.

    Args:
        h: hidden states (N, d), floating point.
        weight: head matrix (V, d), floating point, on ``h``'s device.
        targets: (N,) integer token ids in [0, V) or ``ignore_index``.
        chunk: rows per chunk, an integer ≥ 1.
        ignore_index: target value that is not counted.

    Raises:
        ValueError: bad shapes, dtypes or ``chunk``.
    """
    if not isinstance(h, torch.Tensor) or h.ndim != 2 or not h.is_floating_point():
        raise ValueError(f"h must be a floating-point tensor of shape (N, d), got "
                         f"{getattr(h, 'dtype', type(h).__name__)} of shape {tuple(getattr(h, 'shape', ()))}")
    if (not isinstance(weight, torch.Tensor) or weight.ndim != 2 or not weight.is_floating_point()
            or weight.shape[1] != h.shape[1]):
        raise ValueError(f"weight must be a floating-point tensor of shape (V, {h.shape[1]}), got "
                         f"{getattr(weight, 'dtype', type(weight).__name__)} of shape "
                         f"{tuple(getattr(weight, 'shape', ()))}")
    if weight.device != h.device:
        raise ValueError(f"weight must be on h's device {h.device}, got {weight.device}")
    if (not isinstance(targets, torch.Tensor) or targets.shape != h.shape[:1]
            or targets.dtype not in (torch.int64, torch.int32)):
        raise ValueError(f"targets must be an integer tensor of shape ({h.shape[0]},), got "
                         f"{getattr(targets, 'dtype', type(targets).__name__)} of shape "
                         f"{tuple(getattr(targets, 'shape', ()))}")
    _validation.integer("chunk", chunk, 1)
    targets = targets.long()
    if torch.is_grad_enabled() and (h.requires_grad or weight.requires_grad):
        return _LinearCrossEntropy.apply(h, weight, targets, chunk, ignore_index)
    total, count, _, _ = _chunked_ce(h, weight, targets, chunk, ignore_index, False, False)
    return total / count.to(total.dtype)


# ---------------------------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------------------------
class GPT(nn.Module):
    r"""Decoder-only transformer of the module docstring.

    Parameter names route through :func:`convexlab.optim.split_params`: ``embed.weight`` (an
    ``nn.Embedding``) and ``lm_head.weight`` go to AdamW, ``blocks.*.attn.{q,k,v,o}.weight`` and
    ``blocks.*.mlp.{up,down}.weight`` are the hidden matrices. With a tied head both names refer to
    one tensor, which ``named_parameters()`` lists once (as ``embed.weight``).

    >>> model = GPT(PRESETS["toy"])
    >>> logits, loss = model(torch.zeros(1, 8, dtype=torch.long), torch.zeros(1, 8, dtype=torch.long))
    >>> tuple(logits.shape), logits.dtype, loss.ndim
    ((1, 8, 256), torch.float32, 0)
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise ValueError(f"config must be a GPTConfig, got {type(config).__name__}")
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_embeddings:  # SF-NorMuon [SFN-MODEL]: the shared tensor is the Linear head weight (Linear init)
            self.embed.weight = self.lm_head.weight

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, *, return_logits: bool = True
                ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        r"""(logits, loss): logits (B, T, V) in float32 (float64 for a float64 model) or None, and the
        mean cross-entropy (a scalar of the logits' dtype) or None.

        Args:
            idx: token ids, an integer tensor (B, T) with T ≤ ``block_size``.
            targets: next-token ids, same shape as ``idx``; entries equal to −1 are ignored.
            return_logits: ``True``: the full logits, and the loss from them
                (``F.cross_entropy``). ``False`` (needs ``targets``): no logits (None); the loss of
                :func:`linear_cross_entropy`, ``config.loss_chunk`` tokens at a time, equal to the
                first up to float rounding without the (B, T, V) fp32 tensor. The trainer uses it.

        Raises:
            ValueError: wrong dtype, rank, context length, a shape mismatch of ``targets``, or
                ``return_logits=False`` without ``targets``.
        """
        _validation.boolean("return_logits", return_logits)
        if not return_logits and targets is None:
            raise ValueError("return_logits=False needs targets (without them the logits are the only output)")
        if not isinstance(idx, torch.Tensor) or idx.dtype not in (torch.int64, torch.int32) or idx.ndim != 2:
            raise ValueError(f"idx must be an int64/int32 tensor of shape (B, T), got "
                             f"{getattr(idx, 'dtype', type(idx).__name__)} of shape {tuple(getattr(idx, 'shape', ()))}")
        B, T = idx.shape
        if not 1 <= T <= self.config.block_size:
            raise ValueError(f"idx has context length T={T}; it must be in [1, block_size={self.config.block_size}]")
        if targets is not None and (not isinstance(targets, torch.Tensor) or targets.shape != idx.shape
                                    or targets.dtype not in (torch.int64, torch.int32)):
            raise ValueError(f"targets must be an integer tensor of the shape of idx {tuple(idx.shape)}, got "
                             f"{getattr(targets, 'dtype', type(targets).__name__)} of shape "
                             f"{tuple(getattr(targets, 'shape', ()))}")

        x = self.drop(self.embed(idx))  # (B, T, d); positions enter through RoPE only
        for block in self.blocks:
            x = block(x)  # (B, T, d)
        x = rms_norm(x)
        if not return_logits:  # the loss chunk by chunk: no (B, T, V) logits
            loss = linear_cross_entropy(x.reshape(B * T, -1), self.lm_head.weight, targets.reshape(B * T),
                                        chunk=self.config.loss_chunk, ignore_index=-1)
            return None, loss
        logits = self.lm_head(x)  # (B, T, V) in the compute dtype
        # at least fp32 for a stable softmax under bf16 autocast
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.view(B * T, -1), targets.reshape(B * T).long(), ignore_index=-1)
        return logits, loss

    # -----------------------------------------------------------------------------------------
    # sizes and FLOPs
    # -----------------------------------------------------------------------------------------
    def num_params(self, non_embedding: bool = True) -> int:
        r"""Number of parameters, each shared tensor counted once.

        ``non_embedding=True`` counts the transformer blocks only (12·L·d² here): the token
        embedding and the output head are left out, tied or not — the split [SFN-MODEL] uses for
        "84.93M non-embedding + 38.63M embedding" ([SFN-MODEL] [I]).
        """
        total = sum(p.numel() for p in self.parameters())  # parameters() deduplicates a tied tensor
        if not non_embedding:
            return total
        outside = {id(w): w.numel() for w in (self.embed.weight, self.lm_head.weight)}  # a tied tensor once
        return total - sum(outside.values())

    def flops_per_token(self) -> float:
        r"""Training FLOPs per token, nanoGPT's estimate 6·N + 12·L·H·Q·T (PaLM appendix B).

        N counts the parameters that take part in matrix multiplications: the blocks and the output
        head (the embedding lookup is no matmul), i.e. :meth:`num_params` ``(non_embedding=True)`` +
        V·d — the same N as nanoGPT, whose count includes the tied ``wte`` and excludes ``wpe``.
        6·N: forward 2 FLOPs per weight per token, backward twice that. 12·L·H·Q·T: the attention
        scores and the weighted sum at full context T = ``block_size`` (forward 2·2·T·d per layer,
        times 3 with the backward). MFU = flops_per_token · tokens/s / peak FLOP/s.
        """
        c = self.config
        n = self.num_params(non_embedding=True) + self.lm_head.weight.numel()
        return 6.0 * n + 12.0 * c.n_layer * c.n_head * c.head_dim * c.block_size
