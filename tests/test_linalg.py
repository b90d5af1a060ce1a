r"""Tests for convexlab.linalg: polar factor, Muon's NS5, coupled inverse square root, SoftMuon's Φ_τ."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from convexlab.linalg import (
    NS_QUINTIC_JORDAN,
    SpectrumAudit,
    audit_spectral_map,
    coupled_inverse_sqrt,
    matrix_with_spectrum,
    newton_schulz,
    newton_schulz_kernel,
    newton_schulz_scalar_map,
    polar_svd,
    regularized_newton_schulz_kernel,
    soft_polar,
)

F64 = torch.float64
EXACT_METHODS = ("svd", "eigh", "push_through")


def gaussian(*shape: int, seed: int = 0, dtype: torch.dtype = F64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=F64).to(dtype)


def phi(x: torch.Tensor) -> torch.Tensor:
    return x / torch.sqrt(1 + x * x)


# --------------------------------------------------------------------------------------------- polar


@pytest.mark.parametrize("shape", [(5, 9), (9, 5), (6, 6)])
def test_polar_svd_is_orthonormal_and_equals_u_vt(shape):
    M = gaussian(*shape)
    P = polar_svd(M)
    U, _, Vh = torch.linalg.svd(M, full_matrices=False)
    torch.testing.assert_close(P, U @ Vh, rtol=0, atol=1e-12)
    k = min(shape)
    gram = P @ P.mT if shape[0] <= shape[1] else P.mT @ P
    torch.testing.assert_close(gram, torch.eye(k, dtype=F64), rtol=0, atol=1e-12)


def test_polar_svd_batched_matches_loop():
    M = gaussian(3, 2, 4, 7, seed=1)
    P = polar_svd(M)
    assert P.shape == M.shape
    for i in range(3):
        for j in range(2):
            torch.testing.assert_close(P[i, j], polar_svd(M[i, j]), rtol=0, atol=1e-12)


def test_polar_svd_zero_singular_value_maps_to_zero():
    # A zero singular value that SVD returns exactly (a random rank-deficient matrix gives ~1e-16 instead).
    M = torch.zeros(3, 4, dtype=F64)
    M[0, 0], M[1, 1] = 2.0, -0.5
    P = polar_svd(M)
    expected = torch.zeros(3, 4, dtype=F64)
    expected[0, 0], expected[1, 1] = 1.0, -1.0
    torch.testing.assert_close(P, expected, rtol=0, atol=1e-15)


def test_polar_svd_keeps_half_precision_dtype():
    M = gaussian(4, 6, dtype=torch.bfloat16)
    assert polar_svd(M).dtype == torch.bfloat16


# -------------------------------------------------------------------------------------------- NS5


def test_ns5_float64_band_on_gaussian():
    M = gaussian(64, 128)
    audit = audit_spectral_map(lambda X: newton_schulz(X, steps=5, dtype=F64), M)
    lo, hi = audit.band
    # Measured (seed 0): band = (0.6820, 1.1343), within Jordan's documented "S' ~ Uniform(0.5, 1.5)"
    # and [SS-SOFTMUON]'s "roughly [0.7, 1.2]"; the scalar map gives [0.682, 1.134] on [0.01, 1].
    assert 0.5 <= lo and hi <= 1.5, audit.band
    assert 0.68 <= lo and hi <= 1.14, audit.band
    svals = torch.linalg.svdvals(newton_schulz(M, steps=5, dtype=F64))
    assert float(svals.min()) >= 0.5 and float(svals.max()) <= 1.5


def test_ns5_matches_scalar_map_in_float64():
    g = torch.Generator().manual_seed(3)
    sigma = torch.linspace(1.0, 0.05, 20, dtype=F64)
    M = matrix_with_spectrum(sigma, 20, 30, generator=g)
    audit = audit_spectral_map(lambda X: newton_schulz(X, dtype=F64, eps=1e-300), M)
    expected = newton_schulz_scalar_map(sigma / torch.linalg.matrix_norm(M))
    torch.testing.assert_close(audit.sigma_out, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(audit.sigma_in, sigma, rtol=0, atol=1e-12)


def test_ns5_bf16_default_runs_and_keeps_dtype():
    for dtype in (torch.float32, torch.float64):
        M = gaussian(64, 128, dtype=dtype)
        O = newton_schulz(M)
        assert O.dtype == dtype and O.shape == M.shape
        svals = torch.linalg.svdvals(O.to(F64))
        # Measured (seed 0): bf16 singular values in (0.6746, 1.1338).
        assert float(svals.min()) >= 0.5 and float(svals.max()) <= 1.5
    Mb = gaussian(8, 16, dtype=torch.bfloat16)
    assert newton_schulz(Mb).dtype == torch.bfloat16


def test_ns5_tall_and_batched():
    M = gaussian(4, 30, 10, seed=4)
    O = newton_schulz(M, dtype=F64)
    assert O.shape == M.shape
    for i in range(4):
        torch.testing.assert_close(O[i], newton_schulz(M[i], dtype=F64), rtol=0, atol=1e-13)
        torch.testing.assert_close(O[i], newton_schulz(M[i].mT, dtype=F64).mT, rtol=0, atol=1e-13)


def test_ns5_wrong_coefficient_leaves_band():
    # The band check can fail: a = 3.0 instead of 3.4445 gives p(1) = 0.2565 and a band ≈ (0.30, 0.97).
    M = gaussian(64, 128)
    bad = (3.0,) + NS_QUINTIC_JORDAN[1:]
    audit = audit_spectral_map(lambda X: newton_schulz(X, coefficients=bad, dtype=F64), M)
    assert audit.band[0] < 0.5, audit.band


def test_ns5_zero_matrix_maps_to_zero():
    assert torch.count_nonzero(newton_schulz(torch.zeros(3, 5, dtype=F64), dtype=F64)) == 0


def test_scalar_map_numpy_and_torch_agree():
    x = np.linspace(0.0, 1.0, 11)
    y_np = newton_schulz_scalar_map(x)
    y_t = newton_schulz_scalar_map(torch.from_numpy(x))
    assert isinstance(y_np, np.ndarray) and isinstance(y_t, torch.Tensor)
    np.testing.assert_allclose(y_np, y_t.numpy(), rtol=0, atol=1e-15)
    a, b, c = NS_QUINTIC_JORDAN
    np.testing.assert_allclose(newton_schulz_scalar_map(x, steps=1), a * x + b * x**3 + c * x**5, atol=1e-15)


# --------------------------------------------------------------------------------- inverse sqrt


def test_coupled_inverse_sqrt_converges_for_well_conditioned_spd():
    B = gaussian(3, 8, 20, seed=5)
    A = B @ B.mT / 20
    Z = coupled_inverse_sqrt(A, steps=30)
    lam, Q = torch.linalg.eigh(A)
    exact = (Q * lam.rsqrt().unsqueeze(-2)) @ Q.mT
    torch.testing.assert_close(Z, exact, rtol=0, atol=1e-10)


def test_coupled_inverse_sqrt_scalar_cap():
    # On an eigenvalue λ ≪ 1 of A/‖A‖_F each step multiplies z by at most 1.5: cap 1.5⁵ (Softsign [SS-REGNS]).
    A = torch.diag(torch.tensor([1.0, 1e-12], dtype=F64))
    Z = coupled_inverse_sqrt(A, steps=5)
    assert abs(float(Z[1, 1]) - 1.5**5) < 1e-6


def test_coupled_inverse_sqrt_dtype_argument():
    A = torch.eye(4, dtype=torch.float32) * 4
    Z = coupled_inverse_sqrt(A, steps=10, dtype=F64)
    assert Z.dtype == torch.float32
    torch.testing.assert_close(Z, torch.eye(4) * 0.5)


# ----------------------------------------------------------------------------------- soft polar

SHAPES = [(7, 12), (12, 7), (9, 9), (3, 5, 8)]


@pytest.mark.parametrize("tau", [0.1, 1.0, 30.0, 1e4])
@pytest.mark.parametrize("shape", SHAPES, ids=["wide", "tall", "square", "batched"])
def test_soft_polar_exact_methods_agree(tau, shape):
    M = gaussian(*shape, seed=6)
    ref = soft_polar(M, tau, "svd")
    for method in ("eigh", "push_through"):
        torch.testing.assert_close(soft_polar(M, tau, method), ref, rtol=0, atol=1e-10, msg=method)


@pytest.mark.parametrize("tau", [0.1, 3.0, 1e4])
def test_soft_polar_is_phi_of_singular_values(tau):
    sigma = torch.logspace(0, -2, 6, dtype=F64)
    M = matrix_with_spectrum(sigma, 6, 10, generator=torch.Generator().manual_seed(7))
    audit = audit_spectral_map(lambda X: soft_polar(X, tau), M, target=lambda s: phi(tau * s))
    assert audit.max_abs_error < 1e-12


def test_soft_polar_large_tau_approaches_polar():
    M = gaussian(6, 10, seed=8)
    P = polar_svd(M)
    for method in EXACT_METHODS:
        # Error ≈ 1/(2 τ² σ_min²).
        torch.testing.assert_close(soft_polar(M, 1e6, method), P, rtol=0, atol=1e-9, msg=method)
    assert torch.allclose(soft_polar(M, 1e9, "svd"), P, rtol=0, atol=1e-12)


def test_soft_polar_small_tau_is_tau_times_m():
    M = gaussian(6, 10, seed=9)
    for method in EXACT_METHODS:
        # Φ_τ(M)/τ = M − τ²MMᵀM/2 + O(τ⁴).
        torch.testing.assert_close(soft_polar(M, 1e-6, method) / 1e-6, M, rtol=0, atol=1e-9, msg=method)


def test_soft_polar_huge_tau_and_tiny_tau_stay_finite():
    M = gaussian(5, 8, seed=10, dtype=torch.float32)
    for tau in (1e30, 1e-30):
        for method in EXACT_METHODS:
            assert bool(torch.isfinite(soft_polar(M, tau, method)).all()), (tau, method)


def test_soft_polar_keeps_dtype():
    M = gaussian(4, 6, dtype=torch.bfloat16)
    for method in EXACT_METHODS + ("ns5_official",):
        assert soft_polar(M, 2.0, method).dtype == torch.bfloat16


# Softsign [SS-REGNS] (numpy float64): 64×128 input with singular values logspace(0, -3, 64), indices 0, 16, 32, 48, 63.
TABLE_INDICES = [0, 16, 32, 48, 63]
TABLE_CODE = {
    1e9: [1.000, 0.796, 0.174, 0.030, 0.006],
    30.0: [0.999, 0.790, 0.172, 0.030, 0.006],
    3.0: [0.949, 0.454, 0.087, 0.015, 0.003],
}
TABLE_EXACT = {
    1e9: [1.0, 1.0, 1.0, 1.0, 1.0],
    30.0: [0.999, 0.982, 0.668, 0.154, 0.030],
    3.0: [0.949, 0.461, 0.089, 0.016, 0.003],
}


@pytest.fixture(scope="module")
def table_matrix():
    sigma = torch.logspace(0, -3, 64, dtype=F64)
    return matrix_with_spectrum(sigma, 64, 128, generator=torch.Generator().manual_seed(11))


@pytest.mark.parametrize("tau", list(TABLE_CODE))
def test_ns5_official_reproduces_spec_table(tau, table_matrix):
    code = audit_spectral_map(lambda X: soft_polar(X, tau, "ns5_official", dtype=F64), table_matrix)
    exact = audit_spectral_map(lambda X: soft_polar(X, tau, "svd"), table_matrix)
    # Measured: τ=1e9 → 1.0000, 0.7963, 0.1741, 0.0304, 0.0059; τ=30 → 0.9994, 0.7895, 0.1722, 0.0300,
    # 0.0058; τ=3 → 0.9487, 0.4536, 0.0867, 0.0150, 0.0029. (The [SS-REGNS] table's τ=30 "0.790" is 0.78948: a
    # rounding slip, within the 1e-3 tolerance.)
    np.testing.assert_allclose(code.sigma_out[TABLE_INDICES].numpy(), TABLE_CODE[tau], rtol=0, atol=1e-3)
    np.testing.assert_allclose(exact.sigma_out[TABLE_INDICES].numpy(), TABLE_EXACT[tau], rtol=0, atol=1e-3)


def test_ns5_official_is_spectral_and_matches_scalar_recursion(table_matrix):
    tau = 30.0
    out = soft_polar(table_matrix, tau, "ns5_official", dtype=F64)
    audit = audit_spectral_map(lambda X: out, table_matrix)
    sigma = audit.sigma_in
    lam = sigma**2 + tau**-2
    s = torch.linalg.vector_norm(lam)
    y, z = lam / s, torch.ones_like(lam)
    for _ in range(5):
        t = 0.5 * (3 - z * y)
        y, z = y * t, t * z
    torch.testing.assert_close(audit.sigma_out, z * sigma / s.sqrt(), rtol=0, atol=1e-12)
    # Spectral: nothing off the input's singular pairs.
    torch.testing.assert_close(torch.linalg.svdvals(out), audit.sigma_out.sort(descending=True).values)


def test_ns5_official_tall_batched_and_steps():
    M = gaussian(2, 12, 7, seed=12)
    out = soft_polar(M, 2.0, "ns5_official", dtype=F64, ns_steps=40)
    torch.testing.assert_close(out, soft_polar(M, 2.0, "svd"), rtol=0, atol=1e-10)
    bf = soft_polar(M.float(), 2.0, "ns5_official")
    assert bf.dtype == torch.float32 and bf.shape == M.shape


def test_audit_fields():
    M = matrix_with_spectrum([4.0, 2.0, 0.5], 3, 5, generator=torch.Generator().manual_seed(13))
    audit = audit_spectral_map(polar_svd, M)
    assert isinstance(audit, SpectrumAudit)
    assert audit.sigma_in.dtype == F64 and audit.sigma_out.dtype == F64
    torch.testing.assert_close(audit.sigma_in, torch.tensor([4.0, 2.0, 0.5], dtype=F64))
    assert math.isclose(audit.condition_number, 8.0, rel_tol=1e-12)
    assert audit.max_abs_error < 1e-12
    singular = audit_spectral_map(lambda X: X, torch.zeros(2, 3, dtype=F64))
    assert singular.condition_number == math.inf


# ------------------------------------------------------------- the optimizers' kernels, bit for bit

BF16 = torch.bfloat16
KERNEL_SHAPES = [(6, 10), (10, 6), (33, 33), (64, 128), (128, 64), (256, 96)]


def keller_jordan_ns5(G, steps=5):
    """KellerJordan/Muon zeropower_via_newtonschulz5 (= the official SoftMuon copy), from its equations."""
    a, b, c = NS_QUINTIC_JORDAN
    X = G.bfloat16()
    if G.size(-2) > G.size(-1):
        X = X.mT
    X = X / (X.norm(dim=(-2, -1), keepdim=True) + 1e-7)
    for _ in range(steps):
        A = X @ X.mT
        B = b * A + c * A @ A
        X = a * X + B @ X
    return X.mT if G.size(-2) > G.size(-1) else X


def official_regns(G, steps, temp, dtype=BF16, old_order=False):
    """The official SoftMuon muon_regularized_update (softsign@77526d8), from its equations; ``temp`` a
    0-d float64 tensor as the official schedule entry. ``old_order`` multiplies (Z/√s)·X instead."""
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
        Y = Y @ T
        Z = T @ Z
    out = (Z / s.sqrt()) @ X if old_order else (Z @ X) / s.sqrt()
    return out.mT if tall else out


@pytest.mark.parametrize("shape", KERNEL_SHAPES)
def test_fused_ns_kernel_equals_torch_optim_muon_bit_for_bit(shape):
    tm = pytest.importorskip("torch.optim._muon")
    G = gaussian(*shape, seed=20, dtype=torch.float32)
    ours = newton_schulz_kernel(G, 5, NS_QUINTIC_JORDAN, BF16, 1e-7, "fused")
    theirs = tm._zeropower_via_newtonschulz(G, NS_QUINTIC_JORDAN, 5, 1e-7)
    assert ours.dtype == BF16 and torch.equal(ours, theirs)
    # the public entry point, cast back
    assert torch.equal(newton_schulz(G), theirs.float())


@pytest.mark.parametrize("form", ["fused", "reference"])
@pytest.mark.parametrize("shape", [(6, 10), (10, 6), (64, 128), (128, 64)])
def test_batched_ns_kernel_equals_the_per_matrix_kernel_bit_for_bit(form, shape):
    G = torch.stack([gaussian(*shape, seed=21 + i, dtype=torch.float32) * 10.0**-i for i in range(4)])
    batched = newton_schulz_kernel(G, 5, NS_QUINTIC_JORDAN, BF16, 1e-7, form)
    for i in range(4):
        assert torch.equal(batched[i], newton_schulz_kernel(G[i], 5, NS_QUINTIC_JORDAN, BF16, 1e-7, form))


@pytest.mark.parametrize("shape", KERNEL_SHAPES + [(3, 6, 10)])
def test_reference_ns_kernel_equals_keller_jordan_bit_for_bit(shape):
    G = gaussian(*shape, seed=22, dtype=torch.float32)
    ours = newton_schulz(G, form="reference", dtype=BF16)
    assert torch.equal(ours, keller_jordan_ns5(G).float())


def test_ns_forms_differ_by_bfloat16_rounding_only():
    """Measured (seed 23, 64 × 128): 95 % of the bf16 entries differ, by at most 2 bf16 ulps of 1
    (2⁻⁶); in float64 the forms agree to 3e-15."""
    G = gaussian(64, 128, seed=23, dtype=torch.float32)
    fused, ref = newton_schulz(G, form="fused"), newton_schulz(G, form="reference")
    frac = float((fused != ref).double().mean())
    assert 0.5 < frac < 1.0
    assert float((fused - ref).abs().max()) <= 2 * 2.0**-7
    G64 = G.double()
    diff = (newton_schulz(G64, dtype=F64, form="fused") - newton_schulz(G64, dtype=F64, form="reference")).abs()
    assert 0 < float(diff.max()) < 1e-13


TAUS = [1.0, 3.7, 70.3, 1e4, 1e9]


@pytest.mark.parametrize("shape", [(6, 10), (10, 6), (64, 128), (128, 64), (33, 33)])
def test_regns_kernel_equals_the_official_function_bit_for_bit(shape):
    for j, tau in enumerate(TAUS):
        G = gaussian(*shape, seed=24 + j, dtype=torch.float32) * 1e-3
        temp = torch.tensor(tau, dtype=F64)
        ours = regularized_newton_schulz_kernel(G, tau, 5, BF16)
        assert ours.dtype == BF16 and torch.equal(ours, official_regns(G, 5, temp)), tau
        # batched, with a differently scaled member
        Gb = torch.stack([G, 100 * G, gaussian(*shape, seed=30 + j, dtype=torch.float32)])
        ob = regularized_newton_schulz_kernel(Gb, tau, 5, BF16)
        for i in range(3):
            assert torch.equal(ob[i], official_regns(Gb[i], 5, temp)), (tau, i)
    for steps in range(5):  # the skipped products (Z₀Y₀, T₁Z₀, the last Y) are exact for every step count
        G = gaussian(*shape, seed=40 + steps, dtype=torch.float32)
        got = regularized_newton_schulz_kernel(G, 3.0, steps, BF16)
        assert torch.equal(got, official_regns(G, steps, torch.tensor(3.0, dtype=F64))), steps


def test_regns_official_order_is_detected_in_bfloat16():
    """(Z X)/√s (official) and (Z/√s) X round differently in bf16: the bit-for-bit test above would
    catch the old order."""
    differs = 0
    for seed in range(5):
        G = gaussian(64, 128, seed=50 + seed, dtype=torch.float32)
        new = regularized_newton_schulz_kernel(G, 30.0, 5, BF16)
        old = official_regns(G, 5, torch.tensor(30.0, dtype=F64), old_order=True)
        differs += int(not torch.equal(new, old))
    assert differs >= 1


def test_regns_kernel_float64_and_soft_polar_agree_with_the_official_function():
    G = gaussian(12, 7, seed=60)
    out = soft_polar(G, 2.5, "ns5_official", dtype=F64)
    torch.testing.assert_close(out, official_regns(G, 5, torch.tensor(2.5, dtype=F64), dtype=F64),
                               rtol=0, atol=1e-14)


def test_regns_kernel_zero_input_at_huge_tau_is_zero_not_nan():
    """I/τ² underflows at τ = 1e30: A = 0, where the official code divides 0/0; the clamp gives 0."""
    out = regularized_newton_schulz_kernel(torch.zeros(4, 6), 1e30, 5, BF16)
    assert torch.equal(out, torch.zeros(4, 6, dtype=BF16))
    official = official_regns(torch.zeros(4, 6), 5, torch.tensor(1e30, dtype=F64))
    assert bool(torch.isnan(official).all())


def test_kernels_do_not_validate_and_propagate_nan():
    """The unvalidated kernels never raise (the optimizers check their gradients once per step)."""
    G = gaussian(4, 6, seed=61, dtype=torch.float32)
    G[0, 0] = float("nan")
    assert bool(torch.isnan(newton_schulz_kernel(G)).any())
    assert bool(torch.isnan(regularized_newton_schulz_kernel(G, 2.0)).any())


@pytest.mark.parametrize("shape", [(3, 0), (0, 4), (2, 0, 5)])
def test_zero_size_matrices_map_to_zero_size(shape):
    M = torch.zeros(shape)
    for out in (newton_schulz(M), newton_schulz(M, form="reference"), soft_polar(M, 2.0),
                soft_polar(M, 2.0, "ns5_official"), soft_polar(M, 2.0, "eigh")):
        assert out.shape == M.shape and out.dtype == M.dtype


# --------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: polar_svd(torch.ones(4)), "M must have at least 2"),
        (lambda: newton_schulz(torch.ones(4)), "M must have at least 2"),
        (lambda: soft_polar(torch.ones(4), 1.0), "M must have at least 2"),
        (lambda: coupled_inverse_sqrt(torch.ones(4)), "A must have at least 2"),
        (lambda: polar_svd(torch.tensor([[1.0, float("nan")]])), "M contains 1 NaN"),
        (lambda: newton_schulz(torch.tensor([[1.0, float("nan")]])), "M contains 1 NaN"),
        (lambda: soft_polar(torch.tensor([[1.0, float("nan")]]), 1.0), "M contains 1 NaN"),
        (lambda: soft_polar(torch.eye(2), 0.0), "tau must be a finite number > 0, got 0.0"),
        (lambda: soft_polar(torch.eye(2), -1.0), "tau must be a finite number > 0, got -1.0"),
        (lambda: soft_polar(torch.eye(2), float("inf")), "tau must be a finite number > 0, got inf"),
        (lambda: soft_polar(torch.eye(2), float("nan")), "tau must be a finite number > 0, got nan"),
        (lambda: soft_polar(torch.eye(2), 1.0, "qr"), "method must be one of"),
        (lambda: soft_polar(torch.eye(2), 1.0, "svd", ns_steps=5), "ns_steps is only used"),
        (lambda: soft_polar(torch.eye(2), 1.0, "eigh", dtype=torch.bfloat16), "dtype must be one of"),
        (
            lambda: soft_polar(torch.eye(2), 1.0, "ns5_official", ns_steps=-1),
            "ns_steps must be an integer >= 0, got -1",
        ),
        (lambda: soft_polar(torch.eye(2), 1e-30, "ns5_official"), "tau=1e-30 is too small"),
        (lambda: newton_schulz(torch.eye(2), steps=-1), "steps must be an integer >= 0, got -1"),
        (lambda: newton_schulz(torch.eye(2), steps=2.0), "steps must be an integer >= 0, got 2.0"),
        (lambda: newton_schulz(torch.eye(2), coefficients=(1.0, 2.0)), "coefficients must be a length-3"),
        (lambda: newton_schulz(torch.eye(2), coefficients=(1.0, 2.0, float("nan"))), "coefficients must be"),
        (lambda: newton_schulz(torch.eye(2), dtype=torch.int32), "dtype must be one of"),
        (lambda: newton_schulz(torch.eye(2), eps=0.0), "eps must be a finite number > 0"),
        (lambda: newton_schulz(torch.eye(2), form="addmm"), "form must be one of"),
        (lambda: coupled_inverse_sqrt(torch.eye(2), steps=-1), "steps must be an integer >= 0, got -1"),
        (lambda: coupled_inverse_sqrt(torch.ones(2, 3)), "A must be square"),
        (lambda: coupled_inverse_sqrt(torch.zeros(2, 2)), "all-zero matrix"),
        (lambda: newton_schulz_scalar_map(0.5, steps=-1), "steps must be an integer >= 0"),
        (lambda: audit_spectral_map(polar_svd, torch.ones(2, 3, 4)), "M must be a single matrix"),
        (lambda: audit_spectral_map(lambda X: X[:1], torch.ones(2, 3)), r"fn\(M\) must return a tensor of shape"),
        (lambda: audit_spectral_map(42, torch.ones(2, 3)), "fn must be callable"),
        (lambda: matrix_with_spectrum([1.0, -1.0], 3, 3), "sigma must contain finite values >= 0"),
        (lambda: matrix_with_spectrum([1.0, 1.0, 1.0], 2, 3), "sigma has 3 values"),
        (lambda: matrix_with_spectrum([1.0], 0, 3), "rows must be an integer >= 1, got 0"),
    ],
)
def test_bad_arguments_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------------------------------- CUDA


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    M = gaussian(2, 16, 24, seed=14)
    Mc = M.cuda()
    torch.testing.assert_close(polar_svd(Mc).cpu(), polar_svd(M), rtol=0, atol=1e-10)
    torch.testing.assert_close(newton_schulz(Mc, dtype=F64).cpu(), newton_schulz(M, dtype=F64), rtol=0, atol=1e-10)
    for method in EXACT_METHODS:
        torch.testing.assert_close(soft_polar(Mc, 3.0, method).cpu(), soft_polar(M, 3.0, "svd"), rtol=0, atol=1e-10)
    out = soft_polar(Mc, 3.0, "ns5_official", dtype=F64)
    torch.testing.assert_close(out.cpu(), soft_polar(M, 3.0, "ns5_official", dtype=F64), rtol=0, atol=1e-10)
    bf = newton_schulz(Mc.float())
    assert bf.device.type == "cuda" and bf.dtype == torch.float32
    assert soft_polar(Mc.float(), 3.0, "ns5_official").device.type == "cuda"
