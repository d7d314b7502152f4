"""Charts beside the map: parity (predicted vs reference), learning curves, cluster sizes, and the
blank figure with a message shown before data exists or on errors."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .style import CATEGORICAL_COLORS, TEMPLATE, category_colors, category_label, fmt_int, is_noise, title as title_layout


def parity_figure(reference: np.ndarray, predicted: np.ndarray, *, name: str = "", names: np.ndarray | None = None,
                  index: np.ndarray | None = None) -> go.Figure:
    """Predicted against reference values (out-of-fold), with the y = x line and the RMSE.

    Points carry their map row as ``customdata[0]`` (a click shows that structure). Rows without
    a reference value are left out.

    Examples
    --------
    >>> fig = parity_figure(np.array([1.0, 2.0, np.nan]), np.array([1.5, 2.0, 0.0]), name="gap")
    >>> fig.layout.meta["rmse"], fig.layout.meta["n"]
    (0.3535533905932738, 2)
    """
    reference = np.asarray(reference, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    index = np.arange(len(reference)) if index is None else np.asarray(index)
    keep = np.isfinite(reference) & np.isfinite(predicted)
    ref, pred, rows = reference[keep], predicted[keep], index[keep]
    rmse = float(np.sqrt(np.mean((pred - ref) ** 2))) if keep.any() else float("nan")
    spread = float(np.std(ref)) if keep.any() else float("nan")
    lo, hi = (float(min(ref.min(), pred.min())), float(max(ref.max(), pred.max()))) if keep.any() else (0.0, 1.0)
    text = np.asarray(names)[keep].astype(str) if names is not None else None
    fig = go.Figure([
        go.Scattergl(x=ref, y=pred, mode="markers", name="out-of-fold", customdata=np.column_stack([rows]).tolist(), text=text,
                     marker=dict(size=5, color=CATEGORICAL_COLORS[0], opacity=0.7),
                     hovertemplate=("%{text}<br>" if text is not None else "") + "reference %{x:.4g}<br>predicted %{y:.4g}<extra></extra>"),
        go.Scattergl(x=[lo, hi], y=[lo, hi], mode="lines", name="y = x", line=dict(color="#9aa5b1", dash="dash"), hoverinfo="skip"),
    ])
    fig.update_layout(
        template=TEMPLATE, margin=dict(l=55, r=15, t=40, b=45), showlegend=False,
        title=dict(text=f"out-of-fold RMSE {rmse:.4g} (spread {spread:.4g}), {int(keep.sum()):,} points", x=0.01, font=dict(size=13)),
        xaxis=dict(title=dict(text=f"reference {name}")), yaxis=dict(title=dict(text=f"predicted {name}"), scaleanchor="x"),
        meta=dict(rmse=rmse, n=int(keep.sum())),
    )
    return fig


def learning_curve_figure(table, *, property_name: str = "", model_name: str = "") -> go.Figure:
    """RMSE against training-set size on log-log axes, test with error bars, and train.

    Parameters
    ----------
    table : pandas.DataFrame
        As returned by ``compute.models.learning_curve``: columns ``train_size``, ``rmse_train``,
        ``rmse_test``, ``rmse_test_std`` and ``mae_test`` (``rmse_train_std`` and ``mae_test_std``
        are used when present). Several rows with the same size are averaged. A vector or
        tensor target's table also has ``rmse_scalar``: a scalar model fitted to each Cartesian
        component, drawn beside the equivariant model's curve.
    property_name, model_name : str
        Used in the axis and figure titles.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"train_size": [10, 100], "rmse_train": [0.1, 0.2],
    ...                   "rmse_test": [1.0, 0.5], "rmse_test_std": [0.1, 0.05],
    ...                   "mae_test": [0.8, 0.4]})
    >>> fig = learning_curve_figure(t, property_name="energy")
    >>> fig.layout.xaxis.type, fig.layout.yaxis.type
    ('log', 'log')
    """
    import pandas as pd

    table = pd.DataFrame(table)
    missing = {"train_size", "rmse_test"} - set(table.columns)
    if missing:
        raise ValueError(f"learning_curve_figure: the table lacks column(s) {sorted(missing)}")
    if table["train_size"].duplicated().any():
        table = table.groupby("train_size", as_index=False).mean(numeric_only=True)
    table = table.sort_values("train_size")
    x = table["train_size"].to_numpy(dtype=float)

    def col(name):
        return table[name].to_numpy(dtype=float) if name in table.columns else None

    def error_bars(std):
        if std is None or not np.isfinite(std).any():
            return None
        return dict(type="data", array=np.nan_to_num(std), visible=True, thickness=1.2, width=4)

    prop = property_name or "property"
    traces = [
        go.Scatter(
            x=x, y=col("rmse_test"), mode="lines+markers", name="test RMSE",
            error_y=error_bars(col("rmse_test_std")),
            marker=dict(size=8, color=CATEGORICAL_COLORS[0]), line=dict(width=2),
            hovertemplate="n = %{x}<br>test RMSE = %{y:.4g}<extra></extra>",
        )  # fmt: skip
    ]
    if "rmse_train" in table.columns:
        traces.append(
            go.Scatter(
                x=x, y=col("rmse_train"), mode="lines+markers", name="train RMSE",
                error_y=error_bars(col("rmse_train_std")),
                marker=dict(size=7, symbol="square", color=CATEGORICAL_COLORS[1]),
                line=dict(width=1.5, dash="dash"),
                hovertemplate="n = %{x}<br>train RMSE = %{y:.4g}<extra></extra>",
            )  # fmt: skip
        )
    if "rmse_scalar" in table.columns:  # a vector/tensor target: the rotation-blind model beside it
        traces.append(
            go.Scatter(
                x=x, y=col("rmse_scalar"), mode="lines+markers", name="scalar model per Cartesian component",
                marker=dict(size=7, symbol="x", color=CATEGORICAL_COLORS[3]), line=dict(width=1.5, dash="dash"),
                hovertemplate="n = %{x}<br>scalar model test RMSE = %{y:.4g}<extra></extra>",
            )  # fmt: skip
        )
    if "mae_test" in table.columns:
        traces.append(
            go.Scatter(
                x=x, y=col("mae_test"), mode="lines+markers", name="test MAE",
                visible="legendonly", error_y=error_bars(col("mae_test_std")),
                marker=dict(size=7, symbol="diamond", color=CATEGORICAL_COLORS[2]),
                line=dict(width=1.5, dash="dot"),
                hovertemplate="n = %{x}<br>test MAE = %{y:.4g}<extra></extra>",
            )  # fmt: skip
        )
    fig = go.Figure(data=traces)
    title = "Learning curve" + (f": {model_name}" if model_name else "")
    if property_name:
        title += f" on {property_name}"
    fig.update_layout(
        template=TEMPLATE,
        title=title_layout(title),
        xaxis=dict(type="log", title=dict(text="training set size"), showgrid=True),
        yaxis=dict(type="log", title=dict(text=f"RMSE of {prop}"), showgrid=True),
        legend=dict(x=0.99, xanchor="right", y=0.99, bgcolor="rgba(255,255,255,0.7)"),
        margin=dict(l=60, r=20, t=50, b=50),
        hovermode="closest",
    )
    return fig


def cluster_sizes_figure(labels, *, title: str = "Cluster sizes") -> go.Figure:
    """Bar chart of the number of points per cluster; noise (label -1) as a separate grey bar.

    Bars carry their cluster label as ``customdata[0]`` (so a click on a bar can select that
    cluster), with the same colours as the clusters on the map (:func:`category_colors`).

    Examples
    --------
    >>> fig = cluster_sizes_figure(np.array([0, 0, 1, -1, 1, 1]))
    >>> [str(x) for x in fig.data[0].x], [int(y) for y in fig.data[0].y]
    (['0', '1', 'noise'], [2, 3, 1])
    """
    labels = np.asarray(labels)
    if labels.size == 0:
        return empty_figure("No clusters yet")
    labels = labels.astype(np.int64) if labels.dtype.kind in "biuf" else labels.astype(str)
    cats, counts = np.unique(labels, return_counts=True)
    order = sorted(range(len(cats)), key=lambda k: (is_noise(cats[k].item()), k))
    cats = [cats[k].item() for k in order]
    counts = counts[order]
    colors = category_colors(cats)
    names = np.array([category_label(c) for c in cats])
    fig = go.Figure(
        go.Bar(
            x=names, y=counts, marker=dict(color=[colors[c] for c in cats]),
            customdata=np.array(cats, dtype=object).reshape(-1, 1), text=counts,
            textposition="outside", cliponaxis=False, name="clusters",
            hovertemplate="cluster %{x}: %{y} points<extra></extra>",
        )  # fmt: skip
    )
    n_clusters = sum(1 for c in cats if not is_noise(c))
    fig.update_layout(
        template=TEMPLATE,
        title=title_layout(f"{title} ({n_clusters} clusters, {fmt_int(labels.size)} points)"),
        xaxis=dict(title=dict(text="cluster"), type="category"),
        yaxis=dict(title=dict(text="points")),
        margin=dict(l=50, r=20, t=50, b=45),
        showlegend=False,
    )
    return fig


def empty_figure(message: str = "") -> go.Figure:
    """A blank figure showing ``message`` in its middle (before data exists, or on errors).

    Examples
    --------
    >>> empty_figure("Upload a dataset").layout.annotations[0].text
    'Upload a dataset'
    """
    fig = go.Figure()
    fig.update_layout(
        template=TEMPLATE,
        xaxis=dict(visible=False),
        yaxis=dict(visible=False),
        margin=dict(l=10, r=10, t=10, b=10),
        annotations=[
            dict(
                text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                font=dict(size=15, color="#666666"),
            )  # fmt: skip
        ],
    )
    return fig
