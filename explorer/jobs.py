"""Background jobs: a Dash background-callback manager that cannot poison the web server.

Why not Dash's own ``DiskcacheManager``: it ``fork()``s the web process for every job. Once the
web process has run parallel Numba code (GNU OpenMP), such a fork aborts the child
("fork() called from a process already using GNU OpenMP"), and every later job of every user
died silently. It also keys results by the callback's arguments only, so two sessions asking the
same thing at the same moment (every page load asks for the default map) shared one result, and
the first poll deleted it for the other; its SQLite store timed out under load.

:class:`JobManager` instead

* starts each job as a fresh process from a *forkserver*: a clean interpreter that imports the
  app's modules once (so a job starts in ~0.1 s) and never runs numerical code itself. The web
  process never forks. Cancel kills the job's whole process; nothing is shared between jobs.
* gives every job a random key (``secrets.token_hex``), whatever its arguments: jobs of
  different sessions, or two identical requests, never meet.
* keeps results, progress and ``set_props`` updates as files in ``<data dir>/jobs`` written
  atomically (rename), readable by every web worker; no database (one file lock, held while a
  worker starts waiting jobs).
* bounds them: at most ``max_jobs_per_session`` jobs of one browser session and ``max_jobs`` in
  all run at once; the others wait in a queue (a file each), started oldest first by the page's
  polls, whose status line shows their place. A job nobody polls never starts; a job whose web
  process dies stops too.
* turns every way a job can end into a result the page sees: a return value; an exception
  (logged with its traceback in the server log, its message sent to the callback's ``on_error``
  handler, see :func:`failure_handler`); a process that died without a result (killed, out of
  memory, a crash in native code); a job running past ``timeout_s`` (killed, then reported).

The job's function is found again in the job process by module and qualified name, so the job
carries only plain data; the same code path runs under a Celery worker.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import importlib
import inspect
import logging
import multiprocessing
import os
import pickle
import secrets
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

from dash import Input, Output, no_update
from dash.background_callback.managers import BaseBackgroundCallbackManager
from dash.exceptions import PreventUpdate

from . import messages

log = logging.getLogger(__name__)

#: modules the forkserver imports once, so that each job process starts with them loaded
PRELOAD = ["explorer.job_preload"]
#: a job running longer than this is killed and reported as failed (``EXPLORER_JOB_TIMEOUT_S``)
DEFAULT_TIMEOUT_S = 900.0
#: prefix Dash puts before a job's error message (stripped again by :func:`failure_handler`)
_DASH_ERROR_PREFIX = "An error occurred inside a background callback: "
_KEY_CHARS = frozenset("0123456789abcdef-")


class JobFailed(RuntimeError):
    """Raised in a job to report a failure with a message for the user (no traceback logged)."""


def _context():
    """The process-start context of job processes (``forkserver`` on POSIX, else ``spawn``)."""
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload(PRELOAD)
    return context


class JobManager(BaseBackgroundCallbackManager):
    """Dash background-callback manager running each job in its own clean process.

    Parameters
    ----------
    root : path
        Folder for job files (results, progress, the job's pid and start time); shared by every
        web worker of one deployment.
    timeout_s : float
        A job running longer is killed and reported as failed.
    """

    def __init__(self, root, timeout_s: float = DEFAULT_TIMEOUT_S, max_jobs: int | None = None, max_jobs_per_session: int | None = None):
        self.root = Path(root)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.timeout_s = float(timeout_s)
        self.max_jobs = int(max_jobs or _int_from_env("EXPLORER_MAX_JOBS", max(2, os.cpu_count() or 2)))
        self.max_jobs_per_session = int(max_jobs_per_session or _int_from_env("EXPLORER_MAX_JOBS_PER_SESSION", 2))
        self._mp = _context()
        super().__init__(cache_by=None)
        self._forget_old()

    def _forget_old(self, max_age_s: float = 86400.0) -> None:
        """Remove job files nobody read for a day (pages closed before their result came)."""
        now = time.time()
        for path in self.root.iterdir():
            if path.name in ("signing-secret", "queue.lock"):
                continue
            try:
                if now - path.stat().st_mtime > max_age_s:
                    path.unlink()
            except OSError:
                pass

    def warm_up(self) -> None:
        """Start the forkserver now (it imports the app's modules in its own process), so the
        first job of the first page does not wait for it (~3 s on 2 cores)."""
        if self._mp.get_start_method() == "forkserver":
            from multiprocessing import forkserver

            forkserver.ensure_running()

    # -- files ------------------------------------------------------------------------------------
    def _path(self, key: str, kind: str) -> Path:
        # keys are made here (hex) or by Dash from them; anything else never names a file
        if not key or not set(str(key)) <= _KEY_CHARS or len(key) > 200:
            raise ValueError(f"not a job key: {str(key)[:40]!r}")
        return self.root / f"{key}.{kind}"

    def _write(self, key: str, kind: str, value) -> None:
        _atomic_pickle(self._path(key, kind), value)

    def _read(self, key: str, kind: str, default=None):
        try:
            return pickle.loads(self._path(key, kind).read_bytes())  # our own job files only
        except (FileNotFoundError, EOFError, pickle.UnpicklingError, ValueError):
            return default

    def _exists(self, key: str, kind: str) -> bool:
        try:
            return self._path(key, kind).exists()
        except ValueError:
            return False

    def _delete(self, key: str, *kinds: str) -> None:
        for kind in kinds:
            try:
                self._path(key, kind).unlink()
            except (FileNotFoundError, ValueError):
                pass

    # -- Dash's manager interface -------------------------------------------------------------------
    def build_cache_key(self, fn, args, cache_args_to_ignore, triggered):
        # a fresh random key for every job: results are never shared, whatever the arguments
        return secrets.token_hex(16)

    def make_job_fn(self, fn, progress, key=None):
        fn = inspect.unwrap(fn)
        return {"module": fn.__module__, "qualname": fn.__qualname__, "progress": bool(progress)}

    def call_job_fn(self, key, job_fn, args, context):
        from .security import current_session

        context = {k: v for k, v in dict(context).items() if _picklable(v)}
        # the app's settings travel with the job (the forkserver keeps the environment it started with)
        env = {k: v for k, v in os.environ.items() if k.startswith("EXPLORER_")}
        # a job waits in the queue until a slot is free (at most max_jobs_per_session of its
        # browser session and max_jobs in all run at once); the page's polls start it
        log.debug("job %s (%s) requested", key[:8], job_fn["qualname"])
        self._write(key, "queued", {"job_fn": job_fn, "args": args, "context": context, "env": env,
                                    "session": current_session() or "", "queued": time.time(), "server": os.getpid()})
        self._start_queued()
        return key

    def _start(self, key: str, order: dict) -> None:
        record = {"started": time.time(), "name": order["job_fn"]["qualname"], "session": order["session"]}
        record.update(self._launch(key, order))
        log.debug("job %s (%s) started for session %s…", key[:8], record["name"], record["session"][:6])
        self._write(key, "job", record)
        self._delete(key, "queued")

    # -- how a job runs: here a process from the forkserver; CeleryJobManager overrides these three
    def _launch(self, key: str, order: dict) -> dict:
        """Start the job; returns what identifies it (kept in its ``.job`` record)."""
        job_fn = order["job_fn"]
        process = self._mp.Process(
            target=run_job, args=(str(self.root), key, job_fn, order["args"], order["context"], order["env"], order["server"]),
            name=f"job-{job_fn['qualname']}", daemon=False,
        )
        process.start()
        # the web process does not wait for it; reap it when it ends so it never stays a zombie
        _reap_later(process)
        return {"pid": process.pid}

    def _is_alive(self, key: str, record: dict) -> bool:
        """Whether the job described by ``record`` still runs (or is about to)."""
        return _alive(record["pid"])

    def _stop(self, key: str, record: dict) -> None:
        """Kill the job, and whatever it started."""
        _kill(record["pid"])

    def _death_message(self, key: str, record: dict) -> str:
        """Why a job ended without a result, as the page will say it."""
        return "the job's process stopped without a result (it may have run out of memory or been killed)"

    def _running(self) -> list[dict]:
        records = []
        for path in self.root.glob("*.job"):
            record = self._read(path.stem, "job")
            if record is not None and self._is_alive(path.stem, record):
                records.append(record)
        return records

    def _queue(self) -> list[tuple[float, str, dict]]:
        """Waiting jobs, oldest first: (queued at, key, order)."""
        waiting = []
        for path in self.root.glob("*.queued"):
            order = self._read(path.stem, "queued")
            if order is not None:
                waiting.append((order["queued"], path.stem, order))
        return sorted(waiting, key=lambda item: item[0])

    def _start_queued(self) -> None:
        """Start waiting jobs, oldest first, while the limits allow (one web worker at a time)."""
        with _exclusive(self.root / "queue.lock"):
            running = self._running()
            per_session = collections.Counter(record.get("session", "") for record in running)
            total = len(running)
            for _, key, order in self._queue():
                if total >= self.max_jobs:
                    break
                session = order.get("session", "")
                if per_session[session] >= self.max_jobs_per_session:
                    continue
                self._start(key, order)
                total += 1
                per_session[session] += 1

    def queue_position(self, key: str) -> int | None:
        """How many jobs wait before this one (None: it is not waiting)."""
        waiting = [k for _, k, _ in self._queue()]
        return waiting.index(key) if key in waiting else None

    def _start_if_waiting(self, key: str) -> None:
        if self._exists(key, "queued"):
            self._start_queued()

    def get_progress(self, key):
        self._start_if_waiting(key)
        value = self._read(key, "progress")
        if value is not None:
            self._delete(key, "progress")
        return value

    def result_ready(self, key):
        self._check_health(key)
        self._start_if_waiting(key)
        return self._path(key, "result").exists()

    def get_result(self, key, job):
        # Dash asks for the result on every poll of every background callback (progress or not):
        # the place to start a waiting job once a slot is free
        self._start_if_waiting(key)
        self._check_health(key)
        result = self._read(key, "result", self.UNDEFINED)
        if result is self.UNDEFINED:
            return self.UNDEFINED
        log.debug("job %s: result read", key[:8])
        # "waited" stays: get_updated_props, which Dash calls next in the same poll, takes the
        # waiting message back
        self._delete(key, "result", "progress", "job")
        return result

    def get_updated_props(self, key):
        position = self.queue_position(key)
        if position is not None:  # still waiting: say so, with its place in the queue
            self._write(key, "waited", True)
            ahead = f"{position} job{'s' if position != 1 else ''} ahead" if position else "next to start"
            return {messages.STATUS: {"children": f"Waiting for a free worker ({ahead}; at most {self.max_jobs_per_session} "
                                                   f"jobs of one page and {self.max_jobs} in all run at once)…"}}
        value = self._read(key, "props") or {}
        self._delete(key, "props")
        if self._exists(key, "waited"):  # started: the waiting message no longer holds
            self._delete(key, "waited")
            value = {messages.STATUS: {"children": ""}, **value}
        return value

    def job_running(self, job):
        """Whether the page must poll again. Dash asks this right *after* get_result, and takes
        "not running" with no result for a cancelled job and stops polling: a job that ended in
        between (its result written a moment too late for get_result) must still count as
        running, or its result (or its failure) would never reach the page."""
        if not job:
            return False
        key = str(job)
        if self._exists(key, "queued") or self._exists(key, "result"):
            return True  # waiting, or a result not read yet
        record = self._read(key, "job")
        if record is None:
            return False  # read, or cancelled
        if self._is_alive(key, record):
            return True
        self._check_health(key)  # it ended: its result, or why there is none, for the next poll
        return self._exists(key, "result")

    def terminate_job(self, job):
        """Kill a job (Cancel, or a newer request of the same callback); never raises."""
        if not job:
            return
        key = str(job)
        self._delete(key, "queued")
        record = self._read(key, "job")
        if record is None:
            return
        log.debug("job %s (%s) cancelled", key[:8], record.get("name"))
        self._stop(key, record)
        self._delete(key, "job", "progress", "props")
        self._start_queued()  # its slot is free

    def terminate_unhealthy_job(self, job):
        if job and not self.job_running(job):
            self.terminate_job(job)
            return True
        return False

    def clear_cache_entry(self, key):
        self._delete(key, "result", "progress", "props", "job", "queued", "waited")

    def get_or_create_signing_secret(self, generate):
        # one secret for every web worker: the first to write it wins (O_EXCL), the others read it
        path = self.root / "signing-secret"
        try:
            with open(path, "xb") as handle:
                handle.write(generate())
        except FileExistsError:
            pass
        for _ in range(50):
            data = path.read_bytes()
            if data:
                return data
            time.sleep(0.01)
        return data

    # -- health ------------------------------------------------------------------------------------
    def _check_health(self, key: str) -> None:
        """Turn a dead or overdue job into a failure result the page will see."""
        if self._path(key, "result").exists():
            return
        record = self._read(key, "job")
        if record is None:
            return
        if not self._is_alive(key, record):
            time.sleep(0.2)  # the job may have written its result just before it ended
            if self._path(key, "result").exists():
                return
            message = self._death_message(key, record)
        elif time.time() - record["started"] > self.timeout_s:
            self._stop(key, record)
            message = f"it took longer than {self.timeout_s:g} s and was stopped"
        else:
            return
        log.warning("job %s (%s): %s", key[:8], record.get("name"), message)
        self._write(key, "result", _error_result(message))
        self._delete(key, "job")
        self._start_queued()  # its slot is free


# -- the job process ------------------------------------------------------------------------------


def _error_result(message: str) -> dict:
    return {"background_callback_error": {"msg": message, "tb": ""}}


def resolve(job_fn: dict):
    """The plain function behind a Dash callback, found by module and qualified name."""
    target = importlib.import_module(job_fn["module"])
    for part in job_fn["qualname"].split("."):
        target = getattr(target, part)
    return inspect.unwrap(target)


def _die_with(server_pid: int | None) -> None:
    """A job outlives nothing: when the web process that asked for it is gone (killed,
    restarted), the job stops, with everything it started, and writes no result."""
    import threading

    if not server_pid:
        return

    def watch():
        while _alive(server_pid):
            time.sleep(1.0)
        _kill(os.getpid())  # the job's process group: its BLAS/Numba threads and children too

    threading.Thread(target=watch, name="die-with-server", daemon=True).start()


def run_job(root: str, key: str, job_fn: dict, args, context: dict, env: dict | None = None, server_pid: int | None = None) -> None:
    """Body of a job process: run the callback, write its result (or its failure) to a file."""
    from dash._callback_context import context_value
    from dash._utils import AttributeDict
    from dash.background_callback._proxy_set_props import ProxySetProps

    # a new process group: Cancel kills the job and anything it started (BLAS, Numba threads)
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    os.environ.update(env or {})
    _die_with(server_pid)
    manager_root = Path(root)
    props: dict = {}

    def path(kind: str) -> Path:
        return manager_root / f"{key}.{kind}"

    def set_progress(value):
        _atomic_pickle(path("progress"), list(value) if isinstance(value, (list, tuple)) else [value])

    def on_set_props(component_id, values):
        props.setdefault(component_id, {}).update(values)
        _atomic_pickle(path("props"), props)

    def run():
        c = AttributeDict(**context)
        c.ignore_register_page = False
        c.updated_props = ProxySetProps(on_set_props)
        context_value.set(c)
        fn = resolve(job_fn)
        progress = [set_progress] if job_fn["progress"] else []
        if isinstance(args, dict):
            return fn(*progress, **args)
        if isinstance(args, (list, tuple)):
            return fn(*progress, *args)
        return fn(*progress, args)

    try:
        result = contextvars.copy_context().run(run)
    except PreventUpdate:
        result = {"_dash_no_update": "_dash_no_update"}
    except JobFailed as error:
        result = _error_result(str(error))
    except Exception as error:  # noqa: BLE001  (every failure must reach the page)
        print(f"job {key[:8]} ({job_fn['qualname']}) failed:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
        result = _error_result(explain(error))
    try:
        _atomic_pickle(path("result"), result)
    except Exception as error:  # noqa: BLE001  (e.g. an unpicklable output)
        _atomic_pickle(path("result"), _error_result(f"its result could not be stored ({error})"))


def explain(error: BaseException) -> str:
    """What a failure means, for the page: the message of the errors we raise on purpose
    (ValueError and its kin, with their reasons), plain words for the numerical and system
    failures whose own text means nothing to a user ("Singular matrix", "AssertionError")."""
    import numpy as np

    if isinstance(error, np.linalg.LinAlgError):
        return ("the numbers are degenerate (a singular or non-convergent matrix: too few distinct structures, "
                "constant features, or a regularization too small)")
    if isinstance(error, MemoryError):
        return "there was not enough memory (try smaller hyperparameters, or fewer structures)"
    if isinstance(error, (AssertionError, IndexError, KeyError, AttributeError, TypeError, ZeroDivisionError)):
        return f"an internal error ({type(error).__name__}); the server log has the details"
    text = str(error)
    return text if text else type(error).__name__


# -- helpers ----------------------------------------------------------------------------------------


def _atomic_pickle(path: Path, value) -> None:
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".", suffix=".tmp", delete=False) as handle:
        pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(handle.name, path)


def _picklable(value) -> bool:
    try:
        pickle.dumps(value)
    except Exception:  # noqa: BLE001
        return False
    return True


def _alive(pid: int) -> bool:
    """True while process ``pid`` runs (a zombie, i.e. ended but not yet reaped, is not alive)."""
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(int(pid), 0)
        except OSError:
            return False
        return True


def _kill(pid: int) -> None:
    for target in (lambda: os.killpg(int(pid), signal.SIGKILL), lambda: os.kill(int(pid), signal.SIGKILL)):
        try:
            target()
            return
        except (ProcessLookupError, PermissionError, OSError):
            continue


def _reap_later(process) -> None:
    """Join ``process`` from a daemon thread so its exit status is collected (no zombies)."""
    import threading

    threading.Thread(target=process.join, name=f"reap-{process.pid}", daemon=True).start()


# -- what the page shows when a job fails ---------------------------------------------------------------


def failure_handler(what: str, *, outputs: int = 1):
    """An ``on_error`` handler for a background callback: ``"<what> failed: <reason>. Try again."``
    in the status line (styled as an error), and no change to the callback's outputs.

    ``outputs`` is the number of the callback's outputs (``no_update`` for each).
    """

    def handle(error: Exception):
        reason = str(error)
        if reason.startswith(_DASH_ERROR_PREFIX):
            reason = reason[len(_DASH_ERROR_PREFIX):]
        reason = reason.strip().splitlines()[0] if reason.strip() else type(error).__name__
        reason = reason.rstrip(".")
        messages.say(messages.error(f"{what} failed: {reason}. Try again."))
        return no_update if outputs == 1 else [no_update] * outputs

    return handle


def run_and_cancel(callbacks, run_button: str, cancel_button: str, cancelled: str) -> dict:
    """The ``running`` and ``cancel`` arguments of a background callback started by
    ``run_button`` and stopped by ``cancel_button`` (each disabled while it cannot be used);
    also says ``cancelled`` in the status line when the user cancels (a callback added to the
    panel's ``callbacks``, see ``explorer.panels._callbacks``)."""

    def on_cancel(_clicks):
        messages.say(cancelled)

    callbacks.server(Input(cancel_button, "n_clicks"), prevent_initial_call=True)(on_cancel)

    return {
        "running": [(Output(run_button, "disabled"), True, False), (Output(cancel_button, "disabled"), False, True)],
        "cancel": [Input(cancel_button, "n_clicks")],
    }


def _int_from_env(name: str, default: int) -> int:
    try:
        value = int(os.environ.get(name, "") or default)
    except ValueError:
        return default
    return value if value > 0 else default


@contextlib.contextmanager
def _exclusive(path: Path):
    """An exclusive lock on a file, across processes (web workers sharing the jobs folder)."""
    import fcntl

    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def job_timeout_from_env() -> float:
    try:
        return float(os.environ.get("EXPLORER_JOB_TIMEOUT_S", DEFAULT_TIMEOUT_S))
    except ValueError:
        return DEFAULT_TIMEOUT_S

