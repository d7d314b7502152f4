"""Learning curves and out-of-fold predictions of the tensor models."""

from __future__ import annotations

import time

import numpy as np

from ._kernel import TensorKernelRidge
from ._linear import TensorRidge, _ridge_path, take_rows
from ._spherical import _as_tensors, _in_layout

TENSOR_MODELS = {"linear": TensorRidge, "kernel": TensorKernelRidge}


def make_tensor_model(model: str, rank: int, **params) -> TensorRidge:
    """``"linear"`` (:class:`TensorRidge`) or ``"kernel"`` (:class:`TensorKernelRidge`, which
    also takes ``zeta``, ``normalize``, ``n_active``)."""
    if model not in TENSOR_MODELS:
        raise ValueError(f"model={model!r}: expected one of {sorted(TENSOR_MODELS)}")
    return TENSOR_MODELS[model](rank=rank, **params)


def _prepared(estimator: TensorRidge, frames, basis_frames):
    """``(data, fit, predict)`` for many fits on rows of ``frames`` (:func:`take_rows` of
    ``data``): the features, fitted by ``fit_features``; or, for a kernel model on active
    environments, its design against a basis chosen once among ``basis_frames``' atoms (no
    targets used), so that each fit is a ridge only."""
    species = estimator._descriptor().species_for(frames)
    n_atoms = sum(len(atoms) for atoms in basis_frames)
    if isinstance(estimator, TensorKernelRidge) and estimator.n_active_for(n_atoms) is not None:
        estimator.choose_basis(basis_frames, species)
        return estimator.design(frames), estimator.fit_design, estimator.predict_design
    estimator.species_ = species
    return estimator.features(frames, species), estimator.fit_features, estimator.predict_features


def tensor_learning_curve(frames, Y, rank: int, train_sizes, *, descriptor=None, n_test: int | None = None, per="structure",
                          random_state: int = 0, backend: str = "auto", model: str = "linear", **model_params) -> list[dict]:
    """Test RMSE (over all Cartesian components) of a tensor model (``model``: "linear" or
    "kernel", with ``model_params``) against training size, and, for comparison, of a scalar
    ridge on the λ=0 features fitted to each Cartesian component separately (a model that
    ignores how the target rotates).

    The baseline's regularisation is the best one on the test set itself: an optimistic
    baseline, so a gap in the tensor model's favour is not an artefact of tuning.

    Returns one dict per size: ``train_size``, ``rmse_test``, ``rmse_scalar``, ``target_std``,
    ``fit_seconds``, ``predict_seconds`` (from features already computed). A kernel model on
    active environments picks them once (no targets used), among the atoms of the training
    pool's structures (per atom: of every structure), so each size is one ridge fit on its
    Nyström columns.
    """
    frames = list(frames)
    T = _as_tensors(Y, rank).reshape(len(frames) if per == "structure" else -1, -1)
    n = len(T)
    order = np.random.default_rng(random_state).permutation(n)
    n_test = n_test or max(1, n // 5)
    test, pool = order[:n_test], order[n_test:]
    estimator = make_tensor_model(model, rank, descriptor=descriptor, per=per, backend=backend, random_state=random_state,
                                  **model_params)
    descriptor = estimator._descriptor()
    species = descriptor.species_for(frames)
    # once: every fit below takes its rows (a kernel's active set from the pool, never the test)
    pool_frames = [frames[k] for k in pool] if per == "structure" else frames
    data, fit, predict = _prepared(estimator, frames, pool_frames)
    test_data = take_rows(data, test)
    invariant = descriptor.compute(frames, per=per, backend=backend, species=species, selected_keys=[(0, 1)])[(0, 1)][:, 0, :]
    scale = float(np.sqrt(np.mean(np.sum(invariant ** 2, axis=1)))) or 1.0
    invariant = invariant / scale
    rows = []
    for size in train_sizes:
        train = pool[: int(size)]
        start = time.perf_counter()
        fit(take_rows(data, train), np.asarray(Y)[train])
        fitted = time.perf_counter()
        predicted = predict(test_data).reshape(len(test), -1)
        predict_seconds = time.perf_counter() - fitted
        reference = T[test]
        rmse = float(np.sqrt(np.mean((predicted - reference) ** 2)))
        # scalar baseline: each stored component on its own, rotation-blind
        best = min(float(np.sqrt(np.mean((invariant[test] @ W - T[test]) ** 2)))
                   for W in _ridge_path(invariant[train], T[train], np.logspace(-8, 1, 10)))
        rows.append({"train_size": int(size), "rmse_test": rmse, "rmse_scalar": best, "target_std": float(np.std(reference)),
                     "fit_seconds": fitted - start, "predict_seconds": predict_seconds})
    return rows


def tensor_out_of_fold(frames, Y, rank: int, *, per: str = "structure", model: str = "kernel", descriptor=None,
                       n_splits: int = 5, seed: int = 0, backend: str = "auto", **model_params) -> np.ndarray:
    """Out-of-fold predictions of a vector (``rank=1``) or symmetric-tensor (``rank=2``)
    property, for colouring a map by prediction or error: each row is predicted by a model
    fitted on the other folds only (its regularisation chosen by cross-validation inside them).

    Parameters
    ----------
    frames : structures (ASE Atoms)
    Y : (n, 3) vectors; (n, 6) xx yy zz xy xz yz or (n, 3, 3) symmetric tensors; one row per
        structure, or per atom (by structure, then atom) with ``per="atom"``. Rows with a
        non-finite component are never trained on and come back NaN.
    model : "kernel" (:class:`TensorKernelRidge`, SA-GPR) or "linear" (:class:`TensorRidge`)
    descriptor : EquivariantPowerSpectrum, optional (the model's default)
    n_splits, seed : the shuffled folds. Per atom, the folds are over structures (the atoms of one
        structure never on both sides) when there are at least ``n_splits`` structures, else over
        atoms. A row's fold depends on ``seed`` and the number of rows only, not on the targets.
    **model_params : passed to the model (e.g. ``zeta``, ``n_active``, ``alphas``). A kernel
        model on active environments (``n_active`` an int, or "auto" beyond 1,000 atoms) picks
        them once among every structure's atoms (FPS, no targets used) and reads the
        structures in batches: memory O(rows · active environments), for thousands of
        structures; the exact kernel's basis is each fold's training set.

    Returns
    -------
    array in the layout of ``Y`` (same shape).

    Examples
    --------
    >>> from ase.build import molecule
    >>> from compute.descriptors import EquivariantPowerSpectrum
    >>> frames = [molecule(name) for name in ("H2O", "NH3", "CH4", "CH3OH", "HCOOH", "CH3CHO")]
    >>> dipoles = np.array([a.get_positions().sum(0) * 0.1 for a in frames])
    >>> out = tensor_out_of_fold(frames, dipoles, 1, n_splits=3, descriptor=EquivariantPowerSpectrum(cutoff=3.0, n_max=2, l_max=1))
    >>> out.shape
    (6, 3)
    """
    frames = list(frames)
    Y = np.asarray(Y, dtype=float)
    counts = np.array([len(atoms) for atoms in frames])
    n = len(frames) if per == "structure" else int(counts.sum())
    if Y.shape[0] != n:
        raise ValueError(f"{Y.shape[0]} targets for {n} {'structures' if per == 'structure' else 'atoms'}")
    valid = np.flatnonzero(np.all(np.isfinite(Y.reshape(n, -1)), axis=1))
    if n_splits < 2:
        raise ValueError(f"n_splits must be at least 2, got {n_splits}")
    if valid.size < n_splits:
        raise ValueError(f"{valid.size} rows have a finite target: fewer than n_splits={n_splits}")
    _as_tensors(Y[valid], rank)  # the target's shape checked before any descriptor is computed
    estimator = make_tensor_model(model, rank, descriptor=descriptor, per=per, backend=backend, random_state=seed,
                                  **model_params)
    # a kernel's active environments are picked once among every structure's atoms (no targets)
    data, fit, predict = _prepared(estimator, frames, frames)
    # folds drawn over structures (per atom: the atoms of a structure together, when there are
    # enough structures) or rows, all of them, so a row's fold does not depend on which targets
    # are missing
    structure = np.arange(n) if per == "structure" else np.repeat(np.arange(len(frames)), counts)
    groups = structure if len(frames) >= n_splits else np.arange(n)
    fold_of_group = np.empty(groups.max() + 1, dtype=np.int64)
    fold_of_group[np.random.default_rng(seed).permutation(fold_of_group.size)] = np.arange(fold_of_group.size) % n_splits
    fold = fold_of_group[groups][valid]
    predicted = np.full((n, 3) if rank == 1 else (n, 3, 3), np.nan)
    for k in range(n_splits):
        train, test = valid[fold != k], valid[fold == k]
        if len(test) == 0 or len(train) == 0:
            continue
        fit(take_rows(data, train), Y[train])
        predicted[test] = predict(take_rows(data, test))
    return _in_layout(predicted, Y.shape).reshape(Y.shape)
