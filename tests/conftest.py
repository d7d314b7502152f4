"""Shared fixtures and rules for the whole test suite.

* ``NUMBA_CACHE_DIR`` points at ``<repo>/.numba_cache`` (set before anything imports numba), so
  compiled kernels survive between runs.
* Browser tests (marker ``browser``) drive Debian's Chromium (``/usr/bin/chromium``) through
  Playwright. They are mandatory: a missing Chromium fails them with a clear message, and any
  skip of a ``browser`` test is reported as a failure, unless ``EXPLORER_SKIP_BROWSER=1``.
* ``app_url`` serves the real app (``python -m explorer.cli``, i.e. ``structure-explorer`` with no
  dataset: the bundled sample) on a free port for the session.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO_ROOT / ".numba_cache"))

import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402

import pytest  # noqa: E402

CHROMIUM = os.environ.get("EXPLORER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SKIP_BROWSER_VAR = "EXPLORER_SKIP_BROWSER"
APP_START_TIMEOUT_S = 90


def browser_skip_allowed() -> bool:
    return os.environ.get(SKIP_BROWSER_VAR, "") == "1"


# --------------------------------------------------------------------------------------------------
# browser tests are mandatory


def pytest_collection_modifyitems(config, items):
    if not browser_skip_allowed():
        return
    skip = pytest.mark.skip(reason=f"browser tests skipped on request ({SKIP_BROWSER_VAR}=1)")
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Report a skipped ``browser`` test as failed: CI must not pass without having run them."""
    report = yield
    if (
        report.skipped
        and not hasattr(report, "wasxfail")
        and item.get_closest_marker("browser") is not None
        and not browser_skip_allowed()
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = (
            f"browser test was skipped ({reason}); browser tests are mandatory. Install Debian's "
            f"chromium (apt-get install chromium) so that {CHROMIUM} exists, or set "
            f"{SKIP_BROWSER_VAR}=1 to skip them knowingly."
        )
    return report


# --------------------------------------------------------------------------------------------------
# Chromium through Playwright


@pytest.fixture(scope="session")
def chromium_browser():
    """A headless Debian Chromium driven by Playwright (never ``playwright install``)."""
    if not Path(CHROMIUM).exists():
        message = (
            f"Chromium not found at {CHROMIUM}: install Debian's package (apt-get install chromium; "
            f".ci/run does it) or set {SKIP_BROWSER_VAR}=1 to skip browser tests knowingly"
        )
        if browser_skip_allowed():
            pytest.skip(message)
        pytest.fail(message, pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(chromium_browser):
    """A fresh page in its own context (own cookies), closed after the test."""
    context = chromium_browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        context.close()


# --------------------------------------------------------------------------------------------------
# the real app, served


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(args: list[str], tmp_dir: Path, env: dict[str, str] | None = None):
    """Start ``structure-explorer <args>`` on a free port; return (process, url, log path)."""
    port = free_port()
    log_path = tmp_dir / f"structure-explorer-{port}.log"
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "explorer.cli", *args, "--port", str(port), "--data-dir", str(tmp_dir / "data")],
            cwd=REPO_ROOT,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + APP_START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"structure-explorer exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(url + "_dash-layout", timeout=5):
                break
        except urllib.error.HTTPError:
            break  # it answers (e.g. 401 when a token is required)
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                stop_app(process)
                raise RuntimeError(f"structure-explorer did not answer within {APP_START_TIMEOUT_S} s:\n{log_path.read_text()}")
            time.sleep(0.25)
    return process, url, log_path


def stop_app(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def serve_app(tmp_path):
    """Factory: ``serve_app(["--token", "t"]) -> (url, log_path)``; the servers stop after the test."""
    processes = []

    def start(args: list[str] = (), env: dict[str, str] | None = None):
        process, url, log_path = start_app(list(args), tmp_path, env)
        processes.append(process)
        return url, log_path

    start.processes = processes  # a test may kill one as a crash would
    yield start
    for process in processes:
        stop_app(process)


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """URL of the real app started like ``structure-explorer`` with no dataset (the bundled sample)."""
    process, url, _ = start_app([], tmp_path_factory.mktemp("app"))
    try:
        yield url
    finally:
        stop_app(process)


# -- Redis and Celery workers (explorer.celery_jobs), real processes -------------------------------


def start_redis(port: int, folder: Path) -> subprocess.Popen:
    """Debian's redis-server on ``port`` (loopback, nothing saved); waits until it answers PING."""
    import shutil

    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    assert Path(binary).exists(), "redis-server is needed (Debian: apt-get install redis-server; .ci/run installs it)"
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("redis-server did not answer")


@pytest.fixture
def redis_server(tmp_path):
    """A Redis of the test's own: {"port", "url", "process", "restart"}; ``restart()`` kills it
    and starts a new one on the same port (jobs in flight meanwhile)."""
    port = free_port()
    state = {"port": port, "process": start_redis(port, tmp_path), "url": f"redis://127.0.0.1:{port}/0"}

    def restart():
        state["process"].kill()
        state["process"].wait()
        state["process"] = start_redis(port, tmp_path)

    state["restart"] = restart
    yield state
    state["process"].kill()
    state["process"].wait()


@pytest.fixture
def celery_worker(redis_server, tmp_path):
    """Factory: ``celery_worker(data_dir)`` starts ``structure-explorer worker`` for that data folder
    on the test's Redis; stopped (with its children) after the test."""
    import signal

    started = []

    def start(data_dir: Path, concurrency: int = 2) -> subprocess.Popen:
        env = {**os.environ, "EXPLORER_REDIS_URL": redis_server["url"], "EXPLORER_DATA_DIR": str(data_dir),
               "PYTHONPATH": os.pathsep.join(sys.path)}
        log = open(tmp_path / f"worker-{len(started)}.log", "w")
        process = subprocess.Popen([sys.executable, "-m", "explorer.cli", "worker", "--concurrency", str(concurrency),
                                    "--loglevel", "INFO"], cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        started.append((process, log))
        return process

    yield start
    for process, log in started:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
        log.close()
