"""Numerical core of the structure-property explorer.

Reading datasets, SOAP descriptors (NumPy reference, fused Numba CPU kernels, CuPy GPU), kernels,
decompositions, selection, models and clustering. Imports no Dash or Flask, so it can be used as a
plain library and from the command line.
"""

__version__ = "0.1.0"
