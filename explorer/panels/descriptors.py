"""The descriptor (SOAP power spectrum, radial spectrum, ν=3 bispectrum), its hyperparameters,
and the background job that computes (or finds cached) features."""

from __future__ import annotations

import os

import numpy as np
from dash import Input, Output, State, dcc, html, no_update

from compute import budget
from compute.datasets import DatasetError
from compute.descriptors import COMMON_HYPERS, DESCRIPTORS, extra_hypers, make_descriptor

from .. import messages, state
from ..jobs import failure_handler, run_and_cancel
from ..rows import atom_row_positions, map_rows
from ..store import Store, UnknownIdError, make_key

from ._callbacks import Callbacks

callbacks = Callbacks()
register = callbacks.register  # explorer.panels.register(app) calls it

DEFAULT_HYPERS = {"cutoff": 5.0, "n_max": 8, "l_max": 6, "density_width": 0.3}
#: (id suffix, label, min, max, step) of each SOAP hyperparameter input
FIELDS = [
    ("cutoff", "cutoff (Å)", 1.0, 12.0, 0.1),
    ("n_max", "n max", 1, 16, 1),
    ("l_max", "l max", 0, 12, 1),
    ("density_width", "density width (Å)", 0.05, 2.0, 0.05),
]


#: the hyperparameters some descriptors add (a NICE compression, LODE's smearing and exponent):
#: name -> (label, min, max, step, default, the descriptors that take it), from the registry
EXTRA_FIELDS: dict[str, tuple] = {}
for _name in DESCRIPTORS:
    for _field, _label, _low, _high, _step, _default in extra_hypers(_name):
        _known = EXTRA_FIELDS.get(_field)
        EXTRA_FIELDS[_field] = (_label, _low, _high, _step, _default, (*(_known[5] if _known else ()), _name))


def field_id(name: str) -> str:
    return f"descriptors-{name.replace('_', '-')}"


def layout() -> html.Div:
    inputs = [
        html.Label([label, dcc.Input(id=field_id(name), type="number", min=lo, max=hi, step=step,
                                     value=DEFAULT_HYPERS[name], debounce=True, className="number-input")],
                   className="field")
        for name, label, lo, hi, step in FIELDS
    ]
    # shown only while a descriptor that takes them is chosen (on_descriptor_kind)
    inputs += [
        html.Label([label, dcc.Input(id=field_id(name), type="number", min=lo, max=hi, step=step, value=default, debounce=True,
                                     className="number-input")],
                   id=field_id(name) + "-field", className="field", style={"display": "none"})
        for name, (label, lo, hi, step, default, _) in EXTRA_FIELDS.items()
    ]
    return html.Div(
        [
            html.H4("SOAP descriptors"),
            html.Label(["descriptor", dcc.Dropdown(id="descriptors-kind", options=[{"label": label, "value": name}
                                                                                  for name, (label, _) in DESCRIPTORS.items()],
                                                   value="soap", clearable=False)], className="field"),
            html.Div(inputs, className="field-grid"),
            dcc.RadioItems(
                id="descriptors-per",
                options=[{"label": "per structure", "value": "structure"}, {"label": "per atom (environments)", "value": "atom"}],
                value="structure",
                inline=True,
            ),
            html.Div(
                [
                    html.Button("Compute", id="descriptors-compute", n_clicks=0, className="button primary"),
                    html.Button("Cancel", id="descriptors-cancel", n_clicks=0, className="button", disabled=True),
                ],
                className="button-row",
            ),
            html.Progress(id="descriptors-progress", value="0", max="1", className="progress"),
        ],
        className="panel",
    )


# -- logic -----------------------------------------------------------------------------------------


def read_hypers(cutoff, n_max, l_max, density_width, descriptor: str = "soap", extras: dict | None = None) -> dict:
    """Hyperparameters of ``descriptor`` from the inputs: the four SOAP ones, then those of
    ``extras`` (name -> value) the descriptor takes. ValueError naming the field for an empty,
    non-numeric or out-of-range value (the ranges hold on the server too: a crafted request must
    not ask for a 100 Å cutoff) or a combination the descriptor refuses."""
    if descriptor not in DESCRIPTORS:
        raise ValueError(f"unknown descriptor {descriptor!r}: choose one of {', '.join(DESCRIPTORS)}")
    values = {"cutoff": cutoff, "n_max": n_max, "l_max": l_max, "density_width": density_width}
    ranges = {name: (low, high, int if name in ("n_max", "l_max") else float) for name, _, low, high, _ in FIELDS}
    for name, _label, low, high, step, _default in extra_hypers(descriptor):
        values[name] = (extras or {}).get(name)
        integer = all(isinstance(v, int) for v in (low, high, step))
        ranges[name] = (low, high, int if integer else float)
    hypers = {}
    for name, value in values.items():
        if value is None:
            raise ValueError(f"{name} is empty or out of its range: enter a number")
        low, high, kind = ranges[name]
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"{name} must be a number, got {value!r}") from None
        if kind is int and number != int(number):
            raise ValueError(f"{name} must be a whole number, got {number:g}")
        if not low <= number <= high:
            raise ValueError(f"{name}={number:g} is outside its range {low:g}…{high:g}")
        hypers[name] = int(number) if kind is int else number
    make_descriptor(descriptor, **hypers)  # validates the rest, with messages naming the parameter
    return hypers


def descriptor_hypers(descriptor: str, hypers: dict) -> dict:
    """The hyperparameters among ``hypers`` that ``descriptor`` takes (the SOAP ones and its own):
    another descriptor compared on the same settings ignores, say, a NICE compression."""
    taken = set(COMMON_HYPERS) | {name for name, *_ in extra_hypers(descriptor)}
    return {k: v for k, v in hypers.items() if k in taken}


def compute_features(store: Store, dataset_id: str, hypers: dict, per: str, backend: str = "auto", progress=None,
                     descriptor: str = "soap") -> dict:
    """Features of the map rows of a dataset, cached under (dataset, descriptor, hypers, per);
    returns the state. ``descriptor``: a name of ``compute.descriptors.DESCRIPTORS``.

    A features table maps its own features (SOAP settings do not apply).
    """
    if descriptor not in DESCRIPTORS:
        raise ValueError(f"unknown descriptor {descriptor!r}: choose one of {', '.join(DESCRIPTORS)}")
    dataset = store.dataset(dataset_id)
    hypers = descriptor_hypers(descriptor, hypers)
    if dataset.structures is None:
        per, hypers, descriptor = "structure", {}, "soap"
    # shared by every session with this file (the power spectrum's key as it always was)
    key = make_key("features", store.content_key(dataset_id), hypers, per, *([descriptor] if descriptor != "soap" else []))
    if not (store.has_matrix(key) and store.has_arrays(key)):
        if dataset.structures is None:
            features, names = dataset.features, list(dataset.feature_names or [f"feature {k}" for k in range(dataset.features.shape[1])])
        else:
            soap = make_descriptor(descriptor, **hypers)
            if getattr(soap, "needs_fit", False):  # a NICE-compressed bispectrum learns its compression on the data
                soap.fit(dataset.structures, backend=backend)
            species = soap.species_for(dataset.structures)
            # refused before any memory is spent (BudgetError names the limit and its setting)
            limits = budget.current()
            budget.check_matrix_bytes(limits, len(map_rows(dataset, per)), soap.n_features(len(species)))
            budget.check_pairs(limits, dataset.structures, hypers["cutoff"])
            # per atom: only the environments on the map are computed (a chemiscope file may list a few)
            rows = atom_row_positions(dataset, map_rows(dataset, "atom")) if per == "atom" else None
            features = _compute_soap(soap, dataset, per, backend, progress, rows)
            names = soap.feature_names(species)
        store.save_matrix(key, features)
        store.save_arrays(key, feature_names=np.array(names, dtype=str))
    n_rows = len(map_rows(dataset, per))
    return {"key": key, "dataset": dataset_id, "per": per, "n_rows": n_rows, "hypers": hypers, "descriptor": descriptor}


#: uploads with at least this many atoms go to the Dask cluster of EXPLORER_DASK_SCHEDULER, if set
DASK_MIN_ATOMS = 200_000


def _compute_soap(soap, dataset, per: str, backend: str, progress, rows=None):
    """SOAP of the map's rows (``rows``: atom positions, or None: every row): here, or fanned out
    over a Dask cluster for a large upload (``EXPLORER_DASK_SCHEDULER``, from
    ``EXPLORER_DASK_MIN_ATOMS`` atoms; the result is the same row for row)."""
    scheduler = os.environ.get("EXPLORER_DASK_SCHEDULER", "").strip()
    try:
        min_atoms = int(os.environ.get("EXPLORER_DASK_MIN_ATOMS", "") or DASK_MIN_ATOMS)
    except ValueError:
        min_atoms = DASK_MIN_ATOMS
    if not scheduler or dataset.n_atoms < min_atoms:
        return soap.compute(dataset.structures, per=per, backend=backend, progress=progress, selected_samples=rows)
    from dask.distributed import Client

    from compute.distributed import featurize_distributed

    with Client(scheduler, timeout=30) as client:
        features = featurize_distributed(client, soap, dataset.structures, per=per, backend=backend, progress=progress)
    return features if rows is None else features[rows]


def load_features(store: Store, features_state: dict) -> tuple[np.ndarray, list[str]]:
    """Features (memory-mapped, read-only) and their names."""
    names = store.load_arrays(features_state["key"])["feature_names"].tolist()
    return store.load_matrix(features_state["key"]), names


# -- callbacks -------------------------------------------------------------------------------------


@callbacks.server(
    Output(state.FEATURES, "data"),
    Input(state.DATASET, "data"),
    Input("descriptors-compute", "n_clicks"),
    State("descriptors-cutoff", "value"),
    State("descriptors-n-max", "value"),
    State("descriptors-l-max", "value"),
    State("descriptors-density-width", "value"),
    State("descriptors-per", "value"),
    State("descriptors-kind", "value"),
    *[State(field_id(name), "value") for name in EXTRA_FIELDS],
    background=True,
    interval=250,
    progress=[Output("descriptors-progress", "value"), Output("descriptors-progress", "max")],
    **run_and_cancel(callbacks, "descriptors-compute", "descriptors-cancel", "Computing SOAP cancelled: the previous descriptors and map stay."),
    prevent_initial_call="initial_duplicate",
    on_error=failure_handler("Computing SOAP", outputs=1),
)
def on_compute_features(set_progress, dataset_state, _clicks, cutoff, n_max, l_max, density_width, per, descriptor, *extras):
    if not dataset_state:
        return no_update
    set_progress(("0", "1"))
    try:
        hypers = read_hypers(cutoff, n_max, l_max, density_width, descriptor or "soap", dict(zip(EXTRA_FIELDS, extras)))
        features_state = compute_features(
            state.current_store(), dataset_state["id"], hypers, per or "structure", state.current_settings().backend,
            progress=lambda done, total: set_progress((str(done), str(total))), descriptor=descriptor or "soap",
        )
    except (ValueError, DatasetError, UnknownIdError) as error:
        messages.say(messages.error(f"Descriptors not computed: {error}"))
        return no_update
    set_progress(("1", "1"))
    return features_state


@callbacks.server(
    *[Output(field_id(name) + "-field", "style") for name in EXTRA_FIELDS],
    Input("descriptors-kind", "value"),
)
def on_descriptor_kind(descriptor):
    """The extra hyperparameter fields of the chosen descriptor, the others hidden."""
    shown = extra_field_styles(descriptor)
    return shown if len(shown) != 1 else shown[0]


def extra_field_styles(descriptor: str | None) -> list[dict]:
    return [{} if descriptor in users else {"display": "none"} for (*_, users) in EXTRA_FIELDS.values()]
