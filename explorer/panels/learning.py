"""Learning curves: test RMSE against training-set size for a property and a kernel model.

One background job (``on_run_learning_curve``, with progress and cancel) calls
:func:`run_learning_curve`, which runs ``compute.models.learning_curve`` and caches its table in
the server-side store under (features, target, model, selection); the figure is
``figures.learning_curve_figure`` (log-log, error bars: the spread over the 5 folds).

Decisions:

* The models, kernels, active points and folds are the app's named defaults
  (``compute.defaults``): "automatic", the default, is the model that gives the map's "predicted"
  colour of the same property (kernel ridge; sparse above ``SPARSE_KRR_ABOVE`` rows), with the
  normalised polynomial SOAP kernel (``zeta=2``) on SOAP features and an RBF kernel on an uploaded
  features table. Each model picks its regularisation by its own internal cross-validation on
  each training set.
* The user's model choice is kept. Above ``KRR_SLOW_ROWS`` rows, full KRR (cubic in the
  training size) is slow: the panel says so before the run (``learning-note``) and in the status
  message after it. Above ``KRR_MAX_ROWS`` rows its kernel matrix no longer fits in memory
  comfortably, so full KRR is refused with a message pointing to sparse KRR.
* Rows whose target is NaN are left out by ``compute.models.learning_curve`` itself.
* Progress is reported per fit (each fold at each training-set size) by ``learning_curve``'s own
  ``progress`` hook, in one call, so kernels and FPS orderings are computed once per fold.

Ids: ``learning-property``, ``learning-model``, ``learning-selection``, ``learning-run``,
``learning-cancel``, ``learning-progress``, ``learning-note``, ``learning-curve-graph`` and
``learning-curve-table``.
"""

from __future__ import annotations


import numpy as np
import pandas as pd
from dash import Input, Output, State, dcc, html, no_update

from compute import defaults, models, tensors
from compute.datasets import DatasetError

from .. import figures, messages, state
from ..jobs import failure_handler, run_and_cancel
from ..rows import atom_row_positions, choice_name, first_numeric_property, is_tensor_choice, map_rows, property_options, tensor_options
from ..store import Store, UnknownIdError, make_key
from .descriptors import load_features
from .map import structure_groups, target_values

from ._callbacks import Callbacks

callbacks = Callbacks()
register = callbacks.register  # explorer.panels.register(app) calls it

MODELS = defaults.MODELS
SELECTIONS = {"random": "random", "fps": "farthest point sampling (FPS)"}
N_SPLITS = defaults.N_SPLITS
N_ACTIVE = defaults.N_ACTIVE


def layout() -> html.Div:
    controls = html.Div(
        [
            html.Label(["property", dcc.Dropdown(id="learning-property", options=[], value=None, placeholder="(numeric property)")],
                       className="field"),
            html.Label(["model", dcc.Dropdown(id="learning-model", options=[{"label": v, "value": k} for k, v in MODELS.items()],
                                              value="auto", clearable=False)], className="field"),
            html.Label(["training sets", dcc.RadioItems(id="learning-selection", options=[{"label": v, "value": k} for k, v in SELECTIONS.items()],
                                                        value="random", inline=True)], className="field"),
            html.Div(
                [
                    html.Button("Run learning curve", id="learning-run", n_clicks=0, className="button primary"),
                    html.Button("Cancel", id="learning-cancel", n_clicks=0, className="button", disabled=True),
                ],
                className="button-row",
            ),
            html.Progress(id="learning-progress", value="0", max="1", className="progress"),
            html.Div(id="learning-note", className="note"),
            html.Div(id="learning-curve-table", className="learning-table"),
        ],
        className="panel learning-controls",
    )
    graph = dcc.Graph(id="learning-curve-graph", figure=figures.empty_figure("Choose a property and a model, then run"),
                      config={**figures.GRAPH_CONFIG, "toImageButtonOptions": {"format": "svg"}}, style={"height": "360px"})
    return html.Div([controls, html.Div(graph, className="learning-graph side-graph")], className="tab-panel learning-panel")


# -- logic -----------------------------------------------------------------------------------------


def model_params(model: str, features_state: dict, n_rows: int = 0) -> dict:
    """Parameters of ``model`` (see ``compute.defaults.property_model``)."""
    return resolve_model(model, features_state, n_rows)[1]


def resolve_model(model: str, features_state: dict, n_rows: int) -> tuple[str, dict]:
    """The model the run uses for ``n_rows`` rows with a target, and its parameters."""
    return defaults.property_model(n_rows, bool(features_state.get("hypers")), model or "auto")


def check_size(model: str, n_rows: int) -> str:
    """A warning for slow choices ("" when none); ValueError for impossible ones."""
    if model == "krr" and n_rows > defaults.KRR_MAX_ROWS:
        raise ValueError(f"full KRR on {n_rows:,} rows needs a {n_rows:,} x {n_rows:,} kernel: too large; "
                         "choose sparse KRR (or ridge)")
    if model == "krr" and n_rows > defaults.KRR_SLOW_ROWS:
        return (f"full KRR on {n_rows:,} rows is slow (its cost grows as the cube of the training size): "
                "sparse KRR gives nearly the same curve much faster")
    return ""


def curve_key(features_state: dict, target: str, model: str, selection: str) -> str:
    return make_key("learning-curve", features_state["key"], target, model, selection, N_SPLITS)


def run_learning_curve(store: Store, features_state: dict, target: str, model: str, selection: str,
                       progress=None) -> pd.DataFrame:
    """The learning curve of ``target`` (a ``"structure:<name>"`` choice) on the features, cached.

    Returns the table of ``compute.models.learning_curve``: one row per training-set size with
    ``train_size``, ``rmse_train``, ``rmse_test``, ``rmse_test_std``, ``mae_test``, ...; its
    ``attrs["model"]`` is the model used (what "auto" chose). Raises
    ValueError with a message for the user (non-numeric or all-NaN property, too few values,
    impossible model).
    """
    if not features_state:
        raise ValueError("there are no features yet: compute the descriptors first")
    if not target:
        raise ValueError("choose a numeric property first")
    if selection not in SELECTIONS:
        raise ValueError(f"unknown training-set selection {selection!r}: choose random or FPS")
    resolve_model(model, features_state, 0)  # an unknown model is refused before anything is read
    if is_tensor_choice(target):
        return run_tensor_curve(store, features_state, target, model, selection, progress)
    y = target_values(store, features_state["dataset"], features_state["per"], target)
    n_valid = int(np.isfinite(y).sum())
    model, params = resolve_model(model, features_state, n_valid)
    key = curve_key(features_state, target, model, selection)
    if store.has_arrays(key):
        table = _load_table(store, key)
        table.attrs["model"] = model
        return table
    if n_valid < 2 * N_SPLITS:
        raise ValueError(f"the property {target.partition(':')[2]!r} has {n_valid} finite values: "
                         f"a learning curve needs at least {2 * N_SPLITS}")
    check_size(model, n_valid)
    X, _ = load_features(store, features_state)  # memory-mapped: only rows with a target are read
    table = models.learning_curve(X, y, model=model, n_splits=N_SPLITS, selection=selection, random_state=0,
                                  progress=progress, groups=structure_groups(store, features_state), **params)
    store.save_arrays(key, columns=np.array(table.columns, dtype=str), **{f"col_{k}": table[c].to_numpy() for k, c in enumerate(table.columns)})
    table.attrs["model"] = model  # the model "auto" chose, for the figure and the message
    return table


def tensor_model_for(model: str) -> str:
    """The λ-SOAP model a vector or tensor target gets for a model choice: "automatic" is the
    map's (``compute.defaults.TENSOR_MODEL``), "ridge" the linear one, a kernel choice SA-GPR."""
    if model in (None, "auto"):
        return defaults.TENSOR_MODEL
    return "linear" if model == "ridge" else "kernel"


def tensor_train_sizes(n_pool: int) -> list[int]:
    """Five training sizes, evenly spaced on a log axis, up to the whole training pool."""
    low = min(max(4, n_pool // 20), n_pool)
    return sorted({int(round(s)) for s in np.geomspace(low, n_pool, 5)})


def run_tensor_curve(store: Store, features_state: dict, target: str, model: str, selection: str, progress=None) -> pd.DataFrame:
    """The learning curve of a whole vector or tensor property with the λ-SOAP model
    (``compute.tensors.tensor_learning_curve``: a fifth of the rows held out, RMSE over every
    Cartesian component) and, beside it, a scalar model of each component on the λ=0 features,
    which ignores how the property turns with the structure. Cached like the scalar curves."""
    if selection != "random":
        raise ValueError("a vector or tensor learning curve uses random training sets (FPS is for scalar targets)")
    tensor_model, params = defaults.tensor_model(tensor_model_for(model))
    key = curve_key(features_state, target, tensor_model, selection)
    if store.has_arrays(key):
        table = _load_table(store, key)
        table.attrs["model"] = tensor_model
        return table
    dataset = store.dataset(features_state["dataset"])
    if dataset.structures is None:
        raise ValueError("a vector or tensor model needs structures: this dataset is a features table")
    per = "atom" if target.startswith("atom:") else "structure"  # a structure's property is learned per structure
    y = target_values(store, features_state["dataset"], per, target)
    finite = np.isfinite(y).all(axis=1)
    if per == "atom":
        if not (finite.all() and np.array_equal(atom_row_positions(dataset, map_rows(dataset, per)), np.arange(dataset.n_atoms))):
            raise ValueError(f"a per-atom learning curve of {choice_name(target)!r} needs its value on every atom")
        frames = list(dataset.structures)
    else:
        frames = [dataset.structures[i] for i in np.flatnonzero(finite)]
        y = y[finite]
    n = len(y)
    if n < 2 * N_SPLITS:
        raise ValueError(f"{choice_name(target)!r} has {n} rows with every component finite: a learning curve needs at least {2 * N_SPLITS}")
    n_test = max(1, n // 5)
    rank = 1 if y.shape[1] == 3 else 2
    if progress:
        progress(0, 1)
    rows = tensors.tensor_learning_curve(frames, y, rank, tensor_train_sizes(n - n_test), n_test=n_test, per=per, model=tensor_model,
                                         descriptor=defaults.tensor_descriptor(features_state.get("hypers")), **params)
    if progress:
        progress(1, 1)
    table = pd.DataFrame(rows)[["train_size", "rmse_test", "rmse_scalar", "target_std"]]
    store.save_arrays(key, columns=np.array(table.columns, dtype=str), **{f"col_{k}": table[c].to_numpy() for k, c in enumerate(table.columns)})
    table.attrs["model"] = tensor_model
    return table


def _load_table(store: Store, key: str) -> pd.DataFrame:
    arrays = store.load_arrays(key)
    return pd.DataFrame({name: arrays[f"col_{k}"] for k, name in enumerate(arrays["columns"].tolist())})


def curve_figure(table: pd.DataFrame, target: str, model: str):
    """``figures.learning_curve_figure``, with the train RMSE in the legend only: a kernel model
    can fit its training set to ~1e-10, which would squash the test curve on a log axis."""
    fig = figures.learning_curve_figure(table, property_name=choice_name(target),
                                        model_name=MODELS.get(model) or defaults.TENSOR_MODELS.get(model, model))
    fig.update_traces(visible="legendonly", selector={"name": "train RMSE"})
    return fig


def curve_table(table: pd.DataFrame) -> html.Table:
    """A small table of the numbers: size, test RMSE ± spread over folds, train RMSE, test MAE."""
    if "rmse_scalar" in table.columns:  # a vector or tensor target
        header = html.Tr([html.Th(h) for h in ("training set", "test RMSE (λ-SOAP)", "scalar model per component", "target spread")])
        body = [html.Tr([html.Td(f"{int(row.train_size)}"), html.Td(f"{row.rmse_test:.4g}"), html.Td(f"{row.rmse_scalar:.4g}"),
                         html.Td(f"{row.target_std:.4g}")]) for row in table.sort_values("train_size").itertuples()]
        return html.Table([html.Thead(header), html.Tbody(body)], className="numbers-table")
    header = html.Tr([html.Th(h) for h in ("training set", "test RMSE", "± (folds)", "train RMSE", "test MAE")])
    body = [
        html.Tr([
            html.Td(f"{int(row.train_size)}"),
            html.Td(f"{row.rmse_test:.4g}"),
            html.Td(f"{row.rmse_test_std:.2g}"),
            html.Td(f"{row.rmse_train:.4g}"),
            html.Td(f"{row.mae_test:.4g}"),
        ])
        for row in table.sort_values("train_size").itertuples()
    ]
    return html.Table([html.Thead(header), html.Tbody(body)], className="numbers-table")


def summary_message(table: pd.DataFrame, target: str, model: str, n_rows: int) -> str:
    table = table.sort_values("train_size")
    first, last = table.iloc[0], table.iloc[-1]
    name = MODELS.get(model) or defaults.TENSOR_MODELS.get(model, model)
    message = (f"Learning curve of {choice_name(target)} with {name}: test RMSE {first.rmse_test:.3g} "
               f"at {int(first.train_size)} → {last.rmse_test:.3g} at {int(last.train_size)} training points")
    if "rmse_scalar" in table.columns:
        return message + f" (a scalar model per Cartesian component: {last.rmse_scalar:.3g})"
    warning = check_size(model, n_rows)
    return message + (f" (note: {warning})" if warning else "")


def learning_options(store: Store, dataset_state: dict, features_state: dict):
    """(options, default) of the property dropdown: the numeric properties of the map rows."""
    dataset = store.dataset(dataset_state["id"])
    per = features_state.get("per", "structure") if dataset.structures is not None else "structure"
    return property_options(dataset, per, numeric_only=True) + tensor_options(dataset, per), first_numeric_property(dataset, per)


# -- callbacks -------------------------------------------------------------------------------------


@callbacks.server(
    Output("learning-property", "options"),
    Output("learning-property", "value"),
    Input(state.FEATURES, "data"),
    State(state.DATASET, "data"),
    State("learning-property", "value"),
)
def on_learning_options(features_state, dataset_state, chosen):
    if not features_state or not dataset_state or features_state.get("dataset") != dataset_state.get("id"):
        return no_update, no_update
    try:
        options, default = learning_options(state.current_store(), dataset_state, features_state)
    except (UnknownIdError, DatasetError):
        return no_update, no_update
    valid = {o["value"] for o in options}
    return options, chosen if chosen in valid else default


@callbacks.server(
    Output("learning-note", "children"),
    Input("learning-model", "value"),
    Input(state.FEATURES, "data"),
    Input("learning-property", "value"),
)
def on_learning_note(model, features_state, target):
    if not features_state:
        return ""
    if is_tensor_choice(target):  # the model list names scalar models: say which λ-SOAP model runs
        chosen = defaults.TENSOR_MODELS[tensor_model_for(model)]
        return (f"A whole vector or tensor is learned by a λ-SOAP model: {chosen} for this choice "
                "(automatic and ridge: linear; KRR choices: SA-GPR), beside a scalar model per Cartesian component.")
    try:
        return check_size(model, int(features_state.get("n_rows", 0)))
    except ValueError as error:
        return str(error)


@callbacks.server(
    Output("learning-curve-graph", "figure"),
    Output("learning-curve-table", "children"),
    Input("learning-run", "n_clicks"),
    State(state.FEATURES, "data"),
    State("learning-property", "value"),
    State("learning-model", "value"),
    State("learning-selection", "value"),
    background=True,
    interval=250,
    progress=[Output("learning-progress", "value"), Output("learning-progress", "max")],
    **run_and_cancel(callbacks, "learning-run", "learning-cancel", "Learning curve cancelled."),
    prevent_initial_call=True,
    on_error=failure_handler("Computing the learning curve", outputs=2),
)
def on_run_learning_curve(set_progress, _clicks, features_state, target, model, selection):
    set_progress(("0", "1"))
    try:
        table = run_learning_curve(
            state.current_store(), features_state, target, model or "krr", selection or "random",
            progress=lambda done, total: set_progress((str(done), str(total))),
        )
    except (ValueError, DatasetError, UnknownIdError, KeyError) as error:
        set_progress(("0", "1"))
        messages.say(messages.error(f"Learning curve not computed: {error}"))
        return no_update, no_update
    set_progress(("1", "1"))
    model = table.attrs.get("model", model)
    messages.say(summary_message(table, target, model, int(features_state.get("n_rows", 0))))
    return curve_figure(table, target, model), curve_table(table)
