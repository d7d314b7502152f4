"""Tests of explorer.figures.charts (learning curves, cluster sizes, empty figures)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from explorer.figures import NOISE_COLOR, cluster_sizes_figure, empty_figure, learning_curve_figure


def serialises(fig):
    text = fig.to_json()
    assert json.loads(text)["data"] is not None
    return text


# --------------------------------------------------------------------------------------------------
# learning curves, clusters, empty


def test_learning_curve_log_log_with_error_bars(molecules, sample_map):
    from compute.models import learning_curve

    coords, energy, _, _ = sample_map
    table = learning_curve(coords, energy, model="ridge", train_sizes=[50, 100, 200, 400], n_splits=3, alpha=1e-2)
    fig = learning_curve_figure(table, property_name="formation energy", model_name="ridge")
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert "formation energy" in fig.layout.yaxis.title.text
    assert "training" in fig.layout.xaxis.title.text
    test, train = fig.data[0], fig.data[1]
    assert test.name == "test RMSE" and train.name == "train RMSE"
    assert np.allclose(np.asarray(test.x, float), table["train_size"])
    assert np.allclose(np.asarray(test.y, float), table["rmse_test"])
    assert np.allclose(np.asarray(test.error_y.array, float), table["rmse_test_std"])
    assert "ridge" in fig.layout.title.text
    serialises(fig)


def test_learning_curve_minimal_table_and_duplicates():
    table = pd.DataFrame(
        {
            "train_size": [10, 10, 100, 100],
            "rmse_train": [0.1, 0.3, 0.2, 0.2],
            "rmse_test": [1.0, 2.0, 0.5, 0.7],
            "rmse_test_std": [np.nan] * 4,
            "mae_test": [0.8, 0.8, 0.4, 0.4],
        }
    )
    fig = learning_curve_figure(table)
    assert np.allclose(np.asarray(fig.data[0].y, float), [1.5, 0.6])
    assert fig.data[0].error_y.array is None
    with pytest.raises(ValueError, match="rmse_test"):
        learning_curve_figure(pd.DataFrame({"train_size": [1]}))


def test_cluster_sizes():
    labels = np.array([0] * 5 + [1] * 3 + [-1] * 2 + [2])
    fig = cluster_sizes_figure(labels)
    bar = fig.data[0]
    assert list(bar.x) == ["0", "1", "2", "noise"]
    assert list(bar.y) == [5, 3, 1, 2]
    assert list(np.asarray(bar.customdata)[:, 0]) == [0, 1, 2, -1]
    assert bar.marker.color[-1] == NOISE_COLOR
    assert len(set(bar.marker.color[:3])) == 3
    serialises(fig)
    assert cluster_sizes_figure(np.array([], int)).layout.annotations[0].text


def test_empty_figure():
    fig = empty_figure("Upload a dataset to start")
    assert fig.layout.annotations[0].text == "Upload a dataset to start"
    assert len(fig.data) == 0 and fig.layout.xaxis.visible is False
    serialises(fig)
