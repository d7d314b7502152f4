"""The Dash application: ``create_app(settings) -> dash.Dash``.

For now one page that opens a dataset and shows its summary (structures, atoms, elements,
periodicity, the first rows of the structure-property table). The full explorer (upload,
descriptors, maps, viewer, export) grows from here keeping the ids below:

* ``status-message``: messages and errors, as text;
* ``dataset-summary``: the summary of the open dataset.

When the server is reachable from other machines (a host other than loopback) every request
must carry the access token: ``?token=...`` once (it is then kept in an HTTP-only cookie and
removed from the address), or an ``Authorization: Bearer ...`` header.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from pathlib import Path
from urllib.parse import urlencode

import dash
from dash import html

from .resources import assets_dir, default_dataset_path
from .settings import Settings

TITLE = "Structure-property explorer"
TOKEN_COOKIE = "explorer_token"
TOKEN_QUERY = "token"
#: rows of the structure-property table shown in the summary
PREVIEW_ROWS = 10


def create_app(settings: Settings | None = None) -> dash.Dash:
    """Build the app for ``settings`` (the bundled sample dataset when ``settings.dataset`` is None).

    Raises :class:`explorer.settings.SettingsError` when the settings must not be served, e.g. a
    non-loopback host without an access token.
    """
    settings = Settings() if settings is None else settings
    settings.check_can_serve()

    app = dash.Dash(
        __name__,
        title=TITLE,
        update_title=None,
        assets_folder=str(assets_dir()),
    )
    app.server.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes
    if settings.token:
        install_token_check(app.server, settings.token)

    dataset_path = settings.dataset if settings.dataset is not None else default_dataset_path()
    app.layout = _layout(dataset_path)
    return app


# --------------------------------------------------------------------------------------------------
# layout


def _layout(dataset_path: Path) -> html.Div:
    summary, status, is_error = _summary_for(dataset_path)
    return html.Div(
        [
            html.Header(
                [
                    html.H1(TITLE),
                    html.Span(summary.get("name", Path(dataset_path).name), id="dataset-name", className="dataset-name"),
                ],
                className="explorer-header",
            ),
            html.Main(
                [
                    html.Div(status, id="status-message", className="status-message error" if is_error else "status-message", role="status"),
                    html.Div(summary.get("children", []), id="dataset-summary", className="dataset-summary"),
                ],
                className="explorer-main",
            ),
        ],
        className="explorer",
    )


def _summary_for(path: Path) -> tuple[dict, str, bool]:
    """Read ``path`` and return (summary parts, status text, is_error); never raises for bad files."""
    from compute.datasets import read_dataset  # imported here: the numerical core loads with the app, not the CLI

    try:
        dataset = read_dataset(path)
    except (ValueError, OSError) as exc:  # DatasetError is a ValueError; a missing file an OSError
        return {"name": Path(path).name}, f"Could not open {Path(path).name}: {exc}", True

    stats = [
        ("Structures", f"{dataset.n_structures:,}"),
        ("Atoms", f"{dataset.n_atoms:,}"),
        ("Elements", ", ".join(str(e) for e in dataset.elements) or "none"),
        ("Periodic", _periodic_text(dataset.periodic)),
    ]
    children = [
        html.Ul(
            [
                html.Li([html.Span(label, className="label"), html.Span(value, className="value")], id=f"summary-{label.lower()}")
                for label, value in stats
            ],
            className="summary-stats",
        ),
        _property_table(dataset.structure_properties),
    ]
    status = f"Opened {dataset.name}: {dataset.n_structures:,} structures, {dataset.n_atoms:,} atoms."
    return {"name": dataset.name, "children": children}, status, False


def _periodic_text(periodic) -> str:
    if isinstance(periodic, str):
        return periodic
    if isinstance(periodic, bool) or periodic is None or not hasattr(periodic, "__iter__"):
        return "yes" if periodic else "no"
    values = [bool(p) for p in periodic]  # per structure (or per axis)
    if all(values):
        return "yes"
    if not any(values):
        return "no"
    return f"mixed ({sum(values):,} of {len(values):,})"


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""  # NaN shown as empty
        return f"{value:.6g}"
    try:
        import pandas as pd

        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def _property_table(frame) -> html.Div:
    if frame is None or len(frame.columns) == 0:
        return html.P("This dataset has no structure properties.", className="property-table-empty")
    head = frame.head(PREVIEW_ROWS)
    header = html.Tr([html.Th("#")] + [html.Th(str(c)) for c in head.columns])
    rows = [
        html.Tr([html.Td(str(index))] + [html.Td(_cell_text(v)) for v in row])
        for index, row in zip(head.index, head.itertuples(index=False, name=None))
    ]
    caption = f"Structure properties (first {len(head)} of {len(frame):,} rows)"
    return html.Div(
        [html.H2(caption), html.Table([html.Thead(header), html.Tbody(rows)], className="property-table")],
        id="property-preview",
    )


# --------------------------------------------------------------------------------------------------
# access token


def _token_digest(token: str) -> str:
    """Value kept in the cookie: derived from the token so the token itself is not stored."""
    return hmac.new(token.encode(), b"structure-explorer-session", hashlib.sha256).hexdigest()


def install_token_check(server, token: str) -> None:
    """Require ``token`` on every request of the Flask ``server``.

    Accepted: ``?token=<token>`` (answered with a redirect that drops it from the address and sets
    an HTTP-only cookie), the cookie, or an ``Authorization: Bearer <token>`` header.
    Anything else gets 401.
    """
    import flask

    expected_cookie = _token_digest(token)

    @server.before_request
    def _require_token():
        request = flask.request
        given = request.args.get(TOKEN_QUERY)
        if given is not None:
            if not hmac.compare_digest(given.encode(), token.encode()):
                return _unauthorized()
            rest = [(k, v) for k, v in request.args.items(multi=True) if k != TOKEN_QUERY]
            location = request.path + ("?" + urlencode(rest) if rest else "")
            response = flask.redirect(location, code=303 if request.method != "GET" else 302)
            response.set_cookie(TOKEN_COOKIE, expected_cookie, httponly=True, samesite="Strict", secure=request.is_secure)
            return response
        cookie = request.cookies.get(TOKEN_COOKIE)
        if cookie is not None and hmac.compare_digest(cookie.encode(), expected_cookie.encode()):
            return None
        auth = request.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode()):
            return None
        return _unauthorized()


def _unauthorized():
    import flask

    return flask.Response(
        "This structure-explorer needs its access token: open the address printed when it started "
        "(it ends in ?token=...), or send 'Authorization: Bearer <token>'.\n",
        status=401,
        mimetype="text/plain",
    )
