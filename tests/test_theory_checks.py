"""Every registered check passes on the real implementation and fails on a deliberately broken one.

A check that cannot fail is a defect (README, "The check table"): for each check family this file builds a
mutant (a wrong temperature scaling, a conjugate that is too small, a wrong strong-convexity
constant, biased noise, a Newton–Schulz with a wrong coefficient, ...) and asserts the verdict flips.
"""

import copy
from functools import partial

import pytest
import torch

from convexlab.geometry import Sign, SoftSign, Spectral
from convexlab.geometry.base import SeparableGeometry
from convexlab.linalg import newton_schulz, soft_polar
from convexlab.theory import CheckContext, select
from convexlab.theory import identities as I
from convexlab.theory import newton_schulz as NS
from convexlab.theory import spectral as SP
from convexlab.theory import temperature_limits as TL
from convexlab.theory.registry import REGISTRY, run_check

CTX = CheckContext()
GEOMETRIES = I.standard_geometries()


@pytest.mark.parametrize("name", sorted(REGISTRY), ids=str)
def test_registered_check_passes(name):
    outcome = run_check(REGISTRY[name], CTX)
    assert outcome.error is None, outcome.error
    assert outcome.verdict == "pass", (outcome.result.measured, outcome.result.expected, outcome.result.details)


def test_every_check_has_source_and_provenance():
    for c in select():
        assert c.source and c.description and c.provenance_label
    assert any(c.reconstructed for c in select())


# -- mutants ---------------------------------------------------------------------------------
def perturbed(geo, part: str, factor: float):
    """A copy of ``geo`` with one of its maps (direction / conjugate) multiplied by ``factor``,
    or its claimed strong-convexity constant scaled (part='mu')."""
    b = copy.copy(geo)
    if part == "mu":
        b.strong_convexity = geo.strong_convexity * factor
        return b
    if isinstance(geo, SeparableGeometry):
        orig = getattr(geo, f"elem_{part}")
        setattr(b, f"elem_{part}", lambda x: factor * orig(x))
    else:
        orig = getattr(geo, f"_{part}")
        setattr(b, f"_{part}", lambda x: factor * orig(x))
    return b


def _fails(result):
    return result.verdict == "fail"


@pytest.mark.parametrize("label", sorted(GEOMETRIES))
def test_fenchel_young_equality_fails_on_scaled_direction(label):
    assert _fails(I.fenchel_young_equality(perturbed(GEOMETRIES[label], "direction", 1.1), CTX))


@pytest.mark.parametrize("label", sorted(GEOMETRIES))
def test_fenchel_young_inequality_fails_on_too_small_conjugate(label):
    assert _fails(I.fenchel_young_inequality(perturbed(GEOMETRIES[label], "conjugate", 0.9), CTX))


@pytest.mark.parametrize("label", sorted(GEOMETRIES))
def test_autograd_check_fails_on_scaled_direction(label):
    assert _fails(I.direction_is_autograd_of_conjugate(perturbed(GEOMETRIES[label], "direction", 1.1), CTX))


STRONGLY_CONVEX = sorted(k for k, g in GEOMETRIES.items() if g.strong_convexity is not None)


@pytest.mark.parametrize("label", STRONGLY_CONVEX)
def test_smoothness_check_fails_on_overclaimed_constant(label):
    assert _fails(I.smoothness_of_conjugate(perturbed(GEOMETRIES[label], "mu", 2.0), CTX))


@pytest.mark.parametrize("label", STRONGLY_CONVEX)
def test_strong_convexity_check_fails_on_overclaimed_constant(label):
    assert _fails(I.strong_convexity_of_regularizer(perturbed(GEOMETRIES[label], "mu", 2.0), CTX))


SCALAR = sorted(k for k, g in GEOMETRIES.items() if isinstance(g, SeparableGeometry) and g.absolutely_symmetric)


@pytest.mark.parametrize("label", SCALAR)
def test_scalar_sup_fails_on_wrong_conjugate(label):
    assert _fails(I.conjugate_equals_scalar_sup(perturbed(GEOMETRIES[label], "conjugate", 0.9), CTX))


@pytest.mark.parametrize("label", SCALAR)
def test_scalar_argmax_fails_on_wrong_direction(label):
    assert _fails(I.direction_equals_scalar_argmax(perturbed(GEOMETRIES[label], "direction", 1.1), CTX))


CVX = sorted(k for k, g in GEOMETRIES.items() if I.cvxpy_supports(g))


@pytest.mark.parametrize("label", CVX)
def test_cvxpy_sup_fails_on_wrong_conjugate(label):
    geo = GEOMETRIES[label]
    assert _fails(I.conjugate_equals_cvxpy_sup(perturbed(geo, "conjugate", 0.9), CTX, reg_geo=geo))


@pytest.mark.parametrize("label", CVX)
def test_cvxpy_argmax_fails_on_wrong_direction(label):
    geo = GEOMETRIES[label]
    assert _fails(I.direction_equals_cvxpy_argmax(perturbed(geo, "direction", 1.1), CTX, reg_geo=geo))


def test_cvxpy_sup_fails_when_temperature_of_regularizer_differs():
    # the conjugate of V/3 checked against the sup of V/1: a wrong temperature convention
    assert _fails(I.conjugate_equals_cvxpy_sup(SoftSign(3.0), CTX, reg_geo=SoftSign(1.0)))


class WrongTemperature(SoftSign):
    """The classic bug: tanh(m/τ) instead of tanh(τm) (conjugate and regularizer left correct)."""

    def elem_direction(self, m):
        return self.grad_V_star(m / self.tau)


@pytest.mark.parametrize("kind", ["tanh", "algebraic"])
def test_wrong_temperature_scaling_fails_every_soft_sign_check(kind):
    geo = WrongTemperature(3.0, kind)
    assert _fails(I.fenchel_young_equality(geo, CTX))
    assert _fails(I.direction_is_autograd_of_conjugate(geo, CTX))
    assert _fails(I.direction_equals_scalar_argmax(geo, CTX))
    assert _fails(TL.scalar_limits(partial(WrongTemperature, kind=kind), kind, CTX))
    assert _fails(TL.spectral_limits(lambda t: Spectral(WrongTemperature(t, kind)), kind, CTX))


def test_limits_fail_with_the_other_kinds_bounds():
    # the algebraic soft sign converges to sign only polynomially: the tanh bound 2e^{-2|y|} fails
    assert _fails(TL.scalar_limits(partial(SoftSign, kind="algebraic"), "tanh", CTX))


class TransposeBugLift(Spectral):
    """A lift that uses U on both sides (U h(Σ) Uᵀ): right on PSD matrices, wrong elsewhere."""

    def _direction(self, m):
        U, S, _ = torch.linalg.svd(m, full_matrices=False)
        return (U * self.g.elem_direction(S).unsqueeze(-2)) @ U.mT


def test_spectral_diagonal_fails_on_lift_that_loses_signs():
    assert _fails(SP.diagonal_agreement(Sign(), CTX, lift=TransposeBugLift))


class EntrywiseLift(Spectral):
    """Applying g to the entries instead of the singular values (agrees on diagonal matrices)."""

    def _conjugate(self, m):
        return self.g.elem_conjugate(m).sum((-2, -1))


@pytest.mark.parametrize("label", sorted(SP.MATRIX_FORMULAS))
def test_matrix_formula_fails_on_scaled_conjugate(label):
    geo, formula, _ = SP.MATRIX_FORMULAS[label]
    assert _fails(SP.conjugate_matches_matrix_formula(perturbed(geo, "conjugate", 0.9), formula, CTX))


# entrywise and spectral coincide for ½‖·‖_F², so the Euclidean lift is not a mutant there
@pytest.mark.parametrize("label", sorted(set(SP.MATRIX_FORMULAS) - {"Euclidean"}))
def test_matrix_formula_fails_on_entrywise_lift(label):
    geo, formula, _ = SP.MATRIX_FORMULAS[label]
    assert _fails(SP.conjugate_matches_matrix_formula(EntrywiseLift(geo.g), formula, CTX))


def test_soft_polar_forms_fail_on_tanh_lift():
    assert _fails(SP.soft_polar_forms(lambda M, t: Spectral(SoftSign(t, "tanh")).direction(M), CTX))


def test_regns_table_fails_with_four_steps_or_exact_map():
    four = lambda M, t: soft_polar(M, t, method="ns5_official", dtype=torch.float64, ns_steps=4)  # noqa: E731
    assert _fails(NS.regns_table(four, NS._exact, CTX))
    assert _fails(NS.regns_table(NS._exact, NS._exact, CTX))


def test_quintic_band_fails_with_wrong_coefficient():
    wrong = lambda X, d: newton_schulz(X, steps=5, dtype=d, coefficients=(3.0, -4.7750, 2.0315))  # noqa: E731
    assert _fails(NS.quintic_band(wrong, CTX))


def test_quintic_band_fails_with_too_few_steps():
    assert _fails(NS.quintic_band(lambda X, d: newton_schulz(X, steps=2, dtype=d), CTX))


def test_proof_check_fails_when_a_claim_does_not_hold():
    from proofs_checks import entropic_conjugate as ent
    from convexlab.theory import proofs as PR

    import sympy as sp

    wrong = lambda: ent.conjugate_claims(V_star=sp.log(sp.cosh(2 * ent.Y)))  # noqa: E731
    assert _fails(PR.claims_hold(wrong, CTX))
