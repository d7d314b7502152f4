"""The app in a real headless Chromium (Debian's), started as ``structure-explorer`` would be.

Each test opens its own browser context (its own session) on the shared app serving the bundled
sample dataset; features and maps are cached server-side, so only the first test pays for them.
The map is read from plotly's decoded ``_fullData``; it is clicked and lassoed with the real mouse.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA = REPO_ROOT / "tests" / "data"
N_SAMPLE = 985
ENERGY = "dft_formation_energy_per_atom_in_eV"


def _mixing(title: str) -> float | None:
    match = re.search(r"mixing ([0-9.]+)", title)
    return float(match.group(1)) if match else None


def _coordinates(info: dict) -> dict[int, tuple[float, float]]:
    """customdata[0] -> (x, y) over every trace."""
    coords = {}
    k = 0
    for trace in info["traces"]:
        for x, y in zip(trace["x"], trace["y"]):
            coords[info["indices"][k]] = (x, y)
            k += 1
    return coords


def test_sample_map_one_point_per_structure(app_url, open_app):
    app = open_app(app_url)
    seconds = app.open()
    info = app.wait_for_map(lambda i: "small_molecules-1000" in i["title"])
    print(f"\n[timing] page load -> sample map drawn (shared app): {seconds:.1f} s")

    app.assert_one_point_per_row(info, N_SAMPLE)
    assert info["title"].startswith("PCA of small_molecules-1000")
    # coloured by default by the first numeric property that varies
    assert [t["colorbar"] for t in info["traces"] if t["colorbar"]] == [ENERGY]
    page = app.page
    assert page.title() == "Structure-property explorer"
    assert "small_molecules-1000" in page.locator("#dataset-name").inner_text()
    assert page.locator("#dataset-summary-structures .value").inner_text() == "985"
    assert page.locator("#dataset-summary-atoms .value").inner_text().replace(",", "") == "17743"
    elements = page.locator("#dataset-summary-elements .value").inner_text()
    assert {e.strip() for e in elements.split(",")} == {"C", "H", "N", "O"}
    # the property table (ag-grid) lists the sample's properties
    page.locator("#dataset-property-table .ag-header-cell-text", has_text=ENERGY).first.wait_for()
    # every contract id is on the page
    for element_id in ("upload-dataset", "status-message", "map-graph", "structure-viewer", "color-by",
                       "projection-method", "mixing-slider", "target-property"):
        assert page.locator(f"#{element_id}").count() == 1, element_id


def test_assets_served(app_url, browser_page):
    """style.css comes from explorer.resources.assets_dir() and is applied."""
    page = browser_page
    page.goto(app_url)
    page.locator("#dataset-summary").wait_for()
    hrefs = page.eval_on_selector_all("link[rel=stylesheet]", "els => els.map(e => e.href)")
    assert any("/assets/style.css" in h for h in hrefs), hrefs
    display = page.eval_on_selector(".explorer-header", "el => getComputedStyle(el).display")
    assert display == "flex"


def test_click_shows_structure(app_url, open_app, sample_atoms):
    app = open_app(app_url)
    app.open()
    assert app.viewer() == {"index": "", "atoms": ""}
    for index in app.isolated(3):
        x, y = app.click_point(index)
        shown = app.wait_for_viewer(index)
        app.wait_for_ring((x, y))  # the point shown is ringed on the map
        assert shown == {"index": str(index), "atoms": str(len(sample_atoms[index]))}
        # the 3D view and the structure's property table are drawn
        app.page.locator(f"#structure-viewer .structure-cell[data-drawn='{index}:0']").wait_for()
        assert ENERGY in app.page.locator("#structure-viewer table.structure-properties").inner_text()
        formula = sample_atoms[index].get_chemical_formula()
        app.page.wait_for_function(
            "(f) => { const t = document.querySelector('#structure-viewer .structure-cell.active .structure-title');"
            " return t && t.textContent.includes(f); }",
            arg=formula,
        )


def test_color_by_changes_colours(app_url, open_app):
    app = open_app(app_url)
    app.open()
    before = app.wait_for_map(lambda i: any(t["colorbar"] == ENERGY for t in i["traces"]))
    colours_before = before["traces"][0]["color"]

    # reader bookkeeping (the file's cutoff=-1 nneightol=1.2) is never offered as a property
    app.page.locator("#color-by").click()
    offered = [o.inner_text() for o in app.page.get_by_role("option").all()]
    app.page.keyboard.press("Escape")
    assert ENERGY in offered and "nneightol" not in offered and "cutoff" not in offered

    # by the out-of-fold prediction of the target (a background job), then by its error
    assert app.dropdown_value("target-property") == ENERGY
    app.choose("color-by", "predicted target (out-of-fold)")
    predicted = app.wait_for_map(lambda i: any(t["colorbar"] == f"predicted {ENERGY}" for t in i["traces"]),
                                 what="map coloured by the predicted target")
    app.assert_one_point_per_row(predicted, N_SAMPLE)
    by_index = dict(zip(predicted["indices"], predicted["traces"][0]["color"]))
    energy = dict(zip(before["indices"], colours_before))
    a, b = np.array([by_index[k] for k in range(N_SAMPLE)]), np.array([energy[k] for k in range(N_SAMPLE)])
    assert not np.allclose(a, b)
    assert np.corrcoef(a, b)[0, 1] > 0.5, "out-of-fold predictions should follow the target"

    app.choose("color-by", "prediction error")
    error = app.wait_for_map(lambda i: any((t["colorbar"] or "").startswith(f"error in {ENERGY}") for t in i["traces"]),
                             what="map coloured by the prediction error")
    errors = dict(zip(error["indices"], error["traces"][0]["color"]))
    assert np.allclose([errors[k] for k in range(N_SAMPLE)], a - b, atol=1e-6)


def test_mixing_slider_reprojects(app_url, open_app):
    app = open_app(app_url)
    app.open()
    assert app.dropdown_value("target-property") == ENERGY
    app.choose("projection-method", "PCovR")
    first = app.wait_for_map(lambda i: i["title"].startswith("PCovR (mixing 0.50)"), what="the PCovR map")
    app.assert_one_point_per_row(first, N_SAMPLE)

    # click on the slider's rail near its right end
    track = app.page.locator("#mixing-slider .dash-slider-track")
    box = track.bounding_box()
    start = time.perf_counter()
    app.page.mouse.click(box["x"] + 0.9 * box["width"], box["y"] + box["height"] / 2)
    second = app.wait_for_map(lambda i: (_mixing(i["title"]) or 0.5) > 0.7, what="the map at a higher mixing")
    print(f"\n[timing] mixing slider moved -> PCovR map redrawn (985 points): {time.perf_counter() - start:.2f} s")
    mixing = _mixing(second["title"])
    assert app.page.locator("#mixing-slider [role=slider]").get_attribute("aria-valuenow") == f"{mixing:g}"
    app.assert_one_point_per_row(second, N_SAMPLE)
    c1, c2 = _coordinates(first), _coordinates(second)
    moved = np.array([np.hypot(c1[k][0] - c2[k][0], c1[k][1] - c2[k][1]) for k in range(N_SAMPLE)])
    assert moved.max() > 1e-6, "the coordinates must change with the mixing"

    # the keyboard moves it too, one step (0.05) at a time
    app.page.locator("#mixing-slider [role=slider]").focus()
    app.page.keyboard.press("ArrowLeft")
    third = app.wait_for_map(lambda i: _mixing(i["title"]) == pytest.approx(mixing - 0.05, abs=1e-6),
                             what="the map one keyboard step lower")
    c3 = _coordinates(third)
    assert max(abs(c3[k][0] - c2[k][0]) + abs(c3[k][1] - c2[k][1]) for k in range(N_SAMPLE)) > 1e-6


def test_broken_upload_shows_error_and_keeps_map(app_url, open_app, tmp_path):
    app = open_app(app_url)
    app.open()
    before = app.map_info()
    broken = tmp_path / "broken-frames.xyz"
    broken.write_text("3\nProperties=species:S:1:pos:R:3\nC 0 0 0\nH 1 0 0\n")  # 3 atoms announced, 2 given
    for bad in (DATA / "bad" / "truncated.xyz", broken):
        app.upload(bad)
        message = app.wait_for_status(bad.name, timeout_ms=60_000)
        assert "Could not open" in message and bad.name in message
        info = app.map_info()
        app.assert_one_point_per_row(info, N_SAMPLE)
        assert info["title"] == before["title"]
        assert "small_molecules-1000" in app.page.locator("#dataset-name").inner_text()


def test_good_upload_replaces_map(app_url, open_app):
    app = open_app(app_url)
    app.open()
    app.upload(DATA / "explore_c-gap-20u.xyz")
    app.wait_for_status("explore_c-gap-20u.xyz", "5 structures")
    info = app.wait_for_map(lambda i: "explore_c-gap-20u" in i["title"], what="the map of the uploaded file")
    app.assert_one_point_per_row(info, 5)
    page = app.page
    assert "explore_c-gap-20u.xyz" in page.locator("#dataset-name").inner_text()
    assert page.locator("#dataset-summary-structures .value").inner_text() == "5"
    assert page.locator("#dataset-summary-atoms .value").inner_text().replace(",", "") == "243"
    assert page.locator("#dataset-summary-periodic .value").inner_text() != "non-periodic"
    # a click on the new map shows a structure of the new file
    app.click_point(4)
    from ase.io import read

    assert app.wait_for_viewer(4)["atoms"] == str(len(read(str(DATA / "explore_c-gap-20u.xyz"), index=4)))


def test_sessions_never_see_each_others_uploads(app_url, open_app):
    a = open_app(app_url)
    a.open()
    a.upload(DATA / "explore_mc3d.xyz")
    info = a.wait_for_map(lambda i: "explore_mc3d" in i["title"], what="session A's uploaded map")
    assert info["count"] == 5

    b = open_app(app_url)
    b.open()
    b.page.reload()
    info_b = b.wait_for_map(lambda i: "small_molecules-1000" in i["title"])
    b.assert_one_point_per_row(info_b, N_SAMPLE)
    assert "small_molecules-1000" in b.page.locator("#dataset-name").inner_text()
    # and A still has its own
    assert a.map_info()["count"] == 5 and "explore_mc3d" in a.page.locator("#dataset-name").inner_text()


def test_per_atom_mode(app_url, open_app):
    from ase.io import read

    molecules = read(str(DATA / "explore_qm9.xyz"), index=":")
    n_atoms = sum(len(m) for m in molecules)
    assert n_atoms == 19

    app = open_app(app_url)
    app.open()
    app.upload(DATA / "explore_qm9.xyz")
    app.wait_for_map(lambda i: "explore_qm9" in i["title"] and i["count"] == 5, what="the per-structure map of qm9")
    app.page.locator("#descriptors-per label", has_text="per atom").click()
    app.page.locator("#descriptors-compute").click()
    info = app.wait_for_map(lambda i: "explore_qm9" in i["title"] and i["count"] == n_atoms, what="the per-atom map")
    app.assert_one_point_per_row(info, n_atoms)

    # environments are numbered atom by atom in file order: 0 in the first molecule, the last in the last
    starts = np.cumsum([0] + [len(m) for m in molecules])
    for environment in app.isolated(3, min_px=6):
        structure = int(np.searchsorted(starts, environment, side="right") - 1)
        app.click_point(environment)
        shown = app.wait_for_viewer(structure)
        assert shown["atoms"] == str(len(molecules[structure]))


def test_lasso_then_export_downloads_exactly_the_selection(app_url, open_app, sample_atoms, tmp_path):
    """A lasso drawn with the mouse selects the points inside it; the export holds exactly them."""
    from compute.datasets import read_dataset

    app = open_app(app_url)
    app.open()
    page = app.page
    app.open_tab("Select & export")
    area = app.plot_area()
    cx, cy, r = area["x"] + area["width"] * 0.45, area["y"] + area["height"] * 0.5, min(area["width"], area["height"]) * 0.18
    polygon = [(cx - r, cy - r), (cx + r, cy - 0.6 * r), (cx + 0.8 * r, cy + r), (cx - 0.7 * r, cy + 0.8 * r)]
    surely, maybe = app.points_inside(polygon)
    assert len(surely) > 20
    app.lasso(polygon)
    page.wait_for_function("() => document.querySelector('#export-selection-summary').innerText.includes('selected (lasso)')")
    count = int(app.selection_summary().split()[0].replace(",", ""))
    assert len(surely) <= count <= len(maybe)
    page.wait_for_timeout(1500)  # a redraw used to clear the selection a moment later
    assert app.selection_summary().startswith(f"{count:,} structures selected")
    assert app.dropdown_value("export-format").startswith("extended XYZ")  # the default
    # the selection is highlighted on the map, every point still drawn
    app.assert_one_point_per_row(app.wait_for_map(lambda i: True), N_SAMPLE)

    with page.expect_download(timeout=60_000) as download_info:
        page.locator("#export-selection").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".xyz")
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    exported = read_dataset(path)
    chosen = exported.structure_properties["source_index"].astype(int).tolist()
    assert len(chosen) == count and surely <= set(chosen) <= maybe
    for structure, index in zip(exported.structures, chosen):
        reference = sample_atoms[index]
        assert structure.get_chemical_symbols() == reference.get_chemical_symbols()
        assert np.allclose(structure.positions, reference.positions, atol=1e-6)
    energies = exported.structure_properties[ENERGY].to_numpy()
    assert np.allclose(energies, [sample_atoms[i].info[ENERGY] for i in chosen])
    assert f"Exported {count:,}" in app.wait_for_status("Exported")


def test_map_saves_as_png_and_vector_svg(app_url, open_app, tmp_path):
    """"Save PNG" downloads a PNG; with "vector rendering" the map's traces are SVG scatter (not
    WebGL) and "Save SVG" downloads an SVG whose points are vector shapes."""
    app = open_app(app_url)
    app.open()
    page = app.page
    with page.expect_download(timeout=60_000) as png:
        page.locator("#map-save-png").click()
    png_path = tmp_path / "map.png"
    png.value.save_as(png_path)
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    page.locator("#map-vector input[type=checkbox]").check()
    info = app.wait_for_map(lambda i: all(t["type"] == "scatter" for t in i["traces"]), what="the vector map")
    app.assert_one_point_per_row(info, N_SAMPLE)
    with page.expect_download(timeout=60_000) as svg:
        page.locator("#map-save-svg").click()
    svg_path = tmp_path / "map.svg"
    svg.value.save_as(svg_path)
    text = svg_path.read_text()
    assert text.lstrip().startswith("<svg") and "</svg>" in text
    # one vector marker (a path) per structure, and no raster image of a WebGL canvas
    assert text.count("<path") >= N_SAMPLE and "<image" not in text
