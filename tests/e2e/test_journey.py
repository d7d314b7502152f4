"""One user's journey through the app, end to end, on a fresh server with an empty data folder
(nothing cached): open -> map -> inspect -> kernel PCovR with the mixing slider -> lasso ->
CSV export -> upload another file -> back to the sample. Prints the time of each step.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA = REPO_ROOT / "tests" / "data"
N_SAMPLE = 985


def test_journey(fresh_app_url, open_app, sample_atoms, tmp_path):
    timings = {}
    app = open_app(fresh_app_url)
    page = app.page

    # 1. open: the default map (per-structure SOAP, PCA, first numeric property) with no click
    timings["page load -> sample map drawn (cold data folder)"] = app.open()
    info = app.wait_for_map(lambda i: "small_molecules-1000" in i["title"])
    app.assert_one_point_per_row(info, N_SAMPLE)

    # 2. inspect a structure
    start = time.perf_counter()
    index = app.isolated(1)[0]
    app.click_point(index)
    assert app.wait_for_viewer(index)["atoms"] == str(len(sample_atoms[index]))
    timings["click -> structure shown"] = time.perf_counter() - start

    # 3. kernel PCovR on the default target, then move the mixing with the keyboard
    start = time.perf_counter()
    app.choose("projection-method", "Kernel PCovR")
    kpcovr = app.wait_for_map(lambda i: i["title"].startswith("Kernel PCovR (mixing 0.50)"), what="the kernel PCovR map")
    timings["kernel PCovR map (985 points)"] = time.perf_counter() - start
    app.assert_one_point_per_row(kpcovr, N_SAMPLE)
    start = time.perf_counter()
    thumb = page.locator("#mixing-slider [role=slider]")
    thumb.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    moved = app.wait_for_map(lambda i: "mixing 0.60" in i["title"], what="the map at mixing 0.60")
    timings["mixing 0.50 -> 0.60, map redrawn"] = time.perf_counter() - start
    before = dict(zip(kpcovr["indices"], zip(kpcovr["traces"][0]["x"], kpcovr["traces"][0]["y"])))
    after = dict(zip(moved["indices"], zip(moved["traces"][0]["x"], moved["traces"][0]["y"])))
    assert any(np.hypot(before[k][0] - after[k][0], before[k][1] - after[k][1]) > 1e-9 for k in before)

    # 4. lasso a few structures and export them as CSV (indices, map coordinates, properties)
    app.open_tab("Select & export")
    area = app.plot_area()
    corner = (area["x"] + area["width"] * 0.55, area["y"] + area["height"] * 0.3)
    opposite = (area["x"] + area["width"] * 0.7, area["y"] + area["height"] * 0.55)
    surely, maybe = app.points_inside([corner, (opposite[0], corner[1]), opposite, (corner[0], opposite[1])])
    app.drag_mode("select")
    app.box(corner, opposite)
    page.wait_for_function("() => document.querySelector('#export-selection-summary').innerText.includes('selected (box)')")
    app.choose("export-format", "CSV (indices, map coordinates, properties)")
    with page.expect_download(timeout=60_000) as download_info:
        page.locator("#export-selection").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    table = pd.read_csv(path)
    chosen = table["index"].tolist()
    assert surely <= set(chosen) <= maybe and len(surely) >= 3
    energies = [a.info["dft_formation_energy_per_atom_in_eV"] for a in (sample_atoms[i] for i in chosen)]
    assert np.allclose(table["dft_formation_energy_per_atom_in_eV"], energies)
    coordinate_columns = [c for c in table.columns if re.search(r"kPCov", c)]
    assert coordinate_columns, f"map coordinates in the CSV: {list(table.columns)}"
    for column_title in coordinate_columns[:1]:
        drawn = [after[i][0] for i in chosen]
        assert np.allclose(table[column_title], drawn, rtol=1e-5, atol=1e-8)

    # 5. another file replaces the map; a bad one afterwards keeps it
    start = time.perf_counter()
    app.upload(DATA / "showcase.xyz")
    showcase = app.wait_for_map(lambda i: "showcase" in i["title"] and i["count"] == 29, what="the map of showcase.xyz")
    timings["upload showcase.xyz -> its map"] = time.perf_counter() - start
    app.assert_one_point_per_row(showcase, 29)
    assert page.locator("#dataset-summary-structures .value").inner_text() == "29"
    app.upload(DATA / "bad" / "malformed_number.xyz")
    assert "malformed_number.xyz" in app.wait_for_status("malformed_number.xyz")
    assert app.map_info()["count"] == 29

    # 6. a reload reopens the same view (the address holds it); the bare address opens the sample
    start = time.perf_counter()
    page.reload()
    info = app.wait_for_map(lambda i: "showcase" in i["title"] and i["title"].startswith("Kernel PCovR"), what="the view after a reload")
    timings["reload -> same view drawn (warm)"] = time.perf_counter() - start
    app.assert_one_point_per_row(info, 29)
    start = time.perf_counter()
    page.goto(fresh_app_url)
    info = app.wait_for_map(lambda i: "small_molecules-1000" in i["title"])
    timings["bare address -> sample map drawn (warm)"] = time.perf_counter() - start
    app.assert_one_point_per_row(info, N_SAMPLE)

    print()
    for step, seconds in timings.items():
        print(f"[timing] {step}: {seconds:.2f} s")
