"""Where array work runs: one definition of ``backend`` for every function of ``compute``.

Values, the same everywhere (descriptors, kernels, decompositions, models, selection, clustering):

* ``"numba"``: the CPU, with the Numba kernels where there are some (NumPy elsewhere);
* ``"numpy"``: the CPU with plain NumPy code (reference implementations, small inputs);
* ``"cupy"``: the GPU (CuPy and a CUDA device are required);
* ``"auto"``: the device of the input arrays when one is a CuPy array, else the GPU when one is
  usable, else ``"numba"``. So ``--backend auto`` puts SOAP *and* the map computed from it on the
  GPU when there is one.

A public function resolves its ``backend`` argument once, at its entry, with :func:`resolve`, and
passes the :class:`Backend` down; private code takes a :class:`Backend` (or its ``xp``), never a
string. CuPy is optional and imported only here (:func:`cupy_module`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import ModuleType

import numpy as np

BACKENDS = ("numpy", "numba", "cupy")
CHOICES = ("auto", *BACKENDS)


@functools.lru_cache(maxsize=1)
def cupy_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    try:
        cupy = cupy_module()
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # ImportError, CUDA driver/runtime errors: no usable GPU either way
        return False


def cupy_module() -> ModuleType:
    """The ``cupy`` module (the one place it is imported); ImportError where it is not installed."""
    import cupy

    return cupy


def is_cupy_array(x) -> bool:
    return type(x).__module__.startswith("cupy")


@dataclass(frozen=True)
class Backend:
    """A resolved backend: its ``name`` (one of :data:`BACKENDS`) and array module ``xp``."""

    name: str
    xp: ModuleType

    @property
    def on_gpu(self) -> bool:
        return self.name == "cupy"

    def asarray(self, a, dtype=None):
        """``a`` on this backend's device (a no-op when it is there already)."""
        return self.xp.asarray(a, dtype=dtype)

    def to_host(self, a) -> np.ndarray:
        """``a`` as a NumPy array (copied from the GPU when it lives there)."""
        return to_numpy(a)


def resolve(backend: str | Backend = "auto", *arrays) -> Backend:
    """The :class:`Backend` for a user's choice (see the module docstring); ``arrays`` are the
    inputs whose device ``"auto"`` follows. A resolved :class:`Backend` passes through."""
    if isinstance(backend, Backend):
        return backend
    if backend == "auto":
        if any(is_cupy_array(a) for a in arrays) or cupy_available():
            return Backend("cupy", cupy_module())
        return Backend("numba", np)
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: expected one of " + ", ".join(map(repr, CHOICES)))
    if backend == "cupy":
        if not cupy_available():
            raise ValueError("backend='cupy' needs CuPy and a CUDA device; none is usable here (try 'numba')")
        return Backend("cupy", cupy_module())
    return Backend(backend, np)


def resolve_backend(backend: str) -> str:
    """The name of :func:`resolve`'s backend (for code that branches on it)."""
    return resolve(backend).name


def get_namespace(*arrays) -> ModuleType:
    """The array module (numpy or cupy) the given arrays live in."""
    if any(is_cupy_array(a) for a in arrays):
        return cupy_module()
    return np


def backend_namespace(backend: str) -> ModuleType:
    """Array module used by a resolved backend's array code."""
    return cupy_module() if backend == "cupy" else np


def scatter_add(xp: ModuleType, target, index, values) -> None:
    """``target[index[k]] += values[k]``, repeated indices accumulating (atomic adds on the GPU)."""
    if xp is np:
        np.add.at(target, index, values)
    else:
        import cupyx

        cupyx.scatter_add(target, index, values)


def to_numpy(x) -> np.ndarray:
    """Copy a cupy array to the host; numpy arrays pass through unchanged."""
    if is_cupy_array(x):
        return x.get()
    return np.asarray(x)
