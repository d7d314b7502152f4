"""The models by name, for the command line, the app and the cross-validation helpers."""

from __future__ import annotations

from ._kernel_ridge import KernelRidgeModel, SparseKernelRidgeModel
from ._ridge import RidgeModel

MODELS = {"ridge": RidgeModel, "krr": KernelRidgeModel, "sparse_krr": SparseKernelRidgeModel}


def make_model(name, **params):
    """Build an estimator by name: ``"ridge"``, ``"krr"`` or ``"sparse_krr"``.

    Examples
    --------
    >>> from compute.models import make_model
    >>> make_model("krr", kernel="soap", zeta=2)
    KernelRidgeModel(kernel='soap')
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: expected one of " + ", ".join(map(repr, MODELS)))
    cls = MODELS[name]
    valid = cls().get_params()
    bad = sorted(set(params) - set(valid))
    if bad:
        raise ValueError(
            f"unknown parameter(s) {', '.join(map(repr, bad))} for model {name!r}: expected some of "
            + ", ".join(sorted(valid))
        )
    return cls(**params)
