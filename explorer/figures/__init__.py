"""Pure functions that turn arrays into plotly figures.

Every function here takes plain arrays (or an ``ase.Atoms``, or a ``pandas.DataFrame``) and
returns a :class:`plotly.graph_objects.Figure`. Nothing here imports Dash and nothing here does
numerics beyond what drawing needs (level-of-detail decimation, colour and size mapping). The
panels' callbacks call these functions and return the figure. (The 3D structure is drawn in the
browser by chemiscope's viewer: ``explorer/viewer_component.py``.)

==============================  ===================================================================
function                        draws
==============================  ===================================================================
:func:`map_figure`              the 2D/3D map (WebGL, decimated above ``max_points``, lasso selection)
:func:`parity_figure`           predicted against reference values, with the y = x line
:func:`learning_curve_figure`   RMSE vs training-set size on log-log axes with error bars
:func:`cluster_sizes_figure`    bar chart of cluster sizes (noise separate)
:func:`empty_figure`            a blank figure with a message (before data exists, or on errors)
==============================  ===================================================================

The modules, by what they do: :mod:`.style` (template, colour scales, palettes, the modebar),
:mod:`.map` (the map, with :mod:`.colouring` for its colour values and :mod:`.decimation` for
its level of detail), :mod:`.charts`
(parity, learning curve, cluster sizes, empty figures). Everything is imported from here:
``from explorer import figures; figures.map_figure(...)``.

Contract with the app: every map point's ``customdata`` starts with its row index (the structure
index, or the environment index in per-atom mode); the callbacks read ``customdata[0]``.
"""

from __future__ import annotations

from .charts import cluster_sizes_figure, empty_figure, learning_curve_figure, parity_figure
from .decimation import decimate
from .map import RING_NAME, map_figure, size_legend
from .style import (
    CATEGORICAL_COLORS,
    COLORSCALE,
    DIVERGING_COLORSCALE,
    GRAPH_CONFIG,
    MISSING_COLOR,
    MISSING_NAME,
    NOISE_COLOR,
    NOISE_NAME,
    OTHER_COLOR,
    OTHER_NAME,
    TEMPLATE,
    category_colors,
)

__all__ = [
    "CATEGORICAL_COLORS",
    "COLORSCALE",
    "DIVERGING_COLORSCALE",
    "GRAPH_CONFIG",
    "MISSING_COLOR",
    "MISSING_NAME",
    "NOISE_COLOR",
    "NOISE_NAME",
    "OTHER_COLOR",
    "OTHER_NAME",
    "RING_NAME",
    "TEMPLATE",
    "category_colors",
    "cluster_sizes_figure",
    "decimate",
    "empty_figure",
    "learning_curve_figure",
    "map_figure",
    "parity_figure",
    "size_legend",
]
