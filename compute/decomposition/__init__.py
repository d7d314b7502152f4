"""Maps: PCA, kernel PCA, PCovR and kernel PCovR (full and Nyström), on numpy or cupy."""

from ._linear import PCA, PCovR

__all__ = ["PCA", "PCovR"]
