"""Backend dispatch: "numpy" | "numba" | "cupy" | "auto".

Public functions validate their arguments once, resolve the backend here and branch once into a
private implementation. CuPy is optional and imported lazily, so nothing breaks without it.
"""

from __future__ import annotations

import functools
from types import ModuleType

import numpy as np

BACKENDS = ("numpy", "numba", "cupy")


@functools.lru_cache(maxsize=1)
def cupy_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # ImportError, CUDA driver/runtime errors: no usable GPU either way
        return False


def resolve_backend(backend: str) -> str:
    """Turn a user's backend choice into one of :data:`BACKENDS`.

    ``"auto"`` picks ``"cupy"`` when a GPU is usable and ``"numba"`` otherwise.
    """
    if backend == "auto":
        return "cupy" if cupy_available() else "numba"
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: expected one of 'auto', " + ", ".join(map(repr, BACKENDS)))
    if backend == "cupy" and not cupy_available():
        raise ValueError("backend='cupy' needs CuPy and a CUDA device; none is usable here (try 'numba')")
    return backend


def is_cupy_array(x) -> bool:
    return type(x).__module__.startswith("cupy")


def get_namespace(*arrays) -> ModuleType:
    """The array module (numpy or cupy) the given arrays live in."""
    if any(is_cupy_array(a) for a in arrays):
        import cupy

        return cupy
    return np


def backend_namespace(backend: str) -> ModuleType:
    """Array module used by a resolved backend's array code."""
    if backend == "cupy":
        import cupy

        return cupy
    return np


def to_numpy(x) -> np.ndarray:
    """Copy a cupy array to the host; numpy arrays pass through unchanged."""
    if is_cupy_array(x):
        return x.get()
    return np.asarray(x)
