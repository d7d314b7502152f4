"""The explorer as a person drives it, with the real mouse and keyboard (no emitted plotly events,
no store written by the test): selections that survive redraws, linked views, a stable view, and
jobs that never fail silently or poison the server.
"""

from __future__ import annotations

import os
import pickle
import signal
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

DATA = Path(__file__).resolve().parents[1] / "data"
N_SAMPLE = 985

ENERGY = "dft_formation_energy_per_atom_in_eV"


def _count(app) -> int:
    text = app.selection_summary()
    return int(text.split()[0].replace(",", "")) if "selected" in text else 0


def _square(area, fx0, fy0, fx1, fy1):
    x0, y0 = area["x"] + area["width"] * fx0, area["y"] + area["height"] * fy0
    x1, y1 = area["x"] + area["width"] * fx1, area["y"] + area["height"] * fy1
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def _first_and_second_areas(app):
    """The two overlapping areas the Shift tests select, in page pixels (and the plot area)."""
    area = app.plot_area()
    return area, _square(area, 0.30, 0.30, 0.55, 0.60), _square(area, 0.50, 0.45, 0.80, 0.85)


def _lasso(app, polygon) -> None:
    app.lasso(polygon)
    app.page.wait_for_function("() => document.querySelector('#export-selection-summary').innerText.includes('(lasso)')")


def _shift_box(app, rectangle) -> None:
    """Shift + box over ``rectangle`` in box mode; waits until it added to the lasso's selection."""
    page = app.page
    app.drag_mode("select")
    app.box(rectangle[0], rectangle[2], shift=True)
    try:
        page.wait_for_function("() => document.querySelector('#export-selection-summary').innerText.includes('lasso + box')",
                               timeout=30_000)
    except Exception as error:  # noqa: BLE001  (say what the page showed instead)
        mode = page.evaluate("() => document.querySelector('#map-graph .js-plotly-plot')._fullLayout.dragmode")
        seen = page.evaluate("() => [window.__explorerGestures, window.__explorerLastDown]")
        raise AssertionError(f"Shift + box did not add: summary {app.selection_summary()!r}, status {app.status()!r}, "
                             f"drag mode {mode!r}, gestures seen {seen!r}") from error


def test_lasso_then_shift_box_adds_and_double_click_clears(app_url, open_app):
    app = open_app(app_url)
    app.open()
    page = app.page
    app.open_tab("Select & export")
    area, first, second = _first_and_second_areas(app)
    surely_a, maybe_a = app.points_inside(first)
    surely_b, maybe_b = app.points_inside(second)
    assert surely_b - maybe_a, "the second area must add points"

    _lasso(app, first)
    assert len(surely_a) <= _count(app) <= len(maybe_a)

    _shift_box(app, second)
    assert len(surely_a | surely_b) <= _count(app) <= len(maybe_a | maybe_b)
    # the drag mode chosen on the modebar survives the redraw that follows the selection
    assert page.evaluate("() => document.querySelector('#map-graph .js-plotly-plot')._fullLayout.dragmode") == "select"

    # a double-click on empty map space clears it
    page.mouse.dblclick(area["x"] + 4, area["y"] + 4)
    page.wait_for_function("() => document.querySelector('#export-selection-summary').innerText.startsWith('Select points first')")

    # a box without Shift replaces; the Clear button clears
    app.box(second[0], second[2])
    page.wait_for_function("() => document.querySelector('#export-selection-summary').innerText.includes('(box)')")
    assert len(surely_b) <= _count(app) <= len(maybe_b)
    page.locator("#export-clear-selection").click()
    page.wait_for_function("() => document.querySelector('#export-selection-summary').innerText.startsWith('Select points first')")


def test_selection_survives_recolouring_and_shows_in_the_table(app_url, open_app):
    app = open_app(app_url)
    app.open()
    page = app.page
    area = app.plot_area()
    polygon = _square(area, 0.35, 0.35, 0.6, 0.6)
    app.lasso(polygon)
    app.open_tab("Select & export")
    page.wait_for_function("() => document.querySelector('#export-selection-summary').innerText.includes('(lasso)')")
    count = _count(app)
    assert count > 5

    app.choose("map-size-by", ENERGY)  # a redraw of the whole map
    page.wait_for_function(
        "() => { const t = document.querySelector('#map-graph .js-plotly-plot')._fullData[0];"
        " return t.marker && (Array.isArray(t.marker.size) || ArrayBuffer.isView(t.marker.size)); }"
    )
    page.wait_for_timeout(500)
    assert _count(app) == count
    page.wait_for_function(
        "(n) => document.querySelector('#map-graph .js-plotly-plot')._fullData"
        ".reduce((s, t) => s + (t.selectedpoints ? t.selectedpoints.length : 0), 0) === n", arg=count
    )

    # the table highlights the selected structures, and can list only them
    app.open_tab("Properties")
    page.wait_for_function(
        "(n) => dash_ag_grid.getApi('dataset-property-table').getSelectedRows().length === n", arg=count
    )
    page.locator("#dataset-table-only-selected input[type=checkbox]").check()
    page.wait_for_function(
        "(n) => dash_ag_grid.getApi('dataset-property-table').getDisplayedRowCount() === n", arg=count
    )


def test_table_filter_selects_a_property_range(app_url, open_app, sample_atoms):
    app = open_app(app_url)
    app.open()
    page = app.page
    # the table's own column filter, used as a person would: energy per atom above -4.2 eV
    header = page.locator("#dataset-property-table .ag-header-cell", has_text=ENERGY).first
    header.hover()
    header.locator(".ag-header-cell-filter-button").first.click()
    page.locator(".ag-filter .ag-filter-select .ag-picker-field-wrapper").first.click()
    page.locator(".ag-select-list [role=option]", has_text="Greater than").first.click()
    page.locator(".ag-filter .ag-filter-from input").first.fill("-4.2")
    expected = sum(1 for a in sample_atoms if a.info[ENERGY] > -4.2)
    assert 0 < expected < N_SAMPLE
    page.wait_for_function("(n) => dash_ag_grid.getApi('dataset-property-table').getDisplayedRowCount() === n", arg=expected)
    page.keyboard.press("Escape")
    page.locator("#dataset-select-rows").click()
    app.wait_for_status(f"Selected the {expected:,} structures the table shows")
    app.open_tab("Select & export")
    page.wait_for_function("(n) => document.querySelector('#export-selection-summary').innerText.startsWith(n + ' structures')",
                           arg=f"{expected:,}")


def test_table_row_click_and_arrow_keys_show_structures(app_url, open_app, sample_atoms):
    app = open_app(app_url)
    app.open()
    page = app.page
    page.locator("#dataset-property-table .ag-row[row-id='7'] .ag-cell").first.click()
    assert app.wait_for_viewer(7)["atoms"] == str(len(sample_atoms[7]))
    app.wait_for_ring(app.pixels()[7])

    page.locator("h1").click()  # focus off the grid: arrows step the viewer, not the grid
    page.keyboard.press("ArrowRight")
    app.wait_for_viewer(8)
    app.wait_for_ring(app.pixels()[8])
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    app.wait_for_viewer(6)


def test_zoom_then_recolour_keeps_the_view(app_url, open_app):
    app = open_app(app_url)
    app.open()
    page = app.page
    area = app.plot_area()
    read_range = "() => { const l = document.querySelector('#map-graph .js-plotly-plot')._fullLayout; return [l.xaxis.range, l.yaxis.range]; }"
    before = page.evaluate(read_range)
    app.drag_mode("zoom")
    corner = (area["x"] + area["width"] * 0.3, area["y"] + area["height"] * 0.3)
    app.drag_path([corner, (area["x"] + area["width"] * 0.6, area["y"] + area["height"] * 0.7)], steps=10)
    page.wait_for_function(f"(before) => JSON.stringify(({read_range})()) !== JSON.stringify(before)", arg=before)
    zoomed = page.evaluate(read_range)
    app.choose("color-by", "prediction error")
    app.wait_for_map(lambda i: any((t["colorbar"] or "").startswith("error in") for t in i["traces"]), what="the map coloured by error")
    page.wait_for_timeout(300)
    assert page.evaluate(read_range) == zoomed
    assert page.evaluate("() => document.querySelector('#map-graph .js-plotly-plot')._fullLayout.dragmode") == "zoom"
    app.choose("map-size-by", ENERGY)
    page.wait_for_function(
        "() => { const t = document.querySelector('#map-graph .js-plotly-plot')._fullData[0];"
        " return t.marker && (Array.isArray(t.marker.size) || ArrayBuffer.isView(t.marker.size)); }"
    )
    page.wait_for_timeout(300)
    assert page.evaluate(read_range) == zoomed


def test_new_dataset_clears_viewer_and_selection_and_table_types(app_url, open_app):
    app = open_app(app_url)
    app.open()
    page = app.page
    index = app.isolated(1)[0]
    app.click_point(index)
    app.wait_for_viewer(index)
    app.lasso(_square(app.plot_area(), 0.3, 0.3, 0.6, 0.6))
    app.open_tab("Select & export")
    page.wait_for_function("() => document.querySelector('#export-selection-summary').innerText.includes('(lasso)')")

    app.upload(DATA / "explore_c-gap-20u.xyz")
    app.wait_for_map(lambda i: "explore_c-gap-20u" in i["title"], what="the uploaded map")
    assert app.viewer() == {"index": "", "atoms": ""}
    app.wait_for_ring(None)
    page.wait_for_function("() => document.querySelector('#export-selection-summary').innerText.startsWith('Select points first')")
    # a text column of the new file is shown as text, not "Invalid Number"
    app.open_tab("Properties")
    page.locator("#dataset-property-table .ag-cell", has_text="Amorphous_Bulk").first.wait_for()
    assert "Invalid Number" not in page.locator("#dataset-property-table").inner_text()


def test_no_cloud_upload_button(app_url, open_app):
    app = open_app(app_url)
    app.open()
    titles = app.page.eval_on_selector_all("#map-graph .modebar-btn", "els => els.map(e => e.getAttribute('data-title'))")
    assert "Lasso Select" in titles and "Box Select" in titles
    assert not [t for t in titles if t and ("cloud" in t.lower() or "chart studio" in t.lower())]


def test_the_content_security_policy_lets_the_whole_app_work(app_url, open_app):
    """Under the CSP (no third-party origin, inline scripts by hash), the map, a lasso, the 3D
    viewer and a download all work, and the browser reports no violation."""
    app = open_app(app_url)
    app.open()
    response = app.page.request.get(app_url)
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    index = app.isolated(1)[0]
    app.click_point(index)
    app.wait_for_viewer(index)
    app.page.wait_for_function("() => { const c = document.querySelector('#structure-viewer .structure-cell[data-drawn]');"
                               " return c && c.querySelector('.structure-title').textContent.startsWith('#'); }")
    app.open_tab("Select & export")
    _lasso(app, _square(app.plot_area(), 0.3, 0.3, 0.6, 0.6))
    violations = [e for e in app.errors if "Content Security Policy" in e or "Refused to" in e]
    assert not violations, violations


# --------------------------------------------------------------------------------------------------
# jobs: a server of its own for each test (nothing cached, nothing shared)


def _set_number(page, element_id: str, value) -> None:
    field = page.locator(f"#{element_id}")
    field.fill(str(value))
    field.press("Tab")


def test_on_celery_workers_the_app_maps_the_sample_and_an_upload(own_app, open_app, redis_server, celery_worker, tmp_path):
    """The deployment of several machines: the web server sends its jobs through Redis to a
    ``structure-explorer worker`` sharing the data folder; the page works the same."""
    celery_worker(tmp_path / "data")
    url, _, log = own_app({"EXPLORER_REDIS_URL": redis_server["url"]})
    app = open_app(url)
    app.open()
    app.upload(DATA / "explore_c-gap-20u.xyz")
    app.wait_for_map(lambda info: "explore_c-gap-20u" in info["title"], what="the uploaded map")
    worker_log = (tmp_path / "worker-0.log").read_text()
    ran = [line for line in worker_log.splitlines() if "structure_explorer.run_job" in line and "succeeded" in line]
    assert len(ran) >= 4, worker_log[-2000:]  # SOAP and map of each dataset ran on the worker


def test_fps_then_new_soap_then_another_session_maps_its_upload(own_app, open_app):
    """The sequence that used to kill every later job: parallel Numba FPS in the web process,
    then a job forked from it."""
    url, _, log = own_app()
    app = open_app(url)
    app.open()
    page = app.page
    _set_number(page, "descriptors-cutoff", 4.5)
    page.locator("#descriptors-compute").click()
    app.wait_for_map(lambda i: True)
    app.open_tab("Select & export")
    page.locator("#export-fps-run").click()
    app.wait_for_status("Selected the 50 most diverse structures (FPS)")
    _set_number(page, "descriptors-cutoff", 4.0)
    page.locator("#descriptors-compute").click()
    page.wait_for_function("() => document.querySelector('#descriptors-compute').disabled === false", timeout=120_000)
    app.wait_for_map(lambda i: True)
    assert "fork()" not in log.read_text()

    other = open_app(url)
    other.open()
    other.upload(DATA / "explore_mc3d.xyz")
    info = other.wait_for_map(lambda i: "explore_mc3d" in i["title"], what="the second session's uploaded map")
    assert info["count"] == 5
    assert "explore_mc3d" in other.page.locator("#dataset-name").inner_text()
    # the first session is untouched
    assert "small_molecules-1000" in app.page.locator("#dataset-name").inner_text()
    text = log.read_text()
    assert "OpenMP" not in text
    # a quiet log: no line per request, though the page polled its jobs many times
    assert "_dash-update-component" not in text


def test_four_sessions_opened_at_once_all_get_their_map(own_app, chromium_browser):
    url, _, _ = own_app()
    pages = []
    for _ in range(4):
        context = chromium_browser.new_context(viewport={"width": 1200, "height": 800})
        pages.append((context, context.new_page()))
    try:
        for _, page in pages:  # navigations in flight together: the same page-load jobs at the same moment
            page.goto(url, wait_until="commit")
        for _, page in pages:
            page.wait_for_function(
                "(n) => { const gd = document.querySelector('#map-graph .js-plotly-plot');"
                " return gd && gd._fullData && gd._fullData.reduce((s, t) => s + (t.x ? t.x.length : 0), 0) === n; }",
                arg=N_SAMPLE, timeout=240_000,
            )
    finally:
        for context, _ in pages:
            context.close()


def _running_job_pids(data_dir) -> list[int]:
    pids = []
    for path in (data_dir / "jobs").glob("*.job"):
        try:
            pids.append(pickle.loads(path.read_bytes())["pid"])  # the server's own job record
        except (OSError, EOFError, pickle.UnpicklingError):
            continue
    return pids


def test_a_killed_job_is_reported_and_a_retry_works(own_app, open_app):
    url, data_dir, _ = own_app()
    app = open_app(url)
    app.open()
    page = app.page
    # a long job: large per-atom SOAP of the 17,743 environments
    _set_number(page, "descriptors-n-max", 12)
    _set_number(page, "descriptors-l-max", 10)
    page.locator("#descriptors-per label", has_text="per atom").click()
    page.locator("#descriptors-compute").click()
    deadline = time.monotonic() + 60
    while not _running_job_pids(data_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    pids = _running_job_pids(data_dir)
    assert pids, "the SOAP job never started"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)  # as the kernel's out-of-memory killer would
    message = app.wait_for_status("Computing SOAP failed", timeout_ms=60_000)
    assert "stopped without a result" in message and "Try again" in message
    assert page.locator("#status-message .status-error").count() == 1
    assert page.locator("#descriptors-compute").is_enabled()

    # retry with the defaults: the map comes
    _set_number(page, "descriptors-n-max", 8)
    _set_number(page, "descriptors-l-max", 6)
    page.locator("#descriptors-per label", has_text="per structure").click()
    page.locator("#descriptors-compute").click()
    app.wait_for_map(lambda i: i["count"] == N_SAMPLE)


def test_a_job_past_its_time_limit_is_reported(own_app, open_app):
    url, _, _ = own_app({"EXPLORER_JOB_TIMEOUT_S": "0.05"})
    app = open_app(url)
    app.page.goto(url)
    app.page.locator("#status-message").wait_for(state="attached")
    message = app.wait_for_status("failed", timeout_ms=60_000)
    assert "took longer than 0.05 s" in message


def test_reload_and_links_reopen_the_view_for_this_browser_only(app_url, open_app, chromium_browser, tmp_path):
    app = open_app(app_url)
    app.open()
    page = app.page
    app.upload(DATA / "explore_qm9.xyz")
    app.wait_for_map(lambda i: "explore_qm9" in i["title"], what="the uploaded map")
    app.choose("projection-method", "PCovR")
    app.wait_for_map(lambda i: "explore_qm9" in i["title"] and i["title"].startswith("PCovR"), what="the PCovR map")
    index = app.isolated(1, min_px=5)[0]
    app.click_point(index)
    app.wait_for_viewer(index)
    page.wait_for_function("(i) => location.search.includes('row=' + i) && location.search.includes('method=pcovr')", arg=index)

    page.reload()
    app.wait_for_map(lambda i: "explore_qm9" in i["title"] and i["title"].startswith("PCovR"), what="the view after a reload")
    assert app.wait_for_viewer(index)["index"] == str(index)
    assert app.dropdown_value("projection-method") == "PCovR"

    # "Save settings" writes the view; "Load settings" opens it again
    with page.expect_download() as saved:
        page.locator("#view-save-settings").click()
    settings = tmp_path / "view.json"
    saved.value.save_as(settings)
    assert '"method": "pcovr"' in settings.read_text()

    # the same link in another browser (another session) opens nothing of this one's upload
    other = chromium_browser.new_context().new_page()
    other.goto(page.url)
    other.wait_for_function("() => (document.querySelector('#dataset-name') || {}).innerText")
    assert "small_molecules-1000" in other.locator("#dataset-name").inner_text()
    other.context.close()

    # loading the settings file in a fresh page of this browser reopens the view
    fresh = page.context.new_page()
    fresh_app = type(app)(fresh, app_url)
    fresh_app.open()
    fresh.locator("#view-load-settings input[type=file]").set_input_files(str(settings))
    fresh_app.wait_for_map(lambda i: "explore_qm9" in i["title"] and i["title"].startswith("PCovR"), what="the loaded view")


def test_any_numeric_property_on_a_map_axis(app_url, open_app, sample_atoms):
    app = open_app(app_url)
    app.open()
    app.choose("map-y", ENERGY)
    app.page.wait_for_function(
        "(name) => document.querySelector('#map-graph .js-plotly-plot')._fullLayout.yaxis.title.text === name", arg=ENERGY)
    info = app.wait_for_map(lambda i: True)  # read after the redraw (read in the same predicate, it could be the old map)
    app.assert_one_point_per_row(info, N_SAMPLE)
    drawn = {}
    k = 0
    for trace in info["traces"]:
        for y in trace["y"]:
            drawn[info["indices"][k]] = y
            k += 1
    wrong = [(i, drawn[i], sample_atoms[i].info[ENERGY]) for i in range(N_SAMPLE) if abs(drawn[i] - sample_atoms[i].info[ENERGY]) > 1e-9]
    assert not wrong, wrong[:5]


def test_colour_by_prediction_shows_a_parity_plot_linked_to_the_viewer(app_url, open_app):
    app = open_app(app_url)
    app.open()
    page = app.page
    assert not page.locator("#map-parity-area").is_visible()
    app.choose("color-by", "predicted target (out-of-fold)")
    page.locator("#map-parity-area .js-plotly-plot").wait_for()
    page.wait_for_function(
        "() => { const g = document.querySelector('#map-parity-graph .js-plotly-plot');"
        " return g && g._fullLayout && (g._fullLayout.title.text || '').includes('out-of-fold RMSE'); }"
    )
    # click one parity point, as a person would: the viewer shows its structure, the map rings it
    page.locator("#map-parity-graph").scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    row, x, y = page.evaluate("""() => { const gd = document.querySelector('#map-parity-graph .js-plotly-plot');
        const t = gd._fullData[0], b = gd.getBoundingClientRect(), fl = gd._fullLayout;
        const i = Math.floor(t.x.length / 3);
        return [Number(gd.data[0].customdata[i][0]), b.left + fl._size.l + fl.xaxis.l2p(t.x[i]), b.top + fl._size.t + fl.yaxis.l2p(t.y[i])]; }""")
    page.mouse.move(x, y)
    page.wait_for_timeout(100)
    page.mouse.click(x, y)
    shown = app.wait_for_viewer_change()
    assert shown["index"] != ""


SHOWN_ROWS_JS = """() => { const out = [];
    document.querySelector('#map-graph .js-plotly-plot')._fullData.forEach((t) => {
        (t.selectedpoints || []).forEach((i) => out.push(Number(t.customdata[i][0]))); });
    return out; }"""
SHOWN_JS = ("() => document.querySelector('#map-graph .js-plotly-plot')._fullData"
            ".reduce((s, t) => s + (t.selectedpoints ? t.selectedpoints.length : 0), 0)")


def test_shift_box_highlights_the_union(app_url, open_app):
    """The points highlighted on the map are exactly those counted (and exported), and stay so."""
    app = open_app(app_url)
    app.open()
    page = app.page
    app.open_tab("Select & export")
    _, first, second = _first_and_second_areas(app)
    _lasso(app, first)
    _shift_box(app, second)
    try:
        page.wait_for_function(f"(n) => ({SHOWN_JS})() === n", arg=_count(app), timeout=20_000)
    except Exception as error:  # noqa: BLE001
        raise AssertionError(f"{page.evaluate(SHOWN_JS)} points highlighted for {app.selection_summary()!r}") from error
    page.wait_for_timeout(1_500)  # nothing redraws a different selection later
    shown = set(page.evaluate(SHOWN_ROWS_JS))
    assert len(shown) == _count(app)
    surely_a, maybe_a = app.points_inside(first)
    surely_b, maybe_b = app.points_inside(second)
    assert surely_a | surely_b <= shown <= maybe_a | maybe_b
