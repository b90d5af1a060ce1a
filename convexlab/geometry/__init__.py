r"""Geometries: regularizer ψ, conjugate ψ*, direction ∇ψ* (README, "What convexlab is").

=====================  =========================================  ===============================
geometry               ψ* (conjugate)                             ∇ψ* (direction) / optimizer
=====================  =========================================  ===============================
Euclidean()            ½‖m‖²                                      m (SGD)
Sign()                 ‖m‖₁                                       sign(m) (signSGD, Signum, Lion)
Clip()                 Σ Huber(m_i)                               clip(m, −1, 1)
SoftSign(τ, "tanh")    Σ ln cosh(τ m_i)/τ                         tanh(τm) (SoftSignum)
SoftSign(τ, "algebraic") Σ (√(1+τ²m_i²) − 1)/τ                    τm/√(1+τ²m²)
StochasticSign(G)      Σ G_i·Huber(m_i/G_i)                       E = clip(m/G); sample sign(m + G⊙n)
LatticeStochasticSign  as StochasticSign                          n on a 16-bit lattice (bias < 2^-15)
Spectral(g)            Σ g*(σ_i(M))                               U g'(Σ) Vᵀ (Muon, SoftMuon)
=====================  =========================================  ===============================
"""

from convexlab.geometry.base import Geometry, SeparableGeometry
from convexlab.geometry.euclidean import Euclidean
from convexlab.geometry.sign import Clip, Huber, Sign, huber
from convexlab.geometry.soft_sign import SoftSign, log_cosh
from convexlab.geometry.spectral import Spectral
from convexlab.geometry.stochastic_sign import LatticeStochasticSign, StochasticSign

__all__ = [
    "Geometry",
    "SeparableGeometry",
    "Euclidean",
    "Sign",
    "Clip",
    "Huber",
    "huber",
    "SoftSign",
    "log_cosh",
    "StochasticSign",
    "LatticeStochasticSign",
    "Spectral",
]
