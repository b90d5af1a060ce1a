"""Muon, NorMuon and SoftMuon against naive float64 references written from their docstrings, against
``torch.optim.Muon``, and the shared optimizer contract (routing errors, bad input, p.grad untouched,
state_dict round trips)."""

import copy
import io
import math

import pytest
import torch

from convexlab.linalg import newton_schulz
from convexlab.optim.spectral import Muon, NorMuon, SoftMuon
from convexlab.optim.temperature import temperature_schedule

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


def _torch_muon_pair(shape, adjust, wd, ns_dtype):
    params = make_params([shape], dtype=torch.float32)
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in params]
    ours = Muon(params, lr=0.02, momentum=0.95, nesterov=True, weight_decay=wd, ns_dtype=ns_dtype, adjust_lr=adjust)
    ref = torch.optim.Muon(theirs, lr=0.02, momentum=0.95, nesterov=True, weight_decay=wd, adjust_lr_fn=adjust)
    grads = grad_seq([shape], 10, dtype=torch.float32)
    out = []
    for k in range(10):
        run(ours, params, [grads[k]])
        run(ref, theirs, [grads[k]])
        out.append((params[0].detach().clone(), theirs[0].detach().clone()))
    return out, params[0].detach(), theirs[0].detach()


@pytest.mark.parametrize("shape,adjust", [((6, 6), "original"), ((4, 9), "original"), ((9, 4), "original"),
                                          ((9, 4), "match_rms_adamw")])
def test_muon_equals_torch_muon_with_the_same_newton_schulz(monkeypatch, shape, adjust):
    """torch.optim.Muon's buffer is the same lerp (B ← lerp(B, g, 1 − μ), Nesterov lerp(g, B, μ)) and its
    decay W(1 − ηλ); with its NS replaced by ours in float32 the trajectories agree bit for bit when
    the shape factor is 1 (torch multiplies the factor into lr, we into the update: ulp-level)."""
    import torch.optim._muon as tm

    monkeypatch.setattr(tm, "_zeropower_via_newtonschulz",
                        lambda G, coeffs, steps, eps: newton_schulz(G, steps, coeffs, dtype=torch.float32, eps=eps))
    steps, _, _ = _torch_muon_pair(shape, adjust, wd=0.1, ns_dtype=torch.float32)
    exact = adjust == "original" and shape[0] <= shape[1]
    for ours, theirs in steps:  # after 1, 2, ..., 10 steps
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0 if exact else 1e-6)


def test_muon_close_to_torch_muon_in_bfloat16():
    """Both run NS5 in bfloat16; torch fuses b·A + c·A² and a·X + B·X into addmm (one rounding), the
    reference code and we round each product, so they differ at bf16 rounding: a few percent per
    update (spec §3.6 test 3: loose tolerances with bf16)."""
    shape = (6, 10)
    steps, ours, theirs = _torch_muon_pair(shape, "original", wd=0.0, ns_dtype=torch.bfloat16)
    W0 = make_params([shape], dtype=torch.float32)[0].detach()
    first = [s - W0 for s in steps[0]]
    assert float((first[0] - first[1]).norm() / first[1].norm()) < 0.1
    du, dt = ours - W0, theirs - W0
    assert float((du - dt).norm() / dt.norm()) < 5e-2


def kj_ns5_bf16(G, steps=5):
    """The reference code's NS5 (spec §2.1): bf16, Frobenius pre-scaling, wide orientation, written as
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
    a wide and a square matrix (shape factor 1)."""
    shapes = [(4, 9), (5, 5)]
    params = make_params(shapes, dtype=torch.float32)
    ref = [p.detach().clone() for p in params]
    bufs = [torch.zeros_like(p) for p in ref]
    opt = Muon(params, lr=0.02, momentum=0.95, weight_decay=0.1)
    for gs in grad_seq(shapes, 5, dtype=torch.float32):
        run(opt, params, [gs])
        for i, g in enumerate(gs):
            bufs[i].lerp_(g, 1 - 0.95)
            upd = kj_ns5_bf16(g.lerp(bufs[i], 0.95))
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
            sched = temperature_schedule(z, T, eps, newton, tmax, kind="algebraic", dtype=DT)
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
    want0 = temperature_schedule(raw0, 6, 1e-4, 10, 1e9, kind="algebraic", dtype=DT)
    want1 = temperature_schedule(raw1, 6, 1e-4, 10, 1e9, kind="algebraic", dtype=DT)
    assert torch.equal(g0["schedule"], want0) and torch.equal(g1["schedule"], want1)
    # not the post-momentum direction (SoftSignum's statistic), not pooled over groups
    M = [0.1 * sum(0.9 ** (3 - j) * grads[j][i] for j in range(4)) for i in range(2)]
    u = torch.cat([torch.linalg.svdvals(0.1 * g + 0.9 * m) for g, m in zip(grads[3][:2], M)])
    assert not torch.allclose(temperature_schedule(u, 6, tmax=1e9, kind="algebraic"), want0)
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
                       temperature_schedule(z, 5, tmax=1e9, kind="algebraic", dtype=DT))


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
