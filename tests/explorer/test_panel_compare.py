"""The compare-descriptors panel's logic on a real store: GFRE/GFRD between the map's features and
another descriptor's, equal to compute.metrics on the same features."""

from __future__ import annotations

import pytest

from compute import metrics
from explorer.panels import compare
from explorer.panels.descriptors import compute_features, load_features


def test_compare_with_the_radial_spectrum(featurized_molecules, monkeypatch):
    store, _, features_state = featurized_molecules
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(store.root))
    result = compare.compare(store, features_state, "radial")
    other = compute_features(store, features_state["dataset"], features_state["hypers"], features_state["per"], descriptor="radial")
    A, _ = load_features(store, features_state)
    B, _ = load_features(store, other)
    assert result["forward"] == metrics.reconstruction_measures(A, B)
    assert result["backward"] == metrics.reconstruction_measures(B, A)
    # the power spectrum holds the radial spectrum (almost linearly), not the other way round
    assert result["forward"]["gfre"] < result["backward"]["gfre"]
    table = compare.result_table(result)
    assert "radial spectrum" in str(table) and "GFRE" in str(table)
    with pytest.raises(ValueError, match="already uses"):
        compare.compare(store, features_state, "soap")
    with pytest.raises(ValueError, match="compute the descriptors first"):
        compare.compare(store, None, "radial")
