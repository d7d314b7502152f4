"""Fixtures shared by the explorer tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from explorer.panels.descriptors import compute_features
from explorer.store import Store

MOLECULES = Path(__file__).resolve().parents[2] / "sample_datasets" / "small_molecules-1000.xyz"
SMALL_HYPERS = {"cutoff": 4.0, "n_max": 4, "l_max": 3, "density_width": 0.3}
N_MOLECULES = 120


@pytest.fixture(scope="module")
def featurized_molecules(tmp_path_factory):
    """(store, dataset_state, features_state): the first 120 sample molecules, SOAP per structure
    with small hyperparameters, in a real store of their own."""
    import ase.io

    tmp = tmp_path_factory.mktemp("molecules")
    subset = tmp / f"molecules-{N_MOLECULES}.xyz"
    ase.io.write(subset, ase.io.read(MOLECULES, index=f":{N_MOLECULES}"), format="extxyz")
    store = Store(tmp / "store")
    dataset_id = store.add_dataset_file(subset)
    features_state = compute_features(store, dataset_id, SMALL_HYPERS, "structure", backend="numba")
    return store, {"id": dataset_id, "name": subset.name}, features_state


def run_callback(function, *args, triggers=()):
    """``function(*args)`` run as Dash runs a callback (fired by ``triggers``, "id.prop" each):
    returns (its outputs, what it said in the status line through ``messages.say``)."""
    import contextvars

    from dash._callback_context import context_value
    from dash._utils import AttributeDict

    from explorer.messages import STATUS

    def run():
        context = AttributeDict(triggered_inputs=[{"prop_id": t, "value": None} for t in triggers], updated_props={})
        context_value.set(context)
        result = function(*args)
        said = context.updated_props.get(STATUS, {}).get("children")
        return result, said

    return contextvars.copy_context().run(run)
