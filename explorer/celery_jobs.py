"""Jobs on Celery workers with Redis, for a deployment of several web workers and machines.

    EXPLORER_REDIS_URL=redis://127.0.0.1:6379/0 EXPLORER_DATA_DIR=/srv/explorer structure-explorer worker
    EXPLORER_REDIS_URL=redis://127.0.0.1:6379/0 EXPLORER_DATA_DIR=/srv/explorer gunicorn -w 4 ... explorer.wsgi:server

:class:`CeleryJobManager` is :class:`explorer.jobs.JobManager` with one difference: a job is a
Celery task instead of a process of the web server's forkserver. Everything else is the same
code: the job's function is found by module and name and run by :func:`explorer.jobs.run_job`;
results, progress and failures are files in the data folder's ``jobs/`` (so a worker on another
machine mounts the data folder at the same path); the same limits and queue apply. Redis carries
only the task messages, as JSON (nothing is unpickled from it).

A worker proves it is alive by touching ``<job>.beat`` every second: a job whose worker died
(killed, out of memory, the machine gone) is reported as failed within :data:`BEAT_TIMEOUT_S`,
and a job no worker picked up within :data:`START_GRACE_S` says that no worker is running.
Each task runs in a fresh child process of the worker (``--max-tasks-per-child 1``), forked from
a parent that never runs numerical code (the fork-after-OpenMP crash cannot happen).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

from .jobs import JobManager, run_job

QUEUE = "structure-explorer"
#: a running job's heartbeat older than this means its worker is gone
BEAT_TIMEOUT_S = 15.0
#: a job no worker started within this time is reported (no worker running, or all stuck)
START_GRACE_S = 120.0


def redis_url_from_env() -> str | None:
    return os.environ.get("EXPLORER_REDIS_URL") or None


def make_celery(redis_url: str):
    from celery import Celery

    app = Celery("structure_explorer", broker=redis_url)
    app.conf.update(
        task_serializer="json", accept_content=["json"], result_backend=None, task_ignore_result=True,
        task_default_queue=QUEUE, worker_prefetch_multiplier=1, task_acks_late=False,
        broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
    )
    app.task(name="structure_explorer.run_job", ignore_result=True)(run_job_task)
    return app


def run_job_task(root: str, key: str, job_fn: dict, args, context: dict, env: dict) -> None:
    """The Celery task: run the job as the forkserver would, with a heartbeat beside it."""
    beat = Path(root) / f"{key}.beat"
    done = threading.Event()

    def heartbeat():
        # written whole, then renamed: a reader never sees the file empty (it did, mid-write)
        scratch = beat.with_name(f".{beat.name}.{os.getpid()}.tmp")
        while not done.is_set():
            scratch.write_text(f"{socket.gethostname()} {os.getpid()}")
            os.replace(scratch, beat)
            done.wait(1.0)

    thread = threading.Thread(target=heartbeat, name="job-heartbeat", daemon=True)
    thread.start()
    try:
        run_job(root, key, job_fn, args, context, env)
    finally:
        done.set()
        thread.join()
        beat.unlink(missing_ok=True)


def _jsonable(value) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


class CeleryJobManager(JobManager):
    """A :class:`~explorer.jobs.JobManager` whose jobs run on Celery workers (see the module)."""

    def __init__(self, root, redis_url: str, **kwargs):
        super().__init__(root, **kwargs)
        self.redis_url = redis_url
        self.celery = make_celery(redis_url)

    def warm_up(self) -> None:  # no forkserver here: the workers are started on their own
        return None

    def _launch(self, key: str, order: dict) -> dict:
        context = {k: v for k, v in order["context"].items() if _jsonable(v)}
        self.celery.send_task("structure_explorer.run_job", queue=QUEUE, task_id=key,
                              args=[str(self.root), key, order["job_fn"], order["args"], context, order["env"]])
        return {"task": key}

    def _is_alive(self, key: str, record: dict) -> bool:
        try:
            age = time.time() - (self.root / f"{key}.beat").stat().st_mtime
        except FileNotFoundError:  # not started yet, or over (then its result is there)
            return time.time() - record["started"] < START_GRACE_S and not self._exists(key, "result")
        return age < BEAT_TIMEOUT_S

    def _stop(self, key: str, record: dict) -> None:
        # the worker kills the child running it; a job not started yet is dropped when it arrives
        self.celery.control.revoke(record["task"], terminate=True, signal="SIGKILL")
        (self.root / f"{key}.beat").unlink(missing_ok=True)

    def _death_message(self, key: str, record: dict) -> str:
        if not (self.root / f"{key}.beat").exists() and time.time() - record["started"] >= START_GRACE_S:
            return (f"no worker started it within {START_GRACE_S:g} s (is 'structure-explorer worker' running, "
                    "with the same EXPLORER_REDIS_URL?)")
        return super()._death_message(key, record)


def worker_main(argv=None) -> int:
    """``structure-explorer worker``: a Celery worker for this deployment's jobs."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="structure-explorer worker",
        description="Run the jobs of structure-explorer web servers that share EXPLORER_REDIS_URL and the data folder "
                    "(EXPLORER_DATA_DIR, mounted at the same path on every machine).",
    )
    parser.add_argument("--concurrency", type=int, default=None, help="jobs at once (default: the number of cores)")
    parser.add_argument("--loglevel", default="WARNING")
    args = parser.parse_args(argv)
    redis_url = redis_url_from_env()
    if not redis_url:
        parser.error("set EXPLORER_REDIS_URL (e.g. redis://127.0.0.1:6379/0), the same as the web servers'")
    # what the worker's processes write is private to its user, as the server's
    os.umask(0o077)
    app = make_celery(redis_url)
    import explorer.job_preload  # noqa: F401  (the callbacks' modules, imported once in the parent)

    app.worker_main(["worker", "--pool", "prefork", "--concurrency", str(args.concurrency or os.cpu_count() or 2),
                     "--max-tasks-per-child", "1", "-Q", QUEUE, "--loglevel", args.loglevel, "--without-gossip",
                     "--without-mingle", "--hostname", f"structure-explorer@{socket.gethostname()}-{os.getpid()}"])
    return 0
