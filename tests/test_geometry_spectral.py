"""Spectral(g, solver): solver validation, the batched multi-tensor path (bit for bit the per-matrix
path), zero-size and >2-D inputs, the fused add, and the identity checks on the exact geometry."""

import pytest
import torch

from convexlab.geometry import Euclidean, Sign, SoftSign, StochasticSign
from convexlab.geometry.spectral import NewtonSchulz, RegularizedNewtonSchulz, Spectral
from convexlab.linalg import newton_schulz, soft_polar
from convexlab.theory.identities import direction_is_autograd_of_conjugate, fenchel_young_equality
from convexlab.theory.registry import CheckContext

F64 = torch.float64


def gaussian(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64).to(dtype)


GEOMETRIES = {
    "ns5-fused": lambda **kw: Spectral(Sign(), NewtonSchulz(), **kw),
    "ns5-reference": lambda **kw: Spectral(Sign(), NewtonSchulz(form="reference"), **kw),
    "svd-sign": lambda **kw: Spectral(Sign(), **kw),
    "regns": lambda **kw: Spectral(SoftSign(3.0, "algebraic"), RegularizedNewtonSchulz(), **kw),
    "eigh": lambda **kw: Spectral(SoftSign(3.0, "algebraic"), "eigh", **kw),
    "svd-soft": lambda **kw: Spectral(SoftSign(3.0, "algebraic"), "svd", **kw),
}
SHAPES = [(6, 10), (10, 6), (6, 10), (10, 6), (6, 10), (7, 7), (3, 0), (0, 4), (2, 3, 5), (2, 3, 5)]


@pytest.mark.parametrize("name", GEOMETRIES)
def test_batched_directions_equal_per_matrix_directions(name):
    """Bit for bit for the Newton–Schulz solvers (and, measured, SVD); the batched LAPACK eigh rounds
    differently from the per-matrix one, so "eigh" agrees to float32 rounding."""
    ms = [gaussian(*s, seed=i) * 10.0 ** (i % 3 - 1) for i, s in enumerate(SHAPES)]
    batched = GEOMETRIES[name](batch=True).step_directions(ms)
    single = GEOMETRIES[name](batch=False).step_directions(ms)
    auto = GEOMETRIES[name]().step_directions(ms)  # per matrix on the CPU
    exact = name != "eigh"
    for m, a, b, c in zip(ms, batched, single, auto):
        assert a.shape == m.shape and a.dtype == m.dtype
        assert torch.equal(b, c)
        if exact:
            assert torch.equal(a, b)
        else:
            torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
        if m.numel() == 0:
            continue
        # a >2-D tensor is a batch of matrices over its last two dimensions
        want = torch.stack([GEOMETRIES[name]().direction(x) for x in m.reshape(-1, *m.shape[-2:])])
        if exact:
            assert torch.equal(a, want.reshape(m.shape))
        assert all(a.data_ptr() != x.data_ptr() for x in ms)  # fresh tensors, never an input


def test_ns_solver_is_newton_schulz_and_regns_is_soft_polar_official():
    M = gaussian(9, 5, seed=3)
    for form in ("fused", "reference"):
        geo = Spectral(Sign(), NewtonSchulz(form=form))
        assert torch.equal(geo.direction(M), newton_schulz(M, form=form))
    geo = Spectral(SoftSign(2.0, "algebraic"), RegularizedNewtonSchulz())
    assert torch.equal(geo.direction(M), soft_polar(M, 2.0, "ns5_official"))
    geo = Spectral(SoftSign(2.0, "algebraic"), "eigh")
    assert torch.equal(geo.direction(M), soft_polar(M, 2.0, "eigh"))


def test_solve_keeps_the_working_dtype_and_add_direction_adds_it_like_torch():
    ms = [gaussian(6, 10, seed=4), gaussian(10, 6, seed=5)]
    geo = Spectral(Sign(), NewtonSchulz())
    raw = geo.solve(ms)
    assert all(r.dtype == torch.bfloat16 for r in raw)
    xs = [gaussian(*m.shape, seed=9) for m in ms]
    want = [x.clone().add_(r, alpha=a) for x, r, a in zip(xs, raw, (-0.1, -0.3))]
    geo.add_direction_(xs, ms, [-0.1, -0.3])
    assert all(torch.equal(x, w) for x, w in zip(xs, want))
    # a scalar alpha, and the step_directions route: the same numbers
    ys = [gaussian(*m.shape, seed=9) for m in ms]
    geo.add_direction_(ys, ms, -0.1)
    for y, d, m in zip(ys, geo.step_directions(ms), ms):
        assert torch.equal(y, gaussian(*m.shape, seed=9).add_(d, alpha=-0.1))


def test_bad_solvers_and_arguments_raise_value_error():
    with pytest.raises(ValueError, match="solver"):
        Spectral(SoftSign(2.0, "algebraic"), NewtonSchulz())
    with pytest.raises(ValueError, match="solver"):
        Spectral(Sign(), RegularizedNewtonSchulz())
    with pytest.raises(ValueError, match="eigh"):
        Spectral(Sign(), "eigh")
    with pytest.raises(ValueError, match="eigh"):
        Spectral(SoftSign(2.0, "tanh"), "eigh")
    with pytest.raises(ValueError, match="solver must be"):
        Spectral(Sign(), "qr")
    with pytest.raises(ValueError, match="batch"):
        Spectral(Sign(), batch="yes")
    with pytest.raises(ValueError, match="g must be"):
        Spectral(StochasticSign(torch.ones(3)))
    with pytest.raises(ValueError, match="steps"):
        NewtonSchulz(steps=-1)
    with pytest.raises(ValueError, match="dtype"):
        NewtonSchulz(dtype=torch.int32)
    with pytest.raises(ValueError, match="form"):
        NewtonSchulz(form="addmm")
    with pytest.raises(ValueError, match="eps"):
        NewtonSchulz(eps=0.0)
    with pytest.raises(ValueError, match="coefficients"):
        NewtonSchulz(coefficients=(1.0, 2.0))
    with pytest.raises(ValueError, match="steps"):
        RegularizedNewtonSchulz(steps=1.5)
    with pytest.raises(ValueError, match="scales"):
        Spectral(Sign()).step_directions([torch.ones(2, 2)], scales=[torch.ones(2, 2)])
    with pytest.raises(ValueError, match="m must have at least 2"):
        Spectral(Sign(), NewtonSchulz()).direction(torch.ones(3))


def test_approximate_flag_exact_geometry_and_repr():
    ns = Spectral(Sign(), NewtonSchulz())
    assert ns.approximate and not ns.exact().approximate and ns.exact().solver is None
    assert not Spectral(SoftSign(2.0, "algebraic"), "eigh").approximate
    assert Spectral(Sign()).exact().solver is None
    assert "NewtonSchulz" in repr(ns) and repr(ns.exact()) == "Spectral(Sign())"
    assert NewtonSchulz() == NewtonSchulz() and NewtonSchulz() != NewtonSchulz(form="reference")
    assert hash(RegularizedNewtonSchulz()) == hash(RegularizedNewtonSchulz())


def test_identity_checks_pass_on_exact_solvers_and_fail_on_the_approximate_map():
    """The identity checks run on exact geometries: Spectral(SoftSign(τ, "algebraic"), "eigh") directly,
    NS5's geometry through .exact(). On NS5's own map they fail (its singular values leave the unit
    ball), which is why .exact() exists."""
    ctx = CheckContext()
    eigh = Spectral(SoftSign(3.0, "algebraic"), "eigh")
    assert fenchel_young_equality(eigh, ctx).passed
    assert direction_is_autograd_of_conjugate(eigh, ctx).passed
    ns = Spectral(Sign(), NewtonSchulz(dtype=F64))
    assert fenchel_young_equality(ns.exact(), ctx).passed
    assert not fenchel_young_equality(ns, ctx).passed
    regns = Spectral(SoftSign(3.0, "algebraic"), RegularizedNewtonSchulz(dtype=F64))
    assert direction_is_autograd_of_conjugate(regns.exact(), ctx).passed
    assert not direction_is_autograd_of_conjugate(regns, ctx).passed


def test_exact_solver_keeps_the_separable_lift():
    M = gaussian(5, 8, seed=6, dtype=F64)
    U, S, Vh = torch.linalg.svd(M, full_matrices=False)
    torch.testing.assert_close(Spectral(Euclidean()).direction(M), M, rtol=0, atol=1e-13)
    torch.testing.assert_close(Spectral(Sign()).direction(M), U @ Vh, rtol=0, atol=1e-13)
