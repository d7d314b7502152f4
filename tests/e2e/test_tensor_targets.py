"""A whole vector property as the target (a λ-SOAP model of the dipole), driven as a person
drives the page: dropdowns opened with a click and searched by typing, map points clicked and
boxed with the mouse, tabs and buttons clicked. On ``tests/data/showcase.xyz`` (29 molecules, CCSD
dipoles as 3-vectors).

* the map coloured by the length of the prediction error, its parity plot (every component of
  every structure), the viewer with the reference and predicted arrows ticked and drawn (side by
  side in two views turned together, then over each other), and the
  extended XYZ export of the selection with the predicted vector;
* the learning-curves tab: the λ-SOAP curve beside the rotation-blind scalar model;
* a click on a parity-plot point (one component of one structure) shows that structure.

Screenshots are kept in the test's tmp folder (and in $TENSOR_SHOTS when set, e.g. /tmp) for a
look by eye.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from .conftest import DATA, start_app, stop_app

pytestmark = pytest.mark.browser

SHOWCASE = DATA / "showcase.xyz"
N_STRUCTURES = 29
TARGET = "dipole_ccsd: whole vector (λ-SOAP model)"
REFERENCE_SHAPE = "dipole_ccsd (structure)"
PREDICTED_SHAPE = "dipole_ccsd predicted (structure)"
#: λ-SOAP fits, out of fold, in a background process on 2 shared cores
JOB_MS = 240_000
HOST = "#viewer-canvas .structure-cell.active .structure-host"
TWIN = "#viewer-canvas .structure-cell.active .structure-twin"


@pytest.fixture(scope="module")
def showcase_app(tmp_path_factory):
    """The app serving showcase.xyz (``structure-explorer tests/data/showcase.xyz``): (url, log)."""
    process, url, log = start_app([str(SHOWCASE)], tmp_path_factory.mktemp("tensor-app"))
    try:
        yield url, log
    finally:
        stop_app(process)


def _log_tail(log: Path, n: int = 60) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "<no log>"


def _pick(app, dropdown_id: str, search: str, label: str) -> None:
    """Open the dropdown with a click, type ``search`` into its search box, click ``label``."""
    page = app.page
    page.locator(f"#{dropdown_id}").click()
    box = page.locator(".dash-dropdown-content[data-state=open] input.dash-dropdown-search")
    box.click()
    page.keyboard.type(search)
    page.locator(".dash-dropdown-content[data-state=open]").get_by_role("option", name=label, exact=True).click()
    page.keyboard.press("Escape")
    page.wait_for_function(
        "([id, label]) => document.querySelector('#' + id + ' .dash-dropdown-value').innerText.trim() === label",
        arg=[dropdown_id, label],
    )


def _shot(page, selector: str, path: Path) -> np.ndarray:
    from PIL import Image

    page.locator(selector).screenshot(path=str(path))
    if os.environ.get("TENSOR_SHOTS"):
        Path(os.environ["TENSOR_SHOTS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(os.environ["TENSOR_SHOTS"]) / path.name)
    return np.asarray(Image.open(path).convert("RGB"), dtype=float)


def _green(img: np.ndarray) -> int:
    """Pixels of the reference arrow's green (#2ca02c, shaded)."""
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    return int(((g > r + 50) & (g > b + 50)).sum())


def _black(img: np.ndarray) -> int:
    """Pixels of the predicted arrow's near-black (#111111, shaded)."""
    return int((img.max(axis=2) < 45).sum())


def _colours(info: dict) -> np.ndarray:
    """The colour value of each map row (by customdata[0]; NaN where a row has none)."""
    colour, offset = {}, 0
    for trace in info["traces"]:
        if isinstance(trace["color"], list) and len(trace["color"]) == trace["n"]:
            colour.update(zip(info["indices"][offset:offset + trace["n"]], map(float, trace["color"])))
        offset += trace["n"]
    return np.array([colour.get(k, np.nan) for k in range(N_STRUCTURES)])


_PARITY = """() => {
    const area = document.querySelector('#map-parity-area');
    const gd = document.querySelector('#map-parity-graph .js-plotly-plot');
    if (!area || area.style.display === 'none' || !gd || !gd._fullData || !gd._fullData.length) { return null; }
    const t = gd._fullData.find((t) => t.name === 'out-of-fold');
    if (!t || !t.x) { return null; }
    return {n: t.x.length, x: Array.from(t.x), y: Array.from(t.y), text: Array.from(t.text || []),
            title: gd._fullLayout.title.text, xtitle: gd._fullLayout.xaxis.title.text};
}"""

_SHAPES_TICKED = """() => Array.from(document.querySelectorAll('#viewer-shapes input[type=checkbox]'))
    .filter((i) => i.checked).map((i) => i.closest('label').innerText.trim())"""


def _open_showcase(app) -> None:
    app.open()
    app.wait_for_map(lambda i: i["count"] == N_STRUCTURES and "showcase" in i["title"], what="the map of showcase.xyz")


def _dipole_error_colours(app) -> None:
    """The whole dipole as the target, the map coloured by its prediction error (mouse and keys)."""
    _pick(app, "target-property", "dipole_ccsd: whole", TARGET)
    _pick(app, "color-by", "prediction err", "prediction error")


def test_whole_dipole_target_colours_the_map_shows_both_arrows_and_exports_the_prediction(showcase_app, open_app, tmp_path):
    url, log = showcase_app
    app = open_app(url)
    page = app.page
    _open_showcase(app)

    # 1. the whole dipole as the target, the map coloured by the length of the prediction error
    _dipole_error_colours(app)
    try:
        info = app.wait_for_map(
            lambda i: any(t["colorbar"] and "dipole_ccsd" in t["colorbar"] and "norm" in t["colorbar"] for t in i["traces"]),
            timeout_ms=JOB_MS, what="the map coloured by the dipole's prediction error")
    except AssertionError as error:
        raise AssertionError(f"{error}\nserver log:\n{_log_tail(log)}") from None
    coloured = next(t for t in info["traces"] if t["colorbar"])
    assert coloured["colorbar"] == "|error| of dipole_ccsd (norm over its components)", coloured["colorbar"]
    errors = _colours(info)
    assert np.isfinite(errors).all() and (errors >= 0).all(), errors

    # the parity plot: every Cartesian component of every structure, predicted against reference
    page.wait_for_function(f"() => {{ const p = ({_PARITY})(); return p && p.n === {3 * N_STRUCTURES}; }}", timeout=JOB_MS)
    parity = page.evaluate(_PARITY)
    assert page.locator("#map-parity-area").is_visible()
    assert "dipole_ccsd" in parity["xtitle"] and "3 components" in parity["xtitle"], parity["xtitle"]
    assert re.search(r"\b87 points", parity["title"]), parity["title"]
    # the map's colour of each structure is the length of its error vector on the parity plot
    # (whose points are named "#<structure> <formula> [component]")
    by_structure: dict[int, dict[int, tuple[float, float]]] = {}
    for text, x, y in zip(parity["text"], parity["x"], parity["y"]):
        structure, component = re.fullmatch(r"#(\d+) .* \[(\d)\]", text).groups()
        by_structure.setdefault(int(structure), {})[int(component)] = (x, y)
    assert sorted(by_structure) == list(range(N_STRUCTURES)) and all(sorted(c) == [1, 2, 3] for c in by_structure.values())
    # (2, 3) per structure: the reference vector, the predicted one
    vectors = {s: np.array([c[k] for k in (1, 2, 3)]).T for s, c in by_structure.items()}
    lengths = np.array([[np.linalg.norm(vectors[s][0]), np.linalg.norm(vectors[s][1]), np.linalg.norm(vectors[s][1] - vectors[s][0])]
                        for s in range(N_STRUCTURES)])
    assert np.allclose(lengths[:, 2], errors, rtol=1e-5, atol=1e-6), (lengths[:, 2], errors)
    # a model that learned something: the out-of-fold error is well below the dipoles' spread
    reference = np.array(parity["x"])
    assert np.sqrt(np.mean((np.array(parity["y"]) - reference) ** 2)) < reference.std(), parity["title"]
    _shot(page, ".map-area", tmp_path / "tensor_map.png")

    # 2. a click on a map point: the viewer shows it with the reference and predicted arrows
    # a point alone under the mouse whose two arrows are both long and part clearly on the screen
    # (the viewer looks down z at first: the x, y components)
    flat = np.array([[np.linalg.norm(vectors[s][0, :2]), np.linalg.norm(vectors[s][1, :2]),
                      np.linalg.norm(vectors[s][1, :2] - vectors[s][0, :2])] for s in range(N_STRUCTURES)])
    shortest, longest = flat[:, :2].min(axis=1), flat[:, :2].max(axis=1)
    clear = shortest * flat[:, 2] / np.maximum(longest, 1e-9)
    pixels = app.pixels()
    rows = np.array(sorted(pixels))
    xy = np.array([pixels[k] for k in rows])
    gaps = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    np.fill_diagonal(gaps, np.inf)
    alone = rows[gaps.min(axis=1) > 6]
    assert len(alone), "no isolated point on the map"
    index = int(alone[np.argmax(clear[alone])])
    app.click_point(index)
    app.wait_for_viewer(index)
    page.wait_for_function(
        "(s) => { const c = document.querySelector('#viewer-canvas .structure-cell.active');"
        " const d = c && c.getAttribute('data-drawn'); return d && d.split(':')[0] === String(s); }", arg=index, timeout=60_000)
    page.wait_for_function(f"() => ({_SHAPES_TICKED})().length === 2", timeout=30_000)
    ticked = page.evaluate(_SHAPES_TICKED)
    assert sorted(ticked) == sorted([REFERENCE_SHAPE, PREDICTED_SHAPE]), ticked
    # side by side at first: the reference arrow in the cell's main view, the predicted one in a
    # view of its own beside it (chemiscope's own settings of each view say what it draws)
    page.wait_for_function(
        "([a, b]) => { const m = window.__explorerViewer.model(); return m && m.split && m.shape === a && m.twin_shape === b; }",
        arg=[REFERENCE_SHAPE, PREDICTED_SHAPE], timeout=30_000)
    assert page.locator("#viewer-predicted-controls").is_visible()
    assert page.locator(f"{TWIN}").is_visible()
    assert page.locator(f"{HOST} .structure-caption").inner_text() == "reference"
    assert page.locator(f"{TWIN} .structure-caption").inner_text() == "predicted"
    page.wait_for_timeout(400)  # a frame rendered with the shapes
    reference_view = _shot(page, HOST, tmp_path / "tensor_viewer_reference_view.png")
    predicted_view = _shot(page, TWIN, tmp_path / "tensor_viewer_predicted_view.png")
    _shot(page, "#viewer-canvas .structure-cell.active", tmp_path / "tensor_viewer_side_by_side.png")
    beside = {"reference view": (_green(reference_view), _black(reference_view)),
              "predicted view": (_green(predicted_view), _black(predicted_view))}
    # (half as wide as one view: a shorter arrow; chemiscope's menu button is black in both)
    assert beside["reference view"][0] > 40 and beside["predicted view"][0] < 10, f"(green, black) pixels {beside}"
    assert beside["predicted view"][1] > beside["reference view"][1] + 80, f"(green, black) pixels {beside}"
    # the two views turn together: a drag in the predicted one turns the reference one too
    before = page.evaluate("() => window.__explorerViewer.arrows().arrows[0].end")
    box = page.locator(TWIN).bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 60, cy + 20, steps=6)
    page.mouse.up()
    page.wait_for_timeout(300)
    after = page.evaluate("() => window.__explorerViewer.arrows().arrows[0].end")
    assert np.hypot(after[0] - before[0], after[1] - before[1]) > 5, (before, after)

    # over the reference, chosen by the person: one view draws both
    page.locator("#viewer-predicted-layout label", has_text="over it").click()
    page.wait_for_function(
        "([a, b]) => { const m = window.__explorerViewer.model(); return m && !m.split && m.shape.split(',').includes(a) && m.shape.split(',').includes(b); }",
        arg=[REFERENCE_SHAPE, PREDICTED_SHAPE], timeout=30_000)
    assert not page.locator(TWIN).is_visible()
    page.locator("#viewer-reset").click()  # the view it opened with, whole in the cell
    page.wait_for_timeout(400)
    both = _shot(page, HOST, tmp_path / "tensor_viewer.png")

    # what was drawn, by colour: untick the prediction (black arrow) then the reference (green)
    page.locator("#viewer-shapes label", has_text=PREDICTED_SHAPE).click()
    page.wait_for_function("(b) => !window.__explorerViewer.model().shape.split(',').includes(b)", arg=PREDICTED_SHAPE)
    page.wait_for_timeout(400)
    reference_only = _shot(page, HOST, tmp_path / "tensor_viewer_reference_only.png")
    page.locator("#viewer-shapes label", has_text=REFERENCE_SHAPE).click()
    page.wait_for_function("() => window.__explorerViewer.model().shape === ''")
    page.wait_for_timeout(400)
    plain = _shot(page, HOST, tmp_path / "tensor_viewer_plain.png")
    counts = {"both": (_green(both), _black(both)), "reference": (_green(reference_only), _black(reference_only)),
              "none": (_green(plain), _black(plain))}
    assert counts["reference"][0] > counts["none"][0] + 150, f"no green reference arrow drawn: (green, black) pixels {counts}"
    assert counts["both"][1] > counts["reference"][1] + 150, f"no black predicted arrow drawn: (green, black) pixels {counts}"
    assert counts["both"][0] > 30, f"the reference arrow is hidden under the predicted one: {counts}"
    # ticked again, as the person left them
    page.locator("#viewer-shapes label", has_text=REFERENCE_SHAPE).click()
    page.locator("#viewer-shapes label", has_text=PREDICTED_SHAPE).click()
    page.wait_for_function(f"() => ({_SHAPES_TICKED})().length === 2")

    # 3. select every point with a box on the map, export the selection as extended XYZ
    app.open_tab("Select & export")
    # the parity plot under the map pushed the tabs down: the page scrolled to the tab; back up to
    # the map, as a person would
    page.locator("#map-graph").scroll_into_view_if_needed()
    area = app.plot_area()
    viewport = page.viewport_size
    assert area["y"] >= 0 and area["y"] + area["height"] <= viewport["height"], (area, viewport)
    corner = (area["x"] + 3, area["y"] + 3)
    opposite = (area["x"] + area["width"] - 3, area["y"] + area["height"] - 3)
    surely, maybe = app.points_inside([corner, (opposite[0], corner[1]), opposite, (corner[0], opposite[1])])
    assert len(surely) == N_STRUCTURES, (len(surely), len(maybe))
    app.drag_mode("select")
    app.box(corner, opposite)
    try:
        page.wait_for_function("(n) => document.querySelector('#export-selection-summary').innerText.startsWith(n + ' structures')",
                               arg=N_STRUCTURES, timeout=30_000)
    except Exception as error:  # noqa: BLE001
        raise AssertionError(f"the box did not select the {N_STRUCTURES} structures: {error}; summary {app.selection_summary()!r}; "
                             f"browser errors {app.errors[-5:]!r}") from None
    assert app.dropdown_value("export-format") == "extended XYZ (structures + properties)"
    with page.expect_download(timeout=60_000) as saved:
        page.locator("#export-selection").click()
    download = saved.value
    assert download.suggested_filename.endswith(".xyz"), download.suggested_filename
    path = tmp_path / download.suggested_filename
    download.save_as(path)

    from ase.io import read

    frames = read(str(path), index=":")
    assert len(frames) == N_STRUCTURES
    originals = read(str(SHOWCASE), index=":")
    for frame in frames:
        source = int(frame.info["source_index"])
        predicted = np.asarray(frame.info.get("predicted_dipole_ccsd"), dtype=float)
        assert predicted.shape == (3,), f"structure {source}: predicted_dipole_ccsd {frame.info.get('predicted_dipole_ccsd')!r}; info keys {sorted(frame.info)}"
        assert np.allclose(frame.info["dipole_ccsd"], originals[source].info["dipole_ccsd"])
        assert np.allclose(frame.positions, originals[source].positions)
        # the map's colour of that structure, written beside the prediction
        assert float(frame.info["error_norm_dipole_ccsd"]) == pytest.approx(errors[source], rel=1e-5, abs=1e-8)
    # the exported predictions are the parity plot's (by reference value: each structure's is distinct)
    parity_by_reference = {round(float(x), 6): y for x, y in zip(parity["x"], parity["y"])}
    for frame in frames:
        for component, value in zip(frame.info["dipole_ccsd"], frame.info["predicted_dipole_ccsd"]):
            assert parity_by_reference[round(float(component), 6)] == pytest.approx(float(value), rel=1e-6, abs=1e-9)

    # 4. coloured by the prediction itself: the length of each predicted vector
    _pick(app, "color-by", "predicted target", "predicted target (out-of-fold)")
    info = app.wait_for_map(lambda i: any(t["colorbar"] == "|predicted dipole_ccsd|" for t in i["traces"]),
                            timeout_ms=60_000, what="the map coloured by the predicted dipole's length")
    assert np.allclose(_colours(info), lengths[:, 1], rtol=1e-5, atol=1e-6)
    assert not app.errors, app.errors


def test_learning_curve_of_the_whole_dipole_beside_a_scalar_model(showcase_app, open_app, tmp_path):
    url, log = showcase_app
    app = open_app(url)
    page = app.page
    _open_showcase(app)

    app.open_tab("Learning curves")
    _pick(app, "learning-property", "dipole_ccsd: whole", TARGET)
    page.get_by_role("button", name="Run learning curve").click()
    try:
        page.wait_for_function(
            """() => { const gd = document.querySelector('#learning-curve-graph .js-plotly-plot');
                if (!gd || !gd._fullData) { return false; }
                const names = gd._fullData.map((t) => t.name);
                return names.includes('test RMSE') && names.includes('scalar model per Cartesian component')
                    && document.querySelectorAll('#learning-curve-table tbody tr').length > 0; }""",
            timeout=JOB_MS)
    except Exception as error:  # noqa: BLE001
        raise AssertionError(f"no learning curve: {error}; status {app.status()!r}; browser errors {app.errors[-5:]!r}\n"
                             f"server log:\n{_log_tail(log)}") from None
    curve = page.evaluate(
        """() => { const gd = document.querySelector('#learning-curve-graph .js-plotly-plot');
            return {title: gd._fullLayout.title.text, traces: gd._fullData.map((t) => ({name: t.name, visible: t.visible,
                    x: Array.from(t.x || []), y: Array.from(t.y || [])}))}; }""")
    traces = {t["name"]: t for t in curve["traces"]}
    test, scalar = traces["test RMSE"], traces["scalar model per Cartesian component"]
    assert test["visible"] is True and scalar["visible"] is True
    assert len(test["x"]) >= 3 and test["x"] == sorted(test["x"]) and test["x"] == scalar["x"], (test["x"], scalar["x"])
    assert all(np.isfinite(test["y"])) and all(np.isfinite(scalar["y"])) and min(test["y"]) > 0
    assert "dipole_ccsd" in curve["title"], curve["title"]
    # the equivariant model beats the one that ignores how a dipole turns with its molecule
    assert test["y"][-1] < scalar["y"][-1], (test["y"], scalar["y"])

    header = page.locator("#learning-curve-table thead th").all_inner_texts()
    assert header == ["training set", "test RMSE (λ-SOAP)", "scalar model per component", "target spread"], header
    rows = page.locator("#learning-curve-table tbody tr")
    assert rows.count() == len(test["x"])
    table = [[float(v) for v in rows.nth(k).locator("td").all_inner_texts()] for k in range(rows.count())]
    assert [int(r[0]) for r in table] == [int(x) for x in test["x"]]
    assert np.allclose([r[1] for r in table], test["y"], rtol=1e-3)
    assert np.allclose([r[2] for r in table], scalar["y"], rtol=1e-3)
    status = app.status()
    assert "Learning curve of dipole_ccsd" in status and "scalar model per Cartesian component" in status, status

    _shot(page, ".learning-panel", tmp_path / "tensor_learning.png")
    assert not app.errors, app.errors


_PARITY_PIXELS = """() => {
    const gd = document.querySelector('#map-parity-graph .js-plotly-plot');
    const box = gd.getBoundingClientRect();
    const fl = gd._fullLayout;
    const t = gd._fullData.find((t) => t.name === 'out-of-fold');
    return Array.from(t.x).map((x, i) => [String(t.text[i]), box.left + fl._size.l + fl.xaxis.l2p(x),
                                          box.top + fl._size.t + fl.yaxis.l2p(t.y[i])]);
}"""


def test_a_parity_point_of_one_component_shows_its_structure(showcase_app, open_app):
    url, _ = showcase_app
    app = open_app(url)
    page = app.page
    _open_showcase(app)
    _dipole_error_colours(app)
    page.wait_for_function(f"() => {{ const p = ({_PARITY})(); return p && p.n === {3 * N_STRUCTURES}; }}", timeout=JOB_MS)
    page.locator("#map-parity-graph").scroll_into_view_if_needed()
    points, previous = page.evaluate(_PARITY_PIXELS), None
    while points != previous:  # the plot just shown may still be sizing itself
        page.wait_for_timeout(300)
        previous, points = points, page.evaluate(_PARITY_PIXELS)
    xy = np.array([[x, y] for _, x, y in points])
    d = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    np.fill_diagonal(d, np.inf)
    # a component of a structure past the first ten (alone under the mouse): as the bug has it, its
    # position among the 87 points is past the 29 rows
    alone = [k for k in range(len(points)) if d[k].min() > 8]
    wanted = [k for k in alone if int(re.match(r"#(\d+) ", points[k][0]).group(1)) >= 10]
    assert wanted, [points[k][0] for k in alone]
    text, x, y = points[wanted[0]]
    structure = int(re.match(r"#(\d+) ", text).group(1))
    page.mouse.move(x, y)
    # the hover label names the point under the mouse
    page.wait_for_function("(t) => Array.from(document.querySelectorAll('#map-parity-graph .hoverlayer .hovertext'))"
                           ".some((h) => h.textContent.includes(t))", arg=text, timeout=10_000)
    page.mouse.click(x, y)
    try:
        app.wait_for_viewer(structure, timeout_ms=20_000)
    except Exception:  # noqa: BLE001
        raise AssertionError(f"clicked the parity point {text!r}: the viewer shows {app.viewer()!r}, "
                             f"{page.locator('#viewer-details').inner_text()[:120]!r}") from None
