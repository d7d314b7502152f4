"""explorer.jobs.JobManager with real job processes: results, failures, deaths, time-outs, cancel,
limits and the queue; and explorer.celery_jobs.CeleryJobManager with a real Redis (Debian's
redis-server, started here) and a real ``structure-explorer worker``.

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


def test_jobs_over_the_limits_wait_in_a_queue_and_start_when_polled(tmp_path):
    import flask

    manager = JobManager(tmp_path / "jobs", timeout_s=60, max_jobs=2, max_jobs_per_session=1)
    app = flask.Flask(__name__)

    def start_in(session, job_fn, args):
        with app.test_request_context():
            flask.g.explorer_session = session
            return start(manager, job_fn, args)

    a1 = start_in("a", SLEEP, [1.5])
    a2 = start_in("a", ADD, [1, 2])  # session a already runs one: waits
    b1 = start_in("b", SLEEP, [1.5])  # another session: runs
    c1 = start_in("c", ADD, [3, 4])  # two run in all: waits
    assert len(manager._running()) == 2
    assert manager.queue_position(a2) == 0 and manager.queue_position(c1) == 1
    assert manager.job_running(a2) and manager.job_running(c1)  # the page keeps polling them
    assert "Waiting for a free worker (1 job ahead" in manager.get_updated_props(c1)["status-message"]["children"]
    # polling starts them as slots free up, oldest first, within the limits; once started, the
    # waiting message is taken back
    assert wait_result(manager, a2) == 3
    result = manager.UNDEFINED
    while manager.queue_position(c1) is not None:
        result = manager.get_result(c1, c1)  # as Dash polls: the result, then the side updates
        time.sleep(0.05)
    assert manager.get_updated_props(c1) == {"status-message": {"children": ""}}
    assert (wait_result(manager, c1) if result is manager.UNDEFINED else result) == 7
    assert wait_result(manager, a1) is None and wait_result(manager, b1) is None
    assert manager._queue() == [] and manager._running() == []


def test_unpolled_requests_never_start_more_than_the_limit(tmp_path):
    """Six per-atom requests nobody polls ran six processes at once: now two run, four wait."""
    manager = JobManager(tmp_path / "jobs", timeout_s=60, max_jobs=2, max_jobs_per_session=2)
    keys = [start(manager, SLEEP, [1.0]) for _ in range(6)]
    assert len(manager._running()) == 2 and len(manager._queue()) == 4
    manager.terminate_job(keys[5])  # a cancelled waiting job leaves the queue
    assert len(manager._queue()) == 3
    for key in keys[:5]:
        assert wait_result(manager, key) is None


def test_a_job_dies_with_the_server_that_asked_for_it(tmp_path):
    """A job whose web process is killed stops too (and writes no result)."""
    import subprocess
    import sys

    from explorer.jobs import _alive

    script = (
        "import sys, time\n"
        "from explorer.jobs import JobManager\n"
        f"m = JobManager({str(tmp_path / 'jobs')!r}, timeout_s=600)\n"
        "k = m.build_cache_key(None, [], [], None)\n"
        "m.call_job_fn(k, {'module': 'time', 'qualname': 'sleep', 'progress': False}, [300], {})\n"
        "print(m._read(k, 'job')['pid'], flush=True)\n"
        "time.sleep(600)\n"
    )
    server = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=str(tmp_path),
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        job_pid = int(server.stdout.readline())
        assert _alive(job_pid)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        deadline = time.monotonic() + 15
        while _alive(job_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(job_pid), "the job outlived its server"
        assert not list((tmp_path / "jobs").glob("*.result"))
    finally:
        server.kill()


def test_failures_are_explained_in_words(manager):
    """Raw exception texts ("Singular matrix", "AssertionError") become plain words on the page;
    a job's own message (a ValueError) stays as it is."""
    from explorer.jobs import explain

    singular = start(manager, {"module": "numpy.linalg", "qualname": "inv", "progress": False}, [[[0.0, 0.0], [0.0, 0.0]]])
    assert "degenerate" in wait_result(manager, singular)["background_callback_error"]["msg"]
    assert explain(AssertionError()).startswith("an internal error (AssertionError)")
    assert explain(ValueError("the target 'x' is not numeric")) == "the target 'x' is not numeric"
    assert "not enough memory" in explain(MemoryError())


def test_job_files_nobody_read_for_a_day_are_forgotten(tmp_path):
    root = tmp_path / "jobs"
    JobManager(root)
    old, fresh = root / ("ab" * 16 + ".result"), root / ("cd" * 16 + ".result")
    old.write_bytes(b"x")
    fresh.write_bytes(b"x")
    long_ago = time.time() - 2 * 86400
    os.utime(old, (long_ago, long_ago))
    JobManager(root)
    assert not old.exists() and fresh.exists()



# -- the same jobs on Celery workers (explorer.celery_jobs) -------------------------------------------


def celery_manager(redis_server, tmp_path):
    from explorer.celery_jobs import CeleryJobManager

    return CeleryJobManager(tmp_path / "data" / "jobs", redis_server["url"], timeout_s=120, max_jobs=4, max_jobs_per_session=4)


def wait_for_beat(manager, key: str) -> int:
    """The pid of the worker process running job ``key``, once its heartbeat appears."""
    beat = manager.root / f"{key}.beat"
    deadline = time.monotonic() + 30
    while not beat.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return int(beat.read_text().split()[1])


def test_jobs_run_on_a_celery_worker(redis_server, celery_worker, tmp_path):
    celery_worker(tmp_path / "data")
    manager = celery_manager(redis_server, tmp_path)
    assert wait_result(manager, start(manager, ADD, [2, 3])) == 5  # the first waits for the worker to start
    failed = wait_result(manager, start(manager, SQRT, [-1.0]))
    assert failed["background_callback_error"]["msg"] == "math domain error"
    # the job ran in a worker process, not here: its heartbeat named another pid
    key = start(manager, SLEEP, [3])
    assert wait_for_beat(manager, key) != os.getpid() and manager.job_running(key)
    assert wait_result(manager, key) is None
    assert not (manager.root / f"{key}.beat").exists()


def test_a_celery_worker_killed_mid_job_is_reported_and_a_retry_works(redis_server, celery_worker, tmp_path, monkeypatch):
    from explorer import celery_jobs

    monkeypatch.setattr(celery_jobs, "BEAT_TIMEOUT_S", 3.0)
    celery_worker(tmp_path / "data")
    manager = celery_manager(redis_server, tmp_path)
    assert wait_result(manager, start(manager, ADD, [1, 1])) == 2
    key = start(manager, SLEEP, [60])
    os.kill(wait_for_beat(manager, key), signal.SIGKILL)  # the process running the job dies (out of memory, say)
    result = wait_result(manager, key, timeout_s=30)
    assert "stopped without a result" in result["background_callback_error"]["msg"]
    assert wait_result(manager, start(manager, ADD, [20, 22])) == 42  # the worker runs the next job


def test_redis_restarted_with_a_job_in_flight(redis_server, celery_worker, tmp_path):
    celery_worker(tmp_path / "data")
    manager = celery_manager(redis_server, tmp_path)
    assert wait_result(manager, start(manager, ADD, [1, 2])) == 3
    key = start(manager, SLEEP, [4])
    wait_for_beat(manager, key)
    redis_server["restart"]()
    assert wait_result(manager, key) is None  # the running job finishes: its result is a file
    assert wait_result(manager, start(manager, ADD, [5, 6]), timeout_s=120) == 11  # the worker reconnected


def test_a_job_no_celery_worker_takes_says_so(redis_server, tmp_path, monkeypatch):
    from explorer import celery_jobs

    monkeypatch.setattr(celery_jobs, "START_GRACE_S", 2.0)
    manager = celery_manager(redis_server, tmp_path)
    result = wait_result(manager, start(manager, ADD, [1, 2]), timeout_s=30)
    assert "structure-explorer worker" in result["background_callback_error"]["msg"]
