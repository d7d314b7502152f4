"""The view in the URL: dataset, descriptor and map settings, colours and the structure shown.

The page's address carries the view as a query string (``?dataset=…&cutoff=4.5&method=kpcovr…``),
rewritten as the user changes things, so a reload or a copied link reopens the same view. The
same dictionary is what "Save settings" downloads as JSON and "Load settings" reads back.

Everything read back is validated here, field by field, against the app's own choices and
ranges: an unknown field is ignored, a bad value falls back to the default, and a dataset id
opens only when this browser session may see it (``Store.may_open``): an id in a link sent to
someone else opens nothing of the sender's.
"""

from __future__ import annotations

import json
import math
from urllib.parse import parse_qsl, urlencode, urlsplit

from compute import maps
from compute.descriptors import DESCRIPTORS

from .panels.descriptors import EXTRA_FIELDS, FIELDS, field_id

#: the most bytes of a settings file or query string read back
MAX_BYTES = 16_384

#: URL field -> (component id, property) it sets on the page
CONTROLS = {
    "descriptor": ("descriptors-kind", "value"),
    "per": ("descriptors-per", "value"),
    "cutoff": ("descriptors-cutoff", "value"),
    "n_max": ("descriptors-n-max", "value"),
    "l_max": ("descriptors-l-max", "value"),
    "density_width": ("descriptors-density-width", "value"),
    # a descriptor's own hyperparameters (NICE compression, LODE smearing and exponent)
    **{name: (field_id(name), "value") for name in EXTRA_FIELDS},
    "method": ("projection-method", "value"),
    "target": ("target-property", "value"),
    "mixing": ("mixing-slider", "value"),
    "dims": ("map-dims", "value"),
    "x": ("map-x", "value"),
    "y": ("map-y", "value"),
    "z": ("map-z", "value"),
    "color": ("color-by", "value"),
    "log": ("map-color-log", "value"),
    "size": ("map-size-by", "value"),
}
FIELD_ORDER = ["dataset", *CONTROLS, "row"]
_RANGES = {name: (low, high, step) for name, _, low, high, step in FIELDS}
_RANGES.update({name: (low, high, step) for name, (_, low, high, step, *_rest) in EXTRA_FIELDS.items()})


def _number(text, *, integer: bool, low: float, high: float):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(value) or not low <= value <= high:
        return None
    if integer:
        return int(value) if value == int(value) else None
    return value


def _choice(text) -> str | None:
    """A property choice as the dropdowns encode it (``structure:energy``, ``map:error``)."""
    text = str(text)
    source, sep, name = text.partition(":")
    if not sep or source not in ("structure", "atom", "map") or not name or len(text) > 300:
        return None
    return text


def clean(raw: dict) -> dict:
    """The valid fields of ``raw`` (strings, as from a query string or a JSON file), typed."""
    out: dict = {}
    for key, value in raw.items():
        if key not in FIELD_ORDER or value is None or isinstance(value, (dict, list)) and key != "log":
            continue
        if key == "dataset":
            if isinstance(value, str) and len(value) == 64 and set(value) <= set("0123456789abcdef"):
                out[key] = value
        elif key == "per":
            if value in ("structure", "atom"):
                out[key] = value
        elif key == "descriptor":
            if value in DESCRIPTORS:
                out[key] = value
        elif key in _RANGES:
            low, high, step = _RANGES[key]
            number = _number(value, integer=isinstance(step, int), low=low, high=high)
            if number is not None:
                out[key] = number
        elif key == "method":
            if value in maps.METHODS:
                out[key] = value
        elif key in ("target", "color", "size"):
            choice = _choice(value)
            if choice is not None:
                out[key] = choice
        elif key == "mixing":
            number = _number(value, integer=False, low=0.0, high=1.0)
            if number is not None:
                out[key] = number
        elif key == "dims":
            number = _number(value, integer=True, low=2, high=3)
            if number is not None:
                out[key] = number
        elif key in ("x", "y", "z"):  # a map component, or a property on that axis
            number = _number(value, integer=True, low=0, high=3)
            if number is not None:
                out[key] = number
            elif _choice(value) is not None and not str(value).startswith("map:"):
                out[key] = _choice(value)
        elif key == "log":
            out[key] = value in ("1", "true", True, 1, ["log"])
        elif key == "row":
            number = _number(value, integer=True, low=0, high=1e9)
            if number is not None:
                out[key] = number
    return out


def from_query(url_or_query: str | None) -> dict:
    """The view in a URL's query string (or the query string itself)."""
    if not url_or_query or len(url_or_query) > MAX_BYTES:
        return {}
    query = urlsplit(url_or_query).query if "?" in url_or_query or "://" in url_or_query else url_or_query.lstrip("?")
    return clean(dict(parse_qsl(query, keep_blank_values=False)))


def to_query(view: dict) -> str:
    """``?field=value&…`` of a view (fields in a fixed order, empty ones left out)."""
    items = []
    for key in FIELD_ORDER:
        value = view.get(key)
        if value is None or value == "" or value is False:
            continue
        if key == "log":
            value = "1"
        items.append((key, str(value)))
    return "?" + urlencode(items) if items else ""


def from_json(data: bytes) -> dict:
    """The view in a settings file written by "Save settings"; ValueError with a reason."""
    if len(data) > MAX_BYTES:
        raise ValueError(f"a settings file is at most {MAX_BYTES // 1024} KB; this one is {len(data) // 1024} KB")
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"not a JSON settings file ({error})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("view", raw), dict):
        raise ValueError("not a settings file of this app (a JSON object is expected)")
    view = clean(raw.get("view", raw))
    if not view:
        raise ValueError("the file holds no setting this app knows")
    return view


def to_json(view: dict) -> bytes:
    return json.dumps({"app": "structure-explorer", "view": {k: view[k] for k in FIELD_ORDER if k in view}}, indent=2).encode()


def apply_to_layout(layout, view: dict, extra: dict | None = None) -> None:
    """Set the initial value of each control of ``layout`` (a component tree) from ``view``, and
    ``extra`` ({component id: (property, value)})."""
    wanted = {CONTROLS[key][0]: (CONTROLS[key][1], ["log"] if key == "log" and view[key] else [] if key == "log" else view[key])
              for key in CONTROLS if key in view}
    wanted.update(extra or {})
    stack = [layout]
    while stack and wanted:
        node = stack.pop()
        node_id = getattr(node, "id", None)
        if isinstance(node_id, str) and node_id in wanted:
            prop, value = wanted.pop(node_id)
            setattr(node, prop, value)
        children = getattr(node, "children", None)
        if isinstance(children, (list, tuple)):
            stack.extend(children)
        elif children is not None and hasattr(children, "to_plotly_json"):
            stack.append(children)
