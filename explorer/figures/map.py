"""The structure-property map: :func:`map_figure`, built in named steps.

1. :func:`_drawn_rows`: which rows are drawn (decimation keeps the selected ones);
2. :func:`_colour_values`, :func:`_size_values`: the colour and size values, checked;
3. :func:`_hover`: ``customdata`` (the row index first), the hover template and names;
4. :func:`_marker_sizes`: marker diameters (selected points larger in 3D);
5. :func:`_colour_traces`: one trace per colour group (one numeric trace, or a trace per category,
   and the grey "no value" trace), each built by :class:`_Points`;
6. :func:`_ring_trace`: the ring around the point shown in the viewer;
7. :func:`_map_layout`: title with the decimation note, legend, axes or 3D scene.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from .colouring import as_float, categories, infer_kind, is_numeric_dtype, log_ticks, missing_mask
from .decimation import decimate
from .style import (
    CATEGORICAL_COLORS,
    COLORSCALE,
    DIVERGING_COLORSCALE,
    MISSING_COLOR,
    MISSING_NAME,
    OTHER_COLOR,
    OTHER_NAME,
    TEMPLATE,
    category_colors,
    category_label,
    fmt_int,
    title as title_layout,
)

#: name of the map trace that rings the structure shown in the viewer (assets/map_interaction.js
#: finds it by this name)
RING_NAME = "shown structure"


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
        :func:`~explorer.figures.decimate`) and the figure says "showing m of n points".
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

    drawn = _drawn_rows(coords, index, selected, max_points)
    kind, cvals = _colour_values(color, color_name, color_kind, n, drawn.rows)
    size = _size_values(size, n)
    customdata, hovertemplate, text = _hover(
        index[drawn.rows], drawn.rows, n, cvals, color_name, size, size_name, hover, names, index_name,
    )  # fmt: skip
    points = _Points(
        xyz=coords[drawn.rows], customdata=customdata, hovertemplate=hovertemplate, text=text,
        sizes=_marker_sizes(size, dims, drawn), size_per_point=size is not None or dims == 3,
        selected=drawn.selected, highlight=drawn.highlight, for_export=for_export,
    )  # fmt: skip
    traces = _colour_traces(points, kind, cvals, color_name, log_color, diverging, max_categories)
    if ring is not None and np.any(index == int(ring)):
        traces.append(_ring_trace(coords[np.flatnonzero(index == int(ring))[:1]], dims, for_export))
    fig = go.Figure(data=traces)
    fig.update_layout(**_map_layout(
        n, drawn, dims, title=title, uirevision=uirevision, color_name=color_name, size=size,
        size_name=size_name, axis_titles=axis_titles, equal_aspect=equal_aspect,
    ))  # fmt: skip
    return fig


# ==================================================================================================
# the steps


@dataclass(frozen=True)
class _Drawn:
    """The rows a map draws: positions ``rows`` (sorted) of ``n``; ``selected[k]`` when the
    drawn row ``k`` is selected; ``highlight`` when there is a (non-empty) selection to show."""

    rows: np.ndarray
    n: int
    selected: np.ndarray
    highlight: bool

    @property
    def decimated(self) -> bool:
        return self.rows.size < self.n


def _drawn_rows(coords: np.ndarray, index: np.ndarray, selected, max_points: int) -> _Drawn:
    """Decimate to ``max_points`` rows, always keeping the selected ones (values of ``index``)."""
    n = coords.shape[0]
    sel_rows = None
    if selected is not None:
        selected = np.asarray(selected, dtype=np.int64).ravel()
        if index.size and np.array_equal(index, np.arange(n)):  # index == position: no search
            sel_rows = selected[(selected >= 0) & (selected < n)]
        else:
            sel_rows = np.flatnonzero(np.isin(index, selected))
    rows = decimate(coords, max_points, keep=sel_rows)
    is_sel = np.zeros(n, dtype=bool)
    if sel_rows is not None:
        is_sel[sel_rows] = True
    return _Drawn(rows=rows, n=n, selected=is_sel[rows], highlight=sel_rows is not None and bool(sel_rows.size))


def _colour_values(color, color_name: str, color_kind: str | None, n: int, rows: np.ndarray):
    """(kind, values of the drawn rows): kind is None without colour, else "numeric" (values as
    floats) or "categorical"."""
    if color is None:
        return None, None
    color = np.asarray(color)
    _check_length(color, n, "color")
    cvals = color[rows]
    kind = color_kind or infer_kind(color, color_name)
    if kind not in ("numeric", "categorical"):
        raise ValueError(f"map_figure: color_kind must be 'numeric' or 'categorical', got {kind!r}")
    if kind == "numeric":
        cvals = as_float(cvals, color_name)
    return kind, cvals


def _size_values(size, n: int) -> np.ndarray | None:
    if size is None:
        return None
    size = np.asarray(size, dtype=float)
    _check_length(size, n, "size")
    return size


def _hover(idx, rows, n, cvals, color_name, size, size_name, hover, names, index_name):
    """(customdata, hovertemplate, text) of the drawn rows: customdata is [index, colour value?,
    size value?, hover fields...]; a field already shown (by name) is not repeated."""
    fields: list[tuple[str, np.ndarray]] = []
    if cvals is not None:
        fields.append((color_name or "colour", cvals))
    if size is not None and size_name and size_name != color_name:
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
    return customdata, hovertemplate, text


def _marker_sizes(size: np.ndarray | None, dims: int, drawn: _Drawn) -> np.ndarray:
    """Marker diameter of each drawn row: by ``size``, else one default for the point count;
    selected points are larger in 3D (where plotly has no ``selectedpoints``)."""
    if size is not None:
        msize = _scale_sizes(size, dims)[drawn.rows]
    else:
        msize = np.full(drawn.rows.size, _default_marker_size(drawn.rows.size, dims))
    if dims == 3 and drawn.highlight:
        msize = np.where(drawn.selected, msize * 1.8 + 2.0, msize)
    return msize


@dataclass(frozen=True)
class _Points:
    """The drawn points' coordinates, hover data, sizes and selection, to cut traces from."""

    xyz: np.ndarray
    customdata: np.ndarray
    hovertemplate: str
    text: np.ndarray | None
    sizes: np.ndarray
    size_per_point: bool  # else one marker size per trace
    selected: np.ndarray
    highlight: bool
    for_export: bool

    @property
    def dims(self) -> int:
        return self.xyz.shape[1]

    @property
    def line(self) -> dict:
        """The marker outline: a thin white ring in 2D (overlapping points stay apart), none in 3D."""
        return dict(width=0) if self.dims == 3 else dict(width=0.3, color="rgba(255,255,255,0.6)")

    def trace(self, mask: np.ndarray, name: str, marker: dict, showlegend: bool, **extra):
        """A trace of the drawn points where ``mask``, with ``marker`` and the sizes."""
        pos = np.flatnonzero(mask)
        sizes = self.sizes[pos]
        marker = dict(marker)
        marker["size"] = sizes if self.size_per_point else float(sizes[0]) if sizes.size else 5.0
        common = dict(
            name=name,
            mode="markers",
            # a list: dcc.Graph reads click/selection customdata from gd.data, where numpy arrays stay base64
            customdata=self.customdata[pos].tolist() if pos.size else self.customdata[pos],
            hovertemplate=self.hovertemplate,
            showlegend=showlegend,
            marker=marker,
            **extra,
        )
        if self.text is not None:
            common["text"] = self.text[pos]
        xyz = self.xyz[pos]
        if self.dims == 3:
            return go.Scatter3d(x=xyz[:, 0], y=xyz[:, 1], z=xyz[:, 2], **common)
        cls = go.Scatter if self.for_export else go.Scattergl
        if self.highlight:
            common["selectedpoints"] = np.flatnonzero(self.selected[pos])
        # the styles apply whenever points get selected, here or by the browser (restyle)
        common["selected"] = dict(marker=dict(opacity=1.0))
        common["unselected"] = dict(marker=dict(opacity=0.15))
        return cls(x=xyz[:, 0], y=xyz[:, 1], **common)


def _colour_traces(points: _Points, kind, cvals, color_name, log_color, diverging, max_categories) -> list:
    """The point traces: one plain trace without colour, else by the colour's kind."""
    if kind is None:
        every = np.ones(len(points.sizes), dtype=bool)
        return [points.trace(every, "points", dict(color=CATEGORICAL_COLORS[0], line=points.line), False)]
    if kind == "numeric":
        return _numeric_traces(points, cvals, color_name, log_color, diverging)
    return _categorical_traces(points, cvals, max_categories)


def _numeric_traces(points: _Points, cvals, color_name, log_color, diverging) -> list:
    """One trace on a colour scale (with its colour bar), then the grey points without a value."""
    shown = np.log10(np.where(cvals > 0, cvals, np.nan)) if log_color else cvals
    missing = ~np.isfinite(shown)
    good = ~missing
    colorbar = dict(title=dict(text=color_name, side="right"), thickness=14, len=0.8)
    scale = DIVERGING_COLORSCALE if diverging and not log_color else COLORSCALE
    marker = dict(color=shown[good], colorscale=scale, showscale=True, line=points.line)
    if good.any():
        lo, hi = float(shown[good].min()), float(shown[good].max())
        if diverging and not log_color:  # symmetric about 0: white is 0
            lo, hi = -max(abs(lo), abs(hi)), max(abs(lo), abs(hi))
        marker.update(cmin=lo, cmax=hi)
        if log_color:
            tickvals, ticktext = log_ticks(lo, hi)
            colorbar.update(tickvals=tickvals, ticktext=ticktext)
            colorbar["title"]["text"] = f"{color_name} (log scale)".strip()
    marker["colorbar"] = colorbar
    traces = [points.trace(good, color_name or "colour", marker, False)]
    if missing.any():
        non_positive = log_color and bool(np.any(np.isfinite(cvals[missing])))
        name = f"{MISSING_NAME} / ≤ 0 (no log)" if non_positive else MISSING_NAME
        traces.append(points.trace(missing, name, dict(color=MISSING_COLOR, line=points.line), True))
    return traces


def _categorical_traces(points: _Points, cvals, max_categories) -> list:
    """A trace per category (in the legend; the rarest grouped as "other"), then the missing."""
    missing = missing_mask(cvals)
    cats, codes = categories(cvals, missing, max_categories)
    colors = category_colors(cats)
    traces = []
    for k, cat in enumerate(cats):
        label = category_label(cat)
        color_k = OTHER_COLOR if cat == OTHER_NAME and k == len(cats) - 1 else colors[cat]
        traces.append(points.trace(codes == k, label, dict(color=color_k, line=points.line), True, legendgroup=label))
    if missing.any():
        traces.append(points.trace(missing, MISSING_NAME, dict(color=MISSING_COLOR, line=points.line), True))
    return traces


def _ring_trace(xyz: np.ndarray, dims: int, for_export: bool):
    """An open circle around the point at ``xyz`` (shape (1, dims)); see also map_interaction.js."""
    common = dict(name=RING_NAME, mode="markers", hoverinfo="skip", showlegend=False)
    if dims == 3:
        return go.Scatter3d(x=xyz[:, 0], y=xyz[:, 1], z=xyz[:, 2],
                            marker=dict(symbol="circle-open", size=12, color="#111111", line=dict(width=3)), **common)
    cls = go.Scatter if for_export else go.Scattergl
    return cls(x=xyz[:, 0], y=xyz[:, 1], marker=dict(symbol="circle-open", size=20, color="#111111", line=dict(width=2.5)), **common)


def _map_layout(n: int, drawn: _Drawn, dims: int, *, title, uirevision, color_name, size, size_name,
                axis_titles, equal_aspect) -> dict:
    """The layout: title (with "showing m of n points" when decimated), legend, size legend,
    lasso-selecting 2D axes or an orbiting 3D scene."""
    full_title = title
    if drawn.decimated:
        note = f"showing {fmt_int(drawn.rows.size)} of {fmt_int(n)} points"
        full_title = f"{title}<br><sup>{note}</sup>" if title else note
    layout = dict(
        template=TEMPLATE,
        uirevision=uirevision,
        margin=dict(l=50, r=20, t=50 if full_title else 20, b=45),
        legend=dict(title=dict(text=color_name), itemsizing="constant"),
        hoverlabel=dict(namelength=-1),
        meta=dict(n_points=int(n), n_drawn=int(drawn.rows.size), decimated=bool(drawn.decimated)),
    )
    if full_title:
        layout["title"] = title_layout(full_title)
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
    return layout


# ==================================================================================================
# helpers: checks, marker sizes, hover data


def _check_length(values: np.ndarray, n: int, what: str) -> None:
    if len(values) != n:
        raise ValueError(f"map_figure: {what} has {len(values)} values for {n} points")


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


def _customdata_and_template(idx, fields, index_name, has_names):
    """``customdata`` rows [index, field values...] (floats when every field is numeric, else
    objects) and the hover template that shows them."""
    columns = [idx]
    lines = []
    if has_names:
        lines.append("<b>%{text}</b>")
    lines.append(f"{index_name}: %{{customdata[0]}}")
    numeric = True
    for k, (name, values) in enumerate(fields, start=1):
        values = np.asarray(values)
        if is_numeric_dtype(values):
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
