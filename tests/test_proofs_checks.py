r"""Tests of the ``proofs_checks`` sympy derivations (Softsign [SS-FAMILY], StoSignSGD [SSG-DEF1]).

Every module's claims hold with the correct ingredients, every module runs as
``python -m proofs_checks.<name>`` with exit status 0, and each derivation rejects a deliberately
wrong ingredient (non-vacuity).
"""

from __future__ import annotations

import functools
import importlib
import pathlib
import subprocess
import sys

import pytest
import sympy as sp

from proofs_checks import MODULES, _common
from proofs_checks import algebraic_conjugate as alg
from proofs_checks import entropic_conjugate as ent
from proofs_checks import huber_clip as hub
from proofs_checks import sign_limits as lim
from proofs_checks import stochastic_sign as sto
from proofs_checks._common import Claim

ROOT = pathlib.Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=None)
def _claims(name: str) -> tuple[Claim, ...]:
    return tuple(importlib.import_module(f"proofs_checks.{name}").run())


def _by_name(claims: list[Claim]) -> dict[str, Claim]:
    return {c.name: c for c in claims}


def _failed(claims: list[Claim]) -> set[str]:
    return {c.name for c in claims if not c.holds}


# --------------------------------------------------------------------------- every claim holds


@pytest.mark.parametrize("name", MODULES)
def test_run_returns_claims_that_all_hold(name):
    claims = _claims(name)
    assert claims, f"{name}.run() returned no claims"
    assert all(isinstance(c, Claim) and isinstance(c.holds, bool) for c in claims)
    assert len({c.name for c in claims}) == len(claims), "claim names must be unique"
    failing = [c.line() for c in claims if not c.holds]
    assert not failing, "\n".join(failing)


@pytest.mark.parametrize("name", MODULES)
def test_module_docstring_names_source_and_provenance(name):
    doc = importlib.import_module(f"proofs_checks.{name}").__doc__
    assert "arXiv" in doc and "Provenance" in doc
    assert any(tag in doc for tag in ("[DER]", "[THR]", "[S/R]"))


@pytest.mark.parametrize("name", MODULES)
def test_module_runs_as_script(name):
    proc = subprocess.run(
        [sys.executable, "-m", f"proofs_checks.{name}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(("PASS", "FAIL"))]
    assert lines and all(ln.startswith("PASS") for ln in lines)
    assert len(lines) == len(_claims(name))


# --------------------------------------------------------------------------- provers are not vacuous


def test_provers_reject_false_statements():
    y = sp.Symbol("y", real=True)
    assert _common.zero_claim("z", "", sp.sin(y) ** 2 + sp.cos(y) ** 2 - 1).holds
    assert not _common.zero_claim("z", "", sp.sin(y) ** 2 + sp.cos(y) ** 2 - 1 + y**3).holds
    assert not _common.zero_claim("z", "", y**2, points=[{y: sp.Rational(1, 3)}]).holds
    assert _common.sign_claim("s", "", y**2).holds
    assert not _common.sign_claim("s", "", y**2 - 1).holds  # undecided is not a proof
    assert not _common.sign_claim("s", "", y**2, strict=True).holds


def test_main_exit_status(capsys):
    ok = Claim("a", "a", True, "fine")
    bad = Claim("b", "b", False, "residual is 1")
    assert _common.main(lambda verbose=False: [ok]) == 0
    assert _common.main(lambda verbose=False: [ok, bad]) == 1
    assert _common.main(lambda verbose=False: []) == 1
    out = capsys.readouterr().out
    assert "PASS a: fine" in out and "FAIL b: residual is 1" in out


def test_resolve_on_interval_splits_at_kinks():
    x = sp.Symbol("x", real=True)
    G = sp.Symbol("G", positive=True)
    pieces = _common.resolve_on_interval(sp.Max(-1, sp.Min(1, x / G)) + sp.Abs(x), x)
    assert [(a, b) for a, b, _ in pieces] == [(-sp.oo, -G), (-G, 0), (0, G), (G, sp.oo)]
    assert [sp.simplify(e) for _, _, e in pieces] == [-1 - x, x / G - x, x / G + x, 1 + x]


# --------------------------------------------------------------------------- wrong ingredients


def test_entropic_rejects_wrong_conjugate_and_temperature():
    y, m, tau = ent.Y, ent.M, ent.TAU
    wrong = _failed(ent.conjugate_claims(V_star=sp.log(sp.cosh(2 * y))))
    assert {"conjugate_value", "fenchel_young", "gradient_of_conjugate"} <= wrong
    wrong = _failed(ent.temperature_claims(psi_star=sp.log(sp.cosh(tau * m)) / tau**2))
    assert {"temperature_conjugate_value", "temperature_scaling"} <= wrong
    assert "stationary_point" in _failed(ent.conjugate_claims(grad_V_star=sp.tanh(y / 2)))
    assert "strong_convexity" in _failed(ent.curvature_claims(mu=2))
    assert "taylor_conjugate" in _failed(ent.taylor_claims(V_star_poly=y**2 / 2 - y**4 / 24))
    assert "boundary_value_right" in _failed(ent.boundary_claims(value=sp.log(3)))


def test_algebraic_rejects_wrong_ingredients():
    y = alg.Y
    wrong = _failed(alg.conjugate_claims(V_star=sp.sqrt(1 + y**2)))
    assert {"conjugate_value", "conjugate_even_and_zero_at_0"} <= wrong
    assert "stationary_point" in _failed(alg.conjugate_claims(grad_V_star=y / (1 + y**2)))
    assert "conjugate_smoothness" in _failed(alg.curvature_claims(mu=2))
    assert "lower_bound" in _failed(alg.large_y_claims(offset=sp.Rational(1, 2)))
    assert "taylor_direction" in _failed(alg.taylor_claims(grad_poly=y - y**3 / 3))


def test_huber_rejects_wrong_kink_wrong_clip_and_wrong_envelope():
    y = hub.Y
    kink2 = sp.Piecewise((y**2 / 2, sp.Abs(y) <= 2), (sp.Abs(y) - sp.Rational(1, 2), True))
    wrong = _failed(hub.conjugate_claims(h=kink2))
    assert {"conjugate_value", "continuously_differentiable", "fenchel_young"} <= wrong
    assert "maximiser" in _failed(hub.conjugate_claims(grad_h=sp.Max(-1, sp.Min(1, 2 * y))))
    assert _failed(hub.weighted_claims(envelope=hub.G / 2)) == {"stochastic_sign_link"}


def test_stochastic_sign_rejects_half_noise_scale():
    claims = _by_name(sto.proposition_claims(noise_scale=sto.G / 2))
    for name in ("probability_plus", "unbiased_mean", "rescaled_unbiased", "variance", "clip_form"):
        assert not claims[name].holds, name
    # Saturation beyond the envelope still holds with the smaller noise: the check is selective.
    assert claims["saturation_above"].holds and claims["saturation_below"].holds
    x, G = sto.X, sto.G
    assert "variance" in _failed(sto.proposition_claims(claimed_var=1 - x / G))


def test_sign_limits_rejects_wrong_bounds():
    wrong = _failed(lim.conjugate_bound_claims(
        "bad", lim.LOG_COSH, sp.log(2) / 2, lim.ENTROPIC_HALFLINE, curvature=sp.Rational(1, 3)))
    assert wrong == {"bad_lower_linear", "bad_upper_quadratic"}
    assert not lim.direction_error_claim(constant=1).holds
    y = lim.Y
    assert not lim.stable_form_claim(stable=sp.Abs(y) + sp.log(1 + sp.exp(-sp.Abs(y))) - sp.log(2)).holds


def test_stosign_arithmetic_rejects_wrong_constants():
    from proofs_checks import stosign_arithmetic as ari

    assert not _by_name(ari.step_sum_claims(two=sp.Rational(3, 2)))["inverse_sqrt_telescopes"].holds
    assert _failed(ari.o2nc_claims(constant=5 + sp.sqrt(2))) >= {"constant_squared", "noise_term_is_4eps_over_7"}
    assert _failed(ari.exponential_claims(rate=sp.Integer(2))) == {"exp_sum_second_moment", "exp_scaling_identity"}
    assert _failed(ari.lemma32_claims(coefficient=sp.Rational(1, 5))) == {"lemma32_fixed_point"}
