"""Fixtures shared by the compute tests."""

from __future__ import annotations

import numpy as np
import pytest


def _centred_and_scaled(d):
    """scikit-matter's shipped data, centred, X scaled to unit total variance, y standardised."""
    X = d.data.X
    y = d.data.y.reshape(len(X), -1)
    X = X - X.mean(0)
    X = X / (np.linalg.norm(X) / np.sqrt(len(X)))
    return X, (y - y.mean(0)) / y.std(0)


@pytest.fixture(scope="module", params=["csd", "nice"])
def real(request):
    """(X, y) of scikit-matter's real datasets: CSD-1000R and NICE."""
    from skmatter.datasets import load_csd_1000r, load_nice_dataset

    return _centred_and_scaled(load_csd_1000r() if request.param == "csd" else load_nice_dataset())
