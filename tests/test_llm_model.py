r"""The GPT of convexlab.llm.model: shapes, initial loss, causality, tying, RoPE, training, bf16, presets, validation.

All on the CPU with the toy preset (or smaller); the 124M/350M presets are built on the meta device
(shapes only, no memory) to check their parameter counts against SF-NorMuon's arithmetic [SFN-MODEL].
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from convexlab.llm.model import GPT, PRESETS, GPTConfig, apply_rope, rope_tables
from convexlab.optim import split_params


def _model(seed: int = 0, **kw) -> GPT:
    torch.manual_seed(seed)
    return GPT(dataclasses.replace(PRESETS["toy"], **kw))


def _randomize_output_projections(model: GPT, seed: int = 1) -> None:
    """Zero-init o/down make every position independent at init; random ones make attention matter."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for b in model.blocks:
            for w in (b.attn.o.weight, b.mlp.down.weight):
                w.copy_(torch.randn(w.shape, generator=g) * 0.1)


def test_shapes_and_dtypes():
    model = _model()
    idx = torch.randint(256, (3, 17))
    logits, loss = model(idx)
    assert logits.shape == (3, 17, 256) and logits.dtype == torch.float32 and loss is None
    logits, loss = model(idx, idx)
    assert loss.shape == () and loss.dtype == torch.float32 and torch.isfinite(loss)


@pytest.mark.parametrize("seed", [0, 1])
def test_loss_at_init(seed):
    r"""Initial loss on random targets, predicted from the init (module docstring of model.py).

    The blocks start as the identity (zero o/down), so the logits are ⟨n(E_i), w_v⟩ with n(E_i) of
    unit RMS. Untied: E_i is independent of the head, w_v ~ U(±1/√d), each logit has variance
    d·1/(3d) = 1/3 and CE ≈ ln V + σ²/2 = ln V + 1/6. Tied (E = W_head, SF-NorMuon [SFN-MODEL]): the input token's
    own logit is ⟨n(w_i), w_i⟩ = √d·‖w_i‖ ≈ √(d/3), so CE ≈ ln(e^√(d/3) + (V − 1)·e^{1/6}).
    """
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(256, (8, 128), generator=g)
    tgt = torch.randint(256, (8, 128), generator=g)
    d, V = 64, 256
    with torch.no_grad():
        loss_untied = float(_model(seed, tie_embeddings=False)(idx, tgt)[1])
        loss_tied = float(_model(seed)(idx, tgt)[1])
        logits, _ = _model(seed, tie_embeddings=False)(idx)
    assert abs(loss_untied - (math.log(V) + 1 / 6)) < 0.05, loss_untied
    assert abs(float(logits.var()) - 1 / 3) < 0.03
    assert abs(loss_tied - math.log(math.exp(math.sqrt(d / 3)) + (V - 1) * math.exp(1 / 6))) < 0.05, loss_tied


def test_zero_init_output_projections():
    model = _model()
    for b in model.blocks:
        assert torch.count_nonzero(b.attn.o.weight) == 0 and torch.count_nonzero(b.mlp.down.weight) == 0
        assert torch.count_nonzero(b.attn.q.weight) > 0 and torch.count_nonzero(b.mlp.up.weight) > 0


@pytest.mark.parametrize("qk_norm, mlp", [(True, "relu2"), (False, "gelu")])
def test_causality(qk_norm, mlp):
    model = _model(qk_norm=qk_norm, mlp=mlp).eval()
    _randomize_output_projections(model)
    idx = torch.randint(256, (2, 32), generator=torch.Generator().manual_seed(3))
    t = 20
    idx2 = idx.clone()
    idx2[:, t] = (idx2[:, t] + 1) % 256
    with torch.no_grad():
        a, _ = model(idx)
        b, _ = model(idx2)
    assert torch.allclose(a[:, :t], b[:, :t], rtol=0, atol=1e-6)  # the past does not see the future
    # non-vacuity: the changed position and later ones (through attention) do change
    assert (a[:, t] - b[:, t]).abs().max() > 1e-3
    assert (a[:, t + 1:] - b[:, t + 1:]).abs().amax(dim=-1).min() > 1e-5


def test_tied_weights_are_one_tensor():
    model = _model()
    assert model.embed.weight is model.lm_head.weight
    names = [n for n, _ in model.named_parameters()]
    assert names.count("embed.weight") == 1 and "lm_head.weight" not in names
    # a gradient from the embedding path and the head path lands in the one tensor, and an update moves both
    with torch.no_grad():
        model.lm_head.weight[5].add_(1.0)
    assert torch.equal(model.embed.weight[5], model.lm_head.weight[5])
    # state dict round trip keeps the tie
    fresh = _model(seed=9)
    fresh.load_state_dict(model.state_dict())
    assert fresh.embed.weight is fresh.lm_head.weight and torch.equal(fresh.embed.weight, model.embed.weight)

    untied = _model(tie_embeddings=False)
    assert untied.embed.weight is not untied.lm_head.weight
    assert untied.num_params(non_embedding=False) == 114_688 + 256 * 64


def test_routing_matrices_and_adamw_side():
    mat, other = split_params(_model(), names=True)
    assert sorted(n for n, _ in other) == ["embed.weight"]
    assert len(mat) == 2 * 6 and all(p.ndim == 2 for _, p in mat)
    mat, other = split_params(_model(tie_embeddings=False), names=True)
    assert sorted(n for n, _ in other) == ["embed.weight", "lm_head.weight"]


def test_rope_relative_position_property():
    r"""⟨R_m q, R_n k⟩ depends on m − n only, and R_t is a rotation (norms kept, R_0 = I)."""
    Q, T = 16, 64
    cos, sin = rope_tables(Q, T, 10000.0)
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(Q, generator=g), torch.randn(Q, generator=g)
    seq_q = apply_rope(q.expand(1, 1, T, Q).contiguous(), cos, sin)[0, 0]  # R_t q for t = 0 … T−1
    seq_k = apply_rope(k.expand(1, 1, T, Q).contiguous(), cos, sin)[0, 0]
    dots = seq_q @ seq_k.T  # (T, T): ⟨R_m q, R_n k⟩
    for delta in (0, 3, 17):
        diag = torch.diagonal(dots, offset=-delta)  # entries with m − n = delta
        assert torch.allclose(diag, diag[0].expand_as(diag), atol=1e-4)
    # it is not constant across different offsets (non-vacuity)
    assert abs(float(dots[5, 5] - dots[8, 5])) > 1e-3
    assert torch.allclose(seq_q.norm(dim=-1), q.norm().expand(T), atol=1e-5)
    assert torch.allclose(seq_q[0], q)


def test_a_few_adamw_steps_lower_the_loss():
    model = _model()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.95), weight_decay=0.0)
    g = torch.Generator().manual_seed(0)
    # a learnable stream: a repeating pattern of 16 tokens
    pattern = torch.randint(256, (16,), generator=g)
    seq = pattern.repeat(5)
    idx = torch.stack([seq[i:i + 32] for i in range(8)])
    tgt = torch.stack([seq[i + 1:i + 33] for i in range(8)])
    losses = []
    for _ in range(15):
        _, loss = model(idx, tgt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 1.0, losses


def test_bf16_autocast_on_cpu():
    model = _model()
    _randomize_output_projections(model)
    idx = torch.randint(256, (2, 16))
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        logits, loss = model(idx, idx)
    assert logits.dtype == torch.float32 and loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    ref, ref_loss = model(idx, idx)
    assert abs(loss.item() - ref_loss.item()) < 0.05  # bf16 round-off only


def test_dropout_only_in_training_mode():
    model = _model(dropout=0.5)
    _randomize_output_projections(model)
    idx = torch.randint(256, (2, 16))
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(idx)[0], model(idx)[0])
        model.train()
        assert not torch.equal(model(idx)[0], model(idx)[0])


def test_ignore_index_minus_one():
    model = _model()
    idx = torch.randint(256, (2, 8))
    tgt = idx.clone()
    tgt[:, :4] = -1
    full = torch.nn.functional.cross_entropy(model(idx)[0][:, 4:].reshape(-1, 256), idx[:, 4:].reshape(-1))
    assert torch.allclose(model(idx, tgt)[1], full)


# ---------------------------------------------------------------------------------------------
# presets, parameter counts, FLOPs
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, non_emb, total", [
    ("toy", 98_304, 114_688),
    ("small", 10_616_832, 10_715_136),
    ("124m", 84_934_656, 123_568_128),  # SF-NorMuon [SFN-MODEL]: 12·12·768² + 50304·768 = 123.57M
    ("350m", 301_989_888, 353_501_184),
])
def test_preset_parameter_counts(name, non_emb, total):
    cfg = PRESETS[name]
    with torch.device("meta"):
        model = GPT(cfg)
    assert model.num_params(non_embedding=True) == non_emb == 12 * cfg.n_layer * cfg.n_embd ** 2
    assert model.num_params(non_embedding=False) == total == non_emb + cfg.vocab_size * cfg.n_embd


def test_preset_shapes_follow_the_contract():
    assert (PRESETS["toy"].n_layer, PRESETS["toy"].n_embd) == (2, 64)
    c = PRESETS["124m"]
    assert (c.n_layer, c.n_embd, c.n_head, c.head_dim, c.vocab_size, c.tie_embeddings) == (12, 768, 6, 128, 50304, True)
    c = PRESETS["350m"]
    assert (c.n_layer, c.n_embd, c.head_dim) == (24, 1024, 128)
    assert GPTConfig() == PRESETS["toy"]


def test_flops_per_token_is_nanogpt_estimate():
    with torch.device("meta"):
        model = GPT(PRESETS["124m"])
    N = 123_568_128  # tied: the head matmul counts, as nanoGPT's N (its wte) does
    assert model.flops_per_token() == 6 * N + 12 * 12 * 6 * 128 * 1024
    untied = _model(tie_embeddings=False)  # the embedding lookup is no matmul: untying adds no FLOPs
    assert untied.flops_per_token() == _model().flops_per_token() == 6 * 114_688 + 12 * 2 * 2 * 32 * 128


# ---------------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("field, value, fragment", [
    ("vocab_size", 0, "vocab_size must be an integer >= 1"),
    ("block_size", 1.5, "block_size must be an integer >= 1"),
    ("n_layer", True, "n_layer must be an integer >= 1"),
    ("n_head", 3, "n_embd must be divisible by n_head=3"),
    ("n_head", 64, "must be even for RoPE"),
    ("dropout", 1.0, "dropout must be a number in [0, 1)"),
    ("dropout", "x", "dropout must be a number in [0, 1)"),
    ("rope_base", float("inf"), "rope_base must be a finite number > 1"),
    ("qk_norm", 1, "qk_norm must be True or False"),
    ("tie_embeddings", "yes", "tie_embeddings must be True or False"),
    ("mlp", "swiglu", "mlp must be one of ('relu2', 'gelu')"),
])
def test_config_validation(field, value, fragment):
    with pytest.raises(ValueError, match=field if field != "n_head" else "n_head|n_embd") as e:
        GPTConfig(**{field: value})
    assert fragment in str(e.value)
    with pytest.raises(ValueError):  # dataclasses.replace re-validates overrides
        dataclasses.replace(PRESETS["toy"], **{field: value})


def test_forward_validation():
    model = _model()
    with pytest.raises(ValueError, match="idx must be an int64/int32 tensor"):
        model(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="idx must be"):
        model(torch.zeros(8, dtype=torch.long))
    with pytest.raises(ValueError, match=r"block_size=128"):
        model(torch.zeros(1, 129, dtype=torch.long))
    with pytest.raises(ValueError, match="targets must be"):
        model(torch.zeros(1, 8, dtype=torch.long), torch.zeros(1, 7, dtype=torch.long))
    with pytest.raises(ValueError, match="config must be a GPTConfig"):
        GPT({"n_layer": 2})
    with pytest.raises(ValueError, match="head_dim must be an even integer"):
        rope_tables(7, 4)


# ---------------------------------------------------------------------------------------------
# the loss without the logits (return_logits=False): chunked, equal to the full-logit loss
# ---------------------------------------------------------------------------------------------
def _batch(B=4, T=32, V=256, seed=5, ignored=5):
    g = torch.Generator().manual_seed(seed)
    idx, tgt = torch.randint(V, (B, T), generator=g), torch.randint(V, (B, T), generator=g)
    tgt[0, :ignored] = -1  # some ignored targets, so the count is not B·T
    return idx, tgt


def _loss_and_grads(model, idx, tgt, **kw):
    model.zero_grad(set_to_none=True)
    logits, loss = model(idx, tgt, **kw)
    loss.backward()
    return logits, loss.detach(), [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("chunk", [1, 7, 128, 1000])
def test_chunked_loss_and_gradients_equal_the_full_logit_loss(dtype, tied, chunk):
    r"""``return_logits=False`` (linear_cross_entropy, ``chunk`` tokens at a time) against the loss of
    the full logits and ``F.cross_entropy`` (``return_logits=True``), loss and every gradient.

    Tolerance: the textbook bound of a recursive sum of n terms, n·ε·Σ|terms| (ε the dtype's
    machine epsilon), with n = B·T = 128 rows for the loss and the weight gradients and n = V = 256
    for the hidden-state gradients, taken relative to the largest entry: rounding only."""
    model = _model(tie_embeddings=tied, loss_chunk=chunk)
    _randomize_output_projections(model)
    model = model.to(dtype)
    idx, tgt = _batch()
    logits, ref, gref = _loss_and_grads(model, idx, tgt)
    none, loss, grads = _loss_and_grads(model, idx, tgt, return_logits=False)
    assert none is None and logits.dtype == dtype and loss.dtype == dtype and ref.dtype == dtype
    eps = torch.finfo(dtype).eps
    assert abs(float(loss - ref)) <= 128 * eps * float(ref), (float(loss), float(ref))
    for (name, _), g, r in zip(model.named_parameters(), grads, gref):
        scale = float(r.abs().max())
        assert scale > 0, name  # every parameter gets a gradient (non-vacuity)
        assert float((g - r).abs().max()) <= 256 * eps * scale, name
    # the evaluation path (no_grad: loss only, no gradient work) gives the same loss bit for bit
    with torch.no_grad():
        assert torch.equal(model(idx, tgt, return_logits=False)[1], loss)


def test_chunked_loss_under_bf16_autocast():
    r"""Under bf16 autocast both paths round the head matmul to bf16 the same way (row by row), so the
    losses agree to fp32 rounding; the head gradient is a bf16 matmul per chunk against one over the
    whole batch, so gradients agree to bf16 rounding (2⁻⁸ relative per entry, here of the largest)."""
    model = _model(loss_chunk=16)
    _randomize_output_projections(model)
    idx, tgt = _batch()
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        _, ref, gref = _loss_and_grads(model, idx, tgt)
        _, loss, grads = _loss_and_grads(model, idx, tgt, return_logits=False)
    assert loss.dtype == torch.float32
    assert abs(float(loss - ref)) <= 128 * torch.finfo(torch.float32).eps * float(ref)
    for g, r in zip(grads, gref):
        assert float((g - r).abs().max()) <= 2.0 ** -8 * float(r.abs().max())
    # not fp32 arithmetic in disguise: the fp32 loss differs by more than fp32 rounding
    _, f32, _ = _loss_and_grads(model, idx, tgt, return_logits=False)
    assert abs(float(f32 - loss)) > 1e-4


class _LargestFloatOutput(torch.utils._python_dispatch.TorchDispatchMode):
    """Records the element count of the largest floating-point tensor any op produces."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in torch.utils._pytree.tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.is_floating_point():
                self.largest = max(self.largest, t.numel())
        return out


def test_chunked_loss_never_materialises_the_logits():
    """With V = 2048 the (B·T, V) logits (1,048,576 entries) are the largest tensor of a step by 16×;
    the chunked loss (64 tokens per chunk) holds at most one 64 × V chunk, forward and backward."""
    V, B, T, chunk = 2048, 8, 64, 64
    model = _model(vocab_size=V, loss_chunk=chunk)
    idx, tgt = _batch(B, T, V)
    full = _LargestFloatOutput()
    with full:
        model(idx, tgt)[1].backward()
    assert full.largest == B * T * V  # the reference path does build the logits (non-vacuity)
    chunked = _LargestFloatOutput()
    with chunked:
        model(idx, tgt, return_logits=False)[1].backward()
    assert chunked.largest <= chunk * V, chunked.largest


def test_all_targets_ignored_matches_cross_entropy():
    model = _model()
    idx = torch.randint(256, (2, 8))
    tgt = torch.full_like(idx, -1)
    _, ref, gref = _loss_and_grads(model, idx, tgt)
    _, loss, grads = _loss_and_grads(model, idx, tgt, return_logits=False)
    assert math.isnan(float(ref)) and math.isnan(float(loss))  # 0/0, as F.cross_entropy
    assert all(torch.equal(g, r) and not g.any() for g, r in zip(grads, gref))  # zero gradients


def test_chunked_loss_validation():
    from convexlab.llm.model import linear_cross_entropy

    model = _model()
    idx = torch.zeros(1, 8, dtype=torch.long)
    with pytest.raises(ValueError, match="return_logits=False needs targets"):
        model(idx, return_logits=False)
    with pytest.raises(ValueError, match="return_logits must be True or False, got 0"):
        model(idx, idx, return_logits=0)
    with pytest.raises(ValueError, match="loss_chunk must be an integer >= 1, got 0"):
        GPTConfig(loss_chunk=0)
    h, w, t = torch.randn(4, 3), torch.randn(5, 3), torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match="chunk must be an integer >= 1, got 0"):
        linear_cross_entropy(h, w, t, chunk=0)
    with pytest.raises(ValueError, match=r"weight must be a floating-point tensor of shape \(V, 3\)"):
        linear_cross_entropy(h, torch.randn(5, 2), t)
    with pytest.raises(ValueError, match=r"targets must be an integer tensor of shape \(4,\)"):
        linear_cross_entropy(h, w, t[:3])
    with pytest.raises(ValueError, match="h must be a floating-point tensor"):
        linear_cross_entropy(h.long(), w, t)
