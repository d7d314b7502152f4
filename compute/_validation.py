"""Input validation for every estimator and function of ``compute`` that takes feature arrays.

One place decides what a valid ``X`` and ``y`` are, so every entry point accepts and refuses the
same inputs with the same messages (each naming the argument):

* :func:`check_X`: a 2D, finite, real array, converted to float; NumPy-like inputs (lists,
  pandas frames, memory maps, object arrays of numbers) become NumPy arrays, CuPy arrays stay on
  their device (or move to the device of a given :class:`~compute._dispatch.Backend`);
* :func:`check_y`: targets with one value (1D) or one row (2D) per sample;
* :func:`check_n_features`: ``n_features_in_`` set by ``fit``, checked by the other methods.

The messages contain the phrases scikit-learn's estimator checks look for ("Complex data not
supported", "Reshape your data", "0 feature(s) (shape=...) while a minimum of 1 is required",
"X has 1 features, but ... is expecting 4 features as input", "requires y to be passed"), so
estimators built on these helpers pass ``sklearn.utils.estimator_checks``.
"""

from __future__ import annotations

import numpy as np

from ._dispatch import Backend, cupy_module, is_cupy_array, resolve

__all__ = ["check_X", "check_y", "check_n_features", "backend_of", "to_device"]


def backend_of(a) -> Backend:
    """A :class:`~compute._dispatch.Backend` for the device ``a`` lives on: where a fitted
    estimator's arrays are, hence where its ``transform``/``predict`` compute."""
    return resolve("cupy") if is_cupy_array(a) else resolve("numpy")


def _namespace(a):
    return cupy_module() if is_cupy_array(a) else np


def _refuse_sparse(a, name):
    # scipy.sparse matrices/arrays and cupyx.scipy.sparse ones: densifying silently could
    # exhaust memory, so say so and let the caller decide
    module = type(a).__module__
    if module.startswith(("scipy.sparse", "cupyx.scipy.sparse")):
        raise TypeError(
            f"{name} is a sparse matrix: sparse input is not supported, pass a dense array "
            f"({name}.toarray()) instead"
        )


def _as_array(a, name, dtype):
    """``a`` as a NumPy or CuPy array of a real floating dtype (no copy when it already is one)."""
    _refuse_sparse(a, name)
    if is_cupy_array(a):
        xp = _namespace(a)
    else:
        xp = np
        a = np.asarray(a)  # lists, pandas objects, memory maps (a view, not a copy)
    kind = a.dtype.kind
    if kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {a.dtype}")
    if kind not in "biuf":
        if kind != "O":
            raise ValueError(f"{name} must hold numbers, got dtype {a.dtype}")
        # numbers stored as objects are converted; anything else raises numpy's TypeError
        # ("float() argument must be a string or a real number, not ...")
        a = a.astype(np.float64)
        if np.iscomplexobj(a):  # pragma: no cover - astype(float64) never yields complex
            raise ValueError(f"Complex data not supported: {name}")
    keep = dtype if isinstance(dtype, tuple) else (dtype,)
    if a.dtype not in keep:
        a = a.astype(keep[0])
    return xp, a


def _check_finite(xp, a, name, hint):
    # the sum is finite when every entry is (one cheap reduction); only a non-finite sum, which an
    # overflow can also give, needs the element-wise test
    if bool(xp.isfinite(xp.sum(a))) or bool(xp.isfinite(a).all()):
        return
    raise ValueError(f"{name} contains NaN or infinite values{hint}")


def to_device(a, backend: Backend | None):
    """``a`` on the device of ``backend`` (unchanged when ``backend`` is None)."""
    if backend is None:
        return a
    if backend.on_gpu:
        return backend.asarray(a)
    return backend.to_host(a)


def check_X(X, *, name="X", backend: Backend | None = None, dtype=np.float64, min_samples=1,
            min_features=1, finite=True, hint=""):
    """A validated 2D array of real floats (see the module docstring).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    name : str
        The argument's name, used in every message.
    backend : Backend, optional
        Move the array to this backend's device (host for "numpy"/"numba", GPU for "cupy");
        ``None`` keeps it where it is.
    dtype : dtype or tuple of dtypes
        Accepted float dtypes; anything else is converted to the first.
    min_samples, min_features : int
        Fewest rows and columns accepted.
    finite : bool
        Refuse NaN and infinity.
    hint : str
        Appended to the NaN message (what the caller should do about it).

    Examples
    --------
    >>> check_X([[1, 2], [3, 4]]).dtype
    dtype('float64')
    >>> check_X([1.0, 2.0], name="T")
    Traceback (most recent call last):
    ...
    ValueError: T must be a 2D array (n_samples, n_features), got shape (2,): Reshape your data with T.reshape(-1, 1) for a single feature or T.reshape(1, -1) for a single sample
    """
    xp, X = _as_array(X, name, dtype)
    if X.ndim != 2:
        raise ValueError(
            f"{name} must be a 2D array (n_samples, n_features), got shape {X.shape}: Reshape your data with "
            f"{name}.reshape(-1, 1) for a single feature or {name}.reshape(1, -1) for a single sample"
        )
    n, p = X.shape
    if n < min_samples:
        raise ValueError(
            f"{name}: found array with {n} sample(s) (shape={X.shape}) while a minimum of {min_samples} is required."
        )
    if p < min_features:
        raise ValueError(
            f"{name}: found array with {p} feature(s) (shape={X.shape}) while a minimum of {min_features} is required."
        )
    if finite:
        _check_finite(xp, X, name, hint)
    return to_device(X, backend)


def check_y(y, n_samples, *, name="y", estimator=None, backend: Backend | None = None, ensure_1d=False,
            allow_nan=False, hint=""):
    """Targets: a float array of shape ``(n_samples,)`` or ``(n_samples, n_targets)``.

    Parameters
    ----------
    y : array-like
    n_samples : int
        Number of rows of the ``X`` that goes with it.
    estimator : str or object, optional
        Who needs the targets (for the message when ``y`` is None).
    backend : Backend, optional
        As in :func:`check_X`.
    ensure_1d : bool
        Refuse 2D targets.
    allow_nan : bool
        Accept NaN (missing targets) but still refuse infinity.

    Examples
    --------
    >>> check_y([1, 2, 3], 3).shape
    (3,)
    >>> check_y(None, 3, estimator="PCovR")
    Traceback (most recent call last):
    ...
    ValueError: PCovR needs targets y: it requires y to be passed, but the target y is None
    """
    if y is None:
        who = estimator if isinstance(estimator, str) or estimator is None else type(estimator).__name__
        raise ValueError(f"{who or 'this estimator'} needs targets {name}: it requires y to be passed, "
                         f"but the target {name} is None{hint}")
    xp, y = _as_array(y, name, np.float64)
    if y.ndim not in (1, 2) or (ensure_1d and y.ndim != 1):
        expected = "1D array of targets" if ensure_1d else "1D or 2D array (n_samples[, n_targets])"
        raise ValueError(f"{name} must be a {expected}, got shape {y.shape}")
    if y.shape[0] != n_samples:
        raise ValueError(f"{name} has {y.shape[0]} samples but X has {n_samples}")
    if allow_nan:
        if bool(xp.isinf(y).any()):
            raise ValueError(f"{name} contains infinite values{hint}")
    else:
        _check_finite(xp, y, name, hint)
    return to_device(y, backend)


def check_n_features(estimator, X, *, reset, columns=None):
    """Set (``reset=True``, in ``fit``) or check ``estimator.n_features_in_`` against ``X``.

    ``columns`` says what the columns are when they are not features (e.g. a precomputed
    kernel's columns, one per training sample); it is added to the message.
    """
    n = X.shape[1]
    if reset:
        estimator.n_features_in_ = n
        return
    expected = estimator.n_features_in_
    if n != expected:
        what = f": {columns}" if columns else ""
        raise ValueError(
            f"X has {n} features, but {type(estimator).__name__} is expecting {expected} features as input{what}."
        )
