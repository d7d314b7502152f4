"""explorer.view_state: the view in the URL and in a settings file, validated field by field."""

from __future__ import annotations

from pathlib import Path

import json

import pytest

from explorer import view_state

DATA = Path(__file__).resolve().parents[1] / "data"
ID = "ab" * 32


def test_round_trip_through_the_query_string():
    view = {"dataset": ID, "per": "atom", "cutoff": 4.5, "n_max": 6, "l_max": 4, "density_width": 0.4, "method": "kpcovr",
            "target": "structure:energy", "mixing": 0.25, "dims": 3, "x": 1, "y": 2, "z": 0, "color": "atom:element",
            "log": True, "size": "structure:|forces|", "row": 17}
    query = view_state.to_query(view)
    assert query.startswith("?dataset=" + ID)
    assert view_state.from_query("http://127.0.0.1:8050/" + query) == view
    assert view_state.from_query(query) == view


@pytest.mark.parametrize("field, value", [
    ("cutoff", "100"), ("cutoff", "nan"), ("n_max", "2.5"), ("method", "tsne"), ("per", "molecule"),
    ("mixing", "2"), ("dims", "4"), ("x", "-1"), ("target", "../../etc"), ("color", "energy"), ("row", "-3"),
    ("dataset", "../x"), ("dataset", "AB" * 32), ("unknown", "1"),
])
def test_bad_values_are_dropped(field, value):
    assert view_state.from_query(f"?{field}={value}&method=pca") == {"method": "pca"}


def test_settings_file(tmp_path):
    view = {"dataset": ID, "method": "pcovr", "mixing": 0.5}
    data = view_state.to_json(view)
    assert json.loads(data)["view"] == view
    assert view_state.from_json(data) == view
    with pytest.raises(ValueError, match="not a JSON"):
        view_state.from_json(b"\x80\x81")
    with pytest.raises(ValueError, match="no setting"):
        view_state.from_json(b'{"view": {"colour": "red"}}')
    with pytest.raises(ValueError, match="a JSON object"):
        view_state.from_json(b"[1, 2]")
    with pytest.raises(ValueError, match="at most"):
        view_state.from_json(b" " * (view_state.MAX_BYTES + 1))


def test_sessions_see_only_their_datasets(tmp_path):
    from explorer.store import Store

    store = Store(tmp_path)
    mine = store.add_dataset((DATA / "explore_qm9.xyz").read_bytes(), "qm9.xyz", session="session-a" * 4)
    assert store.may_open("session-a" * 4, mine)
    assert not store.may_open("session-b" * 4, mine)
    assert not store.may_open(None, mine)
    assert not store.may_open("session-a" * 4, ID)  # an id nobody was given
    assert not store.may_open("session-a" * 4, "../../etc/passwd")
    assert "session-a" not in " ".join(str(p) for p in tmp_path.rglob("*"))  # the cookie never names a file


def test_axes_may_be_properties():
    assert view_state.from_query("?x=structure%3Aenergy&y=1") == {"x": "structure:energy", "y": 1}
    assert view_state.from_query("?x=map%3Aerror") == {}  # model outputs are colours, not axes
