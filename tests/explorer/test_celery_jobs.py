"""explorer.celery_jobs with a real Redis (Debian's redis-server, started here) and a real
``structure-explorer worker``: results, failures, a worker killed mid-job, Redis restarted with
a job in flight, and no worker at all. Nothing is mocked."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from explorer import celery_jobs
from explorer.celery_jobs import CeleryJobManager

ADD = {"module": "operator", "qualname": "add", "progress": False}
SQRT = {"module": "math", "qualname": "sqrt", "progress": False}
SLEEP = {"module": "time", "qualname": "sleep", "progress": False}


@pytest.fixture
def redis(redis_server):
    return redis_server


@pytest.fixture
def worker(celery_worker, tmp_path):
    return celery_worker(tmp_path / "data")


def _start_redis(port: int, folder: Path) -> subprocess.Popen:
    return _shared().start_redis(port, folder)


def _shared():
    """tests/conftest.py as a module (its start_redis), whatever pytest's import mode."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("_explorer_tests_shared", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def manager_for(redis, tmp_path) -> CeleryJobManager:
    return CeleryJobManager(tmp_path / "data" / "jobs", redis["url"], timeout_s=120, max_jobs=4, max_jobs_per_session=4)


def start(manager, job_fn, args) -> str:
    key = manager.build_cache_key(None, args, [], None)
    manager.call_job_fn(key, job_fn, args, {})
    return key


def wait_result(manager, key: str, timeout_s: float = 90.0):
    """Poll as Dash's renderer does (get_result, job_running, get_updated_props: never
    result_ready) until the job's result comes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = manager.get_result(key, key)
        running = manager.job_running(key)
        manager.get_updated_props(key)
        if result is not manager.UNDEFINED:
            return result
        if not running:
            raise AssertionError(f"job {key[:8]} stopped without a result")
        time.sleep(0.05)
    raise AssertionError(f"no result for job {key[:8]} within {timeout_s} s")


def test_jobs_run_on_a_celery_worker(redis, worker, tmp_path):
    manager = manager_for(redis, tmp_path)
    assert wait_result(manager, start(manager, ADD, [2, 3])) == 5  # the first waits for the worker to start
    failed = wait_result(manager, start(manager, SQRT, [-1.0]))
    assert failed["background_callback_error"]["msg"] == "math domain error"
    # the job ran in a worker process, not here: its heartbeat named another pid
    key = start(manager, SLEEP, [3])
    deadline = time.monotonic() + 30
    while not (manager.root / f"{key}.beat").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    host, pid = (manager.root / f"{key}.beat").read_text().split()
    assert int(pid) != os.getpid() and manager.job_running(key)
    assert wait_result(manager, key) is None
    assert not (manager.root / f"{key}.beat").exists()


def test_a_worker_killed_mid_job_is_reported_and_a_retry_works(redis, worker, tmp_path, monkeypatch):
    monkeypatch.setattr(celery_jobs, "BEAT_TIMEOUT_S", 3.0)
    manager = manager_for(redis, tmp_path)
    assert wait_result(manager, start(manager, ADD, [1, 1])) == 2
    key = start(manager, SLEEP, [60])
    deadline = time.monotonic() + 30
    while not (manager.root / f"{key}.beat").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = int((manager.root / f"{key}.beat").read_text().split()[1])
    os.kill(pid, signal.SIGKILL)  # the process running the job dies (out of memory, say)
    result = wait_result(manager, key, timeout_s=30)
    assert "stopped without a result" in result["background_callback_error"]["msg"]
    assert wait_result(manager, start(manager, ADD, [20, 22])) == 42  # the worker runs the next job


def test_redis_restarted_with_a_job_in_flight(redis, worker, tmp_path):
    manager = manager_for(redis, tmp_path)
    assert wait_result(manager, start(manager, ADD, [1, 2])) == 3
    key = start(manager, SLEEP, [4])
    deadline = time.monotonic() + 30
    while not (manager.root / f"{key}.beat").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    redis["process"].kill()
    redis["process"].wait()
    redis["process"] = _start_redis(redis["port"], tmp_path)
    assert wait_result(manager, key) is None  # the running job finishes: its result is a file
    assert wait_result(manager, start(manager, ADD, [5, 6]), timeout_s=120) == 11  # the worker reconnected


def test_a_job_no_worker_takes_says_so(redis, tmp_path, monkeypatch):
    monkeypatch.setattr(celery_jobs, "START_GRACE_S", 2.0)
    manager = manager_for(redis, tmp_path)
    result = wait_result(manager, start(manager, ADD, [1, 2]), timeout_s=30)
    assert "structure-explorer worker" in result["background_callback_error"]["msg"]
