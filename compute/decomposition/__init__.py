"""Maps: PCA, kernel PCA, PCovR and kernel PCovR (full and Nyström), on numpy or cupy.

All four are scikit-learn estimators; PCovR and KernelPCovR have ``refit(mixing)`` to move the
mixing without recomputing kernels or regressions.
"""

from ._kernel import KernelPCA, KernelPCovR
from ._linear import PCA, PCovR

__all__ = ["PCA", "PCovR", "KernelPCA", "KernelPCovR"]
