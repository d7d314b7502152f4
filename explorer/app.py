"""The Dash application: ``create_app(settings) -> dash.Dash``.

One page: the dataset and descriptor controls on the left, the map in the middle with tabs below
it (property table, clusters, learning curves, selection and export), the structure viewer on the
right. Ids that tests and scripts rely on: ``upload-dataset``, ``status-message``, ``map-graph``,
``structure-viewer``, ``export-selection``, ``export-format``, ``color-by``,
``projection-method``, ``mixing-slider``, ``target-property``.

Long work (descriptors, projections, predictions, clustering, learning curves, FPS and CUR
selections) runs in Dash background callbacks whose jobs are clean processes managed by
:class:`explorer.jobs.JobManager` (files in ``<data dir>/jobs``), so the page never freezes and
the web process itself never runs parallel numerical code.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import dash
from dash import dcc, html

from . import state, view_state
from .jobs import JobManager, job_timeout_from_env
from .resources import assets_dir, default_dataset_path
from .security import (current_session, install_loopback_only, install_request_limits, install_security_headers, install_session_cookie,
                       install_token_check, install_trusted_proxies)
from .settings import Settings
from .store import Store

log = logging.getLogger(__name__)
TITLE = "Structure-property explorer"


def create_app(settings: Settings | None = None) -> dash.Dash:
    """Build the app for ``settings`` (the bundled sample dataset when ``settings.dataset`` is None).

    Raises :class:`explorer.settings.SettingsError` when the settings must not be served, e.g. a
    non-loopback host without an access token, and ``compute.datasets.DatasetError`` when the
    dataset given on the command line cannot be read.
    """
    settings = Settings() if settings is None else settings
    settings.check_can_serve()
    state.export_settings(settings)

    # what the server (and its jobs) writes is readable by its user only: uploads, ids, job files
    os.umask(0o077)
    store = Store(settings.data_dir)
    store.tidy(settings.max_store_bytes, settings.max_age_s)
    _keep_trimmed(store, settings)
    dataset_path = settings.dataset if settings.dataset is not None else default_dataset_path()
    default_dataset = {"id": store.add_dataset_file(dataset_path), "name": Path(dataset_path).name}
    store.dataset(default_dataset["id"])  # parsed once here: a bad file given on the command line fails now

    from . import panels
    from .panels import dataset, descriptors, map, view, viewer  # noqa: A004

    if settings.redis_url:  # a deployment with Celery workers (explorer/celery_jobs.py)
        from .celery_jobs import CeleryJobManager

        jobs = CeleryJobManager(Path(settings.data_dir) / "jobs", settings.redis_url, timeout_s=job_timeout_from_env())
    else:
        jobs = JobManager(Path(settings.data_dir) / "jobs", timeout_s=job_timeout_from_env())
    app = dash.Dash(
        __name__,
        title=TITLE,
        update_title=None,
        assets_folder=str(assets_dir()),
        background_callback_manager=jobs,
    )
    panels.register(app)
    app.job_manager = jobs  # the serving entry points warm it up (cli.main, wsgi)
    app.server.config["MAX_CONTENT_LENGTH"] = settings.max_upload_request_bytes
    install_request_limits(app, settings.max_request_bytes, settings.max_upload_request_bytes)
    if settings.trusted_proxies:
        install_trusted_proxies(app.server, settings.trusted_proxies)
    if settings.token:
        install_token_check(app.server, settings.token)
    else:
        install_loopback_only(app.server)
    install_session_cookie(app.server)
    install_security_headers(app)
    _log_callback_requests(app.server)

    def layout():
        # a function: every page load starts from the view in its address (view_state), else from
        # the default dataset and settings
        view = view_state.from_query(_page_address())
        # every browser session opens the first dataset through its own id
        mine = store.share(default_dataset["id"], current_session())
        dataset_state = {**default_dataset, "id": mine}
        if view.get("dataset") and view["dataset"] != mine:
            if store.may_open(current_session(), view["dataset"]):
                dataset_state = {"id": view["dataset"], "name": store.dataset_name(view["dataset"])}
            else:
                view = {}  # a link to data this browser may not open: the default view, nothing of it
        shown = None
        if "row" in view:
            shown = {"row": view["row"], "dataset": dataset_state["id"], "per": view.get("per", "structure")}
        page = _page(dataset_state)
        view_state.apply_to_layout(page, view, extra={"viewer-state": ("data", shown)})
        return page

    def _page(dataset_state):
        return html.Div(
            [
                html.Header(
                    [html.H1(TITLE), html.Div(id="status-message", className="status-message", role="status")],
                    className="explorer-header",
                ),
                html.Div(
                    [
                        html.Aside([dataset.layout(settings.max_upload_bytes), descriptors.layout(), map.layout(), view.layout()],
                                   className="sidebar"),
                        html.Main(
                            [
                                map.graph(),
                                dcc.Tabs(
                                    [dcc.Tab(label=label, children=build()) for label, build in _tabs()],
                                    className="bottom-tabs",
                                ),
                            ],
                            className="centre",
                        ),
                        html.Aside([viewer.layout()], className="viewer-column"),
                    ],
                    className="explorer-body",
                ),
                dcc.Location(id="page-url", refresh=False),
                dcc.Store(id=state.DATASET, data=dataset_state),
                dcc.Store(id=state.FEATURES),
                dcc.Store(id=state.MAP),
                dcc.Store(id=state.SELECTION, data={"rows": [], "source": None}),
                dcc.Store(id=state.CLUSTERS),
                dcc.Store(id=state.PREDICTIONS),
            ],
            className="explorer",
        )

    app.layout = layout
    return app


#: how often a running server trims its data folder to its cap and age limit
GC_INTERVAL_S = 900


def _keep_trimmed(store: Store, settings: Settings) -> None:
    """Trim the data folder every :data:`GC_INTERVAL_S` while the server runs (a few cutoffs on
    one upload can write gigabytes); idempotent, so several web workers may all do it."""
    import threading

    def loop():
        while True:
            time.sleep(GC_INTERVAL_S)
            try:
                removed = store.collect_garbage(settings.max_store_bytes, settings.max_age_s)
                if removed["files"]:
                    log.info("data folder trimmed: %d entries, %.1f MB", removed["files"], removed["bytes"] / 1e6)
            except OSError as error:  # a full or unmounted disk must not end the server
                log.warning("data folder not trimmed: %s", error)

    threading.Thread(target=loop, name="data-folder-gc", daemon=True).start()


def _page_address() -> str | None:
    """The address of the page being built: Dash asks for the layout with a request of its own,
    whose Referer is the page (same origin, so the whole address with its query)."""
    import flask

    if not flask.has_request_context():
        return None
    request = flask.request
    if request.path.endswith("_dash-layout"):
        return request.referrer
    return request.url


def _tabs():
    """(label, layout function) of the tabs under the map."""
    from .panels import clusters, compare, dataset, export, learning

    return [("Properties", dataset.property_table), ("Clusters", clusters.layout), ("Learning curves", learning.layout),
            ("Compare descriptors", compare.layout), ("Select & export", export.layout)]


def _log_callback_requests(server) -> None:
    """At EXPLORER_LOG_LEVEL=DEBUG, a line per callback request the page makes (not per poll of
    a running job): which outputs, triggered by what, for which session. What a page asked for
    and in which order is what explains a view that never came."""
    import flask

    @server.before_request
    def _log_callback():
        request = flask.request
        if not log.isEnabledFor(logging.DEBUG) or not request.path.endswith("/_dash-update-component"):
            return
        if request.args.get("job"):
            return  # a poll
        body = request.get_json(silent=True) or {}
        session = (current_session() or "")[:6]
        log.debug("callback %s <- %s (session %s…)%s", str(body.get("output"))[:120], body.get("changedPropIds"), session,
                  " cancelling an older job" if request.args.get("oldJob") else "")
