r"""FP8 E4M3 optimizer states on a tiny next-token model: Table 12 and the sign-update contrast.

StoSignSGD (Yu, Pan, Liu, Zhang; arXiv 2604.15416) §3.1, App. B.2, Table 12 [P]: stored in raw
E4M3, AdamW's states collapse (Token Embedding: v zeros 100 %, m zeros 100 % at step 103) while
sign methods train; StoSignSGD [SSG-FP8, SSG-Q12] for the recipe (:mod:`convexlab.precision`).

The model (:class:`BigramMLP`) is a one-block, transformer-shaped MLP on a synthetic bigram
language (a random Markov chain over ``vocab`` tokens): token embedding → residual ReLU MLP
(``mlp_fc``, ``mlp_proj``) → RMS norm → untied ``lm_head``; cross-entropy of the next token. Its
embedding gets sparse gradients (only the rows of the tokens in the batch), as a language
model's does.

Loss scaling multiplies every gradient by ``loss_scale`` and leaves the full-precision
trajectories of AdamW (up to ε) and of the sign methods unchanged, since all three are invariant
to a positive rescaling of the gradients. Sweeping it therefore moves the gradients through the
FP8 range without changing anything else: exactly the variable that decides underflow.
"""

from __future__ import annotations

import torch
from torch import nn

from convexlab.optim import AdamW, Signum, StoSignSGD
from convexlab.precision import emulated_step, state_statistics, update_change, weighted_share

#: the optimizers compared [D]: StoSignSGD [SSG-FP8-PLAN] plan betas for AdamW (0.9, 0.95), ε = 1e−8; sign methods
#: β1 = 0.9 (StoSignSGD envelope β2 = 1); no weight decay, so that only the direction differs
OPTIMIZERS = {
    "AdamW": lambda params, lr=3e-3: AdamW(params, lr=lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0),
    "Signum": lambda params, lr=1e-3: Signum(params, lr=lr, momentum=0.9, weight_decay=0.0),
    "StoSignSGD": lambda params, lr=1e-3: StoSignSGD(params, lr=lr, betas=(0.9, 1.0), weight_decay=0.0, seed=0),
}


class BigramMLP(nn.Module):
    r"""logits = lm_head(rms(h)), h = e + mlp_proj(relu(mlp_fc(rms(e)))), e = token_embedding[token]."""

    def __init__(self, vocab: int = 512, dim: int = 64, seed: int = 0):
        super().__init__()
        if isinstance(vocab, bool) or not isinstance(vocab, int) or vocab < 2:
            raise ValueError(f"vocab must be an integer >= 2, got {vocab!r}")
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be an integer >= 1, got {dim!r}")
        gen = torch.Generator().manual_seed(seed)
        self.token_embedding = nn.Embedding(vocab, dim)
        self.mlp_fc = nn.Linear(dim, 4 * dim, bias=False)
        self.mlp_proj = nn.Linear(4 * dim, dim, bias=False)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        with torch.no_grad():  # seeded init, independent of torch's global generator
            for p in self.parameters():
                fan_in = p.shape[1] if p is not self.token_embedding.weight else 1
                p.copy_(torch.randn(p.shape, generator=gen) / fan_in**0.5)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        e = self.token_embedding(tokens)
        rms = lambda u: u * torch.rsqrt(u.square().mean(-1, keepdim=True) + 1e-6)
        h = e + self.mlp_proj(torch.relu(self.mlp_fc(rms(e))))
        return self.lm_head(rms(h))


def markov_chain(vocab: int = 512, seed: int = 0, temperature: float = 0.5) -> torch.Tensor:
    r"""A random bigram transition matrix P (rows sum to 1): P[i] = softmax(z_i/temperature), z ~ N(0, I)."""
    gen = torch.Generator().manual_seed(seed + 1_000)
    return torch.softmax(torch.randn(vocab, vocab, generator=gen) / temperature, dim=-1)


def sample_batch(P: torch.Tensor, batch: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch`` (token, next token) pairs: token uniform, next token ~ P[token]."""
    tok = torch.randint(0, P.shape[0], (batch,), generator=gen)
    return tok, torch.multinomial(P[tok], 1, generator=gen).squeeze(1)


def _gradient(model, P, batch, gen, loss_scale):
    tok, nxt = sample_batch(P, batch, gen)
    model.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(model(tok), nxt)
    (loss * loss_scale).backward()
    return float(loss.detach())


def train(model: nn.Module, optimizer: torch.optim.Optimizer, steps: int, P: torch.Tensor, *, batch: int = 256,
          data_seed: int = 0, loss_scale: float = 1.0, fp8: bool = False) -> list[float]:
    r"""Train ``steps`` steps on batches from the chain ``P`` and return the (unscaled) losses.

    ``loss_scale`` multiplies the loss before backward (every gradient × loss_scale). ``fp8=True``
    uses :func:`convexlab.precision.emulated_step` (E5M2 gradients, E4M3 states, BF16 master
    weights, saturating casts); otherwise a plain full-precision step. The last gradient stays in
    ``p.grad``.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if not loss_scale > 0:
        raise ValueError(f"loss_scale must be a number > 0, got {loss_scale!r}")
    gen = torch.Generator().manual_seed(data_seed)
    losses = []
    for _ in range(steps):
        losses.append(_gradient(model, P, batch, gen, loss_scale))
        emulated_step(optimizer) if fp8 else optimizer.step()
    return losses


def table12(steps: int = 103, *, optimizer: str = "AdamW", vocab: int = 512, dim: int = 64, seed: int = 0,
            loss_scale: float = 1.0, fp8: bool = True) -> tuple[list[dict], list[float]]:
    r"""Train :class:`BigramMLP` for ``steps`` steps (FP8 emulated when ``fp8``) and return the
    per-layer Table-12 rows of :func:`convexlab.precision.state_statistics` (E4M3 zeros of every
    state, max|g|, max g² of the last gradient) and the loss curve."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {tuple(OPTIMIZERS)!r}, got {optimizer!r}")
    model, P = BigramMLP(vocab, dim, seed), markov_chain(vocab, seed)
    opt = OPTIMIZERS[optimizer](list(model.parameters()))
    losses = train(model, opt, steps, P, data_seed=seed, loss_scale=loss_scale, fp8=fp8)
    return state_statistics(opt, "e4m3", names=model.named_parameters()), losses


def scale_sweep(scales, steps: int = 103, *, optimizers=tuple(OPTIMIZERS), vocab: int = 512, dim: int = 64,
                seed: int = 0, factor: float = 2.0) -> list[dict]:
    r"""For every loss scale s and optimizer: train in full precision for ``steps`` steps at scale s,
    draw the next gradient, and measure what E4M3 storage of the state would do to that step.

    One row per (s, optimizer) with ``scale``, ``optimizer``, ``grad_rms`` (RMS of the next
    gradient over all coordinates), ``m_zeros``/``v_zeros`` (coordinate-weighted E4M3 zero
    shares; ``v_zeros`` NaN for the sign methods, which have no v), ``changed`` (share of
    coordinates whose update flips, vanishes or changes by more than ``factor``:
    :func:`convexlab.precision.update_change`) and ``max_update_over_lr`` (max |Δ_q|/lr).
    """
    rows = []
    for s in scales:
        for name in optimizers:
            if name not in OPTIMIZERS:
                raise ValueError(f"optimizers must be names from {tuple(OPTIMIZERS)!r}, got {name!r}")
            model, P = BigramMLP(vocab, dim, seed), markov_chain(vocab, seed)
            opt = OPTIMIZERS[name](list(model.parameters()))
            train(model, opt, steps, P, data_seed=seed, loss_scale=float(s))
            _gradient(model, P, 256, torch.Generator().manual_seed(seed + 7), float(s))
            grads = torch.cat([p.grad.reshape(-1) for p in model.parameters()]).double()
            stats = state_statistics(opt, "e4m3")
            ch = update_change(opt, "e4m3", factor=factor)
            rows.append({
                "scale": float(s), "optimizer": name, "grad_rms": float(grads.square().mean().sqrt()),
                "m_zeros": weighted_share(stats, "zeros_exp_avg"),
                "v_zeros": weighted_share(stats, "zeros_exp_avg_sq") if name == "AdamW" else float("nan"),
                "changed": ch["changed"], "max_update_over_lr": ch["max_abs_update_q"] / opt.param_groups[0]["lr"],
            })
    return rows
