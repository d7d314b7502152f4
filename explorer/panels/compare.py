"""Compare descriptors: what another descriptor adds to the map's (GFRE and GFRD both ways).

One background job computes (or finds cached) the other descriptor's features for the same
dataset, rows and hyperparameters, then ``compute.metrics.reconstruction_measures`` in both
directions: GFRE(A → B) near 0 says the map's descriptor A already holds B linearly; near 1 says
B holds information A lacks. GFRD says how much the best linear map from one to the other
deforms it.

Ids: ``compare-descriptor``, ``compare-run``, ``compare-cancel``, ``compare-progress``,
``compare-result``.
"""

from __future__ import annotations

from dash import Input, Output, State, dcc, html, no_update

from compute import metrics
from compute.datasets import DatasetError
from compute.descriptors import DESCRIPTORS

from .. import messages, state
from ..jobs import failure_handler, run_and_cancel
from ..store import Store, UnknownIdError
from ._callbacks import Callbacks
from .descriptors import compute_features, load_features

callbacks = Callbacks()
register = callbacks.register  # explorer.panels.register(app) calls it


def layout() -> html.Div:
    return html.Div(
        [
            html.Div(
                [
                    html.Label(["compare the map's descriptor with",
                                dcc.Dropdown(id="compare-descriptor", options=[{"label": label, "value": name}
                                                                                 for name, (label, _) in DESCRIPTORS.items()],
                                             value="radial", clearable=False)], className="field"),
                    html.Div([html.Button("Compare", id="compare-run", n_clicks=0, className="button primary"),
                              html.Button("Cancel", id="compare-cancel", n_clicks=0, className="button", disabled=True)],
                             className="button-row"),
                    html.Progress(id="compare-progress", value="0", max="1", className="progress"),
                    html.P("GFRE(A → B): the error of the best linear reconstruction of B from A on held-out rows "
                           "(0: A holds B; 1: nothing of B). GFRD: how much that reconstruction deforms A.", className="hint"),
                ],
                className="panel learning-controls",
            ),
            html.Div(id="compare-result", className="side-graph"),
        ],
        className="tab-panel learning-panel",
    )


def compare(store: Store, features_state: dict, other: str, progress=None) -> dict:
    """GFRE and GFRD between the map's features and ``other``'s (same dataset, rows and
    hyperparameters), both directions; ValueError with a message for the user."""
    if not features_state:
        raise ValueError("there are no features yet: compute the descriptors first")
    if not features_state.get("hypers"):
        raise ValueError("a features table has no descriptor to compare with")
    mine = features_state.get("descriptor", "soap")
    if other == mine:
        raise ValueError(f"the map already uses the {DESCRIPTORS[mine][0]}: choose another descriptor")
    other_state = compute_features(store, features_state["dataset"], features_state["hypers"], features_state["per"],
                                   state.current_settings().backend, progress=progress, descriptor=other)
    A, _ = load_features(store, features_state)
    B, _ = load_features(store, other_state)
    if len(A) < 4:
        raise ValueError(f"{len(A)} rows are too few to compare descriptors (held-out half needed)")
    return {"mine": mine, "other": other, "forward": metrics.reconstruction_measures(A, B),
            "backward": metrics.reconstruction_measures(B, A), "rows": int(len(A))}


def result_table(result: dict) -> html.Table:
    a, b = DESCRIPTORS[result["mine"]][0], DESCRIPTORS[result["other"]][0]
    header = html.Tr([html.Th(h) for h in ("reconstruction", "GFRE", "GFRD")])
    body = [html.Tr([html.Td(f"{x} → {y}"), html.Td(f"{m['gfre']:.3f}"), html.Td(f"{m['gfrd']:.3f}")])
            for x, y, m in ((a, b, result["forward"]), (b, a, result["backward"]))]
    return html.Table([html.Thead(header), html.Tbody(body)], className="numbers-table", id="compare-table")


@callbacks.server(
    Output("compare-result", "children"),
    Input("compare-run", "n_clicks"),
    State(state.FEATURES, "data"),
    State("compare-descriptor", "value"),
    background=True,
    interval=250,
    progress=[Output("compare-progress", "value"), Output("compare-progress", "max")],
    **run_and_cancel(callbacks, "compare-run", "compare-cancel", "Comparison cancelled."),
    prevent_initial_call=True,
    on_error=failure_handler("Comparing descriptors", outputs=1),
)
def on_compare(set_progress, _clicks, features_state, other):
    set_progress(("0", "1"))
    try:
        result = compare(state.current_store(), features_state, other or "radial",
                         progress=lambda done, total: set_progress((str(done), str(total))))
    except (ValueError, DatasetError, UnknownIdError) as error:
        messages.say(messages.error(f"Descriptors not compared: {error}"))
        return no_update
    set_progress(("1", "1"))
    forward = result["forward"]["gfre"]
    messages.say(f"Compared on {result['rows']:,} rows: GFRE {forward:.3f} from the map's descriptor, "
                 f"{result['backward']['gfre']:.3f} back.")
    return result_table(result)
