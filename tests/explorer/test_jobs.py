"""explorer.jobs.JobManager with real job processes: results, failures, deaths, time-outs, cancel.

The job functions are plain library functions found by module and name (as the manager finds a
callback's function), so these jobs run exactly the code path of the app's callbacks.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from explorer.jobs import JobManager

ADD = {"module": "operator", "qualname": "add", "progress": False}
SQRT = {"module": "math", "qualname": "sqrt", "progress": False}
SLEEP = {"module": "time", "qualname": "sleep", "progress": False}


def wait_result(manager: JobManager, key: str, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if manager.result_ready(key):
            return manager.get_result(key, key)
        time.sleep(0.05)
    raise AssertionError(f"no result for job {key[:8]} within {timeout_s} s")


def start(manager: JobManager, job_fn: dict, args) -> str:
    key = manager.build_cache_key(None, args, [], None)
    assert manager.call_job_fn(key, job_fn, args, {}) == key
    return key


@pytest.fixture
def manager(tmp_path):
    return JobManager(tmp_path / "jobs", timeout_s=60)


def test_every_job_gets_its_own_key(manager):
    # identical arguments (two sessions opening the page at once) never share a result
    keys = {manager.build_cache_key(None, [1, "same"], [], None) for _ in range(5)}
    assert len(keys) == 5


def test_result_of_a_job(manager):
    key = start(manager, ADD, [2, 3])
    assert wait_result(manager, key) == 5
    # read once, then gone; the job is over
    assert manager.get_result(key, key) is manager.UNDEFINED
    assert not manager.job_running(key)


def test_exception_in_a_job_becomes_an_error_result(manager):
    key = start(manager, SQRT, [-1.0])
    result = wait_result(manager, key)
    assert result["background_callback_error"]["msg"] == "math domain error"


def test_a_killed_job_is_reported(manager):
    key = start(manager, SLEEP, [60])
    time.sleep(0.5)
    assert manager.job_running(key)
    pid = manager._read(key, "job")["pid"]
    os.kill(pid, signal.SIGKILL)  # as the kernel's OOM killer would
    result = wait_result(manager, key, timeout_s=10)
    assert "stopped without a result" in result["background_callback_error"]["msg"]


def test_a_job_past_its_time_limit_is_stopped_and_reported(tmp_path):
    manager = JobManager(tmp_path / "jobs", timeout_s=1.0)
    key = start(manager, SLEEP, [60])
    pid = manager._read(key, "job")["pid"]
    result = wait_result(manager, key, timeout_s=20)
    assert "took longer than 1 s" in result["background_callback_error"]["msg"]
    time.sleep(0.3)
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split(")")[1].split()[0] in "ZX"


def test_cancel_kills_the_job_and_never_raises(manager):
    key = start(manager, SLEEP, [60])
    time.sleep(0.3)
    manager.terminate_job(key)
    time.sleep(0.3)
    assert not manager.job_running(key)
    manager.terminate_job(key)  # twice: already gone
    manager.terminate_job("0" * 32)  # never existed
    assert manager.get_result(key, key) is manager.UNDEFINED


def test_job_keys_never_name_other_files(manager):
    with pytest.raises(ValueError):
        manager._path("../../etc/passwd", "result")
    assert manager.get_progress("../x") is None  # read as "nothing there", no file opened


def test_parallel_numba_here_then_a_job_runs_parallel_numba_too(manager):
    """The bug that poisoned the server: parallel Numba (OpenMP) in the web process, then a job
    forked from it died. Jobs start from a clean forkserver, so this works."""
    from compute.selection import fps_indices

    X = np.random.default_rng(0).normal(size=(400, 12))
    here = fps_indices(X, 10)  # parallel Numba in this process first
    key = start(manager, {"module": "compute.selection", "qualname": "fps_indices", "progress": False}, [X, 10])
    result = wait_result(manager, key, timeout_s=120)
    assert not isinstance(result, dict), result
    np.testing.assert_array_equal(result, here)
