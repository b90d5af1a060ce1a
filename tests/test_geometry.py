"""Unit tests of convexlab.geometry: shapes, dtypes, formulas at hand-computed points, bad input."""

import math

import pytest
import torch

from convexlab.geometry import Clip, Euclidean, Sign, SoftSign, Spectral, StochasticSign, huber, log_cosh
from convexlab.linalg import polar_svd, soft_polar

DT = torch.float64
ALL_VECTOR = [Euclidean(), Sign(), Clip(), SoftSign(2.0, "tanh"), SoftSign(2.0, "algebraic"),
              StochasticSign(torch.tensor(1.5))]
ALL_MATRIX = [Spectral(g) for g in (Euclidean(), Sign(), Clip(), SoftSign(2.0, "tanh"), SoftSign(2.0, "algebraic"))]


@pytest.mark.parametrize("geo", ALL_VECTOR, ids=repr)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_vector_shapes_and_dtypes(geo, dtype):
    m = torch.randn(3, 2, 5, generator=torch.Generator().manual_seed(0), dtype=dtype)
    assert geo.direction(m).shape == m.shape and geo.direction(m).dtype == dtype
    assert geo.conjugate(m).shape == (3, 2) and geo.conjugate(m).dtype == dtype
    assert geo.regularizer(geo.direction(m)).shape == (3, 2)
    # batching does not mix rows: each row equals the unbatched computation
    torch.testing.assert_close(geo.conjugate(m)[1, 0], geo.conjugate(m[1, 0]))


@pytest.mark.parametrize("geo", ALL_MATRIX, ids=repr)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matrix_shapes_and_batching(geo, dtype):
    M = torch.randn(4, 5, 3, generator=torch.Generator().manual_seed(1), dtype=dtype)
    D = geo.direction(M)
    assert D.shape == M.shape and D.dtype == dtype
    assert geo.conjugate(M).shape == (4,)
    torch.testing.assert_close(D[2], geo.direction(M[2]))


def test_hand_computed_values():
    m = torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0], dtype=DT)
    assert Sign().conjugate(m).item() == 5.0
    assert Clip().direction(m).tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert Clip().conjugate(m).item() == pytest.approx(1.5 + 0.125 + 0 + 0.125 + 1.5)
    # Softsign [SS-IDCHECKS]: argmin ⟨m,d⟩ + V(d)/τ at τ = 3, m = 0.4 is −0.8336546 (tanh)
    assert SoftSign(3.0).direction(torch.tensor(0.4, dtype=DT)).item() == pytest.approx(0.8336546, abs=1e-7)
    assert SoftSign(3.0, "algebraic").direction(torch.tensor(0.4, dtype=DT)).item() == pytest.approx(1.2 / math.sqrt(1 + 1.44))
    # the entropic regularizer at the boundary is ln 2 / τ, outside it is +inf
    assert SoftSign(2.0).regularizer(torch.tensor([1.0], dtype=DT)).item() == pytest.approx(math.log(2) / 2)
    assert SoftSign(2.0).regularizer(torch.tensor([1.1], dtype=DT)).item() == math.inf


def test_log_cosh_is_accurate_at_tiny_and_huge_arguments():
    y = torch.tensor([1e-8, 1e-3, 0.5, 30.0, 1e5], dtype=DT)
    ref = torch.tensor([0.5e-16, 0.5e-6 - 1e-12 / 12, math.log(math.cosh(0.5)), 30 - math.log(2), 1e5 - math.log(2)], dtype=DT)
    torch.testing.assert_close(log_cosh(y), ref, rtol=1e-12, atol=0)
    assert torch.isfinite(log_cosh(torch.tensor([1e30], dtype=torch.float32))).all()
    assert huber(torch.tensor([3.0])).item() == 2.5


def test_spectral_sign_is_polar_factor_and_algebraic_is_soft_polar():
    M = torch.randn(2, 6, 4, generator=torch.Generator().manual_seed(2), dtype=DT)
    torch.testing.assert_close(Spectral(Sign()).direction(M), polar_svd(M))
    torch.testing.assert_close(Spectral(SoftSign(5.0, "algebraic")).direction(M), soft_polar(M, 5.0, method="eigh"))
    assert Spectral(Sign()).conjugate(M[0]).item() == pytest.approx(torch.linalg.matrix_norm(M[0], "nuc").item())


def test_spectral_sign_keeps_zero_singular_values_zero():
    M = torch.zeros(4, 3, dtype=DT)
    M[0, 0] = 2.0
    D = Spectral(Sign()).direction(M)
    assert torch.linalg.matrix_rank(D).item() == 1


def test_stochastic_sign_zero_envelope_and_generator():
    geo = StochasticSign(torch.tensor([0.0, 0.0, 2.0]))
    m = torch.tensor([0.0, -3.0, 1.0])
    s1 = geo.sample(m.expand(1000, 3), generator=torch.Generator().manual_seed(5))
    s2 = geo.sample(m.expand(1000, 3), generator=torch.Generator().manual_seed(5))
    assert torch.equal(s1, s2)  # the generator fixes the draw
    assert (s1[:, 0] == 0).all() and (s1[:, 1] == -1).all()  # G = 0: sign(m), with sign(0) = 0
    assert set(s1[:, 2].unique().tolist()) == {-1.0, 1.0}
    assert geo.direction(m).tolist() == [0.0, -1.0, 0.5]
    assert geo.variance(m).tolist() == [1.0, 0.0, 0.75]


def test_stochastic_sign_bf16_input_draws_noise_in_float32():
    geo = StochasticSign(torch.tensor(1.0))
    out = geo.sample(torch.full((64,), 0.25, dtype=torch.bfloat16), generator=torch.Generator().manual_seed(0))
    assert out.dtype == torch.bfloat16 and set(out.unique().tolist()) <= {-1.0, 1.0}


# -- bad input: one pytest.raises per call ---------------------------------------------------
@pytest.mark.parametrize("tau", [0, -1.0, float("nan"), float("inf"), "hot", None])
def test_softsign_rejects_bad_tau(tau):
    with pytest.raises(ValueError, match="tau must be a finite number > 0"):
        SoftSign(tau)


def test_softsign_rejects_unknown_kind():
    with pytest.raises(ValueError, match="kind must be one of"):
        SoftSign(1.0, kind="sigmoid")


def test_stochastic_sign_rejects_negative_envelope():
    with pytest.raises(ValueError, match="envelope must be >= 0.*1 negative entry"):
        StochasticSign(torch.tensor([1.0, -0.5]))


def test_stochastic_sign_rejects_nonfinite_envelope():
    with pytest.raises(ValueError, match="envelope must be finite"):
        StochasticSign(torch.tensor([1.0, float("inf")]))


def test_stochastic_sign_rejects_nan_envelope():
    with pytest.raises(ValueError, match="envelope contains 1 NaN"):
        StochasticSign(torch.tensor([float("nan"), 1.0]))


def test_stochastic_sign_rejects_mismatched_shapes():
    geo = StochasticSign(torch.ones(3))
    with pytest.raises(ValueError, match=r"envelope of shape \(3,\) must broadcast to the shape of m, \(4,\)"):
        geo.sample(torch.zeros(4))


def test_spectral_rejects_vectors():
    with pytest.raises(ValueError, match=r"m must have at least 2 dimension\(s\)"):
        Spectral(Sign()).direction(torch.ones(3))


def test_spectral_rejects_stochastic_sign():
    with pytest.raises(ValueError, match="absolutely symmetric"):
        Spectral(StochasticSign(torch.ones(3)))


@pytest.mark.parametrize("method", ["direction", "conjugate", "regularizer"])
def test_nan_inputs_are_reported(method):
    x = torch.tensor([1.0, float("nan"), 0.0])
    with pytest.raises(ValueError, match="contains 1 NaN entry"):
        getattr(SoftSign(1.0), method)(x)


def test_integer_input_is_rejected():
    with pytest.raises(ValueError, match="must have a floating dtype"):
        Sign().direction(torch.tensor([1, 2]))


@pytest.mark.gpu
@pytest.mark.parametrize("geo", ALL_VECTOR + ALL_MATRIX, ids=repr)
def test_cuda_matches_cpu(geo):
    M = torch.randn(3, 5, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float32)
    if isinstance(geo, StochasticSign):
        geo = StochasticSign(geo.envelope.cuda())
    torch.testing.assert_close(geo.direction(M.cuda()).cpu(), geo.direction(M), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(geo.conjugate(M.cuda()).cpu(), geo.conjugate(M), rtol=1e-4, atol=1e-5)
