"""``map_figure`` draws the same figure as before it was split into steps.

The references are digests of figures drawn by the single-function ``map_figure`` (before the
split), one per trace and one for the layout, so a failure names the part that changed. The
digests are of a canonical form (floats to 10 significant digits, arrays with their dtype), and
the template is compared separately with plotly's own: a plotly upgrade that changes its
``plotly_white`` template does not change what ``map_figure`` draws.
"""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import plotly.io as pio
import pytest

from explorer.figures import map_figure


def canonical(value):
    """JSON-able form of a figure's plotly JSON: numpy arrays as (dtype, shape, values)."""
    if isinstance(value, np.ndarray):
        return {"dtype": value.dtype.str, "shape": list(value.shape), "values": canonical(value.tolist())}
    if isinstance(value, np.generic):
        return canonical(value.item())
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, float):
        return float(f"{value:.10g}") if math.isfinite(value) else repr(value)
    return value


def digest(value) -> str:
    text = json.dumps(canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def figure_digests(fig) -> dict:
    plain = fig.to_plotly_json()
    layout = dict(plain["layout"])
    layout.pop("template", None)
    return {"traces": [digest(t) for t in plain["data"]], "layout": digest(layout)}


def _points(n: int, dims: int) -> np.ndarray:
    """Deterministic, irregular map coordinates (no random generator involved)."""
    t = np.arange(n, dtype=float)
    columns = [np.sin(0.37 * t) * t / 50.0, np.cos(0.11 * t) + (t % 7) / 3.0, np.sin(0.05 * t) * (t % 11) / 4.0]
    return np.column_stack(columns[:dims])


def _cases() -> dict:
    n = 240
    t = np.arange(n, dtype=float)
    xy, xyz = _points(n, 2), _points(n, 3)
    energy = np.cos(0.2 * t) * 3.0 - 1.0
    energy[::9] = np.nan
    atoms = (np.arange(n) % 13 + 1).astype(np.int64)
    names = np.array([f"mol-{k}" for k in range(n)])
    elements = np.array(["C", "H", "O", "N", "S", "Cl", ""], dtype=object)[np.arange(n) % 7]
    elements[5] = None
    clusters = (np.arange(n) * 7 % 5).astype(np.int64) - 1  # -1 is noise
    many = np.array([f"formula-{k % 12}" for k in range(n)])
    positive = np.exp(0.05 * t) - 1.0  # one zero
    positive[10] = -2.0
    errors = np.sin(0.3 * t) * 0.4 + 0.1
    as_objects = np.array([None if k % 5 == 0 else float(k) / 3 for k in range(n)], dtype=object)
    big = _points(3000, 2)
    big3 = _points(3000, 3)
    big_colour = np.sin(0.01 * np.arange(3000))
    big_colour[::17] = np.nan
    return {
        "numeric 2D: NaN, names, hover, size, selection, ring, titles": dict(
            coords=xy, color=energy, color_name="energy", names=names, hover={"atoms": atoms, "energy": energy},
            size=atoms.astype(float), size_name="atoms", selected=np.array([3, 10, 50, 999]), ring=10,
            title="A map", uirevision="x", axis_titles=("first", "second"),
        ),
        "log colour with non-positive values": dict(coords=xy, color=positive, color_name="volume", log_color=True),
        "diverging errors, custom index, export": dict(
            coords=xy, color=errors, color_name="error", diverging=True, index=np.arange(n)[::-1] + 100,
            selected=np.array([100, 150]), ring=120, for_export=True, equal_aspect=True,
        ),
        "categorical strings 3D, missing, other, environments": dict(
            coords=xyz, color=many, color_name="formula", max_categories=5, equal_aspect=True,
            index=np.arange(n) + 7, index_name="environment", selected=np.array([7, 8, 30]), ring=9,
        ),
        "elements with None and empty": dict(coords=xy, color=elements, color_name="element", names=names),
        "cluster labels with noise, string hover": dict(
            coords=xy, color=clusters, color_name="cluster", hover={"element": elements, "atoms": atoms},
        ),
        "object numbers, size named as colour": dict(
            coords=xyz, color=as_objects, color_name="v", size=energy, size_name="v", title="objects",
        ),
        "boolean colour": dict(coords=xy, color=atoms > 6, color_name="big"),
        "no colour, decimated 2D with selection": dict(
            coords=big, max_points=500, selected=np.arange(0, 3000, 37), ring=2999,
        ),
        "numeric 3D decimated, no title": dict(coords=big3, color=big_colour, color_name="c", max_points=700, selected=np.array([1, 2])),
    }


#: digests of the figures drawn by the single-function map_figure (before it was split)
REFERENCE = {
    "boolean colour": {
        "traces": ["90fb85d89f21755a", "4f99f877a244242b"],
        "layout": "b0d245aec82f2987",
    },
    "categorical strings 3D, missing, other, environments": {
        "traces": ["ff854b8999af4e6f", "9c332f7444c9a130", "b0add0d45acee388", "2a00d2fdc5cbcb89", "1ff63178f2ef6fae", "f9afb63b1e1bdcc6"],
        "layout": "888532a7a2b1fafa",
    },
    "cluster labels with noise, string hover": {
        "traces": ["38ae0619e857a995", "2a8c6886613dc52a", "fe6ae525809b07bf", "603e240d226b7ded", "b8b4f1ea638e8802"],
        "layout": "325747fecfed9340",
    },
    "diverging errors, custom index, export": {
        "traces": ["8bd132043cd4bc44", "a98add706c04df5c"],
        "layout": "abef5a2df17bef38",
    },
    "elements with None and empty": {
        "traces": ["277f86c71abf9881", "e4b7990e50fc3c43", "613d6abebfc930e1", "44357cfac2f42483", "03ac54628f5bb6df", "ecb5c06a75ce093e", "caca6ae5f4cfcee4"],
        "layout": "276268f9c4934510",
    },
    "log colour with non-positive values": {
        "traces": ["60880fd02e62f3f1", "36a3063092da1c4b"],
        "layout": "d82a985193bbd208",
    },
    "no colour, decimated 2D with selection": {
        "traces": ["a3328cd6a33d5096", "879c325728d6f628"],
        "layout": "385d26599463b9d5",
    },
    "numeric 2D: NaN, names, hover, size, selection, ring, titles": {
        "traces": ["c153549f43b7098a", "760e470662f1ce33", "7a4cd7acd98bbe97"],
        "layout": "1ed806dd243debd6",
    },
    "numeric 3D decimated, no title": {
        "traces": ["bb7218661106a823", "45c0d40142cae4f3"],
        "layout": "55e97547d7a08d6f",
    },
    "object numbers, size named as colour": {
        "traces": ["e5bc871bc1f41e8a", "5b82bde3edb82adc"],
        "layout": "9625441b0ac336a2",
    },
}


@pytest.mark.parametrize("case", sorted(_cases()))
def test_map_figure_unchanged(case):
    kwargs = dict(_cases()[case])
    fig = map_figure(kwargs.pop("coords"), **kwargs)
    assert fig.layout.template.to_plotly_json() == pio.templates["plotly_white"].to_plotly_json()
    got = figure_digests(fig)
    want = REFERENCE[case]
    assert len(got["traces"]) == len(want["traces"]), [t.name for t in fig.data]
    for k, (a, b) in enumerate(zip(got["traces"], want["traces"])):
        assert a == b, f"trace {k} ({fig.data[k].name!r}) differs"
    assert got["layout"] == want["layout"], "the layout differs"
