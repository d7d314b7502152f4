"""The app served by several worker processes (gunicorn -w 3 explorer.wsgi:server).

No module-level state: any worker may answer any request of a session, and background jobs
started by one are polled by another. The journey must work the same as with one process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


@pytest.fixture(scope="module")
def gunicorn_url(tmp_path_factory):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data_dir = tmp_path_factory.mktemp("workers")
    env = {**os.environ, "EXPLORER_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    log = open(data_dir / "gunicorn.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "3", "-b", f"127.0.0.1:{port}", "--timeout", "120", "explorer.wsgi:server"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(url + "_dash-layout", timeout=5)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError((data_dir / "gunicorn.log").read_text())
            time.sleep(0.25)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_journey_with_three_worker_processes(gunicorn_url, open_app):
    app = open_app(gunicorn_url)
    app.open()
    app.assert_one_point_per_row(app.wait_for_map(lambda info: info["count"] == 985), 985)

    # several requests in a row, each possibly answered by another worker
    for index in app.isolated(3):
        app.click_point(index)
        assert app.wait_for_viewer(index)["index"] == str(index)

    app.upload(DATA / "explore_c-gap-20u.xyz")
    app.wait_for_status("explore_c-gap-20u.xyz", "5 structures")
    info = app.wait_for_map(lambda i: "explore_c-gap-20u" in i["title"], what="the uploaded file's map")
    app.assert_one_point_per_row(info, 5)

    app.choose("projection-method", "PCovR")
    info = app.wait_for_map(lambda i: i["title"].startswith("PCovR"), what="the PCovR map")
    app.assert_one_point_per_row(info, 5)
