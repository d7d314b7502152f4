"""Every element id of a panel is namespaced by the panel's name, and a panel's callbacks write
only its own elements, the app's shared stores and the status line: two panels can no longer
collide on an id or quietly write each other's controls."""

from __future__ import annotations

import importlib

import pytest
from dash import Input, Output, State

from explorer import state

#: ids users' scripts rely on: kept exactly as they were (issue 9), owned by the panel named
CONTRACT = {
    "upload-dataset": "dataset",
    "map-graph": "map",
    "color-by": "map",
    "projection-method": "map",
    "mixing-slider": "map",
    "target-property": "map",
    "structure-viewer": "viewer",
    "export-selection": "export",
    "export-format": "export",
}
#: written by every panel: the app's shared state (explorer.state) and the one status line
SHARED = {state.DATASET, state.FEATURES, state.MAP, state.SELECTION, state.CLUSTERS, state.PREDICTIONS,
          "status-message", "page-url"}
PANELS = ["dataset", "descriptors", "map", "viewer", "view", "clusters", "learning", "compare", "export"]


def _ids(component) -> list[str]:
    found = []
    stack = [component]
    while stack:
        node = stack.pop()
        if isinstance(node, (list, tuple)):
            stack.extend(node)
            continue
        if node is None or isinstance(node, (str, int, float)):
            continue
        node_id = getattr(node, "id", None)
        if node_id is not None:
            found.append(node_id)
        stack.append(getattr(node, "children", None))
    return found


def _layout_ids(name: str) -> list[str]:
    panel = importlib.import_module(f"explorer.panels.{name}")
    parts = {
        "dataset": lambda: [panel.layout(10_000_000), panel.property_table()],
        "map": lambda: [panel.layout(), panel.graph()],
    }.get(name, lambda: [panel.layout()])
    return _ids(parts())


def _owner(element_id: str) -> str | None:
    if element_id in CONTRACT:
        return CONTRACT[element_id]
    return next((name for name in PANELS if element_id.startswith(name + "-")), None)


@pytest.mark.parametrize("name", PANELS)
def test_every_element_id_is_namespaced_by_its_panel(name):
    ids = _layout_ids(name)
    assert ids, f"the {name} panel has no ids?"
    strangers = [i for i in ids if _owner(i) != name]
    assert not strangers, f"ids of the {name} panel outside its namespace '{name}-': {strangers}"


def test_no_id_is_used_twice_on_the_page():
    ids = [i for name in PANELS for i in _layout_ids(name)]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


@pytest.mark.parametrize("name", PANELS)
def test_callbacks_write_only_their_own_panel(name):
    panel = importlib.import_module(f"explorer.panels.{name}")
    outputs = []
    for _function, args, kwargs in panel.callbacks._server:
        for item in [*args, *kwargs.values()]:
            for output in item if isinstance(item, (list, tuple)) else [item]:
                if isinstance(output, Output):
                    outputs.append(output.component_id)
    for args, kwargs in panel.callbacks._clientside:
        for item in [*args, *kwargs.values()]:
            for output in item if isinstance(item, (list, tuple)) else [item]:
                if isinstance(output, Output):
                    outputs.append(output.component_id)
    assert outputs, f"the {name} panel writes nothing?"
    foreign = sorted({o for o in outputs if o not in SHARED and _owner(o) != name})
    assert not foreign, f"the {name} panel writes other panels' elements: {foreign}"


def _dependencies(panel) -> list:
    items = []
    for _function, args, kwargs in panel.callbacks._server:
        items += [*args, *kwargs.values()]
    for args, kwargs in panel.callbacks._clientside:
        items += [*args, *kwargs.values()]
    out = []
    for item in items:
        for dependency in item if isinstance(item, (list, tuple)) else [item]:
            if isinstance(dependency, (Output, Input, State)):
                out.append(dependency.component_id)
    return out


def test_every_id_a_callback_uses_is_on_the_page(tmp_path):
    """Dash refuses the whole page's callbacks when one names a missing element ("ID not found in
    layout"): every Input, State and Output of every panel is on the page the app serves."""
    from explorer.app import create_app
    from explorer.settings import Settings

    app = create_app(Settings(data_dir=tmp_path / "store"))
    page = set(_ids(app.layout() if callable(app.layout) else app.layout))
    missing = {name: sorted(set(_dependencies(importlib.import_module(f"explorer.panels.{name}"))) - page) for name in PANELS}
    assert not any(missing.values()), {k: v for k, v in missing.items() if v}
