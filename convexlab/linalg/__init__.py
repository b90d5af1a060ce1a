r"""Polar factor and inverse square roots: exact (SVD / eigh) and iterative (Newton–Schulz).

polar_newton_schulz   U Vᵀ by SVD, Muon's quintic NS5, its scalar map, and an audit of any spectral map
inverse_root          coupled Newton–Schulz A^{−1/2} and SoftMuon's soft polar map Φ_τ (exact and RegNS)

The ``*_kernel`` functions are the unvalidated, batched forms the optimizers use (no NaN scan, no
host synchronisation); the other functions validate their arguments for users.
"""

from convexlab.linalg.inverse_root import (
    SOFT_POLAR_METHODS,
    coupled_inverse_sqrt,
    regularized_newton_schulz_kernel,
    soft_polar,
    soft_polar_exact_kernel,
)
from convexlab.linalg.polar_newton_schulz import (
    NS_FORMS,
    NS_QUINTIC_JORDAN,
    SpectrumAudit,
    audit_spectral_map,
    matrix_with_spectrum,
    newton_schulz,
    newton_schulz_kernel,
    newton_schulz_scalar_map,
    polar_svd,
)

__all__ = [
    "NS_FORMS",
    "NS_QUINTIC_JORDAN",
    "SOFT_POLAR_METHODS",
    "SpectrumAudit",
    "audit_spectral_map",
    "coupled_inverse_sqrt",
    "matrix_with_spectrum",
    "newton_schulz",
    "newton_schulz_kernel",
    "newton_schulz_scalar_map",
    "polar_svd",
    "regularized_newton_schulz_kernel",
    "soft_polar",
    "soft_polar_exact_kernel",
]
