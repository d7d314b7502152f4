"""The 3D structure viewer (chemiscope's MoleculeViewer, assets/structure_viewer.js) driven as a
person drives it: clicks on the map, the controls above the view, mouse drags and the wheel on
the view. Each test keeps screenshots (in its tmp folder; also in $VIEWER_SHOTS when set) that
were looked at when the test was written.

What the viewer drew is read from 3Dmol's model inside chemiscope's viewer (the equivalent of the
old Plotly graph's ``_fullData``): the atoms drawn (supercell replicas included), their positions
and bonds.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from .conftest import DATA, start_app, stop_app

pytestmark = pytest.mark.browser

def _model(page) -> dict:
    return page.evaluate("() => window.__explorerViewer.model()")


def _shot(page, tmp_path: Path, name: str, selector: str = ".viewer-panel") -> np.ndarray:
    from PIL import Image

    path = tmp_path / f"{name}.png"
    page.locator(selector).screenshot(path=str(path))
    if os.environ.get("VIEWER_SHOTS"):
        Path(os.environ["VIEWER_SHOTS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(os.environ["VIEWER_SHOTS"]) / path.name)
    return np.asarray(Image.open(path).convert("RGB"), dtype=float)


def _assert_fitted(extent: dict) -> tuple:
    """The atoms a view is fitted to (``model().extent``, screen pixels), with a crystal's cell, are
    all in the view, in its middle, and fill most of its width or height; returns the view's box."""
    (x0, y0, x1, y1), (left, top, right, bottom) = extent["atoms"], extent["view"]
    for x, y in extent["cell"]:
        x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
    width, height = right - left, bottom - top
    assert left <= x0 and x1 <= right and top <= y0 and y1 <= bottom, extent
    assert abs((x0 + x1) / 2 - (left + right) / 2) < 0.05 * width, ("not centred", extent)
    assert abs((y0 + y1) / 2 - (top + bottom) / 2) < 0.05 * height, ("not centred", extent)
    assert max((x1 - x0) / width, (y1 - y0) / height) > 0.5, ("small in its view", extent)
    return left, top, right, bottom


def _host(page) -> str:
    return "#viewer-canvas .structure-cell.active .structure-host"


def _drawn(app, structure: int | None = None, timeout_ms: int = 60_000) -> None:
    """Wait until the active viewer has rendered ``structure`` (any, when None)."""
    app.page.wait_for_function(
        "(s) => { const c = document.querySelector('#viewer-canvas .structure-cell.active');"
        " const d = c && c.getAttribute('data-drawn'); return d && (s === null || d.split(':')[0] === String(s)); }",
        arg=structure, timeout=timeout_ms)


def _settled(app) -> None:
    """Wait for the settings' clientside callback to reach the viewer, and a frame to render."""
    app.page.wait_for_timeout(400)
    _drawn(app)


def _set_number(page, element_id: str, value) -> None:
    field = page.locator(f"#{element_id}")
    field.fill(str(value))
    field.press("Enter")


def _differs(a: np.ndarray, b: np.ndarray, tol: float = 0.003) -> bool:
    if a.shape != b.shape:
        return True
    return float((np.abs(a - b).sum(axis=2) > 30).mean()) > tol


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Factory: a server of its own for a dataset file (stopped after the module)."""
    started = []

    def make(path: Path):
        process, url, _ = start_app([str(path)], tmp_path_factory.mktemp("viewer-app"))
        started.append(process)
        return url

    yield make
    for process in started:
        stop_app(process)


def _open_and_click(open_app, url, n_rows: int | None = None, which: int = 0):
    app = open_app(url)
    app.open()
    if n_rows is not None:
        app.wait_for_map(lambda info: info["count"] == n_rows)
    index = app.isolated(max(which + 1, 1), min_px=4)[which]
    app.click_point(index)
    app.wait_for_viewer(index)
    _drawn(app, index)
    return app, index


# --------------------------------------------------------------------------------------------------


#: the drawing buffer's pixels per CSS pixel of the active view's canvas
_RESOLUTION = """() => { const host = document.querySelector('#viewer-canvas .structure-cell.active .structure-host');
    const c = Array.from(host.children).find((e) => e.shadowRoot).shadowRoot.querySelector('canvas');
    return Math.round(c.width / c.getBoundingClientRect().width); }"""


def test_viewer_fills_its_panel_rotates_zooms_resets_and_exports_png(app_url, open_app, sample_atoms, tmp_path):
    app, index = _open_and_click(open_app, app_url)
    page = app.page
    host = page.locator(_host(page)).bounding_box()
    panel = page.locator(".viewer-panel").bounding_box()
    assert host["width"] > 0.9 * (panel["width"] - 30) and host["height"] >= 400, (host, panel)
    assert page.locator("#structure-viewer").get_attribute("data-atom-count") == str(len(sample_atoms[index]))
    model = _model(page)
    assert model["elements"] == sample_atoms[index].get_chemical_symbols()
    assert model["bonds"] > 0

    first = _shot(page, tmp_path, "01-sample-structure", _host(page))
    # the structure fills the view: what is drawn spans most of the width or the height
    ink = np.abs(first - first[5, 5]).sum(axis=2) > 40
    ink[:30] = False  # the settings button in the corner
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    span = max((rows[-1] - rows[0]) / ink.shape[0], (cols[-1] - cols[0]) / ink.shape[1])
    assert span > 0.55, span
    # hydrogens are drawn, and visible on the light ground: near-white pixels well apart from it
    if "H" in sample_atoms[index].get_chemical_symbols():
        white = (first.min(axis=2) > 235).sum()
        assert white > 30, white

    box = page.locator(_host(page)).bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    sharp = page.evaluate(_RESOLUTION)
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 90, cy + 40, steps=8)
    # while the hand turns it, a software-WebGL page (headless Chromium without a GPU, as in CI)
    # draws drafts at the screen's own resolution, not 3Dmol's antialiasing 2x
    turning = page.evaluate(_RESOLUTION)
    software = _model(page)["software_gl"]
    page.mouse.up()
    page.wait_for_timeout(300)
    assert sharp == 2 and turning == (1 if software else 2) and page.evaluate(_RESOLUTION) == 2, (sharp, turning, software)
    rotated = _shot(page, tmp_path, "02-rotated", _host(page))
    assert _differs(first, rotated)
    page.mouse.move(cx, cy)
    page.mouse.wheel(0, -400)
    assert page.evaluate(_RESOLUTION) == (1 if software else 2)  # a zoom by the wheel too, until the wheel rests
    page.wait_for_timeout(600)
    assert page.evaluate(_RESOLUTION) == 2
    zoomed = _shot(page, tmp_path, "03-zoomed", _host(page))
    assert _differs(rotated, zoomed)
    page.locator("#viewer-reset").click()
    page.wait_for_timeout(300)
    reset = _shot(page, tmp_path, "04-reset", _host(page))
    assert _differs(zoomed, reset)

    # PNG export of the view
    with page.expect_download() as download:
        page.locator("#viewer-png").click()
    saved = tmp_path / "export.png"
    download.value.save_as(saved)
    from PIL import Image

    image = Image.open(saved)
    assert image.format == "PNG" and image.size[0] > 200 and image.size[1] > 200
    assert download.value.suggested_filename == f"structure-{index}.png"
    assert not app.errors, app.errors


def test_styles_and_labels_change_the_drawing(app_url, open_app, tmp_path):
    app, _ = _open_and_click(open_app, app_url, which=1)
    page = app.page
    shots = {"ball-and-stick": _shot(page, tmp_path, "10-ball-and-stick", _host(page))}
    for label in ("space filling", "licorice"):
        app.choose("viewer-style", label)
        _settled(app)
        shots[label] = _shot(page, tmp_path, f"11-{label.replace(' ', '-')}", _host(page))
    ink = {k: float((np.abs(v - v[5, 5]).sum(axis=2) > 40).mean()) for k, v in shots.items()}
    # space filling covers more of the view than ball and stick, licorice less
    assert ink["space filling"] > ink["ball-and-stick"] > ink["licorice"], ink
    app.choose("viewer-style", "ball and stick")
    for label in ("element", "atom index"):
        app.choose("viewer-labels", label)
        _settled(app)
        labelled = _shot(page, tmp_path, f"12-labels-{label.replace(' ', '-')}", _host(page))
        assert _differs(shots["ball-and-stick"], labelled)
        assert page.evaluate("() => window.__explorerViewer.model().labels") > 0


def _periodic_file(tmp_path: Path) -> Path:
    from ase import Atoms
    from ase.build import bulk, molecule
    from ase.io import write

    mgo = bulk("MgO", "rocksalt", a=4.21)
    si = bulk("Si", "diamond", a=5.43)
    si.positions[1] += si.cell[0] * 1.0  # an atom outside the cell: wrapping brings it back
    nccn = Atoms("NCCN", positions=[[0, 0, -1.9], [0, 0, -0.7], [0, 0, 0.7], [0, 0, 1.9]])
    frames = [mgo, si, nccn] + [molecule(name) for name in ("H2O", "CH4", "NH3", "C6H6", "CH3OH")]
    for k, atoms in enumerate(frames):
        atoms.info["energy"] = float(k)
    path = tmp_path / "periodic.xyz"
    write(path, frames, format="extxyz")
    return path


def test_periodic_cell_supercell_and_wrap(served, open_app, tmp_path):
    url = served(_periodic_file(tmp_path))
    app = open_app(url)
    app.open()
    app.wait_for_map(lambda info: info["count"] == 8)
    page = app.page
    app.pixels()  # the map is drawn and its points placed
    for structure, n_atoms, name in ((0, 2, "MgO"), (1, 2, "Si")):
        app.click_point(structure)
        app.wait_for_viewer(structure)
        _drawn(app, structure)
        assert _model(page)["atoms"] == n_atoms
        _shot(page, tmp_path, f"20-{name}-cell", _host(page))
        # a crystal's whole unit cell is in the view, fitted with its atoms
        extent = _model(page)["extent"]
        assert len(extent["cell"]) == 8, extent
        _assert_fitted(extent)
        for field in "abc":
            _set_number(page, f"viewer-supercell-{field}", 3)
        page.wait_for_function("() => window.__explorerViewer.model().atoms === 54")
        model = _model(page)
        assert model["cell"] is True
        # bonds join atoms drawn next to each other: none is longer than a covalent bond
        assert 0 < model["longest_bond"] < 2.6, model
        # the view is fitted again to the supercell: every atom's centre is inside the view
        page.wait_for_timeout(300)
        extent = _model(page)["extent"]
        left, top, right, bottom = _assert_fitted(extent)
        # chemiscope's "3x3x3 supercell" badge, at the bottom left (not under the options button)
        badge = page.locator(f"{_host(page)} .chsp-cell-info")
        assert badge.inner_text() == "3x3x3 supercell"
        box = badge.bounding_box()
        assert box["y"] > (top + bottom) / 2 and box["x"] < (left + right) / 2, (box, extent)
        _shot(page, tmp_path, f"21-{name}-supercell-3x3x3", _host(page))
        for field in "abc":
            _set_number(page, f"viewer-supercell-{field}", 1)
        page.wait_for_function(f"() => window.__explorerViewer.model().atoms === {n_atoms}")
    # Si's second atom sits a whole cell vector away: wrapped, every atom is inside the cell
    outside = _model(page)["fractional"]
    assert max(max(f) for f in outside) > 1.0
    page.locator("#viewer-options label", has_text="wrap into the cell").click()
    page.wait_for_function("() => { const f = window.__explorerViewer.model().fractional;"
                           " return f.every(r => r.every(x => x >= -1e-6 && x < 1 + 1e-6)); }")
    _shot(page, tmp_path, "22-Si-wrapped", _host(page))
    # the linear NCCN molecule is whole in the view at 1920x1080
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.wait_for_timeout(1000)  # the map is laid out again
    app.click_point(2)
    _drawn(app, 2)
    page.wait_for_timeout(400)
    shot = _shot(page, tmp_path, "23-NCCN-1920x1080", _host(page))
    ink = np.abs(shot - shot[:, 5:6]).sum(axis=2) > 40  # the ground is a vertical gradient
    ink[:30] = False
    assert ink.sum() > 500, "NCCN is drawn"
    ink = ink[:-8, 3:-3]  # the frame's rounded border
    assert not ink[:, :4].any() and not ink[:, -4:].any() and not ink[-4:, :].any(), "the molecule touches the view's edge"
    assert not app.errors, app.errors


def test_per_atom_centre_environment_and_properties(served, open_app, tmp_path):
    from ase.io import read, write

    frames = read(str(DATA / "alpha-mu.xyz"), index=":")
    path = tmp_path / "alpha.xyz"
    write(path, frames, format="extxyz")
    url = served(path)
    app = open_app(url)
    app.open()
    page = app.page
    # a short cutoff: "environment only" then leaves out part of these molecules
    _set_number(page, "descriptors-cutoff", 2.5)
    page.locator("#descriptors-per label", has_text="per atom").click()
    page.locator("#descriptors-compute").click()
    n_atoms = sum(len(f) for f in frames)
    app.wait_for_map(lambda info: info["count"] == n_atoms)
    index = app.isolated(1, min_px=4)[0]
    app.click_point(index)
    app.page.wait_for_function("() => document.querySelector('#structure-viewer').getAttribute('data-atom-index') !== ''")
    _drawn(app)
    viewer = page.locator("#structure-viewer")
    structure = int(viewer.get_attribute("data-structure-index"))
    atom = int(viewer.get_attribute("data-atom-index"))
    assert viewer.get_attribute("data-atom-count") == str(len(frames[structure]))
    symbol = frames[structure].get_chemical_symbols()[atom]
    details = page.locator("#viewer-details").inner_text()
    # the centre's element and per-atom properties, beside the structure's
    assert f"centre atom {atom} ({symbol})" in details and "axx" in details and "dipole_ccsd" in details
    assert f"centre atom {atom} ({symbol})" in page.locator(".structure-cell.active .structure-title").inner_text()
    assert _model(page)["highlighted"] == atom
    everything = _shot(page, tmp_path, "30-per-atom-centre", ".viewer-panel")
    page.locator("#viewer-options label", has_text="environment only").click()
    _settled(app)
    only = _shot(page, tmp_path, "31-environment-only", ".viewer-panel")
    assert _differs(everything, only)
    # the environment shown fills the view (fitted to the atoms within the cutoff, not the hidden rest)
    _assert_fitted(_model(page)["extent"])
    assert not app.errors, app.errors


def test_colour_by_a_property_with_bar_and_range(served, open_app, tmp_path):
    url = served(DATA / "alpha-mu.xyz")
    app, index = _open_and_click(open_app, url, n_rows=2)
    page = app.page
    before = _shot(page, tmp_path, "40-elements", _host(page))
    app.choose("viewer-atom-color-by", "axx")
    _settled(app)
    coloured = _shot(page, tmp_path, "41-colour-by-axx", _host(page))
    assert _differs(before, coloured)
    model = _model(page)
    assert model["color"]["property"] == "axx" and model["colorbar"] is True
    _set_number(page, "viewer-color-min", -5)
    _set_number(page, "viewer-color-max", 5)
    page.wait_for_function("() => { const c = window.__explorerViewer.model().color; return c.min === -5 && c.max === 5; }")
    _shot(page, tmp_path, "42-colour-range", _host(page))
    assert not app.errors, app.errors


def test_shapes_arrows_and_ellipsoids_with_a_scale(served, open_app, tmp_path):
    # the dipole (per structure, an arrow at the centre of mass), the polarisability tensors (per
    # structure and per atom, see-through ellipsoids), with a scale; forces (per atom, arrows)
    url = served(DATA / "alpha-mu.xyz")
    app, index = _open_and_click(open_app, url, n_rows=2)
    page = app.page
    labels = page.locator("#viewer-shapes label").all_inner_texts()
    assert {"dipole_ccsd (structure)", "ccsd_polarizability (structure)", "a (per atom)"} <= {t.strip() for t in labels}, labels
    plain = _shot(page, tmp_path, "43-no-shapes", _host(page))
    page.locator("#viewer-shapes label", has_text="dipole_ccsd (structure)").click()
    _settled(app)
    arrow = _shot(page, tmp_path, "44-dipole-arrow", _host(page))
    assert _differs(plain, arrow), (page.evaluate("() => [window.__explorerViewer.settings(), window.__explorerViewer.model().shape]"), app.errors)
    # turned with the mouse, the arrow is seen from the side: green (the first arrow colour is red,
    # the dipoles are sorted), starting at the centre of mass
    box = page.locator(_host(page)).bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 120, cy, steps=8)
    page.mouse.up()
    page.wait_for_timeout(300)
    side = _shot(page, tmp_path, "44b-dipole-side", _host(page))
    green = (side[..., 1] > side[..., 0] + 60) & (side[..., 1] > side[..., 2] + 60)
    assert green.sum() > 150, green.sum()
    page.locator("#viewer-shapes label", has_text="dipole_ccsd (structure)").click()
    page.locator("#viewer-shapes label", has_text="a (per atom)").click()
    _settled(app)
    assert page.evaluate("() => window.__explorerViewer.model().shape") == "a (per atom)"
    ellipsoids = _shot(page, tmp_path, "45-atom-ellipsoids", _host(page))
    assert _differs(side, ellipsoids)
    page.locator("#viewer-shapes label", has_text="a (per atom)").click()
    page.locator("#viewer-shapes label", has_text="ccsd_polarizability (structure)").click()
    _settled(app)
    molecular = _shot(page, tmp_path, "45b-molecular-ellipsoid", _host(page))
    assert _differs(ellipsoids, molecular)
    _set_number(page, "viewer-shape-scale", 2.5)
    page.wait_for_function("() => window.__explorerViewer.settings().scale === 2.5")
    _drawn(app)
    page.wait_for_timeout(300)
    bigger = _shot(page, tmp_path, "46-shapes-scaled", _host(page))
    assert _differs(molecular, bigger)
    # the view stays (a new scale is not fitted again): the ellipsoid, 2.5 times larger, reaches
    # out of the view it filled 0.9 of, tinting much of the band along the view's edges
    band = np.zeros(bigger.shape[:2], dtype=bool)
    band[:, :30] = band[:, -30:] = band[-30:, :] = True
    band[:40] = False  # chemiscope's options button
    tinted = (np.abs(bigger - molecular).sum(axis=2) > 12)[band].mean()
    assert tinted > 0.25, tinted
    assert not app.errors, app.errors

    # forces: an arrow on every atom
    url = served(DATA / "trajectory.xyz")
    app = open_app(url)
    app.open()
    app.wait_for_map(lambda info: info["count"] == 20)
    page = app.page
    app.click_point(3)
    app.wait_for_viewer(3)
    _drawn(app, 3)
    plain = _shot(page, tmp_path, "47-no-forces", _host(page))
    page.locator("#viewer-shapes label", has_text="forces (per atom)").click()
    _settled(app)
    forces = _shot(page, tmp_path, "48-forces", _host(page))
    assert _differs(plain, forces, tol=0.001)
    assert not app.errors, app.errors


#: the view a structure opens with (assets/structure_viewer.js resetView): 3Dmol's quaternion
#: (x, y, z, w) from the structure's axes to the screen's
DEFAULT_VIEW = (0.2125, 0.2125, 0.0, 0.9537)


def _rotation(q) -> np.ndarray:
    x, y, z, w = np.asarray(q, dtype=float) / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _on_screen(page) -> tuple[list[float], np.ndarray]:
    """How much of each per-structure arrow shown lies across the screen (1: all of it, 0: it
    points at the person), from where 3Dmol projects its ends; and the screen images of the
    structure's unit axes (pixels, y down)."""
    info = page.evaluate("() => window.__explorerViewer.arrows()")
    origin = np.array(info["origin"])
    axes = np.array(info["axes"]) - origin
    scale = np.sqrt((axes ** 2).sum() / 2)  # pixels per Å: the unit axes' squared images add up to 2 scale²
    parts = [float(np.hypot(*(np.subtract(a["end"], a["start"]))) / (scale * np.linalg.norm(a["vector"]))) for a in info["arrows"]]
    return parts, axes


def test_a_dipole_pointing_at_the_person_is_turned_across_the_screen(served, open_app, tmp_path):
    # molecules whose dipoles point straight out of the screen in the view a structure opens with
    # (even ones), or lie across it (odd ones)
    from ase.build import molecule
    from ase.io import write

    rotation = _rotation(DEFAULT_VIEW)
    toward, across = rotation.T @ [0, 0, 1], rotation.T @ [1, 0, 0]
    frames = []
    for k, name in enumerate(("H2O", "NH3", "CH4", "CH3OH", "C6H6", "CH3CHO")):
        atoms = molecule(name)
        atoms.info["energy"] = float(k)
        atoms.info["dipole"] = 1.5 * (toward if k % 2 == 0 else across)
        frames.append(atoms)
    path = tmp_path / "dipoles.xyz"
    write(path, frames, format="extxyz")
    url = served(path)
    app = open_app(url)
    app.open()
    app.wait_for_map(lambda info: info["count"] == len(frames))
    page = app.page
    points = app.isolated(len(frames), min_px=4)
    end_on = next(k for k in points if k % 2 == 0)
    app.click_point(end_on)
    app.wait_for_viewer(end_on)
    _drawn(app, end_on)
    page.locator("#viewer-shapes label", has_text="dipole (structure)").click()
    _settled(app)
    page.wait_for_function("() => window.__explorerViewer.arrows().arrows.length === 1")
    parts, _ = _on_screen(page)
    shot = _shot(page, tmp_path, "49-dipole-turned-across", _host(page))
    assert parts[0] > 0.9, f"the dipole still points at the person: {parts[0]:.2f} of it across the screen"
    # and the view is fitted again to hold the whole arrow
    box = page.locator(_host(page)).bounding_box()
    end = page.evaluate("() => window.__explorerViewer.arrows().arrows[0].end")
    assert box["x"] < end[0] < box["x"] + box["width"] and box["y"] < end[1] < box["y"] + box["height"], (end, box)
    green = (shot[..., 1] > shot[..., 0] + 60) & (shot[..., 1] > shot[..., 2] + 60)
    red = (shot[..., 0] > shot[..., 1] + 80) & (shot[..., 0] > shot[..., 2] + 80)  # the first arrow colour
    assert (green | red).sum() > 150, ((green | red).sum(), page.evaluate("() => window.__explorerViewer.model().shape"))
    # "Reset view" comes back to a view that shows it
    page.mouse.move(*_centre(page.locator(_host(page)).bounding_box()))
    page.mouse.down()
    page.mouse.move(*(_centre(page.locator(_host(page)).bounding_box()) + np.array([0, 150])), steps=6)
    page.mouse.up()
    page.locator("#viewer-reset").click()
    page.wait_for_timeout(300)
    assert _on_screen(page)[0][0] > 0.9, _on_screen(page)

    # a dipole already across the screen leaves the usual view alone
    crossing = next(k for k in points if k % 2 == 1)
    app.click_point(crossing)
    app.wait_for_viewer(crossing)
    _drawn(app, crossing)
    page.wait_for_timeout(300)
    parts, axes = _on_screen(page)
    assert parts[0] > 0.98, parts
    expected = rotation[:2] * [[1], [-1]]  # each unit axis's screen image, up to the scale (y down)
    expected = expected.T / np.linalg.norm(expected.T, axis=1, keepdims=True)
    found = axes / np.linalg.norm(axes, axis=1, keepdims=True)
    assert np.allclose(found, expected, atol=0.03), (found, expected)
    assert not app.errors, app.errors


def _centre(box: dict) -> np.ndarray:
    return np.array([box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])


def test_trajectory_playback_marks_the_frame_on_the_map(served, open_app, tmp_path):
    url = served(DATA / "trajectory.xyz")
    app = open_app(url)
    app.open()
    app.wait_for_map(lambda info: info["count"] == 20)
    page = app.page
    app.click_point(3)
    app.wait_for_viewer(3)
    _drawn(app, 3)
    bar = page.locator("#viewer-playback")
    assert bar.is_visible()
    assert page.evaluate("() => window.__explorerViewer.cells()[0].frames") == 20
    _shot(page, tmp_path, "50-trajectory-frame-3", ".viewer-panel")
    ring = app.ring()
    page.locator("#viewer-playback .viewer-speed").select_option("4x")
    page.locator("#viewer-playback .viewer-play").click()
    # it plays: the contract attribute and the map's ring follow the frames
    page.wait_for_function("() => Number(document.querySelector('#structure-viewer').getAttribute('data-structure-index')) >= 6")
    assert app.ring() != ring
    page.locator("#viewer-playback .viewer-play").click()  # pause
    page.wait_for_function("() => !window.__explorerViewer.playing()")
    shown = int(page.locator("#structure-viewer").get_attribute("data-structure-index"))
    _drawn(app, shown)
    pixels = app.pixels()
    app.wait_for_ring(pixels[shown])
    _shot(page, tmp_path, "51-trajectory-paused", ".viewer-panel")
    # the frame slider, moved with the keyboard
    page.locator("#viewer-playback .viewer-frame").focus()
    page.keyboard.press("Home")
    app.wait_for_viewer(0)
    _drawn(app, 0)
    assert not app.errors, app.errors


def test_pinned_viewers_compare_structures_with_their_own_markers(app_url, open_app, sample_atoms, tmp_path):
    app = open_app(app_url)
    app.open()
    page = app.page
    first, second, third = app.isolated(3)
    app.click_point(first)
    _drawn(app, first)
    page.locator("#viewer-add").click()
    page.wait_for_function("() => window.__explorerViewer.cells().length === 2")
    _drawn(app, first)
    app.click_point(second)
    app.wait_for_viewer(second)
    _drawn(app, second)  # the new (active) viewer follows the click, the first keeps its structure
    cells = page.evaluate("() => window.__explorerViewer.cells()")
    assert [c["structure"] for c in cells] == [first, second] and [c["active"] for c in cells] == [False, True]
    # one marker per viewer on the map, in its colour
    pins = page.evaluate("""() => { const gd = document.querySelector('#map-graph .js-plotly-plot');
        const t = gd._fullData.find(t => t.name === 'pinned viewers'); return t ? {n: t.x.length, colors: Array.from(t.marker.color)} : null; }""")
    assert pins == {"n": 2, "colors": [c["color"] for c in cells]}
    page.locator("#viewer-add").click()
    page.wait_for_function("() => window.__explorerViewer.cells().length === 3")
    app.click_point(third)
    _drawn(app, third)
    _shot(page, tmp_path, "60-three-viewers", ".viewer-panel")
    # a click on the first viewer makes it active: the contract attributes and the ring follow it
    box = page.locator("#viewer-canvas .structure-cell").first.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    app.wait_for_viewer(first)
    assert page.evaluate("() => window.__explorerViewer.cells()[0].active")
    app.wait_for_ring(app.pixels()[first])
    # at most four
    page.locator("#viewer-add").click()
    page.wait_for_function("() => window.__explorerViewer.cells().length === 4")
    assert page.locator("#viewer-add").is_disabled()
    _shot(page, tmp_path, "61-four-viewers", ".viewer-panel")
    assert not app.errors, app.errors


def test_the_viewer_library_leaves_the_map_drawn_by_the_pages_own_plotly(app_url, open_app):
    """chemiscope's bundle carries another plotly.js: once it is loaded (and a structure drawn),
    the map is still drawn by the page's plotly, with its layers positioned and its colour bar
    inside the graph, above the tabs (before: title and colour bar under the plot, the plot
    covering the tabs so they could not be clicked)."""
    app = open_app(app_url)
    requested = []
    app.page.on("request", lambda request: requested.append(request.url))
    app.open()
    page = app.page
    page.wait_for_function("() => !!window.Chemiscope")
    index = app.isolated(1)[0]
    app.click_point(index)
    app.wait_for_viewer(index)
    layout = page.evaluate("""() => {
        const graph = document.querySelector('#map-graph .js-plotly-plot');
        const box = graph.getBoundingClientRect();
        const bar = graph.querySelector('.colorbar');
        const barBox = bar ? bar.getBoundingClientRect() : null;
        const tabs = document.querySelector('.bottom-tabs').getBoundingClientRect();
        return {position: getComputedStyle(graph.querySelector('.main-svg')).position,
                barInside: !barBox || (barBox.bottom <= box.bottom + 1 && barBox.top >= box.top - 1),
                aboveTabs: box.bottom <= tabs.top + 1, version: window.Plotly.version};
    }""")
    assert layout["position"] == "absolute" and layout["barInside"] and layout["aboveTabs"], layout
    from plotly.offline import get_plotlyjs_version

    assert layout["version"] == get_plotlyjs_version(), "window.Plotly is not the page's own plotly.js any more"
    # offline: everything the page loaded, the viewer included, came from this server; chemiscope's
    # bundle is the one in the installed chemiscope package
    from urllib.parse import urlsplit

    from explorer.viewer_component import SCRIPT_URL, script_path

    origin = urlsplit(app_url).netloc
    assert {urlsplit(url).netloc for url in requested if url.startswith("http")} == {origin}, sorted(set(requested))
    assert any(urlsplit(url).path == SCRIPT_URL for url in requested), sorted(set(requested))
    served = page.evaluate("(url) => fetch(url).then(r => r.arrayBuffer()).then(b => b.byteLength)", SCRIPT_URL)
    assert served == script_path().stat().st_size
    # and the tabs take a real click
    app.open_tab("Select & export")
    page.wait_for_function("() => document.querySelector('#export-selection-summary') && document.querySelector('#export-selection-summary').offsetParent")
