"""The view as an address and as a file: the page's URL follows every setting (``view_state``),
and "Save settings" / "Load settings" write and read the same view as a small JSON file.

Ids: ``page-url`` (the address, rewritten without a reload), ``view-open`` (the address of a
loaded view, which the browser then opens), ``view-save-settings``, ``view-settings-download``,
``view-load-settings``.
"""

from __future__ import annotations

from dash import Input, Output, State, dcc, html, no_update

from compute.datasets import DatasetError

from .. import messages, state, view_state
from .dataset import decode_upload
from .descriptors import EXTRA_FIELDS

from ._callbacks import Callbacks

callbacks = Callbacks()
register = callbacks.register  # explorer.panels.register(app) calls it


def layout() -> html.Div:
    return html.Div(
        [
            html.H4("View"),
            html.Div("The address of this page reopens this view (in this browser).", className="hint"),
            html.Div(
                [
                    html.Button("Save settings", id="view-save-settings", n_clicks=0, className="button"),
                    dcc.Upload(html.Button("Load settings", className="button"), id="view-load-settings", multiple=False),
                    dcc.Download(id="view-settings-download"),
                    dcc.Store(id="view-open"),
                ],
                className="button-row",
            ),
        ],
        className="panel",
    )


def current_view(dataset_state, viewer_state, values: dict) -> dict:
    """The view of the page: its dataset, its controls' values, the structure shown."""
    view = {"dataset": (dataset_state or {}).get("id")}
    descriptor = values.get("descriptor") or "soap"
    for key, value in values.items():
        if key in EXTRA_FIELDS and descriptor not in EXTRA_FIELDS[key][5]:
            continue  # another descriptor's hyperparameter (a compression for SOAP) says nothing
        view[key] = ("log" in (value or [])) if key == "log" else value
    if viewer_state and viewer_state.get("dataset") == view["dataset"]:
        view["row"] = viewer_state.get("row")
    return view_state.clean({k: v for k, v in view.items() if v is not None})


_CONTROL_INPUTS = [Input(component, prop) for component, prop in view_state.CONTROLS.values()]


@callbacks.server(
    Output("page-url", "search"),
    Input(state.DATASET, "data"),
    Input("viewer-state", "data"),
    *_CONTROL_INPUTS,
)
def on_view_changed(dataset_state, viewer_state, *values):
    return view_state.to_query(current_view(dataset_state, viewer_state, dict(zip(view_state.CONTROLS, values))))


@callbacks.server(
    Output("view-settings-download", "data"),
    Input("view-save-settings", "n_clicks"),
    State(state.DATASET, "data"),
    State("viewer-state", "data"),
    *[State(component, prop) for component, prop in view_state.CONTROLS.values()],
    prevent_initial_call=True,
)
def on_save_settings(_clicks, dataset_state, viewer_state, *values):
    view = current_view(dataset_state, viewer_state, dict(zip(view_state.CONTROLS, values)))
    return dcc.send_bytes(view_state.to_json(view), "structure-explorer-view.json")


@callbacks.server(
    Output("view-open", "data"),
    Input("view-load-settings", "contents"),
    State("view-load-settings", "filename"),
    prevent_initial_call=True,
)
def on_load_settings(contents, filename):
    filename = str(filename or "settings")
    try:
        view = view_state.from_json(decode_upload(contents, filename))
    except (ValueError, DatasetError) as error:
        messages.say(messages.error(f"Could not load {filename}: {error}"))
        return no_update
    messages.say(f"Opening the view of {filename}…")
    return "/" + view_state.to_query(view)


callbacks.clientside(
    "function(address) { if (address) { window.location.assign(address); } return window.dash_clientside.no_update; }",
    Output("view-open", "id"),
    Input("view-open", "data"),
    prevent_initial_call=True,
)
