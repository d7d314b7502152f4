"""Browser-test helpers: read the map from plotly's ``_fullData``, drive clicks and lassos, pick
options in Dash 4 dropdowns, and a second app instance with its own data folder.

Plotly 6+ sends numpy arrays base64-encoded, so everything here reads the *decoded* arrays of the
graph div (``gd._fullData``), never ``gd.data``. Clicks and lassos are driven the way plotly
itself reports them: ``gd.emit("plotly_click" | "plotly_selected", {points: [...]})`` with points
built from ``_fullData`` (dcc.Graph turns those into ``clickData`` / ``selectedData``).
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest


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


class AppPage:
    """One browser page of the explorer with map helpers."""

    def __init__(self, page, url: str):
        self.page = page
        self.url = url

    # -- navigation -------------------------------------------------------------------------------
    def open(self) -> float:
        """Load the page; return the seconds from navigation to a drawn map."""
        start = time.perf_counter()
        self.page.goto(self.url)
        self.wait_for_map(lambda info: info["count"] > 0)
        return time.perf_counter() - start

    # -- the map ----------------------------------------------------------------------------------
    def map_info(self) -> dict | None:
        return self.page.evaluate(_MAP_INFO)

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
        raise AssertionError(f"{what} did not appear within {timeout_ms / 1000:.0f} s; last map {summary}, status {status!r}")

    def point(self, index: int) -> dict:
        """A plotly event point for the map row whose customdata[0] is ``index``."""
        point = self.page.evaluate(
            """([sel, index]) => {
                const gd = document.querySelector(sel);
                for (let c = 0; c < gd._fullData.length; c++) {
                    const t = gd._fullData[c];
                    const cd = t.customdata || [];
                    for (let i = 0; i < (t.x ? t.x.length : 0); i++) {
                        if (cd[i] && Number(cd[i][0]) === index) {
                            return {curveNumber: c, pointNumber: i, pointIndex: i, x: t.x[i], y: t.y[i],
                                    customdata: Array.from(cd[i])};
                        }
                    }
                }
                return null;
            }""",
            [GRAPH, int(index)],
        )
        assert point is not None, f"no point with customdata[0] == {index} on the map"
        return point

    def click_point(self, index: int) -> dict:
        point = self.point(index)
        self.page.evaluate(
            "([sel, p]) => { document.querySelector(sel).emit('plotly_click', {points: [p], event: {}}); }",
            [GRAPH, point],
        )
        return point

    def lasso(self, indices) -> list[dict]:
        points = [self.point(i) for i in indices]
        self.page.evaluate(
            """([sel, points]) => {
                const xs = points.map(p => p.x), ys = points.map(p => p.y);
                document.querySelector(sel).emit('plotly_selected', {points: points,
                    lassoPoints: {x: xs, y: ys}});
            }""",
            [GRAPH, points],
        )
        return points

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
