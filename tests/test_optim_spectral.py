"""Muon, NorMuon and SoftMuon against naive float64 references written from their docstrings, against
``torch.optim.Muon``, and the shared optimizer contract (routing errors, bad input, p.grad untouched,
state_dict round trips)."""

import copy
import io
import math

import pytest
import torch

from convexlab.geometry import SoftSign
from convexlab.geometry.spectral import Spectral
from convexlab.linalg import newton_schulz
from convexlab.optim.sf_normuon import SFNorMuon
from convexlab.optim.spectral import Muon, NorMuon, SoftMuon, softmuon_temperature_schedule
from convexlab.optim.temperature import saturation_point, temperature_schedule

DT = torch.float64
A_, B_, C_ = 3.4445, -4.7750, 2.0315



# -- helpers -------------------------------------------------------------------------------------
def make_params(shapes, seed=0, dtype=DT):
    gen = torch.Generator().manual_seed(1000 + seed)
    return [torch.nn.Parameter(torch.randn(s, generator=gen, dtype=dtype)) for s in shapes]


def grad_seq(shapes, steps, seed=0, dtype=DT, scales=None):
    gen = torch.Generator().manual_seed(seed)
    scales = scales or [1.0] * len(shapes)
    return [[c * torch.randn(s, generator=gen, dtype=dtype) for s, c in zip(shapes, scales)] for _ in range(steps)]


def run(opt, params, grads):
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = None if g is None else g.clone()
        opt.step()
    return [p.detach().clone() for p in params]


def ns5_naive(M, steps=5):
    X = M / (M.norm() + 1e-7)
    tall = M.shape[0] > M.shape[1]
    if tall:
        X = X.T
    for _ in range(steps):
        A = X @ X.T
        X = A_ * X + (B_ * A + C_ * A @ A) @ X
    return X.T if tall else X


def polar_naive(M):
    U, _, Vh = torch.linalg.svd(M, full_matrices=False)
    return U @ Vh


def phi_naive(M, tau):
    U, S, Vh = torch.linalg.svd(M, full_matrices=False)
    return U @ torch.diag(tau * S / torch.sqrt(1 + tau**2 * S**2)) @ Vh


def regns_naive(M, tau, steps=5):
    tall = M.shape[0] > M.shape[1]
    X = M.T if tall else M
    eye = torch.eye(X.shape[0], dtype=X.dtype)
    A = X @ X.T + eye / tau**2
    s = A.norm()
    Y, Z = A / s, eye
    for _ in range(steps):
        T = 0.5 * (3 * eye - Z @ Y)
        Y, Z = Y @ T, T @ Z
    out = Z @ X / s.sqrt()
    return out.T if tall else out


def mat(t):
    return t.reshape(t.shape[0], -1)


def official_schedule(sigmas, T, eps=1e-4, newton_iters=10, tmax=1e9):
    """The official SoftMuon schedule (softsign@77526d8 get_temperature_schedule, after its SVD) written
    from its equations: a folded-Cauchy fit through torch.distributions.Cauchy(0, 1) (float32 loc and
    scale, as there), quantiles in float64, and the saturation constant from torch.as_tensor(1 − ε),
    i.e. in float32."""
    cauchy = torch.distributions.Cauchy(0, 1)
    centre = sigmas.median()
    spread = (sigmas - centre).abs().median()
    probs = torch.arange(T, dtype=torch.float64) / T
    q = spread * cauchy.icdf((1 + probs) / 2) + centre.abs()
    for _ in range(newton_iters):
        hi = (q - centre) / (spread + 1e-8)
        lo = (-q - centre) / (spread + 1e-8)
        gap = cauchy.cdf(hi) - cauchy.cdf(lo) - probs
        dens = (cauchy.log_prob(hi).exp() + cauchy.log_prob(lo).exp()) / spread
        q = torch.clamp(q - gap / dens, min=0.0)
    y = torch.as_tensor(1 - eps)
    assert y.dtype == torch.float32
    return (y / (1 - y**2) ** 0.5 / q).clamp(1.0, tmax)


# -- Muon ------------------------------------------------------------------------------------------
def ref_muon(W0, grads, lr, mu, nesterov, wd, polar, adjust):
    Ws = [w.detach().clone() for w in W0]
    Ms = [torch.zeros_like(w) for w in Ws]
    for gs in grads:
        for i, g in enumerate(gs):
            Ms[i] = mu * Ms[i] + (1 - mu) * g
            u = (1 - mu) * g + mu * Ms[i] if nesterov else Ms[i]
            X = mat(u)
            O = polar_naive(X) if polar == "svd" else ns5_naive(X)
            m, n = X.shape
            s = math.sqrt(max(1, m / n)) if adjust == "original" else 0.2 * math.sqrt(max(m, n))
            Ws[i] = Ws[i] * (1 - lr * wd) - lr * s * O.reshape(Ws[i].shape)
    return Ws


@pytest.mark.parametrize("polar", ["ns5", "svd"])
@pytest.mark.parametrize("adjust", ["original", "match_rms_adamw"])
@pytest.mark.parametrize("nesterov,wd", [(True, 0.0), (False, 0.1)])
def test_muon_matches_naive_reference(polar, adjust, nesterov, wd):
    shapes = [(7, 3), (3, 5), (4, 2, 3)]  # tall, wide, 3-D viewed as 4 × 6
    params = make_params(shapes)
    W0 = [p.detach().clone() for p in params]
    grads = grad_seq(shapes, 5)
    opt = Muon(params, lr=0.03, momentum=0.9, nesterov=nesterov, weight_decay=wd, ns_dtype=DT, polar=polar,
               adjust_lr=adjust)
    got = run(opt, params, grads)
    want = ref_muon(W0, grads, 0.03, 0.9, nesterov, wd, polar, adjust)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", [(8, 3), (3, 8)])
def test_adjust_lr_shape_scaling_tall_and_wide(shape):
    m, n = shape
    lr = 0.1
    for adjust, s in [("original", math.sqrt(max(1, m / n))), ("match_rms_adamw", 0.2 * math.sqrt(max(m, n)))]:
        w = torch.nn.Parameter(torch.zeros(shape, dtype=DT))
        opt = Muon([w], lr=lr, momentum=0.0, polar="svd", adjust_lr=adjust)
        w.grad = torch.randn(shape, dtype=DT, generator=torch.Generator().manual_seed(3))
        opt.step()
        sv = torch.linalg.svdvals(w.detach())
        torch.testing.assert_close(sv, torch.full_like(sv, lr * s), rtol=1e-12, atol=0)
        if adjust == "match_rms_adamw":  # an orthogonal m × n matrix has RMS 1/√max(m, n)
            assert float(w.detach().square().mean().sqrt()) == pytest.approx(0.2 * lr, rel=1e-12)


def _torch_muon_pair(shape, adjust, wd, ns_dtype, ns_form="fused", n_params=1):
    params = make_params([shape] * n_params, dtype=torch.float32)
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in params]
    ours = Muon(params, lr=0.02, momentum=0.95, nesterov=True, weight_decay=wd, ns_dtype=ns_dtype, adjust_lr=adjust,
                ns_form=ns_form)
    ref = torch.optim.Muon(theirs, lr=0.02, momentum=0.95, nesterov=True, weight_decay=wd, adjust_lr_fn=adjust)
    grads = grad_seq([shape] * n_params, 10, dtype=torch.float32)
    out = []
    for k in range(10):
        run(ours, params, [grads[k]])
        run(ref, theirs, [grads[k]])
        out.append((params[0].detach().clone(), theirs[0].detach().clone()))
    return out, params[0].detach(), theirs[0].detach()


@pytest.mark.parametrize("shape,adjust", [((6, 6), "original"), ((4, 9), "original"), ((9, 4), "original"),
                                          ((9, 4), "match_rms_adamw")])
def test_muon_equals_torch_muon_with_the_same_newton_schulz(monkeypatch, shape, adjust):
    """torch.optim.Muon's buffer is the same lerp (B ← lerp(B, g, 1 − μ), Nesterov lerp(g, B, μ)), its
    decay W(1 − ηλ) and its step W − (η·s)·O with the shape factor folded into the step size, as ours;
    with its NS replaced by ours in float32 the trajectories agree bit for bit for every shape."""
    import torch.optim._muon as tm

    monkeypatch.setattr(tm, "_zeropower_via_newtonschulz",
                        lambda G, coeffs, steps, eps: newton_schulz(G, steps, coeffs, dtype=torch.float32, eps=eps))
    steps, _, _ = _torch_muon_pair(shape, adjust, wd=0.1, ns_dtype=torch.float32)
    for ours, theirs in steps:  # after 1, 2, ..., 10 steps
        assert torch.equal(ours, theirs)


@pytest.mark.parametrize("shape,adjust", [((6, 10), "original"), ((10, 6), "original"), ((8, 8), "original"),
                                          ((10, 6), "match_rms_adamw")])
def test_muon_equals_torch_muon_in_bfloat16_bit_for_bit(shape, adjust):
    """The defaults (bf16 NS5 in torch's addmm arithmetic, batched over three same-shape weights on the
    CPU's per-matrix path) reproduce torch.optim.Muon bit for bit at every one of 10 steps."""
    steps, _, _ = _torch_muon_pair(shape, adjust, wd=0.1, ns_dtype=torch.bfloat16, n_params=3)
    for ours, theirs in steps:
        assert torch.equal(ours, theirs)


def test_muon_reference_form_differs_from_torch_muon_by_bf16_rounding():
    """ns_form="reference" (KellerJordan's unfused NS5) rounds differently from torch's addmm: close,
    not equal."""
    shape = (6, 10)
    steps, ours, theirs = _torch_muon_pair(shape, "original", wd=0.0, ns_dtype=torch.bfloat16, ns_form="reference")
    W0 = make_params([shape], dtype=torch.float32)[0].detach()
    du, dt = ours - W0, theirs - W0
    assert not torch.equal(ours, theirs)
    assert float((du - dt).norm() / dt.norm()) < 5e-2


def kj_ns5_bf16(G, steps=5):
    """The reference code's NS5 (Softsign [SS-SOFTSIGNUM]): bf16, Frobenius pre-scaling, wide orientation, written as
    the reference code writes it (``c * A @ A`` is (c·A)·A in Python)."""
    X = G.bfloat16()
    tall = G.size(-2) > G.size(-1)
    if tall:
        X = X.mT
    X = X / (X.norm(dim=(-2, -1), keepdim=True) + 1e-7)
    for _ in range(steps):
        A = X @ X.mT
        B = B_ * A + C_ * A @ A
        X = A_ * X + B @ X
    return X.mT if tall else X


def test_muon_in_bfloat16_equals_the_reference_code_form_bit_for_bit():
    """KellerJordan SingleDeviceMuon's update (lerp buffer, Nesterov lerp, bf16 NS5, W(1 − ηλ) − η·O) for
    a wide, a square and a tall matrix, with ``ns_form="reference"`` (its unfused NS5, and the shape
    factor multiplied into the bf16 update: ``update *= max(1, m/n)**0.5``)."""
    shapes = [(4, 9), (5, 5), (9, 4)]
    params = make_params(shapes, dtype=torch.float32)
    ref = [p.detach().clone() for p in params]
    bufs = [torch.zeros_like(p) for p in ref]
    opt = Muon(params, lr=0.02, momentum=0.95, weight_decay=0.1, ns_form="reference")
    for gs in grad_seq(shapes, 5, dtype=torch.float32):
        run(opt, params, [gs])
        for i, g in enumerate(gs):
            bufs[i].lerp_(g, 1 - 0.95)
            upd = kj_ns5_bf16(g.lerp(bufs[i], 0.95))
            upd *= max(1, g.size(-2) / g.size(-1)) ** 0.5
            ref[i].mul_(1 - 0.02 * 0.1)
            ref[i].add_(upd, alpha=-0.02)
        for p, r in zip(params, ref):
            assert torch.equal(p.detach(), r)


# -- NorMuon ---------------------------------------------------------------------------------------
def ref_normuon_paper(W0, grads, lr, mu, b2, eps, wd, polar, row_norm=True, nesterov=False):
    Ws = [w.detach().clone() for w in W0]
    Ms = [torch.zeros_like(w) for w in Ws]
    vs = [torch.zeros(w.shape[0], dtype=DT) for w in Ws]
    for gs in grads:
        for i, g in enumerate(gs):
            Ms[i] = mu * Ms[i] + (1 - mu) * g
            u = (1 - mu) * g + mu * Ms[i] if nesterov else Ms[i]
            O = polar_naive(mat(u)) if polar == "svd" else ns5_naive(mat(u))
            m, n = O.shape
            if row_norm:
                vs[i] = b2 * vs[i] + (1 - b2) * (O**2).mean(dim=1)
                Oh = O / (vs[i].sqrt() + eps)[:, None]
            else:
                Oh = O
            d = 0.2 * math.sqrt(m * n) * Oh / Oh.norm()
            Ws[i] = Ws[i] * (1 - lr * wd) - lr * d.reshape(Ws[i].shape)
    return Ws, vs


@pytest.mark.parametrize("polar", ["ns5", "svd"])
@pytest.mark.parametrize("row_norm", [True, False])
def test_normuon_paper_matches_naive_reference(polar, row_norm):
    shapes = [(7, 3), (3, 5), (2, 3, 2)]
    params = make_params(shapes)
    W0 = [p.detach().clone() for p in params]
    grads = grad_seq(shapes, 6)
    opt = NorMuon(params, lr=0.05, momentum=0.9, beta2=0.8, weight_decay=0.1, polar=polar, ns_dtype=DT,
                  row_norm=row_norm)
    got = run(opt, params, grads)
    want, vs = ref_normuon_paper(W0, grads, 0.05, 0.9, 0.8, 1e-8, 0.1, polar, row_norm)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    for p, v in zip(params, vs):
        assert opt.state[p]["v"].shape == (p.shape[0],)
        if row_norm:
            torch.testing.assert_close(opt.state[p]["v"], v, rtol=0, atol=1e-14)
    g = opt.param_groups[0]
    assert (g["eps"], g["nesterov"], opt.variant) == (1e-8, False, "paper")


def test_normuon_paper_update_rms_is_exactly_0_2_lr():
    shapes = [(16, 5), (5, 12)]
    params = make_params(shapes, dtype=torch.float32)
    opt = NorMuon(params, lr=0.03)  # bf16 NS5: the RMS matching comes after it
    for gs in grad_seq(shapes, 8, dtype=torch.float32):
        before = [p.detach().clone() for p in params]
        run(opt, params, [gs])
        for p, b in zip(params, before):
            rms = float((p.detach() - b).square().mean().sqrt())
            assert rms == pytest.approx(0.2 * 0.03, rel=1e-5)
            assert opt.state[p]["v"].shape == (p.shape[0],)


def test_normuon_rows_have_rms_one_after_warmup():
    """With a constant gradient O_t is constant and v_t = (1 − β2^t)·rowmean(O²), so the rows of Ô have RMS
    1/√(1 − β2^t) → 1; the update rows then all have RMS 0.2·η. Without row normalization the rows of a
    tall polar factor have unequal norms."""
    shape, lr = (12, 4), 1e-3
    G = torch.randn(shape, dtype=DT, generator=torch.Generator().manual_seed(5))
    for row_norm in (True, False):
        w = torch.nn.Parameter(torch.zeros(shape, dtype=DT))
        opt = NorMuon([w], lr=lr, polar="svd", row_norm=row_norm)
        for _ in range(300):
            before = w.detach().clone()
            w.grad = G.clone()
            opt.step()
        row_rms = (w.detach() - before).square().mean(dim=1).sqrt() / (0.2 * lr)
        if row_norm:
            torch.testing.assert_close(row_rms, torch.ones_like(row_rms), rtol=1e-6, atol=0)
            O = polar_naive(G)
            Oh = O / (opt.state[w]["v"].sqrt() + 1e-8)[:, None]
            rms = Oh.square().mean(dim=1).sqrt()
            torch.testing.assert_close(rms, torch.ones_like(rms), rtol=1e-6, atol=0)
        else:
            assert float(row_rms.max() - row_rms.min()) > 0.1


def ref_normuon_code(W0, grads, lr, mu, b2, wd):
    Ws = [w.detach().clone() for w in W0]
    Ms = [torch.zeros_like(w) for w in Ws]
    vs = [torch.zeros(w.shape[0], 1, dtype=DT) for w in Ws]
    for gs in grads:
        for i, g in enumerate(gs):
            had_grad = g is not None
            g = torch.zeros_like(Ws[i]) if g is None else g
            Ms[i] = mu * Ms[i] + (1 - mu) * g
            u = (1 - mu) * g + mu * Ms[i]                                   # (i) Nesterov
            O = ns5_naive(u)
            vs[i] = b2 * vs[i] + (1 - b2) * (O * O).mean(dim=-1, keepdim=True)
            Oh = O / (vs[i].sqrt() + 1e-10)
            Oh = Oh * O.norm() / (Oh.norm() + 1e-10)                        # (ii) back to ‖O‖_F
            Oh = Oh * math.sqrt(max(1, O.shape[0] / O.shape[1]))           # (iii) Muon shape factor
            if had_grad and wd:
                Ws[i] = Ws[i] * (1 - lr * wd)
            Ws[i] = Ws[i] - lr * Oh
    return Ws, vs


def test_normuon_reference_code_matches_naive_reference():
    shapes = [(9, 4), (4, 6)]
    params = make_params(shapes)
    W0 = [p.detach().clone() for p in params]
    grads = grad_seq(shapes, 6)
    grads[3][1] = None  # the reference still steps a parameter without a gradient, without decay
    opt = NorMuon(params, lr=0.05, momentum=0.9, beta2=0.8, weight_decay=0.2, variant="reference_code", ns_dtype=DT)
    got = run(opt, params, grads)
    want, vs = ref_normuon_code(W0, grads, 0.05, 0.9, 0.8, 0.2)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    for p, v in zip(params, vs):
        buf = opt.state[p]["second_momentum_buffer"]
        assert buf.shape == (p.shape[0], 1)
        torch.testing.assert_close(buf, v, rtol=0, atol=1e-14)
    g = opt.param_groups[0]
    assert (g["eps"], g["nesterov"]) == (1e-10, True)


def test_normuon_variants_are_parallel_with_the_documented_ratio():
    """Same momentum rule and ε: the reference step is the paper step times ‖O‖_F·√max(1, m/n)/(0.2√(mn))."""
    shape = (10, 4)
    G = grad_seq([shape], 1)[0]
    steps = {}
    for variant in ("paper", "reference_code"):
        w = torch.nn.Parameter(torch.zeros(shape, dtype=DT))
        opt = NorMuon([w], lr=1.0, variant=variant, nesterov=True, eps=1e-10, polar="svd")
        run(opt, [w], [G])
        steps[variant] = -w.detach()
    ratio = math.sqrt(min(shape)) * math.sqrt(10 / 4) / (0.2 * math.sqrt(40))  # ‖UVᵀ‖_F = √min(m, n)
    torch.testing.assert_close(steps["reference_code"], ratio * steps["paper"], rtol=1e-9, atol=1e-15)


def test_normuon_paper_skips_parameters_without_gradient():
    params = make_params([(3, 4), (4, 3)])
    before = params[1].detach().clone()
    opt = NorMuon(params, lr=0.1, weight_decay=0.5)
    run(opt, params, [[torch.ones(3, 4, dtype=DT), None]])
    assert torch.equal(params[1].detach(), before) and len(opt.state[params[1]]) == 0


# -- SoftMuon --------------------------------------------------------------------------------------
@pytest.mark.parametrize("ns_dtype", [torch.bfloat16, torch.float32])
def test_softmuon_without_schedule_equals_muon(ns_dtype):
    shapes = [(8, 3), (3, 5)]
    grads = grad_seq(shapes, 6, dtype=torch.float32)
    pa, pb = make_params(shapes, dtype=torch.float32), make_params(shapes, dtype=torch.float32)
    a = run(SoftMuon(pa, lr=0.02, weight_decay=0.1, ns_dtype=ns_dtype), pa, grads)
    b = run(Muon(pb, lr=0.02, weight_decay=0.1, ns_dtype=ns_dtype), pb, grads)
    for x, y in zip(a, b):
        assert torch.equal(x, y)


def ref_softmuon(W0, grads, lr, mu, wd, S, T, eps, newton, tmax, inv_root):
    Ws = [w.detach().clone() for w in W0]
    Ms = [torch.zeros_like(w) for w in Ws]
    sched, taus = None, []
    for k, gs in enumerate(grads, start=1):
        if k == S + 1:  # raw gradients, before this step's momentum update
            z = torch.cat([torch.linalg.svdvals(mat(g)) for g in gs])
            sched = official_schedule(z, T, eps, newton, tmax)
        tau = float(sched[min(max(k - S - 1, 0), T - 1)]) if k > S else None
        taus.append(tau)
        for i, g in enumerate(gs):
            Ms[i] = mu * Ms[i] + (1 - mu) * g
            u = mat((1 - mu) * g + mu * Ms[i])
            if tau is None:
                O = ns5_naive(u)
            elif inv_root == "ns5_official":
                O = regns_naive(u, tau)
            else:
                O = phi_naive(u, tau)
            O = O * math.sqrt(max(1, g.shape[-2] / g.shape[-1]))
            Ws[i] = Ws[i] * (1 - lr * wd) - lr * O.reshape(Ws[i].shape)
    return Ws, sched, taus


@pytest.mark.parametrize("inv_root", ["eigh", "svd", "ns5_official"])
def test_softmuon_matches_naive_reference_through_the_transition(inv_root):
    """S = 2, T = 4, 8 steps: NS5, then Φ_τ with τ from the raw-gradient schedule, held after S + T."""
    shapes = [(4, 6), (5, 3)]
    params = make_params(shapes)
    W0 = [p.detach().clone() for p in params]
    grads = grad_seq(shapes, 8)
    opt = SoftMuon(params, lr=0.03, weight_decay=0.1, momentum=0.9, sign_iters=2, transition_iters=4, tmax=50.0,
                   inv_root=inv_root, ns_dtype=DT)
    taus = []
    for gs in grads:
        run(opt, params, [gs])
        taus.append(opt.param_groups[0]["tau"])
    want, sched, want_taus = ref_softmuon(W0, grads, 0.03, 0.9, 0.1, 2, 4, 1e-4, 10, 50.0, inv_root)
    for a, b in zip(params, want):
        torch.testing.assert_close(a.detach(), b, rtol=0, atol=1e-10)
    assert torch.equal(opt.param_groups[0]["schedule"], sched)
    assert taus == want_taus
    assert taus[:2] == [None, None] and taus[-3:] == [float(sched[-1])] * 3  # held after S + T
    assert len(set(taus[2:6])) > 1  # τ actually moves during the transition


def test_softmuon_eigh_step_is_the_exact_soft_polar_map():
    """One transition step from M = 0 with μ = 0: W_{t+1} − W_t = −η·U diag(τσ/√(1+τ²σ²)) Vᵀ of g."""
    shape = (5, 7)
    w = torch.nn.Parameter(torch.zeros(shape, dtype=DT))
    opt = SoftMuon([w], lr=0.5, momentum=0.0, sign_iters=0, transition_iters=3, tmax=1e9, inv_root="eigh")
    gen = torch.Generator().manual_seed(11)
    for _ in range(3):
        g = torch.randn(shape, dtype=DT, generator=gen) * torch.logspace(0, -2, 7, dtype=DT)
        before = w.detach().clone()
        w.grad = g
        opt.step()
        tau = opt.param_groups[0]["tau"]
        torch.testing.assert_close(w.detach() - before, -0.5 * phi_naive(g, tau), rtol=0, atol=1e-12)
    assert 1.0 <= tau < 1e9


def test_softmuon_schedule_is_fitted_once_per_group_from_raw_gradients():
    shapes = [(6, 4), (4, 5), (6, 6)]
    params = make_params(shapes)
    opt = SoftMuon([{"params": params[:2]}, {"params": params[2:]}], momentum=0.9, sign_iters=3,
                   transition_iters=6, ns_dtype=DT)
    grads = grad_seq(shapes, 10, scales=[1.0, 1.0, 100.0])
    run(opt, params, grads[:3])
    assert all(g["schedule"] is None and g["tau"] is None for g in opt.param_groups)
    run(opt, params, grads[3:4])  # k = S + 1
    g0, g1 = opt.param_groups
    raw0 = torch.cat([torch.linalg.svdvals(g) for g in grads[3][:2]])
    raw1 = torch.linalg.svdvals(grads[3][2])
    want0 = official_schedule(raw0, 6, 1e-4, 10, 1e9)
    want1 = official_schedule(raw1, 6, 1e-4, 10, 1e9)
    assert torch.equal(g0["schedule"], want0) and torch.equal(g1["schedule"], want1)
    # not the post-momentum direction (SoftSignum's statistic), not pooled over groups
    M = [0.1 * sum(0.9 ** (3 - j) * grads[j][i] for j in range(4)) for i in range(2)]
    u = torch.cat([torch.linalg.svdvals(0.1 * g + 0.9 * m) for g, m in zip(grads[3][:2], M)])
    assert not torch.allclose(official_schedule(u, 6), want0)
    assert not torch.allclose(g0["schedule"], g1["schedule"])
    assert g0["tau"] == float(want0[0]) and g1["tau"] == float(want1[0])
    frozen = [g["schedule"].clone() for g in opt.param_groups]
    run(opt, params, [[100 * g for g in gs] for gs in grads[4:]])  # later gradients do not refit
    for g, f in zip(opt.param_groups, frozen):
        assert torch.equal(g["schedule"], f)
        assert g["iteration"] == 10 and g["tau"] == float(f[-1])  # k = 10 > S + T = 9: held


def test_softmuon_schedule_counts_zero_singular_values_for_a_missing_gradient():
    params = make_params([(4, 6), (3, 3)])
    opt = SoftMuon(params, sign_iters=0, transition_iters=5, ns_dtype=DT)
    g = grad_seq([(4, 6)], 1)[0][0]
    run(opt, params, [[g, None]])
    z = torch.cat([torch.linalg.svdvals(g), torch.zeros(3, dtype=DT)])
    assert torch.equal(opt.param_groups[0]["schedule"],
                       official_schedule(z, 5))


def test_softmuon_state_dict_round_trip_across_the_transition_is_bit_exact():
    shapes = [(6, 4), (4, 5)]
    grads = grad_seq(shapes, 9, dtype=torch.float32)

    def fresh(params):
        return SoftMuon(params, lr=0.02, weight_decay=0.05, sign_iters=3, transition_iters=3)

    pa = make_params(shapes, dtype=torch.float32)
    a = fresh(pa)
    run(a, pa, grads[:2])
    buf = io.BytesIO()
    torch.save({"opt": a.state_dict(), "params": [p.detach().clone() for p in pa]}, buf)
    buf.seek(0)
    ck = torch.load(buf, weights_only=True)
    pb = [torch.nn.Parameter(t) for t in ck["params"]]
    b = fresh(pb)
    b.load_state_dict(ck["opt"])
    for gs in grads[2:]:  # the fit at k = 4, then τ through and past the schedule
        run(a, pa, [gs])
        run(b, pb, [gs])
        for x, y in zip(pa, pb):
            assert torch.equal(x, y)
    assert torch.equal(a.param_groups[0]["schedule"], b.param_groups[0]["schedule"])
    assert a.param_groups[0]["iteration"] == b.param_groups[0]["iteration"] == 9


# -- SoftMuon against the official code (softsign@77526d8 SingleDeviceSoftMuon), bit for bit ---------
def official_regns(G, steps, temp, dtype):
    """muon_regularized_update from its equations (temp: the schedule entry, a 0-d float64 tensor)."""
    X = G.to(dtype)
    tall = X.size(-2) > X.size(-1)
    if tall:
        X = X.mT
    A = X @ X.mT
    eye = torch.eye(A.size(-1), dtype=dtype)
    A = A + eye / (temp**2)
    s = A.norm(dim=(-2, -1), keepdim=True)
    A = A / s
    Y, Z = A, torch.eye(A.size(-1), dtype=dtype)
    for _ in range(steps):
        T = 0.5 * (3 * eye - Z @ Y)
        Y, Z = Y @ T, T @ Z
    out = (Z @ X) / s.sqrt()
    return out.mT if tall else out


def official_ns5(G, steps, dtype):
    """zeropower_via_newtonschulz5 from its equations (KellerJordan's unfused form), in ``dtype``."""
    X = G.to(dtype)
    tall = G.size(-2) > G.size(-1)
    if tall:
        X = X.mT
    X = X / (X.norm(dim=(-2, -1), keepdim=True) + 1e-7)
    for _ in range(steps):
        A = X @ X.mT
        B = B_ * A + C_ * A @ A
        X = A_ * X + B @ X
    return X.mT if tall else X


def official_softmuon(W0, grads, lr, wd, mu, S, T, dtype, eps=1e-4, newton_iters=10, tmax=1e9):
    """SingleDeviceSoftMuon.step for 2-D weights, written from the official equations: one optimizer-wide
    counter, the schedule at k = S + 1 from the raw gradients' singular values (exact svdvals here, CANS
    there), temperature = schedule[clamp(k − S − 1)], lerp momentum + Nesterov lerp, NS5 or RegNS in
    ``dtype`` (bfloat16 officially), the shape factor multiplied into the ``dtype`` update, decay, add."""
    Ws = [w.detach().clone() for w in W0]
    Ms = [torch.zeros_like(w) for w in Ws]
    sched, out = None, []
    for k, gs in enumerate(grads, start=1):
        if k == S + 1:
            sched = official_schedule(torch.cat([torch.linalg.svdvals(g) for g in gs]), T, eps, newton_iters, tmax)
        temp = sched[max(0, min(k - S - 1, sched.numel() - 1))] if k > S else None
        for i, g in enumerate(gs):
            Ms[i].lerp_(g, 1 - mu)
            u = g.lerp(Ms[i], mu)
            upd = official_ns5(u, 5, dtype) if temp is None else official_regns(u, 5, temp, dtype)
            upd *= max(1, g.size(-2) / g.size(-1)) ** 0.5
            Ws[i].mul_(1 - lr * wd)
            Ws[i].add_(upd.reshape(Ws[i].shape), alpha=-lr)
        out.append(([w.clone() for w in Ws], sched))
    return out


OFFICIAL_SHAPES = [(4, 9), (9, 4), (6, 6), (6, 6)]


def _official_grads(dtype):
    gen = torch.Generator().manual_seed(77)
    scales = torch.logspace(0, -3, 9, dtype=torch.float64)  # heterogeneous singular values: τ moves
    return [[(torch.randn(s, generator=gen, dtype=torch.float64) * scales[: s[1]]).to(dtype) for s in OFFICIAL_SHAPES]
            for _ in range(9)]


def test_softmuon_equals_the_official_code_bit_for_bit_in_bfloat16_through_the_transition():
    """S = 2, T = 4, 9 steps (Muon phase, the fit at k = 3, the transition, the held last τ), float32
    weights and bfloat16 NS5/RegNS, ns_form="reference" (the official NS5): every weight equal bit for
    bit after every step, and the schedule equal bit for bit (float32 singular values, float32
    saturation constant 70.69774)."""
    grads = _official_grads(torch.float32)
    params = make_params(OFFICIAL_SHAPES, dtype=torch.float32)
    W0 = [p.detach().clone() for p in params]
    opt = SoftMuon(params, lr=0.02, weight_decay=0.1, momentum=0.95, sign_iters=2, transition_iters=4,
                   ns_form="reference")
    want = official_softmuon(W0, grads, 0.02, 0.1, 0.95, 2, 4, torch.bfloat16)
    taus = []
    for gs, (ws, sched) in zip(grads, want):
        run(opt, params, [gs])
        taus.append(opt.param_groups[0]["tau"])
        for p, w in zip(params, ws):
            assert torch.equal(p.detach(), w)
    assert torch.equal(opt.param_groups[0]["schedule"], sched)
    assert taus[:2] == [None, None] and len(set(taus[2:6])) == 4 and taus[6:] == [float(sched[-1])] * 3


def test_softmuon_equals_the_official_equations_in_float64_through_the_transition():
    """The same run in float64 (ns_dtype=float64, default fused NS5): within 1e-9 of the official
    equations at every step."""
    grads = _official_grads(torch.float64)
    params = make_params(OFFICIAL_SHAPES, dtype=torch.float64)
    W0 = [p.detach().clone() for p in params]
    opt = SoftMuon(params, lr=0.02, weight_decay=0.1, momentum=0.95, sign_iters=2, transition_iters=4,
                   ns_dtype=torch.float64)
    want = official_softmuon(W0, grads, 0.02, 0.1, 0.95, 2, 4, torch.float64)
    for gs, (ws, sched) in zip(grads, want):
        run(opt, params, [gs])
        for p, w in zip(params, ws):
            torch.testing.assert_close(p.detach(), w, rtol=0, atol=1e-9)
    assert torch.equal(opt.param_groups[0]["schedule"], sched)


def test_softmuon_schedule_uses_the_float32_saturation_constant():
    """τ_j = c/q_j with c = φ⁻¹(1 − ε) in float32 (70.69774 at ε = 1e-4), 1.08e-4 below the float64 value
    of temperature_schedule: the ratio of the two schedules is c32/c64 wherever neither is clamped."""
    z = torch.linalg.svdvals(torch.randn(40, 30, generator=torch.Generator().manual_seed(3), dtype=DT))
    ours = softmuon_temperature_schedule(z, 50)
    lead = temperature_schedule(z, 50, tmax=1e9, kind="algebraic", dtype=DT)
    c32 = float(torch.tensor(1 - 1e-4, dtype=torch.float32) / (1 - torch.tensor(1 - 1e-4, dtype=torch.float32) ** 2)
                ** 0.5)
    assert c32 == pytest.approx(70.69774, abs=1e-5) and saturation_point(1e-4, "algebraic") == pytest.approx(70.70537,
                                                                                                           abs=1e-5)
    free = (ours > 1) & (ours < 1e9) & (lead > 1) & (lead < 1e9)
    assert int(free.sum()) > 40
    ratio = ours[free] / lead[free]
    torch.testing.assert_close(ratio, torch.full_like(ratio, c32 / saturation_point(1e-4, "algebraic")),
                               rtol=1e-12, atol=0)
    # float32 singular values: the official arithmetic (σ̂ in float32) bit for bit
    z32 = z.float()
    assert torch.equal(softmuon_temperature_schedule(z32, 50), official_schedule(z32, 50))


def test_softmuon_schedule_edge_cases():
    assert torch.equal(softmuon_temperature_schedule(torch.zeros(0), 3, tmax=5.0),
                       torch.full((3,), 5.0, dtype=DT))
    with pytest.warns(RuntimeWarning, match="median absolute deviation"):
        flat = softmuon_temperature_schedule(torch.tensor([1.0] * 5 + [2.0, 3.0], dtype=DT), 4)
    assert bool(torch.isfinite(flat).all())
    with pytest.raises(ValueError, match="non-finite"):
        softmuon_temperature_schedule(torch.tensor([1.0, float("nan")]), 3)
    for kwargs, name in [(dict(length=0), "length"), (dict(eps=1.0), "eps"), (dict(tmax=0.5), "tmax"),
                         (dict(newton_iters=-1), "newton_iters")]:
        args = dict(length=3) | kwargs
        with pytest.raises(ValueError, match=name):
            softmuon_temperature_schedule(torch.ones(3), **args)


# -- one shape rule, zero-size parameters ------------------------------------------------------------
@pytest.mark.parametrize("ns_form", ["fused", "reference"])
def test_softmuon_without_schedule_equals_muon_on_conv_and_3d_weights(ns_form):
    """The (shape[0], −1) view and its shape factor in both: a (16, 2, 1, 1) conv weight is a 16 × 2
    matrix with factor √8 (KellerJordan/official: factor √max(1, 1/1) = 1), a (4, 2, 3) tensor one
    4 × 6 matrix (KellerJordan/official: a batch of four 2 × 3 matrices)."""
    shapes = [(16, 2, 1, 1), (4, 2, 3), (3, 5)]
    grads = grad_seq(shapes, 6, dtype=torch.float32)
    pa, pb = make_params(shapes, dtype=torch.float32), make_params(shapes, dtype=torch.float32)
    a = run(SoftMuon(pa, lr=0.02, weight_decay=0.1, ns_form=ns_form), pa, grads)
    b = run(Muon(pb, lr=0.02, weight_decay=0.1, ns_form=ns_form), pb, grads)
    for x, y in zip(a, b):
        assert torch.equal(x, y)
    # and the view rule itself, in float64 against the naive reference
    p64 = make_params(shapes)
    W0 = [p.detach().clone() for p in p64]
    g64 = grad_seq(shapes, 3)
    got = run(SoftMuon(p64, lr=0.03, momentum=0.9, weight_decay=0.1, ns_dtype=DT), p64, g64)
    want = ref_muon(W0, g64, 0.03, 0.9, True, 0.1, "ns5", "original")
    for x, y in zip(got, want):
        torch.testing.assert_close(x, y, rtol=0, atol=1e-12)


ZERO_FACTORIES = {
    "Muon": lambda ps: Muon(ps, weight_decay=0.1),
    "Muon-ref-form": lambda ps: Muon(ps, weight_decay=0.1, ns_form="reference", adjust_lr="match_rms_adamw"),
    "Muon-svd": lambda ps: Muon(ps, polar="svd"),
    "NorMuon": lambda ps: NorMuon(ps, weight_decay=0.1),
    "NorMuon-ref": lambda ps: NorMuon(ps, variant="reference_code", weight_decay=0.1),
    "SoftMuon": lambda ps: SoftMuon(ps, weight_decay=0.1, sign_iters=1, transition_iters=2),
    "SoftMuon-eigh": lambda ps: SoftMuon(ps, sign_iters=0, transition_iters=2, inv_root="eigh"),
    "SoftMuon-tau": lambda ps: SoftMuon(ps, tau=3.0, inv_root="svd"),
    "SFNorMuon": lambda ps: SFNorMuon(ps, warmup_steps=2),
}


@pytest.mark.parametrize("name", ZERO_FACTORIES)
def test_zero_size_parameters_get_a_zero_step_and_change_nothing_else(name):
    shapes = [(5, 3), (4, 0), (0, 3), (3, 0, 2)]
    grads = grad_seq(shapes, 4, dtype=torch.float32)
    ps = make_params(shapes, dtype=torch.float32)
    run(ZERO_FACTORIES[name](ps), ps, grads)
    alone = make_params(shapes, dtype=torch.float32)[:1]
    run(ZERO_FACTORIES[name](alone), alone, [gs[:1] for gs in grads])
    assert torch.equal(ps[0].detach(), alone[0].detach())
    for p, s in zip(ps[1:], shapes[1:]):
        assert p.shape == s and bool(torch.isfinite(p).all())
    only_empty = make_params(shapes[1:], dtype=torch.float32)
    run(ZERO_FACTORIES[name](only_empty), only_empty, [gs[1:] for gs in grads])


# -- fixed temperature, geometry(group), foreach ------------------------------------------------------
@pytest.mark.parametrize("inv_root", ["eigh", "svd", "ns5_official"])
def test_softmuon_fixed_tau_uses_phi_tau_at_every_step(inv_root):
    shape, tau = (5, 7), 3.0
    w = torch.nn.Parameter(torch.zeros(shape, dtype=DT))
    opt = SoftMuon([w], lr=0.5, momentum=0.0, tau=tau, inv_root=inv_root, ns_dtype=DT)
    gen = torch.Generator().manual_seed(12)
    for _ in range(3):
        g = torch.randn(shape, dtype=DT, generator=gen) * torch.logspace(0, -2, 7, dtype=DT)
        before = w.detach().clone()
        w.grad = g
        opt.step()
        want = regns_naive(g, tau) if inv_root == "ns5_official" else phi_naive(g, tau)
        torch.testing.assert_close(w.detach() - before, -0.5 * want, rtol=0, atol=1e-12)
    group = opt.param_groups[0]
    assert group["tau"] == tau and group["schedule"] is None and group["iteration"] == 3
    geo = opt.geometry(group)
    assert isinstance(geo.g, SoftSign) and geo.g.tau == tau and geo.g.kind == "algebraic"


def test_softmuon_tau_is_validated_also_when_a_group_is_edited():
    with pytest.raises(ValueError, match="tau"):
        SoftMuon(W(), tau=3.0, sign_iters=2, transition_iters=3)
    for bad in (0.0, -1.0, float("nan"), float("inf"), "3", True):
        with pytest.raises(ValueError, match="tau"):
            SoftMuon(W(), tau=bad)
    ps = W()
    opt = SoftMuon(ps, tau=2.0)
    opt.param_groups[0]["tau"] = -2.0
    ps[0].grad = torch.ones(3, 3)
    before = ps[0].detach().clone()
    with pytest.raises(ValueError, match="tau"):
        opt.step()
    assert torch.equal(ps[0].detach(), before) and opt.param_groups[0]["iteration"] == 0


def test_one_step_is_momentum_then_geometry_direction_then_the_plain_rule():
    """Rebuild one step by hand from the public parts: u = opt.momentum(group).update(g),
    d = s·opt.geometry(group).direction(view(u)), W ← W(1 − ηλ) − η d (bit for bit; the step folds s into
    the step size, which the hand-made step does too)."""
    shapes = [(6, 10), (10, 6), (4, 2, 3)]
    for make in (lambda ps: Muon(ps, weight_decay=0.1),
                 lambda ps: SoftMuon(ps, weight_decay=0.1, tau=4.0),
                 lambda ps: SoftMuon(ps, weight_decay=0.1, sign_iters=1, transition_iters=3)):
        ps = make_params(shapes, dtype=torch.float32)
        opt = make(ps)
        for gs in grad_seq(shapes, 2, dtype=torch.float32):  # a random state first
            run(opt, ps, [gs])
        group = opt.param_groups[0]
        gs = grad_seq(shapes, 1, seed=5, dtype=torch.float32)[0]
        states = [copy.deepcopy(opt.state[p]) for p in ps]
        for st in states:
            st["step"] += 1
        us = opt.momentum(group).update(gs, states, group)
        geo = opt.geometry(group)
        want = []
        for p, u in zip(ps, us):
            d = geo.direction(mat(u))
            s = math.sqrt(max(1.0, d.shape[0] / d.shape[1]))
            want.append(p.detach().clone().mul_(1 - group["lr"] * 0.1).add_(d.reshape(p.shape), alpha=-group["lr"] * s))
        run(opt, ps, [gs])
        for p, w_ in zip(ps, want):
            assert torch.equal(p.detach(), w_)


@pytest.mark.parametrize("name", ["Muon", "NorMuon", "NorMuon-ref", "SoftMuon", "SoftMuon-eigh"])
def test_foreach_false_is_the_same_step_bit_for_bit(name):
    shapes = [(5, 3), (5, 3), (3, 4)]
    grads = grad_seq(shapes, 5, dtype=torch.float32)
    pa, pb = make_params(shapes, dtype=torch.float32), make_params(shapes, dtype=torch.float32)
    run(FACTORIES[name](pa), pa, grads)
    opt = FACTORIES[name](pb)
    for g in opt.param_groups:
        g["foreach"] = False
    run(opt, pb, grads)
    for x, y in zip(pa, pb):
        assert torch.equal(x, y)


@pytest.mark.parametrize("name", ["Muon", "Muon-svd", "NorMuon", "SoftMuon", "SoftMuon-eigh"])
def test_batched_group_step_equals_the_per_matrix_step(monkeypatch, name):
    """The accelerator path (all u first, one batched solve per shape, one decay pass) against the CPU
    path (one matrix at a time): bit for bit (eigh: the batched LAPACK rounds differently, 1e-6)."""
    shapes = [(5, 3), (5, 3), (5, 3), (3, 4), (3, 4), (2, 3, 2)]
    grads = grad_seq(shapes, 5, dtype=torch.float32)
    pa, pb = make_params(shapes, dtype=torch.float32), make_params(shapes, dtype=torch.float32)
    run(FACTORIES[name](pa), pa, grads)
    monkeypatch.setattr(Spectral, "batches", lambda self, device: True)
    run(FACTORIES[name](pb), pb, grads)
    for x, y in zip(pa, pb):
        if name == "SoftMuon-eigh":
            torch.testing.assert_close(x, y, rtol=0, atol=1e-6)
        else:
            assert torch.equal(x, y)


def test_maximize_ascends_with_the_negated_gradient():
    shapes = [(5, 3), (3, 4)]
    grads = grad_seq(shapes, 3, dtype=torch.float32)
    pa, pb = make_params(shapes, dtype=torch.float32), make_params(shapes, dtype=torch.float32)
    run(Muon(pa, maximize=True), pa, grads)
    run(Muon(pb), pb, [[-g for g in gs] for gs in grads])
    for x, y in zip(pa, pb):
        assert torch.equal(x, y)


# -- the shared contract ---------------------------------------------------------------------------
FACTORIES = {
    "Muon": lambda ps: Muon(ps, lr=0.02, weight_decay=0.1),
    "Muon-svd": lambda ps: Muon(ps, polar="svd", adjust_lr="match_rms_adamw", nesterov=False),
    "NorMuon": lambda ps: NorMuon(ps, weight_decay=0.1),
    "NorMuon-ref": lambda ps: NorMuon(ps, variant="reference_code", weight_decay=0.1),
    "SoftMuon": lambda ps: SoftMuon(ps, weight_decay=0.1, sign_iters=2, transition_iters=3),
    "SoftMuon-eigh": lambda ps: SoftMuon(ps, sign_iters=1, transition_iters=2, inv_root="eigh"),
}


@pytest.mark.parametrize("name", FACTORIES)
def test_one_dimensional_parameter_is_refused_with_a_routing_message(name):
    ps = [torch.nn.Parameter(torch.zeros(3, 3)), torch.nn.Parameter(torch.zeros(3))]
    with pytest.raises(ValueError, match="route"):
        FACTORIES[name](ps)
    opt = FACTORIES[name]([ps[0]])
    with pytest.raises(ValueError, match="AdamW"):
        opt.add_param_group({"params": [ps[1]]})


@pytest.mark.parametrize("name", FACTORIES)
def test_step_never_modifies_grad_and_round_trips_state_dict_bit_for_bit(name):
    shapes = [(5, 3), (3, 4)]
    grads = grad_seq(shapes, 8, dtype=torch.float32)
    pa = make_params(shapes, dtype=torch.float32)
    a = FACTORIES[name](pa)
    for gs in grads[:3]:
        for p, g in zip(pa, gs):
            p.grad = g.clone()
        a.step()
        for p, g in zip(pa, gs):
            assert torch.equal(p.grad, g)
    sd = copy.deepcopy(a.state_dict())
    pb = [torch.nn.Parameter(p.detach().clone()) for p in pa]
    b = FACTORIES[name](pb)
    b.load_state_dict(sd)
    for gs in grads[3:]:
        run(a, pa, [gs])
        run(b, pb, [gs])
    for x, y in zip(pa, pb):
        assert torch.equal(x, y)


@pytest.mark.parametrize("name", ["Muon", "NorMuon", "SoftMuon"])
def test_lr_scheduler_and_closure_work(name):
    p = make_params([(4, 4)], dtype=torch.float32)[0]
    opt = FACTORIES[name]([p])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 0.5**e)
    target = torch.randn(4, 4, generator=torch.Generator().manual_seed(2))

    def closure():
        opt.zero_grad()
        loss = (p - target).square().sum()
        loss.backward()
        return loss

    losses = []
    for _ in range(3):
        losses.append(float(opt.step(closure).detach()))
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.02 * 0.5**3)
    assert losses[-1] < losses[0]


W = lambda: [torch.nn.Parameter(torch.zeros(3, 3))]  # noqa: E731
BAD = [
    (lambda: Muon(W(), lr=-1.0), "lr"),
    (lambda: Muon(W(), momentum=1.0), "momentum"),
    (lambda: Muon(W(), momentum=-0.1), "momentum"),
    (lambda: Muon(W(), weight_decay=-0.1), "weight_decay"),
    (lambda: Muon(W(), polar="qr"), "polar"),
    (lambda: Muon(W(), adjust_lr="spectral"), "adjust_lr"),
    (lambda: Muon(W(), ns_steps=-1), "ns_steps"),
    (lambda: Muon(W(), ns_dtype=torch.int32), "ns_dtype"),
    (lambda: Muon(W(), nesterov="yes"), "nesterov"),
    (lambda: NorMuon(W(), lr=-0.5), "lr"),
    (lambda: NorMuon(W(), momentum=1.5), "momentum"),
    (lambda: NorMuon(W(), beta2=1.0), "beta2"),
    (lambda: NorMuon(W(), eps=-1e-8), "eps"),
    (lambda: NorMuon(W(), weight_decay=-1.0), "weight_decay"),
    (lambda: NorMuon(W(), variant="code"), "variant"),
    (lambda: NorMuon(W(), polar="ns3"), "polar"),
    (lambda: NorMuon(W(), row_norm=1), "row_norm"),
    (lambda: SoftMuon(W(), lr=-0.02), "lr"),
    (lambda: SoftMuon(W(), momentum=1.0), "momentum"),
    (lambda: SoftMuon(W(), weight_decay=-0.1), "weight_decay"),
    (lambda: SoftMuon(W(), eps=-1e-4), "eps"),
    (lambda: SoftMuon(W(), eps=1.0), "eps"),
    (lambda: SoftMuon(W(), tmax=0.5), "tmax"),
    (lambda: SoftMuon(W(), newton_iters=-1), "newton_iters"),
    (lambda: SoftMuon(W(), inv_root="cholesky"), "inv_root"),
    (lambda: SoftMuon(W(), sign_iters=5), "transition_iters"),
    (lambda: SoftMuon(W(), sign_iters=-1, transition_iters=3), "sign_iters"),
    (lambda: SoftMuon(W(), sign_iters=2, transition_iters=0), "transition_iters"),
    (lambda: SoftMuon(W(), tau=-1.0), "tau"),
    (lambda: SoftMuon(W(), ns_form="addmm"), "ns_form"),
    (lambda: Muon(W(), ns_form="fast"), "ns_form"),
    (lambda: NorMuon(W(), ns_form=None), "ns_form"),
]


@pytest.mark.parametrize("factory,name", BAD, ids=[f"{i}-{n}" for i, (_, n) in enumerate(BAD)])
def test_bad_hyperparameters_raise_value_error_naming_the_argument(factory, name):
    with pytest.raises(ValueError, match=name):
        factory()


def test_bf16_parameters_step():
    for name in ("Muon", "NorMuon", "SoftMuon"):
        ps = [torch.nn.Parameter(torch.randn(6, 4).bfloat16())]
        opt = FACTORIES[name](ps)
        for _ in range(4):
            ps[0].grad = torch.randn(6, 4).bfloat16()
            opt.step()
        assert ps[0].dtype == torch.bfloat16 and bool(torch.isfinite(ps[0]).all())


GPU_FACTORIES = {
    "Muon": lambda ps: Muon(ps, weight_decay=0.1, ns_dtype=DT),
    "NorMuon": lambda ps: NorMuon(ps, weight_decay=0.1, ns_dtype=DT),
    "NorMuon-ref": lambda ps: NorMuon(ps, variant="reference_code", weight_decay=0.1, ns_dtype=DT),
    "SoftMuon": lambda ps: SoftMuon(ps, weight_decay=0.1, sign_iters=2, transition_iters=3, ns_dtype=DT),
    "SoftMuon-eigh": lambda ps: SoftMuon(ps, sign_iters=1, transition_iters=3, inv_root="eigh", ns_dtype=DT),
}


@pytest.mark.gpu
@pytest.mark.parametrize("name", GPU_FACTORIES)
def test_cuda_step_matches_cpu(name):
    shapes = [(6, 4), (4, 5)]
    grads = grad_seq(shapes, 6)
    pc = make_params(shapes)
    run(GPU_FACTORIES[name](pc), pc, grads)
    pg = [torch.nn.Parameter(p.detach().cuda()) for p in make_params(shapes)]
    run(GPU_FACTORIES[name](pg), pg, [[g.cuda() for g in gs] for gs in grads])
    for a, b in zip(pc, pg):
        torch.testing.assert_close(a.detach(), b.detach().cpu(), rtol=0, atol=1e-9)
