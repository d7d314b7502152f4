"""Browser-test helpers: read the map from plotly's ``_fullData``, drive it with the real mouse and
keyboard, pick options in Dash 4 dropdowns, and a second app instance with its own data folder.

Plotly 6+ sends numpy arrays base64-encoded, so everything here reads the *decoded* arrays of the
graph div (``gd._fullData``), never ``gd.data``. The map is driven as a person drives it:
``page.mouse`` clicks at a point's pixel position (``_fullLayout.xaxis.l2p(x) + _size.l`` plus the
div's offset), lassos and boxes are mouse drags, the drag mode is picked on the modebar. Nothing
here emits plotly events or writes a store: that skipped plotly's own selection handling and hid
real bugs (a redraw clearing every lasso selection).
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Error as PlaywrightError


def _shared_conftest():
    """tests/conftest.py as a module (its start_app/stop_app), whatever pytest's import mode."""
    path = Path(__file__).resolve().parent.parent / "conftest.py"
    spec = importlib.util.spec_from_file_location("_explorer_tests_shared", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_shared = _shared_conftest()
REPO_ROOT, start_app, stop_app = _shared.REPO_ROOT, _shared.start_app, _shared.stop_app

SAMPLE_XYZ = REPO_ROOT / "sample_datasets" / "small_molecules-1000.xyz"
DATA = REPO_ROOT / "tests" / "data"
N_SAMPLE = 985
#: background jobs run in other processes on 2 shared cores: be generous
JOB_TIMEOUT_MS = 180_000

GRAPH = "#map-graph .js-plotly-plot"

# (count, indices, title, traces) of the drawn map; indices are customdata[0] of every point
_MAP_INFO = """() => {
    const gd = document.querySelector('%s');
    if (!gd || !gd._fullData) { return null; }
    const indices = [];
    const traces = [];
    gd._fullData.forEach((t, k) => {
        if (t.name === 'shown structure') { return; }  // the ring around the viewer's structure
        const n = t.x ? t.x.length : 0;
        const cd = t.customdata || [];
        for (let i = 0; i < n; i++) { indices.push(cd[i] ? Number(cd[i][0]) : null); }
        const m = t.marker || {};
        const cb = m.colorbar && m.showscale ? m.colorbar.title.text : null;
        traces.push({
            type: t.type, name: t.name, n: n,
            x: Array.from(t.x || []), y: Array.from(t.y || []),
            color: Array.isArray(m.color) || ArrayBuffer.isView(m.color) ? Array.from(m.color) : m.color,
            colorbar: cb,
        });
    });
    const title = gd._fullLayout && gd._fullLayout.title ? gd._fullLayout.title.text : '';
    return {count: indices.length, indices: indices, title: title || '', traces: traces};
}""" % GRAPH


# [row, x, y] page pixels of every point of a 2D map
_PIXELS = """() => {
    const gd = document.querySelector('%s');
    if (!gd || !gd._fullLayout || !gd._fullLayout.xaxis || !gd._fullData.length || gd._fullData[0].type === 'scatter3d') { return null; }
    const box = gd.getBoundingClientRect();
    const fl = gd._fullLayout;
    const out = [];
    gd._fullData.forEach((t) => {
        if (t.name === 'shown structure') { return; }
        const cd = t.customdata || [];
        for (let i = 0; i < (t.x ? t.x.length : 0); i++) {
            if (!cd[i]) { continue; }
            out.push([Number(cd[i][0]), box.left + fl._size.l + fl.xaxis.l2p(t.x[i]), box.top + fl._size.t + fl.yaxis.l2p(t.y[i])]);
        }
    });
    return out;
}""" % GRAPH

_RING = """() => {
    const gd = document.querySelector('%s');
    if (!gd || !gd._fullData) { return null; }
    const t = gd._fullData.find((t) => t.name === 'shown structure');
    if (!t || !t.x || !t.x.length) { return null; }
    const box = gd.getBoundingClientRect();
    const fl = gd._fullLayout;
    return [box.left + fl._size.l + fl.xaxis.l2p(t.x[0]), box.top + fl._size.t + fl.yaxis.l2p(t.y[0])];
}""" % GRAPH


def _inside_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd rule: which of ``points`` (n, 2) lie inside ``polygon`` (m, 2)."""
    x, y = points[:, 0:1], points[:, 1:2]
    x0, y0 = polygon[:, 0], polygon[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    crosses = ((y0 > y) != (y1 > y)) & (x < (x1 - x0) * (y - y0) / np.where(y1 == y0, 1e-300, y1 - y0) + x0)
    return crosses.sum(axis=1) % 2 == 1


def _distance_to_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Distance of each point to the nearest edge of the closed polygon."""
    a = polygon[None, :, :]
    b = np.roll(polygon, -1, axis=0)[None, :, :]
    p = points[:, None, :]
    ab = b - a
    t = np.clip(((p - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0, 1)
    closest = a + t[..., None] * ab
    return np.hypot(*(p - closest).transpose(2, 0, 1)).min(axis=1)


class AppPage:
    """One browser page of the explorer with map helpers."""

    def __init__(self, page, url: str):
        self.page = page
        self.url = url
        # the browser's errors and failed requests, said in a failing test's message
        self.errors: list[str] = []
        page.on("console", lambda message: self.errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    # -- navigation -------------------------------------------------------------------------------
    def open(self) -> float:
        """Load the page; return the seconds from navigation to a drawn map."""
        start = time.perf_counter()
        self.page.goto(self.url)
        self.wait_for_map(lambda info: info["count"] > 0)
        return time.perf_counter() - start

    # -- the map ----------------------------------------------------------------------------------
    def map_info(self) -> dict | None:
        """The drawn map (None while there is none, or while the page navigates: loading a
        settings file opens its view as a new page)."""
        try:
            return self.page.evaluate(_MAP_INFO)
        except PlaywrightError as error:
            if "context was destroyed" in str(error) or "navigat" in str(error):
                return None
            raise

    def wait_for_map(self, predicate, timeout_ms: int = JOB_TIMEOUT_MS, what: str = "the map") -> dict:
        """Poll the drawn map until ``predicate(info)`` holds; fail with the last state seen."""
        deadline = time.monotonic() + timeout_ms / 1000
        info = None
        while time.monotonic() < deadline:
            info = self.map_info()
            if info is not None and info["count"] > 0 and predicate(info):
                return info
            self.page.wait_for_timeout(200)
        summary = None if info is None else {k: info[k] for k in ("count", "title")}
        status = self.status()
        raise AssertionError(f"{what} did not appear within {timeout_ms / 1000:.0f} s; last map {summary}, status {status!r}, "
                             f"browser errors {self.errors[-5:]!r}")

    def pixels(self) -> dict[int, tuple[float, float]]:
        """customdata[0] -> (x, y) page pixel of every point of the 2D map."""
        found = self.page.evaluate(_PIXELS)
        assert found is not None, "no 2D map drawn"
        return {int(k): (x, y) for k, x, y in found}

    def ring(self) -> tuple[float, float] | None:
        """Page pixel of the ring marking the structure shown in the viewer (None: no ring)."""
        return self.page.evaluate(_RING)

    def wait_for_ring(self, at: tuple[float, float] | None, timeout_ms: int = 20_000) -> None:
        """Wait until the ring marks the point at page pixel ``at`` (None: until there is no ring)."""
        deadline = time.monotonic() + timeout_ms / 1000
        ring = None
        while time.monotonic() < deadline:
            ring = self.ring()
            if (at is None and ring is None) or (at is not None and ring is not None and np.hypot(ring[0] - at[0], ring[1] - at[1]) < 2):
                return
            self.page.wait_for_timeout(100)
        raise AssertionError(f"the ring is at {ring}, expected at {at}")

    def isolated(self, count: int, min_px: float = 9.0) -> list[int]:
        """``count`` map rows whose point has no other point within ``min_px`` pixels (a click there
        can only mean that point), spread over the map's order."""
        pixels = self.pixels()
        keys = np.array(sorted(pixels))
        xy = np.array([pixels[k] for k in keys])
        d = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
        np.fill_diagonal(d, np.inf)
        alone = keys[d.min(axis=1) > min_px]
        assert len(alone) >= count, f"only {len(alone)} isolated points on the map"
        return [int(k) for k in alone[np.linspace(0, len(alone) - 1, count).astype(int)]]

    def click_point(self, index: int) -> tuple[float, float]:
        """Move the mouse onto the point of map row ``index`` and click it, as a person would."""
        x, y = self.pixels()[int(index)]
        self.page.mouse.move(x, y)
        self.page.wait_for_timeout(80)  # plotly finds the hovered point on mouse move
        self.page.mouse.click(x, y)
        return x, y

    def drag_mode(self, mode: str) -> None:
        """Pick the map's drag mode on its modebar: "lasso", "select" (box), "zoom" or "pan"."""
        titles = {"lasso": "Lasso Select", "select": "Box Select", "zoom": "Zoom", "pan": "Pan"}
        self.page.locator(f"#map-graph .modebar-btn[data-title='{titles[mode]}']").click()
        self.page.wait_for_function(
            "([sel, mode]) => document.querySelector(sel)._fullLayout.dragmode === mode", arg=[GRAPH, mode]
        )

    def drag_path(self, vertices, *, shift: bool = False, steps: int = 8) -> None:
        """Press the mouse at the first pixel of ``vertices``, move through the others, release."""
        if shift:
            self.page.keyboard.down("Shift")
        self.page.mouse.move(*vertices[0])
        self.page.mouse.down()
        for vertex in vertices[1:]:
            self.page.mouse.move(*vertex, steps=steps)
        self.page.mouse.up()
        if shift:
            self.page.keyboard.up("Shift")

    def lasso(self, vertices, *, shift: bool = False) -> None:
        """Draw a lasso through page pixels ``vertices`` (closed back to the first)."""
        self.drag_path(list(vertices) + [vertices[0]], shift=shift)

    def box(self, corner, opposite, *, shift: bool = False) -> None:
        self.drag_path([corner, opposite], shift=shift, steps=12)

    def plot_area(self) -> dict:
        """Page-pixel rectangle of the map's plotting area: {x, y, width, height}."""
        return self.page.locator(f"{GRAPH} .nsewdrag").first.bounding_box()

    def points_inside(self, vertices, margin: float = 2.0) -> tuple[set[int], set[int]]:
        """(rows surely inside the polygon, rows inside or within ``margin`` px of its edge)."""
        pixels = self.pixels()
        keys = np.array(sorted(pixels))
        xy = np.array([pixels[k] for k in keys])
        inside = _inside_polygon(xy, np.asarray(vertices, dtype=float))
        near = _distance_to_polygon(xy, np.asarray(vertices, dtype=float)) <= margin
        return {int(k) for k in keys[inside & ~near]}, {int(k) for k in keys[inside | near]}

    def selection_summary(self) -> str:
        return self.page.locator("#export-selection-summary").inner_text()

    def open_tab(self, label: str) -> None:
        self.page.locator(".bottom-tabs .tab", has_text=label).click()

    @staticmethod
    def assert_one_point_per_row(info: dict, n_rows: int) -> None:
        assert info["count"] == n_rows, f"{info['count']} points drawn for {n_rows} rows"
        indices = info["indices"]
        assert None not in indices, "every point carries customdata[0]"
        assert len(set(indices)) == n_rows, "customdata[0] must be distinct"
        assert min(indices) == 0 and max(indices) == n_rows - 1

    # -- widgets ----------------------------------------------------------------------------------
    def choose(self, dropdown_id: str, label: str) -> None:
        """Pick the option labelled ``label`` (exactly) in the Dash 4 dropdown ``dropdown_id``."""
        self.page.locator(f"#{dropdown_id}").click()
        option = self.page.get_by_role("option", name=label, exact=True)
        option.first.click()
        self.page.keyboard.press("Escape")
        self.page.wait_for_function(
            "([id, label]) => document.querySelector('#' + id + ' .dash-dropdown-value').innerText.trim() === label",
            arg=[dropdown_id, label],
        )

    def dropdown_value(self, dropdown_id: str) -> str:
        return self.page.locator(f"#{dropdown_id} .dash-dropdown-value").inner_text().strip()

    def upload(self, path) -> None:
        self.page.locator("#upload-dataset input[type=file]").set_input_files(str(path))

    def status(self) -> str:
        try:
            return self.page.locator("#status-message").inner_text(timeout=2_000)
        except Exception:  # noqa: BLE001  (only used in failure messages)
            return "<unreadable>"

    def wait_for_status(self, *needles: str, timeout_ms: int = JOB_TIMEOUT_MS) -> str:
        self.page.wait_for_function(
            "(needles) => { const t = document.querySelector('#status-message').innerText;"
            " return needles.every(n => t.includes(n)); }",
            arg=list(needles),
            timeout=timeout_ms,
        )
        return self.status()

    def viewer(self) -> dict:
        return self.page.evaluate(
            """() => { const v = document.querySelector('#structure-viewer');
                return v ? {index: v.getAttribute('data-structure-index'),
                            atoms: v.getAttribute('data-atom-count')} : null; }"""
        )

    def wait_for_viewer_change(self, timeout_ms: int = 60_000) -> dict:
        """Wait until the viewer shows some structure (after a click whose row is not known exactly)."""
        self.page.wait_for_function(
            "() => { const v = document.querySelector('#structure-viewer'); return v && v.getAttribute('data-structure-index'); }",
            timeout=timeout_ms,
        )
        return self.viewer()

    def wait_for_viewer(self, index: int, timeout_ms: int = 60_000) -> dict:
        self.page.wait_for_function(
            "(index) => { const v = document.querySelector('#structure-viewer');"
            " return v && v.getAttribute('data-structure-index') === String(index); }",
            arg=int(index),
            timeout=timeout_ms,
        )
        return self.viewer()


@pytest.fixture
def open_app(chromium_browser):
    """Factory: ``open_app(url) -> AppPage`` in a fresh browser context (own session)."""
    contexts = []

    def make(url: str) -> AppPage:
        context = chromium_browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(60_000)
        return AppPage(page, url)

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="module")
def fresh_app_url(tmp_path_factory):
    """A second app (sample dataset) with its own empty data folder, for one test module."""
    process, url, _ = start_app([], tmp_path_factory.mktemp("fresh-app"))
    try:
        yield url
    finally:
        stop_app(process)


@pytest.fixture(scope="session")
def sample_atoms():
    """The sample dataset's structures, read with ase (the reference the app is checked against)."""
    from ase.io import read

    return read(str(SAMPLE_XYZ), index=":")


@pytest.fixture
def own_app(tmp_path):
    """Factory: ``own_app(env) -> (url, data folder, log path)`` of a fresh server of its own
    (empty data folder: nothing cached, nothing shared), stopped after the test."""
    started = []

    def make(env=None):
        process, url, log = start_app([], tmp_path, env)
        started.append(process)
        return url, tmp_path / "data", log

    yield make
    for process in started:
        stop_app(process)
