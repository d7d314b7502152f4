"""``structure-explorer``: serve the app, or run a batch subcommand.

    structure-explorer [DATASET] [--host 127.0.0.1] [--port 8050] [--data-dir DIR]
                       [--backend auto|numba|cupy] [--max-upload-mb 200] [--max-request-mb 8]
                       [--token T]
    structure-explorer featurize INPUT -o OUT.npz [...]   (see ``structure-explorer featurize --help``)
    structure-explorer gc [--data-dir DIR] [--max-store-gb 20] [--max-age-days 30]
    structure-explorer worker [--concurrency N]   (Celery worker; needs EXPLORER_REDIS_URL)

Options not given fall back to ``EXPLORER_*`` environment variables, then to the defaults.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from .settings import BACKENDS, Settings, SettingsError

SUBCOMMANDS = ("featurize", "gc", "worker")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="structure-explorer",
        description="Interactive structure-property explorer: open a dataset of atomic structures in the browser.",
        epilog=(
            "Batch featurization: 'structure-explorer featurize --help'. Every option can also be set "
            "with an EXPLORER_* environment variable (EXPLORER_HOST, EXPLORER_PORT, EXPLORER_DATA_DIR, "
            "EXPLORER_BACKEND, EXPLORER_MAX_UPLOAD_MB, EXPLORER_TOKEN, EXPLORER_DATASET)."
        ),
    )
    # every default is None so that "not given" falls through to the environment, then to Settings
    parser.add_argument("dataset", nargs="?", default=None, metavar="DATASET",
                        help="file of structures to open (default: the bundled small_molecules-1000.xyz)")
    parser.add_argument("--host", default=None, help="interface to listen on (default 127.0.0.1; another host needs --token)")
    parser.add_argument("--port", type=int, default=None, help="port to listen on (default 8050)")
    parser.add_argument("--data-dir", dest="data_dir", default=None, metavar="DIR",
                        help="folder for uploads and cached arrays (default: a per-user cache folder)")
    parser.add_argument("--backend", choices=BACKENDS, default=None, help="descriptor backend (default auto: cupy with a GPU, else numba)")
    parser.add_argument("--max-upload-mb", dest="max_upload_mb", type=float, default=None, metavar="MB",
                        help="largest accepted upload in MB (default 200)")
    parser.add_argument("--max-request-mb", dest="max_request_mb", type=float, default=None, metavar="MB",
                        help="largest body of any other request in MB (default 8)")
    parser.add_argument("--token", default=None, help="access token required on every request (required with a non-local host)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("structure-explorer")
    except PackageNotFoundError:
        return "unknown (not installed)"


def parse_settings(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from command-line arguments and the environment; exits with status 2 on bad input."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_sources(vars(args), environ)
        settings.check_can_serve()
    except SettingsError as exc:
        parser.error(str(exc))
    if settings.dataset is not None and not settings.dataset.is_file():
        parser.error(f"dataset {str(settings.dataset)!r} is not a file")
    return settings


def quiet_web_process() -> None:
    """Settings of the process that serves pages (not of its jobs, which start clean):

    * no log line per request (the page polls running jobs several times a second); warnings,
      failed jobs among them, still reach the log;
    * one BLAS thread: numerical work runs in jobs, and the few small array operations left here
      (moving the mixing slider) must not start thread pools in the server.
    """
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # EXPLORER_LOG_LEVEL=DEBUG: a line per job started, read and cancelled (never per poll)
    level = os.environ.get("EXPLORER_LOG_LEVEL", "").upper()
    if level in ("DEBUG", "INFO", "WARNING", "ERROR"):
        logging.getLogger("explorer").setLevel(level)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def gc_main(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> int:
    """``structure-explorer gc``: trim the data folder to its size cap and age limit now (the
    server also does it when it starts)."""
    parser = argparse.ArgumentParser(
        prog="structure-explorer gc",
        description="Remove what a crash left in the data folder, entries unused for longer than the age limit, and the "
                    "least recently used derived arrays (then datasets) until the folder is under its size cap.",
    )
    parser.add_argument("--data-dir", dest="data_dir", default=None, metavar="DIR", help="the data folder (default: as the server)")
    parser.add_argument("--max-store-gb", dest="max_store_gb", type=float, default=None, metavar="GB",
                        help="size cap (default 20, or EXPLORER_MAX_STORE_GB)")
    parser.add_argument("--max-age-days", dest="max_age_days", type=float, default=None, metavar="DAYS",
                        help="entries unused for longer are removed (default 30, or EXPLORER_MAX_AGE_DAYS)")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_sources(vars(args), environ)
    except SettingsError as exc:
        parser.error(str(exc))
    from .store import Store

    if not settings.data_dir.is_dir():
        parser.error(f"no data folder at {str(settings.data_dir)!r}")
    store = Store(settings.data_dir)
    leftovers, removed = store.tidy(settings.max_store_bytes, settings.max_age_s)
    print(f"structure-explorer gc: {settings.data_dir}: removed {len(leftovers)} leftovers of interrupted writes, "
          f"{removed['files']:,} entries ({removed['datasets']:,} datasets), {removed['bytes'] / 1e6:,.1f} MB", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "gc":
        return gc_main(argv[1:])
    if argv and argv[0] == "worker":
        from .celery_jobs import worker_main  # lazy: celery is needed only here

        return worker_main(argv[1:])
    if argv and argv[0] == "featurize":
        from compute.featurize import main as featurize_main  # lazy: the server path does not need it

        return featurize_main(argv[1:])

    settings = parse_settings(argv)
    from compute.datasets import DatasetError

    from .app import create_app

    try:
        app = create_app(settings)
    except DatasetError as error:  # a bad DATASET argument: a message naming it, not a traceback
        build_parser().error(str(error))
    shown_host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    url = f"http://{shown_host}:{settings.port}/"
    if settings.token:
        url += f"?token={settings.token}"
    print(f"structure-explorer: serving on {url}  (Ctrl+C to stop)", flush=True)
    quiet_web_process()
    app.job_manager.warm_up()
    app.run(host=settings.host, port=settings.port, debug=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
