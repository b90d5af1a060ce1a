r"""Polar factor and inverse square roots: exact (SVD / eigh) and iterative (Newton–Schulz).

polar_newton_schulz   U Vᵀ by SVD, Muon's quintic NS5, its scalar map, and an audit of any spectral map
inverse_root          coupled Newton–Schulz A^{−1/2} and SoftMuon's soft polar map Φ_τ (exact and RegNS)
"""

from convexlab.linalg.inverse_root import SOFT_POLAR_METHODS, coupled_inverse_sqrt, soft_polar
from convexlab.linalg.polar_newton_schulz import (
    NS_QUINTIC_JORDAN,
    SpectrumAudit,
    audit_spectral_map,
    matrix_with_spectrum,
    newton_schulz,
    newton_schulz_scalar_map,
    polar_svd,
)

__all__ = [
    "NS_QUINTIC_JORDAN",
    "SOFT_POLAR_METHODS",
    "SpectrumAudit",
    "audit_spectral_map",
    "coupled_inverse_sqrt",
    "matrix_with_spectrum",
    "newton_schulz",
    "newton_schulz_scalar_map",
    "polar_svd",
    "soft_polar",
]
