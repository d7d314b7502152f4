"""Ridge, kernel ridge and sparse (Nyström) kernel ridge regression, learning curves and
out-of-fold predictions.

The three estimators follow scikit-learn's conventions (``__init__`` stores parameters, ``fit``
returns ``self``, fitted attributes end in ``_``; they pass ``sklearn.utils.estimator_checks``)
and work on NumPy arrays, or on CuPy arrays where the linear algebra is cheap to run there (the
array code is written once with ``xp``). Each takes a ``backend`` (:mod:`compute._dispatch`):
``fit`` computes there, ``predict`` where the fitted model is, and returns the array type given.

The package: :mod:`._ridge` (:class:`RidgeModel`), :mod:`._kernel_ridge`
(:class:`KernelRidgeModel`, :class:`SparseKernelRidgeModel`), :mod:`._cross_validation`
(:func:`learning_curve`, :func:`cross_val_predict`), :mod:`._make` (:func:`make_model`) and
:mod:`._base` (the regularisation path and what the estimators share).

Regularisation
--------------
With ``alpha=None`` (the default) the regularisation is chosen by exact leave-one-out
cross-validation over a log-spaced grid. One eigendecomposition of the training kernel (one thin
SVD of the centred features for :class:`RidgeModel` and :class:`SparseKernelRidgeModel`) serves
every candidate: the leave-one-out residual of a penalised least-squares fit is
``[A^-1 (y - b)]_i / [A^-1]_ii`` with ``A = K + alpha I`` (corrected for the intercept, see
below), so no model is refitted per alpha or per left-out sample. The grid ``alphas`` is
*relative* to the scale of the problem, the mean of the diagonal of the training Gram matrix
(``trace(K) / n``), so the same default works for kernels in [0, 1] and for raw features in any
unit; the chosen absolute value is stored in ``alpha_``. A fixed ``alpha`` is absolute and means
exactly what it means in :class:`sklearn.linear_model.Ridge` and
:class:`sklearn.kernel_ridge.KernelRidge`.

Intercept
---------
``fit_intercept=True`` (the default) adds an *unpenalised* constant ``b`` to the model:

* ridge: ``min ||y - X w - b||^2 + alpha ||w||^2`` -- scikit-learn's ``Ridge(fit_intercept=True)``
  (the features and the targets are centred on the training means);
* kernel ridge: ``min ||y - K c - b||^2 + alpha c^T K c``, whose solution is
  ``b = 1^T A^-1 y / 1^T A^-1 1`` (the generalised-least-squares mean, the limit of a Gaussian
  process with a flat prior on a constant offset) and ``c = A^-1 (y - b)``. With the linear kernel
  this is exactly ridge with an intercept; it is better than subtracting the plain mean of ``y``
  when the training set is clustered. ``fit_intercept=False`` gives scikit-learn's
  ``KernelRidge`` (no offset at all);
* sparse kernel ridge: ridge with an intercept on the Nyström features, which for ``n_active``
  equal to the number of samples is the kernel ridge above.
"""

from ._base import DEFAULT_ALPHAS, KERNELS
from ._cross_validation import cross_val_predict, default_train_sizes, learning_curve
from ._kernel_ridge import KernelRidgeModel, SparseKernelRidgeModel
from ._make import MODELS, make_model
from ._ridge import RidgeModel

__all__ = [
    "DEFAULT_ALPHAS",
    "KERNELS",
    "MODELS",
    "RidgeModel",
    "KernelRidgeModel",
    "SparseKernelRidgeModel",
    "make_model",
    "learning_curve",
    "cross_val_predict",
    "default_train_sizes",
]
