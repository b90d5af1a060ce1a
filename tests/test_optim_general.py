"""The general optimizer family on the composed core (convexlab.optim.general): AdamW against
torch, AdaMax's documented ε difference from torch, the 16-bit lattice draw's exact bias bound,
the violation fraction only where it means something, exact division by a vanishing σ, the anytime
step, blocks that change no result, and no first-moment buffer at β1 = 0."""

from __future__ import annotations

import copy
import math
import pickle

import pytest
import torch

import convexlab.optim.general as general
from convexlab.bench.optim_speed import count_step
from convexlab.geometry import Clip, Euclidean, Sign, StochasticSign
from convexlab.optim import AdaMax, AdamW, GeneralOptimizer, IEStoSignSGD, SignConverted, StoSignSGD
from convexlab.geometry.stochastic_sign import LATTICE_BITS, LatticeNoise, LatticeStochasticSign
from convexlab.theory import identities
from convexlab.theory.registry import CheckContext

F32, F64 = torch.float32, torch.float64


# ---------------------------------------------------------------------------------------------
# AdamW = torch.optim.AdamW(foreach=True) to float32 rounding
# ---------------------------------------------------------------------------------------------
def _adamw_pair(eps_torch: float = 1e-3, steps: int = 20):
    """Our AdamW and torch's from the same start on two groups (a tensor larger than one CPU block,
    a late parameter in group 1), an LR scheduler that also cycles betas[0]; returns the parameters
    of both, both optimizers and the largest |direction| torch took."""
    gen = torch.Generator().manual_seed(0)
    shapes = [(700, 400), (33,), (9, 5)]  # 280 000 > CPU_BLOCK elements: cut into blocks
    init = [0.1 * torch.randn(s, generator=gen) for s in shapes]
    grads = [[1e-3 * torch.randn(s, generator=gen) for s in shapes] for _ in range(steps)]

    def make(cls, eps):
        ps = [torch.nn.Parameter(x.clone()) for x in init]
        groups = [{"params": ps[:2], "lr": 3e-3, "weight_decay": 0.1, "betas": (0.9, 0.99), "eps": eps},
                  {"params": ps[2:], "lr": 1e-3, "weight_decay": 0.0, "betas": (0.8, 0.999), "eps": 2 * eps}]
        kw = dict(foreach=True) if cls is torch.optim.AdamW else {}
        opt = cls(groups, **kw)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[5e-3, 2e-3], total_steps=steps,
                                                    base_momentum=0.8, max_momentum=0.9)
        return ps, opt, sched

    ours, theirs = make(AdamW, 1e-3), make(torch.optim.AdamW, eps_torch)
    dmax = 0.0
    for k in range(steps):
        lrs = [g["lr"] for g in theirs[1].param_groups]  # the step sizes of this step
        for (ps, opt, sched) in (ours, theirs):
            for i, (p, g) in enumerate(zip(ps, grads[k])):
                p.grad = None if (i == 2 and k < 5) else g.clone()  # the (9, 5) weight starts at step 6
            before = [p.detach().clone() for p in ps]
            opt.step()
            sched.step()
        wds = [0.1, 0.1, 0.0]
        for p, b, lr, wd in zip(theirs[0], before, [lrs[0], lrs[0], lrs[1]], wds):
            d = (b * (1 - lr * wd) - p.detach()) / lr  # the direction torch took
            dmax = max(dmax, float(d.abs().max()))
    return ours, theirs, dmax


def test_adamw_equals_torch_adamw_foreach_to_float32_rounding():
    """Two param groups, a scheduler (OneCycleLR: lr and betas[0]), a late parameter, 20 steps.
    The moments are computed by the same operations, so they agree bit for bit; the parameters differ
    only by the rounding of each step's update (ours folds the bias corrections into scalars,
    torch divides √v by √bc2 in a separate pass) and of x itself: per step at most
    8 float32 ulps of lr·|d| plus 1 ulp of |x| on each side, and the decoupled decay (1 − lr·λ ≤ 1)
    does not amplify an earlier difference, so after T steps |Δx| ≤ T·(2⁻²²·max|x| + 8·2⁻²⁴·lr_max·max|d|)
    (2 ulps of x: the decay and the update are rounded on each side)."""
    (ps, opt, _), (qs, ref, _), dmax = _adamw_pair()
    steps, lr_max = 20, 5e-3
    for p, q in zip(ps, qs):
        st, rt = opt.state[p], ref.state[q]
        assert int(st["step"]) == int(rt["step"])
        assert torch.equal(st["exp_avg"], rt["exp_avg"]) and torch.equal(st["exp_avg_sq"], rt["exp_avg_sq"])
        xmax = float(torch.maximum(p.detach().abs(), q.detach().abs()).max())
        tol = steps * (2**-22 * xmax + 8 * 2**-24 * lr_max * dmax)
        diff = float((p.detach() - q.detach()).abs().max())
        assert diff <= tol, (tuple(p.shape), diff, tol)
    assert int(opt.state[ps[2]]["step"]) == 15  # the late parameter counts its own steps


def test_adamw_torch_comparison_detects_a_misplaced_eps():
    """The bound above is tight enough to fail when ε differs (here torch with 1.5ε)."""
    (ps, _, _), (qs, _, _), dmax = _adamw_pair(eps_torch=1.5e-3)
    assert dmax < 10  # Adam's direction: a few units at most
    tol = 20 * (2**-22 * 1.0 + 8 * 2**-24 * 5e-3 * dmax)  # the bound above with max|x| ≤ 1
    assert max(abs(float(p.detach().abs().max())) for p in ps) < 1.0
    assert max(float((p.detach() - q.detach()).abs().max()) for p, q in zip(ps, qs)) > 10 * tol


# ---------------------------------------------------------------------------------------------
# AdaMax: ε outside the running max (torch: inside)
# ---------------------------------------------------------------------------------------------
def test_adamax_eps_placement_differs_from_torch_as_documented():
    """σ = u + ε here, u_torch = max(β2 u_torch, |g| + ε) in torch: the same step where the current
    gradient sets the running max (steps 1 and 3), a smaller torch denominator where an older one
    does (step 2: ours 0.5·2e-3 + 1e-3 = 2e-3, torch max(0.5·3e-3, 1e-3) = 1.5e-3)."""
    b1, b2, eps, lr = 0.9, 0.5, 1e-3, 0.1
    a, b = torch.nn.Parameter(torch.zeros(1, dtype=F64)), torch.nn.Parameter(torch.zeros(1, dtype=F64))
    ours = AdaMax([a], lr=lr, betas=(b1, b2), eps=eps)
    ref = torch.optim.Adamax([b], lr=lr, betas=(b1, b2), eps=eps, foreach=True)
    m = 0.0
    for t, g, sigma_ours, sigma_torch in [(1, 2e-3, 3e-3, 3e-3), (2, 0.0, 2e-3, 1.5e-3), (3, 1.0, 1.001, 1.001)]:
        m = b1 * m + (1 - b1) * g
        xa, xb = a.item(), b.item()
        a.grad, b.grad = torch.tensor([g], dtype=F64), torch.tensor([g], dtype=F64)
        ours.step()
        ref.step()
        step_ours, step_torch = xa - a.item(), xb - b.item()
        mhat = m / (1 - b1**t)
        assert step_ours == pytest.approx(lr * mhat / sigma_ours, rel=1e-12)
        assert step_torch == pytest.approx(lr * mhat / sigma_torch, rel=1e-12)
        if sigma_ours == sigma_torch:
            assert step_ours == pytest.approx(step_torch, rel=1e-12)
        else:
            assert abs(step_ours - step_torch) > 0.1 * step_torch  # the documented difference shows


# ---------------------------------------------------------------------------------------------
# the 16-bit lattice draw
# ---------------------------------------------------------------------------------------------
def _lattice(bits: int = LATTICE_BITS, dtype=F32) -> torch.Tensor:
    """All 2^bits points of the symmetric lattice (2k + 1)/2^bits, k = −2^(bits−1) … 2^(bits−1) − 1."""
    k = torch.arange(-(2 ** (bits - 1)), 2 ** (bits - 1), dtype=torch.int64)
    return ((2 * k + 1).to(F64) / 2**bits).to(dtype)


def _exact_means(m: torch.Tensor, G: torch.Tensor, lattice: torch.Tensor, fused: bool) -> torch.Tensor:
    """E[S] over the whole lattice for each (m, G), S = sign(m + G·n) in the dtype of m, G."""
    n = lattice.view(1, -1)
    if fused:  # what the optimizer runs: one addcmul
        s = torch.addcmul(m.view(-1, 1).expand(-1, n.numel()), G.view(-1, 1).expand(-1, n.numel()), n.expand(m.numel(), -1))
    else:
        s = m.view(-1, 1) + G.view(-1, 1) * n
    return torch.sign(s).to(F64).mean(1)


def _grid(dtype):
    gen = torch.Generator().manual_seed(0)
    lo = -110 if dtype == F32 else -1006
    G = torch.cat([torch.tensor([1.0, 3.0, 2.0**lo, 2.0**lo * 1.37, 1e-20, 1e20], dtype=F64),
                   torch.exp(torch.randn(50, generator=gen, dtype=F64) * 10)]).to(dtype)
    r = torch.cat([torch.tensor([0.0, 1.0, -1.0, 0.5, -0.5, 2.0**-16, 3 * 2.0**-16, 1 - 2.0**-20], dtype=F64),
                   torch.rand(20, generator=gen, dtype=F64) * 2 - 1])
    Gs = G.repeat_interleave(r.numel())
    ms = (r.repeat(G.numel()) * G.to(F64).repeat_interleave(r.numel())).to(dtype)
    keep = ms.to(F64).abs() <= Gs.to(F64)
    return ms[keep], Gs[keep]


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "unfused"])
def test_lattice_bias_bound_holds_exactly_over_the_whole_lattice(dtype, fused):
    """|E[S] − m/G| < 2^-15 for |m| ≤ G, G ≥ 2^-110 (float32) / 2^-1006 (float64), with the mean
    taken over all 2^16 lattice points (no sampling): the bound of LatticeStochasticSign's docstring."""
    ms, Gs = _grid(dtype)
    lattice = _lattice(dtype=dtype)
    for i in range(0, ms.numel(), 64):
        m, G = ms[i:i + 64], Gs[i:i + 64]
        mean = _exact_means(m, G, lattice, fused)
        r = m.to(F64) / G.to(F64)  # float64 quotient of floats: within 2^-53 relative of the real m/G
        bias = (mean - r).abs()
        assert float(bias.max()) < 2**-15 - 2**-40, float(bias.max())
    # m = 0: the symmetric lattice gives exactly 0
    assert float(_exact_means(torch.zeros(3, dtype=dtype), torch.tensor([1.0, 1e-30, 5.0], dtype=dtype),
                              lattice, fused).abs().max()) == 0.0


def test_lattice_saturates_exactly_where_m_exceeds_G_and_at_G_zero():
    lattice = _lattice()
    m = torch.tensor([1.5, -1.0000001, 3.0, -2.0, 0.0])
    G = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0])
    for fused in (True, False):
        assert torch.equal(_exact_means(m, G, lattice, fused), torch.sign(m).to(F64))


def test_lattice_bias_check_fails_for_a_coarser_lattice():
    """The exhaustive check is not vacuous: a 10-bit lattice has a bias up to 2^-10 somewhere."""
    ms, Gs = _grid(F32)
    mean = _exact_means(ms[:2000], Gs[:2000], _lattice(bits=10), True)
    assert float((mean - ms[:2000].to(F64) / Gs[:2000].to(F64)).abs().max()) > 2**-12


def test_lattice_fields_are_uniform_and_the_stream_is_piecewise_invariant():
    """The 16-bit fields are uniform (χ² over 256 bins of the high byte and of the low byte, and
    over the four field positions) and filling a buffer in pieces draws what one fill draws."""
    gen = torch.Generator().manual_seed(1)
    n = 1 << 20
    out = torch.empty(n, dtype=F64)
    LatticeNoise(gen, torch.device("cpu")).fill(out)
    k = torch.round((out * 2**16 - 1) / 2).to(torch.int64)  # n = (2k + 1)/2^16
    assert torch.equal((2 * k + 1).to(F64) / 2**16, out) and int(k.min()) >= -(2**15) and int(k.max()) < 2**15
    u = k + 2**15
    crit = 256 + 5 * math.sqrt(2 * 255)  # χ²(255) mean + 5 sd
    for byte in (u >> 8, u & 255):
        counts = torch.bincount(byte, minlength=256).to(F64)
        chi2 = float(((counts - n / 256) ** 2 / (n / 256)).sum())
        assert chi2 < crit, chi2
    for pos in range(4):  # each field position of a word is uniform too
        counts = torch.bincount((u[pos::4] >> 8), minlength=256).to(F64)
        expect = (n // 4) / 256
        assert float(((counts - expect) ** 2 / expect).sum()) < crit
    # pieces (odd sizes, across word boundaries) = one fill
    gen_a, gen_b = torch.Generator().manual_seed(2), torch.Generator().manual_seed(2)
    whole = torch.empty(1001)
    LatticeNoise(gen_a, torch.device("cpu")).fill(whole)
    parts, stream, start = torch.empty(1001), LatticeNoise(gen_b, torch.device("cpu")), 0
    for size in (1, 2, 3, 5, 7, 100, 383, 500):
        stream.fill(parts[start:start + size])
        start += size
    assert start == 1001 and torch.equal(whole, parts)


def test_lattice_draw_is_unbiased_by_monte_carlo_and_passes_the_identity_check():
    """The optimizer's own draw: the mean step of StoSignSGD over 40 000 independent rows equals
    m/G (|z| < 5 per coordinate), and the identity check of the multi-tensor draw passes for it."""
    rows, d = 40_000, 8
    p = torch.nn.Parameter(torch.zeros(rows, d, dtype=F64))
    opt = StoSignSGD([p], lr=1.0, betas=(0.5, 1.0), seed=3)
    g1 = torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0, -0.25, 1.0, 2.0], dtype=F64)
    g2 = torch.tensor([0.2, 1.0, 0.5, 0.0, -3.0, 0.25, 0.9, -2.0], dtype=F64)
    p.grad = g1.expand(rows, d).clone()
    opt.step()
    before = p.detach().clone()
    p.grad = g2.expand(rows, d).clone()
    opt.step()
    step = (before - p.detach()).mean(0)
    m = 0.5 * g1 + 0.5 * g2
    G = torch.maximum(g1.abs(), m.abs())
    want = torch.where(G > 0, m / torch.where(G > 0, G, torch.ones_like(G)), torch.zeros_like(m))
    se = ((1 - want**2).clamp_min(0) / rows).sqrt()
    z = torch.where(se > 0, (step - want).abs() / se.clamp_min(1e-300), (step - want).abs() * math.inf)
    assert float(torch.nan_to_num(z, nan=0.0).max()) < 5
    ctx = CheckContext(seed=0)
    assert identities.step_path_sample_is_unbiased(LatticeStochasticSign(identities._envelope()), ctx).passed


# ---------------------------------------------------------------------------------------------
# the parts, the state, the violation fraction
# ---------------------------------------------------------------------------------------------
def _step(opt, params, k=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(k):
        for p in params:
            p.grad = torch.randn(p.shape, generator=gen, dtype=p.dtype)
        opt.step()


def test_declared_geometry_per_mode():
    w = [torch.nn.Parameter(torch.zeros(3))]
    expect = {"original": Euclidean, "expectation": Clip, "deterministic_sign": Sign}
    for mode, cls in expect.items():
        opt = GeneralOptimizer(w, mode=mode)
        assert type(opt.geometry(opt.param_groups[0])) is cls
    for noise, cls in (("lattice16", LatticeStochasticSign), ("uniform", StochasticSign)):
        opt = GeneralOptimizer(w, mode="stochastic", noise=noise)
        assert type(opt.geometry(opt.param_groups[0])) is cls
    # the default noise: the lattice for the practical forms, the continuous draw for Alg. 1
    for opt, cls in ((StoSignSGD(w), LatticeStochasticSign), (SignConverted(w), LatticeStochasticSign),
                     (StoSignSGD.theory(w, diameter=1.0), StochasticSign),
                     (StoSignSGD(w, betas=(0.0, 1.0), envelope="gradient"), StochasticSign)):
        assert type(opt.geometry(opt.param_groups[0])) is cls
    with pytest.raises(ValueError, match="noise must be one of"):
        StoSignSGD(w, noise="gaussian")


def test_no_first_moment_buffer_at_beta1_zero():
    """β1 = 0: NoMomentum and no exp_avg (AdamW at β1 = 0 holds 4 bytes of state per parameter, so
    SFAdamW on top of it holds 8; StoSignSGD's theory form holds only its envelope)."""
    w = torch.nn.Parameter(torch.zeros(6, 5))
    opt = AdamW([w], betas=(0.0, 0.999))
    _step(opt, [w])
    assert set(opt.state[w]) == {"step", "exp_avg_sq"}
    v = torch.nn.Parameter(torch.zeros(4))
    th = StoSignSGD.theory([v], diameter=1.0, seed=0)
    _step(th, [v])
    assert set(th.state[v]) == {"step", "envelope"}
    full = AdamW([torch.nn.Parameter(torch.zeros(2))])
    assert type(full.momentum(full.param_groups[0])).__name__ == "EMA"
    assert type(opt.momentum(opt.param_groups[0])).__name__ == "NoMomentum"


@pytest.mark.parametrize("cls", [AdamW, AdaMax, IEStoSignSGD])
def test_plain_optimizers_compute_no_violation_fraction_and_sync_once(cls):
    ps = [torch.nn.Parameter(torch.randn(20, 10)), torch.nn.Parameter(torch.randn(7))]
    opt = cls(ps, lr=0.01)
    _step(opt, ps)
    assert "violation_fraction" not in opt.param_groups[0]
    for p in ps:
        p.grad = torch.randn_like(p)
    counts = count_step(opt.step)
    assert counts.host_syncs == 1, counts.syncs  # the gradient check of the core, nothing else
    # no violation count: no comparison, reduction or sign beyond the core's gradient check
    assert not any(op.split(".")[1] in ("gt", "sum", "sign", "sign_", "_foreach_sign_") for op in counts.ops), counts.ops


def test_sign_conversion_violation_fraction_is_exact_and_needs_no_sync():
    """After a gradient spike on part of the coordinates, the recorded fraction is the exact share
    of |m̂| > √v̂ + ε (a 0-d tensor; reading it is the caller's choice), with one host sync per step."""
    d = 1000
    p = torch.nn.Parameter(torch.zeros(d, dtype=F64))
    opt = SignConverted([p], base="adamw", lr=1e-3, betas=(0.9, 0.999), seed=0)
    m = torch.zeros(d, dtype=F64)
    v = torch.zeros(d, dtype=F64)
    spike = torch.zeros(d, dtype=torch.bool)
    spike[::3] = True
    for t in range(1, 203):
        g = torch.full((d,), 1e-3, dtype=F64)
        if t == 201:
            g[spike] = 10.0
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        p.grad = g.clone()
        if t == 202:
            counts = count_step(opt.step)
            assert counts.host_syncs == 1, counts.syncs
        else:
            opt.step()
    frac = opt.param_groups[0]["violation_fraction"]
    assert isinstance(frac, torch.Tensor) and frac.ndim == 0
    num, sigma = m / (1 - 0.9**202), (v / (1 - 0.999**202)).sqrt() + 1e-8
    want = (num.abs() > sigma).double().mean().item()
    assert 0.2 < want < 0.5 and float(frac) == pytest.approx(want, rel=1e-6)


def test_envelope_bases_record_zero_without_computing():
    ps = [torch.nn.Parameter(torch.randn(5, 4))]
    for opt in (StoSignSGD(ps, lr=0.01, seed=0), StoSignSGD.theory(ps, diameter=1.0, seed=0),
                SignConverted(ps, base="ie_stosignsgd", mode="expectation", betas=(0.9, 1.0))):
        _step(opt, ps)
        assert opt.param_groups[0]["violation_fraction"] == 0.0
    # the gradient envelope with β1 > 0 can violate: there it is counted
    gopt = GeneralOptimizer(ps, base="ie_stosignsgd", envelope="gradient", betas=(0.9, 0.0),
                            mode="deterministic_sign")
    _step(gopt, ps)
    assert isinstance(gopt.param_groups[0]["violation_fraction"], torch.Tensor)


# ---------------------------------------------------------------------------------------------
# division by a vanishing σ, the anytime step
# ---------------------------------------------------------------------------------------------
def test_ie_stosignsgd_division_is_exact_for_zero_and_subnormal_envelopes():
    """m/G with 0/0 := 0: a subnormal envelope divides exactly (d = ±1 at the first step, where
    m = g = ±G), a zero one gives 0, and nothing is NaN."""
    g = torch.tensor([1e-40, 0.0, -3.0, -1e-44, 1e-30])  # 1e-40 and 1e-44 are float32 subnormals
    w = torch.nn.Parameter(torch.zeros(5))
    opt = IEStoSignSGD([w], lr=0.5)
    w.grad = g.clone()
    opt.step()
    assert w.tolist() == [-0.5, 0.0, 0.5, 0.5, -0.5]
    first = w.detach().clone()
    w.grad = torch.zeros(5)
    opt.step()  # m = 0.9 m (rounded: subnormal m loses digits), G unchanged (β2 = 1): d = m/G exactly
    m2 = g.clone().lerp_(torch.zeros(5), 0.1)
    d2 = torch.where(g != 0, m2 / g.abs(), torch.zeros(5))
    assert torch.equal(w.detach(), first - 0.5 * d2) and bool(torch.isfinite(w).all())
    assert abs(float(d2[3])) != 0.9  # the subnormal quotient is the exact one of the rounded m, not 0.9


@pytest.mark.parametrize("mode, want", [("original", 0.0), ("expectation", 1.0), ("deterministic_sign", 1.0),
                                        ("stochastic", 1.0)])
def test_gradient_envelope_with_momentum_divides_by_zero_as_documented(mode, want):
    """G = |g_t| = 0 while m ≠ 0 (gradient envelope, β1 > 0, β2 = 0): the original direction is 0,
    the expectation (and every draw) is sign(m)."""
    w = torch.nn.Parameter(torch.zeros(1, dtype=F64))
    opt = GeneralOptimizer([w], lr=1.0, base="ie_stosignsgd", envelope="gradient", betas=(0.9, 0.0), mode=mode,
                           seed=0)
    w.grad = torch.ones(1, dtype=F64)
    opt.step()
    before = w.item()
    w.grad = torch.zeros(1, dtype=F64)
    opt.step()
    assert before - w.item() == want


def test_adam_with_eps_zero_keeps_zero_over_zero_at_zero():
    w = torch.nn.Parameter(torch.ones(3))
    opt = AdamW([w], lr=0.1, eps=0.0, weight_decay=0.0)
    w.grad = torch.tensor([0.0, 1.0, -1.0])
    opt.step()
    assert w.tolist() == pytest.approx([1.0, 0.9, 1.1], abs=1e-7)


def test_anytime_step_is_exact_per_parameter():
    """η_t = D/√(2t) with t each parameter's own count (a parameter that starts late starts at t = 1)."""
    D = 0.7
    a, b = torch.nn.Parameter(torch.zeros(3, dtype=F64)), torch.nn.Parameter(torch.zeros(2, dtype=F64))
    opt = StoSignSGD.theory([a, b], diameter=D, mode="deterministic_sign")
    xa, xb = [0.0] * 3, [0.0] * 2
    for k in range(1, 7):
        a.grad = torch.tensor([1.0, -2.0, 0.0], dtype=F64)
        b.grad = torch.tensor([-1.0, 3.0], dtype=F64) if k > 2 else None
        opt.step()
        eta_a = D / (2.0 * k) ** 0.5
        xa = [xa[0] - eta_a, xa[1] + eta_a, xa[2]]
        if k > 2:
            eta_b = D / (2.0 * (k - 2)) ** 0.5
            xb = [xb[0] + eta_b, xb[1] - eta_b]
        assert a.tolist() == xa and b.tolist() == xb


# ---------------------------------------------------------------------------------------------
# blocks, scratch space, pickling
# ---------------------------------------------------------------------------------------------
FAMILY = {
    "AdamW": lambda ps: AdamW(ps, lr=0.01),
    "AdaMax": lambda ps: AdaMax(ps, lr=0.01),
    "IEStoSignSGD": lambda ps: IEStoSignSGD(ps, lr=0.01, betas=(0.9, 0.99)),
    "StoSignSGD": lambda ps: StoSignSGD(ps, lr=0.01, weight_decay=0.1, seed=1),
    "StoSignSGD-uniform": lambda ps: StoSignSGD(ps, lr=0.01, seed=1, noise="uniform"),
    "SignConverted": lambda ps: SignConverted(ps, lr=0.01, weight_decay=0.1, seed=1),
    "SignConverted-adamax-expectation": lambda ps: SignConverted(ps, base="adamax", mode="expectation", lr=0.01),
    "SignConverted-adamw-eps0": lambda ps: SignConverted(ps, mode="expectation", eps=0.0, lr=0.01),
}


def _run_family(name, dtype, block):
    gen = torch.Generator().manual_seed(0)
    ps = [torch.nn.Parameter(torch.randn(s, generator=gen, dtype=dtype)) for s in [(37, 29), (1001,), (5,), (30, 7)]]
    old = general.CPU_BLOCK
    general.CPU_BLOCK = block
    try:
        opt = FAMILY[name](ps)
        for _ in range(4):
            for p in ps:
                p.grad = torch.randn(p.shape, generator=gen, dtype=dtype)
            opt.step()
    finally:
        general.CPU_BLOCK = old
    return [p.detach().clone() for p in ps], opt


@pytest.mark.parametrize("name", sorted(FAMILY))
def test_blocks_change_no_result(name):
    """Any block size gives the same parameters bit for bit in float32/float64 (the arithmetic is
    elementwise); bfloat16 with block boundaries at multiples of the vector width (the default)."""
    for dtype, blocks in ((F32, (1, 7, 100)), (F64, (3, 64)), (torch.bfloat16, (64, 1024))):
        ref, opt = _run_family(name, dtype, 1 << 20)
        for block in blocks:
            got, opt2 = _run_family(name, dtype, block)
            assert all(torch.equal(a, b) for a, b in zip(ref, got)), (dtype, block)
            fa, fb = opt.param_groups[0].get("violation_fraction"), opt2.param_groups[0].get("violation_fraction")
            assert (fa is None and fb is None) or float(fa) == float(fb)


def test_scratch_space_stays_out_of_state_dict_and_pickles():
    ps = [torch.nn.Parameter(torch.randn(40, 3))]
    opt = StoSignSGD(ps, lr=0.01, seed=0)
    _step(opt, ps)
    assert opt._noise_bufs  # the preallocated draw buffer exists
    sd = opt.state_dict()
    assert set(sd["state"][0]) == {"step", "exp_avg", "envelope"}
    assert "_noise_bufs" not in opt.__getstate__()
    clone = pickle.loads(pickle.dumps(opt))
    assert clone._noise_bufs == {}
    copy.deepcopy(opt).step()


def test_per_group_betas_and_eps_are_read_at_every_step():
    """A group's own β1 (here 0 in group 1: no buffer) and a later change of it act like torch's."""
    a, b = torch.nn.Parameter(torch.ones(4)), torch.nn.Parameter(torch.ones(4))
    opt = AdamW([{"params": [a]}, {"params": [b], "betas": (0.0, 0.99)}], lr=0.1, weight_decay=0.0)
    ra, rb = torch.nn.Parameter(torch.ones(4)), torch.nn.Parameter(torch.ones(4))
    ref = torch.optim.AdamW([{"params": [ra]}, {"params": [rb], "betas": (0.0, 0.99)}], lr=0.1, weight_decay=0.0)
    gen = torch.Generator().manual_seed(0)
    for _ in range(4):
        g1, g2 = torch.randn(4, generator=gen), torch.randn(4, generator=gen)
        a.grad, b.grad, ra.grad, rb.grad = g1, g2, g1.clone(), g2.clone()
        opt.step()
        ref.step()
    assert "exp_avg" not in opt.state[b]
    torch.testing.assert_close(a.detach(), ra.detach(), rtol=0, atol=1e-6)
    torch.testing.assert_close(b.detach(), rb.detach(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("base", ["adamw", "adamax", "ie_stosignsgd"])
@pytest.mark.parametrize("mode", ["original", "expectation", "deterministic_sign"])
def test_step_is_momentum_then_scales_then_declared_geometry(base, mode):
    """The public parts rebuild one step: u = momentum(group).update(g), σ = _scales(...) (the
    scale at the point u), d = geometry(group).step_directions([u], scales=[σ]), x ← x(1 − ηλ) − ηd."""
    gen = torch.Generator().manual_seed(4)
    ps = [torch.nn.Parameter(torch.randn(6, 4, generator=gen, dtype=F64)), torch.nn.Parameter(torch.randn(5, dtype=F64))]
    betas = (0.9, 1.0) if base == "ie_stosignsgd" else (0.9, 0.99)
    opt = GeneralOptimizer(ps, lr=0.01, betas=betas, weight_decay=0.1, base=base, mode=mode)
    _step(opt, ps, k=4, seed=5)
    grads = [torch.randn(p.shape, generator=gen, dtype=F64) for p in ps]
    twin = copy.deepcopy(opt)
    group, tparams = twin.param_groups[0], twin.param_groups[0]["params"]
    states = [twin.state[p] for p in tparams]
    for p, g, st in zip(tparams, grads, states):
        p.grad = g.clone()
        st["step"] += 1
    us = twin.momentum(group).update([g.clone() for g in grads], states, group)
    sig = twin._scales(group, tparams, us, states)
    ds = twin.geometry(group).step_directions(us, scales=sig)
    want = [p.detach() * (1 - 0.01 * 0.1) - 0.01 * d for p, d in zip(ps, ds)]
    for p, g in zip(ps, grads):
        p.grad = g
    opt.step()
    for p, w in zip(ps, want):
        torch.testing.assert_close(p.detach(), w, rtol=8 * 2**-52, atol=8 * 2**-52)
