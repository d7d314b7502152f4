"""The choices the app makes for its user, named once and shared by every panel.

Which model predicts a property, with which kernel and how many active points, how many folds,
how many map components, how far clustering may go: each is decided here, so the map's
"predicted" colour and the learning curve of the same property come from the same model (unless
the user picks another in the learning-curve panel), and a script gets the app's numbers by
importing them.
"""

from __future__ import annotations

from . import maps

#: folds of every cross-validation: out-of-fold predictions and learning curves
N_SPLITS = 5
#: components a map computes (the user shows 2 or 3 of them)
MAP_COMPONENTS = 4

#: active points of sparse kernel ridge (FPS-selected), as for kernel maps (Nyström)
N_ACTIVE = maps.N_ACTIVE
#: rows with a target above which "auto" predicts with sparse kernel ridge
SPARSE_KRR_ABOVE = 4_000
#: full kernel ridge on more rows than this is slow (said before a run); above KRR_MAX_ROWS refused
KRR_SLOW_ROWS = 5_000
KRR_MAX_ROWS = 20_000
MODELS = {
    "auto": f"automatic (KRR; sparse above {SPARSE_KRR_ABOVE:,} rows), as the map's prediction",
    "krr": "kernel ridge (KRR)",
    "sparse_krr": f"sparse KRR ({N_ACTIVE:,} active points)",
    "ridge": "ridge (linear)",
}


def kernel_params(soap_features: bool) -> dict:
    """The kernel of kernel models: the normalised polynomial SOAP kernel (``zeta=2``, the
    standard of the field) on SOAP features, an RBF kernel on any other features table."""
    return {"kernel": "soap", "zeta": 2} if soap_features else {"kernel": "rbf"}


def property_model(n_rows: int, soap_features: bool, model: str = "auto") -> tuple[str, dict]:
    """The model predicting a property from ``n_rows`` rows with a value, and its parameters.

    ``model``: one of :data:`MODELS`; ``"auto"`` is kernel ridge, sparse above
    :data:`SPARSE_KRR_ABOVE` rows. Each model picks its regularisation by its own internal
    cross-validation.
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}: choose one of {', '.join(MODELS.values())}")
    if model == "auto":
        model = "sparse_krr" if n_rows > SPARSE_KRR_ABOVE else "krr"
    if model == "ridge":
        return model, {}
    params = kernel_params(soap_features)
    if model == "sparse_krr":
        params["n_active"] = N_ACTIVE
    return model, params


def kernel_columns(model: str, params: dict, n_rows: int) -> int:
    """Columns of the kernel matrix ``model`` builds for ``n_rows`` rows (its memory budget)."""
    if model == "ridge":
        return 0
    return min(params.get("n_active", n_rows), n_rows) if model == "sparse_krr" else n_rows


# -- vector and tensor properties ------------------------------------------------------------------
#: the models of a whole vector or tensor property (a dipole, a polarizability), both on λ-SOAP
#: and equivariant by construction. The default (map colours and "automatic" learning curves) is
#: the linear one: on showcase.xyz's dipoles and polarizabilities, and on the synthetic set of
#: ``python -m compute.bench tensors``, it reached a lower test RMSE than SA-GPR with ζ = 2 at
#: every training size, 10-20x faster; the kernel model is one choice away in the learning panel
TENSOR_MODELS = {"kernel": "λ-SOAP kernel ridge (SA-GPR, ζ = 2)", "linear": "λ-SOAP linear ridge"}
TENSOR_MODEL = "linear"
#: λ-SOAP hyperparameters of tensor models: the features' cutoff and density width, with the
#: radial and angular resolution capped (λ-SOAP has (2λ+1) x n² x species² features per block)
TENSOR_MAX_N = 4
TENSOR_MAX_L = 3
#: active environments of the kernel model (FPS); its kernel has (2λ+1)² entries per pair
TENSOR_N_ACTIVE = 500


def tensor_descriptor(hypers: dict | None):
    """The λ-SOAP descriptor of a tensor model, from the map's SOAP hyperparameters (None:
    the defaults of ``compute.tensors``)."""
    from .descriptors import EquivariantPowerSpectrum

    hypers = hypers or {}
    return EquivariantPowerSpectrum(cutoff=float(hypers.get("cutoff", 4.0)),
                                    n_max=min(int(hypers.get("n_max", TENSOR_MAX_N)), TENSOR_MAX_N),
                                    l_max=min(int(hypers.get("l_max", TENSOR_MAX_L)), TENSOR_MAX_L),
                                    density_width=float(hypers.get("density_width", 0.4)))


def tensor_model(model: str = TENSOR_MODEL) -> tuple[str, dict]:
    """The tensor model's name and parameters for ``compute.tensors.make_tensor_model``."""
    if model not in TENSOR_MODELS:
        raise ValueError(f"unknown tensor model {model!r}: choose one of {', '.join(TENSOR_MODELS)}")
    return model, ({"zeta": 2, "n_active": TENSOR_N_ACTIVE} if model == "kernel" else {})


# -- clustering ------------------------------------------------------------------------------------
#: parameters a clustering run starts from
CLUSTER_DEFAULTS = {"n_clusters": 5, "eps": None, "min_samples": 5, "min_cluster_size": 10}
#: agglomerative clustering holds O(n²) distances: refused beyond this many points
AGGLOMERATIVE_MAX = 20_000
#: most clusters a run may ask for (each is a trace and a bar)
MAX_CLUSTERS = 200
#: above this many dimensions Gaussian mixtures use diagonal covariances (a full one per cluster
#: on thousands of SOAP features is gigabytes and d³ work)
GMM_FULL_COVARIANCE_MAX_DIM = 64
