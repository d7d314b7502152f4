"""The look shared by every figure: template, colour scales, palettes, names, titles, modebar.

The categorical colours are assigned here (:func:`category_colors`) so that a cluster has the
same colour on the map and in the cluster bar chart.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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

#: plotly modebar of every graph: no cloud upload or Chart Studio (uploads must stay private)
GRAPH_CONFIG = {
    "displaylogo": False,
    "showSendToCloud": False,
    "showEditInChartStudio": False,
    "modeBarButtonsToRemove": ["sendDataToCloud", "editInChartStudio"],
}


def title(text: str) -> dict:
    """A figure title at the top left (map, structure, learning curve, cluster sizes)."""
    return dict(text=text, x=0.01, xanchor="left", font=dict(size=14))


def fmt_int(n: int) -> str:
    return f"{int(n):,}"


def is_noise(cat) -> bool:
    """The noise cluster's label: the integer -1 (not True, not -1.0)."""
    return isinstance(cat, (int, np.integer)) and not isinstance(cat, bool) and int(cat) == -1


def category_label(cat) -> str:
    if is_noise(cat):
        return NOISE_NAME
    if isinstance(cat, (float, np.floating)) and float(cat).is_integer():
        return str(int(cat))
    return str(cat)


def category_colors(categories: Sequence) -> dict:
    """Colour of each category: noise (-1) grey, others from :data:`CATEGORICAL_COLORS` in order.

    The same mapping is used by :func:`~explorer.figures.map_figure` and
    :func:`~explorer.figures.cluster_sizes_figure`, so a cluster has the same colour in the map
    and in the bar chart.

    Examples
    --------
    >>> category_colors([0, 1, -1])
    {0: '#1f77b4', 1: '#ff7f0e', -1: '#7f7f7f'}
    """
    colors = {}
    k = 0
    for cat in categories:
        if is_noise(cat):
            colors[cat] = NOISE_COLOR
        else:
            colors[cat] = CATEGORICAL_COLORS[k % len(CATEGORICAL_COLORS)]
            k += 1
    return colors
