"""Pure functions that turn arrays into plotly figures.

Every function here takes plain arrays (or an ``ase.Atoms``, or a ``pandas.DataFrame``) and
returns a :class:`plotly.graph_objects.Figure`. Nothing here imports Dash and nothing here does
numerics beyond what drawing needs (level-of-detail decimation, colour and size mapping, sphere
meshes, the bonds to draw). The panels' callbacks call these functions and return the figure.

==========================  =======================================================================
function                    draws
==========================  =======================================================================
:func:`map_figure`          the 2D/3D map (WebGL, decimated above ``max_points``, lasso selection)
:func:`structure_figure`    one structure in 3D: atoms, bonds, unit cell, centre and cutoff sphere
:func:`learning_curve_figure`  RMSE vs training-set size on log-log axes with error bars
:func:`cluster_sizes_figure`   bar chart of cluster sizes (noise separate)
:func:`empty_figure`        a blank figure with a message (before data exists, or on errors)
==========================  =======================================================================

Contract with the app: every map point's ``customdata`` starts with its row index (the structure
index, or the environment index in per-atom mode); the callbacks read ``customdata[0]``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

__all__ = [
    "CATEGORICAL_COLORS",
    "MISSING_COLOR",
    "NOISE_COLOR",
    "category_colors",
    "cluster_sizes_figure",
    "decimate",
    "empty_figure",
    "learning_curve_figure",
    "map_figure",
    "structure_figure",
]

TEMPLATE = "plotly_white"
COLORSCALE = "Viridis"
#: for signed quantities centred on 0 (errors): blue below, red above, white at 0
DIVERGING_COLORSCALE = "RdBu_r"
#: colour of points whose colour value is missing (NaN, None, empty string, non-positive in log)
MISSING_COLOR = "#c8c8c8"
#: colour of the noise cluster (label -1)
NOISE_COLOR = "#7f7f7f"
#: qualitative palette for categories and clusters (plotly's D3 + Dark24 without greys)
CATEGORICAL_COLORS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
    "#17becf", "#2e91e5", "#e15f99", "#1ca71c", "#fb0d0d", "#da16ff", "#b68100", "#750d86",
    "#eb663b", "#511cfb", "#00a08b", "#fb00d1", "#fc0080", "#b2828d", "#6c7c32", "#778aae",
    "#862a16", "#a777f1", "#620042", "#1616a7", "#da60ca", "#6c4516", "#0d2a63", "#af0038",
)  # fmt: skip
OTHER_COLOR = "#a6a6a6"
MISSING_NAME = "no value"
NOISE_NAME = "noise"
OTHER_NAME = "other"


# ==================================================================================================
# small helpers


def _fmt_int(n: int) -> str:
    return f"{int(n):,}"


def _is_numeric_dtype(values: np.ndarray) -> bool:
    return values.dtype.kind in "biuf"


def _missing_mask(values: np.ndarray) -> np.ndarray:
    """True where a colour value is missing: NaN/inf, None, NaN objects, empty strings."""
    if values.dtype.kind in "fc":
        return ~np.isfinite(values)
    if values.dtype.kind in "biu":
        return np.zeros(values.shape, dtype=bool)
    if values.dtype.kind in "US":
        return np.char.str_len(values) == 0
    out = np.zeros(values.shape, dtype=bool)
    for k, v in enumerate(values.tolist()):
        if v is None or (isinstance(v, str) and v == ""):
            out[k] = True
        elif isinstance(v, (float, np.floating)) and not np.isfinite(v):
            out[k] = True
    return out


def category_colors(categories: Sequence) -> dict:
    """Colour of each category: noise (-1) grey, others from :data:`CATEGORICAL_COLORS` in order.

    The same mapping is used by :func:`map_figure` and :func:`cluster_sizes_figure`, so a
    cluster has the same colour in the map and in the bar chart.
    """
    colors = {}
    k = 0
    for cat in categories:
        if _is_noise(cat):
            colors[cat] = NOISE_COLOR
        else:
            colors[cat] = CATEGORICAL_COLORS[k % len(CATEGORICAL_COLORS)]
            k += 1
    return colors


def _is_noise(cat) -> bool:
    return isinstance(cat, (int, np.integer)) and not isinstance(cat, bool) and int(cat) == -1


def _category_label(cat) -> str:
    if _is_noise(cat):
        return NOISE_NAME
    if isinstance(cat, (float, np.floating)) and float(cat).is_integer():
        return str(int(cat))
    return str(cat)


def _default_marker_size(n: int, dims: int) -> float:
    if dims == 3:
        return 4.0 if n <= 2_000 else 3.0 if n <= 20_000 else 2.0
    return 7.0 if n <= 2_000 else 5.0 if n <= 20_000 else 4.0 if n <= 100_000 else 3.0


def _scale_sizes(size: np.ndarray, dims: int) -> np.ndarray:
    """Property values -> marker diameters in pixels (linear on the finite range, NaN -> smallest)."""
    lo_px, hi_px = (3.0, 14.0) if dims == 3 else (4.0, 18.0)
    size = np.asarray(size, dtype=float)
    finite = np.isfinite(size)
    out = np.full(size.shape, lo_px)
    if finite.any():
        lo, hi = float(size[finite].min()), float(size[finite].max())
        if hi > lo:
            out[finite] = lo_px + (size[finite] - lo) / (hi - lo) * (hi_px - lo_px)
        else:
            out[finite] = 0.5 * (lo_px + hi_px)
    return out


def size_legend(size: np.ndarray, name: str) -> dict:
    """An annotation under the map saying what the marker size shows: ○ smallest ... ◯ largest."""
    finite = np.asarray(size, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size:
        text = f"marker size: {name or 'value'}, ○ {finite.min():.4g} … ◯ {finite.max():.4g}"
    else:
        text = f"marker size: {name or 'value'} (no value)"
    return dict(text=text, xref="paper", yref="paper", x=1.0, y=1.0, xanchor="right", yanchor="bottom",
                showarrow=False, font=dict(size=11, color="#616e7c"), name="size legend")


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


def _log_ticks(lo: float, hi: float) -> tuple[list[float], list[str]]:
    """Ticks for a log10 colour bar, labelled in original units (1, 2, 5 x 10^k, or decades)."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return [], []
    if hi - lo < 1e-12:
        return [lo], [f"{10**lo:.3g}"]
    k0, k1 = int(np.floor(lo)), int(np.ceil(hi))
    for mantissas in ((1.0, 2.0, 5.0), (1.0,)):
        vals = [np.log10(m) + k for k in range(k0, k1 + 1) for m in mantissas]
        vals = [v for v in vals if lo - 1e-9 <= v <= hi + 1e-9]
        if len(vals) <= 8 and (len(vals) >= 2 or mantissas == (1.0,)):
            break
    if len(vals) > 8:  # many decades: every n-th decade
        step = int(np.ceil(len(vals) / 8))
        vals = vals[::step]
    if len(vals) < 2:  # less than a decade and no 1-2-5 value inside: the ends
        vals = [lo, hi]
    return vals, [f"{10**v:.3g}" for v in vals]


# ==================================================================================================
# level of detail


def decimate(
    coords: np.ndarray,
    max_points: int,
    *,
    keep: np.ndarray | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Rows to draw when there are too many: sorted row positions, at most ``max_points``.

    One point per occupied cell of a regular grid over the points' extent (so sparse regions and
    outliers stay visible), then a uniform random subset of the other rows (so dense regions keep
    their density), with a fixed seed: the result depends only on the inputs. The rows in
    ``keep`` (positions) are always kept, even if they alone exceed ``max_points``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> xy = rng.normal(size=(10_000, 2))
    >>> rows = decimate(xy, 1_000, keep=np.array([5, 7]))
    >>> len(rows), bool(np.isin([5, 7], rows).all())
    (1000, True)
    """
    coords = np.asarray(coords, dtype=float)
    n = coords.shape[0]
    keep = np.zeros(0, dtype=np.int64) if keep is None else np.unique(np.asarray(keep, np.int64))
    if n <= max_points:
        return np.arange(n)
    if keep.size >= max_points:
        return keep
    chosen = np.zeros(n, dtype=bool)
    chosen[keep] = True
    budget = max_points - keep.size

    # one representative per occupied grid cell, about half of the budget
    dims = min(coords.shape[1], 3)
    pts = np.nan_to_num(coords[:, :dims], nan=0.0, posinf=0.0, neginf=0.0)
    g = max(int((budget / 2) ** (1.0 / dims)), 1)
    lo = pts.min(axis=0)
    span = pts.max(axis=0) - lo
    span[span <= 0] = 1.0
    cell_xyz = np.minimum(((pts - lo) / span * g).astype(np.int64), g - 1)
    cell = np.zeros(n, dtype=np.int64)
    for d in range(dims):
        cell = cell * g + cell_xyz[:, d]
    # first row of each cell: with repeated indices the last assignment wins, so write backwards
    rep = np.full(g**dims, -1, dtype=np.int64)
    rep[cell[::-1]] = np.arange(n - 1, -1, -1, dtype=np.int64)
    first = rep[rep >= 0]
    first = first[~chosen[first]]
    rng = np.random.default_rng(seed)
    if first.size > budget:
        first = rng.choice(first, size=budget, replace=False)
    chosen[first] = True
    budget -= first.size

    # uniform random rows among the rest: the `budget` smallest random keys
    if budget > 0:
        keys = rng.random(n)
        keys[chosen] = np.inf
        chosen[np.argpartition(keys, budget)[:budget]] = True
    return np.flatnonzero(chosen)


# ==================================================================================================
# the map


def map_figure(
    coords: np.ndarray,
    *,
    color: np.ndarray | None = None,
    color_name: str = "",
    color_kind: str | None = None,
    log_color: bool = False,
    diverging: bool = False,
    size: np.ndarray | None = None,
    size_name: str = "",
    hover: Mapping[str, np.ndarray] | None = None,
    names: np.ndarray | None = None,
    index: np.ndarray | None = None,
    index_name: str = "structure",
    axis_titles: Sequence[str] | None = None,
    selected: np.ndarray | None = None,
    ring: int | None = None,
    max_points: int = 50_000,
    max_categories: int = 30,
    for_export: bool = False,
    equal_aspect: bool = False,
    title: str = "",
    uirevision="map",
) -> go.Figure:
    """The structure-property map: one point per row of ``coords``.

    Parameters
    ----------
    coords : array (n, 2) or (n, 3)
        Map coordinates. Two columns draw a WebGL ``Scattergl`` map (``Scatter`` when
        ``for_export``), three columns a ``Scatter3d``.
    color : array (n,), optional
        Colour values. Numeric values use a colour scale with a colour bar titled
        ``color_name``; categorical values (strings, booleans, or integer cluster labels with
        ``color_kind="categorical"``) draw one trace per category with a legend, ``-1`` being
        "noise" in grey. Missing values (NaN, None, ``""``; non-positive values when
        ``log_color``) are drawn in a grey "no value" trace, never dropped.
    color_kind : {"numeric", "categorical", None}
        None infers: numeric dtypes are numeric, except when ``color_name`` mentions "cluster";
        anything else is categorical.
    log_color : bool
        Colour by log10 of the (positive) values; the colour bar is labelled in original units,
        and the grey points are named for why ("≤ 0: no log").
    diverging : bool
        A signed quantity (an error): a diverging scale centred on 0, symmetric about it.
    size : array (n,), optional
        Marker size by a property, scaled linearly to a pixel range; NaN gets the smallest size.
    hover : mapping name -> array (n,), optional
        Extra fields shown on hover (after the name, the index and the colour value).
    names : array (n,) of str, optional
        The point's name, first line of the hover label.
    index : array (n,) of int, optional
        The row index carried as ``customdata[0]`` (default ``arange(n)``): the structure index,
        or the environment index in per-atom mode.
    index_name : str
        How the hover label calls that index ("structure", "environment").
    axis_titles : sequence of 2 or 3 str, optional
        Default ``("PC1", "PC2"[, "PC3"])``.
    selected : array of int, optional
        Selected points, as values of ``index``. They are highlighted (``selectedpoints`` in 2D,
        the others dimmed; larger markers in 3D) and are always drawn, whatever the decimation.
        None or an empty array: no highlight.
    ring : int, optional
        The point (a value of ``index``) of the structure shown in the viewer, marked with a ring:
        the last trace, named :data:`RING_NAME` (the browser moves it without a redraw, and adds
        it when the figure has none).
    max_points : int
        Above this many rows a deterministic subset of ``max_points`` rows is drawn (see
        :func:`decimate`) and the figure says "showing m of n points".
    max_categories : int
        Categorical colours with more categories than this draw the most frequent ones and group
        the rest as "other".
    for_export : bool
        Use SVG ``go.Scatter`` instead of WebGL, so the figure exports as vector graphics.
    equal_aspect : bool
        One unit on x is as long as one unit on y (2D).
    title : str
        Figure title (the decimation note is appended to it).
    uirevision
        Plotly's ``uirevision``: zoom, pan and legend state survive updates while it is unchanged.

    Returns
    -------
    plotly.graph_objects.Figure

    Examples
    --------
    >>> xy = np.array([[0.0, 1.0], [1.0, 0.5], [2.0, 0.0]])
    >>> fig = map_figure(xy, color=np.array([1.0, np.nan, 3.0]), color_name="energy")
    >>> [t.name for t in fig.data]
    ['energy', 'no value']
    >>> [int(r[0]) for t in fig.data for r in t.customdata]
    [0, 2, 1]
    """
    coords = np.asarray(coords, dtype=float)
    if coords.ndim != 2 or coords.shape[1] not in (2, 3):
        raise ValueError(f"map_figure: coords must have shape (n, 2) or (n, 3), got {coords.shape}")
    n, dims = coords.shape
    index = np.arange(n) if index is None else np.asarray(index).astype(np.int64, copy=False)
    _check_length(index, n, "index")
    if axis_titles is None:
        axis_titles = ("PC1", "PC2", "PC3")[:dims]

    # -- decimation ------------------------------------------------------------------------------
    sel_rows = None
    if selected is not None:
        selected = np.asarray(selected, dtype=np.int64).ravel()
        if index.size and np.array_equal(index, np.arange(n)):
            sel_rows = selected[(selected >= 0) & (selected < n)]
        else:
            sel_rows = np.flatnonzero(np.isin(index, selected))
    rows = decimate(coords, max_points, keep=sel_rows)
    decimated = rows.size < n
    is_sel = np.zeros(n, dtype=bool)
    if sel_rows is not None:
        is_sel[sel_rows] = True
    is_sel = is_sel[rows]

    xyz = coords[rows]
    idx = index[rows]

    # -- colour ------------------------------------------------------------------------------------
    kind = None
    cvals = None
    if color is not None:
        color = np.asarray(color)
        _check_length(color, n, "color")
        cvals = color[rows]
        kind = color_kind or _infer_kind(color, color_name)
        if kind not in ("numeric", "categorical"):
            raise ValueError(f"map_figure: color_kind must be 'numeric' or 'categorical', got {kind!r}")
        if kind == "numeric":
            cvals = _as_float(cvals, color_name)

    # -- hover fields: customdata = [index, colour value?, hover fields...] -----------------------
    fields: list[tuple[str, np.ndarray]] = []
    if cvals is not None:
        fields.append((color_name or "colour", cvals))
    if size is not None:
        size = np.asarray(size, dtype=float)
        _check_length(size, n, "size")
        if size_name and size_name != color_name:
            fields.append((size_name, size[rows]))
    shown_names = {name for name, _ in fields}
    for name, values in (hover or {}).items():
        if name in shown_names:
            continue
        values = np.asarray(values)
        _check_length(values, n, f"hover[{name!r}]")
        fields.append((name, values[rows]))
    customdata, hovertemplate = _customdata_and_template(idx, fields, index_name, names is not None)
    text = None
    if names is not None:
        names = np.asarray(names)
        _check_length(names, n, "names")
        text = names[rows].astype(str)

    # -- marker sizes ----------------------------------------------------------------------------------
    if size is not None:
        msize = _scale_sizes(size, dims)[rows]
    else:
        msize = np.full(rows.size, _default_marker_size(rows.size, dims))
    if dims == 3 and sel_rows is not None and sel_rows.size:
        msize = np.where(is_sel, msize * 1.8 + 2.0, msize)

    # -- traces --------------------------------------------------------------------------------------
    def trace(mask: np.ndarray, name: str, marker: dict, showlegend: bool, **extra):
        pos = np.flatnonzero(mask)
        sizes = msize[pos]
        marker = dict(marker)
        marker["size"] = sizes if (size is not None or dims == 3) else float(sizes[0]) if sizes.size else 5.0
        common = dict(
            name=name,
            mode="markers",
            customdata=customdata[pos].tolist() if pos.size else customdata[pos],  # a list: dcc.Graph reads click/selection customdata from gd.data, where numpy arrays stay base64
            hovertemplate=hovertemplate,
            showlegend=showlegend,
            marker=marker,
            **extra,
        )
        if text is not None:
            common["text"] = text[pos]
        if dims == 3:
            return go.Scatter3d(x=xyz[pos, 0], y=xyz[pos, 1], z=xyz[pos, 2], **common)
        cls = go.Scatter if for_export else go.Scattergl
        if sel_rows is not None and sel_rows.size:
            common["selectedpoints"] = np.flatnonzero(is_sel[pos])
        # the styles apply whenever points get selected, here or by the browser (restyle)
        common["selected"] = dict(marker=dict(opacity=1.0))
        common["unselected"] = dict(marker=dict(opacity=0.15))
        return cls(x=xyz[pos, 0], y=xyz[pos, 1], **common)

    traces = []
    line = dict(width=0) if dims == 3 else dict(width=0.3, color="rgba(255,255,255,0.6)")
    all_rows = np.ones(rows.size, dtype=bool)
    legend_title = color_name
    colorbar_title = color_name
    if kind is None:
        traces.append(trace(all_rows, "points", dict(color=CATEGORICAL_COLORS[0], line=line), False))
    elif kind == "numeric":
        shown = np.log10(np.where(cvals > 0, cvals, np.nan)) if log_color else cvals
        missing = ~np.isfinite(shown)
        good = ~missing
        colorbar = dict(title=dict(text=colorbar_title, side="right"), thickness=14, len=0.8)
        scale = DIVERGING_COLORSCALE if diverging and not log_color else COLORSCALE
        marker = dict(color=shown[good], colorscale=scale, showscale=True, line=line)
        if good.any():
            lo, hi = float(shown[good].min()), float(shown[good].max())
            if diverging and not log_color:
                lo, hi = -max(abs(lo), abs(hi)), max(abs(lo), abs(hi))
            marker.update(cmin=lo, cmax=hi)
            if log_color:
                tickvals, ticktext = _log_ticks(lo, hi)
                colorbar.update(tickvals=tickvals, ticktext=ticktext)
                colorbar["title"]["text"] = f"{colorbar_title} (log scale)".strip()
        marker["colorbar"] = colorbar
        traces.append(trace(good, color_name or "colour", marker, False))
        if missing.any():
            non_positive = log_color and bool(np.any(np.isfinite(cvals[missing])))
            name = f"{MISSING_NAME} / ≤ 0 (no log)" if non_positive else MISSING_NAME
            traces.append(trace(missing, name, dict(color=MISSING_COLOR, line=line), True))
    else:
        missing = _missing_mask(cvals)
        cats, codes = _categories(cvals, missing, max_categories)
        colors = category_colors(cats)
        for k, cat in enumerate(cats):
            mask = codes == k
            label = _category_label(cat)
            color_k = OTHER_COLOR if cat == OTHER_NAME and k == len(cats) - 1 else colors[cat]
            traces.append(trace(mask, label, dict(color=color_k, line=line), True, legendgroup=label))
        if missing.any():
            traces.append(trace(missing, MISSING_NAME, dict(color=MISSING_COLOR, line=line), True))

    if ring is not None and np.any(index == int(ring)):
        traces.append(_ring_trace(coords[np.flatnonzero(index == int(ring))[:1]], dims, for_export))
    fig = go.Figure(data=traces)

    # -- layout ------------------------------------------------------------------------------------------
    note = ""
    if decimated:
        note = f"showing {_fmt_int(rows.size)} of {_fmt_int(n)} points"
    full_title = title
    if note:
        full_title = f"{title}<br><sup>{note}</sup>" if title else note
    layout = dict(
        template=TEMPLATE,
        uirevision=uirevision,
        margin=dict(l=50, r=20, t=50 if full_title else 20, b=45),
        legend=dict(title=dict(text=legend_title), itemsizing="constant"),
        hoverlabel=dict(namelength=-1),
        meta=dict(n_points=int(n), n_drawn=int(rows.size), decimated=bool(decimated)),
    )
    if full_title:
        layout["title"] = dict(text=full_title, x=0.01, xanchor="left", font=dict(size=14))
    if size is not None:
        layout["annotations"] = [size_legend(size, size_name)]
    if dims == 2:
        layout.update(
            dragmode="lasso",
            xaxis=dict(title=dict(text=axis_titles[0]), zeroline=False),
            yaxis=dict(title=dict(text=axis_titles[1]), zeroline=False),
        )
        if equal_aspect:
            layout["yaxis"].update(scaleanchor="x", scaleratio=1)
    else:
        axis = dict(backgroundcolor="white", gridcolor="#e5e5e5", zerolinecolor="#cccccc")
        layout["scene"] = dict(
            xaxis=dict(title=dict(text=axis_titles[0]), **axis),
            yaxis=dict(title=dict(text=axis_titles[1]), **axis),
            zaxis=dict(title=dict(text=axis_titles[2]), **axis),
            dragmode="orbit",
            aspectmode="data" if equal_aspect else "cube",
        )
    fig.update_layout(**layout)
    return fig


#: plotly modebar of every graph: no cloud upload or Chart Studio (uploads must stay private)
GRAPH_CONFIG = {
    "displaylogo": False,
    "showSendToCloud": False,
    "showEditInChartStudio": False,
    "modeBarButtonsToRemove": ["sendDataToCloud", "editInChartStudio"],
}

#: name of the map trace that rings the structure shown in the viewer
RING_NAME = "shown structure"


def _ring_trace(xyz: np.ndarray, dims: int, for_export: bool):
    """An open circle around the point at ``xyz`` (shape (1, dims)); see also map_interaction.js."""
    common = dict(name=RING_NAME, mode="markers", hoverinfo="skip", showlegend=False)
    if dims == 3:
        return go.Scatter3d(x=xyz[:, 0], y=xyz[:, 1], z=xyz[:, 2],
                            marker=dict(symbol="circle-open", size=12, color="#111111", line=dict(width=3)), **common)
    cls = go.Scatter if for_export else go.Scattergl
    return cls(x=xyz[:, 0], y=xyz[:, 1], marker=dict(symbol="circle-open", size=20, color="#111111", line=dict(width=2.5)), **common)


def _check_length(values: np.ndarray, n: int, what: str) -> None:
    if len(values) != n:
        raise ValueError(f"map_figure: {what} has {len(values)} values for {n} points")


def _infer_kind(color: np.ndarray, color_name: str) -> str:
    if color.dtype.kind == "b":
        return "categorical"
    if _is_numeric_dtype(color):
        if color.dtype.kind in "iu" and "cluster" in color_name.lower():
            return "categorical"
        return "numeric"
    if color.dtype.kind == "O":
        try:
            color.astype(float)
        except (TypeError, ValueError):
            return "categorical"
        return "numeric"
    return "categorical"


def _as_float(values: np.ndarray, name: str) -> np.ndarray:
    if values.dtype.kind == "O":
        out = np.array([np.nan if v is None else v for v in values.tolist()], dtype=object)
        return out.astype(float)
    try:
        return values.astype(float)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"map_figure: colour property {name!r} is not numeric; use color_kind='categorical'"
        ) from err


def _categories(values: np.ndarray, missing: np.ndarray, max_categories: int):
    """Sorted categories (noise last, 'other' after) and a code per point (-1 for missing)."""
    present = values[~missing]
    if present.dtype.kind == "O":
        # mixed objects: compare as strings, but keep ints as ints (cluster labels)
        if all(isinstance(v, (int, np.integer)) for v in present.tolist()):
            present = present.astype(np.int64)
            values = np.where(missing, 0, values).astype(np.int64)
        else:
            present = present.astype(str)
            values = values.astype(str)
    cats, inverse, counts = np.unique(present, return_inverse=True, return_counts=True)
    cats = list(cats.tolist())
    codes_present = inverse.ravel()
    # noise last
    order = sorted(range(len(cats)), key=lambda k: (_is_noise(cats[k]), 0))
    if len(cats) > max_categories:
        top = sorted(np.argsort(-counts, kind="stable")[: max_categories - 1].tolist())
        top = sorted(top, key=lambda k: (_is_noise(cats[k]), k))
        remap = np.full(len(cats), len(top), dtype=np.int64)
        remap[top] = np.arange(len(top))
        new_cats = [cats[k] for k in top] + [OTHER_NAME]
    else:
        remap = np.empty(len(cats), dtype=np.int64)
        remap[order] = np.arange(len(cats))
        new_cats = [cats[k] for k in order]
    codes = np.full(values.shape[0], -1, dtype=np.int64)
    codes[~missing] = remap[codes_present]
    return new_cats, codes


def _customdata_and_template(idx, fields, index_name, has_names):
    columns = [idx]
    lines = []
    if has_names:
        lines.append("<b>%{text}</b>")
    lines.append(f"{index_name}: %{{customdata[0]}}")
    numeric = True
    for k, (name, values) in enumerate(fields, start=1):
        values = np.asarray(values)
        if _is_numeric_dtype(values):
            fmt = ":.4~g" if values.dtype.kind == "f" else ""
            # plotly's d3-format: ".4~g" trims trailing zeros
            lines.append(f"{name}: %{{customdata[{k}]{fmt}}}")
        else:
            numeric = False
            lines.append(f"{name}: %{{customdata[{k}]}}")
        columns.append(values)
    if numeric:
        if len(columns) == 1:
            customdata = np.asarray(idx, dtype=np.int64).reshape(-1, 1)
        else:
            customdata = np.column_stack([np.asarray(c, dtype=float) for c in columns])
    else:
        customdata = np.empty((len(idx), len(columns)), dtype=object)
        customdata[:, 0] = np.asarray(idx, dtype=np.int64).tolist()
        for k, c in enumerate(columns[1:], start=1):
            customdata[:, k] = np.asarray(c).tolist()
    template = "<br>".join(lines) + "<extra>%{fullData.name}</extra>"
    return customdata, template


# ==================================================================================================
# structure viewer

#: atoms up to this count are drawn as shaded sphere meshes; above it, as markers
MAX_MESH_ATOMS = 500
#: sphere radius of an atom, as a fraction of its covalent radius (ball-and-stick look)
ATOM_RADIUS_SCALE = 0.5
#: two atoms are bonded when closer than this times the sum of their covalent radii
BOND_TOLERANCE = 1.2
_LIGHTING = dict(ambient=0.7, diffuse=0.55, specular=0.25, roughness=0.5, fresnel=0.1)
_LIGHTPOSITION = dict(x=1000, y=1500, z=2500)


def unit_sphere(subdivisions: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (v, 3) and triangles (f, 3) of an icosphere of radius 1.

    ``subdivisions`` 0, 1, 2, 3 give 12, 42, 162, 642 vertices.
    """
    t = (1.0 + 5.0**0.5) / 2.0
    verts = [
        (-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t),
        (0, -1, -t), (0, 1, -t), (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1),
    ]  # fmt: skip
    faces = [
        (0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4),
        (11, 10, 2), (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8),
        (3, 8, 9), (4, 9, 5), (2, 4, 11), (6, 2, 10), (8, 6, 7), (9, 8, 1),
    ]  # fmt: skip
    v = np.array(verts, dtype=float)
    f = np.array(faces, dtype=np.int64)
    for _ in range(subdivisions):
        edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
        uniq, inverse = np.unique(edges, axis=0, return_inverse=True)
        inverse = inverse.ravel()
        mid = v.shape[0] + inverse.reshape(3, -1).T  # midpoints of edges (01, 12, 20) per face
        v = np.concatenate([v, 0.5 * (v[uniq[:, 0]] + v[uniq[:, 1]])])
        a, b, c = f.T
        ab, bc, ca = mid.T
        f = np.concatenate(
            [np.stack(s, axis=1) for s in ((a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca))]
        )
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v, f


def _spheres_mesh(centers: np.ndarray, radii: np.ndarray, subdivisions: int):
    """One mesh holding a sphere per centre: (vertices, faces, atom of each vertex)."""
    sv, sf = unit_sphere(subdivisions)
    m = centers.shape[0]
    verts = (centers[:, None, :] + radii[:, None, None] * sv[None, :, :]).reshape(-1, 3)
    faces = (sf[None, :, :] + (np.arange(m) * sv.shape[0])[:, None, None]).reshape(-1, 3)
    owner = np.repeat(np.arange(m), sv.shape[0])
    return verts, faces, owner


def _rgb(color) -> str:
    r, g, b = (int(round(255 * float(c))) for c in color[:3])
    return f"rgb({r},{g},{b})"


def _cell_edges(cell: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The 12 edges of the parallelepiped spanned by ``cell`` rows (zero-length ones dropped)."""
    a, b, c = np.asarray(cell, dtype=float)
    o = np.zeros(3)
    edges = []
    for u, v, w in ((a, b, c), (b, c, a), (c, a, b)):
        for start in (o, v, w, v + w):
            edges.append((start, start + u))
    edges = [(p, q) for p, q in edges if np.linalg.norm(q - p) > 1e-8]
    unique = []
    for p, q in edges:
        if not any(np.allclose(p, p2) and np.allclose(q, q2) for p2, q2 in unique):
            unique.append((p, q))
    return unique


def _segments(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, ...]:
    """x, y, z arrays of line segments separated by NaN gaps (one Scatter3d lines trace)."""
    k = starts.shape[0]
    pts = np.full((3 * k, 3), np.nan)
    pts[0::3] = starts
    pts[1::3] = ends
    return pts[:, 0], pts[:, 1], pts[:, 2]


def structure_bonds(atoms, tolerance: float = BOND_TOLERANCE) -> tuple[np.ndarray, np.ndarray]:
    """Directed bonds ``(i, D)``: atom ``i`` is bonded to the atom at ``positions[i] + D``.

    Pairs closer than ``tolerance`` times the sum of covalent radii, with periodic images
    (:func:`compute.systems.covalent_bonds`); each bond appears once from each end, so drawing
    the half ``positions[i] -> positions[i] + D / 2`` for every entry draws each bond inside the
    cell whole (half in the colour of each atom) and a bond across the cell boundary as a stub
    leaving each atom towards its partner's image.
    """
    from compute.systems import covalent_bonds

    return covalent_bonds(atoms, tolerance)


@functools.lru_cache(maxsize=1)
def _structure_template() -> go.layout.Template:
    """The few parts of the app's template a 3D view uses (its axes are hidden): building the
    whole template into every structure figure took ~50 ms per click and 6.5 kB of JSON."""
    white = pio.templates[TEMPLATE].layout
    return go.layout.Template(layout=dict(font=white.font, hoverlabel=white.hoverlabel, paper_bgcolor="white",
                                          colorway=white.colorway))


def structure_figure(
    atoms,
    *,
    center: int | None = None,
    cutoff: float | None = None,
    atom_color: np.ndarray | None = None,
    atom_color_name: str = "",
    title: str = "",
    max_mesh_atoms: int = MAX_MESH_ATOMS,
    uirevision=None,
) -> go.Figure:
    """A 3D view of one structure: atoms, bonds, unit cell; centre atom and cutoff sphere.

    Parameters
    ----------
    atoms : ase.Atoms
    center : int, optional
        Per-atom mode: the atom at the centre of the environment, drawn with a dark ring and,
        when ``cutoff`` is given, a translucent sphere of radius ``cutoff`` around it.
    cutoff : float, optional
        Radius of the cutoff sphere, in Å.
    atom_color : array (n_atoms,), optional
        A per-atom property: atoms are coloured by it with a colour bar titled
        ``atom_color_name`` (atoms with NaN are grey). By default atoms have Jmol colours.
    title : str
    max_mesh_atoms : int
        Up to this many atoms are drawn as shaded spheres (``Mesh3d``, radius proportional to
        the covalent radius); above it, as markers (``Scatter3d``), which stays fast.
    uirevision
        Keep the camera while this value is unchanged (None: reset for every structure).

    Returns
    -------
    plotly.graph_objects.Figure
        Traces: one per element (named by the symbol, in the legend; ``customdata`` of each
        vertex or marker is its atom index), "bonds" (line segments, half in each atom's
        colour), "unit cell" (periodic structures only), "centre atom" and "cutoff sphere"
        (per-atom mode).

    Examples
    --------
    >>> from ase.build import molecule
    >>> fig = structure_figure(molecule("CH4"))
    >>> sorted(t.name for t in fig.data if t.meta and t.meta.get("kind") == "atoms")
    ['C', 'H']
    """
    from ase.data import chemical_symbols, covalent_radii
    from ase.data.colors import jmol_colors

    n = len(atoms)
    pos = np.asarray(atoms.positions, dtype=float)
    numbers = np.asarray(atoms.numbers)
    symbols = np.array([chemical_symbols[z] for z in numbers])
    use_mesh = n <= max_mesh_atoms
    traces = []

    values = None
    if atom_color is not None:
        values = np.asarray(atom_color, dtype=float).ravel()
        if values.shape[0] != n:
            raise ValueError(
                f"structure_figure: atom_color has {values.shape[0]} values for {n} atoms"
            )
    has_values = values is not None and np.isfinite(values).any()
    cmin = cmax = None
    if has_values:
        cmin, cmax = float(np.nanmin(values)), float(np.nanmax(values))
        if cmax <= cmin:
            cmin, cmax = cmin - 0.5, cmax + 0.5

    def hover_text(rows):
        text = [f"<b>{symbols[a]}</b> atom {a}" for a in rows]
        if values is not None:
            name = atom_color_name or "value"
            text = [f"{t}<br>{name}: {values[a]:.4g}" for t, a in zip(text, rows)]
        return np.array(text)

    # -- atoms: one trace per element (and per "has a value") ---------------------------------------
    groups = []
    for z in sorted(set(numbers.tolist()), key=lambda z: (z == 1, z)):
        rows = np.flatnonzero(numbers == z)
        if has_values:
            finite = np.isfinite(values[rows])
            groups.append((z, rows[finite], True))
            if (~finite).any():
                groups.append((z, rows[~finite], False))
        else:
            groups.append((z, rows, False))
    # sphere detail: 162 vertices per atom up to 150 atoms (smooth at any zoom; a finer mesh made a
    # small molecule's figure 1 MB, slow to send and to draw), 42 above
    subdivisions = 2 if n <= 150 else 1
    first_scale = True
    for z, rows, colored in groups:
        if rows.size == 0:
            continue
        symbol = chemical_symbols[z]
        element_color = _rgb(jmol_colors[z])
        if values is not None and not colored:
            element_color = MISSING_COLOR
        radius = ATOM_RADIUS_SCALE * covalent_radii[z]
        meta = dict(kind="atoms", element=symbol, atoms=rows.tolist())
        showscale = colored and first_scale
        if colored:
            first_scale = False
        if use_mesh:
            verts, faces, owner = _spheres_mesh(pos[rows], np.full(rows.size, radius), subdivisions)
            atom_of_vertex = rows[owner]
            mesh = dict(
                x=verts[:, 0], y=verts[:, 1], z=verts[:, 2],
                i=faces[:, 0], j=faces[:, 1], k=faces[:, 2],
                name=symbol, legendgroup=symbol, showlegend=True,
                customdata=atom_of_vertex,
                flatshading=False, lighting=_LIGHTING, lightposition=_LIGHTPOSITION,
                meta=meta,
            )  # fmt: skip
            if values is None:  # the atom's number from customdata: no text per vertex to send
                mesh.update(hovertemplate=f"<b>{symbol}</b> atom %{{customdata}}<extra></extra>")
            else:
                mesh.update(text=hover_text(rows)[owner], hovertemplate="%{text}<extra></extra>")
            if colored:
                mesh.update(
                    intensity=values[atom_of_vertex], intensitymode="vertex",
                    coloraxis="coloraxis", showscale=showscale,
                )  # fmt: skip
            else:
                mesh.update(color=element_color, showscale=False)
            traces.append(go.Mesh3d(**mesh))
        else:
            px = (2.0 + 6.0 * covalent_radii[z]) * float(np.clip((500.0 / n) ** (1 / 3), 0.4, 1.0))
            marker = dict(size=px, line=dict(width=0.5, color="#444444"), opacity=1.0)
            if colored:
                marker.update(color=values[rows], coloraxis="coloraxis")
            else:
                marker.update(color=element_color)
            traces.append(
                go.Scatter3d(
                    x=pos[rows, 0], y=pos[rows, 1], z=pos[rows, 2], mode="markers",
                    name=symbol, legendgroup=symbol, customdata=rows,
                    text=hover_text(rows), hovertemplate="%{text}<extra></extra>",
                    marker=marker, meta=meta,
                )  # fmt: skip
            )

    # -- bonds: half in the colour of each end ------------------------------------------------------
    bond_i, bond_d = structure_bonds(atoms)
    n_bonds = bond_i.size // 2
    if bond_i.size:
        starts = pos[bond_i]
        ends = starts + 0.5 * bond_d
        first = True
        for z in sorted(set(numbers[bond_i].tolist())):
            sel = numbers[bond_i] == z
            color = _rgb(jmol_colors[z]) if values is None else "#8a8a8a"
            x, y, zz = _segments(starts[sel], ends[sel])
            traces.append(
                go.Scatter3d(
                    x=x, y=y, z=zz, mode="lines", name="bonds", legendgroup="bonds",
                    showlegend=first, hoverinfo="skip",
                    line=dict(color=color, width=7 if n <= 200 else 4),
                    meta=dict(kind="bonds", n_bonds=int(n_bonds), n_halves=int(sel.sum())),
                )  # fmt: skip
            )
            first = False

    # -- unit cell -----------------------------------------------------------------------------------
    if atoms.pbc.any() and np.abs(atoms.cell.array).sum() > 0:
        edges = _cell_edges(atoms.cell.array)
        x, y, zz = _segments(np.array([p for p, _ in edges]), np.array([q for _, q in edges]))
        traces.append(
            go.Scatter3d(
                x=x, y=y, z=zz, mode="lines", name="unit cell", hoverinfo="skip",
                line=dict(color="#333333", width=2), meta=dict(kind="cell", n_edges=len(edges)),
            )  # fmt: skip
        )

    # -- per-atom mode: centre and cutoff sphere --------------------------------------------------------
    if center is not None:
        center = int(center)
        if not 0 <= center < n:
            raise ValueError(f"structure_figure: center {center} is not an atom index (0..{n - 1})")
        c = pos[center]
        traces.append(
            go.Scatter3d(
                x=[c[0]], y=[c[1]], z=[c[2]], mode="markers", name="centre atom",
                customdata=[center], text=hover_text([center]),
                hovertemplate="centre: %{text}<extra></extra>",
                marker=dict(size=26 if use_mesh else 18, symbol="circle-open", color="#111111",
                            line=dict(width=4, color="#111111")),
                meta=dict(kind="center", atom=center),
            )  # fmt: skip
        )
        if cutoff is not None and cutoff > 0:
            sv, sf = unit_sphere(3)
            verts = c + float(cutoff) * sv
            traces.append(
                go.Mesh3d(
                    x=verts[:, 0], y=verts[:, 1], z=verts[:, 2],
                    i=sf[:, 0], j=sf[:, 1], k=sf[:, 2],
                    name=f"cutoff sphere ({float(cutoff):g} Å)", color="#4f8fd6", opacity=0.15,
                    hoverinfo="skip", showlegend=True, flatshading=False,
                    lighting=dict(ambient=0.8, diffuse=0.3, specular=0.1),
                    meta=dict(kind="cutoff", radius=float(cutoff), center=c.tolist()),
                )  # fmt: skip
            )

    fig = go.Figure(data=traces)
    hidden = dict(visible=False, showbackground=False, showgrid=False, zeroline=False)
    layout = dict(
        template=_structure_template(),
        paper_bgcolor="white",
        # the legend sits in a strip below the view, so it never covers atoms
        margin=dict(l=0, r=0, t=40 if title else 0, b=30),
        scene=dict(
            domain=dict(y=[0.08, 1.0]),
            xaxis=hidden, yaxis=hidden, zaxis=hidden, aspectmode="data",
            bgcolor="white", dragmode="orbit",
            camera=dict(projection=dict(type="orthographic"), eye=dict(x=1.7, y=1.1, z=0.7)),
        ),  # fmt: skip
        legend=dict(itemsizing="constant", orientation="h", x=0.0, y=0.0, yanchor="top", bgcolor="rgba(255,255,255,0.7)"),
        uirevision=uirevision,
        meta=dict(n_atoms=int(n), n_bonds=int(n_bonds), mode="mesh" if use_mesh else "markers"),
    )
    if title:
        layout["title"] = dict(text=title, x=0.01, xanchor="left", font=dict(size=14))
    if has_values:
        layout["coloraxis"] = dict(
            colorscale=COLORSCALE, cmin=cmin, cmax=cmax,
            colorbar=dict(title=dict(text=atom_color_name, side="right"), thickness=14, len=0.7),
        )  # fmt: skip
    fig.update_layout(**layout)
    return fig


# ==================================================================================================
# learning curves, clusters, empty


def learning_curve_figure(table, *, property_name: str = "", model_name: str = "") -> go.Figure:
    """RMSE against training-set size on log-log axes, test with error bars, and train.

    Parameters
    ----------
    table : pandas.DataFrame
        As returned by ``compute.models.learning_curve``: columns ``train_size``, ``rmse_train``,
        ``rmse_test``, ``rmse_test_std`` and ``mae_test`` (``rmse_train_std`` and ``mae_test_std``
        are used when present). Several rows with the same size are averaged.
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
        title=dict(text=title, x=0.01, xanchor="left", font=dict(size=14)),
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
    order = sorted(range(len(cats)), key=lambda k: (_is_noise(cats[k].item()), k))
    cats = [cats[k].item() for k in order]
    counts = counts[order]
    colors = category_colors(cats)
    names = np.array([_category_label(c) for c in cats])
    fig = go.Figure(
        go.Bar(
            x=names, y=counts, marker=dict(color=[colors[c] for c in cats]),
            customdata=np.array(cats, dtype=object).reshape(-1, 1), text=counts,
            textposition="outside", cliponaxis=False, name="clusters",
            hovertemplate="cluster %{x}: %{y} points<extra></extra>",
        )  # fmt: skip
    )
    n_clusters = sum(1 for c in cats if not _is_noise(c))
    fig.update_layout(
        template=TEMPLATE,
        title=dict(
            text=f"{title} ({n_clusters} clusters, {_fmt_int(labels.size)} points)",
            x=0.01, xanchor="left", font=dict(size=14),
        ),  # fmt: skip
        xaxis=dict(title=dict(text="cluster"), type="category"),
        yaxis=dict(title=dict(text="points")),
        margin=dict(l=50, r=20, t=50, b=45),
        showlegend=False,
    )
    return fig


def empty_scene_figure() -> go.Figure:
    """An empty 3D scene, laid out as :func:`structure_figure`: drawn (invisibly) when the page
    opens, so the first structure shown reuses a ready WebGL scene.

    Examples
    --------
    >>> empty_scene_figure().data[0].type
    'scatter3d'
    """
    import ase

    layout = structure_figure(ase.Atoms("H", positions=[[0.0, 0.0, 0.0]])).layout
    layout.update(title=None, meta=None)
    return go.Figure(data=[go.Scatter3d(x=[], y=[], z=[], mode="markers", showlegend=False, hoverinfo="skip")], layout=layout)


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
