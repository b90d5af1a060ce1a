r"""convexlab: executable claims for sign-based and spectral optimizers.

Subpackages
-----------
geometry   regularizer ψ, conjugate ψ*, direction ∇ψ* (the maps every optimizer is built from)
linalg     polar factor and inverse square roots: exact (SVD / eigh) and iterative (Newton–Schulz)
theory     the registry of executable checks run by ``convexlab check``
"""

__version__ = "0.1.0"
