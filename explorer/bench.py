"""App speed, measured in a real headless Chromium: ``python -m explorer.bench``.

* start-up: from launching ``structure-explorer`` (no argument: the bundled sample) to the map's
  985 points drawn in the browser, with Numba's cache warm, and cold (an empty Numba cache);
* selection and click on a 10,000-structure map, with the real mouse: from releasing a lasso to the
  selection counted in the export tab *and* highlighted on the map; from clicking a point to its
  structure shown in the viewer;
* upload: from choosing a copy of the sample (985 molecules, new to the server) to its map drawn;
* mixing: a PCovR map of 10,000 structures; from moving the mixing slider to the map redrawn;
* pan/zoom: a 100,000-point map; the time of a zoom and a pan (Plotly relayouts) in the browser;
* viewer (also alone: ``python -m explorer.bench viewer``): from a click on a map point to its
  structure drawn by the 3D viewer, on the sample and on a 10,000-atom periodic structure (rattled
  copper supercells written to a temporary extxyz file), and the frame times (requestAnimationFrame
  intervals in the page) while turning that structure with the mouse; headless Chromium, software
  WebGL.

``python -m explorer.bench load [--users 16]``: that many browser sessions at once, each opening
the page and uploading a file of its own until its map is drawn, against gunicorn (4 workers) +
``structure-explorer worker`` (Celery) + Redis on loopback; p50/p95 and the errors (needs
Debian's redis-server).

Needs the test extra (Playwright) and Debian's Chromium at /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM = os.environ.get("EXPLORER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
POINTS_JS = """() => { const g = document.querySelector('#map-graph .js-plotly-plot');
  if (!g || !g._fullData) return 0;
  return g._fullData.reduce((a, t) => a + (t.x ? t.x.length : 0), 0); }"""
TITLE_JS = "() => { const g = document.querySelector('#map-graph .js-plotly-plot'); return g && g.layout && g.layout.title ? (g.layout.title.text || '') : ''; }"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(args, data_dir, env):
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "explorer.cli", *args, "--port", str(port), "--data-dir", str(data_dir)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    _wait_until_serving(url, [process], "structure-explorer exited early")
    return process, url


def _wait_until_serving(url: str, processes, failure: str, timeout_s: float = 600.0) -> None:
    """Until ``url`` answers; RuntimeError(``failure``) if one of ``processes`` ends first."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(url + "_dash-layout", timeout=5)
            return
        except OSError:
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                raise RuntimeError(failure) from None
            time.sleep(0.05)


@contextlib.contextmanager
def _served(args, data_dir, env=None):
    """``structure-explorer <args>`` serving ``data_dir``: yields its URL, stops it afterwards."""
    process, url = _start(args, data_dir, dict(os.environ) if env is None else env)
    try:
        yield url
    finally:
        process.terminate()
        process.wait()


def _wait_points(page, n, timeout_s=600):
    page.wait_for_function(f"() => ({POINTS_JS})() === {n}", timeout=timeout_s * 1000, polling=50)


def startup(browser, numba_cache: Path, cold: bool) -> float:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(numba_cache)}
    with tempfile.TemporaryDirectory() as data_dir:
        start = time.perf_counter()
        with _served([], data_dir, env) as url:
            page = browser.new_page()
            page.goto(url)
            _wait_points(page, 985)
            seconds = time.perf_counter() - start
            page.close()
    print(f"start-up to the sample map drawn ({'cold Numba cache' if cold else 'warm Numba cache'}): {seconds:.1f} s", flush=True)
    return seconds


def _many_molecules(path: Path, n: int) -> None:
    import ase.io

    from compute.bench import rattled_copies
    from explorer.resources import default_dataset_path

    ase.io.write(path, rattled_copies(ase.io.read(default_dataset_path(), ":"), n, scale=0.05), format="extxyz")


SELECTED_JS = """() => document.querySelector('#map-graph .js-plotly-plot')._fullData
  .reduce((n, t) => n + (t.selectedpoints ? t.selectedpoints.length : 0), 0)"""


# the time of the last pointer release, by the browser's clock (the event's own time stamp)
RELEASE_CLOCK_JS = """() => { if (!window.__benchClock) { window.__benchClock = true;
  window.addEventListener('pointerup', (e) => { window.__benchUp = e.timeStamp; }, true); } }"""


def _after_release(page, condition: str, arg=None) -> float:
    """Seconds from the last pointer release to ``condition`` holding on a painted frame, measured
    inside the page (what the person sees; Playwright's own round trips are not counted)."""
    handle = page.wait_for_function(
        f"(arg) => (({condition})(arg) ? Math.max(performance.now() - window.__benchUp, 1e-3) : 0)",
        arg=arg, timeout=60_000, polling="raf",
    )
    return handle.json_value() / 1000


def lasso_and_click(page, n: int) -> None:
    """Real-mouse lasso and click on the drawn map (see the module docstring)."""
    page.locator(".bottom-tabs .tab", has_text="Select & export").click()
    page.evaluate(RELEASE_CLOCK_JS)
    box = page.locator("#map-graph .nsewdrag").first.bounding_box()
    cx, cy, r = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, min(box["width"], box["height"]) / 4
    lasso_times = []
    for k in range(4):
        shift = 0.3 * r * (k - 1)
        page.mouse.move(cx - r + shift, cy - r)
        page.mouse.down()
        for x, y in [(cx + r + shift, cy - r), (cx + r + shift, cy + r), (cx - r + shift, cy + r), (cx - r + shift, cy - r)]:
            page.mouse.move(x, y, steps=6)
        page.mouse.up()
        counted = _after_release(page, "() => document.querySelector('#export-selection-summary').innerText.includes('(lasso)')")
        count = int(page.locator("#export-selection-summary").inner_text().split()[0].replace(",", ""))
        # highlighted: exactly the points counted (one polygon, the pointer's path, for both)
        shown = _after_release(page, f"(n) => ({SELECTED_JS})() === n", count)
        lasso_times.append((counted, shown))
        page.mouse.dblclick(box["x"] + 3, box["y"] + 3)
        page.wait_for_function("() => document.querySelector('#export-selection-summary').innerText.startsWith('Select points')")
    print(f"lasso release -> selection counted / and highlighted on the map, {n:,} points (in the page): "
          + ", ".join(f"{a * 1000:.0f}/{b * 1000:.0f}" for a, b in lasso_times) + " ms", flush=True)

    pixels = page.evaluate("""() => { const gd = document.querySelector('#map-graph .js-plotly-plot');
        const b = gd.getBoundingClientRect(), fl = gd._fullLayout, t = gd._fullData[0];
        const out = []; for (let i = 0; i < t.x.length; i += Math.floor(t.x.length / 7)) {
          out.push([Number(t.customdata[i][0]), b.left + fl._size.l + fl.xaxis.l2p(t.x[i]), b.top + fl._size.t + fl.yaxis.l2p(t.y[i])]); }
        return out; }""")
    click_times = []
    for _, x, y in pixels[:6]:
        before = page.evaluate("() => document.querySelector('#structure-viewer').getAttribute('data-structure-index')")
        page.mouse.move(x, y)
        page.wait_for_timeout(100)
        page.mouse.click(x, y)
        # shown: the viewer's 3D scene has drawn the new structure (its title names it: "#12 CH4")
        click_times.append(_after_release(page, """(before) => { const v = document.querySelector('#structure-viewer');
            const index = v.getAttribute("data-structure-index"), c = v.querySelector('.structure-cell.active');
            return index && index !== before && c && (c.getAttribute('data-drawn') || '').split(':')[0] === index; }""", before))
    print(f"click -> structure shown, {n:,} points (in the page): " + ", ".join(f"{t * 1000:.0f}" for t in click_times) + " ms"
          + " (the first includes loading the 3D code)", flush=True)


# page pixels [row, x, y] of (up to) `count` points of the 2D map, spread over its first trace
POINT_PIXELS_JS = """(count) => { const gd = document.querySelector('#map-graph .js-plotly-plot');
    const b = gd.getBoundingClientRect(), fl = gd._fullLayout, t = gd._fullData[0], out = [];
    for (let i = 0; i < t.x.length && out.length < count; i += Math.max(1, Math.floor(t.x.length / count))) {
      out.push([Number(t.customdata[i][0]), b.left + fl._size.l + fl.xaxis.l2p(t.x[i]), b.top + fl._size.t + fl.yaxis.l2p(t.y[i])]); }
    return out; }"""
# the clicked structure drawn by the viewer's 3D scene (its `data-drawn` is set after 3Dmol's render)
DRAWN_JS = """(row) => { const v = document.querySelector('#structure-viewer'), c = v && v.querySelector('.structure-cell.active');
    return !!c && v.getAttribute('data-structure-index') === String(row) && (c.getAttribute('data-drawn') || '').split(':')[0] === String(row); }"""
# requestAnimationFrame intervals, recorded from start() until stop() returns them (ms)
FRAMES_JS = """() => { const times = []; let on = true;
    (function tick(t) { times.push(t); if (on) { requestAnimationFrame(tick); } })(performance.now());
    window.__benchFrames = () => { on = false; return times.slice(1).map((t, k) => t - times[k]); }; }"""


def _click_times(page, count: int) -> list[float]:
    """Seconds from the release of a real click on a map point to its structure drawn, ``count``
    points (the 3D code loaded beforehand, as it is once the page has opened)."""
    page.evaluate(RELEASE_CLOCK_JS)
    page.wait_for_function("() => !!window.Chemiscope", timeout=120_000)
    times = []
    for row, x, y in page.evaluate(POINT_PIXELS_JS, count):
        page.mouse.move(x, y)
        page.wait_for_timeout(100)
        page.mouse.click(x, y)
        times.append(_after_release(page, DRAWN_JS, int(row)))
    return times


def _periodic_supercell(path: Path, n_cells=(10, 10, 25), copies: int = 3) -> int:
    """``copies`` rattled fcc copper supercells of ``n_cells`` cubic cells (4 atoms each; 10,000
    atoms), in different orientations (distinct cells: not one trajectory), written as extxyz."""
    import ase.io
    import numpy as np
    from ase.build import bulk

    rng = np.random.default_rng(0)
    frames = []
    for k in range(copies):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(tuple(np.roll(n_cells, k)))
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
        frames.append(atoms)
    ase.io.write(path, frames, format="extxyz")
    return len(frames[0])


def viewer(browser) -> None:
    """The 3D viewer: click -> structure drawn on the sample and on a 10,000-atom periodic
    structure, and the frame times while turning the latter with the mouse (software WebGL)."""
    with tempfile.TemporaryDirectory() as tmp:
        with _served([], Path(tmp) / "data") as url:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(url)
            _wait_points(page, 985)
            times = _click_times(page, 6)
            page.close()
        print("viewer: click -> structure drawn, sample (985 molecules, in the page): "
              + ", ".join(f"{t * 1000:.0f}" for t in times) + " ms", flush=True)

        path = Path(tmp) / "copper-supercells.xyz"
        n_atoms = _periodic_supercell(path)
        with _served([str(path)], Path(tmp) / "data-periodic") as url:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(url)
            _wait_points(page, 3)
            renderer = page.evaluate("""() => { const gl = document.createElement('canvas').getContext('webgl');
                const info = gl && gl.getExtension('WEBGL_debug_renderer_info');
                return gl ? gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER) : 'no WebGL'; }""")
            times = _click_times(page, 3)
            print(f"viewer: click -> structure drawn, {n_atoms:,}-atom periodic structure (rattled fcc Cu, in the page): "
                  + ", ".join(f"{t * 1000:.0f}" for t in times) + f" ms [WebGL: {renderer}]", flush=True)
            # turning it: chemiscope's viewer as it ships (every frame at 3Dmol's antialiasing
            # 2x), then ours (1x while the hand moves: drafts), on the same page and structure
            turns = {}
            for label, drafts in (("every frame sharp (chemiscope's viewer as shipped)", False), ("drafts while turning (ours)", True)):
                page.evaluate("(on) => window.__explorerViewer.drafts(on)", drafts)
                turns[label] = _turn(page)
            page.close()
    for label, (wall, frames) in turns.items():
        frames = sorted(frames)
        p95 = frames[min(len(frames) - 1, int(round(0.95 * (len(frames) - 1))))]
        print(f"viewer: turning the {n_atoms:,}-atom structure with the mouse, {label}: 120 moves in {wall:.1f} s "
              f"({120 / wall:.1f} moves/s); {len(frames)} frames, interval median {statistics.median(frames):.0f} ms, "
              f"p95 {p95:.0f} ms, longest {frames[-1]:.0f} ms, {sum(f > 50 for f in frames)} over 50 ms", flush=True)


def _turn(page) -> tuple[float, list[float]]:
    """A 2-second drag in the active viewer, one mouse move per 16 ms as a hand moves: the wall
    time of the 120 moves and the intervals between the frames the page painted meanwhile (ms)."""
    box = page.locator("#viewer-canvas .structure-cell.active .structure-host").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.evaluate(FRAMES_JS)
    started = time.perf_counter()
    for k in range(1, 121):
        page.mouse.move(cx + 150 * math.sin(k / 120 * 2 * math.pi), cy + 60 * math.sin(k / 60 * 2 * math.pi))
        page.wait_for_timeout(16)
    wall = time.perf_counter() - started
    frames = page.evaluate("() => window.__benchFrames()")
    page.mouse.up()
    page.wait_for_timeout(500)
    return wall, frames


def upload_to_map(browser) -> float:
    """Seconds from choosing a file (a renamed copy of the sample, so nothing is cached) to its map."""
    from explorer.resources import default_dataset_path

    with tempfile.TemporaryDirectory() as tmp:
        with _served([], Path(tmp) / "data") as url:
            page = browser.new_page()
            page.goto(url)
            _wait_points(page, 985)
            copy = Path(tmp) / "molecules-copy.xyz"
            shutil.copy(default_dataset_path(), copy)
            start = time.perf_counter()
            page.locator("#upload-dataset input[type=file]").set_input_files(str(copy))
            page.wait_for_function(f"() => ({TITLE_JS})().includes('molecules-copy')", timeout=600_000, polling=20)
            seconds = time.perf_counter() - start
            page.close()
    print(f"upload of the sample (985 molecules, new to the server) -> its map drawn: {seconds:.2f} s", flush=True)
    return seconds


def mixing(browser, n: int) -> list[float]:
    """Seconds from a mixing change to the map redrawn, for a few slider positions (and, on the
    same map, the lasso and click timings of :func:`lasso_and_click`)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"molecules-{n}.xyz"
        _many_molecules(path, n)
        with _served([str(path)], Path(tmp) / "data") as url:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url)
            _wait_points(page, n)
            lasso_and_click(page, n)
            page.locator("#projection-method").click()
            page.get_by_text("PCovR", exact=True).click()
            page.wait_for_function(f"() => ({TITLE_JS})().startsWith('PCovR')", timeout=600_000)
            times = []
            handle = page.locator("#mixing-slider [role=slider]")
            for key in ["ArrowRight", "ArrowRight", "ArrowLeft", "ArrowLeft"]:
                before = page.evaluate(TITLE_JS)
                handle.focus()
                start = time.perf_counter()
                page.keyboard.press(key)
                page.wait_for_function(f"() => ({TITLE_JS})() !== {before!r}", timeout=60_000, polling=20)
                times.append(time.perf_counter() - start)
            page.close()
    print(f"mixing slider on {n:,} points, PCovR: map redrawn in " + ", ".join(f"{t:.2f}" for t in times) + " s", flush=True)
    return times


def pan_zoom(browser, n: int) -> None:
    """Relayout times of a WebGL map of n points, built with explorer.figures.map_figure."""
    import numpy as np
    import plotly.io

    from explorer.figures import map_figure

    rng = np.random.default_rng(0)
    coords = rng.normal(size=(n, 2))
    figure = map_figure(coords, color=coords[:, 0] ** 2, color_name="r²")
    html = plotly.io.to_html(figure, include_plotlyjs=True, full_html=True, div_id="map")
    with tempfile.TemporaryDirectory() as tmp:
        page_path = Path(tmp) / "map.html"
        page_path.write_text(html)
        page = browser.new_page()
        page.goto(page_path.as_uri())
        page.wait_for_function("() => document.getElementById('map')._fullData", timeout=60_000)
        timings = page.evaluate("""async () => {
            const g = document.getElementById('map'); const out = [];
            for (let k = 0; k < 6; k++) {
                const t0 = performance.now();
                const s = 1 + 0.3 * (k % 3);
                await Plotly.relayout(g, {'xaxis.range': [-2 * s + 0.1 * k, 2 * s], 'yaxis.range': [-2 * s, 2 * s - 0.1 * k]});
                out.push(performance.now() - t0);
            }
            return out; }""")
        page.close()
    print(f"{n:,}-point WebGL map: pan/zoom relayout " + ", ".join(f"{t:.0f}" for t in timings) + " ms", flush=True)


# -- load: many users at once against the multi-machine deployment ---------------------------------


@contextlib.contextmanager
def _deployment(folder: Path, web_workers: int, job_workers: int):
    """Redis, ``structure-explorer worker`` and gunicorn with ``web_workers`` workers, all on
    loopback, sharing ``folder``; yields the URL; stops everything afterwards."""
    redis_port, web_port = _free_port(), _free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    env = {**os.environ, "EXPLORER_DATA_DIR": str(folder / "data"), "EXPLORER_REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"}
    redis_binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    processes, logs = [], None
    try:
        processes.append(subprocess.Popen([redis_binary, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                           "--appendonly", "no", "--dir", str(folder)], stdout=subprocess.DEVNULL, start_new_session=True))
        logs = open(folder / "deployment.log", "wb")  # closed below, with the processes
        processes.append(subprocess.Popen([sys.executable, "-m", "explorer.cli", "worker", "--concurrency", str(job_workers)],
                                          env=env, stdout=logs, stderr=subprocess.STDOUT, start_new_session=True))
        processes.append(subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", str(web_workers), "-b", f"127.0.0.1:{web_port}",
                                           "--timeout", "120", "explorer.wsgi:server"],
                                          env=env, stdout=logs, stderr=subprocess.STDOUT, start_new_session=True))
        url = f"http://127.0.0.1:{web_port}/"
        _wait_until_serving(url, processes, f"the deployment did not start; see {folder / 'deployment.log'}", timeout_s=120)
        yield url
    finally:
        for process in reversed(processes):
            try:
                os.killpg(process.pid, signal.SIGTERM)  # each started its own session: its children go too
            except ProcessLookupError:
                pass
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        if logs is not None:
            logs.close()


def load(users: int, web_workers: int = 4, job_workers: int = 2) -> dict:
    """``users`` browser sessions at once, each opening the page (its map of the sample) and then
    uploading a file of its own (new content, so nothing is cached) until its map is drawn:
    against gunicorn with ``web_workers`` workers + Celery (``job_workers``) + Redis."""
    import asyncio
    import statistics

    from playwright.async_api import async_playwright

    from explorer.resources import default_dataset_path

    async def user(browser, url, k, upload: Path, results):
        context = await browser.new_context(viewport={"width": 1400, "height": 900})
        page = await context.new_page()
        start = time.perf_counter()
        try:
            await page.goto(url)
            await page.wait_for_function(f"() => ({POINTS_JS})() === 985", timeout=600_000, polling=250)
            opened = time.perf_counter() - start
            start = time.perf_counter()
            await page.locator("#upload-dataset input[type=file]").set_input_files(str(upload))
            await page.wait_for_function(f"() => ({TITLE_JS})().includes({upload.stem!r})", timeout=600_000, polling=250)
            results.append({"opened": opened, "mapped": time.perf_counter() - start,
                            "status": await page.locator("#status-message").inner_text()})
        except Exception as error:  # noqa: BLE001  (counted and reported)
            status = await page.locator("#status-message").inner_text() if not page.is_closed() else ""
            results.append({"error": f"user {k}: {type(error).__name__}: {str(error)[:200]} (status: {status!r})"})
        finally:
            await context.close()

    async def run(url, uploads):
        results: list[dict] = []
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            await asyncio.gather(*(user(browser, url, k, uploads[k], results) for k in range(users)))
            await browser.close()
        return results

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        import ase.io

        frames = ase.io.read(default_dataset_path(), ":200")
        uploads = []
        for k in range(users):  # 200 molecules each, rotated differently: new content for every user
            path = folder / f"user{k:02d}-molecules.xyz"
            moved = [atoms.copy() for atoms in frames]
            for atoms in moved:
                atoms.rotate(7.0 * (k + 1), "z", center="COM")
            ase.io.write(path, moved, format="extxyz")
            uploads.append(path)
        started = time.perf_counter()
        with _deployment(folder, web_workers, job_workers) as url:
            results = asyncio.run(run(url, uploads))
        wall = time.perf_counter() - started
    errors = [r["error"] for r in results if "error" in r]
    failed_status = [r["status"] for r in results if "error" not in r and "failed" in r["status"].lower()]
    done = [r for r in results if "error" not in r]

    def quantiles(values):
        if not values:
            return "n/a"
        values = sorted(values)
        p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
        return f"p50 {statistics.median(values):.1f} s, p95 {p95:.1f} s"

    print(f"load: {users} users at once, gunicorn -w {web_workers} + Celery ({job_workers} job processes) + Redis: "
          f"page to sample map {quantiles([r['opened'] for r in done])}; upload (200 molecules) to its map "
          f"{quantiles([r['mapped'] for r in done])}; {len(errors) + len(failed_status)} errors; {wall:.0f} s in all", flush=True)
    for message in errors + failed_status:
        print("  error:", message, flush=True)
    return {"errors": errors + failed_status, "results": results}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m explorer.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="?", choices=["app", "load", "viewer"], default="app",
                        help="app: the single-user timings (default, the viewer's included); load: many users against "
                             "gunicorn + Celery + Redis; viewer: the 3D viewer's timings alone")
    parser.add_argument("--mixing-points", type=int, default=10_000)
    parser.add_argument("--map-points", type=int, default=100_000)
    parser.add_argument("--skip-cold", action="store_true", help="do not measure with an empty Numba cache")
    parser.add_argument("--users", type=int, default=16, help="load: browser sessions at once")
    args = parser.parse_args(argv)
    if args.what == "load":
        return 1 if load(args.users)["errors"] else 0
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            if args.what == "viewer":
                viewer(browser)
                return 0
            if not args.skip_cold:
                cold_cache = Path(tempfile.mkdtemp(prefix="numba-cold-"))
                startup(browser, cold_cache, cold=True)
                shutil.rmtree(cold_cache, ignore_errors=True)
            warm_cache = Path(os.environ.get("NUMBA_CACHE_DIR", Path.cwd() / ".numba_cache"))
            startup(browser, warm_cache, cold=False)  # fills the cache if it was empty
            startup(browser, warm_cache, cold=False)
            pan_zoom(browser, args.map_points)
            upload_to_map(browser)
            if args.mixing_points:
                mixing(browser, args.mixing_points)
            viewer(browser)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
